// router/value's binary codecs against the bytes PostgreSQL 15's send functions produce (taken
// from numeric_send(), float8send(), ... on a real server).
#include "router/value.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "router/decimal.h"

namespace mosaic::router::value {
namespace {

std::string Hex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

struct Known {
  uint32_t oid;
  std::string_view text;   // as BinaryToText prints it
  std::string_view bytes;  // hex of what PostgreSQL sends
};

// Each: PostgreSQL's bytes decode to the text, and the text encodes to PostgreSQL's bytes.
constexpr Known kKnown[] = {
    {kNumericOid, "0", "0000000000000000"},
    {kNumericOid, "-1.5", "000200004000000100011388"},
    {kNumericOid, "12345.678", "0003000100000003000109291a7c"},
    {kNumericOid, "NaN", "00000000c0000000"},
    {kNumericOid, "Infinity", "00000000d0000020"},
    {kNumericOid, "-Infinity", "00000000f0000020"},
    {kNumericOid, "0.00", "0000000000000002"},
    {kNumericOid, "100000000", "00010002000000000001"},
    {kNumericOid, "0.00012", "0002ffff00000005000107d0"},
    {kNumericOid, "-0.5", "0001ffff400000011388"},
    {kFloat8Oid, "NaN", "7ff8000000000000"},
    {kFloat8Oid, "-0", "8000000000000000"},
    {kFloat4Oid, "1.5", "3fc00000"},
    {kDateOid, "2024-01-05", "00002242"},
    {kDateOid, "0044-03-15 BC", "fff49d7b"},
    {kTimestampTzOid, "2024-01-05 10:00:00.5+00", "0002b12eae12c920"},
    {kTimestampOid, "infinity", "7fffffffffffffff"},
    {kTimeOid, "13:45:01.25", "0000000b868121d0"},
    {kBoolOid, "t", "01"},
    {kInt2Oid, "-2", "fffe"},
    {kInt8Oid, "-9223372036854775808", "8000000000000000"},
    {kUuidOid, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc999c0b4ef8bb6d6bb9bd380a11"},
    {kByteaOid, "\\x00ff10", "00ff10"},
    {kTextOid, "héllo", "68c3a96c6c6f"},
};

TEST(ValueBinaryTest, MatchesPostgresByteLayouts) {
  for (const Known& k : kKnown) {
    SCOPED_TRACE(std::string(k.text));
    auto text = BinaryToText(k.oid, Hex(k.bytes));
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    EXPECT_EQ(*text, k.text);
    auto bytes = TextToBinary(k.oid, k.text);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    EXPECT_EQ(*bytes, Hex(k.bytes));
  }
}

TEST(ValueBinaryTest, NumericBinaryRoundTripsThroughDecimal) {
  for (std::string_view v : {"0", "-1.5", "12345.678", "NaN", "1e-20", "-99999999.99990000", "10000", "0.0001"}) {
    auto d = Decimal::Parse(v);
    ASSERT_TRUE(d.ok()) << v;
    auto back = Decimal::FromBinary(d->ToBinary());
    ASSERT_TRUE(back.ok()) << v;
    EXPECT_EQ(back->ToString(), d->ToString()) << v;
  }
}

TEST(ValueBinaryTest, MalformedAndUnknownAreRefused) {
  EXPECT_EQ(BinaryToText(kInt4Oid, Hex("0001")).status().sqlstate(), "22P03");
  EXPECT_EQ(BinaryToText(kNumericOid, Hex("0001")).status().sqlstate(), "22P03");
  auto interval = BinaryToText(kIntervalOid, Hex("00"));
  EXPECT_EQ(interval.status().sqlstate(), "0A000");
  EXPECT_NE(interval.status().message().find("interval"), std::string::npos) << interval.status().message();
  EXPECT_EQ(TextToBinary(kIntervalOid, "1 day").status().sqlstate(), "0A000");
  EXPECT_EQ(TextToBinary(kInt2Oid, "40000").status().sqlstate(), "22003");
  EXPECT_EQ(TextToBinary(kInt4Oid, "x").status().sqlstate(), "22P02");
  EXPECT_FALSE(HasBinaryCodec(kIntervalOid));
  EXPECT_TRUE(HasBinaryCodec(kNumericOid));
}

}  // namespace
}  // namespace mosaic::router::value
