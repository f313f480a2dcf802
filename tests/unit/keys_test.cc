#include "router/keys.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mosaic::router {
namespace {

// The value of a Result that must be OK.
template <typename T>
T Ok(Result<T> r) {
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.status().ToString());
  return r.ok() ? std::move(r).value() : T();
}

std::string Key(KeyType type, std::string_view text) {
  auto k = EncodeKey(type, text);
  EXPECT_TRUE(k.ok()) << text << ": " << (k.ok() ? "" : k.status().ToString());
  return k.ok() ? *k : std::string();
}

// Each value must encode strictly below the next (a hand-sorted list in PostgreSQL order).
void ExpectAscending(KeyType type, const std::vector<std::string>& sorted) {
  for (size_t i = 0; i + 1 < sorted.size(); ++i) {
    EXPECT_LT(Key(type, sorted[i]), Key(type, sorted[i + 1])) << sorted[i] << " < " << sorted[i + 1];
  }
}

void ExpectError(KeyType type, std::string_view text, std::string_view sqlstate) {
  auto k = EncodeKey(type, text);
  ASSERT_FALSE(k.ok()) << text;
  EXPECT_EQ(k.status().sqlstate(), sqlstate) << text << ": " << k.status().message();
}

std::string Be(uint64_t v, int bytes) {
  std::string out;
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
  return out;
}

TEST(KeysTest, TypeNamesAndOids) {
  EXPECT_EQ(KeyTypeFromName("int4"), KeyType::kInt);
  EXPECT_EQ(KeyTypeFromName("BIGINT"), KeyType::kInt);
  EXPECT_EQ(KeyTypeFromName("varchar"), KeyType::kText);
  EXPECT_EQ(KeyTypeFromName("bpchar"), KeyType::kBpchar);
  EXPECT_EQ(KeyTypeFromName("timestamp with time zone"), KeyType::kTimestampTz);
  EXPECT_EQ(KeyTypeFromName("jsonb"), KeyType::kUnsupported);
  EXPECT_EQ(KeyTypeFromOid(20), KeyType::kInt);
  EXPECT_EQ(KeyTypeFromOid(1700), KeyType::kNumeric);
  EXPECT_EQ(KeyTypeFromOid(2950), KeyType::kUuid);
  EXPECT_EQ(KeyTypeFromOid(1184), KeyType::kTimestampTz);
  EXPECT_EQ(KeyTypeFromOid(3802), KeyType::kUnsupported);
  EXPECT_EQ(KeyTypeName(KeyType::kTimestampTz), "timestamptz");
}

TEST(KeysTest, IntOrderAndForms) {
  ExpectAscending(KeyType::kInt, {"-9223372036854775808", "-1000", "-2", "-1", "0", "1", "2", "10", "255", "256",
                                  "65536", "9223372036854775807"});
  EXPECT_EQ(Key(KeyType::kInt, " +0012 "), Key(KeyType::kInt, "12"));
  EXPECT_EQ(Key(KeyType::kInt, "-0"), Key(KeyType::kInt, "0"));
  ExpectError(KeyType::kInt, "abc", "22P02");
  ExpectError(KeyType::kInt, "1.5", "22P02");
  ExpectError(KeyType::kInt, "", "22P02");
  ExpectError(KeyType::kInt, "1_000", "22P02");
  ExpectError(KeyType::kInt, "9223372036854775808", "22003");
  auto bad = EncodeKey(KeyType::kInt, "abc");
  EXPECT_EQ(bad.status().message(), "invalid input syntax for type integer: \"abc\"");
}

