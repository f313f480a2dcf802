#include "router/agg_finish.h"

#include <gtest/gtest.h>

#include <string>

#include "router/value.h"

namespace mosaic::router {
namespace {

using sql::AggFinish;

AggFinish Cast(std::string type, std::vector<int32_t> args = {}) {
  AggFinish f;
  f.kind = AggFinish::Kind::kCast;
  f.type = std::move(type);
  f.args = std::move(args);
  return f;
}

AggFinish Round(std::vector<int32_t> args = {}) {
  AggFinish f;
  f.kind = AggFinish::Kind::kRound;
  f.args = std::move(args);
  return f;
}

// The converted text, or "ERROR <sqlstate>".
std::string Apply(const AggFinish& f, uint32_t from, std::string_view text, int float_digits = 1) {
  if (Status s = CheckFinish(f, from); !s.ok()) return "ERROR " + std::string(s.sqlstate());
  auto v = ApplyFinish(f, from, text, float_digits);
  return v.ok() ? *v : "ERROR " + std::string(v.status().sqlstate());
}

TEST(AggFinishTest, TypesOfTheSupportedCasts) {
  EXPECT_EQ(FinishType(Cast("int4"))->oid, value::kInt4Oid);
  EXPECT_EQ(FinishType(Cast("int4"))->typlen, 4);
  EXPECT_EQ(FinishType(Cast("int2"))->oid, value::kInt2Oid);
  EXPECT_EQ(FinishType(Cast("float8"))->typlen, 8);
  EXPECT_EQ(FinishType(Cast("text"))->oid, value::kTextOid);
  EXPECT_EQ(FinishType(Cast("numeric"))->typmod, -1);
  EXPECT_EQ(FinishType(Cast("numeric", {10, 2}))->typmod, (10 << 16 | 2) + 4);
  EXPECT_EQ(FinishType(Cast("numeric", {5}))->typmod, (5 << 16) + 4);
  EXPECT_EQ(FinishType(Round({2}))->oid, value::kNumericOid);
}

TEST(AggFinishTest, OtherCastsAreRefusedNamingThem) {
  for (const AggFinish& f : {Cast("varchar", {5}), Cast("money"), Cast("int4[]"), Cast("public.int4"),
                             Cast("int4", {3}), Cast("numeric", {0}), Cast("numeric", {3, 4}), Cast("numeric", {3, -1})}) {
    auto t = FinishType(f);
    ASSERT_FALSE(t.ok()) << f.type;
    EXPECT_EQ(t.status().sqlstate(), "0A000");
  }
  AggFinish unreadable = Cast("numeric", {10, 2});
  unreadable.unreadable = true;
  EXPECT_FALSE(FinishType(unreadable).ok());
  EXPECT_NE(FinishType(Cast("money")).status().message().find("money"), std::string::npos);
  // Source types it does not convert.
  EXPECT_EQ(Apply(Cast("int4"), value::kTextOid, "1"), "ERROR 0A000");
  EXPECT_EQ(Apply(Cast("int4"), value::kOidOid, "1"), "ERROR 0A000");
  EXPECT_EQ(Apply(Round(), value::kFloat8Oid, "1.5"), "ERROR 0A000");
  EXPECT_EQ(Apply(Cast("text"), value::kIntervalOid, "1 day"), "ERROR 0A000");
}

TEST(AggFinishTest, IntegersRangeCheckedAndRoundedAsPostgres) {
  EXPECT_EQ(Apply(Cast("int4"), value::kInt8Oid, "2147483647"), "2147483647");
  EXPECT_EQ(Apply(Cast("int4"), value::kInt8Oid, "2147483648"), "ERROR 22003");
  EXPECT_EQ(Apply(Cast("int2"), value::kInt8Oid, "-32769"), "ERROR 22003");
  // numeric: half away from zero.
  EXPECT_EQ(Apply(Cast("int4"), value::kNumericOid, "2.5000000000000000"), "3");
  EXPECT_EQ(Apply(Cast("int4"), value::kNumericOid, "-2.5"), "-3");
  EXPECT_EQ(Apply(Cast("int8"), value::kNumericOid, "9223372036854775807.5"), "ERROR 22003");
  EXPECT_EQ(Apply(Cast("int4"), value::kNumericOid, "NaN"), "ERROR 0A000");
  // floats: half to even (rint).
  EXPECT_EQ(Apply(Cast("int4"), value::kFloat8Oid, "2.5"), "2");
  EXPECT_EQ(Apply(Cast("int4"), value::kFloat8Oid, "3.5"), "4");
  EXPECT_EQ(Apply(Cast("int4"), value::kFloat4Oid, "-0.5"), "0");
  EXPECT_EQ(Apply(Cast("int4"), value::kFloat8Oid, "2147483647.4"), "2147483647");
  EXPECT_EQ(Apply(Cast("int4"), value::kFloat8Oid, "2147483647.5"), "ERROR 22003");
  EXPECT_EQ(Apply(Cast("int8"), value::kFloat8Oid, "NaN"), "ERROR 22003");
}

TEST(AggFinishTest, NumericTypmodAndRound) {
  EXPECT_EQ(Apply(Cast("numeric", {10, 2}), value::kNumericOid, "2.3333333333333333"), "2.33");
  EXPECT_EQ(Apply(Cast("numeric", {10, 2}), value::kNumericOid, "-2.345"), "-2.35");
  EXPECT_EQ(Apply(Cast("numeric", {10, 2}), value::kInt8Oid, "7"), "7.00");
  EXPECT_EQ(Apply(Cast("numeric", {3, 2}), value::kNumericOid, "9.995"), "ERROR 22003");
  EXPECT_EQ(Apply(Cast("numeric", {3, 2}), value::kNumericOid, "9.994"), "9.99");
  EXPECT_EQ(Apply(Cast("numeric", {2}), value::kNumericOid, "0.5"), "1");
  EXPECT_EQ(Apply(Cast("numeric", {3, 3}), value::kNumericOid, "0.9995"), "ERROR 22003");
  EXPECT_EQ(Apply(Cast("numeric", {5, 1}), value::kNumericOid, "NaN"), "NaN");
  EXPECT_EQ(Apply(Cast("numeric", {5, 1}), value::kNumericOid, "Infinity"), "ERROR 22003");
  EXPECT_EQ(Apply(Cast("numeric"), value::kNumericOid, "1.50"), "1.50");
  // float8_numeric: 15 significant digits (float4: 6).
  EXPECT_EQ(Apply(Cast("numeric"), value::kFloat8Oid, "0.30000000000000004"), "0.3");
  EXPECT_EQ(Apply(Cast("numeric"), value::kFloat8Oid, "1e+20"), "100000000000000000000");
  EXPECT_EQ(Apply(Cast("numeric"), value::kFloat4Oid, "0.1"), "0.1");
  EXPECT_EQ(Apply(Cast("numeric"), value::kFloat8Oid, "-Infinity"), "-Infinity");
  EXPECT_EQ(Apply(Round(), value::kNumericOid, "2.5000000000000000"), "3");
  EXPECT_EQ(Apply(Round({2}), value::kNumericOid, "1.005"), "1.01");
  EXPECT_EQ(Apply(Round({5}), value::kNumericOid, "1.5"), "1.50000");
  EXPECT_EQ(Apply(Round({-2}), value::kNumericOid, "1250.5"), "1300");
}

TEST(AggFinishTest, FloatsPrintedAsTheSessionWould) {
  EXPECT_EQ(Apply(Cast("float8"), value::kNumericOid, "2.3333333333333333"), "2.3333333333333335");
  EXPECT_EQ(Apply(Cast("float8"), value::kNumericOid, "2.3333333333333333", 0), "2.33333333333333");
  EXPECT_EQ(Apply(Cast("float8"), value::kInt8Oid, "1000000000000000", 0), "1e+15");
  EXPECT_EQ(Apply(Cast("float8"), value::kInt8Oid, "1000000000000000"), "1e+15");
  EXPECT_EQ(Apply(Cast("float4"), value::kInt8Oid, "16777217"), "1.6777216e+07");
  EXPECT_EQ(Apply(Cast("float4"), value::kNumericOid, "0.1"), "0.1");
  EXPECT_EQ(Apply(Cast("float4"), value::kFloat8Oid, "1e300"), "ERROR 22003");
  EXPECT_EQ(Apply(Cast("float4"), value::kFloat8Oid, "1e-300"), "ERROR 22003");
  EXPECT_EQ(Apply(Cast("float8"), value::kFloat4Oid, "0.1"), "0.10000000149011612");
  EXPECT_EQ(Apply(Cast("float8"), value::kNumericOid, "NaN"), "NaN");
}

TEST(AggFinishTest, TextIsTheOutputText) {
  EXPECT_EQ(Apply(Cast("text"), value::kInt8Oid, "42"), "42");
  EXPECT_EQ(Apply(Cast("text"), value::kNumericOid, "1.50"), "1.50");
  EXPECT_EQ(Apply(Cast("text"), value::kBoolOid, "t"), "true");
  EXPECT_EQ(Apply(Cast("text"), value::kBpcharOid, "ab  "), "ab");
  EXPECT_EQ(Apply(Cast("text"), value::kDateOid, "2024-01-05"), "2024-01-05");
}

}  // namespace
}  // namespace mosaic::router
