// Tests for common/read_some.h over real socket pairs (Unix and TCP loopback): reads that skip
// the failing recv() must never miss bytes that arrive after a short read, and a readiness wait
// must end when bytes arrive, at once when they are already there, and at end of file.
#include "common/read_some.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace mosaic::net {
namespace {

using namespace std::chrono_literals;

// A connected pair: the reader on `a`, the test writes on `b`.
template <typename Socket>
struct Pair {
  explicit Pair(internal::DrainedIf drained_if = nullptr) : reader(a, drained_if) { Connect(); }

  void Connect() {
    if constexpr (std::is_same_v<Socket, asio::ip::tcp::socket>) {
      asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0));
      a.connect(acceptor.local_endpoint());
      acceptor.accept(b);
      b.set_option(asio::ip::tcp::no_delay(true));
    } else {
      asio::local::connect_pair(a, b);
    }
  }

  // Runs the loop until `done` or 5 s pass; false on the deadline (a missed wake-up).
  bool RunUntil(const bool& done) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    io.restart();
    while (!done && std::chrono::steady_clock::now() < deadline) io.run_for(10ms);
    return done;
  }

  // One ReadSome run to its end: the bytes it returned (its error in *ec); "<hang>" if it never ended.
  std::string ReadOnce(asio::error_code* ec = nullptr) {
    std::string got;
    bool done = false;
    reader.ReadSome(asio::buffer(buf), [&](const asio::error_code& e, size_t n) {
      got.assign(buf.data(), n);
      if (ec != nullptr) *ec = e;
      done = true;
    });
    return RunUntil(done) ? got : "<hang>";
  }

  void Write(const std::string& bytes) { asio::write(b, asio::buffer(bytes)); }

  asio::io_context io;
  Socket a{io};
  Socket b{io};
  Reader<Socket> reader;
  std::vector<char> buf = std::vector<char>(64);
};

template <typename Socket>
class ReaderTest : public ::testing::Test {};
using SocketTypes = ::testing::Types<asio::local::stream_protocol::socket, asio::ip::tcp::socket>;
TYPED_TEST_SUITE(ReaderTest, SocketTypes);

// A short read leaves the socket marked drained; every message written after it (with the loop
// idle in between, so each is a new epoll edge) must still be read, whole, in order.
TYPED_TEST(ReaderTest, BytesArrivingAfterAShortReadAreRead) {
  Pair<TypeParam> p;
  for (int i = 0; i < 50; ++i) {
    const std::string msg = "message " + std::to_string(i) + ";";
    // The read starts on the empty socket (it waits); the loop writes a little later.
    asio::steady_timer later(p.io, 1ms);
    later.async_wait([&](const asio::error_code&) { p.Write(msg); });
    std::string got;
    while (got.size() < msg.size()) {
      const std::string more = p.ReadOnce();
      ASSERT_NE(more, "<hang>") << "read of message " << i << " never woke";
      got += more;
    }
    EXPECT_EQ(got, msg);
  }
}

// More bytes than the buffer holds: full reads, then the short last one, nothing lost.
TYPED_TEST(ReaderTest, LargeWritesAreReadWhole) {
  Pair<TypeParam> p;
  std::string sent;
  for (int i = 0; i < 20000; ++i) sent += static_cast<char>('a' + i % 26);
  bool writing_done = false;
  asio::async_write(p.b, asio::buffer(sent), [&](const asio::error_code& ec, size_t) {
    EXPECT_FALSE(ec);
    writing_done = true;
  });
  std::string got;
  while (got.size() < sent.size()) {
    const std::string more = p.ReadOnce();
    ASSERT_NE(more, "<hang>") << "after " << got.size() << " bytes";
    got += more;
  }
  EXPECT_TRUE(p.RunUntil(writing_done));
  EXPECT_EQ(got, sent);
}

TYPED_TEST(ReaderTest, EndOfFileEndsTheRead) {
  Pair<TypeParam> p;
  p.Write("last");
  p.b.shutdown(asio::socket_base::shutdown_send);
  std::string got;
  asio::error_code ec;
  while (!ec) {
    const std::string more = p.ReadOnce(&ec);
    ASSERT_NE(more, "<hang>");
    got += more;
  }
  EXPECT_EQ(got, "last");
  EXPECT_EQ(ec, asio::error::eof);
}

// The peer's last bytes and its close reach a read that waits in one wake-up (a node's backend
// killed while it sends rows): with `drained_if` rejecting what was read, the next read tries
// recv() and ends at the end of file instead of waiting for an edge that never comes (it did
// with every short read taken as draining).
TYPED_TEST(ReaderTest, EndOfFileThatCameWithBytesIsReadWhenTheyDoNotDrain) {
  Pair<TypeParam> p([](std::string_view read) { return read.ends_with(";"); });
  std::string got;
  bool done = false;
  p.reader.ReadSome(asio::buffer(p.buf), [&](const asio::error_code& e, size_t n) {
    EXPECT_FALSE(e);
    got.assign(p.buf.data(), n);
    done = true;
  });
  p.io.restart();
  p.io.poll();  // the read now waits for epoll
  ASSERT_FALSE(done);
  p.Write("row 1, row 2");
  p.b.shutdown(asio::socket_base::shutdown_send);
  ASSERT_TRUE(p.RunUntil(done));
  EXPECT_EQ(got, "row 1, row 2");
  asio::error_code ec;
  EXPECT_EQ(p.ReadOnce(&ec), "");
  EXPECT_EQ(ec, asio::error::eof);
}

// The wait armed while the socket is known drained (after a short read) ends when bytes come,
// and leaves them for the read that follows.
TYPED_TEST(ReaderTest, WaitAfterAShortReadEndsWhenBytesArrive) {
  Pair<TypeParam> p;
  p.Write("x");
  ASSERT_EQ(p.ReadOnce(), "x");
  bool readable = false;
  p.reader.WaitReadable([&](const asio::error_code& ec) {
    EXPECT_FALSE(ec);
    readable = true;
  });
  p.io.restart();
  p.io.run_for(50ms);
  EXPECT_FALSE(readable) << "nothing was written yet";
  p.Write("yz");
  ASSERT_TRUE(p.RunUntil(readable));
  EXPECT_EQ(p.a.available(), 2u);
  EXPECT_EQ(p.ReadOnce(), "yz");
}

// Bytes already there when the wait starts (no short read since they came): it ends at once.
TYPED_TEST(ReaderTest, WaitEndsAtOnceWhenBytesAreThere) {
  Pair<TypeParam> p;
  p.Write("ready");
  while (p.a.available() < 5) std::this_thread::sleep_for(1ms);
  bool readable = false;
  p.reader.WaitReadable([&](const asio::error_code& ec) {
    EXPECT_FALSE(ec);
    readable = true;
  });
  EXPECT_TRUE(p.RunUntil(readable));
}

TYPED_TEST(ReaderTest, WaitEndsAtEndOfFile) {
  Pair<TypeParam> p;
  p.Write("x");
  ASSERT_EQ(p.ReadOnce(), "x");
  bool readable = false;
  p.reader.WaitReadable([&](const asio::error_code&) { readable = true; });
  p.b.close();
  EXPECT_TRUE(p.RunUntil(readable));
}

}  // namespace
}  // namespace mosaic::net