TEST(KeysTest, NumericOrderAndEquality) {
  ExpectAscending(KeyType::kNumeric,
                  {"-Infinity", "-1e100", "-123.45", "-12.5", "-12.4", "-1", "-0.999", "-0.99", "-0.1", "-0.0001",
                   "0", "1e-30", "0.0001", "0.1", "0.123", "0.99", "0.999", "1", "1.0000000000000000000001", "1.5",
                   "2", "9.99", "10", "12.4", "12.5", "100", "1e100", "Infinity", "NaN"});
  EXPECT_EQ(Key(KeyType::kNumeric, "1.0"), Key(KeyType::kNumeric, "1.00"));
  EXPECT_EQ(Key(KeyType::kNumeric, "1.0"), Key(KeyType::kNumeric, "1"));
  EXPECT_EQ(Key(KeyType::kNumeric, "100"), Key(KeyType::kNumeric, "1e2"));
  EXPECT_EQ(Key(KeyType::kNumeric, "-0.00"), Key(KeyType::kNumeric, "0"));
  EXPECT_EQ(Key(KeyType::kNumeric, " -1.50e1 "), Key(KeyType::kNumeric, "-15"));
  EXPECT_EQ(Key(KeyType::kNumeric, "nan"), Key(KeyType::kNumeric, "NaN"));
  EXPECT_EQ(Key(KeyType::kNumeric, "+inf"), Key(KeyType::kNumeric, "Infinity"));
  EXPECT_EQ(Key(KeyType::kNumeric, ".5"), Key(KeyType::kNumeric, "0.5"));
  ExpectError(KeyType::kNumeric, "abc", "22P02");
  ExpectError(KeyType::kNumeric, "-nan", "22P02");
  ExpectError(KeyType::kNumeric, "1e", "22P02");
  ExpectError(KeyType::kNumeric, "1e1001", "22P02");
}

TEST(KeysTest, TextAndBpchar) {
  ExpectAscending(KeyType::kText, {"", "A", "B", "a", "a b", "ab", "b", "\xc3\xa9"});
  EXPECT_NE(Key(KeyType::kText, "a "), Key(KeyType::kText, "a"));
  EXPECT_EQ(Key(KeyType::kBpchar, "a  "), Key(KeyType::kBpchar, "a"));
  ExpectAscending(KeyType::kBpchar, {"", "a", "a b", "b"});
}

TEST(KeysTest, DateOrderAndForms) {
  ExpectAscending(KeyType::kDate, {"-infinity", "4714-11-24 BC", "0044-03-15 BC", "0001-12-31 BC", "0001-01-01",
                                   "1999-12-31", "2000-01-01", "2000-02-29", "2000-03-01", "2024-01-05",
                                   "12345-01-01", "infinity"});
  EXPECT_EQ(Key(KeyType::kDate, "2000-01-01"), std::string("\x80\x00\x00\x00", 4));
  EXPECT_EQ(Key(KeyType::kDate, "2024-01-05 10:00:00+05"), Key(KeyType::kDate, "2024-01-05"));
  EXPECT_EQ(Key(KeyType::kDate, "2024-01-05T10:00"), Key(KeyType::kDate, "2024-01-05"));
  EXPECT_EQ(Key(KeyType::kDate, "epoch"), Key(KeyType::kDate, "1970-01-01"));
  ExpectError(KeyType::kDate, "abc", "22007");
  ExpectError(KeyType::kDate, "2024-13-01", "22008");
  ExpectError(KeyType::kDate, "2024-02-30", "22008");
  ExpectError(KeyType::kDate, "2023-02-29", "22008");
  ExpectError(KeyType::kDate, "0000-01-01", "22008");
  ExpectError(KeyType::kDate, "4714-11-23 BC", "22008");
}

