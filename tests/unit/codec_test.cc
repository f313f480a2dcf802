// Unit tests for the PostgreSQL v3 protocol codec (src/protocol/codec.{h,cc}): the Framer, the
// typed Parse* functions, and the MessageWriter / Write* encoder.
//
// Expected byte strings are built independently of MessageWriter (see Typed/Untyped/BE32 below)
// wherever the test is about the encoder itself; parser round trips use the encoder. Malformed
// inputs are copied into exactly-sized heap buffers (ExactBuf) so that AddressSanitizer catches any
// read past the end of a message.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "protocol/codec.h"
#include "protocol/message.h"
#include "protocol/reader.h"

namespace mosaic::protocol {
namespace {

using namespace std::literals;  // NOLINT

constexpr uint32_t kMaxLen = 1u << 20;

// ---- Byte-building helpers, independent of MessageWriter ----

std::string BE32(uint32_t v) {
  std::string s(4, '\0');
  s[0] = static_cast<char>((v >> 24) & 0xff);
  s[1] = static_cast<char>((v >> 16) & 0xff);
  s[2] = static_cast<char>((v >> 8) & 0xff);
  s[3] = static_cast<char>(v & 0xff);
  return s;
}
std::string BE16(uint16_t v) {
  std::string s(2, '\0');
  s[0] = static_cast<char>((v >> 8) & 0xff);
  s[1] = static_cast<char>(v & 0xff);
  return s;
}
std::string CStr(std::string_view s) {
  std::string r(s);
  r.push_back('\0');
  return r;
}
// A regular (typed) message: type byte, length word (counting itself), body.
std::string Typed(char type, std::string_view body) {
  return std::string(1, type) + BE32(static_cast<uint32_t>(body.size() + 4)) + std::string(body);
}
// A startup-phase (untyped) packet.
std::string Untyped(std::string_view body) {
  return BE32(static_cast<uint32_t>(body.size() + 4)) + std::string(body);
}

// A copy of some bytes in a heap allocation of exactly that size, so ASan flags overreads
// (std::string's SSO / spare capacity would hide them).
class ExactBuf {
 public:
  explicit ExactBuf(std::string_view s) : p_(new char[s.size()]), n_(s.size()) {
    if (n_ != 0) std::memcpy(p_.get(), s.data(), n_);
  }
  std::string_view view() const { return {p_.get(), n_}; }

