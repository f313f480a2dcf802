// The node operations of a migration against two real PostgreSQL 15 servers: the source node is
// the first server's "postgres" database, the target node the second's. Logical replication
// needs two servers here (a subscription to the same cluster would work too, but two servers is
// how migrations run). Each test recreates the tables and drops every replication object.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "migration/node_ops.h"
#include "test_postgres.h"

namespace mosaic::migration {
namespace {

using catalog::Column;
using catalog::Node;
using catalog::Table;
using mosaic::testing::TestPostgres;
using Clock = std::chrono::steady_clock;

constexpr char kFilter[] =
    R"("tenant_id" = '42' AND ("created_at" >= '2024-01-01'::date AND "created_at" < '2024-07-01'::date))";

Table MakeTable(const std::string& name, const std::vector<std::string>& columns) {
  Table t{.name = name};
  for (const std::string& c : columns) t.columns.push_back(Column{.name = c});
  return t;
}

class NodeOpsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    src_ = new TestPostgres();
    dst_ = new TestPostgres();
  }
  static void TearDownTestSuite() {
    delete src_;
    delete dst_;
    src_ = dst_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(src_->ok()) << src_->error();
    ASSERT_TRUE(dst_->ok()) << dst_->error();
    source_ = Node{.id = 1, .dsn = src_->dsn()};
    target_ = Node{.id = 2, .dsn = dst_->dsn()};
    DropReplication();
    for (TestPostgres* pg : {src_, dst_}) {
      ASSERT_EQ(Run(*pg,
                    "DROP TABLE IF EXISTS orders, events, other;"
                    "CREATE TABLE orders (id bigint PRIMARY KEY, tenant_id int NOT NULL,"
                    " created_at date NOT NULL, k text, v int);"
                    "CREATE TABLE events (tenant_id int, created_at date, seq int, payload text);"
                    "CREATE TABLE other (v int)"),
                "");
    }
    auto s = catalog::pg::ConnectNode(source_);
    auto t = catalog::pg::ConnectNode(target_);
    ASSERT_TRUE(s.ok() && t.ok());
    src_conn_ = std::move(s).value();
    dst_conn_ = std::move(t).value();
  }

  // Subscriptions first, on both servers (they hold the other server's slots), then slots and
  // publications.
  static void DropReplication() {
    for (TestPostgres* pg : {src_, dst_}) {
      Run(*pg,
          "DO $$ DECLARE s text; BEGIN FOR s IN SELECT subname FROM pg_subscription LOOP "
          "EXECUTE format('ALTER SUBSCRIPTION %I DISABLE', s); "
          "EXECUTE format('ALTER SUBSCRIPTION %I SET (slot_name = NONE)', s); "
          "EXECUTE format('DROP SUBSCRIPTION %I', s); END LOOP; END $$");
    }
    for (TestPostgres* pg : {src_, dst_}) {
      auto conn = catalog::pg::ConnectNode(Node{.dsn = pg->dsn()});
      ASSERT_TRUE(conn.ok());
      const std::string slots = Run(*pg, "SELECT string_agg(slot_name, ' ') FROM pg_replication_slots");
      std::istringstream names(slots);
      for (std::string slot; names >> slot;) {
        Status s = DropSlot(conn->get(), slot);
        ASSERT_TRUE(s.ok()) << s.ToString();
      }
      Run(*pg,
          "DO $$ DECLARE p text; BEGIN FOR p IN SELECT pubname FROM pg_publication LOOP "
          "EXECUTE format('DROP PUBLICATION %I', p); END LOOP; END $$");
    }
  }

  // Runs `sql` on `conn`; the first value of the last result's first row ("" if none), or
  // "<error ...>".
  static std::string Query(PGconn* conn, const std::string& sql) {
    PGresult* res = PQexec(conn, sql.c_str());
    const auto st = PQresultStatus(res);
    std::string out = st == PGRES_TUPLES_OK ? (PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "")
                      : st == PGRES_COMMAND_OK
                          ? ""
                          : "<error " + std::string(PQerrorMessage(conn)) + ">";
    PQclear(res);
    return out;
  }

  // Query() on a connection of its own.
  static std::string Run(TestPostgres& pg, const std::string& sql) {
    PGconn* conn = PQconnectdb(pg.dsn().c_str());
    std::string out = Query(conn, sql);
    PQfinish(conn);
    return out;
  }

  // 50000 orders (about 20000 in the flow: tenant 42, first half of 2024) and 4003 events
  // (1603 or so in the flow, three identical rows among them).
  static void Load(TestPostgres& pg, int orders = 50000) {
    ASSERT_EQ(Run(pg,
                  "INSERT INTO orders SELECT g, CASE WHEN g % 10 < 8 THEN 42 ELSE 7 END,"
                  " date '2023-10-01' + (g % 365), 'k' || g, g FROM generate_series(1, " +
                      std::to_string(orders) +
                      ") g;"
                      "INSERT INTO events SELECT 42, date '2023-10-01' + (g % 365), g % 1000,"
                      " 'p' || g FROM generate_series(1, 4000) g;"
                      "INSERT INTO events SELECT 42, date '2024-02-02', 1, 'dup'"
                      " FROM generate_series(1, 3)"),
              "");
  }

  // The flow's rows of `table` as sorted text, for a row-by-row comparison.
  static std::string FlowRowsText(TestPostgres& pg, const std::string& table) {
    return Run(pg,
               "SELECT count(*) || E'\\n' || coalesce(string_agg(r::text, E'\\n' ORDER BY "
               "r::text COLLATE \"C\"), '') FROM " +
                   table + " r WHERE " + kFilter);
  }

