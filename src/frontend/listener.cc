#include "frontend/listener.h"

#include <fmt/format.h>

#include "common/log.h"
#include "frontend/session.h"

namespace mosaic::frontend {

Result<std::unique_ptr<Listener>> Listener::Bind(const HostPort& address,
                                                 std::vector<std::unique_ptr<Worker>>& workers) {
  asio::error_code ec;
  auto ip = asio::ip::make_address(address.host == "localhost" ? "127.0.0.1" : address.host, ec);
  if (ec) {
    return Status::Error(sqlstate::kConnectionException,
                         fmt::format("cannot listen on {}: not an IP address", address.host));
  }
  asio::ip::tcp::endpoint endpoint(ip, static_cast<uint16_t>(address.port));
  asio::ip::tcp::acceptor acceptor(workers.front()->io());
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) {
    auto listener = std::unique_ptr<Listener>(new Listener(workers, std::move(acceptor)));
    listener->port_ = listener->acceptor_.local_endpoint().port();
    return listener;
  }
  return Status::Error(sqlstate::kConnectionException,
                       fmt::format("cannot listen on {}:{}: {}", address.host, address.port, ec.message()));
}

Listener::Listener(std::vector<std::unique_ptr<Worker>>& workers, asio::ip::tcp::acceptor acceptor)
    : workers_(workers), acceptor_(std::move(acceptor)) {}

void Listener::Start() {
  asio::co_spawn(workers_.front()->io(), AcceptLoop(), asio::detached);
}

void Listener::Stop() {
  asio::post(workers_.front()->io(), [this] {
    asio::error_code ignored;
    acceptor_.close(ignored);
  });
}

asio::awaitable<void> Listener::AcceptLoop() {
  while (acceptor_.is_open()) {
    Worker& worker = *workers_[next_++ % workers_.size()];
    auto [ec, socket] = co_await acceptor_.async_accept(worker.io(), use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      log::warn("accept failed: {}", ec.message());
      continue;  // e.g. EMFILE: keep serving the clients we have
    }
    asio::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    auto session = std::make_shared<Session>(worker, std::move(socket));
    asio::co_spawn(worker.io(), [session]() -> asio::awaitable<void> { co_await session->Run(); },
                   asio::detached);
  }
}

}  // namespace mosaic::frontend