TEST(KeysTest, TimestampOrderAndForms) {
  ExpectAscending(KeyType::kTimestamp,
                  {"-infinity", "0044-03-15 10:00:00 BC", "1999-12-31 23:59:59.999999", "2000-01-01", "2000-01-01 00:00:00.000001",
                   "2024-01-05 10:00", "2024-01-05 10:00:00.5", "2024-01-05 10:00:01", "294276-12-31 23:59:59.999999",
                   "infinity"});
  EXPECT_EQ(Key(KeyType::kTimestamp, "2024-01-05T10:00:00"), Key(KeyType::kTimestamp, "2024-01-05 10:00"));
  // timestamp without time zone ignores an offset, as PostgreSQL does.
  EXPECT_EQ(Key(KeyType::kTimestamp, "2024-01-05 10:00:00+05"), Key(KeyType::kTimestamp, "2024-01-05 10:00"));
  EXPECT_EQ(Key(KeyType::kTimestamp, "2024-01-05 23:59:60"), Key(KeyType::kTimestamp, "2024-01-06 00:00"));
  EXPECT_EQ(Key(KeyType::kTimestamp, "2024-01-05 24:00:00"), Key(KeyType::kTimestamp, "2024-01-06"));
  // Fractions beyond microseconds are rounded.
  EXPECT_EQ(Key(KeyType::kTimestamp, "2024-01-05 10:00:00.1234567"), Key(KeyType::kTimestamp, "2024-01-05 10:00:00.123457"));
  ExpectError(KeyType::kTimestamp, "2024-01-05 25:00", "22008");
  ExpectError(KeyType::kTimestamp, "2024-01-05 10:61", "22008");
  ExpectError(KeyType::kTimestamp, "2024-01-05 10", "22007");
  ExpectError(KeyType::kTimestamp, "300000-01-01", "22008");
  ExpectError(KeyType::kTimestamp, "2024-01-05 10:00 xyz", "22007");
}

TEST(KeysTest, TimestampTzConvertsToUtc) {
  const std::string utc = Key(KeyType::kTimestampTz, "2024-01-05 10:00:00+00");
  EXPECT_EQ(Key(KeyType::kTimestampTz, "2024-01-05 10:00:00"), utc);  // no offset = UTC
  EXPECT_EQ(Key(KeyType::kTimestampTz, "2024-01-05T10:00:00Z"), utc);
  EXPECT_EQ(Key(KeyType::kTimestampTz, "2024-01-05 15:30:00+05:30"), utc);
  EXPECT_EQ(Key(KeyType::kTimestampTz, "2024-01-05 15:30+0530"), utc);
  EXPECT_EQ(Key(KeyType::kTimestampTz, "2024-01-05 05:00:00-05"), utc);
  EXPECT_EQ(Key(KeyType::kTimestampTz, "2024-01-05 10:19:32+00:19:32"), utc);
  EXPECT_EQ(Key(KeyType::kTimestampTz, "2024-01-05 10:00:00 UTC"), utc);
  ExpectAscending(KeyType::kTimestampTz, {"2024-01-05 11:00:00+02", "2024-01-05 10:00:00+00", "2024-01-05 06:00:00-05"});
  ExpectError(KeyType::kTimestampTz, "2024-01-05 10:00:00+16", "22008");
  auto bad = EncodeKey(KeyType::kTimestampTz, "nope");
  EXPECT_EQ(bad.status().message(), "invalid input syntax for type timestamp with time zone: \"nope\"");
}