 private:
  std::unique_ptr<char[]> p_;
  size_t n_;
};

// True when `part` lies inside `whole` (an empty view is always fine).
bool Within(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;
  auto p = reinterpret_cast<uintptr_t>(part.data());
  auto w = reinterpret_cast<uintptr_t>(whole.data());
  return p >= w && p + part.size() <= w + whole.size();
}

::testing::AssertionResult HasSqlstate(const Status& s, std::string_view code) {
  if (s.ok()) return ::testing::AssertionFailure() << "expected SQLSTATE " << code << ", got OK";
  if (s.sqlstate() != code) {
    return ::testing::AssertionFailure() << "expected SQLSTATE " << code << ", got " << s.ToString();
  }
  if (s.message().empty()) return ::testing::AssertionFailure() << "error has an empty message";
  return ::testing::AssertionSuccess();
}
::testing::AssertionResult IsProtocolViolation(const Status& s) {
  return HasSqlstate(s, sqlstate::kProtocolViolation);
}

// Parses `body` (copied to an exact buffer) with `parse`.
using BodyParser = std::function<Status(std::string_view)>;
Status ParseExact(const BodyParser& parse, std::string_view body) {
  ExactBuf buf(body);
  return parse(buf.view());
}

// Every strict prefix of `body` must be rejected with 08P01.
void ExpectEveryPrefixRejected(const BodyParser& parse, std::string_view body) {
  for (size_t n = 0; n < body.size(); ++n) {
    EXPECT_TRUE(IsProtocolViolation(ParseExact(parse, body.substr(0, n)))) << "prefix length " << n;
  }
}

// Typed wrappers so tests can treat every parser uniformly.
Status DoQuery(std::string_view b) { QueryMessage m; return ParseQuery(b, &m); }
Status DoParse(std::string_view b) { ParseMessage m; return ParseParse(b, &m); }
Status DoBindHeader(std::string_view b) { BindHeader m; return ParseBindHeader(b, &m); }
Status DoBind(std::string_view b) { BindMessage m; return ParseBind(b, &m); }
Status DoDescribe(std::string_view b) { DescribeMessage m; return ParseDescribe(b, &m); }
Status DoClose(std::string_view b) { CloseMessage m; return ParseClose(b, &m); }
Status DoExecute(std::string_view b) { ExecuteMessage m; return ParseExecute(b, &m); }
Status DoErrorFields(std::string_view b) { ErrorFields m; return ParseErrorFields(b, &m); }
Status DoReadyForQuery(std::string_view b) { char c = 0; return ParseReadyForQuery(b, &c); }
Status DoParameterStatus(std::string_view b) {
  std::string_view n, v;
  return ParseParameterStatus(b, &n, &v);
}
Status DoAuthentication(std::string_view b) {
  int32_t code = 0;
  std::string_view data;
  return ParseAuthentication(b, &code, &data);
}
Status DoStartup(std::string_view b) { StartupPacket p; return ParseStartupPacket(b, &p); }

// Frames exactly one complete regular message and returns its body (copied), failing the test
// if `raw` is not exactly one message.
std::string BodyOf(std::string_view raw, char expected_type) {
  Framer f(Framer::Phase::kRegular, kMaxLen);
  Frame frame;
  size_t consumed = 0;
  EXPECT_EQ(f.Next(raw, &frame, &consumed), DecodeResult::kReady);
  EXPECT_EQ(consumed, raw.size());
  EXPECT_EQ(frame.type, expected_type);
  return std::string(frame.body);
}

// ---- Sample messages ----

struct Sample {
  const char* name;
  char type;
  std::string body;
};

std::vector<Sample> FrontendSamples() {
  return {
      {"Query", fe::kQuery, CStr("SELECT 1")},
      {"Query(empty)", fe::kQuery, CStr("")},
      {"Parse", fe::kParse, CStr("s1") + CStr("SELECT $1::int, $2") + BE16(2) + BE32(23) + BE32(0)},
      {"Bind", fe::kBind,
       CStr("") + CStr("s1") + BE16(1) + BE16(0) + BE16(2) + BE32(1) + "7" + BE32(0xffffffff) +
           BE16(1) + BE16(1)},
      {"Describe(S)", fe::kDescribe, "S" + CStr("s1")},
      {"Describe(P)", fe::kDescribe, "P" + CStr("")},
      {"Execute", fe::kExecute, CStr("") + BE32(0)},
      {"Close(S)", fe::kClose, "S" + CStr("s1")},
      {"Close(P)", fe::kClose, "P" + CStr("c1")},
      {"Sync", fe::kSync, ""},
      {"Flush", fe::kFlush, ""},
      {"Terminate", fe::kTerminate, ""},
      {"CopyData", fe::kCopyData, "1\t\\N\n\0\xff"s},
      {"CopyDone", fe::kCopyDone, ""},
      {"CopyFail", fe::kCopyFail, CStr("aborted by user")},
      {"PasswordMessage", fe::kPassword, CStr("md5deadbeefdeadbeefdeadbeefdeadbeef")},
      {"SASLInitialResponse", fe::kPassword,
       CStr("SCRAM-SHA-256") + BE32(18) + "n,,n=,r=rOprNGfwEb"},
      {"SASLResponse", fe::kPassword, "c=biws,r=rOprNGfwEbXYZ,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="},
      {"FunctionCall", fe::kFunctionCall,
       BE32(1598) + BE16(1) + BE16(0) + BE16(1) + BE32(3) + "abc" + BE16(0)},
  };
}

std::vector<Sample> BackendSamples() {
  const std::string row_desc = BE16(1) + CStr("a") + BE32(0) + BE16(0) + BE32(25) + BE16(0xffff) +
                               BE32(0xffffffff) + BE16(0);
  return {
      {"AuthenticationOk", be::kAuthentication, BE32(0)},
      {"AuthenticationSASL", be::kAuthentication, BE32(10) + CStr("SCRAM-SHA-256") + '\0'},
      {"AuthenticationMD5", be::kAuthentication, BE32(5) + "\x01\x02\x03\x04"},
      {"BackendKeyData", be::kBackendKeyData, BE32(4242) + BE32(0x89abcdef)},
      {"ParseComplete", be::kParseComplete, ""},
      {"BindComplete", be::kBindComplete, ""},
      {"CloseComplete", be::kCloseComplete, ""},
      {"CommandComplete", be::kCommandComplete, CStr("INSERT 0 1")},
      {"DataRow", be::kDataRow, BE16(2) + BE32(1) + "1" + BE32(0xffffffff)},
      {"RowDescription", be::kRowDescription, row_desc},
      {"ParameterDescription", be::kParameterDescription, BE16(2) + BE32(23) + BE32(25)},
      {"NoData", be::kNoData, ""},
      {"EmptyQueryResponse", be::kEmptyQueryResponse, ""},
      {"ErrorResponse", be::kErrorResponse,
       "S" + CStr("ERROR") + "V" + CStr("ERROR") + "C" + CStr("42P01") + "M" + CStr("no such table") + '\0'},
      {"NoticeResponse", be::kNoticeResponse,
       "S" + CStr("NOTICE") + "C" + CStr("00000") + "M" + CStr("hello") + '\0'},
      {"ParameterStatus", be::kParameterStatus, CStr("client_encoding") + CStr("UTF8")},
      {"ReadyForQuery", be::kReadyForQuery, "T"},
      {"PortalSuspended", be::kPortalSuspended, ""},
      {"CopyInResponse", be::kCopyInResponse, "\0"s + BE16(2) + BE16(0) + BE16(0)},
      {"CopyOutResponse", be::kCopyOutResponse, "\1"s + BE16(1) + BE16(1)},
      {"CopyData", be::kCopyData, "\0\0\0\x05Zx"s},
      {"CopyDone", be::kCopyDone, ""},
      {"NotificationResponse", be::kNotificationResponse, BE32(777) + CStr("chan") + CStr("payload")},
  };
}

std::vector<Sample> AllSamples() {
  auto all = FrontendSamples();
  for (auto& s : BackendSamples()) all.push_back(std::move(s));
  return all;
}

// =====================================================================================
// Framer
// =====================================================================================

void ExpectFramesAlone(const Sample& s) {
  SCOPED_TRACE(s.name);
  const std::string raw = Typed(s.type, s.body);
  ExactBuf buf(raw);
  Framer f(Framer::Phase::kRegular, kMaxLen);
  Frame frame;
  size_t consumed = 12345;
  ASSERT_EQ(f.Next(buf.view(), &frame, &consumed), DecodeResult::kReady) << f.error();
  EXPECT_EQ(consumed, raw.size());
  EXPECT_EQ(frame.type, s.type);
  EXPECT_EQ(frame.body, s.body);
  EXPECT_EQ(frame.raw, raw);
  // Views point into the caller's buffer: no copy.
  EXPECT_EQ(frame.raw.data(), buf.view().data());
  EXPECT_EQ(frame.body.data(), buf.view().data() + 5);
  EXPECT_EQ(frame.body.size(), s.body.size());
}

TEST(CodecFramer, FramesEveryFrontendMessageType) {
  for (const auto& s : FrontendSamples()) ExpectFramesAlone(s);
}

TEST(CodecFramer, FramesEveryBackendMessageType) {
  for (const auto& s : BackendSamples()) ExpectFramesAlone(s);
}

TEST(CodecFramer, ConsumesOnlyOneMessageWhenMoreFollow) {
  for (const auto& s : AllSamples()) {
    SCOPED_TRACE(s.name);
    const std::string raw = Typed(s.type, s.body);
    // Followed by a complete Sync and then by a partial header.
    const std::string buf = raw + Typed('S', "") + "Z\0\0"s;
    Framer f(Framer::Phase::kRegular, kMaxLen);
    Frame frame;
    size_t consumed = 0;
    ASSERT_EQ(f.Next(buf, &frame, &consumed), DecodeResult::kReady);
    EXPECT_EQ(consumed, raw.size());
    EXPECT_EQ(frame.type, s.type);
    EXPECT_EQ(frame.body, s.body);
    EXPECT_EQ(frame.raw, raw);
  }
}

TEST(CodecFramer, EveryPrefixNeedsMoreDataAndConsumesNothing) {
  for (const auto& s : AllSamples()) {
    SCOPED_TRACE(s.name);
    const std::string raw = Typed(s.type, s.body);
    Framer f(Framer::Phase::kRegular, kMaxLen);
    for (size_t n = 0; n < raw.size(); ++n) {
      ExactBuf buf(std::string_view(raw).substr(0, n));
      Frame frame{'?', "sentinel-body", "sentinel-raw"};
      size_t consumed = 777;
      EXPECT_EQ(f.Next(buf.view(), &frame, &consumed), DecodeResult::kNeedMoreData) << "prefix " << n;
      EXPECT_EQ(consumed, 777u) << "prefix " << n;
      EXPECT_EQ(frame.type, '?');
      EXPECT_EQ(frame.body, "sentinel-body");
      EXPECT_EQ(frame.raw, "sentinel-raw");
    }
  }
}

TEST(CodecFramer, StartupPhasePacketsHaveNoTypeByte) {
  struct StartupSample {
    const char* name;
    std::string body;
    StartupPacket::Kind kind;
  };
  const std::vector<StartupSample> samples = {
      {"StartupMessage", BE32(kProtocolVersion3) + CStr("user") + CStr("alice") + CStr("database") +
                             CStr("db1") + '\0',
       StartupPacket::Kind::kStartup},
      {"SSLRequest", BE32(kSslRequestCode), StartupPacket::Kind::kSslRequest},
      {"GSSENCRequest", BE32(kGssEncRequestCode), StartupPacket::Kind::kGssEncRequest},
      {"CancelRequest", BE32(kCancelRequestCode) + BE32(99) + BE32(12345),
       StartupPacket::Kind::kCancelRequest},
  };
  for (const auto& s : samples) {
    SCOPED_TRACE(s.name);
    const std::string raw = Untyped(s.body);
    ExactBuf buf(raw);
    Framer f(Framer::Phase::kStartup, kMaxLen);
    Frame frame{'?', {}, {}};
    size_t consumed = 0;
    ASSERT_EQ(f.Next(buf.view(), &frame, &consumed), DecodeResult::kReady) << f.error();
    EXPECT_EQ(frame.type, 0);
    EXPECT_EQ(consumed, raw.size());
    EXPECT_EQ(frame.body, s.body);
    EXPECT_EQ(frame.raw, raw);
    EXPECT_EQ(frame.body.data(), buf.view().data() + 4);
    StartupPacket p;
    ASSERT_TRUE(ParseStartupPacket(frame.body, &p).ok());
    EXPECT_EQ(p.kind, s.kind);

    for (size_t n = 0; n < raw.size(); ++n) {
      ExactBuf part(std::string_view(raw).substr(0, n));
      size_t c = 555;
      EXPECT_EQ(f.Next(part.view(), &frame, &c), DecodeResult::kNeedMoreData) << "prefix " << n;
      EXPECT_EQ(c, 555u);
    }
  }
}

TEST(CodecFramer, StartupPacketWireBytes) {
  // SSLRequest exactly as libpq sends it: length 8, code 1234/5679.
  const std::string ssl("\x00\x00\x00\x08\x04\xd2\x16\x2f", 8);
  Framer f(Framer::Phase::kStartup, kMaxLen);
  Frame frame;
  size_t consumed = 0;
  ASSERT_EQ(f.Next(ssl, &frame, &consumed), DecodeResult::kReady);
  EXPECT_EQ(consumed, 8u);
  StartupPacket p;
  ASSERT_TRUE(ParseStartupPacket(frame.body, &p).ok());
  EXPECT_EQ(p.kind, StartupPacket::Kind::kSslRequest);
  EXPECT_EQ(p.protocol_version, kSslRequestCode);

  // GSSENCRequest: code 1234/5680.
  const std::string gss("\x00\x00\x00\x08\x04\xd2\x16\x30", 8);
  ASSERT_EQ(f.Next(gss, &frame, &consumed), DecodeResult::kReady);
  ASSERT_TRUE(ParseStartupPacket(frame.body, &p).ok());
  EXPECT_EQ(p.kind, StartupPacket::Kind::kGssEncRequest);
}

TEST(CodecFramer, StartupThenRegularPhase) {
  // Typical client stream: SSLRequest (declined), StartupMessage, then a Query.
  std::string stream = Untyped(BE32(kSslRequestCode));
  WriteStartup(&stream, {{"user", "bob"}});
  WriteQuery(&stream, "SELECT 1");
  Framer f(Framer::Phase::kStartup, kMaxLen);
  EXPECT_EQ(f.phase(), Framer::Phase::kStartup);
  std::string_view rest = stream;
  Frame frame;
  size_t consumed = 0;

  ASSERT_EQ(f.Next(rest, &frame, &consumed), DecodeResult::kReady);
  EXPECT_EQ(consumed, 8u);
  rest.remove_prefix(consumed);
  ASSERT_EQ(f.Next(rest, &frame, &consumed), DecodeResult::kReady);
  StartupPacket p;
  ASSERT_TRUE(ParseStartupPacket(frame.body, &p).ok());
  EXPECT_EQ(p.kind, StartupPacket::Kind::kStartup);
  EXPECT_EQ(p.Get("user"), "bob");
  rest.remove_prefix(consumed);

  f.set_phase(Framer::Phase::kRegular);
  EXPECT_EQ(f.phase(), Framer::Phase::kRegular);
  ASSERT_EQ(f.Next(rest, &frame, &consumed), DecodeResult::kReady);
  EXPECT_EQ(frame.type, 'Q');
  EXPECT_EQ(frame.body, CStr("SELECT 1"));
  rest.remove_prefix(consumed);
  EXPECT_TRUE(rest.empty());
  EXPECT_EQ(f.Next(rest, &frame, &consumed), DecodeResult::kNeedMoreData);
}

TEST(CodecFramer, BackToBackMessagesInOneBuffer) {
  std::string stream;
  const auto samples = AllSamples();
  for (const auto& s : samples) stream += Typed(s.type, s.body);
  ExactBuf buf(stream);
  Framer f(Framer::Phase::kRegular, kMaxLen);
  size_t offset = 0;
  for (const auto& s : samples) {
    SCOPED_TRACE(s.name);
    Frame frame;
    size_t consumed = 0;
    ASSERT_EQ(f.Next(buf.view().substr(offset), &frame, &consumed), DecodeResult::kReady);
    EXPECT_EQ(frame.type, s.type);
    EXPECT_EQ(frame.body, s.body);
    EXPECT_EQ(consumed, s.body.size() + 5);
    EXPECT_EQ(frame.raw.data(), buf.view().data() + offset);
    offset += consumed;
  }
  EXPECT_EQ(offset, stream.size());
  Frame frame;
  size_t consumed = 0;
  EXPECT_EQ(f.Next(buf.view().substr(offset), &frame, &consumed), DecodeResult::kNeedMoreData);
}

// Builds a realistic client stream: startup packet followed by an extended-protocol exchange.
// Returns the stream and, for each message, its (type, body) in order.
std::pair<std::string, std::vector<std::pair<char, std::string>>> ClientStream() {
  std::string stream;
  std::vector<std::pair<char, std::string>> expected;
  auto add = [&](size_t before, char type, size_t header) {
    expected.emplace_back(type, stream.substr(before + header));
  };
  size_t before = stream.size();
  WriteStartup(&stream, {{"user", "alice"}, {"database", "shop"}, {"application_name", "t"}});
  add(before, 0, 4);
  for (const auto& s : FrontendSamples()) {
    before = stream.size();
    stream += Typed(s.type, s.body);
    add(before, s.type, 5);
  }
  before = stream.size();
  WriteParse(&stream, "", "SELECT * FROM t WHERE id = $1", {20});
  add(before, 'P', 5);
  before = stream.size();
  WriteSync(&stream);
  add(before, 'S', 5);
  return {stream, expected};
}

TEST(CodecFramer, SplitInputFedByteByByte) {
  auto [stream, expected] = ClientStream();
  Framer f(Framer::Phase::kStartup, kMaxLen);
  std::string buffer;
  std::vector<std::pair<char, std::string>> got;
  size_t fed = 0;
  size_t expected_end = 0;  // stream offset where the next message completes
  for (char byte : stream) {
    buffer.push_back(byte);
    ++fed;
    Frame frame;
    size_t consumed = 0;
    DecodeResult r;
    while ((r = f.Next(buffer, &frame, &consumed)) == DecodeResult::kReady) {
      ASSERT_LT(got.size(), expected.size());
      // A message becomes ready exactly when its last byte arrives.
      expected_end += (got.size() == 0 ? 4 : 5) + expected[got.size()].second.size();
      EXPECT_EQ(fed, expected_end) << "message " << got.size();
      got.emplace_back(frame.type, std::string(frame.body));
      buffer.erase(0, consumed);
      if (f.phase() == Framer::Phase::kStartup) f.set_phase(Framer::Phase::kRegular);
    }
    ASSERT_EQ(r, DecodeResult::kNeedMoreData) << f.error();
  }
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(got, expected);
}

TEST(CodecFramer, SplitInputFedInRandomChunks) {
  auto [stream, expected] = ClientStream();
  std::mt19937 rng(4242);
  for (int round = 0; round < 50; ++round) {
    Framer f(Framer::Phase::kStartup, kMaxLen);
    std::string buffer;
    std::vector<std::pair<char, std::string>> got;
    size_t pos = 0;
    while (pos < stream.size()) {
      const size_t chunk = std::min<size_t>(1 + rng() % 23, stream.size() - pos);
      buffer.append(stream, pos, chunk);
      pos += chunk;
      Frame frame;
      size_t consumed = 0;
      DecodeResult r;
      while ((r = f.Next(buffer, &frame, &consumed)) == DecodeResult::kReady) {
        got.emplace_back(frame.type, std::string(frame.body));
        buffer.erase(0, consumed);
        f.set_phase(Framer::Phase::kRegular);
      }
      ASSERT_EQ(r, DecodeResult::kNeedMoreData) << f.error();
    }
    EXPECT_TRUE(buffer.empty());
    EXPECT_EQ(got, expected) << "round " << round;
  }
}

TEST(CodecFramer, LengthBelowFourIsAnError) {
  for (uint32_t len = 0; len < 4; ++len) {
    SCOPED_TRACE(len);
    // Regular phase: only the header is needed to detect it.
    const std::string regular = "Q" + BE32(len);
    Framer f(Framer::Phase::kRegular, kMaxLen);
    Frame frame{'?', "b", "r"};
    size_t consumed = 999;
    EXPECT_EQ(f.Next(regular, &frame, &consumed), DecodeResult::kError);
    EXPECT_EQ(consumed, 999u);
    EXPECT_EQ(frame.type, '?');
    EXPECT_NE(f.error().find("invalid message length"), std::string::npos) << f.error();
    EXPECT_NE(f.error().find(std::to_string(len)), std::string::npos) << f.error();

    // Startup phase.
    Framer s(Framer::Phase::kStartup, kMaxLen);
    EXPECT_EQ(s.Next(BE32(len) + "xxxx", &frame, &consumed), DecodeResult::kError);
    EXPECT_EQ(consumed, 999u);
    EXPECT_NE(s.error().find("invalid message length"), std::string::npos) << s.error();
  }
}

TEST(CodecFramer, EmptyBodyMessageHasLengthFour) {
  Framer f(Framer::Phase::kRegular, kMaxLen);
  Frame frame;
  size_t consumed = 0;
  ASSERT_EQ(f.Next("S\0\0\0\4"s, &frame, &consumed), DecodeResult::kReady);
  EXPECT_EQ(consumed, 5u);
  EXPECT_EQ(frame.type, 'S');
  EXPECT_TRUE(frame.body.empty());
}

TEST(CodecFramer, OversizedRegularMessageIsAnError) {
  constexpr uint32_t kMax = 64;
  Framer f(Framer::Phase::kRegular, kMax);
  Frame frame{'?', "b", "r"};
  size_t consumed = 999;

  // Exactly at the limit (length word included): accepted.
  const std::string at_limit = Typed('d', std::string(kMax - 4, 'x'));
  ASSERT_EQ(f.Next(at_limit, &frame, &consumed), DecodeResult::kReady) << f.error();
  EXPECT_EQ(consumed, kMax + 1);
  // ...and just the header of it is a partial message, not an error.
  consumed = 999;
  EXPECT_EQ(f.Next(std::string_view(at_limit).substr(0, 5), &frame, &consumed),
            DecodeResult::kNeedMoreData);
  EXPECT_EQ(consumed, 999u);

  // One over: rejected as soon as the header is seen, before the body arrives.
  frame = Frame{'?', "b", "r"};
  const std::string header = "d" + BE32(kMax + 1);
  EXPECT_EQ(f.Next(header, &frame, &consumed), DecodeResult::kError);
  EXPECT_EQ(consumed, 999u);
  EXPECT_EQ(frame.type, '?');
  EXPECT_NE(f.error().find("65"), std::string::npos) << f.error();
  EXPECT_NE(f.error().find("64"), std::string::npos) << f.error();
  EXPECT_NE(f.error().find("exceeds"), std::string::npos) << f.error();

  // Huge lengths (would be negative as int32).
  for (uint32_t len : {0x7fffffffu, 0x80000000u, 0xffffffffu}) {
    EXPECT_EQ(f.Next("Q" + BE32(len), &frame, &consumed), DecodeResult::kError) << len;
    EXPECT_FALSE(f.error().empty());
  }
}

TEST(CodecFramer, MaximalLimitDoesNotOverflow) {
  Framer f(Framer::Phase::kRegular, std::numeric_limits<uint32_t>::max());
  Frame frame;
  size_t consumed = 999;
  EXPECT_EQ(f.Next("d" + BE32(0xffffffffu) + "abc", &frame, &consumed), DecodeResult::kNeedMoreData);
  EXPECT_EQ(consumed, 999u);
}

TEST(CodecFramer, OversizedStartupPacketIsAnError) {
  // The regular limit does not apply in the startup phase: kMaxStartupPacketLength does.
  Framer f(Framer::Phase::kStartup, 16);
  Frame frame;
  size_t consumed = 999;
  // PostgreSQL bounds the payload, not the length word: 10004 bytes in all is accepted.
  constexpr uint32_t kLargest = kMaxStartupPacketLength + 4;
  EXPECT_EQ(f.Next(BE32(kLargest) + BE32(kProtocolVersion3), &frame, &consumed),
            DecodeResult::kNeedMoreData);
  std::string ok_packet = BE32(kLargest) + BE32(kProtocolVersion3);
  ok_packet.resize(kLargest, 'a');
  EXPECT_EQ(f.Next(ok_packet, &frame, &consumed), DecodeResult::kReady) << f.error();
  EXPECT_EQ(consumed, kLargest);

  // 10005 bytes: rejected from the header alone.
  consumed = 999;
  EXPECT_EQ(f.Next(BE32(kLargest + 1) + BE32(kProtocolVersion3), &frame, &consumed),
            DecodeResult::kError);
  EXPECT_EQ(consumed, 999u);
  EXPECT_NE(f.error().find("10005"), std::string::npos) << f.error();
  EXPECT_NE(f.error().find("10004"), std::string::npos) << f.error();
  // Would-be-negative length.
  EXPECT_EQ(f.Next(BE32(0xffffffffu) + BE32(kProtocolVersion3), &frame, &consumed), DecodeResult::kError);

  // A regular-phase Framer with a small limit rejects big messages the startup one accepted.
  Framer r(Framer::Phase::kRegular, 16);
  EXPECT_EQ(r.Next("Q" + BE32(17), &frame, &consumed), DecodeResult::kError);
}

TEST(CodecFramer, ShortStartupPacketFramesButFailsToParse) {
  // Length 4..7: framable, but the body has no room for a protocol code.
  for (uint32_t len = 4; len < 8; ++len) {
    const std::string raw = BE32(len) + std::string(len - 4, '\x03');
    Framer f(Framer::Phase::kStartup, kMaxLen);
    Frame frame;
    size_t consumed = 0;
    ASSERT_EQ(f.Next(raw, &frame, &consumed), DecodeResult::kReady);
    EXPECT_EQ(consumed, len);
    StartupPacket p;
    EXPECT_TRUE(IsProtocolViolation(ParseStartupPacket(frame.body, &p))) << len;
  }
}

// =====================================================================================
// Parsers: startup
// =====================================================================================

TEST(CodecParseStartup, StartupMessageRoundTrip) {
  std::string raw;
  WriteStartup(&raw, {{"user", "alice"}, {"database", "shop"}, {"options", "-c search_path=x"},
                      {"empty", ""}});
  Framer f(Framer::Phase::kStartup, kMaxLen);
  Frame frame;
  size_t consumed = 0;
  ASSERT_EQ(f.Next(raw, &frame, &consumed), DecodeResult::kReady);
  StartupPacket p;
  ASSERT_TRUE(ParseStartupPacket(frame.body, &p).ok());
  EXPECT_EQ(p.kind, StartupPacket::Kind::kStartup);
  EXPECT_EQ(p.protocol_version, kProtocolVersion3);
  ASSERT_EQ(p.parameters.size(), 4u);
  EXPECT_EQ(p.parameters[0].first, "user");
  EXPECT_EQ(p.parameters[0].second, "alice");
  EXPECT_EQ(p.parameters[2].second, "-c search_path=x");
  EXPECT_EQ(p.Get("user"), "alice");
  EXPECT_EQ(p.Get("database"), "shop");
  EXPECT_EQ(p.Get("empty"), "");
  EXPECT_EQ(p.Get("missing"), "");
  EXPECT_EQ(p.Get("USER"), "");
  for (const auto& [k, v] : p.parameters) {
    EXPECT_TRUE(Within(k, frame.body));
    EXPECT_TRUE(Within(v, frame.body));
  }
}

TEST(CodecParseStartup, NoParametersAndMinorVersion) {
  StartupPacket p;
  ASSERT_TRUE(ParseStartupPacket(BE32(kProtocolVersion3) + '\0', &p).ok());
  EXPECT_TRUE(p.parameters.empty());
  // 3.2 is still protocol 3 (minor versions are negotiated later).
  const std::string v32 = BE32(0x00030002) + CStr("user") + CStr("u") + '\0';
  ASSERT_TRUE(ParseStartupPacket(v32, &p).ok());
  EXPECT_EQ(p.protocol_version, 0x00030002);
  EXPECT_EQ(p.Get("user"), "u");
}

TEST(CodecParseStartup, ParametersAreResetBetweenParses) {
  StartupPacket p;
  ASSERT_TRUE(ParseStartupPacket(BE32(kProtocolVersion3) + CStr("user") + CStr("a") + '\0', &p).ok());
  ASSERT_EQ(p.parameters.size(), 1u);
  ASSERT_TRUE(ParseStartupPacket(BE32(kSslRequestCode), &p).ok());
  EXPECT_TRUE(p.parameters.empty());
}

TEST(CodecParseStartup, SslGssCancelRoundTrip) {
  StartupPacket p;
  ASSERT_TRUE(ParseStartupPacket(BE32(kSslRequestCode), &p).ok());
  EXPECT_EQ(p.kind, StartupPacket::Kind::kSslRequest);
  ASSERT_TRUE(ParseStartupPacket(BE32(kGssEncRequestCode), &p).ok());
  EXPECT_EQ(p.kind, StartupPacket::Kind::kGssEncRequest);

  std::string raw;
  WriteCancelRequest(&raw, 31337, -559038737);
  Framer f(Framer::Phase::kStartup, kMaxLen);
  Frame frame;
  size_t consumed = 0;
  ASSERT_EQ(f.Next(raw, &frame, &consumed), DecodeResult::kReady);
  ASSERT_TRUE(ParseStartupPacket(frame.body, &p).ok());
  EXPECT_EQ(p.kind, StartupPacket::Kind::kCancelRequest);
  EXPECT_EQ(p.cancel_pid, 31337);
  EXPECT_EQ(p.cancel_key, -559038737);
}

TEST(CodecParseStartup, UnsupportedProtocolVersion) {
  StartupPacket p;
  const Status v4 = ParseStartupPacket(BE32(0x00040000) + CStr("user") + CStr("a") + '\0', &p);
  EXPECT_TRUE(HasSqlstate(v4, sqlstate::kFeatureNotSupported));
  EXPECT_NE(v4.message().find("4.0"), std::string::npos) << v4.message();
  // Protocol 2.0 (pre-7.4 clients) and garbage codes.
  EXPECT_TRUE(HasSqlstate(ParseStartupPacket(BE32(0x00020000) + '\0', &p), sqlstate::kFeatureNotSupported));
  EXPECT_TRUE(HasSqlstate(ParseStartupPacket(BE32(0xffffffffu) + '\0', &p), sqlstate::kFeatureNotSupported));
  EXPECT_TRUE(HasSqlstate(ParseStartupPacket(BE32(0), &p), sqlstate::kFeatureNotSupported));
  // A code adjacent to the special request codes is not one of them.
  EXPECT_TRUE(HasSqlstate(ParseStartupPacket(BE32(kCancelRequestCode - 1), &p),
                          sqlstate::kFeatureNotSupported));
}

TEST(CodecParseStartup, Malformed) {
  StartupPacket p;
  // Trailing bytes after fixed-size requests.
  EXPECT_TRUE(IsProtocolViolation(ParseStartupPacket(BE32(kSslRequestCode) + "x", &p)));
  EXPECT_TRUE(IsProtocolViolation(ParseStartupPacket(BE32(kGssEncRequestCode) + BE32(0), &p)));
  EXPECT_TRUE(IsProtocolViolation(ParseStartupPacket(BE32(kCancelRequestCode) + BE32(1) + BE32(2) + "x", &p)));
  // Truncated CancelRequest.
  EXPECT_TRUE(IsProtocolViolation(ParseStartupPacket(BE32(kCancelRequestCode) + BE32(1) + "\0\0"s, &p)));
  // Missing list terminator; value without NUL; name without NUL; trailing after terminator.
  const std::string v3 = BE32(kProtocolVersion3);
  EXPECT_TRUE(IsProtocolViolation(ParseStartupPacket(v3 + CStr("user") + CStr("a"), &p)));
  EXPECT_TRUE(IsProtocolViolation(ParseStartupPacket(v3 + CStr("user") + "a", &p)));
  EXPECT_TRUE(IsProtocolViolation(ParseStartupPacket(v3 + "user", &p)));
  EXPECT_TRUE(IsProtocolViolation(ParseStartupPacket(v3, &p)));
  EXPECT_TRUE(IsProtocolViolation(ParseStartupPacket(v3 + CStr("user") + CStr("a") + '\0' + "junk", &p)));
  EXPECT_TRUE(IsProtocolViolation(ParseStartupPacket(v3 + '\0' + '\0', &p)));
}

TEST(CodecParseStartup, EveryTruncationRejected) {
  ExpectEveryPrefixRejected(DoStartup, BE32(kProtocolVersion3) + CStr("user") + CStr("alice") +
                                           CStr("database") + CStr("db") + '\0');
  ExpectEveryPrefixRejected(DoStartup, BE32(kCancelRequestCode) + BE32(7) + BE32(8));
  ExpectEveryPrefixRejected(DoStartup, BE32(kSslRequestCode));
}

// =====================================================================================
// Parsers: frontend
// =====================================================================================

TEST(CodecParseQuery, RoundTrip) {
  for (std::string_view sql : {"SELECT 1"sv, ""sv, "INSERT INTO t VALUES ('é', E'\\x01');"sv}) {
    std::string raw;
    WriteQuery(&raw, sql);
    const std::string body = BodyOf(raw, 'Q');
    QueryMessage q;
    ASSERT_TRUE(ParseQuery(body, &q).ok());
    EXPECT_EQ(q.sql, sql);
    EXPECT_TRUE(Within(q.sql, body));
  }
}

TEST(CodecParseQuery, Malformed) {
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoQuery, "SELECT 1")));           // no NUL
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoQuery, "")));                   // empty body
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoQuery, CStr("SELECT 1") + "x")));  // trailing
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoQuery, CStr("SELECT 1") + '\0')));
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoQuery, "SELECT\0 1\0"s)));      // embedded NUL
  ExpectEveryPrefixRejected(DoQuery, CStr("SELECT 1"));
}