  void ExpectSameFlowRows() {
    for (const char* table : {"orders", "events"}) {
      const std::string a = FlowRowsText(*src_, table), b = FlowRowsText(*dst_, table);
      EXPECT_TRUE(a == b) << table << ": source and target differ; first lines:\n"
                          << a.substr(0, 200) << "\n--\n"
                          << b.substr(0, 200);
    }
  }

  const std::vector<Table> tables_ = {
      MakeTable("orders", {"id", "tenant_id", "created_at", "k", "v"}),
      MakeTable("events", {"tenant_id", "created_at", "seq", "payload"})};
  static inline TestPostgres* src_ = nullptr;
  static inline TestPostgres* dst_ = nullptr;
  Node source_, target_;
  catalog::pg::Conn src_conn_, dst_conn_;
};

// Writes on the source until stopped: inserts, updates, deletes, rows moving into and out of
// the flow, on both tables, some in multi-statement transactions.
class SourceWriter {
 public:
  explicit SourceWriter(const std::string& dsn) : thread_([this, dsn] { Loop(dsn); }) {}
  ~SourceWriter() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int64_t ops() const { return ops_; }
  int64_t errors() const { return errors_; }

 private:
  void Loop(const std::string& dsn) {
    PGconn* conn = PQconnectdb(dsn.c_str());
    std::mt19937 rng(7);
    auto id = [&] { return std::to_string(rng() % 50000 + 1); };
    int64_t next_id = 100000;
    for (int i = 0; !stop_; ++i) {
      std::string sql;
      switch (i % 7) {
        case 0:
          sql = "INSERT INTO orders VALUES (" + std::to_string(next_id++) +
                ", 42, '2024-03-03', 'new', 0)";
          break;
        case 1:
          sql = "UPDATE orders SET v = v + 1, k = k || '+' WHERE id = " + id();
          break;
        case 2:
          sql = "UPDATE orders SET created_at = '2023-12-15' WHERE id = " + id();
          break;  // out
        case 3:
          sql = "UPDATE orders SET created_at = '2024-02-20', tenant_id = 42 WHERE id = " + id();
          break;  // in
        case 4:
          sql = "DELETE FROM orders WHERE id = " + id();
          break;
        case 5:
          sql = "BEGIN; INSERT INTO events VALUES (42, '2024-04-01', " +
                std::to_string(rng() % 1000) +
                ", 'w'); UPDATE events SET payload = payload || '+' WHERE seq = " +
                std::to_string(rng() % 1000) + "; UPDATE orders SET v = -v WHERE id = " + id() +
                "; COMMIT";
          break;
        default:
          sql = "DELETE FROM events WHERE ctid = (SELECT ctid FROM events WHERE seq = " +
                std::to_string(rng() % 1000) + " LIMIT 1)";
      }
      PGresult* res = PQexec(conn, sql.c_str());
      if (PQresultStatus(res) != PGRES_COMMAND_OK) ++errors_;
      PQclear(res);
      ++ops_;
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    PQfinish(conn);
  }

  std::atomic<bool> stop_{false};
  std::atomic<int64_t> ops_{0}, errors_{0};
  std::thread thread_;
};

TEST_F(NodeOpsTest, NamesFollowTheConvention) {
  FlowNames f = ForwardNames(12, 3), r = ReverseNames(12, 3);
  EXPECT_EQ(f.publication, "mosaic_m12_f3");
  EXPECT_EQ(f.slot, "mosaic_m12_f3");
  EXPECT_EQ(f.subscription, "mosaic_m12_f3");
  EXPECT_EQ(r.slot, "mosaic_m12_r3");
}

// The whole forward path under concurrent writes: copy at a snapshot, subscribe at the slot's
// position, catch up, and the target's flow rows equal the source's.
TEST_F(NodeOpsTest, CopyWithConcurrentWritesThenSubscribeCatchesUp) {
  Load(*src_);
  auto previous = SetReplicaIdentityFull(src_conn_.get(), tables_, "source");
  ASSERT_TRUE(previous.ok()) << previous.status().ToString();
  EXPECT_EQ(*previous, (std::vector<std::string>{"d", "d"}));
  const FlowNames names = ForwardNames(1, 0);
  ASSERT_TRUE(CreatePublication(src_conn_.get(), names.publication, tables_, kFilter).ok());
  ASSERT_TRUE(
      CreatePublication(src_conn_.get(), names.publication, tables_, kFilter).ok());  // kept
  auto before = CountRows(src_conn_.get(), tables_, kFilter, "source");
  ASSERT_TRUE(before.ok());
  EXPECT_GT(*before, 20000);

  SourceWriter writer(src_->dsn());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const int64_t ops_at_start = writer.ops();
  int64_t progress_calls = 0, last_rows = 0;
  CopyControl control{.progress = [&](int64_t rows, int64_t) {
    ++progress_calls;
    last_rows = rows;
  }};
  Status copied = CopyFlow(source_, target_, tables_, kFilter, names.slot,
                           CopyLimits{.rows_per_s = 15000, .batch_rows = 2000}, control);
  ASSERT_TRUE(copied.ok()) << copied.ToString();
  const int64_t ops_during_copy = writer.ops() - ops_at_start;
  EXPECT_GT(ops_during_copy, 100) << "the writes must overlap the copy";
  EXPECT_GE(progress_calls, 10);
  EXPECT_GT(last_rows, 20000);

  ASSERT_TRUE(Subscribe(dst_conn_.get(), source_, names).ok());
  ASSERT_TRUE(Subscribe(dst_conn_.get(), source_, names).ok());  // kept
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  writer.Stop();
  EXPECT_EQ(writer.errors(), 0);
  auto lsn = CurrentLsn(src_conn_.get(), "source");
  ASSERT_TRUE(lsn.ok());
  Status caught_up = WaitCaughtUp(src_conn_.get(), names.slot, *lsn, std::chrono::seconds(60));
  ASSERT_TRUE(caught_up.ok()) << caught_up.ToString();

  auto sums = CompareChecksums(src_conn_.get(), dst_conn_.get(), tables_, kFilter, 1000, 3);
  ASSERT_TRUE(sums.ok()) << sums.status().ToString();
  EXPECT_EQ(sums->mismatched_chunks, 0) << sums->first_mismatch;
  EXPECT_GT(sums->chunks, 20);
  EXPECT_EQ(sums->rows_source, sums->rows_target);
  EXPECT_EQ(sums->rows_source, CountRows(src_conn_.get(), tables_, kFilter, "source").value());
  ExpectSameFlowRows();
  // Rows outside the filter never reached the target.
  EXPECT_EQ(Run(*dst_, "SELECT count(*) FROM orders WHERE NOT (" + std::string(kFilter) + ")"),
            "0");

  // Idle: WAL the subscription has nothing to apply for (another table) is confirmed too.
  ASSERT_EQ(Run(*src_, "INSERT INTO other SELECT generate_series(1, 100)"), "");
  auto idle_lsn = CurrentLsn(src_conn_.get(), "source");
  ASSERT_TRUE(idle_lsn.ok());
  const auto idle_start = Clock::now();
  caught_up = WaitCaughtUp(src_conn_.get(), names.slot, *idle_lsn, std::chrono::seconds(60));
  EXPECT_TRUE(caught_up.ok()) << caught_up.ToString();
  std::cout
      << "idle catch-up took "
      << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - idle_start).count()
      << " ms\n";

