// AdminServer: the HTTP side of the admin plane (JSON API under /api/v1/, Prometheus /metrics).
//
// It runs on its own threads (cpp-httplib's listener and worker pool) and only calls the
// handlers it is given; it must never be on the data path, and handlers must not block on it.
// Handlers read router state through thread-safe accessors or snapshots supplied by the router.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "common/status.h"

namespace mosaic::admin {

// Supplied by the router. Called on the HTTP server's threads, possibly several at once:
// each function must be thread-safe. An unset function leaves its route unserved (404).
struct AdminHandlers {
  std::function<nlohmann::json()> nodes;  // GET /api/v1/nodes -> JSON array
  std::function<std::string()> metrics;   // GET /metrics -> Prometheus text (see metrics.h)
};

// Handler of a JSON GET route: query-string parameters in (first value of a repeated name),
// (HTTP status, JSON body) out.
using GetHandler =
    std::function<std::pair<int, nlohmann::json>(const std::map<std::string, std::string>& query)>;
// Handler of a JSON POST route: the parsed request body in (an empty body arrives as an empty
// object), (HTTP status, JSON body) out.
using PostHandler = std::function<std::pair<int, nlohmann::json>(const nlohmann::json& body)>;
// Handlers of prefix routes: as above, with the rest of the path after the prefix first
// ("12/pause" under "/api/v1/migrations/"; never empty).
using PrefixGetHandler = std::function<std::pair<int, nlohmann::json>(
    const std::string& rest, const std::map<std::string, std::string>& query)>;
using PrefixPostHandler =
    std::function<std::pair<int, nlohmann::json>(const std::string& rest, const nlohmann::json& body)>;

// Serves the admin HTTP API on a background thread.
//
// Routes are exact paths, or prefixes that serve every longer path under them (an exact route
// wins; among prefixes the longest); the query string is not part of the path. Every
// response except /metrics is JSON ("application/json"). Errors are JSON {"error": "..."}:
// 404 for an unknown path, 405 for a known path with the wrong method, 400 for a POST body that
// is not valid JSON, 500 when a handler throws (the exception is caught; the server keeps
// serving). /metrics is served as "text/plain; version=0.0.4".
//
// Thread-safety: all methods may be called from any thread. Handlers run concurrently on the
// server's worker threads; no Mosaic lock is held while a handler runs.
class AdminServer {
 public:
  // Binds host:port (port 0: any free port, see port()) and starts serving on a background
  // thread. Returns 08000 if the address cannot be bound.
  static Result<std::unique_ptr<AdminServer>> Start(const std::string& host, int port,
                                                    AdminHandlers handlers);

  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;
  // Stops and joins, as Stop().
  ~AdminServer();

  // Stops accepting connections and waits for the server threads, including handlers in
  // flight, to finish. Idempotent. REQUIRES: not called from inside a handler.
  void Stop();

  // The port actually bound (useful when started with port 0).
  int port() const;

  // Adds a JSON route, or replaces the handler of an existing route with the same method and
  // path. Takes effect for requests that arrive after the call; safe while serving.
  void Get(const std::string& path, GetHandler handler);
  void Post(const std::string& path, PostHandler handler);
  // A JSON PUT route: as Post.
  void Put(const std::string& path, PostHandler handler);
  // Prefix routes: `prefix` (ending in '/', e.g. "/api/v1/migrations/") serves every path that
  // starts with it and is longer; the handler gets the rest. Added or replaced as above.
  void GetPrefix(const std::string& prefix, PrefixGetHandler handler);
  void PostPrefix(const std::string& prefix, PrefixPostHandler handler);

 private:
  struct Impl;
  explicit AdminServer(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace mosaic::admin
