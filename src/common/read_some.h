// ReadSome: a socket's async_read_some without the read that fails.
//
// Asio 1.22's reactor starts every read with a speculative recv(). On the data path almost every
// read comes right after the previous one drained the socket (a statement forwarded, its reply
// awaited), so that recv() fails with EAGAIN and only then does the read wait for epoll: one
// wasted syscall per wait, two per proxied statement (the client's socket and the node's), about
// 2 µs each on the benchmark VM (docs/benchmarks.md, "Reads that fail").
//
// A read here reports a short read (fewer bytes than the buffer holds, so the socket's queue was
// empty: Linux's TCP and Unix stream receive paths copy until the buffer is full or the queue is
// empty) to the reactor as "exhausted". The reactor then skips the speculative recv() until
// epoll reports the socket readable again; the socket is registered edge-triggered, and every
// byte that arrives after the short read is a new edge, so no data can be missed.
// An end of file can be: when the peer's last bytes and its close both came before the short
// read that took those bytes (one wake-up, likely on a loaded machine), no edge is left for the
// end of file, and the next read waits until something else wakes the socket (a write to it
// that fails, a shutdown of Mosaic's own end). So a reader must not wait for an end of file
// that follows bytes: ServerConn ends at the node's FATAL, and counts a short read as draining
// only when it ends with a ReadyForQuery (`drained_if`; a backend killed while it sends rows
// closes after bytes that do not: the next read tries recv() and finds the end of file);
// Session::Fatal shuts its client socket down. Telling a pending end of file from an empty
// queue after every short read would cost the syscall saved here.
//
// Waiting costs no epoll_ctl either: asio re-arms a socket only for writes and for waits it does
// not try speculatively (async_wait).
//
// WaitReadable is async_wait(wait_read) on the same terms: armed while the socket is known
// drained it costs no syscall (asio's async_wait re-arms the socket with epoll_ctl every time).
//
// This reaches into asio's reactor (detail::epoll_reactor and its reactor_op protocol) as Debian
// 12 ships it (asio 1.22.1). With any other asio version or reactor, ReadSome and WaitReadable
// are asio's own async_read_some and async_wait.
#pragma once

#include <cerrno>
#include <cstddef>
#include <string_view>
#include <sys/socket.h>
#include <sys/types.h>

#include "common/async.h"

#if ASIO_VERSION == 102201 && defined(ASIO_HAS_EPOLL) && !defined(ASIO_HAS_IO_URING_AS_DEFAULT)
#define MOSAIC_EXHAUSTING_READ 1
#else
#define MOSAIC_EXHAUSTING_READ 0
#endif

namespace mosaic::net {

namespace internal {
// See Reader::Reader.
using DrainedIf = bool (*)(std::string_view read);
}  // namespace internal

#if MOSAIC_EXHAUSTING_READ
namespace internal {

// The socket's reactor-level state (descriptor, non-blocking flags, reactor registration), which
// basic_socket keeps protected. A pointer to the member taken through a derived class is the
// standard way to read it without pretending an object is of a type it is not.
template <typename Socket>
struct SocketAccess : Socket {
  static auto& Implementation(Socket& s) { return (s.*(&SocketAccess::impl_)).get_implementation(); }
};

// True while Reader::Start hands an operation to the reactor, which may perform it at once.
inline thread_local bool in_start_op = false;

// kRead: one recv() per perform; a short read tells the reactor the socket is drained.
// kWait: readiness, the event that wakes a read, without reading. Started while the socket is
// known drained it costs no syscall (asio's own async_wait re-arms the socket with epoll_ctl);
// started otherwise it peeks once.
enum class OpKind { kRead, kWait };

template <OpKind kKind, typename Handler, typename IoExecutor>
class SocketOp : public asio::detail::reactor_op {
 public:
  ASIO_DEFINE_HANDLER_PTR(SocketOp);

  SocketOp(int fd, asio::mutable_buffer buffer, Handler& handler, const IoExecutor& io_ex, DrainedIf drained_if)
      : reactor_op(asio::error_code(), &SocketOp::Perform, &SocketOp::Complete),
        fd_(fd),
        buffer_(buffer),
        handler_(std::move(handler)),
        work_(handler_, io_ex),
        drained_if_(drained_if) {}

