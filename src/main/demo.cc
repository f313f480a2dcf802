#include "main/demo.h"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <iostream>

namespace mosaic {
namespace {

constexpr const char* kSchema[] = {
    "CREATE TABLE IF NOT EXISTS tenants (tenant_id int PRIMARY KEY, name text NOT NULL, plan text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS users (tenant_id int NOT NULL, user_id bigint NOT NULL, email text NOT NULL, "
    "created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (tenant_id, user_id))",
    "CREATE TABLE IF NOT EXISTS orders (tenant_id int NOT NULL, order_id bigint NOT NULL, user_id bigint NOT NULL, "
    "order_date date NOT NULL, amount numeric(12,2) NOT NULL, status text NOT NULL, PRIMARY KEY (tenant_id, order_id))",
};

// A few whale tenants and many small ones, as in a real SaaS fleet.
constexpr const char* kData[] = {
    "INSERT INTO tenants SELECT t, 'tenant-' || t, CASE WHEN t <= 3 THEN 'enterprise' ELSE 'starter' END "
    "FROM generate_series(1, 50) t",
    "INSERT INTO users SELECT t, u, 'user' || u || '@tenant' || t || '.example' "
    "FROM generate_series(1, 50) t, generate_series(1, CASE WHEN t <= 3 THEN 2000 ELSE 40 END) u",
    "INSERT INTO orders SELECT t, o, 1 + o % CASE WHEN t <= 3 THEN 2000 ELSE 40 END, "
    "date '2024-01-01' + (o % 365), round((10 + (o * 7919) % 990)::numeric, 2), "
    "(ARRAY['new','paid','shipped','refunded'])[1 + o % 4] "
    "FROM generate_series(1, 50) t, generate_series(1, CASE WHEN t <= 3 THEN 20000 ELSE 200 END) o",
};

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
    for (const char* sql : kData) {
      if (auto s = Exec(conn, sql); !s.ok()) return s;
    }
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
