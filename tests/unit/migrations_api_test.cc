// Unit tests for admin/migrations_api.h: the routes over a fake migration::Backend on a real
// AdminServer (loopback, free port), and the JSON shape of one migration.
#include "admin/migrations_api.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <mutex>

namespace mosaic::admin {
namespace {

using Json = nlohmann::json;
using Reply = std::pair<int, Json>;

// Records its calls; migration 7 exists, any other id is 404.
class FakeBackend : public migration::Backend {
 public:
  Reply Submit(const Json& action) override { return Record("submit", 201, Json{{"submitted", action}}); }
  Reply List() override { return Record("list", 200, Json{{"migrations", Json::array()}}); }
  Reply Get(int64_t id) override {
    return id == 7 ? Record("get 7", 200, Json{{"id", 7}}) : Record("get " + std::to_string(id), 404, Json{{"error", "no"}});
  }
  Reply Request(int64_t id, const std::string& request) override {
    return Record(request + " " + std::to_string(id), id == 7 ? 200 : 404, Json{{"id", id}, {"request", request}});
  }

  std::vector<std::string> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  Reply Record(std::string call, int status, Json body) {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(std::move(call));
    return {status, std::move(body)};
  }

  std::mutex mu_;
  std::vector<std::string> calls_;
};

class MigrationsApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = AdminServer::Start("127.0.0.1", 0, AdminHandlers{});
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    server_ = std::move(started).value();
    RegisterMigrationRoutes(*server_, backend_);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }

  Reply Call(const std::string& method, const std::string& path, const std::string& body = "") {
    httplib::Result res = method == "GET" ? client_->Get(path) : client_->Post(path, body, "application/json");
    EXPECT_TRUE(res) << method << " " << path;
    if (!res) return {};
    return {res->status, Json::parse(res->body, nullptr, false)};
  }

  FakeBackend backend_;
  std::unique_ptr<AdminServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(MigrationsApiTest, RoutesReachTheBackendAndPassItsRepliesThrough) {
  EXPECT_EQ(Call("POST", "/api/v1/migrations", R"({"action": "move", "origin": "manual"})"),
            (Reply(201, Json::parse(R"({"submitted": {"action": "move", "origin": "manual"}})"))));
  EXPECT_EQ(Call("GET", "/api/v1/migrations"), (Reply(200, Json::parse(R"({"migrations": []})"))));
  EXPECT_EQ(Call("GET", "/api/v1/migrations/7"), (Reply(200, Json::parse(R"({"id": 7})"))));
  EXPECT_EQ(Call("GET", "/api/v1/migrations/8").first, 404);
  for (const char* word : {"pause", "resume", "abort", "rollback"}) {
    EXPECT_EQ(Call("POST", std::string("/api/v1/migrations/7/") + word),
              (Reply(200, Json{{"id", 7}, {"request", word}})));
  }
  EXPECT_EQ(Call("POST", "/api/v1/migrations/9/abort").first, 404);
  EXPECT_EQ(backend_.calls(), (std::vector<std::string>{"submit", "list", "get 7", "get 8", "pause 7", "resume 7",
                                                        "abort 7", "rollback 7", "abort 9"}));
}

TEST_F(MigrationsApiTest, BadPathsNeverReachTheBackend) {
  EXPECT_EQ(Call("GET", "/api/v1/migrations/abc").first, 400);
  EXPECT_EQ(Call("GET", "/api/v1/migrations/0").first, 400);
  EXPECT_EQ(Call("GET", "/api/v1/migrations/12x").first, 400);
  EXPECT_EQ(Call("POST", "/api/v1/migrations/x/pause").first, 400);
  auto unknown = Call("POST", "/api/v1/migrations/7/explode");
  EXPECT_EQ(unknown.first, 404);
  EXPECT_EQ(unknown.second["error"], "no such path: /api/v1/migrations/7/explode");
  EXPECT_EQ(Call("POST", "/api/v1/migrations/7").first, 404);
  EXPECT_EQ(Call("GET", "/api/v1/migrations/7/journal").first, 404);
  EXPECT_EQ(Call("POST", "/api/v1/migrations", "{bad").first, 400);
  EXPECT_TRUE(backend_.calls().empty());
}

TEST(MigrationJson, TheApiShape) {
  catalog::MigrationRecord m;
  m.id = 3;
  m.action = "split";
  m.tenant = "42";
  m.table_ids = {1, 2};
  m.plan_json = R"({"action": "split", "tenant": "42", "tables": ["public.orders", "public.lines"],
      "column": "order_date", "from": [{"lower": null, "upper": null, "node": 1}],
      "ranges": [{"lower": null, "upper": "2024-01-01", "node": 1}, {"lower": "2024-01-01", "upper": null, "node": 2}]})";
  m.flows_json = R"([{"source": 1, "target": 2, "filter": "x"}])";
  m.phase = "shadow_reads";
  m.paused = true;
  m.requested = "abort";
  m.state_json = R"({"step": 4, "progress": {"rows_copied": 50, "rows_estimated": 200, "bytes_copied": 1000,
      "rows_per_s": 10, "eta_s": 15, "shadow_reads": 9, "shadow_mismatches": 1, "checksum_chunks": 2}})";
  m.created_at = "2026-01-01 00:00:00+00";
  m.updated_at = "2026-01-01 00:01:00+00";
  EXPECT_EQ(MigrationJson(m, nullptr), Json::parse(R"({"id": 3, "action": "split", "origin": "manual",
      "phase": "shadow_reads", "paused": true, "requested": "abort", "tenant": "42",
      "tables": ["public.orders", "public.lines"], "column": "order_date",
      "ranges": [{"lower": null, "upper": "2024-01-01", "node": 1}, {"lower": "2024-01-01", "upper": null, "node": 2}],
      "from": [{"lower": null, "upper": null, "node": 1}], "flows": [{"source": 1, "target": 2}],
      "progress": {"rows_copied": 50, "rows_estimated": 200, "bytes": 1000, "rows_per_s": 10.0, "eta_s": 15.0,
                   "cutover_attempts": 0, "cutover_blocked_by": null},
      "mismatches": {"shadow_reads": 9, "shadow_mismatches": 1, "checksum_chunks": 2, "checksum_mismatches": 0},
      "timings": {"created_at": "2026-01-01 00:00:00+00", "updated_at": "2026-01-01 00:01:00+00",
                  "finished_at": null, "cutover_pause_ms": null, "cutover_steps_ms": {},
                  "cutover_abandoned_ms": []},
      "error": null})"));

  catalog::MigrationRecord bare;  // the implicit tenant, unreadable JSON, a journal
  bare.plan_json = "not json";
  bare.state_json = "[]";
  bare.error = "boom";
  std::vector<catalog::MigrationJournalEntry> journal = {{1, "queued", "t0", "submitted"}, {2, "failed", "t1", "boom"}};
  Json json = MigrationJson(bare, &journal);
  EXPECT_EQ(json["tenant"], nullptr);
  EXPECT_EQ(json["tables"], Json::array());
  EXPECT_EQ(json["progress"]["eta_s"], nullptr);
  EXPECT_EQ(json["error"], "boom");
  EXPECT_EQ(json["journal"], Json::parse(R"([{"phase": "queued", "at": "t0", "detail": "submitted"},
                                            {"phase": "failed", "at": "t1", "detail": "boom"}])"));
}

}  // namespace
}  // namespace mosaic::admin