  // From start_op (in_start_op), or when epoll reported the socket readable, closed or failed.
  static status Perform(reactor_op* base) {
    auto* o = static_cast<SocketOp*>(base);
    if (kKind == OpKind::kWait && !in_start_op) return done;
    char byte;
    for (;;) {
      const ssize_t n = kKind == OpKind::kRead ? ::recv(o->fd_, o->buffer_.data(), o->buffer_.size(), 0)
                                               : ::recv(o->fd_, &byte, 1, MSG_PEEK);
      if (n >= 0 && kKind == OpKind::kWait) return done;  // a byte, or end of file
      if (n > 0) {
        o->bytes_transferred_ = static_cast<size_t>(n);
        const std::string_view read(static_cast<const char*>(o->buffer_.data()), o->bytes_transferred_);
        const bool drained =
            read.size() < o->buffer_.size() && (o->drained_if_ == nullptr || o->drained_if_(read));
        return drained ? done_and_exhausted : done;
      }
      if (n == 0) {
        o->ec_ = asio::error::eof;
        return done_and_exhausted;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;
      o->ec_ = asio::error_code(errno, asio::error::get_system_category());
      return done;
    }
  }

  // owner is null when the reactor is destroyed with the operation queued: free it, call nothing.
  static void Complete(void* owner, asio::detail::operation* base, const asio::error_code&, size_t) {
    auto* o = static_cast<SocketOp*>(base);
    ptr p = {asio::detail::addressof(o->handler_), o, o};
    asio::detail::handler_work<Handler, IoExecutor> work(std::move(o->work_));
    // The handler may own the memory the operation lives in: move it out before freeing that.
    auto call = [o] {
      if constexpr (kKind == OpKind::kRead) {
        return asio::detail::binder2<Handler, asio::error_code, size_t>(o->handler_, o->ec_, o->bytes_transferred_);
      } else {
        return asio::detail::binder1<Handler, asio::error_code>(o->handler_, o->ec_);
      }
    }();
    p.h = asio::detail::addressof(call.handler_);
    p.reset();
    if (owner) {
      asio::detail::fenced_block fence(asio::detail::fenced_block::half);
      work.complete(call, call.handler_);
    }
  }

 private:
  int fd_;
  asio::mutable_buffer buffer_;
  Handler handler_;
  asio::detail::handler_work<Handler, IoExecutor> work_;
  DrainedIf drained_if_;
};

}  // namespace internal

// Reads on one socket. Holds the socket's reactor, looked up once (use_service takes a lock).
template <typename Socket>
class Reader {
 public:
  // With `drained_if`, a short read counts as draining the socket only when what it read passes
  // it (e.g. ends a reply); after any other the next read tries recv() first, as asio's own does,
  // so an end of file that came with those bytes is read.
  explicit Reader(Socket& socket, internal::DrainedIf drained_if = nullptr)
      : socket_(socket),
        reactor_(asio::use_service<asio::detail::reactor>(
            asio::query(socket.get_executor(), asio::execution::context))),
        drained_if_(drained_if) {}

  // As socket.async_read_some(buffer, token); buffer must not be empty. One read at a time.
  template <typename Token>
  auto ReadSome(asio::mutable_buffer buffer, Token&& token) {
    return asio::async_initiate<Token, void(asio::error_code, size_t)>(
        [this, buffer](auto handler) {
          using Handler = std::decay_t<decltype(handler)>;
          Start<internal::SocketOp<internal::OpKind::kRead, Handler, typename Socket::executor_type>>(handler, buffer);
        },
        token);
  }

  // As socket.async_wait(wait_read, token): ends when the socket is readable, at end of file or
  // on an error, without reading.
  template <typename Token>
  auto WaitReadable(Token&& token) {
    return asio::async_initiate<Token, void(asio::error_code)>(
        [this](auto handler) {
          using Handler = std::decay_t<decltype(handler)>;
          Start<internal::SocketOp<internal::OpKind::kWait, Handler, typename Socket::executor_type>>(
              handler, asio::mutable_buffer());
        },
        token);
  }

 private:
  // Hands the operation to the reactor, which tries it at once unless the socket is known drained.
  template <typename Op, typename Handler>
  void Start(Handler& handler, asio::mutable_buffer buffer) {
    auto& impl = internal::SocketAccess<Socket>::Implementation(socket_);
    const bool is_continuation = asio_handler_cont_helpers::is_continuation(handler);
    typename Op::ptr p = {asio::detail::addressof(handler), Op::ptr::allocate(handler), nullptr};
    p.p = new (p.v) Op(impl.socket_, buffer, handler, socket_.get_executor(), drained_if_);
    if ((impl.state_ & asio::detail::socket_ops::non_blocking) == 0 &&
        !asio::detail::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true, p.p->ec_)) {
      reactor_.post_immediate_completion(p.p, is_continuation);
    } else {
      internal::in_start_op = true;
      reactor_.start_op(asio::detail::reactor::read_op, impl.socket_, impl.reactor_data_, p.p, is_continuation,
                        /*allow_speculative=*/true);
      internal::in_start_op = false;
    }
    p.v = p.p = nullptr;
  }

  Socket& socket_;
  asio::detail::reactor& reactor_;
  internal::DrainedIf drained_if_;
};

#else

template <typename Socket>
class Reader {
 public:
  explicit Reader(Socket& socket, internal::DrainedIf = nullptr) : socket_(socket) {}
  template <typename Token>
  auto ReadSome(asio::mutable_buffer buffer, Token&& token) {
    return socket_.async_read_some(buffer, std::forward<Token>(token));
  }
  template <typename Token>
  auto WaitReadable(Token&& token) {
    return socket_.async_wait(asio::socket_base::wait_read, std::forward<Token>(token));
  }

 private:
  Socket& socket_;
};

#endif

}  // namespace mosaic::net