TEST(CodecParseParse, RoundTrip) {
  std::string raw;
  WriteParse(&raw, "stmt_1", "SELECT $1, $2, $3", {23, 0, -1});
  const std::string body = BodyOf(raw, 'P');
  ParseMessage m;
  ASSERT_TRUE(ParseParse(body, &m).ok());
  EXPECT_EQ(m.name, "stmt_1");
  EXPECT_EQ(m.query, "SELECT $1, $2, $3");
  EXPECT_EQ(m.param_types, (std::vector<int32_t>{23, 0, -1}));
  EXPECT_TRUE(Within(m.name, body));
  EXPECT_TRUE(Within(m.query, body));

  raw.clear();
  WriteParse(&raw, "", "BEGIN", {});
  const std::string body2 = BodyOf(raw, 'P');
  m.param_types = {1, 2, 3};  // stale values must be replaced
  ASSERT_TRUE(ParseParse(body2, &m).ok());
  EXPECT_EQ(m.name, "");
  EXPECT_EQ(m.query, "BEGIN");
  EXPECT_TRUE(m.param_types.empty());
}

TEST(CodecParseParse, Malformed) {
  const std::string head = CStr("s") + CStr("SELECT $1");
  // Counts with the top bit set (negative as int16) and no data behind them: rejected however
  // the count is read (see UnsignedParamCountAbove32767 below).
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoParse, head + BE16(0xffff))));
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoParse, head + BE16(0x8000) + BE32(23))));
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoParse, head + BE16(2) + BE32(23))));    // short
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoParse, head + BE16(0x7fff))));          // huge, absent
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoParse, head + BE16(1) + BE32(23) + "x")));  // trailing
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoParse, head + BE16(0) + BE32(23))));    // extra type
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoParse, head)));                         // no count
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoParse, CStr("s") + "SELECT 1")));       // query NUL
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoParse, "s")));                          // name NUL
  ExpectEveryPrefixRejected(DoParse, head + BE16(2) + BE32(23) + BE32(25));
}