  // A write after the wait arrives as well; a timeout is 57014.
  ASSERT_EQ(Run(*src_, "INSERT INTO orders VALUES (777777, 42, '2024-05-05', 'late', 1)"), "");
  lsn = CurrentLsn(src_conn_.get(), "source");
  ASSERT_TRUE(WaitCaughtUp(src_conn_.get(), names.slot, *lsn, std::chrono::seconds(60)).ok());
  EXPECT_EQ(Run(*dst_, "SELECT k FROM orders WHERE id = 777777"), "late");
  Status timeout =
      WaitCaughtUp(src_conn_.get(), names.slot, "FF/0", std::chrono::milliseconds(100));
  EXPECT_EQ(timeout.sqlstate(), "57014");
  EXPECT_EQ(WaitCaughtUp(src_conn_.get(), "no_such_slot", *lsn, std::chrono::seconds(1)).sqlstate(),
            "42704");

  ASSERT_TRUE(DropSubscription(dst_conn_.get(), names.subscription).ok());
  EXPECT_EQ(Run(*dst_, "SELECT count(*) FROM pg_subscription"), "0");
  EXPECT_EQ(Run(*src_, "SELECT count(*) FROM pg_replication_slots"), "1");  // left to DropSlot
  ASSERT_TRUE(DropSlot(src_conn_.get(), names.slot).ok());
  EXPECT_EQ(Run(*src_, "SELECT count(*) FROM pg_replication_slots"), "0");
  ASSERT_TRUE(RestoreReplicaIdentity(src_conn_.get(), tables_, *previous, "source").ok());
  EXPECT_EQ(Run(*src_, "SELECT relreplident FROM pg_class WHERE relname = 'orders'"), "d");
}

TEST_F(NodeOpsTest, RateLimitSlowdownAndCancel) {
  ASSERT_EQ(
      Run(*src_,
          "INSERT INTO orders SELECT g, 42, '2024-02-02', 'k', g FROM generate_series(1, 3000) g"),
      "");
  const FlowNames names = ForwardNames(2, 0);
  ASSERT_TRUE(CreatePublication(src_conn_.get(), names.publication, tables_, kFilter).ok());

  // 3000 rows at 5000 rows/s take at least 0.6 s.
  std::vector<int64_t> progress;
  CopyControl control{.progress = [&](int64_t rows, int64_t) { progress.push_back(rows); }};
  auto start = Clock::now();
  ASSERT_TRUE(CopyFlow(source_, target_, tables_, kFilter, names.slot,
                       CopyLimits{.rows_per_s = 5000, .batch_rows = 500}, control)
                  .ok());
  double took = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_GE(took, 0.55);
  EXPECT_EQ(progress, (std::vector<int64_t>{500, 1000, 1500, 2000, 2500, 3000}));
  EXPECT_EQ(Run(*dst_, "SELECT count(*) FROM orders"), "3000");

  // The same limit with slowdown 2 takes twice as long; again, the target's rows are replaced.
  control.slowdown = [] { return 2.0; };
  start = Clock::now();
  ASSERT_TRUE(CopyFlow(source_, target_, tables_, kFilter, names.slot,
                       CopyLimits{.rows_per_s = 10000, .batch_rows = 500}, control)
                  .ok());
  took = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_GE(took, 0.55);
  EXPECT_EQ(Run(*dst_, "SELECT count(*) FROM orders"), "3000");

  // Cancelled after the first batch: 57014, the slot is gone, the target holds one batch.
  int batches = 0;
  CopyControl cancel{.progress = [&](int64_t, int64_t) { ++batches; },
                     .cancelled = [&] { return batches >= 1; }};
  Status s = CopyFlow(source_, target_, tables_, kFilter, names.slot, CopyLimits{.batch_rows = 500},
                      cancel);
  EXPECT_EQ(s.sqlstate(), "57014") << s.ToString();
  EXPECT_EQ(batches, 1);
  EXPECT_EQ(Run(*src_, "SELECT count(*) FROM pg_replication_slots"), "0");
  EXPECT_EQ(Run(*dst_, "SELECT count(*) FROM orders"), "500");

  // A filter PostgreSQL refuses as a row filter (a mutable cast) fails with its SQLSTATE.
  Status bad =
      CreatePublication(src_conn_.get(), "bad", tables_, "now() > '2024-01-01'::timestamptz");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.sqlstate(), "XX000");
}

