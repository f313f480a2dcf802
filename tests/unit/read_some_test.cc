// Tests for common/read_some.h over real socket pairs (Unix and TCP loopback): reads that skip
// the failing recv() must never miss bytes that arrive after a short read, and a readiness wait
// must end when bytes arrive, at once when they are already there, and at end of file.
#include "common/read_some.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace mosaic::net {
namespace {

using namespace std::chrono_literals;

template <typename Socket>
struct Pair {
  asio::io_context io;
  Socket a{io};
  Socket b{io};
};

void Connect(Pair<asio::local::stream_protocol::socket>& p) { asio::local::connect_pair(p.a, p.b); }

void Connect(Pair<asio::ip::tcp::socket>& p) {
  asio::ip::tcp::acceptor acceptor(p.io, asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  p.a.connect(acceptor.local_endpoint());
  acceptor.accept(p.b);
  p.b.set_option(asio::ip::tcp::no_delay(true));
}

// Runs the loop until `done` or 5 s pass; false on the deadline (a missed wake-up).
template <typename Socket>
bool RunUntil(Pair<Socket>& p, const bool& done) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  p.io.restart();
  while (!done && std::chrono::steady_clock::now() < deadline) p.io.run_for(10ms);
  return done;
}

template <typename Socket>
class ReaderTest : public ::testing::Test {};
using SocketTypes = ::testing::Types<asio::local::stream_protocol::socket, asio::ip::tcp::socket>;
TYPED_TEST_SUITE(ReaderTest, SocketTypes);

// A short read leaves the socket marked drained; every message written after it (with the loop
// idle in between, so each is a new epoll edge) must still be read, whole, in order.
TYPED_TEST(ReaderTest, BytesArrivingAfterAShortReadAreRead) {
  Pair<TypeParam> p;
  Connect(p);
  Reader<TypeParam> reader(p.a);
  std::string got;
  std::vector<char> buf(64);
  for (int i = 0; i < 50; ++i) {
    const std::string msg = "message " + std::to_string(i) + ";";
    got.clear();
    // The read starts on the empty socket (it waits); the loop writes a little later.
    asio::steady_timer later(p.io, 1ms);
    later.async_wait([&](const asio::error_code&) { asio::write(p.b, asio::buffer(msg)); });
    while (got.size() < msg.size()) {
      bool done = false;
      reader.ReadSome(asio::buffer(buf), [&](const asio::error_code& ec, size_t n) {
        EXPECT_FALSE(ec) << ec.message();
        got.append(buf.data(), n);
        done = true;
      });
      ASSERT_TRUE(RunUntil(p, done)) << "read of message " << i << " never woke";
    }
    EXPECT_EQ(got, msg);
  }
}

// More bytes than the buffer holds: full reads, then the short last one, nothing lost.
TYPED_TEST(ReaderTest, LargeWritesAreReadWhole) {
  Pair<TypeParam> p;
  Connect(p);
  Reader<TypeParam> reader(p.a);
  std::string sent;
  for (int i = 0; i < 20000; ++i) sent += static_cast<char>('a' + i % 26);
  std::string got;
  std::vector<char> buf(1000);
  bool writing_done = false;
  asio::async_write(p.b, asio::buffer(sent), [&](const asio::error_code& ec, size_t) {
    ASSERT_FALSE(ec);
    writing_done = true;
  });
  std::function<void()> next = [&] {
    reader.ReadSome(asio::buffer(buf), [&](const asio::error_code& ec, size_t n) {
      ASSERT_FALSE(ec);
      got.append(buf.data(), n);
      if (got.size() < sent.size()) next();
    });
  };
  next();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (got.size() < sent.size() && std::chrono::steady_clock::now() < deadline) p.io.run_for(10ms);
  EXPECT_TRUE(writing_done);
  EXPECT_EQ(got, sent);
}

TYPED_TEST(ReaderTest, EndOfFileEndsTheRead) {
  Pair<TypeParam> p;
  Connect(p);
  Reader<TypeParam> reader(p.a);
  std::vector<char> buf(64);
  asio::write(p.b, asio::buffer(std::string("last")));
  p.b.shutdown(asio::socket_base::shutdown_send);
  std::string got;
  asio::error_code end;
  bool done = false;
  std::function<void()> next = [&] {
    reader.ReadSome(asio::buffer(buf), [&](const asio::error_code& ec, size_t n) {
      got.append(buf.data(), n);
      if (ec) {
        end = ec;
        done = true;
      } else {
        next();
      }
    });
  };
  next();
  ASSERT_TRUE(RunUntil(p, done));
  EXPECT_EQ(got, "last");
  EXPECT_EQ(end, asio::error::eof);
}

// The wait armed while the socket is known drained (after a short read) ends when bytes come,
// and leaves them for the read that follows.
TYPED_TEST(ReaderTest, WaitAfterAShortReadEndsWhenBytesArrive) {
  Pair<TypeParam> p;
  Connect(p);
  Reader<TypeParam> reader(p.a);
  std::vector<char> buf(64);
  asio::write(p.b, asio::buffer(std::string("x")));
  bool done = false;
  reader.ReadSome(asio::buffer(buf), [&](const asio::error_code& ec, size_t n) {
    EXPECT_FALSE(ec);
    EXPECT_EQ(n, 1u);
    done = true;
  });
  ASSERT_TRUE(RunUntil(p, done));
  bool readable = false;
  reader.WaitReadable([&](const asio::error_code& ec) {
    EXPECT_FALSE(ec);
    readable = true;
  });
  p.io.restart();
  p.io.run_for(50ms);
  EXPECT_FALSE(readable) << "nothing was written yet";
  asio::write(p.b, asio::buffer(std::string("yz")));
  ASSERT_TRUE(RunUntil(p, readable));
  EXPECT_EQ(p.a.available(), 2u);
  done = false;
  reader.ReadSome(asio::buffer(buf), [&](const asio::error_code& ec, size_t n) {
    EXPECT_FALSE(ec);
    EXPECT_EQ(std::string(buf.data(), n), "yz");
    done = true;
  });
  EXPECT_TRUE(RunUntil(p, done));
}

// Bytes already there when the wait starts (no short read since they came): it ends at once.
TYPED_TEST(ReaderTest, WaitEndsAtOnceWhenBytesAreThere) {
  Pair<TypeParam> p;
  Connect(p);
  Reader<TypeParam> reader(p.a);
  asio::write(p.b, asio::buffer(std::string("ready")));
  while (p.a.available() < 5) std::this_thread::sleep_for(1ms);
  bool readable = false;
  reader.WaitReadable([&](const asio::error_code& ec) {
    EXPECT_FALSE(ec);
    readable = true;
  });
  EXPECT_TRUE(RunUntil(p, readable));
}

TYPED_TEST(ReaderTest, WaitEndsAtEndOfFile) {
  Pair<TypeParam> p;
  Connect(p);
  Reader<TypeParam> reader(p.a);
  std::vector<char> buf(64);
  asio::write(p.b, asio::buffer(std::string("x")));
  bool done = false;
  reader.ReadSome(asio::buffer(buf), [&](const asio::error_code&, size_t) { done = true; });
  ASSERT_TRUE(RunUntil(p, done));
  bool readable = false;
  reader.WaitReadable([&](const asio::error_code&) { readable = true; });
  p.b.close();
  EXPECT_TRUE(RunUntil(p, readable));
}

}  // namespace
}  // namespace mosaic::net