std::string SampleBindBody() {
  std::string raw;
  MessageWriter w(&raw);
  w.Begin(fe::kBind).CString("portal1").CString("stmt1");
  w.Int16(3).Int16(0).Int16(1).Int16(1);                   // parameter formats
  w.Int16(3);                                              // three parameters
  w.Int32(3).Bytes("abc");                                 // text "abc"
  w.Int32(-1);                                             // NULL
  w.Int32(4).Bytes("\0\x01\xff\0"s);                       // binary, with NULs
  w.Int16(1).Int16(1);                                     // result formats: binary
  w.End();
  return BodyOf(raw, 'B');
}

TEST(CodecParseBind, RoundTrip) {
  std::string raw;
  MessageWriter w(&raw);
  w.Begin(fe::kBind).CString("portal1").CString("stmt1");
  w.Int16(4).Int16(0).Int16(1).Int16(1).Int16(0);
  w.Int16(4);
  w.Int32(3).Bytes("abc");
  w.Int32(-1);
  w.Int32(4).Bytes("\0\x01\xff\0"s);
  w.Int32(0);  // empty string, not NULL
  w.Int16(2).Int16(1).Int16(0);
  w.End();
  const std::string body = BodyOf(raw, 'B');
  BindMessage b;
  ASSERT_TRUE(ParseBind(body, &b).ok());
  EXPECT_EQ(b.portal, "portal1");
  EXPECT_EQ(b.statement, "stmt1");
  EXPECT_EQ(b.param_formats, (std::vector<int16_t>{0, 1, 1, 0}));
  ASSERT_EQ(b.params.size(), 4u);
  ASSERT_TRUE(b.params[0].has_value());
  EXPECT_EQ(*b.params[0], "abc");
  EXPECT_FALSE(b.params[1].has_value());
  ASSERT_TRUE(b.params[2].has_value());
  EXPECT_EQ(*b.params[2], "\0\x01\xff\0"s);
  ASSERT_TRUE(b.params[3].has_value());
  EXPECT_EQ(*b.params[3], "");
  EXPECT_EQ(b.result_formats, (std::vector<int16_t>{1, 0}));
  EXPECT_TRUE(Within(b.portal, body));
  EXPECT_TRUE(Within(b.statement, body));
  for (const auto& p : b.params) {
    if (p) { EXPECT_TRUE(Within(*p, body)); }
  }
}

// PostgreSQL reads the Int16 counts of Parse and Bind as *unsigned* (postgres.c:
// `numParams = pq_getmsgint(input_message, 2)`, which returns an unsigned value), and libpq >= 14
// sends up to PQ_QUERY_PARAM_MAX_LIMIT = 65535 parameters. A statement with 32768..65535
// parameters is valid and must not be rejected as a "negative count". (Regression test: an
// earlier codec.cc read these counts as int16 and failed these two tests.)
TEST(CodecParseParse, UnsignedParamCountAbove32767) {
  constexpr uint16_t kCount = 40000;
  std::string body = CStr("bulk") + CStr("INSERT INTO t VALUES ($1, ...)") + BE16(kCount);
  for (uint32_t i = 0; i < kCount; ++i) body += BE32(i % 2 == 0 ? 23 : 0);
  ParseMessage m;
  const Status s = ParseParse(body, &m);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (s.ok()) {
    EXPECT_EQ(m.param_types.size(), kCount);
  }
  // The encoder writes such a count with the same bit pattern, so it round-trips.
  std::string raw;
  WriteParse(&raw, "bulk", "SELECT", std::vector<int32_t>(kCount, 25));
  const std::string written = BodyOf(raw, 'P');
  EXPECT_EQ(written.substr(CStr("bulk").size() + CStr("SELECT").size(), 2), BE16(kCount));
  const Status s2 = ParseParse(written, &m);
  EXPECT_TRUE(s2.ok()) << s2.ToString();
  EXPECT_EQ(m.param_types.size(), kCount);
}

TEST(CodecParseBind, UnsignedParamCountAbove32767) {  // See the comment above.
  constexpr uint16_t kCount = 40000;
  // One format code for all parameters, 40000 one-byte text parameters, no result formats.
  std::string body = CStr("") + CStr("bulk") + BE16(1) + BE16(0) + BE16(kCount);
  for (uint32_t i = 0; i < kCount; ++i) body += BE32(1) + "x";
  body += BE16(0);
  BindMessage b;
  const Status s = ParseBind(body, &b);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (s.ok()) {
    EXPECT_EQ(b.params.size(), kCount);
  }
  // Likewise 40000 per-parameter format codes (count 0x9c40).
  std::string per_param = CStr("") + CStr("bulk") + BE16(kCount);
  for (uint32_t i = 0; i < kCount; ++i) per_param += BE16(0);
  per_param += BE16(kCount);
  for (uint32_t i = 0; i < kCount; ++i) per_param += BE32(0xffffffff);
  per_param += BE16(0);
  EXPECT_TRUE(ParseBind(per_param, &b).ok());
}