TEST(KeysTest, Uuid) {
  const std::string k = Key(KeyType::kUuid, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  EXPECT_EQ(k.size(), 16u);
  EXPECT_EQ(Key(KeyType::kUuid, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"), k);
  EXPECT_EQ(Key(KeyType::kUuid, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}"), k);
  EXPECT_EQ(Key(KeyType::kUuid, "a0eebc999c0b4ef8bb6d6bb9bd380a11"), k);
  EXPECT_EQ(Key(KeyType::kUuid, "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11"), k);
  ExpectAscending(KeyType::kUuid, {"00000000-0000-0000-0000-000000000000", "0000000f-0000-0000-0000-000000000000",
                                   "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "ffffffff-ffff-ffff-ffff-ffffffffffff"});
  ExpectError(KeyType::kUuid, "x", "22P02");
  ExpectError(KeyType::kUuid, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", "22P02");
  ExpectError(KeyType::kUuid, "a0e-ebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "22P02");
  ExpectError(KeyType::kUuid, " a0eebc999c0b4ef8bb6d6bb9bd380a11", "22P02");
}

TEST(KeysTest, UnsupportedType) {
  auto k = EncodeKey(KeyType::kUnsupported, "x");
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().sqlstate(), "0A000");
}

TEST(KeysTest, BinaryIntegersAndConversions) {
  const std::string seven = Key(KeyType::kInt, "7");
  EXPECT_EQ(Ok(EncodeBinaryKey(KeyType::kInt, 21, Be(7, 2))), seven);
  EXPECT_EQ(Ok(EncodeBinaryKey(KeyType::kInt, 23, Be(7, 4))), seven);
  EXPECT_EQ(Ok(EncodeBinaryKey(KeyType::kInt, 20, Be(7, 8))), seven);
  EXPECT_EQ(Ok(EncodeBinaryKey(KeyType::kInt, 23, Be(0xFFFFFFFF, 4))), Key(KeyType::kInt, "-1"));
  EXPECT_EQ(Ok(EncodeBinaryKey(KeyType::kInt, 25, "7")), seven);  // a text parameter is read as text
  EXPECT_EQ(EncodeBinaryKey(KeyType::kInt, 23, Be(7, 8)).status().sqlstate(), "22P03");
  EXPECT_EQ(EncodeBinaryKey(KeyType::kInt, 701, Be(0, 8)).status().sqlstate(), "0A000");
  // int param for a numeric key: exact.
  EXPECT_EQ(Ok(EncodeBinaryKey(KeyType::kNumeric, 23, Be(7, 4))), Key(KeyType::kNumeric, "7.00"));
}

TEST(KeysTest, BinaryNumeric) {
  // 12345.678: ndigits 3, weight 1, sign +, dscale 3, digits 1 2345 6780.
  std::string pos = Be(3, 2) + Be(1, 2) + Be(0, 2) + Be(3, 2) + Be(1, 2) + Be(2345, 2) + Be(6780, 2);
  EXPECT_EQ(Ok(EncodeBinaryKey(KeyType::kNumeric, 1700, pos)), Key(KeyType::kNumeric, "12345.678"));
  // -0.05: ndigits 1, weight -1, sign -, dscale 2, digits 500.
  std::string neg = Be(1, 2) + Be(0xFFFF, 2) + Be(0x4000, 2) + Be(2, 2) + Be(500, 2);
  EXPECT_EQ(Ok(EncodeBinaryKey(KeyType::kNumeric, 1700, neg)), Key(KeyType::kNumeric, "-0.05"));
  std::string nan = Be(0, 2) + Be(0, 2) + Be(0xC000, 2) + Be(0, 2);
  EXPECT_EQ(Ok(EncodeBinaryKey(KeyType::kNumeric, 1700, nan)), Key(KeyType::kNumeric, "NaN"));
  // 1e8 with trailing digits stripped: ndigits 1, weight 2, digit 1.
  std::string big = Be(1, 2) + Be(2, 2) + Be(0, 2) + Be(0, 2) + Be(1, 2);
  EXPECT_EQ(Ok(EncodeBinaryKey(KeyType::kNumeric, 1700, big)), Key(KeyType::kNumeric, "100000000"));
  EXPECT_EQ(Ok(EncodeBinaryKey(KeyType::kInt, 1700, big)), Key(KeyType::kInt, "100000000"));
  EXPECT_EQ(EncodeBinaryKey(KeyType::kInt, 1700, pos).status().sqlstate(), "0A000");  // not an integer
  EXPECT_EQ(EncodeBinaryKey(KeyType::kNumeric, 1700, pos.substr(0, 9)).status().sqlstate(), "22P03");
}

TEST(KeysTest, BinaryDatesTimestampsUuidText) {
  EXPECT_EQ(Ok(EncodeBinaryKey(KeyType::kDate, 1082, Be(0, 4))), Key(KeyType::kDate, "2000-01-01"));
  EXPECT_EQ(Ok(EncodeBinaryKey(KeyType::kDate, 1082, Be(0x7FFFFFFF, 4))), Key(KeyType::kDate, "infinity"));
  EXPECT_EQ(Ok(EncodeBinaryKey(KeyType::kTimestamp, 1114, Be(86400000000ull, 8))), Key(KeyType::kTimestamp, "2000-01-02"));
  EXPECT_EQ(Ok(EncodeBinaryKey(KeyType::kTimestampTz, 1184, Be(static_cast<uint64_t>(-1), 8))),
            Key(KeyType::kTimestampTz, "1999-12-31 23:59:59.999999+00"));
  EXPECT_EQ(Ok(EncodeBinaryKey(KeyType::kTimestamp, 1082, Be(1, 4))), Key(KeyType::kTimestamp, "2000-01-02"));
  EXPECT_EQ(EncodeBinaryKey(KeyType::kDate, 1114, Be(0, 8)).status().sqlstate(), "0A000");  // lossy
  EXPECT_EQ(EncodeBinaryKey(KeyType::kTimestamp, 1114, Be(0, 4)).status().sqlstate(), "22P03");
  std::string uuid = Key(KeyType::kUuid, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  EXPECT_EQ(Ok(EncodeBinaryKey(KeyType::kUuid, 2950, uuid)), uuid);
  EXPECT_EQ(EncodeBinaryKey(KeyType::kUuid, 2950, "short").status().sqlstate(), "22P03");
  EXPECT_EQ(Ok(EncodeBinaryKey(KeyType::kText, 1043, "abc")), "abc");
  EXPECT_EQ(Ok(EncodeBinaryKey(KeyType::kBpchar, 1042, "abc  ")), "abc");
  EXPECT_EQ(EncodeBinaryKey(KeyType::kText, 23, Be(1, 4)).status().sqlstate(), "0A000");
}

TEST(KeysTest, CanonicalTenant) {
  EXPECT_EQ(Ok(CanonicalTenant(KeyType::kInt, " +0042 ")), "42");
  EXPECT_EQ(Ok(CanonicalTenant(KeyType::kInt, "-7")), "-7");
  auto frac = CanonicalTenant(KeyType::kInt, "1.5");
  ASSERT_FALSE(frac.ok());
  EXPECT_EQ(frac.status().sqlstate(), "22P02");
  EXPECT_EQ(Ok(CanonicalTenant(KeyType::kUuid, "{A0EEBC999C0B4EF8BB6D6BB9BD380A11}")), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  EXPECT_EQ(CanonicalTenant(KeyType::kUuid, "nope").status().sqlstate(), "22P02");
  EXPECT_EQ(Ok(CanonicalTenant(KeyType::kText, " Acme ")), " Acme ");
  EXPECT_EQ(Ok(CanonicalTenant(KeyType::kBpchar, "acme  ")), "acme");
  EXPECT_EQ(Ok(CanonicalTenant(KeyType::kNumeric, "1.50")), "1.5");
  EXPECT_EQ(Ok(CanonicalTenant(KeyType::kUnsupported, "  x  ")), "x");
}

TEST(KeysTest, DisplayRoundTrip) {
  struct Case { KeyType type; std::string in, out; };
  const std::vector<Case> cases = {
      {KeyType::kInt, "-42", "-42"},
      {KeyType::kInt, "9223372036854775807", "9223372036854775807"},
      {KeyType::kNumeric, "1.50", "1.5"},
      {KeyType::kNumeric, "-0.00012", "-0.00012"},
      {KeyType::kNumeric, "1e20", "100000000000000000000"},
      {KeyType::kNumeric, "0", "0"},
      {KeyType::kNumeric, "NaN", "NaN"},
      {KeyType::kNumeric, "-Infinity", "-Infinity"},
      {KeyType::kText, "héllo", "héllo"},
      {KeyType::kDate, "2024-02-29", "2024-02-29"},
      {KeyType::kDate, "0044-03-15 BC", "0044-03-15 BC"},
      {KeyType::kDate, "-infinity", "-infinity"},
      {KeyType::kTimestamp, "2024-01-05T10:00:00.250", "2024-01-05 10:00:00.25"},
      {KeyType::kTimestamp, "1900-03-01 00:00:01", "1900-03-01 00:00:01"},
      {KeyType::kTimestampTz, "2024-01-05 15:30:00+05:30", "2024-01-05 10:00:00+00"},
      {KeyType::kTimestampTz, "0044-03-15 10:00:00+00 BC", "0044-03-15 10:00:00+00 BC"},
      {KeyType::kUuid, "A0EEBC999C0B4EF8BB6D6BB9BD380A11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(DecodeKeyForDisplay(c.type, Key(c.type, c.in)), c.out) << c.in;
  }
  EXPECT_EQ(DecodeKeyForDisplay(KeyType::kInt, "xy"), "<invalid key \\x7879>");
}

}  // namespace
}  // namespace mosaic::router
