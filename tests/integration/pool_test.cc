// NodePool against a real PostgreSQL: pipelining (Share) hands each reply to the statement's
// own handler in order, drops an orphan's, keeps settings apart, lets a waiting statement
// join; a connection that closes lets a waiting client open another.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "backend/pool.h"
#include "frontend/worker.h"
#include "postgres_suite.h"
#include "protocol/codec.h"

namespace mosaic {
namespace {

using backend::NodePool;
using backend::ServerConn;

// A stand-in for a session: keeps the first column of each row, counts ReadyForQuery.
struct Recorder : backend::ServerHandler {
  std::vector<std::string> rows;
  int ready = 0;
  int errors = 0;
  std::vector<std::string> sqlstates;
  bool closed = false;
  void OnServerMessage(ServerConn&, const protocol::Frame& frame) override {
    if (frame.type == protocol::be::kDataRow && frame.body.size() >= 6) rows.emplace_back(frame.body.substr(6));
    if (frame.type == protocol::be::kErrorResponse) {
      ++errors;
      protocol::ErrorFields fields;
      if (protocol::ParseErrorFields(frame.body, &fields).ok()) sqlstates.emplace_back(fields.code);
    }
    if (frame.type == protocol::be::kReadyForQuery) ++ready;
  }
  asio::awaitable<void> OnServerBatchDone(ServerConn&) override { co_return; }
  void OnServerClosed(ServerConn&, const Status&) override { closed = true; }
};

std::string Query(std::string_view sql) {
  std::string out;
  protocol::WriteQuery(&out, sql);
  return out;
}

class PoolTest : public testing::PostgresSuite {
 protected:
  catalog::Node node() const { return catalog::Node{.id = 1, .dsn = pg_->dsn(), .host = "127.0.0.1", .port = pg_->port()}; }

  // Runs `body` on the io_context until it returns (or 20 s pass).
  void Run(std::function<asio::awaitable<void>()> body) {
    bool done = false;
    asio::co_spawn(io_, [&]() -> asio::awaitable<void> {
      co_await body();
      done = true;
    }, asio::detached);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done && std::chrono::steady_clock::now() < deadline) io_.run_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(done) << "timed out";
  }

  // Waits (running the loop) until `pred` holds, up to 10 s.
  asio::awaitable<bool> Until(std::function<bool()> pred) {
    asio::steady_timer timer(io_);
    for (int i = 0; i < 1000 && !pred(); ++i) {
      timer.expires_after(std::chrono::milliseconds(10));
      co_await timer.async_wait(use_tuple);
    }
    co_return pred();
  }

  // Opens one connection and gives it back: idle, with settings generation 0.
  asio::awaitable<void> Warm(NodePool& pool) {
    Recorder r;
    auto conn = co_await pool.Acquire(&r);
    EXPECT_TRUE(conn.ok()) << conn.status().message();
    if (conn.ok()) pool.Release(std::move(conn.value()), true);
  }