TEST(CodecParseBind, FormatCountRules) {
  const std::string head = CStr("") + CStr("s");
  const std::string three_params = BE16(3) + BE32(1) + "a" + BE32(1) + "b" + BE32(0xffffffff);
  BindMessage b;
  // Zero formats: all text.
  ASSERT_TRUE(ParseBind(head + BE16(0) + three_params + BE16(0), &b).ok());
  EXPECT_TRUE(b.param_formats.empty());
  EXPECT_EQ(b.params.size(), 3u);
  // One format applies to all parameters.
  ASSERT_TRUE(ParseBind(head + BE16(1) + BE16(1) + three_params + BE16(0), &b).ok());
  EXPECT_EQ(b.param_formats.size(), 1u);
  // One format per parameter.
  ASSERT_TRUE(ParseBind(head + BE16(3) + BE16(0) + BE16(1) + BE16(0) + three_params + BE16(0), &b).ok());
  // Mismatch: 2 formats for 3 parameters.
  const Status mismatch = ParseBind(head + BE16(2) + BE16(0) + BE16(1) + three_params + BE16(0), &b);
  EXPECT_TRUE(IsProtocolViolation(mismatch));
  EXPECT_NE(mismatch.message().find("2 parameter formats but 3 parameters"), std::string::npos)
      << mismatch.message();
  // Mismatch: 2 formats, 0 parameters.
  EXPECT_TRUE(IsProtocolViolation(ParseBind(head + BE16(2) + BE16(0) + BE16(0) + BE16(0) + BE16(0), &b)));
  // One format, zero parameters: allowed (as in PostgreSQL).
  EXPECT_TRUE(ParseBind(head + BE16(1) + BE16(0) + BE16(0) + BE16(0), &b).ok());
}

TEST(CodecParseBind, Malformed) {
  const std::string head = CStr("p") + CStr("s");
  const std::vector<std::pair<const char*, std::string>> cases = {
      {"portal without NUL", "p"},
      {"statement without NUL", CStr("p") + "s"},
      {"parameter-format count 0xffff without data", head + BE16(0xffff) + BE16(0) + BE16(0)},
      {"invalid format code 2", head + BE16(1) + BE16(2) + BE16(0) + BE16(0)},
      {"invalid format code -1", head + BE16(1) + BE16(0xffff) + BE16(0) + BE16(0)},
      {"format codes truncated", head + BE16(2) + BE16(0)},
      {"parameter count 0x8000 without data", head + BE16(0) + BE16(0x8000) + BE16(0)},
      {"parameter count exceeds data", head + BE16(0) + BE16(2) + BE32(1) + "a" + BE16(0)},
      {"huge parameter count", head + BE16(0) + BE16(0x7fff)},
      {"parameter length -2", head + BE16(0) + BE16(1) + BE32(0xfffffffe) + BE16(0)},
      {"parameter length INT32_MIN", head + BE16(0) + BE16(1) + BE32(0x80000000) + BE16(0)},
      {"parameter length beyond end", head + BE16(0) + BE16(1) + BE32(100) + "abc" + BE16(0)},
      {"parameter length INT32_MAX", head + BE16(0) + BE16(1) + BE32(0x7fffffff) + "abc" + BE16(0)},
      {"result-format count 0xffff without data", head + BE16(0) + BE16(0) + BE16(0xffff)},
      {"invalid result format", head + BE16(0) + BE16(0) + BE16(1) + BE16(7)},
      {"result formats missing", head + BE16(0) + BE16(0)},
      {"trailing garbage", head + BE16(0) + BE16(0) + BE16(0) + "x"},
  };
  for (const auto& [what, body] : cases) {
    EXPECT_TRUE(IsProtocolViolation(ParseExact(DoBind, body))) << what;
  }
}

TEST(CodecParseBind, EveryTruncationRejected) {
  const std::string body = SampleBindBody();
  ASSERT_TRUE(ParseExact(DoBind, body).ok());
  ExpectEveryPrefixRejected(DoBind, body);
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoBind, body + "\0"s)));  // trailing garbage
}

TEST(CodecParseBindHeader, RoundTripAndRest) {
  const std::string body = SampleBindBody();
  BindHeader h;
  ASSERT_TRUE(ParseBindHeader(body, &h).ok());
  EXPECT_EQ(h.portal, "portal1");
  EXPECT_EQ(h.statement, "stmt1");
  const size_t names = CStr("portal1").size() + CStr("stmt1").size();
  EXPECT_EQ(h.rest, std::string_view(body).substr(names));
  EXPECT_EQ(h.rest.data(), body.data() + names);

  // Unnamed portal and statement, nothing else (the header parser does not validate the rest).
  const std::string unnamed = "\0\0"s;
  ASSERT_TRUE(ParseBindHeader(unnamed, &h).ok());
  EXPECT_EQ(h.portal, "");
  EXPECT_EQ(h.statement, "");
  EXPECT_TRUE(h.rest.empty());
}

TEST(CodecParseBindHeader, Malformed) {
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoBindHeader, "")));
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoBindHeader, "portal")));
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoBindHeader, CStr("portal") + "stmt")));
  // Every prefix that cuts into the two names is rejected; any later cut is accepted with a
  // shorter rest (the remainder is forwarded verbatim, the server validates it).
  const std::string body = SampleBindBody();
  const size_t names = CStr("portal1").size() + CStr("stmt1").size();
  for (size_t n = 0; n < body.size(); ++n) {
    const Status s = ParseExact(DoBindHeader, std::string_view(body).substr(0, n));
    if (n < names) {
      EXPECT_TRUE(IsProtocolViolation(s)) << n;
    } else {
      EXPECT_TRUE(s.ok()) << n;
    }
  }
}

TEST(CodecParseDescribeClose, RoundTrip) {
  for (char kind : {'S', 'P'}) {
    for (std::string_view name : {""sv, "s1"sv, "a rather long portal name"sv}) {
      std::string raw;
      WriteDescribe(&raw, kind, name);
      std::string body = BodyOf(raw, 'D');
      DescribeMessage d;
      ASSERT_TRUE(ParseDescribe(body, &d).ok());
      EXPECT_EQ(d.kind, kind);
      EXPECT_EQ(d.name, name);
      EXPECT_TRUE(Within(d.name, body));

      raw.clear();
      WriteClose(&raw, kind, name);
      body = BodyOf(raw, 'C');
      CloseMessage c;
      ASSERT_TRUE(ParseClose(body, &c).ok());
      EXPECT_EQ(c.kind, kind);
      EXPECT_EQ(c.name, name);
      EXPECT_TRUE(Within(c.name, body));
    }
  }
}

TEST(CodecParseDescribeClose, Malformed) {
  for (const auto& [what, parse] :
       std::vector<std::pair<const char*, BodyParser>>{{"Describe", DoDescribe}, {"Close", DoClose}}) {
    SCOPED_TRACE(what);
    for (char bad : {'X', 's', 'p', '\0', '\xff'}) {
      const Status s = ParseExact(parse, std::string(1, bad) + CStr("name"));
      EXPECT_TRUE(IsProtocolViolation(s)) << static_cast<int>(bad);
      EXPECT_NE(s.message().find(what), std::string::npos) << s.message();
    }
    EXPECT_TRUE(IsProtocolViolation(ParseExact(parse, "")));
    EXPECT_TRUE(IsProtocolViolation(ParseExact(parse, "S")));
    EXPECT_TRUE(IsProtocolViolation(ParseExact(parse, "Sname")));            // no NUL
    EXPECT_TRUE(IsProtocolViolation(ParseExact(parse, "S" + CStr("n") + "x")));  // trailing
    EXPECT_TRUE(IsProtocolViolation(ParseExact(parse, "P" + CStr("n") + '\0')));
    ExpectEveryPrefixRejected(parse, "P" + CStr("portal"));
  }
}

TEST(CodecParseExecute, RoundTrip) {
  for (int32_t max_rows : {0, 1, 100, std::numeric_limits<int32_t>::max(), -1}) {
    std::string raw;
    MessageWriter(&raw).Begin(fe::kExecute).CString("c1").Int32(max_rows).End();
    const std::string body = BodyOf(raw, 'E');
    ExecuteMessage e;
    ASSERT_TRUE(ParseExecute(body, &e).ok());
    EXPECT_EQ(e.portal, "c1");
    EXPECT_EQ(e.max_rows, max_rows);
  }
}

TEST(CodecParseExecute, Malformed) {
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoExecute, "")));
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoExecute, "portal")));
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoExecute, CStr("portal") + "\0\0\0"s)));
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoExecute, CStr("portal") + BE32(0) + "x")));
  ExpectEveryPrefixRejected(DoExecute, CStr("portal") + BE32(10));
}

// =====================================================================================
// Parsers: backend
// =====================================================================================

TEST(CodecParseErrorFields, RoundTripFromWriter) {
  std::string raw;
  WriteErrorResponse(&raw, Severity::kFatal, "57P01", "terminating connection", "admin said so");
  const std::string body = BodyOf(raw, 'E');
  ErrorFields e;
  ASSERT_TRUE(ParseErrorFields(body, &e).ok());
  EXPECT_EQ(e.severity, "FATAL");
  EXPECT_EQ(e.code, "57P01");
  EXPECT_EQ(e.message, "terminating connection");
  EXPECT_EQ(e.detail, "admin said so");
  EXPECT_EQ(e.hint, "");
  for (auto v : {e.severity, e.code, e.message, e.detail}) EXPECT_TRUE(Within(v, body));

  raw.clear();
  WriteErrorResponse(&raw, Severity::kWarning, "01000", "careful");
  const std::string notice = BodyOf(raw, 'N');
  ASSERT_TRUE(ParseErrorFields(notice, &e).ok());
  EXPECT_EQ(e.severity, "WARNING");
  EXPECT_EQ(e.detail, "");  // reset from the previous parse
}

TEST(CodecMapErrorPosition, RewritesOrDropsThePositionOnly) {
  const std::string fields = "S" + CStr("ERROR") + "C" + CStr("42703") + "M" + CStr("column \"x\" does not exist");
  std::string error;
  MessageWriter(&error).Begin('E').Bytes(fields).Byte('P').CString("23").Byte('R').CString("errorMissingColumn").Byte('\0').End();
  std::string mapped = error;
  ASSERT_TRUE(MapErrorPosition(&mapped, [](int p) -> std::optional<int> { return p - 14; }));
  std::string want;
  MessageWriter(&want).Begin('E').Bytes(fields).Byte('P').CString("9").Byte('R').CString("errorMissingColumn").Byte('\0').End();
  EXPECT_EQ(mapped, want);

  mapped = error;  // a position in text the client never sent: dropped
  ASSERT_TRUE(MapErrorPosition(&mapped, [](int) -> std::optional<int> { return std::nullopt; }));
  want.clear();
  MessageWriter(&want).Begin('E').Bytes(fields).Byte('R').CString("errorMissingColumn").Byte('\0').End();
  EXPECT_EQ(mapped, want);

  std::string truncated = error.substr(0, error.size() - 3);  // unchanged when malformed
  const std::string before = truncated;
  EXPECT_FALSE(MapErrorPosition(&truncated, [](int p) -> std::optional<int> { return p; }));
  EXPECT_EQ(truncated, before);
}

