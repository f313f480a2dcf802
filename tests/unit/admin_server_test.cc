// Tests for admin/admin_server.h: a real server on a free loopback port, queried with
// httplib::Client.
#include "admin/admin_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <thread>

namespace mosaic::admin {
namespace {

using Json = nlohmann::json;

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AdminHandlers handlers;
    handlers.nodes = [] { return Json::array({{{"id", 1}, {"tier", "hot"}}}); };
    handlers.metrics = [] { return std::string("# TYPE up gauge\nup 1\n"); };
    Result<std::unique_ptr<AdminServer>> started = AdminServer::Start("127.0.0.1", 0, handlers);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    server_ = std::move(started).value();
    ASSERT_GT(server_->port(), 0);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_connection_timeout(2);
    client_->set_read_timeout(5);
  }

  // Body of a JSON error response, checked to be one.
  static std::string ErrorOf(const httplib::Result& res) {
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
    Json body = Json::parse(res->body, nullptr, false);
    EXPECT_TRUE(body.is_object() && body.contains("error")) << res->body;
    return body.value("error", "");
  }

  std::unique_ptr<AdminServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(AdminServerTest, ServesNodesAsJson) {
  httplib::Result res = client_->Get("/api/v1/nodes");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(Json::parse(res->body), Json::parse(R"([{"id": 1, "tier": "hot"}])"));
}

TEST_F(AdminServerTest, ServesMetricsAsPrometheusText) {
  httplib::Result res = client_->Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4");
  EXPECT_EQ(res->body, "# TYPE up gauge\nup 1\n");
}

TEST_F(AdminServerTest, UnknownPathIs404Json) {
  httplib::Result res = client_->Get("/api/v1/nope");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_NE(ErrorOf(res).find("/api/v1/nope"), std::string::npos);
}

TEST_F(AdminServerTest, OtherErrorsAreJsonToo) {
  httplib::Result wrong_method = client_->Post("/api/v1/nodes", "{}", "application/json");
  ASSERT_TRUE(wrong_method);
  EXPECT_EQ(wrong_method->status, 405);
  ErrorOf(wrong_method);

  httplib::Result unsupported = client_->Delete("/api/v1/nodes");
  ASSERT_TRUE(unsupported);
  EXPECT_GE(unsupported->status, 400);
  ErrorOf(unsupported);
}

TEST_F(AdminServerTest, RoutesAddedAfterStartAreServed) {
  server_->Get("/api/v1/echo", [](const std::map<std::string, std::string>& query) {
    return std::pair<int, Json>(200, Json(query));
  });
  server_->Post("/api/v1/echo", [](const Json& body) {
    return std::pair<int, Json>(201, Json{{"got", body}});
  });
  httplib::Result get = client_->Get("/api/v1/echo?tenant=acme&tenant=other&n=1");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(Json::parse(get->body), Json::parse(R"({"tenant": "acme", "n": "1"})"));

  httplib::Result post = client_->Post("/api/v1/echo", R"({"a": [1, 2]})", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 201);
  EXPECT_EQ(Json::parse(post->body), Json::parse(R"({"got": {"a": [1, 2]}})"));

  httplib::Result empty = client_->Post("/api/v1/echo", "", "application/json");
  ASSERT_TRUE(empty);
  EXPECT_EQ(Json::parse(empty->body), Json::parse(R"({"got": {}})"));
}

TEST_F(AdminServerTest, PrefixRoutesServeThePathsUnderThem) {
  server_->GetPrefix("/api/v1/things/", [](const std::string& rest, const std::map<std::string, std::string>& query) {
    return std::pair<int, Json>(200, Json{{"rest", rest}, {"query", query}});
  });
  server_->GetPrefix("/api/v1/things/special/", [](const std::string& rest, const auto&) {
    return std::pair<int, Json>(200, Json{{"special", rest}});
  });
  server_->Get("/api/v1/things/exact", [](const auto&) { return std::pair<int, Json>(200, Json("exact")); });
  server_->PostPrefix("/api/v1/things/", [](const std::string& rest, const Json& body) {
    return std::pair<int, Json>(202, Json{{"rest", rest}, {"body", body}});
  });
  auto get = [&](const std::string& path) {
    httplib::Result res = client_->Get(path);
    EXPECT_TRUE(res);
    return res ? std::pair<int, Json>(res->status, Json::parse(res->body, nullptr, false)) : std::pair<int, Json>();
  };
  EXPECT_EQ(get("/api/v1/things/12?x=1"), (std::pair<int, Json>(200, Json::parse(R"({"rest": "12", "query": {"x": "1"}})"))));
  EXPECT_EQ(get("/api/v1/things/12/sub").second["rest"], "12/sub");
  EXPECT_EQ(get("/api/v1/things/special/7").second, Json::parse(R"({"special": "7"})"));  // the longest prefix
  EXPECT_EQ(get("/api/v1/things/exact").second, "exact");                              // an exact route first
  EXPECT_EQ(get("/api/v1/things/").first, 404);  // a prefix serves longer paths only
  EXPECT_EQ(get("/api/v1/things").first, 404);

  httplib::Result post = client_->Post("/api/v1/things/3/go", R"({"n": 1})", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 202);
  EXPECT_EQ(Json::parse(post->body), Json::parse(R"({"rest": "3/go", "body": {"n": 1}})"));
  httplib::Result bad = client_->Post("/api/v1/things/3/go", "{", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  httplib::Result put = client_->Put("/api/v1/things/3", "{}", "application/json");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 405);  // served under another method
}

TEST_F(AdminServerTest, MalformedPostBodyIs400) {
  bool called = false;
  server_->Post("/api/v1/migrations", [&called](const Json&) {
    called = true;
    return std::pair<int, Json>(200, Json::object());
  });
  httplib::Result res = client_->Post("/api/v1/migrations", "{\"tenant\": ", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  ErrorOf(res);
  EXPECT_FALSE(called);
}

// Sends `request` as it is on a new connection to the loopback `port`; the whole reply (the
// request should say Connection: close), or "" if the connection fails.
std::string RawExchange(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string reply;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
    char buf[4096];
    for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) reply.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return reply;
}

// `curl -X POST URL` (no -d) sends neither Content-Length nor Transfer-Encoding; httplib alone
// answered such a request 400 before any route ran.
TEST_F(AdminServerTest, PostAndPutWithoutBodyOrLengthAreServedWithAnEmptyBody) {
  Json seen;
  int calls = 0;
  auto handler = [&](const Json& body) {
    seen = body;
    ++calls;
    return std::pair<int, Json>(200, Json{{"ok", true}});
  };
  server_->Post("/api/v1/rebalancer/run", handler);
  server_->Put("/api/v1/profiles", handler);
  for (const char* method : {"POST", "PUT"}) {
    const std::string path = std::string(method) == "POST" ? "/api/v1/rebalancer/run" : "/api/v1/profiles";
    const std::string reply = RawExchange(
        server_->port(), std::string(method) + " " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(reply.starts_with("HTTP/1.1 200")) << method << ": " << reply;
    EXPECT_NE(reply.find("{\"ok\":true}"), std::string::npos) << reply;
    EXPECT_EQ(seen, Json::object()) << method;
  }
  EXPECT_EQ(calls, 2);
  // Still routed as usual: an unknown path is 404, a GET-only path 405.
  std::string reply = RawExchange(server_->port(), "POST /api/v1/nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 404")) << reply;
  reply = RawExchange(server_->port(), "POST /api/v1/nodes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 405")) << reply;
}