  asio::io_context io_;
};

TEST_F(PoolTest, StatementsOfTwoHandlersShareOneConnectionAndEachGetsItsOwnReply) {
  NodePool pool(io_.get_executor(), node(), 2, 5000, 10, 4);
  pool.set_pipeline_head_max(std::chrono::seconds(10));  // a loaded machine may pause between two calls
  auto a = std::make_shared<Recorder>(), b = std::make_shared<Recorder>();
  Run([&]() -> asio::awaitable<void> {
    co_await Warm(pool);
    auto sa = pool.Share(a, a.get(), 0, Query("SELECT 41"));
    auto sb = pool.Share(b, b.get(), 0, Query("SELECT 42"));
    EXPECT_TRUE(sa && sb && sa == sb);
    EXPECT_EQ(pool.stats().shared, 1);
    EXPECT_EQ(pool.stats().idle, 0);
    EXPECT_FALSE(pool.CanCancel(*sa, a.get()));  // b's statement waits behind a's
    EXPECT_TRUE(co_await Until([&] { return a->ready == 1 && b->ready == 1; }));
    EXPECT_EQ(a->rows, std::vector<std::string>{"41"});
    EXPECT_EQ(b->rows, std::vector<std::string>{"42"});
    pool.Release(sa, true, a.get());
    EXPECT_EQ(pool.stats().shared, 1);  // b still holds it
    pool.Release(sb, true, b.get());
    EXPECT_EQ(pool.stats().shared, 0);
    EXPECT_EQ(pool.stats().idle, 1);
    EXPECT_EQ(pool.stats().pipelined, 2);
    EXPECT_EQ(pool.stats().connects, 1);
  });
}

TEST_F(PoolTest, AnErrorEndsOnlyItsOwnStatement) {
  NodePool pool(io_.get_executor(), node(), 2, 5000, 10, 4);
  pool.set_pipeline_head_max(std::chrono::seconds(10));  // a loaded machine may pause between two calls
  auto a = std::make_shared<Recorder>(), b = std::make_shared<Recorder>(), c = std::make_shared<Recorder>();
  Run([&]() -> asio::awaitable<void> {
    co_await Warm(pool);
    auto sa = pool.Share(a, a.get(), 0, Query("SELECT 1"));
    auto sb = pool.Share(b, b.get(), 0, Query("SELECT 1/0"));
    auto sc = pool.Share(c, c.get(), 0, Query("SELECT 3"));
    EXPECT_TRUE(sa == sb && sb == sc);
    EXPECT_TRUE(co_await Until([&] { return a->ready + b->ready + c->ready == 3; }));
    EXPECT_EQ(a->rows, std::vector<std::string>{"1"});
    EXPECT_EQ(b->errors, 1);
    EXPECT_TRUE(b->rows.empty());
    EXPECT_EQ(c->rows, std::vector<std::string>{"3"});
    EXPECT_EQ(a->errors + c->errors, 0);
    for (auto [conn, who] : {std::pair{sa, a.get()}, std::pair{sb, b.get()}, std::pair{sc, c.get()}}) {
      pool.Release(conn, true, who);
    }
    EXPECT_EQ(pool.stats().idle, 1);
  });
}

TEST_F(PoolTest, AnOrphanedStatementsReplyIsDroppedAndTheConnectionComesBack) {
  NodePool pool(io_.get_executor(), node(), 2, 5000, 10, 4);
  pool.set_pipeline_head_max(std::chrono::seconds(10));  // a loaded machine may pause between two calls
  auto a = std::make_shared<Recorder>(), b = std::make_shared<Recorder>();
  Run([&]() -> asio::awaitable<void> {
    co_await Warm(pool);
    auto sa = pool.Share(a, a.get(), 0, Query("SELECT pg_sleep(0.05), 7"));
    auto sb = pool.Share(b, b.get(), 0, Query("SELECT 8"));
    pool.Release(sa, false, a.get());  // a's client left before its reply
    EXPECT_TRUE(co_await Until([&] { return b->ready == 1; }));
    EXPECT_EQ(a->ready, 0);
    EXPECT_TRUE(a->rows.empty());
    EXPECT_EQ(b->rows, std::vector<std::string>{"8"});
    pool.Release(sb, true, b.get());
    EXPECT_EQ(pool.stats().idle, 1);  // not closed: the orphan's statement could not harm it
    EXPECT_EQ(pool.stats().connects, 1);
  });
}

// A unit that prepares a statement on a shared connection (what a session's PrepareOn writes:
// Parse, Bind, Execute, Sync, with NoteParse). While its Parse is unanswered another unit does
// not count on the statement; a Parse that fails is forgotten, also when its session has gone
// (else every later unit's Bind of it there would fail with 26000).
std::string PreparingUnit(ServerConn& conn, const std::shared_ptr<const backend::ServerStatement>& stmt) {
  std::string out;
  conn.NoteParse(stmt);
  protocol::WriteParse(&out, stmt->server_name, stmt->query, stmt->param_types);
  protocol::WriteBindRenamed(&out, "", stmt->server_name, std::string(6, '\0'));  // no formats, no parameters
  protocol::WriteExecute(&out, "", 0);
  protocol::WriteSync(&out);
  return out;
}

TEST_F(PoolTest, AFailedParseOnASharedConnectionIsForgottenEvenIfItsSessionHasGone) {
  NodePool pool(io_.get_executor(), node(), 2, 5000, 10, 4);
  pool.set_pipeline_head_max(std::chrono::seconds(10));  // a loaded machine may pause between two calls
  auto bad = std::make_shared<backend::ServerStatement>(
      backend::ServerStatement{.query = "SELECT nope FROM no_such_table", .server_name = "mosaic_pt1", .hash = 1});
  auto good = std::make_shared<backend::ServerStatement>(
      backend::ServerStatement{.query = "SELECT 1 / 0", .server_name = "mosaic_pt2", .hash = 2});
  auto a = std::make_shared<Recorder>(), b = std::make_shared<Recorder>(), c = std::make_shared<Recorder>();
  Run([&]() -> asio::awaitable<void> {
    co_await Warm(pool);
    std::string unit;
    auto write_bad = [&](ServerConn& conn) -> std::string_view {
      EXPECT_FALSE(conn.Holds(*bad));
      unit = PreparingUnit(conn, bad);
      return unit;
    };
    auto write_good = [&](ServerConn& conn) -> std::string_view {
      unit = PreparingUnit(conn, good);
      return unit;
    };
    auto sa = pool.Share(a, a.get(), 0, backend::NodePool::StatementWriter(write_bad));
    EXPECT_TRUE(sa && sa->Holds(*bad) == false);  // written, not answered yet
    pool.Release(sa, false, a.get());  // a's client left before the reply
    auto sb = pool.Share(b, b.get(), 0, backend::NodePool::StatementWriter(write_good));
    EXPECT_EQ(sa, sb);
    EXPECT_TRUE(co_await Until([&] { return b->ready == 1; }));
    EXPECT_EQ(b->errors, 1);  // division by zero: Execute's error, after ParseComplete
    EXPECT_FALSE(sb->statements.contains(bad->hash)) << "the failed Parse left its statement behind";
    EXPECT_TRUE(sb->Holds(*good));
    EXPECT_TRUE(sb->parses_in_flight.empty());
    // The next unit of `bad` prepares it again and gets the server's own error, not 26000.
    auto sc = pool.Share(c, c.get(), 0, backend::NodePool::StatementWriter(write_bad));
    EXPECT_EQ(sc, sb);
    EXPECT_TRUE(co_await Until([&] { return c->ready == 1; }));
    EXPECT_EQ(c->errors, 1);
    EXPECT_EQ(c->sqlstates, std::vector<std::string>{"42P01"});
    pool.Release(sb, true, b.get());
    pool.Release(sc, true, c.get());
    EXPECT_EQ(pool.stats().idle, 1);
  });
}

TEST_F(PoolTest, OtherSettingsNeverShareAConnection) {
  NodePool pool(io_.get_executor(), node(), 2, 5000, 10, 4);
  pool.set_pipeline_head_max(std::chrono::seconds(10));  // a loaded machine may pause between two calls
  auto a = std::make_shared<Recorder>();
  Run([&]() -> asio::awaitable<void> {
    co_await Warm(pool);  // its connection matches settings generation 0
    EXPECT_EQ(pool.Share(a, a.get(), 7, Query("SELECT 1")), nullptr);
    EXPECT_EQ(pool.stats().idle, 1);
    NodePool off(io_.get_executor(), node(), 2, 5000, 10, 0);
    co_await Warm(off);
    EXPECT_EQ(off.Share(a, a.get(), 0, Query("SELECT 1")), nullptr);  // pipelining off
  });
}

TEST_F(PoolTest, AWaitingStatementJoinsAPipelineWhenItHasRoom) {
  NodePool pool(io_.get_executor(), node(), 1, 5000, 10, 2);  // one connection, two statements deep
  pool.set_pipeline_head_max(std::chrono::seconds(10));
  auto a = std::make_shared<Recorder>(), b = std::make_shared<Recorder>(), c = std::make_shared<Recorder>();
  Run([&]() -> asio::awaitable<void> {
    co_await Warm(pool);
    auto sa = pool.Share(a, a.get(), 0, Query("SELECT pg_sleep(0.05), 1"));
    auto sb = pool.Share(b, b.get(), 0, Query("SELECT 2"));
    EXPECT_TRUE(sa && sa == sb);
    EXPECT_EQ(pool.Share(c, c.get(), 0, Query("SELECT 3")), nullptr);  // full
    // AcquireShared composes and writes it when it joins (a prepared statement's Parse depends
    // on the connection it lands on).
    const std::string third = Query("SELECT 3");
    ServerConn* composed_for = nullptr;
    int a_ready_when_composed = -1;
    auto compose = [&](ServerConn& conn) -> std::string_view {
      composed_for = &conn;
      a_ready_when_composed = a->ready;
      return third;
    };
    auto got = co_await pool.AcquireShared(c, c.get(), 0, NodePool::StatementWriter(compose));
    EXPECT_TRUE(got.ok());
    if (!got.ok()) co_return;
    EXPECT_TRUE(got.value().shared);
    EXPECT_EQ(got.value().conn, sa);
    EXPECT_EQ(composed_for, sa.get());
    EXPECT_EQ(a_ready_when_composed, 1);  // it joined once a's statement ended
    EXPECT_TRUE(co_await Until([&] { return c->ready == 1; }));
    EXPECT_EQ(c->rows, std::vector<std::string>{"3"});
    pool.Release(sa, true, a.get());
    pool.Release(sb, true, b.get());
    pool.Release(got.value().conn, true, c.get());
    EXPECT_EQ(pool.stats().idle, 1);
    EXPECT_EQ(pool.stats().waiting, 0);
  });
}

// A cancel request reaches the node some time after it is sent: a connection it is on its
// way to serves no other client until it is done (the node would cancel that client's
// statement instead), neither from the idle list nor as a shared connection.
TEST_F(PoolTest, AConnectionACancelIsOnItsWayToServesNoOneElseUntilItIsDone) {
  NodePool pool(io_.get_executor(), node(), 1, 5000, 10, 4);
  pool.set_pipeline_head_max(std::chrono::seconds(10));  // a loaded machine may pause between two calls
  auto a = std::make_shared<Recorder>(), b = std::make_shared<Recorder>();
  Run([&]() -> asio::awaitable<void> {
    for (int round = 0; round < 3; ++round) {
      co_await Warm(pool);
      auto conn = co_await pool.Acquire(a.get());
      EXPECT_TRUE(conn.ok());
      if (!conn.ok()) co_return;
      ServerConn* cancelled = conn.value().get();
      conn.value()->Cancel();  // a's statement just ended: the request is on its way
      EXPECT_TRUE(cancelled->cancelling());
      pool.Release(std::move(conn.value()), true);
      EXPECT_EQ(pool.stats().idle, 0);
      EXPECT_EQ(pool.Share(b, b.get(), 0, Query("SELECT 1")), nullptr);
      // b waits for it (the pool has one connection) and runs once the request is done.
      auto got = co_await pool.AcquireShared(b, b.get(), 0, Query("SELECT 42 FROM pg_sleep(0.2)"));
      EXPECT_TRUE(got.ok() && got.value().shared && got.value().conn.get() == cancelled);
      if (!got.ok()) co_return;
      EXPECT_FALSE(cancelled->cancelling());
      EXPECT_TRUE(co_await Until([&] { return b->ready == round + 1; }));
      EXPECT_EQ(b->errors, 0) << "the cancel request hit b's statement";
      pool.Release(got.value().conn, true, b.get());
      EXPECT_EQ(pool.stats().idle, 1);
    }
    EXPECT_EQ(b->rows, (std::vector<std::string>{"42", "42", "42"}));
  });
}

TEST_F(PoolTest, NothingJoinsBehindAStatementRunningLong) {
  NodePool pool(io_.get_executor(), node(), 2, 5000, 10, 4);
  pool.set_pipeline_head_max(std::chrono::milliseconds(5));
  auto a = std::make_shared<Recorder>(), b = std::make_shared<Recorder>();
  Run([&]() -> asio::awaitable<void> {
    co_await Warm(pool);
    auto sa = pool.Share(a, a.get(), 0, Query("SELECT pg_sleep(0.3), 1"));
    EXPECT_TRUE(sa);
    asio::steady_timer timer(io_, std::chrono::milliseconds(50));  // a's statement is still running
    co_await timer.async_wait(use_tuple);
    EXPECT_EQ(a->ready, 0);
    EXPECT_EQ(pool.Share(b, b.get(), 0, Query("SELECT 2")), nullptr);  // no idle one either
    EXPECT_TRUE(co_await Until([&] { return a->ready == 1; }));
    pool.Release(sa, true, a.get());
    EXPECT_EQ(pool.stats().idle, 1);
  });
}

TEST_F(PoolTest, AConnectionThatClosesLetsAWaitingClientOpenAnother) {
  NodePool pool(io_.get_executor(), node(), 1, 15000, 10, 0);
  Recorder a, b;
  Run([&]() -> asio::awaitable<void> {
    auto first = co_await pool.Acquire(&a);
    EXPECT_TRUE(first.ok());
    if (!first.ok()) co_return;
    bool second_done = false;
    Result<std::shared_ptr<ServerConn>> second = Status::OK();
    asio::co_spawn(io_, [&]() -> asio::awaitable<void> {
      second = co_await pool.Acquire(&b);
      second_done = true;
    }, asio::detached);
    EXPECT_TRUE(co_await Until([&] { return pool.stats().waiting == 1; }));
    const auto start = std::chrono::steady_clock::now();
    pool.Release(std::move(first.value()), /*reusable=*/false);  // closed, as when its client leaves mid-query
    EXPECT_TRUE(co_await Until([&] { return second_done; }));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));  // not the 15 s timeout
    EXPECT_TRUE(second.ok()) << second.status().message();
    EXPECT_EQ(pool.stats().connects, 2);
    if (second.ok()) pool.Release(std::move(second.value()), true);
  });
}