TEST(CodecParseErrorFields, ServerStyleFields) {
  // A localized server: 'S' is translated, 'V' is not and wins regardless of order. Unknown
  // fields (position, file, line, routine...) are skipped.
  const std::string tail = "C" + CStr("42P01") + "M" + CStr("relation \"x\" does not exist") + "P" +
                           CStr("15") + "F" + CStr("parse_relation.c") + "L" + CStr("1392") + "R" +
                           CStr("parserOpenTable") + "D" + CStr("det") + "H" + CStr("hint") + '\0';
  ErrorFields e;
  const std::string s_then_v = "S" + CStr("FEHLER") + "V" + CStr("ERROR") + tail;
  ASSERT_TRUE(ParseErrorFields(s_then_v, &e).ok());
  EXPECT_EQ(e.severity, "ERROR");
  const std::string v_then_s = "V" + CStr("ERROR") + "S" + CStr("FEHLER") + tail;
  ASSERT_TRUE(ParseErrorFields(v_then_s, &e).ok());
  EXPECT_EQ(e.severity, "ERROR");
  // Pre-9.6 servers send only 'S'.
  const std::string s_only = "S" + CStr("FATAL") + tail;
  ASSERT_TRUE(ParseErrorFields(s_only, &e).ok());
  EXPECT_EQ(e.severity, "FATAL");
  EXPECT_EQ(e.code, "42P01");
  EXPECT_EQ(e.message, "relation \"x\" does not exist");
  EXPECT_EQ(e.detail, "det");
  EXPECT_EQ(e.hint, "hint");
  // No fields at all.
  const std::string no_fields = "\0"s;
  ASSERT_TRUE(ParseErrorFields(no_fields, &e).ok());
  EXPECT_EQ(e.severity, "");
  EXPECT_EQ(e.code, "");
}

TEST(CodecParseErrorFields, Malformed) {
  const std::string good = "S" + CStr("ERROR") + "C" + CStr("XX000") + "M" + CStr("boom") + '\0';
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoErrorFields, "")));
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoErrorFields, "S" + CStr("ERROR"))));  // no terminator
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoErrorFields, "SERROR")));            // no NUL
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoErrorFields, "S")));
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoErrorFields, good + "x")));          // trailing
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoErrorFields, good + '\0')));
  ExpectEveryPrefixRejected(DoErrorFields, good);
}

TEST(CodecParseReadyForQuery, AllStatuses) {
  for (char tx : {kTxIdle, kTxInBlock, kTxFailed}) {
    std::string raw;
    WriteReadyForQuery(&raw, tx);
    char got = 0;
    ASSERT_TRUE(ParseReadyForQuery(BodyOf(raw, 'Z'), &got).ok());
    EXPECT_EQ(got, tx);
  }
  char got = 0;
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoReadyForQuery, "")));
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoReadyForQuery, "X")));
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoReadyForQuery, "i")));
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoReadyForQuery, "\0"s)));
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoReadyForQuery, "II")));
  EXPECT_TRUE(IsProtocolViolation(ParseReadyForQuery("T\0"s, &got)));
}

TEST(CodecParseParameterStatus, RoundTripAndMalformed) {
  std::string raw;
  WriteParameterStatus(&raw, "server_version", "16.2");
  const std::string body = BodyOf(raw, 'S');
  std::string_view name, value;
  ASSERT_TRUE(ParseParameterStatus(body, &name, &value).ok());
  EXPECT_EQ(name, "server_version");
  EXPECT_EQ(value, "16.2");
  EXPECT_TRUE(Within(name, body));
  EXPECT_TRUE(Within(value, body));
  const std::string empty_pair = "\0\0"s;
  ASSERT_TRUE(ParseParameterStatus(empty_pair, &name, &value).ok());
  EXPECT_EQ(name, "");
  EXPECT_EQ(value, "");

  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoParameterStatus, CStr("a"))));
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoParameterStatus, CStr("a") + "b")));
  EXPECT_TRUE(IsProtocolViolation(ParseExact(DoParameterStatus, CStr("a") + CStr("b") + "c")));
  ExpectEveryPrefixRejected(DoParameterStatus, body);
}

