// The two-phase recovery pass against real PostgreSQL: two servers are two nodes (a transaction
// id is unique per server, so the nodes cannot share one), the first also holds the catalog.
// Prepared transactions are left behind as a crashed router would leave them.
#include "catalog/two_phase_recovery.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <set>
#include <string>

#include "test_postgres.h"

namespace mosaic::catalog {
namespace {

using mosaic::testing::TestPostgres;

class TwoPhaseRecoveryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg_ = new TestPostgres();
    pg2_ = new TestPostgres();
    if (!pg_->ok() || !pg2_->ok()) return;
    for (const char* db : {"n1", "n2", "cat"}) {
      PGconn* conn = PQconnectdb(Server(db).dsn("postgres").c_str());
      PQclear(PQexec(conn, (std::string("CREATE DATABASE ") + db).c_str()));
      PQfinish(conn);
    }
    for (const char* db : {"n1", "n2"}) Run(db, "CREATE TABLE t (v int)");
  }
  static void TearDownTestSuite() {
    delete pg_;
    delete pg2_;
    pg_ = pg2_ = nullptr;
  }
  // Node n2 lives on the second server.
  static TestPostgres& Server(const std::string& db) { return db == "n2" ? *pg2_ : *pg_; }
  void SetUp() override {
    ASSERT_TRUE(pg_->ok()) << pg_->error();
    ASSERT_TRUE(pg2_->ok()) << pg2_->error();
    auto catalog = Catalog::Open(pg_->dsn("cat"));
    ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
    catalog_ = std::move(catalog).value();
    nodes_ = {Node{.id = 1, .dsn = pg_->dsn("n1")}, Node{.id = 2, .dsn = pg2_->dsn("n2")}};
  }

  // Runs `sql` in `db`; returns the first value of the first row ("" if none), or "<error>".
  static std::string Run(const std::string& db, const std::string& sql) {
    PGconn* conn = PQconnectdb(Server(db).dsn(db).c_str());
    PGresult* res = PQexec(conn, sql.c_str());
    const auto st = PQresultStatus(res);
    std::string out = st == PGRES_TUPLES_OK ? (PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "")
                      : st == PGRES_COMMAND_OK ? "" : "<error " + std::string(PQerrorMessage(conn)) + ">";
    PQclear(res);
    PQfinish(conn);
    return out;
  }
  // Leaves `gid` prepared in `db`, having inserted `v` into t.
  static void Prepare(const std::string& db, const std::string& gid, int v) {
    ASSERT_EQ(Run(db, "BEGIN; INSERT INTO t VALUES (" + std::to_string(v) + "); PREPARE TRANSACTION '" + gid + "'"), "");
  }
  static std::set<std::string> PreparedIn(const std::string& db) {
    std::set<std::string> out;
    PGconn* conn = PQconnectdb(Server(db).dsn(db).c_str());
    PGresult* res = PQexec(conn, "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()");
    for (int i = 0; i < PQntuples(res); ++i) out.insert(PQgetvalue(res, i, 0));
    PQclear(res);
    PQfinish(conn);
    return out;
  }
  static std::string Values(const std::string& db) {
    return Run(db, "SELECT coalesce(string_agg(v::text, ',' ORDER BY v), '') FROM t");
  }

  static inline TestPostgres* pg_ = nullptr;
  static inline TestPostgres* pg2_ = nullptr;
  std::unique_ptr<Catalog> catalog_;
  std::vector<Node> nodes_;
};

TEST_F(TwoPhaseRecoveryTest, ResolvesByTheCatalogAndLeavesOthersAlone) {
  const std::string committed = "mosaic_r1_1_7_1", undecided = "mosaic_r1_1_7_2",
                    in_flight = "mosaic_r1_2_3_1", other_router = "mosaic_r12_1_1_1";
  Prepare("n1", committed, 1);
  Prepare("n2", committed, 2);
  Prepare("n1", undecided, 3);
  Prepare("n2", undecided, 4);
  Prepare("n2", in_flight, 5);
  Prepare("n1", other_router, 6);
  ASSERT_EQ(Run("cat", "INSERT INTO mosaic.transactions (gid) VALUES ('" + committed + "')"), "");

  auto result = RecoverPreparedTransactions(*catalog_, nodes_, TwoPhasePrefix("r1"),
                                            [&](const std::string& gid) { return gid == in_flight; });
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_TRUE(result->errors.empty()) << result->errors.front();
  EXPECT_EQ(result->committed, 2);    // committed, on both nodes
  EXPECT_EQ(result->rolled_back, 2);  // undecided, on both nodes
  EXPECT_EQ(result->in_flight, 1);
  EXPECT_EQ(result->forgotten, 1);    // committed's decision: resolved everywhere now
  EXPECT_EQ(Values("n1"), "1");
  EXPECT_EQ(Values("n2"), "2");
  EXPECT_EQ(PreparedIn("n1"), std::set<std::string>{other_router});
  EXPECT_EQ(PreparedIn("n2"), std::set<std::string>{in_flight});
  // the rollback was recorded first, so the session can no longer record a commit
  EXPECT_EQ(Run("cat", "SELECT outcome FROM mosaic.transactions WHERE gid = '" + undecided + "'"), "abort");
  EXPECT_EQ(Run("cat", "INSERT INTO mosaic.transactions (gid) VALUES ('" + undecided +
                           "') ON CONFLICT (gid) DO NOTHING RETURNING gid"),
            "");
  EXPECT_EQ(Run("cat", "SELECT count(*) FROM mosaic.transactions WHERE gid = '" + committed + "'"), "0");

  // The session finished: the next pass rolls it back (no decision) and forgets the abort.
  result = RecoverPreparedTransactions(*catalog_, nodes_, TwoPhasePrefix("r1"), {});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->rolled_back, 1);
  EXPECT_EQ(result->forgotten, 1);  // undecided's abort record
  EXPECT_EQ(PreparedIn("n2"), std::set<std::string>{});
  EXPECT_EQ(Values("n2"), "2");
  result = RecoverPreparedTransactions(*catalog_, nodes_, TwoPhasePrefix("r1"), {});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->forgotten, 1);  // in_flight's abort record
  EXPECT_EQ(Run("cat", "SELECT count(*) FROM mosaic.transactions"), "0");
  EXPECT_EQ(Run("n1", "ROLLBACK PREPARED '" + other_router + "'"), "");
}