TEST_F(PoolTest, ACancelEndsAWaitForAConnectionAndOnlyThatOne) {
  NodePool pool(io_.get_executor(), node(), 1, 15000, 10, 4);
  Recorder a, b;
  auto c = std::make_shared<Recorder>();
  int owner_b = 0, owner_c = 0;
  Run([&]() -> asio::awaitable<void> {
    auto first = co_await pool.Acquire(&a);
    EXPECT_TRUE(first.ok());
    if (!first.ok()) co_return;
    bool b_done = false, c_done = false;
    Result<std::shared_ptr<ServerConn>> second = Status::OK();
    Result<NodePool::Shared> third = Status::OK();
    asio::co_spawn(io_, [&]() -> asio::awaitable<void> {
      second = co_await pool.Acquire(&b, &owner_b);
      b_done = true;
    }, asio::detached);
    asio::co_spawn(io_, [&]() -> asio::awaitable<void> {
      third = co_await pool.AcquireShared(c, &owner_c, 0, Query("SELECT 3"));
      c_done = true;
    }, asio::detached);
    EXPECT_TRUE(co_await Until([&] { return pool.stats().waiting == 2; }));
    EXPECT_FALSE(pool.CancelWaiting(&a));  // not waiting
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(pool.CancelWaiting(&owner_b));
    EXPECT_TRUE(co_await Until([&] { return b_done; }));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));  // not the 15 s timeout
    EXPECT_FALSE(second.ok());
    EXPECT_EQ(second.status().sqlstate(), "57014");
    EXPECT_EQ(pool.stats().waiting, 1);
    EXPECT_FALSE(pool.CancelWaiting(&owner_b));  // once
    EXPECT_TRUE(pool.CancelWaiting(&owner_c));  // a statement waiting to be pipelined
    EXPECT_TRUE(co_await Until([&] { return c_done; }));
    EXPECT_FALSE(third.ok());
    EXPECT_EQ(third.status().sqlstate(), "57014");
    // The connection coming back goes to nobody: both waits ended.
    pool.Release(std::move(first.value()), true);
    EXPECT_EQ(pool.stats().idle, 1);
    EXPECT_EQ(pool.stats().waiting, 0);
    EXPECT_EQ(pool.stats().total, 1);
  });
}