TEST_F(NodeOpsTest, FilterShapesOfTextAndOpenRanges) {
  ASSERT_EQ(Run(*src_,
                "INSERT INTO orders SELECT g, 42, '2024-02-02', chr(97 + g % 26), g FROM "
                "generate_series(1, 520) g;"
                "UPDATE orders SET v = NULL WHERE id % 10 = 0"),
            "");
  const std::string text_filter = R"("tenant_id" = '42' AND "k" >= 'm' COLLATE "C")";
  const std::string open_filter = R"(("v" >= 301 OR "v" IS NULL))";
  const std::vector<Table> orders = {tables_[0]};
  ASSERT_TRUE(SetReplicaIdentityFull(src_conn_.get(), orders, "source").ok());
  int index = 0;
  for (const std::string& filter : {text_filter, open_filter}) {
    const FlowNames names = ForwardNames(3, index++);
    Status s = CreatePublication(src_conn_.get(), names.publication, orders, filter);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_TRUE(CopyFlow(source_, target_, orders, filter, names.slot, {}, {}).ok());
    auto n = CountRows(dst_conn_.get(), orders, filter, "target");
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, CountRows(src_conn_.get(), orders, filter, "source").value());
    EXPECT_GT(*n, 0);
    ASSERT_TRUE(DeleteRows(dst_conn_.get(), orders, filter, 100, "target").ok());
    ASSERT_TRUE(DropSlot(src_conn_.get(), names.slot).ok());
  }
}

// After the cutover the target publishes back: a slot made earlier, advanced past what the
// source already has, and a subscription on the source.
TEST_F(NodeOpsTest, ReverseReplicationFromTargetToSource) {
  Load(*src_, 5000);
  const FlowNames fwd = ForwardNames(4, 0), rev = ReverseNames(4, 0);
  ASSERT_TRUE(SetReplicaIdentityFull(src_conn_.get(), tables_, "source").ok());
  ASSERT_TRUE(CreatePublication(src_conn_.get(), fwd.publication, tables_, kFilter).ok());
  ASSERT_TRUE(CopyFlow(source_, target_, tables_, kFilter, fwd.slot, {}, {}).ok());
  ASSERT_TRUE(Subscribe(dst_conn_.get(), source_, fwd).ok());

  // Before the cutover: the reverse publication and slot on the target.
  ASSERT_TRUE(SetReplicaIdentityFull(dst_conn_.get(), tables_, "target").ok());
  ASSERT_TRUE(CreatePublication(dst_conn_.get(), rev.publication, tables_, kFilter).ok());
  ASSERT_TRUE(CreateSlot(dst_conn_.get(), rev.slot).ok());
  ASSERT_TRUE(CreateSlot(dst_conn_.get(), rev.slot).ok());  // already there
  // Forward replication keeps writing to the target (rows the source has already).
  ASSERT_EQ(Run(*src_, "INSERT INTO orders VALUES (900001, 42, '2024-02-02', 'both', 0)"), "");
  auto lsn = CurrentLsn(src_conn_.get(), "source");
  ASSERT_TRUE(WaitCaughtUp(src_conn_.get(), fwd.slot, *lsn, std::chrono::seconds(60)).ok());
  ASSERT_EQ(Run(*dst_, "SELECT k FROM orders WHERE id = 900001"), "both");

  // Cutover: forward replication stops; the reverse slot skips what the target has so far.
  ASSERT_TRUE(DropSubscription(dst_conn_.get(), fwd.subscription).ok());
  auto cut = CurrentLsn(dst_conn_.get(), "target");
  ASSERT_TRUE(cut.ok());
  Status advanced = AdvanceSlot(dst_conn_.get(), rev.slot, *cut);
  ASSERT_TRUE(advanced.ok()) << advanced.ToString();
  ASSERT_TRUE(AdvanceSlot(dst_conn_.get(), rev.slot, *cut).ok());   // already there
  ASSERT_TRUE(AdvanceSlot(dst_conn_.get(), rev.slot, "0/1").ok());  // never backwards
  EXPECT_EQ(AdvanceSlot(dst_conn_.get(), "no_such_slot", *cut).sqlstate(), "42704");
  ASSERT_TRUE(Subscribe(src_conn_.get(), target_, rev).ok());

  // Writes on the target (now the owner) arrive at the source; rows outside the filter do not.
  const std::string deleted = Run(*dst_, "SELECT min(id) FROM orders");
  ASSERT_EQ(Run(*dst_,
                "INSERT INTO orders VALUES (900002, 42, '2024-03-03', 'target', 0);"
                "UPDATE orders SET v = 5 WHERE id = 900001;"
                "DELETE FROM orders WHERE id = " +
                    deleted +
                    ";"
                    "INSERT INTO events VALUES (42, '2024-03-03', 5000, 'target');"
                    "INSERT INTO orders VALUES (900003, 7, '2024-03-03', 'not mine', 0)"),
            "");
  lsn = CurrentLsn(dst_conn_.get(), "target");
  Status caught_up = WaitCaughtUp(dst_conn_.get(), rev.slot, *lsn, std::chrono::seconds(60));
  ASSERT_TRUE(caught_up.ok()) << caught_up.ToString();
  EXPECT_EQ(Run(*src_, "SELECT k FROM orders WHERE id = 900002"), "target");
  EXPECT_EQ(Run(*src_, "SELECT v FROM orders WHERE id = 900001"), "5");
  EXPECT_EQ(Run(*src_, "SELECT count(*) FROM orders WHERE id = " + deleted), "0");
  EXPECT_EQ(Run(*src_, "SELECT count(*) FROM events WHERE payload = 'target'"), "1");
  EXPECT_EQ(Run(*src_, "SELECT count(*) FROM orders WHERE id = 900003"), "0");
  auto sums = CompareChecksums(src_conn_.get(), dst_conn_.get(), tables_, kFilter, 500, 3);
  ASSERT_TRUE(sums.ok());
  EXPECT_EQ(sums->mismatched_chunks, 0) << sums->first_mismatch;
  ExpectSameFlowRows();
}