TEST_F(AdminServerTest, ThrowingHandlerIs500AndServerSurvives) {
  server_->Get("/api/v1/boom",
               [](const std::map<std::string, std::string>&) -> std::pair<int, Json> {
                 throw std::runtime_error("kaboom");
               });
  server_->Post("/api/v1/boom", [](const Json& body) -> std::pair<int, Json> {
    return {200, Json{{"n", body.at("missing").get<int>()}}};  // throws json::out_of_range
  });
  httplib::Result res = client_->Get("/api/v1/boom");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(ErrorOf(res), "kaboom");
  httplib::Result post = client_->Post("/api/v1/boom", "{}", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 500);
  ErrorOf(post);

  httplib::Result after = client_->Get("/api/v1/nodes");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
}

TEST_F(AdminServerTest, InvalidUtf8InHandlerOutputDoesNotFail) {
  server_->Get("/api/v1/tenants", [](const std::map<std::string, std::string>&) {
    return std::pair<int, Json>(200, Json::array({std::string("bad\xff")}));
  });
  httplib::Result res = client_->Get("/api/v1/tenants");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(Json::parse(res->body, nullptr, false).is_array());
}

TEST_F(AdminServerTest, RegistersRoutesWhileServing) {
  std::atomic<bool> done{false};
  std::thread registrar([&] {
    for (int i = 0; i < 200; ++i) {
      server_->Get("/api/v1/r" + std::to_string(i), [i](const std::map<std::string, std::string>&) {
        return std::pair<int, Json>(200, Json(i));
      });
    }
    done = true;
  });
  int served = 0;
  while (!done || served == 0) {
    httplib::Result res = client_->Get("/api/v1/nodes");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    ++served;
  }
  registrar.join();
  httplib::Result last = client_->Get("/api/v1/r199");
  ASSERT_TRUE(last);
  EXPECT_EQ(last->body, "199");
}

TEST_F(AdminServerTest, SecondServerOnSamePortFailsToStart) {
  Result<std::unique_ptr<AdminServer>> second =
      AdminServer::Start("127.0.0.1", server_->port(), AdminHandlers{});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().sqlstate(), "08000");
}

TEST_F(AdminServerTest, StopIsIdempotentAndClosesThePort) {
  server_->Stop();
  server_->Stop();
  httplib::Result res = client_->Get("/api/v1/nodes");
  EXPECT_FALSE(res);
  server_.reset();  // the destructor stops again
}

TEST(AdminServerStartTest, UnsetHandlersAre404) {
  Result<std::unique_ptr<AdminServer>> started =
      AdminServer::Start("127.0.0.1", 0, AdminHandlers{});
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  httplib::Client client("127.0.0.1", started.value()->port());
  httplib::Result res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

TEST(AdminServerStartTest, UnbindableAddressFails) {
  // 192.0.2.1 (TEST-NET-1) is not an address of this machine.
  Result<std::unique_ptr<AdminServer>> started =
      AdminServer::Start("192.0.2.1", 0, AdminHandlers{});
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.status().sqlstate(), "08000");
}

}  // namespace
}  // namespace mosaic::admin
