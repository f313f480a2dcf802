#include "router/decimal.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "router/value.h"

namespace mosaic::router {
namespace {

// The value of a Result that must be OK.
template <typename T>
T Ok(Result<T> r) {
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.status().ToString());
  return r.ok() ? std::move(r).value() : T();
}

Decimal D(std::string_view text) {
  auto d = Decimal::Parse(text);
  EXPECT_TRUE(d.ok()) << text;
  return d.ok() ? *d : Decimal();
}

TEST(DecimalTest, ParseAndPrintLikeNumericOut) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"0", "0"}, {"-0.00", "0.00"}, {".5", "0.5"}, {"5.", "5"}, {"  -1.50e1 ", "-15.0"}, {"1e-3", "0.001"},
      {"1.23e5", "123000"}, {"007.100", "7.100"}, {"+3", "3"}, {"NaN", "NaN"}, {"nan", "NaN"},
      {"-Infinity", "-Infinity"}, {"inf", "Infinity"}, {"123456789012345678901234567890.123", "123456789012345678901234567890.123"},
  };
  for (const auto& [in, out] : cases) EXPECT_EQ(D(in).ToString(), out) << in;
  for (std::string_view bad : {"", "abc", "1e", "--1", "1.2.3", "-nan", ". ", "1 2", "1e1001"}) {
    auto d = Decimal::Parse(bad);
    ASSERT_FALSE(d.ok()) << bad;
    EXPECT_EQ(d.status().sqlstate(), "22P02") << bad;
  }
  EXPECT_EQ(Decimal::Parse("x", "integer").status().message(), "invalid input syntax for type integer: \"x\"");
}

TEST(DecimalTest, CompareIsNumericOrder) {
  EXPECT_EQ(D("1.0").Compare(D("1.00")), 0);
  EXPECT_EQ(D("-0").Compare(D("0.000")), 0);
  EXPECT_LT(D("-2").Compare(D("-1.5")), 0);
  EXPECT_LT(D("0.09").Compare(D("0.1")), 0);
  EXPECT_GT(D("10").Compare(D("9.999")), 0);
  EXPECT_LT(D("Infinity").Compare(D("NaN")), 0);
  EXPECT_EQ(D("NaN").Compare(D("NaN")), 0);
  EXPECT_LT(D("-Infinity").Compare(D("-1e100")), 0);
}

TEST(DecimalTest, AddKeepsTheLargerScale) {
  EXPECT_EQ(Decimal::Add(D("1.50"), D("2.250")).ToString(), "3.750");
  EXPECT_EQ(Decimal::Add(D("1.5"), D("-1.5")).ToString(), "0.0");
  EXPECT_EQ(Decimal::Add(D("-0.75"), D("0.25")).ToString(), "-0.50");
  EXPECT_EQ(Decimal::Add(D("99999999999999999999"), D("1")).ToString(), "100000000000000000000");
  EXPECT_EQ(Decimal::Add(D("-5"), D("3.2")).ToString(), "-1.8");
  EXPECT_EQ(Decimal::Add(D("Infinity"), D("1")).ToString(), "Infinity");
  EXPECT_EQ(Decimal::Add(D("Infinity"), D("-Infinity")).ToString(), "NaN");
  EXPECT_EQ(Decimal::Add(D("NaN"), D("1")).ToString(), "NaN");
}

TEST(DecimalTest, DivideMatchesPostgresScaleAndRounding) {
  // Expected strings are what PostgreSQL 15 prints for `SELECT a::numeric / b`.
  struct Case { std::string a, b, out; };
  const std::vector<Case> cases = {
      {"1", "3", "0.33333333333333333333"},
      {"2", "3", "0.66666666666666666667"},
      {"-2", "3", "-0.66666666666666666667"},
      {"10", "4", "2.5000000000000000"},
      {"22", "7", "3.1428571428571429"},
      {"0", "5", "0.00000000000000000000"},
      {"100", "3", "33.3333333333333333"},
      {"99999", "1", "99999.000000000000"},
      {"1.5", "2", "0.75000000000000000000"},
      {"12345678901234567890", "3", "4115226300411522630"},
      {"1", "30000", "0.000033333333333333333333"},
      {"0.00001", "7", "0.000001428571428571428571"},
      {"-7.5", "2", "-3.7500000000000000"},
      {"5", "-2", "-2.5000000000000000"},
      {"9999", "9999", "1.00000000000000000000"},
      {"10000", "9999", "1.0001000100010001"},
      {"1.000", "3", "0.33333333333333333333"},
      {"123.456", "0.0007", "176365.714285714286"},
      {"1e-20", "3", "0.0000000000000000000033333333333333333333"},
      {"1", "Infinity", "0"},
      {"3", "2", "1.5000000000000000"},
      {"60", "3", "20.0000000000000000"},
      {"3.00", "3", "1.00000000000000000000"},
  };
  for (const auto& c : cases) {
    auto q = Decimal::Divide(D(c.a), D(c.b));
    ASSERT_TRUE(q.ok()) << c.a << "/" << c.b;
    EXPECT_EQ(q->ToString(), c.out) << c.a << "/" << c.b;
  }
  auto zero = Decimal::Divide(D("1"), D("0.0"));
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.status().sqlstate(), "22012");
  EXPECT_EQ(Decimal::Divide(D("NaN"), D("0"))->ToString(), "NaN");
}