// At the cutover the reverse slot is advanced past what the source has already. That position
// reaches the target's disk only at its next checkpoint: a target that crashes before it would
// stream the older changes to the source again, unless the subscription starts at the cutover.
TEST_F(NodeOpsTest, ReverseSubscriptionStartsAtTheCutoverEvenAfterTheTargetCrashes) {
  const FlowNames rev = ReverseNames(7, 0);
  ASSERT_TRUE(SetReplicaIdentityFull(dst_conn_.get(), tables_, "target").ok());
  ASSERT_TRUE(CreatePublication(dst_conn_.get(), rev.publication, tables_, kFilter).ok());
  ASSERT_TRUE(CreateSlot(dst_conn_.get(), rev.slot).ok());
  // Before the cutover: a row the forward flow brought (here only on the target).
  ASSERT_EQ(Run(*dst_, "INSERT INTO orders VALUES (900010, 42, '2024-02-02', 'before', 0)"), "");
  auto cut = CurrentLsn(dst_conn_.get(), "target");
  ASSERT_TRUE(cut.ok());
  ASSERT_TRUE(AdvanceSlot(dst_conn_.get(), rev.slot, *cut).ok());
  Status subscribed = Subscribe(src_conn_.get(), target_, rev, *cut);
  ASSERT_TRUE(subscribed.ok()) << subscribed.ToString();
  ASSERT_TRUE(Subscribe(src_conn_.get(), target_, rev, *cut).ok());  // already there

  dst_->Crash();
  ASSERT_TRUE(dst_->Restart()) << dst_->error();
  auto reconnected = catalog::pg::ConnectNode(target_);
  ASSERT_TRUE(reconnected.ok());
  dst_conn_ = std::move(reconnected).value();

  ASSERT_EQ(Run(*dst_, "INSERT INTO orders VALUES (900011, 42, '2024-02-02', 'after', 0)"), "");
  auto lsn = CurrentLsn(dst_conn_.get(), "target");
  Status caught_up = WaitCaughtUp(dst_conn_.get(), rev.slot, *lsn, std::chrono::seconds(60));
  ASSERT_TRUE(caught_up.ok()) << caught_up.ToString();
  EXPECT_EQ(Run(*src_, "SELECT string_agg(k, ',' ORDER BY id) FROM orders"), "after");
}

// FlushWal is what makes the forward flow's applied commits durable before the cutover (the
// apply worker commits asynchronously) and what FlushWalThenLsn's position, the reverse flow's
// start, relies on. A COMMIT of a transaction that only took an xid (txid_current()) is
// asynchronous whatever synchronous_commit says: with the WAL writer stopped, nothing then
// reached the disk, and a crash lost applied transactions that the source deleted later (kill
// -9 of Mosaic in deprecated: pgbench_accounts/history short of tellers/branches).
TEST_F(NodeOpsTest, FlushWalMakesEarlierAsynchronousCommitsDurable) {
  const std::string walwriter =
      Query(dst_conn_.get(), "SELECT pid FROM pg_stat_activity WHERE backend_type = 'walwriter'");
  ASSERT_FALSE(walwriter.empty());
  const pid_t pid = static_cast<pid_t>(std::stol(walwriter));
  if (kill(pid, SIGSTOP) != 0) GTEST_SKIP() << "cannot stop the WAL writer (pid " << pid << ")";
  struct Resume {
    pid_t pid;
    ~Resume() { kill(pid, SIGCONT); }
  } resume{pid};
  // As the apply worker commits: asynchronously.
  ASSERT_EQ(Query(dst_conn_.get(), "SET synchronous_commit = off"), "");
  ASSERT_EQ(Query(dst_conn_.get(), "INSERT INTO other VALUES (1)"), "");
  const std::string inserted = Query(dst_conn_.get(), "SELECT pg_current_wal_insert_lsn()::text");
  ASSERT_EQ(Query(dst_conn_.get(), "SELECT pg_current_wal_flush_lsn() < '" + inserted + "'::pg_lsn"), "t")
      << "the asynchronous commit was flushed already; the test proves nothing";
  auto lsn = FlushWalThenLsn(dst_conn_.get(), "target");
  ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
  EXPECT_EQ(Query(dst_conn_.get(), "SELECT pg_current_wal_flush_lsn() >= '" + inserted + "'::pg_lsn"), "t");
  // The position returned is on disk: a slot or an origin set to it is reached again after a crash.
  EXPECT_EQ(Query(dst_conn_.get(), "SELECT pg_current_wal_flush_lsn() >= '" + *lsn + "'::pg_lsn"), "t");
  EXPECT_EQ(Query(dst_conn_.get(), "SELECT '" + *lsn + "'::pg_lsn >= '" + inserted + "'::pg_lsn"), "t");
  ASSERT_TRUE(FlushWal(dst_conn_.get(), "target").ok());
}