// What lets a connection set up for one client serve another without comparing settings.
TEST(WorkerSettings, EqualSettingsGetEqualGenerationsAndOnlyThey) {
  frontend::FrontendContext context;
  frontend::Worker worker(0, context);
  std::map<std::string, std::string, std::less<>> utc{{"TimeZone", "UTC"}, {"application_name", "app"}};
  auto same = utc, kolkata = utc, more = utc;
  kolkata["TimeZone"] = "Asia/Kolkata";
  more["DateStyle"] = "ISO, DMY";
  const uint64_t g = worker.GenerationOf(utc);
  EXPECT_EQ(worker.GenerationOf(same), g);
  EXPECT_NE(worker.GenerationOf(kolkata), g);
  EXPECT_NE(worker.GenerationOf(more), g);
  EXPECT_NE(worker.GenerationOf(kolkata), worker.GenerationOf(more));
  EXPECT_GT(worker.NextGeneration(), worker.GenerationOf(more));  // other uses of the counter never collide
}

TEST(WorkerSettings, OnlyShapesSeenToRunFastArePipelined) {
  frontend::FrontendContext context;
  frontend::Worker worker(0, context);
  EXPECT_FALSE(worker.FastShape(7));  // never seen
  worker.NoteLatency(7, 200);
  EXPECT_TRUE(worker.FastShape(7));
  for (int i = 0; i < 20; ++i) worker.NoteLatency(7, 50000);  // it became slow
  EXPECT_FALSE(worker.FastShape(7));
  for (int i = 0; i < 40; ++i) worker.NoteLatency(7, 100);  // and fast again
  EXPECT_TRUE(worker.FastShape(7));
  worker.NoteLatency(8, frontend::Worker::kFastShapeMax);
  EXPECT_FALSE(worker.FastShape(8));
}