TEST(CodecParseAuthentication, RoundTripAndMalformed) {
  std::string raw;
  WriteAuthentication(&raw, auth::kOk);
  int32_t code = -1;
  std::string_view data = "stale";
  std::string body = BodyOf(raw, 'R');
  ASSERT_TRUE(ParseAuthentication(body, &code, &data).ok());
  EXPECT_EQ(code, auth::kOk);
  EXPECT_TRUE(data.empty());

  raw.clear();
  WriteAuthentication(&raw, auth::kMd5Password, "\x01\x02\x03\x04");
  body = BodyOf(raw, 'R');
  ASSERT_TRUE(ParseAuthentication(body, &code, &data).ok());
  EXPECT_EQ(code, auth::kMd5Password);
  EXPECT_EQ(data, "\x01\x02\x03\x04");
  EXPECT_TRUE(Within(data, body));

  raw.clear();
  WriteAuthenticationSasl(&raw, {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"});
  body = BodyOf(raw, 'R');
  ASSERT_TRUE(ParseAuthentication(body, &code, &data).ok());
  EXPECT_EQ(code, auth::kSasl);
  EXPECT_EQ(data, CStr("SCRAM-SHA-256-PLUS") + CStr("SCRAM-SHA-256") + '\0');

  raw.clear();
  WriteAuthentication(&raw, auth::kSaslFinal, "v=abc");
  body = BodyOf(raw, 'R');
  ASSERT_TRUE(ParseAuthentication(body, &code, &data).ok());
  EXPECT_EQ(code, auth::kSaslFinal);
  EXPECT_EQ(data, "v=abc");

  for (size_t n = 0; n < 4; ++n) {
    EXPECT_TRUE(IsProtocolViolation(ParseExact(DoAuthentication, std::string(n, '\0')))) << n;
  }
}

// =====================================================================================
// Encoder
// =====================================================================================

TEST(CodecEncoder, ReadyForQueryExactBytes) {
  std::string out;
  WriteReadyForQuery(&out, kTxIdle);
  EXPECT_EQ(out, std::string("Z\0\0\0\5I", 6));
  out.clear();
  WriteReadyForQuery(&out, kTxFailed);
  EXPECT_EQ(out, std::string("Z\0\0\0\5E", 6));
}

TEST(CodecEncoder, EmptyMessagesExactBytes) {
  std::string out;
  WriteSync(&out);
  EXPECT_EQ(out, std::string("S\0\0\0\4", 5));
  for (char type : {be::kParseComplete, be::kBindComplete, be::kCloseComplete, be::kNoData,
                    be::kEmptyQueryResponse}) {
    out.clear();
    WriteEmpty(&out, type);
    EXPECT_EQ(out, std::string(1, type) + std::string("\0\0\0\4", 4)) << type;
  }
}

TEST(CodecEncoder, NegotiateProtocolVersionExactBytes) {
  // What PostgreSQL 15 answers a 3.2 client that sent two protocol options: 3.0 (as a whole
  // version word), then the options it does not recognize.
  std::string out;
  WriteNegotiateProtocolVersion(&out, kProtocolVersion3, {"_pq_.a", "_pq_.b"});
  EXPECT_EQ(out, Typed('v', BE32(0x00030000) + BE32(2) + CStr("_pq_.a") + CStr("_pq_.b")));
  EXPECT_EQ(out.substr(0, 5), std::string("v\0\0\0\x1a", 5));
  out.clear();
  WriteNegotiateProtocolVersion(&out, kProtocolVersion3, {});
  EXPECT_EQ(out, std::string("v\0\0\0\x0c\0\3\0\0\0\0\0\0", 13));
}

TEST(CodecEncoder, AppendsToExistingBuffer) {
  std::string out = "prefix";
  WriteSync(&out);
  WriteReadyForQuery(&out, kTxInBlock);
  WriteCommandComplete(&out, "SELECT 3");
  EXPECT_EQ(out, "prefix" + std::string("S\0\0\0\4", 5) + std::string("Z\0\0\0\5T", 6) + "C" +
                     std::string("\0\0\0\x0d", 4) + CStr("SELECT 3"));
}

TEST(CodecEncoder, ErrorResponseFieldOrder) {
  std::string out;
  WriteErrorResponse(&out, Severity::kError, "42601", "syntax error", "near x");
  const std::string body = "S" + CStr("ERROR") + "V" + CStr("ERROR") + "C" + CStr("42601") + "M" +
                           CStr("syntax error") + "D" + CStr("near x") + '\0';
  EXPECT_EQ(out, Typed('E', body));
  // Literal check of the header: 'E', length 4 + 44 = 48.
  EXPECT_EQ(out.substr(0, 5), std::string("E\0\0\0\x30", 5));

  // Without detail there is no 'D' field.
  out.clear();
  WriteErrorResponse(&out, Severity::kFatal, "28P01", "password authentication failed");
  EXPECT_EQ(out, Typed('E', "S" + CStr("FATAL") + "V" + CStr("FATAL") + "C" + CStr("28P01") + "M" +
                                CStr("password authentication failed") + '\0'));

  // Notices and warnings are NoticeResponse ('N').
  out.clear();
  WriteErrorResponse(&out, Severity::kNotice, "00000", "hi");
  EXPECT_EQ(out, Typed('N', "S" + CStr("NOTICE") + "V" + CStr("NOTICE") + "C" + CStr("00000") + "M" +
                                CStr("hi") + '\0'));
  out.clear();
  WriteErrorResponse(&out, Severity::kWarning, "01000", "w");
  EXPECT_EQ(out[0], 'N');
}

TEST(CodecEncoder, WriteErrorFromStatus) {
  std::string out;
  WriteError(&out, Status::Error(sqlstate::kUndefinedDatabase, "database \"x\" does not exist"));
  ErrorFields e;
  const std::string first = BodyOf(out, 'E');
  ASSERT_TRUE(ParseErrorFields(first, &e).ok());
  EXPECT_EQ(e.severity, "ERROR");
  EXPECT_EQ(e.code, "3D000");
  EXPECT_EQ(e.message, "database \"x\" does not exist");

  out.clear();
  WriteError(&out, Status::Unsupported("nope"), Severity::kFatal);
  const std::string body = BodyOf(out, 'E');
  ASSERT_TRUE(ParseErrorFields(body, &e).ok());
  EXPECT_EQ(e.severity, "FATAL");
  EXPECT_EQ(e.code, "0A000");
}

TEST(CodecEncoder, ErrorWithSeverityTurnsFatalIntoError) {
  // A backend FATAL with every field we keep plus some we drop.
  const std::string backend_body = "S" + CStr("FATAL") + "V" + CStr("FATAL") + "C" + CStr("57P01") +
                                   "M" + CStr("terminating connection due to administrator command") +
                                   "D" + CStr("some detail") + "H" + CStr("some hint") + "F" +
                                   CStr("postgres.c") + "L" + CStr("3300") + "R" +
                                   CStr("ProcessInterrupts") + '\0';
  ErrorFields fatal;
  ASSERT_TRUE(ParseErrorFields(backend_body, &fatal).ok());
  ASSERT_EQ(fatal.severity, "FATAL");

  std::string out;
  WriteErrorWithSeverity(&out, fatal, Severity::kError);
  EXPECT_EQ(out, Typed('E', "S" + CStr("ERROR") + "V" + CStr("ERROR") + "C" + CStr("57P01") + "M" +
                                CStr("terminating connection due to administrator command") + "D" +
                                CStr("some detail") + "H" + CStr("some hint") + '\0'));
  const std::string body = BodyOf(out, 'E');
  ErrorFields e;
  ASSERT_TRUE(ParseErrorFields(body, &e).ok());
  EXPECT_EQ(e.severity, "ERROR");
  EXPECT_EQ(e.code, fatal.code);
  EXPECT_EQ(e.message, fatal.message);
  EXPECT_EQ(e.detail, fatal.detail);
  EXPECT_EQ(e.hint, fatal.hint);

  // Without detail/hint those fields are omitted.
  ErrorFields bare;
  bare.severity = "FATAL";
  bare.code = "08006";
  bare.message = "server closed the connection";
  out.clear();
  WriteErrorWithSeverity(&out, bare, Severity::kError);
  EXPECT_EQ(out, Typed('E', "S" + CStr("ERROR") + "V" + CStr("ERROR") + "C" + CStr("08006") + "M" +
                                CStr("server closed the connection") + '\0'));
}

TEST(CodecEncoder, DataRowWithNull) {
  std::string out;
  WriteDataRow(&out, {std::string_view("42"), std::nullopt, std::string_view(""), std::string_view("\0x"sv)});
  const std::string body = BE16(4) + BE32(2) + "42" + std::string("\xff\xff\xff\xff", 4) + BE32(0) +
                           BE32(2) + "\0x"s;
  EXPECT_EQ(out, Typed('D', body));
  out.clear();
  WriteDataRow(&out, {std::nullopt});
  EXPECT_EQ(out, std::string("D\0\0\0\x0a\0\x01\xff\xff\xff\xff", 11));
  out.clear();
  WriteDataRow(&out, {});
  EXPECT_EQ(out, std::string("D\0\0\0\x06\0\0", 7));
}

TEST(CodecEncoder, TextRowDescription) {
  std::string out;
  WriteTextRowDescription(&out, {"id", "name"});
  std::string expected_body = BE16(2);
  for (std::string_view n : {"id", "name"}) {
    expected_body += CStr(n) + BE32(0) + BE16(0) + BE32(25) + BE16(0xffff) + BE32(0xffffffff) + BE16(0);
  }
  EXPECT_EQ(out, Typed('T', expected_body));
}

TEST(CodecEncoder, AuthenticationAndKeyData) {
  std::string out;
  WriteAuthentication(&out, auth::kOk);
  EXPECT_EQ(out, std::string("R\0\0\0\x08\0\0\0\0", 9));
  out.clear();
  WriteAuthenticationSasl(&out, {"SCRAM-SHA-256"});
  EXPECT_EQ(out, Typed('R', BE32(10) + CStr("SCRAM-SHA-256") + '\0'));
  out.clear();
  WriteBackendKeyData(&out, 0x01020304, -2);
  EXPECT_EQ(out, std::string("K\0\0\0\x0c\x01\x02\x03\x04\xff\xff\xff\xfe", 13));
  out.clear();
  WriteParameterStatus(&out, "TimeZone", "UTC");
  EXPECT_EQ(out, Typed('S', CStr("TimeZone") + CStr("UTC")));
}

TEST(CodecEncoder, FrontendMessagesExactBytes) {
  std::string out;
  WriteQuery(&out, "SELECT 1");
  EXPECT_EQ(out, std::string("Q\0\0\0\x0dSELECT 1\0", 14));
  out.clear();
  WriteParse(&out, "s", "SELECT $1", {23});
  EXPECT_EQ(out, Typed('P', CStr("s") + CStr("SELECT $1") + BE16(1) + BE32(23)));
  out.clear();
  WriteDescribe(&out, 'P', "c");
  EXPECT_EQ(out, std::string("D\0\0\0\x07Pc\0", 8));
  out.clear();
  WriteClose(&out, 'S', "");
  EXPECT_EQ(out, std::string("C\0\0\0\x06S\0", 7));
}

TEST(CodecEncoder, StartupAndCancelExactBytes) {
  std::string out;
  WriteStartup(&out, {{"user", "bob"}});
  EXPECT_EQ(out, std::string("\0\0\0\x12\0\x03\0\0user\0bob\0\0", 18));
  out.clear();
  WriteCancelRequest(&out, 7, -1);
  EXPECT_EQ(out, std::string("\0\0\0\x10\x04\xd2\x16\x2e\0\0\0\x07\xff\xff\xff\xff", 16));
}

TEST(CodecEncoder, MessageWriterIntegers) {
  std::string out;
  MessageWriter w(&out);
  w.Begin('x').Int16(-1).Int16(0x1234).Int16(std::numeric_limits<int16_t>::min())
      .Int32(-2).Int32(0x7f000001).Byte('\0').Bytes("ab").CString("");
  w.End();
  EXPECT_EQ(out, "x" + BE32(4 + 2 + 2 + 2 + 4 + 4 + 1 + 2 + 1) +
                     std::string("\xff\xff\x12\x34\x80\x00\xff\xff\xff\xfe\x7f\x00\x00\x01\x00" "ab" "\x00", 18));
  MessageReader r(std::string_view(out).substr(5));
  int16_t i16 = 0;
  int32_t i32 = 0;
  ASSERT_TRUE(r.ReadInt16(&i16));
  EXPECT_EQ(i16, -1);
  ASSERT_TRUE(r.ReadInt16(&i16));
  EXPECT_EQ(i16, 0x1234);
  ASSERT_TRUE(r.ReadInt16(&i16));
  EXPECT_EQ(i16, std::numeric_limits<int16_t>::min());
  ASSERT_TRUE(r.ReadInt32(&i32));
  EXPECT_EQ(i32, -2);
  ASSERT_TRUE(r.ReadInt32(&i32));
  EXPECT_EQ(i32, 0x7f000001);
}

TEST(CodecEncoder, BindRenamedKeepsRemainderByteIdentical) {
  std::string original;
  MessageWriter w(&original);
  w.Begin(fe::kBind).CString("").CString("s1");
  w.Int16(1).Int16(1);
  w.Int16(2).Int32(4).Bytes("\0\0\0\x2a"s).Int32(-1);
  w.Int16(1).Int16(1);
  w.End();

  Framer f(Framer::Phase::kRegular, kMaxLen);
  Frame frame;
  size_t consumed = 0;
  ASSERT_EQ(f.Next(original, &frame, &consumed), DecodeResult::kReady);
  BindHeader h;
  ASSERT_TRUE(ParseBindHeader(frame.body, &h).ok());
  ASSERT_EQ(h.statement, "s1");

  std::string renamed;
  WriteBindRenamed(&renamed, h.portal, "mosaic_s1_shard_0003", h.rest);
  ASSERT_EQ(f.Next(renamed, &frame, &consumed), DecodeResult::kReady);
  EXPECT_EQ(consumed, renamed.size());
  BindHeader h2;
  ASSERT_TRUE(ParseBindHeader(frame.body, &h2).ok());
  EXPECT_EQ(h2.portal, "");
  EXPECT_EQ(h2.statement, "mosaic_s1_shard_0003");
  EXPECT_EQ(h2.rest, h.rest);  // byte-identical remainder
  EXPECT_EQ(renamed.size(), original.size() + std::string_view("mosaic_s1_shard_0003").size() - 2);
  EXPECT_EQ(std::string_view(renamed).substr(renamed.size() - h.rest.size()), h.rest);
  // Identical to building the renamed Bind directly.
  std::string direct;
  MessageWriter d(&direct);
  d.Begin(fe::kBind).CString("").CString("mosaic_s1_shard_0003");
  d.Int16(1).Int16(1);
  d.Int16(2).Int32(4).Bytes("\0\0\0\x2a"s).Int32(-1);
  d.Int16(1).Int16(1);
  d.End();
  EXPECT_EQ(renamed, direct);
  // And it still fully parses.
  BindMessage b;
  ASSERT_TRUE(ParseBind(frame.body, &b).ok());
  ASSERT_EQ(b.params.size(), 2u);
  EXPECT_EQ(*b.params[0], "\0\0\0\x2a"s);
  EXPECT_FALSE(b.params[1].has_value());

  // Renaming to the unnamed statement and back works too.
  std::string unnamed;
  WriteBindRenamed(&unnamed, "p", "", h.rest);
  EXPECT_EQ(unnamed, Typed('B', CStr("p") + CStr("") + std::string(h.rest)));
}

// =====================================================================================
// Randomized robustness
// =====================================================================================

// All parsers; each also checks that successful results point inside the body.
std::vector<std::pair<const char*, BodyParser>> CheckedParsers() {
  return {
      {"Startup",
       [](std::string_view b) {
         StartupPacket p;
         Status s = ParseStartupPacket(b, &p);
         if (s.ok()) {
           for (const auto& [k, v] : p.parameters) EXPECT_TRUE(Within(k, b) && Within(v, b));
         } else if (s.sqlstate() == sqlstate::kFeatureNotSupported) {
           return Status::OK();  // allowed for startup packets only
         }
         return s;
       }},
      {"Query",
       [](std::string_view b) {
         QueryMessage m;
         Status s = ParseQuery(b, &m);
         if (s.ok()) { EXPECT_TRUE(Within(m.sql, b)); }
         return s;
       }},
      {"Parse",
       [](std::string_view b) {
         ParseMessage m;
         Status s = ParseParse(b, &m);
         if (s.ok()) {
           EXPECT_TRUE(Within(m.name, b) && Within(m.query, b));
           EXPECT_LE(m.param_types.size() * 4, b.size());
         }
         return s;
       }},
      {"BindHeader",
       [](std::string_view b) {
         BindHeader m;
         Status s = ParseBindHeader(b, &m);
         if (s.ok()) { EXPECT_TRUE(Within(m.portal, b) && Within(m.statement, b) && Within(m.rest, b)); }
         return s;
       }},
      {"Bind",
       [](std::string_view b) {
         BindMessage m;
         Status s = ParseBind(b, &m);
         if (s.ok()) {
           EXPECT_TRUE(Within(m.portal, b) && Within(m.statement, b));
           for (const auto& p : m.params) {
             if (p) { EXPECT_TRUE(Within(*p, b)); }
           }
           EXPECT_TRUE(m.param_formats.size() <= 1 || m.param_formats.size() == m.params.size());
         }
         return s;
       }},
      {"Describe",
       [](std::string_view b) {
         DescribeMessage m;
         Status s = ParseDescribe(b, &m);
         if (s.ok()) { EXPECT_TRUE((m.kind == 'S' || m.kind == 'P') && Within(m.name, b)); }
         return s;
       }},
      {"Close",
       [](std::string_view b) {
         CloseMessage m;
         Status s = ParseClose(b, &m);
         if (s.ok()) { EXPECT_TRUE((m.kind == 'S' || m.kind == 'P') && Within(m.name, b)); }
         return s;
       }},
      {"Execute",
       [](std::string_view b) {
         ExecuteMessage m;
         Status s = ParseExecute(b, &m);
         if (s.ok()) { EXPECT_TRUE(Within(m.portal, b)); }
         return s;
       }},
      {"ErrorFields",
       [](std::string_view b) {
         ErrorFields m;
         Status s = ParseErrorFields(b, &m);
         if (s.ok()) {
           for (auto v : {m.severity, m.code, m.message, m.detail, m.hint}) EXPECT_TRUE(Within(v, b));
         }
         return s;
       }},
      {"ReadyForQuery", DoReadyForQuery},
      {"ParameterStatus",
       [](std::string_view b) {
         std::string_view n, v;
         Status s = ParseParameterStatus(b, &n, &v);
         if (s.ok()) { EXPECT_TRUE(Within(n, b) && Within(v, b)); }
         return s;
       }},
      {"Authentication",
       [](std::string_view b) {
         int32_t code = 0;
         std::string_view data;
         Status s = ParseAuthentication(b, &code, &data);
         if (s.ok()) { EXPECT_TRUE(Within(data, b)); }
         return s;
       }},
  };
}

// Random bytes biased towards values that steer parsers into deeper paths (NULs, small counts,
// valid subtypes and format codes, -1 lengths).
std::string RandomBytes(std::mt19937& rng, size_t len) {
  static constexpr char kInteresting[] = {'\0', '\0', '\0', '\x01', '\x02', '\x03', 'S', 'P',
                                          'I',  'T',  'E',  'a',    '\xff', '\x80', '\x7f'};
  std::string s(len, '\0');
  for (auto& c : s) {
    const uint32_t r = rng();
    c = (r & 1) ? static_cast<char>((r >> 8) & 0xff) : kInteresting[(r >> 8) % sizeof(kInteresting)];
  }
  return s;
}

// Runs a byte stream through a Framer until it stops producing frames.
void DrainFramer(Framer::Phase phase, uint32_t max_len, std::string_view stream,
                 const std::vector<std::pair<const char*, BodyParser>>& parsers) {
  Framer f(phase, max_len);
  std::string_view rest = stream;
  for (int guard = 0; guard < 1000; ++guard) {
    Frame frame;
    size_t consumed = 0;
    const DecodeResult r = f.Next(rest, &frame, &consumed);
    if (r == DecodeResult::kError) {
      EXPECT_FALSE(f.error().empty());
      return;
    }
    if (r == DecodeResult::kNeedMoreData) return;
    ASSERT_GE(consumed, phase == Framer::Phase::kStartup ? 4u : 5u);
    ASSERT_LE(consumed, rest.size());
    ASSERT_EQ(frame.raw.size(), consumed);
    ASSERT_EQ(frame.raw.data(), rest.data());
    ASSERT_TRUE(Within(frame.body, frame.raw));
    for (const auto& [name, parse] : parsers) {
      const Status s = parse(frame.body);
      if (!s.ok()) { EXPECT_EQ(s.sqlstate(), sqlstate::kProtocolViolation) << name; }
    }
    rest.remove_prefix(consumed);
  }
}

// Feeds `iterations` random bodies to the parsers whose names satisfy `select`.
void FuzzParsers(uint32_t seed, int iterations, const std::function<bool(std::string_view)>& select) {
  std::vector<std::pair<const char*, BodyParser>> parsers;
  for (auto& p : CheckedParsers()) {
    if (select(p.first)) parsers.push_back(std::move(p));
  }
  ASSERT_FALSE(parsers.empty());
  std::mt19937 rng(seed);
  for (int iter = 0; iter < iterations; ++iter) {
    const std::string bytes = RandomBytes(rng, rng() % 40);
    ExactBuf buf(bytes);
    for (const auto& [name, parse] : parsers) {
      const Status s = parse(buf.view());
      if (!s.ok()) {
        EXPECT_TRUE(IsProtocolViolation(s)) << name << " iteration " << iter;
      }
    }
  }
}

// Parse and Bind get their own tests: a random 2-byte count makes them size a vector for up to
// 65535 entries before noticing the body is too short, which is slow under ASan.
TEST(CodecFuzz, RandomBytesThroughParsersNeverCrash) {
  FuzzParsers(0xC0DEC, 2500, [](std::string_view n) { return n != "Parse" && n != "Bind"; });
}
TEST(CodecFuzz, RandomBytesThroughParseNeverCrash) {
  FuzzParsers(0xC0DED, 1500, [](std::string_view n) { return n == "Parse"; });
}
TEST(CodecFuzz, RandomBytesThroughBindNeverCrash) {
  FuzzParsers(0xC0DEE, 1500, [](std::string_view n) { return n == "Bind"; });
}

TEST(CodecFuzz, RandomBytesThroughFramerNeverCrash) {
  const auto parsers = CheckedParsers();
  std::mt19937 rng(0xF4A3E);
  for (int iter = 0; iter < 2500; ++iter) {
    const std::string bytes = RandomBytes(rng, rng() % 40);
    ExactBuf buf(bytes);
    DrainFramer(Framer::Phase::kRegular, 64, buf.view(), parsers);
    DrainFramer(Framer::Phase::kStartup, 64, buf.view(), parsers);
  }
}

TEST(CodecFuzz, MutatedValidMessagesNeverCrash) {
  const auto parsers = CheckedParsers();
  std::vector<std::string> seeds;
  for (const auto& s : AllSamples()) seeds.push_back(s.body);
  seeds.push_back(SampleBindBody());
  seeds.push_back(BE32(kProtocolVersion3) + CStr("user") + CStr("a") + '\0');
  seeds.push_back(BE32(kCancelRequestCode) + BE32(1) + BE32(2));
  const auto samples = AllSamples();
  std::mt19937 rng(20240611);
  for (int iter = 0; iter < 2000; ++iter) {
    std::string body = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 4) {
        case 0:  // overwrite a byte
          if (!body.empty()) body[rng() % body.size()] = RandomBytes(rng, 1)[0];
          break;
        case 1:  // truncate
          body.resize(body.empty() ? 0 : rng() % body.size());
          break;
        case 2:  // insert bytes
          body.insert(body.empty() ? 0 : rng() % (body.size() + 1), RandomBytes(rng, 1 + rng() % 4));
          break;
        default:  // append
          body += RandomBytes(rng, 1 + rng() % 4);
          break;
      }
    }
    ExactBuf buf(body);
    for (const auto& [name, parse] : parsers) {
      const Status s = parse(buf.view());
      if (!s.ok()) { EXPECT_TRUE(IsProtocolViolation(s)) << name << " iteration " << iter; }
    }
    // The same body framed as a message of a random sample type, possibly with a lying length.
    std::string raw = Typed(samples[rng() % samples.size()].type, body);
    if (rng() % 4 == 0) raw[1 + rng() % 4] = RandomBytes(rng, 1)[0];
    ExactBuf framed(raw);
    DrainFramer(Framer::Phase::kRegular, 256, framed.view(), parsers);
  }
}

