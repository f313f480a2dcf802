#include "main/demo.h"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <iostream>

#include "workload/pg_copy.h"

namespace mosaic {
namespace {

using workload::CopyRows;

constexpr const char* kSchema[] = {
    "CREATE TABLE IF NOT EXISTS tenants (tenant_id int PRIMARY KEY, name text NOT NULL, plan text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS users (tenant_id int NOT NULL, user_id bigint NOT NULL, email text NOT NULL, "
    "created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (tenant_id, user_id))",
    "CREATE TABLE IF NOT EXISTS orders (tenant_id int NOT NULL, order_id bigint NOT NULL, user_id bigint NOT NULL, "
    "order_date date NOT NULL, amount numeric(12,2) NOT NULL, status text NOT NULL, PRIMARY KEY (tenant_id, order_id))",
};

// A few whale tenants (1-3) and many small ones, as in a real SaaS fleet.
constexpr int kTenants = 50;
int UsersOf(int tenant) { return tenant <= 3 ? 2000 : 40; }
int OrdersOf(int tenant) { return tenant <= 3 ? 20000 : 200; }
constexpr const char* kStatus[] = {"new", "paid", "shipped", "refunded"};

Status LoadRows(PGconn* conn) {
  Status s = CopyRows(conn, "COPY tenants (tenant_id, name, plan) FROM STDIN", [](auto&& emit) {
    for (int t = 1; t <= kTenants; ++t) {
      emit(fmt::format("{}\ttenant-{}\t{}", t, t, t <= 3 ? "enterprise" : "starter"));
    }
  });
  if (!s.ok()) return s;
  s = CopyRows(conn, "COPY users (tenant_id, user_id, email) FROM STDIN", [](auto&& emit) {
    for (int t = 1; t <= kTenants; ++t) {
      for (int u = 1; u <= UsersOf(t); ++u) emit(fmt::format("{}\t{}\tuser{}@tenant{}.example", t, u, u, t));
    }
  });
  if (!s.ok()) return s;
  return CopyRows(conn, "COPY orders (tenant_id, order_id, user_id, order_date, amount, status) FROM STDIN",
                  [](auto&& emit) {
                    for (int t = 1; t <= kTenants; ++t) {
                      for (int o = 1; o <= OrdersOf(t); ++o) {
                        const int day = o % 365;  // 2024-01-01 + day
                        static const int kMonthDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
                        int month = 0, d = day;
                        while (d >= kMonthDays[month]) d -= kMonthDays[month++];
                        const long cents = (10 + (static_cast<long>(o) * 7919) % 990) * 100;
                        emit(fmt::format("{}\t{}\t{}\t2024-{:02}-{:02}\t{}.{:02}\t{}", t, o, 1 + o % UsersOf(t),
                                         month + 1, d + 1, cents / 100, cents % 100, kStatus[o % 4]));
                      }
                    }
                  });
}

Status Exec(PGconn* conn, const char* sql) {
  PGresult* res = PQexec(conn, sql);
  std::unique_ptr<PGresult, decltype(&PQclear)> guard(res, &PQclear);
  auto st = PQresultStatus(res);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    const char* code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return Status::Error(code ? code : sqlstate::kInternalError, PQerrorMessage(conn));
  }
  return Status::OK();
}

}  // namespace

Status LoadDemoData(const App& app, const Config& config) {
  const std::string host = config.listen.host;
  const std::string dsn = fmt::format("host={} port={} user=mosaic dbname={}", host,
                                      app.listen_port(), config.database);
  PGconn* conn = PQconnectdb(dsn.c_str());
  std::unique_ptr<PGconn, decltype(&PQfinish)> guard(conn, &PQfinish);
  if (PQstatus(conn) != CONNECTION_OK) {
    return Status::Error(sqlstate::kConnectionFailure, PQerrorMessage(conn));
  }
  for (const char* sql : kSchema) {
    if (auto s = Exec(conn, sql); !s.ok()) return s;
  }
  PGresult* res = PQexec(conn, "SELECT count(*) FROM tenants");
  const bool empty = PQresultStatus(res) == PGRES_TUPLES_OK && std::string(PQgetvalue(res, 0, 0)) == "0";
  PQclear(res);
  if (empty) {
    if (auto s = LoadRows(conn); !s.ok()) return s;
  }
  std::cout << fmt::format(
                   "\nMosaic demo is running on {} managed PostgreSQL nodes (data in {}).\n"
                   "  connect:   psql -h {} -p {} -U mosaic {}\n"
                   "  try:       SELECT plan, count(*) FROM tenants GROUP BY plan;\n"
                   "  nodes:     curl http://{}:{}/api/v1/nodes\n"
                   "  metrics:   curl http://{}:{}/metrics\n"
                   "Press Ctrl-C to stop.\n",
                   app.shard_map().nodes.size(), config.data_dir, host, app.listen_port(),
                   config.database, config.admin_listen.host, app.admin_port(),
                   config.admin_listen.host, app.admin_port())
            << std::flush;
  return Status::OK();
}

}  // namespace mosaic
