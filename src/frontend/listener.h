// Listener: accepts client connections on --listen and hands each to a worker, round robin.
// The accept loop runs on worker 0's event loop; a session then lives on its own worker.
#pragma once

#include <memory>
#include <vector>

#include "common/async.h"
#include "common/config.h"
#include "common/status.h"
#include "frontend/worker.h"

namespace mosaic::frontend {

class Listener {
 public:
  // Binds `address`. Fails (08000) if it cannot. REQUIRES: workers non-empty and outliving this.
  static Result<std::unique_ptr<Listener>> Bind(const HostPort& address,
                                                std::vector<std::unique_ptr<Worker>>& workers);
  // Starts accepting (on worker 0). Thread-safe to call once.
  void Start();
  // Stops accepting; open sessions stay until their workers stop.
  void Stop();
  int port() const { return port_; }

 private:
  Listener(std::vector<std::unique_ptr<Worker>>& workers, asio::ip::tcp::acceptor acceptor);
  asio::awaitable<void> AcceptLoop();

  std::vector<std::unique_ptr<Worker>>& workers_;
  asio::ip::tcp::acceptor acceptor_;
  int port_ = 0;
  size_t next_ = 0;
};

}  // namespace mosaic::frontend
