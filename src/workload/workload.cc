#include "workload/workload.h"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include "catalog/pg_client.h"
#include "workload/pg_copy.h"
#include "workload/report.h"
#include "workload/saas_data.h"
#include "workload/transactions.h"

namespace mosaic::workload {
namespace {

namespace pg = catalog::pg;
using Clock = std::chrono::steady_clock;

Result<pg::Conn> Connect(const std::string& conninfo) {
  pg::Conn conn(PQconnectdb(conninfo.c_str()));
  if (PQstatus(conn.get()) != CONNECTION_OK) return pg::ConnectionError(conn.get(), "mosaic workload: cannot connect");
  return conn;
}

Status Init(PGconn* conn, const Options& o, std::ostream& out) {
  const auto started = Clock::now();
  if (o.drop) {
    for (const auto& sql : DropStatements()) {
      if (Status s = pg::Run(conn, sql, {}, "init"); !s.ok()) return s;
    }
  }
  for (const auto& sql : SchemaStatements()) {
    Status s = pg::Run(conn, sql, {}, "init");
    if (!s.ok() && s.sqlstate() == "42P07") {
      return Status::Error(s.sqlstate(), "the workload's tables exist already: add --drop to recreate them");
    }
    if (!s.ok()) return s;
  }
  const auto sizes = TenantSizes(o.tenants, o.scale, o.zipf);
  using Lines = void (*)(uint64_t, const std::vector<TenantSize>&, const EmitLine&);
  const std::pair<const char*, Lines> tables[] = {
      {"tenants", [](uint64_t, const std::vector<TenantSize>& s, const EmitLine& e) { TenantLines(s, e); }},
      {"customers", CustomerLines}, {"orders", OrderLines}, {"order_items", OrderItemLines}, {"events", EventLines}};
  std::string counts;
  for (const auto& [table, lines] : tables) {
    int64_t rows = 0;
    Status s = CopyRows(conn, fmt::format("COPY {} ({}) FROM STDIN", table, ColumnList(table)),
                        [&, fn = lines](const EmitRow& emit) {
                          fn(o.seed, sizes, [&](const std::string& line) {
                            ++rows;
                            emit(line);
                          });
                        });
    if (!s.ok()) return s;
    counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", rows, table);
  }
  const double secs = std::chrono::duration<double>(Clock::now() - started).count();
  out << fmt::format("loaded {} in {:.1f}s (largest tenant: {} orders)\n", counts, secs, sizes.front().orders);
  return Status::OK();
}

// The tenants in the database and the highest ids, read before a run.
struct Snapshot {
  std::vector<TenantData> tenants;
  int64_t max_order = 0, max_event = 0;
};

Result<Snapshot> ReadSnapshot(PGconn* conn) {
  Snapshot snap;
  auto orders = pg::Exec(conn, "SELECT tenant_id, min(order_id), max(order_id) FROM orders GROUP BY tenant_id "
                               "ORDER BY tenant_id", {}, "workload");
  if (!orders.ok()) return orders.status();
  auto customers = pg::Exec(conn, "SELECT tenant_id, max(customer_id) FROM customers GROUP BY tenant_id "
                                  "ORDER BY tenant_id", {}, "workload");
  if (!customers.ok()) return customers.status();
  auto events = pg::Exec(conn, "SELECT max(event_id) FROM events", {}, "workload");
  if (!events.ok()) return events.status();
  std::map<int64_t, int64_t> customers_of;
  for (int r = 0; r < PQntuples(customers->get()); ++r) {
    customers_of[pg::IntAt<int64_t>(customers->get(), r, 0)] = pg::IntAt<int64_t>(customers->get(), r, 1);
  }
  for (int r = 0; r < PQntuples(orders->get()); ++r) {
    TenantData t{pg::IntAt<int64_t>(orders->get(), r, 0), pg::IntAt<int64_t>(orders->get(), r, 1),
                 pg::IntAt<int64_t>(orders->get(), r, 2), 0};
    t.customers = customers_of[t.tenant_id];
    snap.max_order = std::max(snap.max_order, t.last_order);
    snap.tenants.push_back(t);
  }
  if (PQntuples(events->get()) == 1) snap.max_event = pg::IntAt<int64_t>(events->get(), 0, 0);
  return snap;
}

// One client's counters; the reporter takes the interval's share under `mu`.
struct ClientStats {
  std::mutex mu;
  Tally tally;
  int64_t interval_transactions = 0, interval_errors = 0;
  std::vector<double> interval_latencies;
};

struct Shared {
  const Options& options;
  std::vector<TenantProfile> profiles;
  ZipfSampler tenant_sampler;
  Snapshot snapshot;
  Clock::time_point start;
  std::atomic<bool> stop{false};
};

// Runs `txn` on `conn`. Returns "" on commit, else the SQLSTATE, with the message in *message.
std::string Execute(PGconn* conn, const Txn& txn, std::string* message) {
  auto run = [&](const std::string& sql) -> std::string {
    pg::ResultPtr res(PQexec(conn, sql.c_str()));
    const auto st = PQresultStatus(res.get());
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return {};
    const char* code = res ? PQresultErrorField(res.get(), PG_DIAG_SQLSTATE) : nullptr;
    *message = pg::Trimmed(res ? PQresultErrorMessage(res.get()) : PQerrorMessage(conn));
    if (message->empty()) *message = pg::Trimmed(PQerrorMessage(conn));
    return code ? code : "08006";
  };
  std::string code = txn.explicit_transaction ? run("BEGIN") : "";
  for (size_t i = 0; code.empty() && i < txn.statements.size(); ++i) code = run(txn.statements[i]);
  if (code.empty() && txn.explicit_transaction) code = run("COMMIT");
  if (!code.empty() && txn.explicit_transaction && PQstatus(conn) == CONNECTION_OK &&
      PQtransactionStatus(conn) != PQTRANS_IDLE) {
    pg::ResultPtr res(PQexec(conn, "ROLLBACK"));
  }
  if (PQstatus(conn) != CONNECTION_OK) PQreset(conn);
  return code;
}

void ClientLoop(Shared& shared, int client, PGconn* conn, ClientStats& stats) {
  const Options& o = shared.options;
  Rng rng(Mix(o.seed, static_cast<uint64_t>(client) + 1));
  IdSequence order_ids{shared.snapshot.max_order + 1 + client, o.clients};
  IdSequence event_ids{shared.snapshot.max_event + 1 + client, o.clients};
  const auto pace = o.rate > 0 ? std::chrono::duration<double>(o.clients / o.rate) : std::chrono::duration<double>(0);
  auto next = shared.start + std::chrono::duration_cast<Clock::duration>(pace * (static_cast<double>(client) / o.clients));
  while (!shared.stop.load(std::memory_order_relaxed)) {
    if (o.rate > 0) {
      const auto now = Clock::now();
      if (next > now) std::this_thread::sleep_until(next);
      if (now - next > std::chrono::seconds(1)) next = now;  // far behind: do not burst to catch up
      next += std::chrono::duration_cast<Clock::duration>(pace);
      if (shared.stop.load(std::memory_order_relaxed)) break;
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - shared.start).count();
    const TenantProfile& tenant = shared.profiles[shared.tenant_sampler.Sample(rng) - 1];
    const TxnKind kind = ChooseKind(rng, o.write_ratio);
    const Txn txn = MakeTxn(rng, kind, tenant, HotWindowAt(tenant.hot_offset_day, elapsed, o.hot_shift_s),
                            order_ids, event_ids);
    const auto t0 = Clock::now();
    std::string message;
    const std::string code = Execute(conn, txn, &message);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    std::lock_guard lock(stats.mu);
    const std::string name(KindName(kind));
    if (!code.empty()) {
      stats.tally.AddError(name, code, message);
      ++stats.interval_errors;
      if (PQstatus(conn) != CONNECTION_OK) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    ++stats.tally.transactions;
    ++stats.tally.tenant_transactions[tenant.data.tenant_id];
    stats.tally.latencies_ms[name].push_back(ms);
    stats.tally.inserted_orders += txn.orders;
    stats.tally.inserted_order_items += txn.order_items;
    stats.tally.inserted_events += txn.events;
    ++stats.interval_transactions;
    stats.interval_latencies.push_back(ms);
  }
}

// Sleeps to the end of the run, printing a line per report interval.
void Report(Shared& shared, std::vector<std::unique_ptr<ClientStats>>& stats, std::ostream& out) {
  const Options& o = shared.options;
  const auto end = shared.start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
  auto last = shared.start;
  while (Clock::now() < end) {
    auto wake = end;
    if (o.report_interval_s > 0) {
      wake = std::min(end, last + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.report_interval_s)));
    }
    std::this_thread::sleep_until(wake);
    if (o.report_interval_s <= 0 || wake == end) break;
    int64_t txns = 0, errors = 0;
    std::vector<double> latencies;
    for (auto& s : stats) {
      std::lock_guard lock(s->mu);
      txns += std::exchange(s->interval_transactions, 0);
      errors += std::exchange(s->interval_errors, 0);
      latencies.insert(latencies.end(), s->interval_latencies.begin(), s->interval_latencies.end());
      s->interval_latencies.clear();
    }
    const auto now = Clock::now();
    out << IntervalLine(std::chrono::duration<double>(now - shared.start).count(),
                        std::chrono::duration<double>(now - last).count(), txns, errors, std::move(latencies))
        << std::endl;
    last = now;
  }
}

int RunLoad(PGconn* setup, const Options& o, std::ostream& out, std::ostream& err) {
  auto snapshot = ReadSnapshot(setup);
  if (!snapshot.ok()) {
    err << "mosaic workload: " << snapshot.status().message() << " (run with --init first?)\n";
    return 1;
  }
  if (snapshot->tenants.empty()) {
    err << "mosaic workload: the orders table is empty: run with --init first\n";
    return 1;
  }
  const auto n = static_cast<int64_t>(snapshot->tenants.size());
  Shared shared{o, {}, ZipfSampler(n, o.zipf), std::move(snapshot.value()), {}, {}};
  for (const auto& t : shared.snapshot.tenants) shared.profiles.push_back(MakeProfile(o.seed, t));
  std::vector<pg::Conn> conns;
  for (int c = 0; c < o.clients; ++c) {
    auto conn = Connect(o.conninfo);
    if (!conn.ok()) {
      err << conn.status().message() << "\n";
      return 1;
    }
    conns.push_back(std::move(conn.value()));
  }
  std::vector<std::unique_ptr<ClientStats>> stats;
  for (int c = 0; c < o.clients; ++c) stats.push_back(std::make_unique<ClientStats>());
  shared.start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; ++c) {
    threads.emplace_back([&, c] { ClientLoop(shared, c, conns[c].get(), *stats[c]); });
  }
  Report(shared, stats, o.json ? err : out);
  shared.stop = true;
  for (auto& t : threads) t.join();
  RunInfo info{o.clients, o.duration_s, std::chrono::duration<double>(Clock::now() - shared.start).count(),
               o.rate,    o.zipf,       o.write_ratio, o.seed, n};
  Tally total;
  for (const auto& s : stats) total.Merge(s->tally);
  const auto report = ReportJson(info, total);
  out << (o.json ? report.dump(2) + "\n" : ReportText(report)) << std::flush;
  return 0;
}

}  // namespace

