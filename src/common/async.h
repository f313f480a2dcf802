// Asio in one place: the headers Mosaic uses; `use_tuple`, the completion token that makes a
// co_await return (error_code, result...) instead of throwing (the data path never throws); and
// `Wakeup`.
#pragma once

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/channel.hpp>

namespace mosaic {
inline constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// A coroutine waits until a handler on its thread may have made its condition true: it loops
// `while (!condition) co_await wakeup.Wait();`, and Notify() resumes a waiting coroutine later
// (posted, never inside Notify). A Notify with no waiter is lost; the loop re-checks. A
// steady_timer used this way (expires at the end of time, cancelled to wake) costs a reactor
// lock per cancel and a timerfd_settime per wait; this costs neither.
class Wakeup {
 public:
  explicit Wakeup(const asio::any_io_executor& executor) : channel_(executor, 0) {}
  auto Wait() { return channel_.async_receive(use_tuple); }
  void Notify() { channel_.try_send(asio::error_code(), true); }

 private:
  // (asio 1.22 cannot instantiate a channel of void(error_code) alone: its traits are ambiguous)
  asio::experimental::channel<void(asio::error_code, bool)> channel_;
};
}  // namespace mosaic
