// AdminServer over cpp-httplib. httplib fixes its routes before listening, so it gets two
// catch-all routes (GET, POST) that look the path up in Mosaic's own route table, guarded by a
// mutex, which can grow while serving. Handlers run without that mutex held; their exceptions
// stop here and become 500 responses.
#include "admin/admin_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "common/log.h"

// Debian's libcpp-httplib.so is built with these options, and they change class layouts
// (httplib::Request, httplib::Client). CMake's pkg-config target defines them for every user.
#if !defined(CPPHTTPLIB_OPENSSL_SUPPORT) || !defined(CPPHTTPLIB_ZLIB_SUPPORT)
#error "compile against CMake's PkgConfig::HTTPLIB target so httplib's layout matches the library"
#endif

namespace mosaic::admin {
namespace {

using Json = nlohmann::json;
using RawHandler = std::function<void(const httplib::Request&, httplib::Response&)>;
using RouteTable = std::map<std::string, std::shared_ptr<const RawHandler>>;

// One method's routes: exact paths, and prefixes (ending in '/') that serve every path under them.
struct Routes {
  RouteTable exact;
  RouteTable prefix;

  // The handler of `path`: its exact route, else the longest prefix with something after it.
  std::shared_ptr<const RawHandler> Find(const std::string& path) const {
    if (auto it = exact.find(path); it != exact.end()) return it->second;
    std::shared_ptr<const RawHandler> found;
    size_t longest = 0;
    for (const auto& [p, handler] : prefix) {
      if (path.size() > p.size() && path.starts_with(p) && p.size() > longest) {
        found = handler;
        longest = p.size();
      }
    }
    return found;
  }
};

constexpr size_t kMaxBodyBytes = 1 << 20;  // admin requests are small
constexpr time_t kKeepAliveSeconds = 2;    // bounds how long Stop() waits for idle clients

void SendJson(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  // Strings from the router (tenant names...) may hold invalid UTF-8; never throw on them.
  res.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json");
}

void SendError(httplib::Response& res, int status, const std::string& message) {
  SendJson(res, status, Json{{"error", message}});
}

std::map<std::string, std::string> QueryParams(const httplib::Request& req) {
  std::map<std::string, std::string> query;
  for (const auto& [name, value] : req.params) query.try_emplace(name, value);
  return query;
}

// Unlike httplib's default (SO_REUSEPORT), a second server on a busy port must fail to bind.
void ReuseAddressOnly(socket_t sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

}  // namespace

struct AdminServer::Impl {
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> listen_returned{false};
  int port = 0;
  std::mutex stop_mu;  // serialises Stop() calls

  std::mutex mu;
  Routes get_routes;   // guarded by mu
  Routes post_routes;  // guarded by mu
  Routes put_routes;   // guarded by mu

  void Configure(AdminHandlers handlers);
  void AddRoute(RouteTable& table, const std::string& path, RawHandler handler);
  // A route whose request body is JSON (POST, PUT).
  void AddBodyRoute(RouteTable& table, const std::string& path, PostHandler handler);
  // A prefix route whose request body is JSON (POST, PUT).
  void AddPrefixBodyRoute(RouteTable& table, const std::string& prefix, PrefixPostHandler handler);
  void Dispatch(Routes& routes, const httplib::Request& req, httplib::Response& res);
};

void AdminServer::Impl::Configure(AdminHandlers handlers) {
  server.set_socket_options(ReuseAddressOnly);
  server.set_payload_max_length(kMaxBodyBytes);
  server.set_keep_alive_timeout(kKeepAliveSeconds);
  server.Get(".*", [this](const auto& req, auto& res) { Dispatch(get_routes, req, res); });
  server.Post(".*", [this](const auto& req, auto& res) { Dispatch(post_routes, req, res); });
  server.Put(".*", [this](const auto& req, auto& res) { Dispatch(put_routes, req, res); });
  // httplib 0.11 answers 400 to a POST or PUT that has neither Content-Length nor
  // Transfer-Encoding (`curl -X POST URL` without -d) before any route runs. Such a request has no
  // body: it is dispatched here with an empty one, as if it said Content-Length: 0.
  server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    const bool post = req.method == "POST", put = req.method == "PUT";
    if ((!post && !put) || req.has_header("Content-Length") || req.has_header("Transfer-Encoding")) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    Dispatch(post ? post_routes : put_routes, req, res);
    return httplib::Server::HandlerResponse::Handled;
  });
  // Errors httplib raises itself (other methods, oversized bodies...) get a JSON body too.
  server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) SendError(res, res.status, "HTTP " + std::to_string(res.status));
  });
  server.set_exception_handler(
      [](const auto&, auto& res, std::exception_ptr) { SendError(res, 500, "internal error"); });
  if (handlers.nodes) {
    AddRoute(get_routes.exact, "/api/v1/nodes",
             [nodes = std::move(handlers.nodes)](const auto&, auto& res) {
               SendJson(res, 200, nodes());
             });
  }
  if (handlers.metrics) {
    AddRoute(get_routes.exact, "/metrics",
             [metrics = std::move(handlers.metrics)](const auto&, auto& res) {
               res.set_content(metrics(), "text/plain; version=0.0.4");
             });
  }
}