TEST_F(NodeOpsTest, ChecksumsAndShadowReadsSeeDifferences) {
  Load(*src_, 5000);
  Load(*dst_, 5000);
  const std::string by_tenant =
      "SELECT id, k, v FROM orders WHERE tenant_id = $1 AND created_at >= $2::date";
  auto same = SameResult(src_conn_.get(), dst_conn_.get(), by_tenant, {"42", "2024-01-01"});
  ASSERT_TRUE(same.ok()) << same.status().ToString();
  EXPECT_TRUE(*same);
  auto sums = CompareChecksums(src_conn_.get(), dst_conn_.get(), tables_, kFilter, 300, 0);
  ASSERT_TRUE(sums.ok()) << sums.status().ToString();
  EXPECT_EQ(sums->mismatched_chunks, 0);

  // One value changed, one row gone, one duplicate of a row without a key.
  ASSERT_EQ(Run(*dst_,
                "UPDATE orders SET k = 'changed' WHERE id = 100;"
                "DELETE FROM orders WHERE id = 1200;"
                "INSERT INTO events VALUES (42, '2024-02-02', 1, 'dup')"),
            "");
  same = SameResult(src_conn_.get(), dst_conn_.get(), by_tenant, {"42", "2024-01-01"});
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(*same);
  sums = CompareChecksums(src_conn_.get(), dst_conn_.get(), tables_, kFilter, 300, 1);
  ASSERT_TRUE(sums.ok());
  EXPECT_EQ(sums->mismatched_chunks, 3) << sums->first_mismatch << " chunks " << sums->chunks;
  EXPECT_EQ(sums->rows_source, sums->rows_target);  // one row fewer, one more
  EXPECT_NE(sums->first_mismatch.find("orders"), std::string::npos) << sums->first_mismatch;
  auto bad = SameResult(src_conn_.get(), dst_conn_.get(), "SELECT nope FROM orders", {});
  EXPECT_EQ(bad.status().sqlstate(), "42703");
}

// Before the cutover's fence, the chunks writes kept changing are compared again in small
// sub-chunks: only those still being written stay for the fence; a real difference in a quiet
// sub-chunk is a mismatch; the target is waited for once per round, not once per sub-chunk (a
// catch-up under steady writes waits for the subscriber's next report). No replication here: the "catch-up" writes the flow's lowest keys
// on the source between the reads, so that their sub-chunk never holds still.
TEST_F(NodeOpsTest, RefineChunksLeavesOnlyTheSubChunksStillBeingWritten) {
  Load(*src_);
  Load(*dst_);
  int writes = 0;
  auto write_hot_rows = [&]() -> Status {
    ++writes;
    return catalog::pg::Run(src_conn_.get(), "UPDATE orders SET v = v + 1 WHERE id BETWEEN 92 AND 150", {},
                            "source");
  };
  ASSERT_TRUE(write_hot_rows().ok());  // the target stays behind on these rows from here on
  const std::vector<ChunkRange> whole_orders = {ChunkRange{.table = 0}};
  auto refined = RefineChunks(src_conn_.get(), dst_conn_.get(), tables_, kFilter, whole_orders, 1000, 2,
                              write_hot_rows);
  ASSERT_TRUE(refined.ok()) << refined.status().ToString();
  EXPECT_EQ(refined->mismatched_chunks, 0) << refined->first_mismatch;
  EXPECT_GE(refined->chunks, 15);  // about 20000 flow rows of orders in sub-chunks of 1000
  ASSERT_EQ(refined->unsettled.size(), 1u);
  EXPECT_TRUE(refined->unsettled[0].lower.empty()) << "ids 92..150 are the flow's first sub-chunk";
  ASSERT_EQ(refined->unsettled[0].upper.size(), 1u);
  EXPECT_GE(std::stoi(refined->unsettled[0].upper[0].value_or("0")), 150);
  // The chunk's sub-chunks are compared together: one catch-up per round (retries + 1 rounds,
  // as the hot sub-chunk never settles), not one per sub-chunk.
  EXPECT_EQ(writes, 1 + 3);

  // One row of a later sub-chunk differs on the target only; nothing writes.
  ASSERT_EQ(Run(*dst_, "UPDATE orders SET k = 'changed' WHERE id = 40000"), "");
  const std::vector<ChunkRange> upper_orders = {ChunkRange{.table = 0, .lower = {"30000"}}};
  refined = RefineChunks(src_conn_.get(), dst_conn_.get(), tables_, kFilter, upper_orders, 1000, 2, {});
  ASSERT_TRUE(refined.ok()) << refined.status().ToString();
  EXPECT_EQ(refined->mismatched_chunks, 1);
  EXPECT_TRUE(refined->unsettled.empty());
  EXPECT_NE(refined->first_mismatch.find("orders"), std::string::npos) << refined->first_mismatch;
}