TEST_F(TwoPhaseRecoveryTest, AnUnreachableNodeKeepsDecisions) {
  const std::string gid = "mosaic_r2_1_1_1";
  Prepare("n1", gid, 10);
  ASSERT_EQ(Run("cat", "INSERT INTO mosaic.transactions (gid) VALUES ('" + gid + "')"), "");
  std::vector<Node> nodes = nodes_;
  nodes.push_back(Node{.id = 3, .dsn = "host=127.0.0.1 port=1 dbname=x connect_timeout=2"});
  auto result = RecoverPreparedTransactions(*catalog_, nodes, TwoPhasePrefix("r2"), {});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->committed, 1);
  ASSERT_EQ(result->errors.size(), 1u);
  EXPECT_EQ(result->forgotten, 0);  // node 3 may still hold it prepared
  EXPECT_EQ(Run("cat", "SELECT count(*) FROM mosaic.transactions WHERE gid = '" + gid + "'"), "1");
  result = RecoverPreparedTransactions(*catalog_, nodes_, TwoPhasePrefix("r2"), {});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->forgotten, 1);
  EXPECT_EQ(Run("n1", "DELETE FROM t WHERE v = 10 RETURNING v"), "10");
}

TEST_F(TwoPhaseRecoveryTest, LastResourceCommitsAreDecidedByTheirNodesRow) {
  // "..._l1": node 1 committed last, in one phase, with its decision row in the same transaction.
  EXPECT_EQ(LastResourceNode("mosaic_r3_1_1_1_l1"), 1);
  EXPECT_EQ(LastResourceNode("mosaic_r3_1_1_1_l12"), 12);
  EXPECT_EQ(LastResourceNode("mosaic_r3_1_1_1"), -1);
  EXPECT_EQ(LastResourceNode("mosaic_r_l2_1_1_1"), -1);  // a router id with "_l" in it
  EXPECT_EQ(LastResourceNode("mosaic_r3_1_1_1_l0"), -1);
  // The pass creates the table on every node.
  auto result = RecoverPreparedTransactions(*catalog_, nodes_, TwoPhasePrefix("r3"), {});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(Run("n1", "SELECT count(*) FROM _mosaic.local_decisions"), "0");
  EXPECT_EQ(Run("n2", "SELECT count(*) FROM _mosaic.local_decisions"), "0");

  const std::string committed = "mosaic_r3_1_1_1_l1", undecided = "mosaic_r3_1_1_2_l1";
  Prepare("n2", committed, 20);
  ASSERT_EQ(Run("n1", "INSERT INTO _mosaic.local_decisions (gid, commit) VALUES ('" + committed + "', true)"), "");
  Prepare("n2", undecided, 21);  // node 1 never committed (the router died before)
  result = RecoverPreparedTransactions(*catalog_, nodes_, TwoPhasePrefix("r3"), {});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_TRUE(result->errors.empty()) << result->errors.front();
  EXPECT_EQ(result->committed, 1);
  EXPECT_EQ(result->rolled_back, 1);
  EXPECT_EQ(PreparedIn("n2"), std::set<std::string>{});
  EXPECT_EQ(Run("n2", "SELECT count(*) FROM t WHERE v IN (20, 21)"), "1");
  EXPECT_EQ(Run("n2", "SELECT v FROM t WHERE v IN (20, 21)"), "20");
  // The abort was recorded first: a session that still had node 1 open cannot record a commit.
  EXPECT_EQ(Run("n1", "SELECT commit FROM _mosaic.local_decisions WHERE gid = '" + undecided + "'"), "f");
  EXPECT_NE(Run("n1", "INSERT INTO _mosaic.local_decisions (gid, commit) VALUES ('" + undecided + "', true)")
                .find("<error"),
            std::string::npos);
  // The commit row, read before the pass, is forgotten once nothing is prepared; the abort row
  // written during it, by the next pass. Catalog decisions are not involved.
  EXPECT_EQ(Run("n1", "SELECT count(*) FROM _mosaic.local_decisions WHERE gid = '" + committed + "'"), "0");
  EXPECT_EQ(Run("cat", "SELECT count(*) FROM mosaic.transactions WHERE gid LIKE 'mosaic_r3_%'"), "0");
  result = RecoverPreparedTransactions(*catalog_, nodes_, TwoPhasePrefix("r3"), {});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(Run("n1", "SELECT count(*) FROM _mosaic.local_decisions"), "0");
  EXPECT_EQ(Run("n2", "DELETE FROM t WHERE v = 20 RETURNING v"), "20");
}

TEST_F(TwoPhaseRecoveryTest, IncarnationsCountStarts) {
  auto first = catalog_->StartIncarnation("inc-test");
  auto second = catalog_->StartIncarnation("inc-test");
  auto other = catalog_->StartIncarnation("inc-other");
  ASSERT_TRUE(first.ok() && second.ok() && other.ok());
  EXPECT_EQ(*second, *first + 1);
  EXPECT_EQ(*other, 1);
}

}  // namespace
}  // namespace mosaic::catalog