void AdminServer::Impl::AddRoute(RouteTable& table, const std::string& path, RawHandler handler) {
  auto shared = std::make_shared<const RawHandler>(std::move(handler));
  std::lock_guard<std::mutex> lock(mu);
  table[path] = std::move(shared);
}

void AdminServer::Impl::Dispatch(Routes& routes, const httplib::Request& req, httplib::Response& res) {
  std::shared_ptr<const RawHandler> handler;
  bool other_method = false;
  {
    std::lock_guard<std::mutex> lock(mu);
    handler = routes.Find(req.path);
    for (const Routes* other : {&get_routes, &post_routes, &put_routes}) {
      if (other != &routes && other->Find(req.path) != nullptr) other_method = true;
    }
  }
  if (!handler) {
    if (other_method) return SendError(res, 405, "method not allowed: " + req.method);
    return SendError(res, 404, "no such path: " + req.path);
  }
  try {
    (*handler)(req, res);
  } catch (const std::exception& e) {
    log::error("admin: {} {} failed: {}", req.method, req.path, e.what());
    SendError(res, 500, e.what());
  } catch (...) {
    log::error("admin: {} {} failed with a non-standard exception", req.method, req.path);
    SendError(res, 500, "unknown error");
  }
}

Result<std::unique_ptr<AdminServer>> AdminServer::Start(const std::string& host, int port,
                                                        AdminHandlers handlers) {
  auto impl = std::make_unique<Impl>();
  impl->Configure(std::move(handlers));
  int bound = port == 0 ? impl->server.bind_to_any_port(host)
                        : (impl->server.bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    return Status::Error(sqlstate::kConnectionException,
                         "admin server cannot listen on " + host + ":" + std::to_string(port));
  }
  impl->port = bound;
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    raw->server.listen_after_bind();
    raw->listen_returned = true;
  });
  // httplib's stop() is a no-op until the accept loop runs; wait for it so Stop() always works.
  while (!raw->server.is_running() && !raw->listen_returned) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!raw->server.is_running()) {
    raw->thread.join();
    return Status::Error(sqlstate::kConnectionException,
                         "admin server on " + host + ":" + std::to_string(bound) + " stopped");
  }
  log::info("admin: serving HTTP on {}:{}", host, bound);
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
}

AdminServer::AdminServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AdminServer::~AdminServer() { Stop(); }

void AdminServer::Stop() {
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int AdminServer::port() const { return impl_->port; }

void AdminServer::Get(const std::string& path, GetHandler handler) {
  impl_->AddRoute(impl_->get_routes.exact, path,
                  [handler = std::move(handler)](const auto& req, auto& res) {
                    auto [status, body] = handler(QueryParams(req));
                    SendJson(res, status, body);
                  });
}

void AdminServer::Post(const std::string& path, PostHandler handler) {
  impl_->AddBodyRoute(impl_->post_routes.exact, path, std::move(handler));
}

void AdminServer::Put(const std::string& path, PostHandler handler) {
  impl_->AddBodyRoute(impl_->put_routes.exact, path, std::move(handler));
}

void AdminServer::GetPrefix(const std::string& prefix, PrefixGetHandler handler) {
  impl_->AddRoute(impl_->get_routes.prefix, prefix,
                  [prefix, handler = std::move(handler)](const auto& req, auto& res) {
                    auto [status, body] = handler(req.path.substr(prefix.size()), QueryParams(req));
                    SendJson(res, status, body);
                  });
}

void AdminServer::PostPrefix(const std::string& prefix, PrefixPostHandler handler) {
  impl_->AddPrefixBodyRoute(impl_->post_routes.prefix, prefix, std::move(handler));
}

namespace {

// Parses the request body (empty = {}) and calls `reply` with it; 400 if it is not JSON.
template <typename Reply>
void WithJsonBody(const httplib::Request& req, httplib::Response& res, Reply&& reply) {
  Json body = req.body.empty() ? Json::object() : Json::parse(req.body, nullptr, false);
  if (body.is_discarded()) return SendError(res, 400, "request body is not valid JSON");
  auto [status, out] = reply(body);
  SendJson(res, status, out);
}

}  // namespace

void AdminServer::Impl::AddBodyRoute(RouteTable& table, const std::string& path, PostHandler handler) {
  AddRoute(table, path, [handler = std::move(handler)](const auto& req, auto& res) {
    WithJsonBody(req, res, handler);
  });
}

void AdminServer::Impl::AddPrefixBodyRoute(RouteTable& table, const std::string& prefix,
                                           PrefixPostHandler handler) {
  AddRoute(table, prefix, [prefix, handler = std::move(handler)](const auto& req, auto& res) {
    WithJsonBody(req, res, [&](const Json& body) { return handler(req.path.substr(prefix.size()), body); });
  });
}

}  // namespace mosaic::admin