// Under the cutover's fence the chunks left are compared once, all those of one table in one
// statement per node: each range of a keyed table is judged as when it is compared alone, gaps
// between ranges and open ends included. A table without primary key is compared whole (every
// read of it is a full pass): a row that differs anywhere in the flow is a mismatch, also outside
// the ranges left for the fence (a chunk that settled earlier and diverged since).
TEST_F(NodeOpsTest, RecheckChunksJudgesEveryRangeOfATableInOneStatement) {
  Load(*src_, 5000);
  Load(*dst_, 5000);
  // events has no primary key: its ranges are bounded by rows' texts, in "C" order.
  const std::string events_in_order = std::string("FROM events r WHERE ") + kFilter + " ORDER BY r::text COLLATE \"C\"";
  auto text_at = [&](int offset) {
    return Run(*src_, "SELECT r::text " + events_in_order + " OFFSET " + std::to_string(offset) + " LIMIT 1");
  };
  const std::vector<ChunkRange> ranges = {
      {.table = 0, .lower = {"100"}, .upper = {"200"}},
      {.table = 1, .upper = {text_at(50)}},
      {.table = 0, .lower = {"1000"}, .upper = {"1100"}},
      {.table = 1, .lower = {text_at(100)}, .upper = {text_at(300)}},
      {.table = 1, .lower = {text_at(600)}, .upper = {text_at(900)}},
      {.table = 1, .lower = {text_at(900)}},
      {.table = 0, .lower = {"4000"}},
  };
  std::string first;
  auto differ = RecheckChunks(src_conn_.get(), dst_conn_.get(), tables_, kFilter, ranges, &first);
  ASSERT_TRUE(differ.ok()) << differ.status().ToString();
  EXPECT_EQ(*differ, 0) << first;

  // On the target: a value in orders (100, 200], a row gone from orders (4000, ...), and the
  // events row 400th in order changed: between the ranges (300th, 600th] left out.
  ASSERT_EQ(Run(*dst_,
                "UPDATE orders SET k = 'changed' WHERE id = 150; DELETE FROM orders WHERE id = 4500;"
                "UPDATE events SET payload = payload || '+' WHERE ctid = (SELECT ctid " + events_in_order +
                    " OFFSET 400 LIMIT 1)"),
            "");
  differ = RecheckChunks(src_conn_.get(), dst_conn_.get(), tables_, kFilter, ranges, &first);
  ASSERT_TRUE(differ.ok()) << differ.status().ToString();
  EXPECT_EQ(*differ, 3) << first;  // two ranges of orders, events once
  EXPECT_NE(first.find("orders"), std::string::npos) << first;
  std::vector<int> differing;
  for (int i : {0, 2, 6}) {
    std::string ignored;
    auto one = RecheckChunks(src_conn_.get(), dst_conn_.get(), tables_, kFilter, {ranges[static_cast<size_t>(i)]}, &ignored);
    ASSERT_TRUE(one.ok()) << one.status().ToString();
    if (*one > 0) differing.push_back(i);
  }
  EXPECT_EQ(differing, (std::vector<int>{0, 6}));
  for (size_t i : {1u, 4u}) {
    std::string events_first;
    auto one = RecheckChunks(src_conn_.get(), dst_conn_.get(), tables_, kFilter, {ranges[i]}, &events_first);
    ASSERT_TRUE(one.ok()) << one.status().ToString();
    EXPECT_EQ(*one, 1) << "range " << i;
    EXPECT_NE(events_first.find("events all the flow's rows: source "), std::string::npos) << events_first;
    EXPECT_NE(events_first.find("(different values)"), std::string::npos) << events_first;
  }
}

// The sub-chunks of one chunk are summed in one statement per read: for a table without primary
// key (rows ordered by their text, duplicates among them) and for a key of two columns. Every
// flow row lands in exactly one sub-chunk, and one changed row is one mismatched sub-chunk.
TEST_F(NodeOpsTest, RefineChunksCountsEveryRowOnceWhateverTheKey) {
  Load(*src_, 5000);
  Load(*dst_, 5000);
  auto flow_rows = [&](const std::string& table) {
    return std::stoll(Run(*src_, "SELECT count(*) FROM " + table + " WHERE " + kFilter));
  };
  // events: no primary key. One row differs on the target.
  ASSERT_EQ(Run(*dst_, "UPDATE events SET payload = 'changed' WHERE payload = 'p100'"), "");
  auto refined = RefineChunks(src_conn_.get(), dst_conn_.get(), tables_, kFilter, {ChunkRange{.table = 1}}, 100, 2, {});
  ASSERT_TRUE(refined.ok()) << refined.status().ToString();
  EXPECT_EQ(refined->rows_source, flow_rows("events"));
  EXPECT_EQ(refined->rows_target, refined->rows_source);
  EXPECT_GE(refined->chunks, flow_rows("events") / 100);
  EXPECT_EQ(refined->mismatched_chunks, 1) << refined->first_mismatch;
  EXPECT_NE(refined->first_mismatch.find("events"), std::string::npos) << refined->first_mismatch;
  EXPECT_TRUE(refined->unsettled.empty());

  // orders keyed by (tenant_id, id); one row differs on the target.
  for (TestPostgres* pg : {src_, dst_}) {
    ASSERT_EQ(Run(*pg, "ALTER TABLE orders DROP CONSTRAINT orders_pkey, ADD PRIMARY KEY (tenant_id, id)"), "");
  }
  ASSERT_EQ(Run(*dst_, "UPDATE orders SET k = 'changed' WHERE id = 1000"), "");
  refined = RefineChunks(src_conn_.get(), dst_conn_.get(), tables_, kFilter, {ChunkRange{.table = 0}}, 100, 2, {});
  ASSERT_TRUE(refined.ok()) << refined.status().ToString();
  EXPECT_EQ(refined->rows_source, flow_rows("orders"));
  EXPECT_EQ(refined->rows_target, refined->rows_source);
  EXPECT_GE(refined->chunks, flow_rows("orders") / 100);
  EXPECT_EQ(refined->mismatched_chunks, 1) << refined->first_mismatch;
  EXPECT_TRUE(refined->unsettled.empty());
}