TEST(DecimalTest, IntegersAndNormalizedText) {
  EXPECT_EQ(Decimal::FromInt(INT64_MIN).ToString(), "-9223372036854775808");
  EXPECT_EQ(*D("-9223372036854775808").ToInt64(), INT64_MIN);
  EXPECT_EQ(*D("42.000").ToInt64(), 42);
  EXPECT_FALSE(D("42.5").ToInt64());
  EXPECT_FALSE(D("9223372036854775808").ToInt64());
  EXPECT_FALSE(D("NaN").ToInt64());
  EXPECT_EQ(D("1.500").ToNormalizedString(), "1.5");
  EXPECT_EQ(D("0.000").ToNormalizedString(), "0");
  EXPECT_EQ(D("100").ToNormalizedString(), "100");
}

TEST(DecimalTest, OrderKeyRoundTripAndOrder) {
  const std::vector<std::string> sorted = {"-Infinity", "-1000", "-999.99", "-1", "-0.5", "-0.49", "-0.0001", "0",
                                           "0.0001", "0.49", "0.5", "1", "999.99", "1000", "Infinity", "NaN"};
  for (size_t i = 0; i < sorted.size(); ++i) {
    std::string k = D(sorted[i]).OrderKey();
    auto back = Decimal::FromOrderKey(k);
    ASSERT_TRUE(back) << sorted[i];
    EXPECT_EQ(back->Compare(D(sorted[i])), 0) << sorted[i];
    if (i + 1 < sorted.size()) {
      EXPECT_LT(k, D(sorted[i + 1]).OrderKey()) << sorted[i];
    }
  }
  EXPECT_FALSE(Decimal::FromOrderKey(""));
  EXPECT_FALSE(Decimal::FromOrderKey("\x04\x80"));
}

TEST(DecimalTest, BinaryFormat) {
  auto be16 = [](int v) { return std::string{static_cast<char>((v >> 8) & 0xFF), static_cast<char>(v & 0xFF)}; };
  // 1.50: ndigits 2, weight 0, sign +, dscale 2, digits 1 5000.
  auto d = Decimal::FromBinary(be16(2) + be16(0) + be16(0) + be16(2) + be16(1) + be16(5000));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->ToString(), "1.50");
  // 0 with dscale 3: no digits.
  EXPECT_EQ(Decimal::FromBinary(be16(0) + be16(0) + be16(0) + be16(3))->ToString(), "0.000");
  EXPECT_EQ(Decimal::FromBinary(be16(0) + be16(0) + be16(0xD000) + be16(0))->ToString(), "Infinity");
  EXPECT_EQ(Decimal::FromBinary(be16(1) + be16(0) + be16(0) + be16(0) + be16(10000)).status().sqlstate(), "22P03");
  EXPECT_EQ(Decimal::FromBinary(be16(1)).status().sqlstate(), "22P03");
}

TEST(DecimalTest, FloatOutputLikeFloat8Out) {
  using value::FormatFloat4;
  using value::FormatFloat8;
  EXPECT_EQ(FormatFloat8(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(FormatFloat8(1e20), "1e+20");
  EXPECT_EQ(FormatFloat8(1e15), "1e+15");
  EXPECT_EQ(FormatFloat8(1e14), "100000000000000");
  EXPECT_EQ(FormatFloat8(123456789012345.6), "123456789012345.6");
  EXPECT_EQ(FormatFloat8(123456789012345678.0), "1.2345678901234568e+17");
  EXPECT_EQ(FormatFloat8(1.5e-7), "1.5e-07");
  EXPECT_EQ(FormatFloat8(1e-5), "1e-05");
  EXPECT_EQ(FormatFloat8(0.0001), "0.0001");
  EXPECT_EQ(FormatFloat8(-0.0), "-0");
  EXPECT_EQ(FormatFloat8(1.5), "1.5");
  EXPECT_EQ(FormatFloat8(1.0 / 0.0), "Infinity");
  EXPECT_EQ(FormatFloat8(-1.0 / 0.0), "-Infinity");
  EXPECT_EQ(FormatFloat8(std::nan("")), "NaN");
  EXPECT_EQ(FormatFloat4(0.1f + 0.2f), "0.3");
  EXPECT_EQ(FormatFloat4(1e6f), "1e+06");
  EXPECT_EQ(FormatFloat4(123456.0f), "123456");
  EXPECT_EQ(FormatFloat4(1234567.0f), "1.234567e+06");
  EXPECT_EQ(FormatFloat4(3e-45f), "3e-45");
}

TEST(DecimalTest, FloatInput) {
  EXPECT_EQ(Ok(value::ParseFloat8(" 1.5 ")), 1.5);
  EXPECT_EQ(Ok(value::ParseFloat8("-Infinity")), -1.0 / 0.0);
  EXPECT_TRUE(std::isnan(Ok(value::ParseFloat8("NaN"))));
  EXPECT_EQ(Ok(value::ParseFloat8("+1e3")), 1000.0);
  EXPECT_EQ(value::ParseFloat8("abc").status().sqlstate(), "22P02");
  EXPECT_EQ(value::ParseFloat8("+-1").status().sqlstate(), "22P02");
  EXPECT_EQ(value::ParseFloat8("1e400").status().sqlstate(), "22003");
}

}  // namespace
}  // namespace mosaic::router