// Parsers called on a default-constructed (null-data) view must fail cleanly, too.
//
// Regression test: MessageReader::ReadCString (src/protocol/reader.h) used to call
// memchr(data_.data() + pos_, '\0', remaining()) even when remaining() == 0; for a
// default-constructed std::string_view that is memchr(nullptr, 0, 0), undefined behaviour (glibc
// declares the argument nonnull) that UBSan reports as "null pointer passed as argument 1".
// Query, Parse, Bind, BindHeader, Execute and ParameterStatus reached it. Frames produced by Framer
// never have a null body, so only direct callers were exposed. The parsers run in a forked child
// (EXPECT_EXIT) so that a sanitizer abort fails this test only instead of killing the whole
// mosaic_unit_tests process; the child names each parser on stderr first, so the failure message
// shows which one died.
TEST(CodecNullBodyDeathTest, ParsersRejectNullEmptyBody) {
  const auto parsers = CheckedParsers();
  EXPECT_EXIT(
      {
        int bad = 0;
        for (const auto& [name, parse] : parsers) {
          std::fprintf(stderr, "parsing a null body with %s\n", name);
          const Status s = parse(std::string_view{});
          if (s.ok() || s.sqlstate() != sqlstate::kProtocolViolation) {
            std::fprintf(stderr, "%s returned %s\n", name, s.ToString().c_str());
            ++bad;
          }
        }
        std::exit(bad == 0 ? 0 : 3);
      },
      ::testing::ExitedWithCode(0), "");
  Framer f(Framer::Phase::kRegular, kMaxLen);
  Frame frame;
  size_t consumed = 0;
  EXPECT_EQ(f.Next(std::string_view{}, &frame, &consumed), DecodeResult::kNeedMoreData);
  Framer st(Framer::Phase::kStartup, kMaxLen);
  EXPECT_EQ(st.Next(std::string_view{}, &frame, &consumed), DecodeResult::kNeedMoreData);
}

}  // namespace
}  // namespace mosaic::protocol

namespace mosaic::protocol {
namespace {

TEST(CodecRegression, WriteErrorWithSeverityNoticeIsANoticeResponse) {
  ErrorFields f;
  f.severity = "FATAL";
  f.code = "57P01";
  f.message = "terminating connection";
  std::string out;
  WriteErrorWithSeverity(&out, f, Severity::kNotice);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out[0], be::kNoticeResponse);
  ErrorFields back;
  ASSERT_TRUE(ParseErrorFields(std::string_view(out).substr(5), &back).ok());
  EXPECT_EQ(back.severity, "NOTICE");
  EXPECT_EQ(back.code, "57P01");
}

TEST(CodecRegression, CountsLargerThanTheBodyFailBeforeAllocating) {
  // 65535 claimed parameters in a few bytes: malformed, whatever the count says.
  std::string parse = std::string("s\0q\0", 4) + std::string("\xff\xff", 2);
  ParseMessage p;
  EXPECT_EQ(ParseParse(parse, &p).sqlstate(), "08P01");
  EXPECT_TRUE(p.param_types.empty());
  std::string bind = std::string("\0\0", 2) + std::string("\0\0", 2) + std::string("\xff\xff", 2);
  BindMessage b;
  EXPECT_EQ(ParseBind(bind, &b).sqlstate(), "08P01");
  EXPECT_TRUE(b.params.empty());
}

}  // namespace
}  // namespace mosaic::protocol