// Regression: kill -9 of Mosaic (and its nodes) in `deprecated` left duplicate history rows on
// the target. DROP SUBSCRIPTION resets the subscription's replication origin outside its
// transaction before it commits; the crash aborted the DROP, and the subscription that survived
// streamed again from its slot's confirmed position, behind what it had applied, so it applied
// those transactions again. When a DROP starts, the subscription must already be disabled and
// detached from its slot, both committed: then whatever the DROP leaves cannot stream again.
TEST_F(NodeOpsTest, DropSubscriptionStartsItsDropOnlyOnceTheSubscriptionCannotStream) {
  Load(*src_, 1000);
  const FlowNames names = ForwardNames(6, 0);
  ASSERT_TRUE(SetReplicaIdentityFull(src_conn_.get(), tables_, "source").ok());
  ASSERT_TRUE(CreatePublication(src_conn_.get(), names.publication, tables_, kFilter).ok());
  ASSERT_TRUE(CopyFlow(source_, target_, tables_, kFilter, names.slot, {}, {}).ok());
  ASSERT_TRUE(Subscribe(dst_conn_.get(), source_, names).ok());

  // Hold the DROP before it resets the origin: it removes the subscription's rows of
  // pg_subscription_rel first (ALTER SUBSCRIPTION does not touch that table). The holder sees
  // the subscription as committed while the DROP waits.
  PGconn* holder = PQconnectdb(dst_->dsn().c_str());
  ASSERT_EQ(PQstatus(holder), CONNECTION_OK);
  auto exec = [&](const std::string& sql) { return Query(holder, sql); };
  ASSERT_EQ(exec("BEGIN; LOCK TABLE pg_catalog.pg_subscription_rel IN SHARE MODE"), "");
  Status dropped;
  std::thread drop([&] { dropped = DropSubscription(dst_conn_.get(), names.subscription); });
  std::string waiting;
  for (int i = 0; i < 200 && waiting != "1"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    waiting = exec(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND query LIKE 'DROP SUBSCRIPTION%'");
  }
  EXPECT_EQ(waiting, "1") << "the DROP never waited for the lock";
  EXPECT_EQ(exec("SELECT subenabled::text || ' ' || coalesce(subslotname::text, 'no slot') "
                 "FROM pg_subscription WHERE subname = '" + names.subscription + "'"),
            "false no slot");
  EXPECT_EQ(exec("COMMIT"), "");  // lets the DROP go on
  drop.join();
  PQfinish(holder);
  EXPECT_TRUE(dropped.ok()) << dropped.ToString();
  EXPECT_EQ(Run(*dst_, "SELECT count(*) FROM pg_subscription"), "0");
  EXPECT_EQ(Run(*src_, "SELECT count(*) FROM pg_replication_slots"), "1");  // left to DropSlot
  ASSERT_TRUE(DropSlot(src_conn_.get(), names.slot).ok());
}

TEST_F(NodeOpsTest, DeleteRowsAndIdempotentDrops) {
  Load(*src_, 5000);
  auto flow = CountRows(src_conn_.get(), tables_, kFilter, "source");
  const std::string others =
      Run(*src_, "SELECT count(*) FROM orders WHERE NOT (" + std::string(kFilter) + ")");
  auto deleted = DeleteRows(src_conn_.get(), tables_, kFilter, 700, "source");
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_EQ(*deleted, *flow);
  EXPECT_EQ(CountRows(src_conn_.get(), tables_, kFilter, "source").value(), 0);
  EXPECT_EQ(Run(*src_, "SELECT count(*) FROM orders"), others);

  ASSERT_TRUE(CreateSlot(src_conn_.get(), "s1").ok());
  ASSERT_TRUE(CreatePublication(src_conn_.get(), "p1", tables_, kFilter).ok());
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(DropSlot(src_conn_.get(), "s1").ok());
    EXPECT_TRUE(DropPublication(src_conn_.get(), "p1").ok());
    EXPECT_TRUE(DropSubscription(dst_conn_.get(), "no_such_sub").ok());
  }
  EXPECT_EQ(Run(*src_, "SELECT count(*) FROM pg_replication_slots"), "0");

  // A subscription whose publisher is gone still drops (its slot is left to DropSlot).
  ASSERT_EQ(Run(*dst_,
                "CREATE SUBSCRIPTION lost CONNECTION 'host=127.0.0.1 port=1 "
                "connect_timeout=2' PUBLICATION p WITH (connect = false, slot_name = 'x')"),
            "");
  Status dropped = DropSubscription(dst_conn_.get(), "lost");
  EXPECT_TRUE(dropped.ok()) << dropped.ToString();
  EXPECT_EQ(Run(*dst_, "SELECT count(*) FROM pg_subscription"), "0");

  // Replica identity round trip through an index.
  ASSERT_EQ(Run(*src_,
                "CREATE UNIQUE INDEX orders_k ON orders (id, tenant_id);"
                "ALTER TABLE orders REPLICA IDENTITY USING INDEX orders_k"),
            "");
  auto previous = SetReplicaIdentityFull(src_conn_.get(), tables_, "source");
  ASSERT_TRUE(previous.ok());
  EXPECT_EQ(*previous, (std::vector<std::string>{"i:orders_k", "d"}));
  auto again = SetReplicaIdentityFull(src_conn_.get(), tables_, "source");
  EXPECT_EQ(*again, (std::vector<std::string>{"f", "f"}));
  ASSERT_TRUE(RestoreReplicaIdentity(src_conn_.get(), tables_, *previous, "source").ok());
  EXPECT_EQ(Run(*src_, "SELECT relreplident FROM pg_class WHERE relname = 'orders'"), "i");
  EXPECT_EQ(Run(*src_, "SELECT relreplident FROM pg_class WHERE relname = 'events'"), "d");
  EXPECT_EQ(RestoreReplicaIdentity(src_conn_.get(), tables_, {"d"}, "source").sqlstate(), "22023");
  EXPECT_EQ(SetReplicaIdentityFull(src_conn_.get(), {MakeTable("missing", {})}, "source")
                .status()
                .sqlstate(),
            "42P01");
}

}  // namespace
}  // namespace mosaic::migration