TEST(WorkerSettings, LoadDoesNotTurnPipeliningOff) {
  frontend::FrontendContext context;
  frontend::Worker worker(0, context);
  // A 100 µs read on a saturated host: most samples wait for the event loop or a CPU, one in
  // four does not. An average of them (1.5 ms) would call the shape slow.
  for (int i = 0; i < 200; ++i) worker.NoteLatency(7, i % 4 == 0 ? 100 : 2000);
  EXPECT_TRUE(worker.FastShape(7));
  // A shape whose every sample is over the limit turns slow within a few samples,
  for (int i = 0; i < 30; ++i) worker.NoteLatency(7, 4000);
  EXPECT_FALSE(worker.FastShape(7));
  // and one sample of a statement that runs long is enough.
  worker.NoteLatency(8, 100);
  worker.NoteLatency(8, 50000);
  EXPECT_FALSE(worker.FastShape(8));
  EXPECT_EQ(frontend::Worker::ShapeEstimate(100, 50000), 100u + (49900u + 15u) / 16u);
  EXPECT_EQ(frontend::Worker::ShapeEstimate(3000, 40), 40u);  // a low sample counts at once
  EXPECT_EQ(frontend::Worker::ShapeEstimate(0, UINT32_MAX), (uint64_t{UINT32_MAX} + 15) / 16);
}

}  // namespace
}  // namespace mosaic