std::string ConnInfo(const std::string& host, int port, const std::string& user, const std::string& dbname) {
  auto quote = [](const std::string& v) {
    std::string q = "'";
    for (char c : v) {
      if (c == '\'' || c == '\\') q += '\\';
      q += c;
    }
    return q + "'";
  };
  std::string out;
  auto add = [&](const char* key, const std::string& v) {
    if (!v.empty()) out += fmt::format("{}{}={}", out.empty() ? "" : " ", key, quote(v));
  };
  add("host", host);
  add("port", port > 0 ? std::to_string(port) : "");
  add("user", user);
  add("dbname", dbname);
  return out;
}

int Run(const Options& o, std::ostream& out, std::ostream& err) {
  if (o.clients < 1 || o.tenants < 1 || o.scale <= 0 || o.zipf < 0 || o.write_ratio < 0 || o.write_ratio > 1 ||
      o.duration_s < 0 || o.rate < 0) {
    err << "mosaic workload: --clients and --tenants must be >= 1, --scale > 0, --zipf >= 0, --write-ratio in "
           "[0, 1], --duration and --rate >= 0\n";
    return 2;
  }
  auto conn = Connect(o.conninfo);
  if (!conn.ok()) {
    err << conn.status().message() << "\n";
    return 1;
  }
  if (o.init) {
    if (Status s = Init(conn->get(), o, o.json ? err : out); !s.ok()) {
      err << "mosaic workload --init: " << s.message() << "\n";
      return 1;
    }
  }
  return o.run ? RunLoad(conn->get(), o, out, err) : 0;
}

}  // namespace mosaic::workload
