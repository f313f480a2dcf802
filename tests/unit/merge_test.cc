#include "router/merge.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "protocol/codec.h"
#include "protocol/reader.h"

namespace mosaic::router {
namespace {

using Agg = MergeSpec::Agg;
using Row = std::vector<std::optional<std::string>>;
constexpr std::nullopt_t N = std::nullopt;

constexpr uint32_t kInt8 = 20, kInt4 = 23, kText = 25, kFloat4 = 700, kFloat8 = 701, kBpchar = 1042, kDate = 1082,
                   kTimestampTz = 1184, kInterval = 1186, kNumeric = 1700, kBool = 16, kJson = 114;

struct Col {
  std::string name;
  uint32_t oid;
  int16_t format = 0;
};

std::string RowDescriptionBody(const std::vector<Col>& cols) {
  std::string msg;
  protocol::MessageWriter w(&msg);
  w.Begin(protocol::be::kRowDescription).Int16(static_cast<int16_t>(cols.size()));
  for (const Col& c : cols) {
    w.CString(c.name).Int32(1234).Int16(1).Int32(static_cast<int32_t>(c.oid)).Int16(-1).Int32(-1).Int16(c.format);
  }
  w.End();
  return msg.substr(5);
}

std::string DataRowBody(const Row& row) {
  std::vector<std::optional<std::string_view>> values;
  for (const auto& v : row) values.push_back(v ? std::optional<std::string_view>(*v) : std::nullopt);
  std::string msg;
  protocol::WriteDataRow(&msg, values);
  return msg.substr(5);
}

struct Field {
  std::string name;
  uint32_t oid;
  int16_t typlen;
};

struct Output {
  std::vector<Field> fields;
  std::vector<Row> rows;
  std::string tag;
};

Output Decode(const std::string& bytes) {
  Output out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    char type = bytes[pos];
    uint32_t len = protocol::LoadBigEndian32(bytes.data() + pos + 1);
    protocol::MessageReader r(std::string_view(bytes).substr(pos + 5, len - 4));
    pos += 1 + len;
    if (type == protocol::be::kRowDescription) {
      int16_t n = 0;
      EXPECT_TRUE(r.ReadInt16(&n));
      for (int i = 0; i < n; ++i) {
        std::string_view name;
        int32_t table = 0, oid = 0, typmod = 0;
        int16_t attnum = 0, typlen = 0, format = 0;
        EXPECT_TRUE(r.ReadCString(&name) && r.ReadInt32(&table) && r.ReadInt16(&attnum) && r.ReadInt32(&oid) &&
                    r.ReadInt16(&typlen) && r.ReadInt32(&typmod) && r.ReadInt16(&format));
        out.fields.push_back(Field{std::string(name), static_cast<uint32_t>(oid), typlen});
      }
    } else if (type == protocol::be::kDataRow) {
      int16_t n = 0;
      EXPECT_TRUE(r.ReadInt16(&n));
      Row row;
      for (int i = 0; i < n; ++i) {
        int32_t l = 0;
        EXPECT_TRUE(r.ReadInt32(&l));
        std::string_view v;
        if (l < 0) {
          row.push_back(N);
        } else {
          EXPECT_TRUE(r.ReadBytes(static_cast<size_t>(l), &v));
          row.push_back(std::string(v));
        }
      }
      EXPECT_TRUE(r.AtEnd());
      out.rows.push_back(row);
    } else if (type == protocol::be::kCommandComplete) {
      std::string_view tag;
      EXPECT_TRUE(r.ReadCString(&tag));
      out.tag = std::string(tag);
    } else {
      ADD_FAILURE() << "unexpected message " << type;
    }
  }
  return out;
}

// Feeds each source's RowDescription, rows and CommandComplete, then finishes.
Status Merge(const MergeSpec& spec, const std::vector<Col>& cols, const std::vector<std::vector<Row>>& sources,
             Output* result, Merger** keep = nullptr) {
  static thread_local std::optional<Merger> merger;
  merger.emplace(spec, static_cast<int>(sources.size()));
  for (size_t s = 0; s < sources.size(); ++s) {
    int src = static_cast<int>(s);
    if (!cols.empty()) {
      EXPECT_TRUE(merger->Add(src, protocol::be::kRowDescription, RowDescriptionBody(cols)).ok());
    }
    for (const Row& row : sources[s]) {
      Status st = merger->Add(src, protocol::be::kDataRow, DataRowBody(row));
      EXPECT_TRUE(st.ok()) << st.ToString();
    }
    EXPECT_TRUE(merger->Add(src, protocol::be::kCommandComplete, std::string("SELECT 1\0", 9)).ok());
  }
  if (keep) *keep = &*merger;
  std::string out = "unchanged";
  Status st = merger->Finish(&out, true);
  if (!st.ok()) {
    EXPECT_EQ(out, "unchanged");  // nothing written on failure
    return st;
  }
  EXPECT_EQ(out.substr(0, 9), "unchanged");
  *result = Decode(out.substr(9));
  return st;
}

Output MustMerge(const MergeSpec& spec, const std::vector<Col>& cols, const std::vector<std::vector<Row>>& sources) {
  Output out;
  Status st = Merge(spec, cols, sources, &out);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

MergeSpec Plain(std::vector<int> columns) {
  MergeSpec spec;
  for (int c : columns) spec.outputs.push_back({c});
  return spec;
}

MergeSpec Aggregate(std::vector<MergeSpec::Output> outputs, std::vector<int> group_by = {}) {
  MergeSpec spec;
  spec.outputs = std::move(outputs);
  spec.aggregate = true;
  spec.group_by = std::move(group_by);
  return spec;
}

MergeSpec::Sort Asc(int output) { return {output, false, false}; }
MergeSpec::Sort Desc(int output) { return {output, true, true}; }

TEST(MergeTest, ConcatenatesInSourceOrder) {
  Output out = MustMerge(Plain({0, 1}), {{"id", kInt4}, {"name", kText}},
                         {{{"1", "a"}, {"2", N}}, {}, {{"3", "c"}}});
  EXPECT_EQ(out.rows, (std::vector<Row>{{"1", "a"}, {"2", N}, {"3", "c"}}));
  EXPECT_EQ(out.tag, "SELECT 3");
  ASSERT_EQ(out.fields.size(), 2u);
  EXPECT_EQ(out.fields[1].name, "name");
  EXPECT_EQ(out.fields[1].oid, kText);
}

TEST(MergeTest, DropsHiddenColumns) {
  Output out = MustMerge(Plain({1}), {{"id", kInt4}, {"name", kText}}, {{{"1", "a"}}, {{"2", "b"}}});
  EXPECT_EQ(out.rows, (std::vector<Row>{{"a"}, {"b"}}));
  ASSERT_EQ(out.fields.size(), 1u);
  EXPECT_EQ(out.fields[0].name, "name");
}

TEST(MergeTest, NoOutputsMeansEveryColumn) {
  Output out = MustMerge(MergeSpec{}, {{"a", kInt4}, {"b", kText}}, {{{"1", "x"}}, {{"2", N}}});
  EXPECT_EQ(out.rows, (std::vector<Row>{{"1", "x"}, {"2", N}}));
  EXPECT_EQ(out.fields.size(), 2u);
}

TEST(MergeTest, HiddenSortKeysAreNotSent) {
  // SELECT name FROM t ORDER BY id: the node returns (name, id), the client sees name.
  MergeSpec spec = Plain({0, 1});
  spec.visible_outputs = 1;
  spec.order_by = {Asc(1)};
  Output out = MustMerge(spec, {{"name", kText}, {"id", kInt8}}, {{{"b", "2"}, {"d", "4"}}, {{"a", "1"}, {"c", "3"}}});
  EXPECT_EQ(out.rows, (std::vector<Row>{{"a"}, {"b"}, {"c"}, {"d"}}));
  ASSERT_EQ(out.fields.size(), 1u);
  EXPECT_EQ(out.fields[0].name, "name");
  // DISTINCT compares the visible columns only.
  spec.distinct = true;
  spec.presorted = false;
  Output d = MustMerge(spec, {{"name", kText}, {"id", kInt8}}, {{{"b", "2"}, {"a", "4"}}, {{"a", "1"}}});
  EXPECT_EQ(d.rows, (std::vector<Row>{{"a"}, {"b"}}));
  // After aggregation: ORDER BY count(*) without selecting it.
  MergeSpec agg = Aggregate({{0}, {1, Agg::kCount}}, {0});
  agg.visible_outputs = 1;
  agg.order_by = {Desc(1)};
  Output a = MustMerge(agg, {{"g", kText}, {"count", kInt8}}, {{{"x", "1"}, {"y", "5"}}, {{"x", "1"}, {"z", "3"}}});
  EXPECT_EQ(a.rows, (std::vector<Row>{{"y"}, {"z"}, {"x"}}));
}

TEST(MergeTest, KWayMergeAscendingNullsLastTiesBySource) {
  MergeSpec spec = Plain({0, 1});
  spec.order_by = {Asc(0)};
  Output out = MustMerge(spec, {{"k", kInt4}, {"src", kText}},
                         {{{"1", "s0"}, {"3", "s0"}, {"10", "s0"}, {N, "s0"}},
                          {{"2", "s1"}, {"3", "s1"}, {"4", "s1"}},
                          {{"-5", "s2"}, {N, "s2"}}});
  EXPECT_EQ(out.rows, (std::vector<Row>{{"-5", "s2"}, {"1", "s0"}, {"2", "s1"}, {"3", "s0"}, {"3", "s1"}, {"4", "s1"},
                                         {"10", "s0"}, {N, "s0"}, {N, "s2"}}));
  EXPECT_EQ(out.tag, "SELECT 9");
}

TEST(MergeTest, KWayMergeDescendingNullsFirstOnTwoKeys) {
  MergeSpec spec = Plain({0, 1});
  spec.order_by = {Desc(0), Asc(1)};
  Output out = MustMerge(spec, {{"d", kDate}, {"n", kNumeric}},
                         {{{N, "1"}, {"2024-01-05", "1.5"}, {"0044-03-15 BC", "1"}},
                          {{"2024-01-05", "1.25"}, {"1999-12-31", "10"}}});
  EXPECT_EQ(out.rows, (std::vector<Row>{{N, "1"}, {"2024-01-05", "1.25"}, {"2024-01-05", "1.5"}, {"1999-12-31", "10"},
                                         {"0044-03-15 BC", "1"}}));
}

TEST(MergeTest, LimitOffsetAndPerSourceCap) {
  MergeSpec spec = Plain({0});
  spec.order_by = {Asc(0)};
  spec.limit = 3;
  spec.offset = 2;
  std::vector<Row> a, b;
  for (int i = 0; i < 10; ++i) {
    a.push_back({std::to_string(2 * i)});
    b.push_back({std::to_string(2 * i + 1)});
  }
  Merger* merger = nullptr;
  Output out;
  ASSERT_TRUE(Merge(spec, {{"k", kInt8}}, {a, b}, &out, &merger).ok());
  EXPECT_EQ(out.rows, (std::vector<Row>{{"2"}, {"3"}, {"4"}}));
  EXPECT_EQ(out.tag, "SELECT 3");
  EXPECT_EQ(merger->buffered_rows(), 10u);  // 5 per source: no source contributes past OFFSET + LIMIT
  EXPECT_GT(merger->buffered_bytes(), 0u);

  spec.limit = 0;
  EXPECT_EQ(MustMerge(spec, {{"k", kInt8}}, {a, b}).tag, "SELECT 0");
  spec.limit = std::nullopt;
  spec.offset = 19;
  EXPECT_EQ(MustMerge(spec, {{"k", kInt8}}, {a, b}).rows, (std::vector<Row>{{"19"}}));
}

TEST(MergeTest, UnsortedInputIsSortedStably) {
  MergeSpec spec = Plain({0, 1});
  spec.order_by = {Asc(0)};
  spec.presorted = false;
  Output out = MustMerge(spec, {{"t", kBpchar}, {"i", kInt4}},
                         {{{"b", "1"}, {"a ", "2"}, {"B", "3"}}, {{"a", "4"}, {N, "5"}, {"b  ", "6"}}});
  EXPECT_EQ(out.rows, (std::vector<Row>{{"B", "3"}, {"a ", "2"}, {"a", "4"}, {"b", "1"}, {"b  ", "6"}, {N, "5"}}));
}

TEST(MergeTest, SortsFloatsTimestampsAndBools) {
  MergeSpec spec = Plain({0});
  spec.order_by = {Asc(0)};
  spec.presorted = false;
  Output f = MustMerge(spec, {{"f", kFloat8}}, {{{"NaN"}, {"1e+20"}, {"-0"}}, {{"-Infinity"}, {"Infinity"}, {"0.5"}}});
  EXPECT_EQ(f.rows, (std::vector<Row>{{"-Infinity"}, {"-0"}, {"0.5"}, {"1e+20"}, {"Infinity"}, {"NaN"}}));
  Output t = MustMerge(spec, {{"t", kTimestampTz}},
                       {{{"2024-01-05 10:00:00+02"}, {"infinity"}}, {{"2024-01-05 09:30:00+00"}, {"-infinity"}}});
  EXPECT_EQ(t.rows, (std::vector<Row>{{"-infinity"}, {"2024-01-05 10:00:00+02"}, {"2024-01-05 09:30:00+00"}, {"infinity"}}));
  Output b = MustMerge(spec, {{"b", kBool}}, {{{"t"}, {"f"}}, {{N}, {"f"}}});
  EXPECT_EQ(b.rows, (std::vector<Row>{{"f"}, {"f"}, {"t"}, {N}}));
}

TEST(MergeTest, OrderingUnsupportedTypesIsRefused) {
  MergeSpec spec = Plain({0});
  spec.order_by = {Asc(0)};
  Output out;
  Status st = Merge(spec, {{"i", kInterval}}, {{{"1 day"}}, {{"2 days"}}}, &out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.sqlstate(), "0A000");
  EXPECT_NE(st.message().find("1186"), std::string::npos) << st.message();
}

TEST(MergeTest, DistinctUsesTypedEquality) {
  MergeSpec spec = Plain({0, 1});
  spec.distinct = true;
  Output out = MustMerge(spec, {{"n", kNumeric}, {"t", kText}},
                         {{{"1.0", "{}"}, {N, "{}"}, {"2", "{}"}}, {{"1.00", "{}"}, {N, "{}"}, {"2", "{ }"}}});
  EXPECT_EQ(out.rows, (std::vector<Row>{{"1.0", "{}"}, {N, "{}"}, {"2", "{}"}, {"2", "{ }"}}));

  spec.order_by = {Desc(0)};
  spec.limit = 2;
  Output sorted = MustMerge(spec, {{"n", kNumeric}, {"t", kText}}, {{{N, "{}"}, {"2", "{}"}}, {{N, "{}"}, {"1", "{}"}}});
  EXPECT_EQ(sorted.rows, (std::vector<Row>{{N, "{}"}, {"2", "{}"}}));
}

TEST(MergeTest, EqualValuesThatPrintDifferentlyAreNotGroupedByText) {
  // '1 mon' = '30 days' in PostgreSQL: DISTINCT and GROUP BY over interval (or jsonb, arrays,
  // citext, ...) cannot be merged by their text.
  MergeSpec distinct = Plain({0});
  distinct.distinct = true;
  Output refused;
  EXPECT_EQ(Merge(distinct, {{"iv", kInterval}}, {{{"1 mon"}}, {{"30 days"}}}, &refused).sqlstate(), "0A000");
  EXPECT_EQ(Merge(Aggregate({{0}, {1, Agg::kCount}}, {0}), {{"iv", kInterval}, {"count", kInt8}},
                  {{{"1 mon", "1"}}, {{"30 days", "2"}}}, &refused).sqlstate(),
            "0A000");
}

TEST(MergeTest, WhatTheClientsSettingsMakeUnreadableIsRefused) {
  // DateStyle other than ISO: the nodes print "02/01/2024", which the merger cannot order.
  MergeSpec sorted = Plain({0});
  sorted.order_by = {Desc(0)};
  sorted.iso_dates = false;
  Output refused;
  EXPECT_EQ(Merge(sorted, {{"d", kDate}}, {{{"02/01/2024"}}, {{"03/01/2024"}}}, &refused).sqlstate(), "0A000");
  MergeSpec max = Aggregate({{0, Agg::kMax}});
  max.iso_dates = false;
  EXPECT_EQ(Merge(max, {{"d", kDate}}, {{{"02/01/2024"}}, {{"03/01/2024"}}}, &refused).sqlstate(), "0A000");
  max.iso_dates = true;  // text needs no DateStyle
  EXPECT_TRUE(Merge(Aggregate({{0, Agg::kMax}}), {{"t", kText}}, {{{"a"}}, {{"b"}}}, &refused).ok());
  // extra_float_digits below 1: the nodes' float sums are rounded before they are added.
  MergeSpec sum = Aggregate({{0, Agg::kSum}});
  sum.exact_floats = false;
  EXPECT_EQ(Merge(sum, {{"f", kFloat8}}, {{{"0.1"}}, {{"0.2"}}}, &refused).sqlstate(), "0A000");
  // avg(real): PostgreSQL averages in double precision, the nodes' partial sums are real.
  EXPECT_EQ(Merge(Aggregate({{0, Agg::kAvg, 1}}), {{"sum", kFloat4}, {"count", kInt8}}, {{{"0.1", "1"}}, {{"0.3", "1"}}},
                  &refused).sqlstate(),
            "0A000");
}


TEST(MergeTest, CountAndIntegerSum) {
  MergeSpec spec = Aggregate({{0, Agg::kCount}, {1, Agg::kSum}, {2, Agg::kSum}});
  Output out = MustMerge(spec, {{"count", kInt8}, {"sum", kInt8}, {"s2", kInt8}},
                         {{{"3", "10", N}}, {{"4", N, N}}, {{"0", "-3", N}}});
  EXPECT_EQ(out.rows, (std::vector<Row>{{"7", "7", N}}));
  EXPECT_EQ(out.tag, "SELECT 1");
}

TEST(MergeTest, UngroupedAggregateOverNoRows) {
  MergeSpec spec = Aggregate({{0, Agg::kCount}, {1, Agg::kSum}, {1, Agg::kAvg, 0}, {1, Agg::kMax}});
  Output out = MustMerge(spec, {{"count", kInt8}, {"sum", kInt8}}, {{}, {}});
  EXPECT_EQ(out.rows, (std::vector<Row>{{"0", N, N, N}}));
  // Not even a RowDescription arrived (e.g. every node returned nothing).
  Output bare = MustMerge(spec, {}, {{}, {}});
  EXPECT_EQ(bare.rows, (std::vector<Row>{{"0", N, N, N}}));
  // With GROUP BY, no rows stay no rows.
  Output grouped = MustMerge(Aggregate({{1}, {0, Agg::kCount}}, {0}), {{"count", kInt8}, {"g", kText}}, {{}, {}});
  EXPECT_TRUE(grouped.rows.empty());
  EXPECT_EQ(grouped.tag, "SELECT 0");
}

TEST(MergeTest, NumericAndFloatSums) {
  Output n = MustMerge(Aggregate({{0, Agg::kSum}}), {{"sum", kNumeric}}, {{{"1.5"}}, {{"2.25"}}, {{"-0.75"}}, {{N}}});
  EXPECT_EQ(n.rows, (std::vector<Row>{{"3.00"}}));
  Output big = MustMerge(Aggregate({{0, Agg::kSum}}), {{"sum", kNumeric}},
                         {{{"99999999999999999999999999999"}}, {{"0.000000000000000000001"}}});
  EXPECT_EQ(big.rows, (std::vector<Row>{{"99999999999999999999999999999.000000000000000000001"}}));
  Output f = MustMerge(Aggregate({{0, Agg::kSum}}), {{"sum", kFloat8}}, {{{"0.1"}}, {{"0.2"}}});
  EXPECT_EQ(f.rows, (std::vector<Row>{{"0.30000000000000004"}}));
  Output e = MustMerge(Aggregate({{0, Agg::kSum}}), {{"sum", kFloat8}}, {{{"1e+20"}}, {{"1"}}});
  EXPECT_EQ(e.rows, (std::vector<Row>{{"1e+20"}}));
  Output inf = MustMerge(Aggregate({{0, Agg::kSum}}), {{"sum", kFloat8}}, {{{"Infinity"}}, {{"1"}}, {{"NaN"}}});
  EXPECT_EQ(inf.rows, (std::vector<Row>{{"NaN"}}));
  Output f4 = MustMerge(Aggregate({{0, Agg::kSum}}), {{"sum", kFloat4}}, {{{"0.1"}}, {{"0.2"}}});
  EXPECT_EQ(f4.rows, (std::vector<Row>{{"0.3"}}));
  Output overflow;
  Status st = Merge(Aggregate({{0, Agg::kSum}}), {{"sum", kFloat8}}, {{{"1e308"}}, {{"1e308"}}}, &overflow);
  EXPECT_EQ(st.sqlstate(), "22003");
}

TEST(MergeTest, BigintOverflowFails) {
  Output out;
  Status st = Merge(Aggregate({{0, Agg::kSum}}), {{"sum", kInt8}}, {{{"9223372036854775807"}}, {{"1"}}}, &out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.sqlstate(), "22003");
  EXPECT_EQ(st.message(), "bigint out of range");
  st = Merge(Aggregate({{0, Agg::kCount}}), {{"count", kInt8}}, {{{"9223372036854775807"}}, {{"1"}}}, &out);
  EXPECT_EQ(st.sqlstate(), "22003");
}

TEST(MergeTest, AvgPrintsWhatPostgresPrints) {
  MergeSpec spec = Aggregate({{0, Agg::kAvg, 1}});
  const std::vector<Col> ints = {{"avg", kInt8}, {"count", kInt8}};
  EXPECT_EQ(MustMerge(spec, ints, {{{"1", "1"}}, {{"2", "1"}}}).rows, (std::vector<Row>{{"1.5000000000000000"}}));
  EXPECT_EQ(MustMerge(spec, ints, {{{"30", "2"}}, {{"30", "1"}}}).rows, (std::vector<Row>{{"20.0000000000000000"}}));
  EXPECT_EQ(MustMerge(spec, ints, {{{"1", "1"}}, {{"0", "2"}}}).rows, (std::vector<Row>{{"0.33333333333333333333"}}));
  EXPECT_EQ(MustMerge(spec, ints, {{{N, "0"}}, {{N, "0"}}}).rows, (std::vector<Row>{{N}}));
  // Integer partial sums beyond int8 are summed exactly.
  EXPECT_EQ(MustMerge(spec, ints, {{{"9223372036854775807", "1"}}, {{"9223372036854775807", "1"}}}).rows,
            (std::vector<Row>{{"9223372036854775807"}}));  // quotient weight 4: scale 0
  const std::vector<Col> numerics = {{"avg", kNumeric}, {"count", kInt8}};
  EXPECT_EQ(MustMerge(spec, numerics, {{{"1.5", "1"}}, {{"2.25", "1"}}}).rows,
            (std::vector<Row>{{"1.8750000000000000"}}));
  EXPECT_EQ(MustMerge(spec, numerics, {{{"3.75", "2"}}, {{"-0.75", "1"}}}).rows,
            (std::vector<Row>{{"1.00000000000000000000"}}));
  const std::vector<Col> floats = {{"avg", kFloat8}, {"count", kInt8}};
  EXPECT_EQ(MustMerge(spec, floats, {{{"1", "1"}}, {{"2", "1"}}}).rows, (std::vector<Row>{{"1.5"}}));
  EXPECT_EQ(MustMerge(spec, floats, {{{"0.1", "1"}}, {{"0.2", "2"}}}).rows, (std::vector<Row>{{"0.10000000000000002"}}));
}

TEST(MergeTest, AvgOutputIsRetypedInTheRowDescription) {
  MergeSpec spec = Aggregate({{0, Agg::kAvg, 1}, {2, Agg::kAvg, 1}, {1, Agg::kCount}});
  Merger merger(spec, 1);
  EXPECT_EQ(merger.ClientRowDescription(), "");
  ASSERT_TRUE(merger.Add(0, 'T', RowDescriptionBody({{"avg", kInt8}, {"count", kInt8}, {"f", kFloat8}})).ok());
  Output d = Decode(merger.ClientRowDescription());
  ASSERT_EQ(d.fields.size(), 3u);
  EXPECT_EQ(d.fields[0].name, "avg");
  EXPECT_EQ(d.fields[0].oid, kNumeric);
  EXPECT_EQ(d.fields[0].typlen, -1);
  EXPECT_EQ(d.fields[1].oid, kFloat8);
  EXPECT_EQ(d.fields[1].typlen, 8);
  EXPECT_EQ(d.fields[2].oid, kInt8);
  EXPECT_FALSE(merger.complete());
  ASSERT_TRUE(merger.Add(0, 'C', std::string("SELECT 0\0", 9)).ok());
  EXPECT_TRUE(merger.complete());
  std::string out;
  ASSERT_TRUE(merger.Finish(&out, false).ok());
  Output rows = Decode(out);
  EXPECT_TRUE(rows.fields.empty());
  EXPECT_EQ(rows.rows, (std::vector<Row>{{N, N, "0"}}));
}

TEST(MergeTest, MinMaxAreTyped) {
  MergeSpec spec = Aggregate({{0, Agg::kMin}, {0, Agg::kMax}, {1, Agg::kMin}, {1, Agg::kMax}, {2, Agg::kMax}, {3, Agg::kMin}});
  Output out = MustMerge(spec, {{"t", kText}, {"d", kDate}, {"n", kNumeric}, {"x", kInt4}},
                         {{{"b", "2024-01-05", "9.5", N}}, {{"B", "0044-03-15 BC", "10", N}}, {{N, N, "10.00", N}}});
  EXPECT_EQ(out.rows, (std::vector<Row>{{"B", "b", "0044-03-15 BC", "2024-01-05", "10", N}}));
  Output refused;
  Status st = Merge(Aggregate({{0, Agg::kMax}}), {{"j", kJson}}, {{{"{}"}}}, &refused);
  EXPECT_EQ(st.sqlstate(), "0A000");
}

TEST(MergeTest, GroupByAcrossSourcesWithNullGroups) {
  // SELECT g, count(*), sum(x) ... GROUP BY g
  MergeSpec spec = Aggregate({{0}, {1, Agg::kCount}, {2, Agg::kSum}}, {0});
  const std::vector<Col> cols = {{"g", kText}, {"count", kInt8}, {"sum", kNumeric}};
  Output out = MustMerge(spec, cols,
                         {{{"a", "2", "1.5"}, {N, "1", "1"}}, {{"a", "3", "2.50"}, {"b", "1", N}, {N, "4", "2"}}});
  EXPECT_EQ(out.rows, (std::vector<Row>{{"a", "5", "4.00"}, {N, "5", "3"}, {"b", "1", N}}));
  EXPECT_EQ(out.tag, "SELECT 3");

  // Numeric group keys: 1.0 and 1.00 are one group (shown as first seen).
  MergeSpec num = Aggregate({{0}, {1, Agg::kCount}}, {0});
  Output n = MustMerge(num, {{"n", kNumeric}, {"count", kInt8}}, {{{"1.0", "1"}}, {{"1.00", "2"}, {"2", "1"}}});
  EXPECT_EQ(n.rows, (std::vector<Row>{{"1.0", "3"}, {"2", "1"}}));
}

TEST(MergeTest, HavingDistinctOrderAndLimitAfterAggregation) {
  // SELECT g, count(*) ... GROUP BY g HAVING count(*) > 2 ORDER BY count(*) DESC LIMIT 2
  MergeSpec spec = Aggregate({{0}, {1, Agg::kCount}}, {0});
  MergeSpec::Having having;
  having.column = 1;
  having.agg = Agg::kCount;
  having.op = sql::PredOp::kGt;
  having.value = "2";
  spec.having = {having};
  spec.order_by = {Desc(1)};
  spec.limit = 2;
  const std::vector<Col> cols = {{"g", kText}, {"count", kInt8}};
  const std::vector<std::vector<Row>> data = {{{"a", "1"}, {"b", "2"}, {"c", "5"}}, {{"a", "1"}, {"b", "2"}, {"d", "3"}}};
  EXPECT_EQ(MustMerge(spec, cols, data).rows, (std::vector<Row>{{"c", "5"}, {"b", "4"}}));

  // HAVING avg(x) >= 1.5 compares numerically; NULL constants never hold.
  MergeSpec avg = Aggregate({{0}, {2, Agg::kAvg, 1}}, {0});
  MergeSpec::Having h2;
  h2.column = 2;
  h2.agg = Agg::kAvg;
  h2.count_column = 1;
  h2.op = sql::PredOp::kGe;
  h2.value = "1.5";
  avg.having = {h2};
  const std::vector<Col> cols3 = {{"g", kText}, {"count", kInt8}, {"sum", kInt8}};
  EXPECT_EQ(MustMerge(avg, cols3, {{{"a", "1", "1"}, {"b", "1", "3"}}, {{"a", "1", "2"}, {"b", "1", "0"}}}).rows,
            (std::vector<Row>{{"a", "1.5000000000000000"}, {"b", "1.5000000000000000"}}));
  avg.having[0].value = std::nullopt;
  EXPECT_TRUE(MustMerge(avg, cols3, {{{"a", "1", "1"}}}).rows.empty());

  // count(*) > 1.5 against an integer result.
  spec.having[0].value = "3.5";
  spec.limit = std::nullopt;
  EXPECT_EQ(MustMerge(spec, cols, data).rows, (std::vector<Row>{{"c", "5"}, {"b", "4"}}));

  // DISTINCT over aggregated outputs: SELECT DISTINCT count(*) ... GROUP BY g (g hidden is not
  // expressible: group keys are outputs), so distinct pairs stay.
  MergeSpec distinct = Aggregate({{1, Agg::kCount}}, {});
  distinct.distinct = true;
  EXPECT_EQ(MustMerge(distinct, cols, data).rows, (std::vector<Row>{{"14"}}));
}

TEST(MergeTest, HiddenGroupKeysGroupSortAndAreNotSent) {
  // SELECT count(*) ... GROUP BY g ORDER BY g DESC: node columns count, g (hidden).
  MergeSpec spec = Aggregate({{0, Agg::kCount}, {1}}, {1});
  spec.visible_outputs = 1;
  spec.order_by = {Desc(1)};
  const std::vector<Col> cols = {{"count", kInt8}, {"mosaic_h1", kText}};
  Output out = MustMerge(spec, cols, {{{"2", "a"}, {"1", "c"}}, {{"3", "a"}, {"4", "b"}}});
  ASSERT_EQ(out.fields.size(), 1u);
  EXPECT_EQ(out.fields[0].name, "count");
  EXPECT_EQ(out.rows, (std::vector<Row>{{"1"}, {"4"}, {"5"}}));
  // DISTINCT applies to what the client sees.
  spec.distinct = true;
  spec.order_by.clear();
  EXPECT_EQ(MustMerge(spec, cols, {{{"2", "a"}, {"1", "c"}}, {{"1", "b"}}}).rows, (std::vector<Row>{{"2"}, {"1"}}));
}

TEST(MergeTest, CountDistinctCountsTypedValuesOnce) {
  // SELECT g, count(DISTINCT x), count(*) ... GROUP BY g: the nodes grouped by (g, x).
  MergeSpec spec = Aggregate({{0}, {1, Agg::kCountDistinct}, {2, Agg::kCount}}, {0});
  const std::vector<Col> cols = {{"g", kText}, {"count", kNumeric}, {"count", kInt8}};
  Output out = MustMerge(spec, cols,
                         {{{"a", "1.0", "2"}, {"a", "2", "1"}, {"b", N, "4"}},
                          {{"a", "1.00", "1"}, {"a", N, "1"}, {"b", "7", "1"}}});
  ASSERT_EQ(out.fields.size(), 3u);
  EXPECT_EQ(out.fields[1].oid, kInt8);
  EXPECT_EQ(out.fields[1].typlen, 8);
  EXPECT_EQ(out.rows, (std::vector<Row>{{"a", "2", "5"}, {"b", "1", "5"}}));
  // Without GROUP BY, over no rows: 0.
  EXPECT_EQ(MustMerge(Aggregate({{0, Agg::kCountDistinct}}), {{"count", kInt4}}, {{}, {}}).rows,
            (std::vector<Row>{{"0"}}));
  // HAVING count(DISTINCT x) > 1.
  spec.having = {{1, Agg::kCountDistinct, -1, sql::PredOp::kGt, "1"}};
  EXPECT_EQ(MustMerge(spec, cols, {{{"a", "1", "1"}, {"a", "2", "1"}, {"b", "1", "1"}}}).rows,
            (std::vector<Row>{{"a", "2", "2"}}));
  // Values whose text is not canonical cannot be told apart by text.
  Output refused;
  Status st = Merge(Aggregate({{0, Agg::kCountDistinct}}), {{"count", kInterval}}, {{{"1 mon"}}, {{"30 days"}}}, &refused);
  EXPECT_EQ(st.sqlstate(), "0A000");
}

TEST(MergeTest, CastsApplyAfterCombining) {
  // SELECT count(*)::int4, avg(x)::numeric(10,2), sum(f)::text, max(n)::int2 ...
  auto cast = [](std::string type, std::vector<int32_t> args = {}) {
    sql::AggFinish f;
    f.kind = sql::AggFinish::Kind::kCast;
    f.type = std::move(type);
    f.args = std::move(args);
    return f;
  };
  MergeSpec spec = Aggregate({{0, Agg::kCount, -1, cast("int4")},
                              {1, Agg::kAvg, 0, cast("numeric", {10, 2})},
                              {2, Agg::kSum, -1, cast("text")},
                              {3, Agg::kMax, -1, cast("int2")}});
  spec.order_by = {Asc(0)};
  const std::vector<Col> cols = {{"count", kInt8}, {"avg", kInt8}, {"sum", kFloat8}, {"max", kNumeric}};
  Output out = MustMerge(spec, cols, {{{"1", "1", "0.1", "1.5"}}, {{"2", "6", "0.2", "-3"}}});
  ASSERT_EQ(out.fields.size(), 4u);
  EXPECT_EQ(out.fields[0].oid, kInt4);
  EXPECT_EQ(out.fields[0].typlen, 4);
  EXPECT_EQ(out.fields[1].oid, kNumeric);
  EXPECT_EQ(out.fields[2].oid, kText);
  EXPECT_EQ(out.fields[3].oid, 21u);
  EXPECT_EQ(out.rows, (std::vector<Row>{{"3", "2.33", "0.30000000000000004", "2"}}));
  // NULL stays NULL; an overflow is PostgreSQL's error.
  EXPECT_EQ(MustMerge(spec, cols, {{{"0", "0", N, N}}}).rows, (std::vector<Row>{{"0", N, N, N}}));
  Output failed;
  EXPECT_EQ(Merge(spec, cols, {{{"0", "0", N, "40000"}}}, &failed).sqlstate(), "22003");
  // A source type the cast cannot convert exactly is refused.
  MergeSpec text = Aggregate({{0, Agg::kMax, -1, cast("int4")}});
  EXPECT_EQ(Merge(text, {{"max", kText}}, {{{"1"}}}, &failed).sqlstate(), "0A000");
  // Describe before the rows: the cast's type.
  Merger merger(spec, 1);
  ASSERT_TRUE(merger.Add(0, 'T', RowDescriptionBody(cols)).ok());
  EXPECT_EQ(Decode(merger.ClientRowDescription()).fields[0].oid, kInt4);
}

TEST(MergeTest, WithTiesKeepsRowsEqualToTheLastOne) {
  // SELECT k, v ... ORDER BY k OFFSET 1 FETCH FIRST 2 ROWS WITH TIES: every source sent its
  // first 3 rows with ties, and the cap does not cut them.
  MergeSpec spec = Plain({0, 1});
  spec.order_by = {Asc(0)};
  spec.limit = 2;
  spec.offset = 1;
  spec.with_ties = true;
  const std::vector<Col> cols = {{"k", kNumeric}, {"v", kText}};
  Output out = MustMerge(spec, cols, {{{"1", "a"}, {"2", "b"}, {"3.0", "c"}, {"3", "d"}}, {{"2", "e"}, {"3.00", "f"}}});
  EXPECT_EQ(out.rows, (std::vector<Row>{{"2", "b"}, {"2", "e"}}));
  spec.offset = 2;
  out = MustMerge(spec, cols, {{{"1", "a"}, {"2", "b"}, {"3.0", "c"}, {"3", "d"}}, {{"2", "e"}, {"3.00", "f"}}});
  EXPECT_EQ(out.rows, (std::vector<Row>{{"2", "e"}, {"3.0", "c"}, {"3", "d"}, {"3.00", "f"}}));
  // NULLs tie with NULLs; a limit of 0 keeps nothing.
  spec.offset = 0;
  spec.limit = 1;
  EXPECT_EQ(MustMerge(spec, cols, {{{N, "a"}}, {{N, "b"}}}).rows, (std::vector<Row>{{N, "a"}, {N, "b"}}));
  spec.limit = 0;
  EXPECT_TRUE(MustMerge(spec, cols, {{{N, "a"}}, {{N, "b"}}}).rows.empty());
}

std::string Be(uint64_t v, int bytes) {
  std::string out(static_cast<size_t>(bytes), '\0');
  for (int k = bytes - 1; k >= 0; --k, v >>= 8) out[static_cast<size_t>(k)] = static_cast<char>(v & 0xFF);
  return out;
}
std::string I4(int32_t v) { return Be(static_cast<uint32_t>(v), 4); }
std::string I8(int64_t v) { return Be(static_cast<uint64_t>(v), 8); }
// numeric_send bytes: ndigits, weight, sign, dscale, base-10000 digits.
std::string Num(std::vector<int> words) {
  std::string out;
  for (int w : words) out += Be(static_cast<uint16_t>(w), 2);
  return out;
}

TEST(MergeTest, BinaryResultsConcatenateUntouched) {
  std::vector<Col> cols = {{"k", kInt4, 1}, {"i", kInterval, 1}};
  Output concat = MustMerge(Plain({0, 1}), cols, {{{I4(4), "\1\2"}}, {{I4(4), N}}});
  EXPECT_EQ(concat.rows, (std::vector<Row>{{I4(4), "\1\2"}, {I4(4), N}}));
}

TEST(MergeTest, OrdersAndDistinctsBinaryKeysAndSendsThemAsTheyCame) {
  // ORDER BY a binary int4 and a text-format column, an interval passed through in binary.
  std::vector<Col> cols = {{"k", kInt4, 1}, {"t", kText, 0}, {"i", kInterval, 1}};
  MergeSpec spec = Plain({0, 1, 2});
  spec.order_by = {Desc(0), Asc(1)};
  spec.presorted = false;
  Output out = MustMerge(spec, cols, {{{I4(-5), "b", "x"}, {I4(300), "a", N}}, {{I4(7), "c", "y"}, {N, "d", "z"}}});
  EXPECT_EQ(out.rows, (std::vector<Row>{{N, "d", "z"}, {I4(300), "a", N}, {I4(7), "c", "y"}, {I4(-5), "b", "x"}}));
  // DISTINCT over binary numerics: 1.0 and 1.00 are one value (the first is kept)
  std::vector<Col> ncols = {{"n", kNumeric, 1}};
  MergeSpec distinct = Plain({0});
  distinct.distinct = true;
  const std::string one_0 = Num({1, 0, 0, 1, 1}), one_00 = Num({1, 0, 0, 2, 1}), two = Num({1, 0, 0, 0, 2});
  Output d = MustMerge(distinct, ncols, {{{one_0}, {two}}, {{one_00}}});
  EXPECT_EQ(d.rows, (std::vector<Row>{{one_0}, {two}}));
  // a key goes out as its node sent it, not as Mosaic would encode it (a NaN with its sign set,
  // as x86 makes 0/0; 1.0 with its scale)
  std::vector<Col> fcols = {{"f", kFloat8, 1}, {"n", kNumeric, 1}};
  MergeSpec by_f = Plain({0, 1});
  by_f.order_by = {Asc(0)};
  const std::string neg_nan = Be(0xfff8000000000000ull, 8), one = Be(0x3ff0000000000000ull, 8);
  Output f = MustMerge(by_f, fcols, {{{neg_nan, one_0}}, {{one, one_00}}});
  EXPECT_EQ(f.rows, (std::vector<Row>{{one, one_00}, {neg_nan, one_0}}));
}

TEST(MergeTest, AggregatesOverBinaryPartialsComeOutInBinary) {
  // SELECT k, count(*), sum(n), avg(v), max(v) ... GROUP BY k ORDER BY k; node columns:
  // k int4, count int8, sum numeric, sum(v) int8 (avg's sum), count(v) int8 (hidden), max int4.
  // The client asked binary for everything but the key (text).
  std::vector<Col> cols = {{"k", kText, 0},        {"count", kInt8, 1}, {"sum", kNumeric, 1},
                           {"avg", kInt8, 1},      {"c", kInt8, 1},     {"max", kInt4, 1}};
  MergeSpec spec = Aggregate({{0}, {1, Agg::kCount}, {2, Agg::kSum}, {3, Agg::kAvg, 4}, {5, Agg::kMax}}, {0});
  spec.visible_outputs = 5;
  spec.order_by = {Asc(0)};
  // node 1: a: 2 rows, sum 1.5, v sum 3 over 2, max 2; b: 1 row ...
  // node 2: a: 1 row, sum -12345.678 (scale 3), v sum 1 over 1, max 1
  const std::string s15 = Num({2, 0, 0, 1, 1, 5000}), s_12345_678 = Num({3, 1, 0x4000, 3, 1, 2345, 6780});
  Output out = MustMerge(spec, cols,
                         {{{"b", I8(1), N, I8(10), I8(1), I4(10)}, {"a", I8(2), s15, I8(3), I8(2), I4(2)}},
                          {{"a", I8(1), s_12345_678, I8(1), I8(1), I4(1)}}});
  ASSERT_EQ(out.rows.size(), 2u);
  // a: count 3, sum 1.5 + -12345.678 = -12344.178 (numeric_send: 1, 2344, 1780; weight 1,
  // negative, dscale 3), avg 4/3 = 1.3333333333333333 (dscale 16), max 2
  EXPECT_EQ(out.rows[0], (Row{"a", I8(3), Num({3, 1, 0x4000, 3, 1, 2344, 1780}),
                              Num({5, 0, 0, 16, 1, 3333, 3333, 3333, 3333}), I4(2)}));
  // b: sum of NULL partials is NULL; avg 10 = 10.0000000000000000
  EXPECT_EQ(out.rows[1], (Row{"b", I8(1), N, Num({1, 0, 0, 16, 10}), I4(10)}));
  EXPECT_EQ(out.fields[3].oid, kNumeric);  // avg retyped
}

TEST(MergeTest, CastAndHavingOverBinaryPartials) {
  // SELECT count(*)::int4, avg(x)::float8 ... HAVING sum(x) > 2: binary partials throughout.
  std::vector<Col> cols = {{"count", kInt8, 1}, {"avg", kFloat8, 1}, {"c", kInt8, 1}, {"h", kFloat8, 1}};
  MergeSpec::Output count{0, Agg::kCount};
  count.finish.kind = sql::AggFinish::Kind::kCast;
  count.finish.type = "int4";
  MergeSpec spec = Aggregate({count, {1, Agg::kAvg, 2}});
  spec.having = {{3, Agg::kSum, -1, sql::PredOp::kGt, "2"}};
  auto f8 = [](double d) { uint64_t bits; std::memcpy(&bits, &d, 8); return Be(bits, 8); };
  Output out = MustMerge(spec, cols, {{{I8(2), f8(1.5), I8(2), f8(1.5)}}, {{I8(1), f8(1.25), I8(1), f8(1.25)}}});
  EXPECT_EQ(out.rows, (std::vector<Row>{{I4(3), f8(2.75 / 3)}}));
  spec.having[0].value = "3";
  EXPECT_TRUE(MustMerge(spec, cols, {{{I8(2), f8(1.5), I8(2), f8(1.5)}}, {{I8(1), f8(1.25), I8(1), f8(1.25)}}}).rows.empty());
}

TEST(MergeTest, BinaryValuesOfTypesWithoutACodecAreRefusedByName) {
  std::vector<Col> cols = {{"i", kInterval, 1}};
  MergeSpec sorted = Plain({0});
  sorted.order_by = {Asc(0)};
  Output out;
  Status st = Merge(sorted, cols, {{{"\1"}}, {{"\2"}}}, &out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.sqlstate(), "0A000");
  EXPECT_NE(st.message().find("type interval"), std::string::npos) << st.message();
  EXPECT_EQ(Merge(Aggregate({{0, Agg::kMax}}), {{"j", kJson, 1}}, {{{"{}"}}}, &out).sqlstate(), "0A000");
  // malformed binary from a node
  EXPECT_EQ(Merge(Aggregate({{0, Agg::kCount}}), {{"c", kInt8, 1}}, {{{I4(1)}}}, &out).sqlstate(), "22P03");
}

std::string BindRest(std::vector<int16_t> result_formats) {
  std::string rest;
  protocol::MessageWriter w(&rest);
  w.Int16(1).Int16(0).Int16(1).Int32(1).Bytes("4");  // one text parameter "4"
  w.Int16(static_cast<int16_t>(result_formats.size()));
  for (int16_t f : result_formats) w.Int16(f);
  return rest;
}

TEST(MergeTest, NodeBindRestMapsPerColumnFormatsToNodeColumns) {
  // SELECT k, avg(v), count(*) ...: node columns k, sum(v), count(*), count(v) (hidden).
  MergeSpec spec = Aggregate({{0}, {1, Agg::kAvg, 3}, {2, Agg::kCount}}, {0});
  spec.node_columns = 4;
  EXPECT_EQ(NodeBindRest(spec, BindRest({0, 1, 1})), BindRest({0, 1, 1, 0}));
  // one code for all, none, or a count the client got wrong: as they are
  EXPECT_EQ(NodeBindRest(spec, BindRest({1})), BindRest({1}));
  EXPECT_EQ(NodeBindRest(spec, BindRest({})), BindRest({}));
  EXPECT_EQ(NodeBindRest(spec, BindRest({1, 1})), BindRest({1, 1}));
  spec.node_columns = -1;
  EXPECT_EQ(NodeBindRest(spec, BindRest({0, 1, 1})), BindRest({0, 1, 1}));
  EXPECT_EQ(NodeBindRest(spec, "\1"), "\1");  // malformed: the nodes say so
}

TEST(MergeTest, MalformedInputIsAnInternalError) {
  Merger merger(Plain({0}), 2);
  ASSERT_TRUE(merger.Add(0, 'T', RowDescriptionBody({{"a", kInt4}})).ok());
  EXPECT_EQ(merger.Add(1, 'T', RowDescriptionBody({{"a", kInt4}, {"b", kInt4}})).sqlstate(), "XX000");
  EXPECT_EQ(merger.Add(0, 'D', DataRowBody({"1", "2"})).sqlstate(), "XX000");
  EXPECT_EQ(merger.Add(0, 'D', std::string("\0\1\0\0\0\5ab", 8)).sqlstate(), "XX000");
  EXPECT_EQ(merger.Add(2, 'D', DataRowBody({"1"})).sqlstate(), "XX000");
  EXPECT_TRUE(merger.Add(0, 'N', "ignored").ok());
  EXPECT_EQ(merger.buffered_rows(), 0u);
  std::string out;
  EXPECT_EQ(merger.Finish(&out, false).sqlstate(), "XX000");  // not complete
  // A spec naming a column the nodes did not return.
  Output o;
  EXPECT_EQ(Merge(Plain({3}), {{"a", kInt4}}, {{{"1"}}}, &o).sqlstate(), "XX000");
}

TEST(MergeTest, ValuesThatDoNotParseAreReported) {
  MergeSpec spec = Plain({0});
  spec.order_by = {Asc(0)};
  Output out;
  Status st = Merge(spec, {{"k", kInt4}}, {{{"abc"}}}, &out);
  EXPECT_EQ(st.sqlstate(), "22P02");
}

}  // namespace
}  // namespace mosaic::router

namespace mosaic::router {
namespace {

std::string Msg(char type, std::string_view body) {
  std::string out;
  protocol::MessageWriter w(&out);
  w.Begin(type).Bytes(body);
  w.End();
  return out;
}

// Streaming: the sources' messages fed round-robin, one at a time; *ready gets how many DataRows
// were ready after each Add (the RowDescription first, when a source's description came).
Output StreamMerge(const MergeSpec& spec, const std::vector<Col>& cols, const std::vector<std::vector<Row>>& sources,
                   std::vector<int>* ready = nullptr) {
  Merger merger(spec, static_cast<int>(sources.size()));
  EXPECT_TRUE(merger.Streamable());
  merger.Stream(/*with_description=*/true);
  std::vector<std::vector<std::pair<char, std::string>>> feeds(sources.size());
  for (size_t s = 0; s < sources.size(); ++s) {
    feeds[s].emplace_back(protocol::be::kRowDescription, RowDescriptionBody(cols));
    for (const Row& row : sources[s]) feeds[s].emplace_back(protocol::be::kDataRow, DataRowBody(row));
    feeds[s].emplace_back(protocol::be::kCommandComplete, std::string("SELECT 1\0", 9));
  }
  std::string out;
  for (size_t step = 0, left = 1; left > 0; ++step) {
    left = 0;
    for (size_t s = 0; s < sources.size(); ++s) {
      if (step >= feeds[s].size()) continue;
      ++left;
      const auto& [type, body] = feeds[s][step];
      Status st = merger.Add(static_cast<int>(s), type, body);
      EXPECT_TRUE(st.ok()) << st.ToString();
      std::string now;
      merger.TakeReady(&now);
      if (ready) ready->push_back(static_cast<int>(Decode(now).rows.size()));
      out += now;
    }
  }
  EXPECT_TRUE(merger.streaming());
  EXPECT_TRUE(merger.description_sent());
  EXPECT_EQ(merger.buffered_rows(), 0u);
  Status st = merger.Finish(&out, true);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return Decode(out);
}

void ExpectSameAsBuffered(const MergeSpec& spec, const std::vector<Col>& cols,
                          const std::vector<std::vector<Row>>& sources) {
  Output buffered = MustMerge(spec, cols, sources);
  Output streamed = StreamMerge(spec, cols, sources);
  if (spec.order_by.empty()) {  // any interleaving will do (and OFFSET/LIMIT take any rows)
    std::sort(buffered.rows.begin(), buffered.rows.end());
    std::sort(streamed.rows.begin(), streamed.rows.end());
  }
  if (spec.order_by.empty() && (spec.limit || spec.offset > 0)) {
    EXPECT_EQ(streamed.rows.size(), buffered.rows.size());
  } else {
    EXPECT_EQ(streamed.rows, buffered.rows);
  }
  EXPECT_EQ(streamed.tag, buffered.tag);
  ASSERT_EQ(streamed.fields.size(), buffered.fields.size());
  for (size_t i = 0; i < streamed.fields.size(); ++i) EXPECT_EQ(streamed.fields[i].name, buffered.fields[i].name);
}

TEST(MergeStreamTest, RowsAreTheBufferedMergesRows) {
  const std::vector<Col> cols = {{"k", kInt4}, {"src", kText}};
  const std::vector<std::vector<Row>> sources = {{{"1", "s0"}, {"3", "s0"}, {"10", "s0"}, {N, "s0"}},
                                                 {{"2", "s1"}, {"3", "s1"}, {"4", "s1"}},
                                                 {{"-5", "s2"}, {N, "s2"}},
                                                 {}};
  MergeSpec spec = Plain({0, 1});
  ExpectSameAsBuffered(spec, cols, sources);
  spec.order_by = {Asc(0)};  // ties by source, NULLS LAST
  ExpectSameAsBuffered(spec, cols, sources);
  for (int64_t offset : {0, 1, 4, 8, 20}) {
    for (std::optional<int64_t> limit : {std::optional<int64_t>(), std::optional<int64_t>(0), std::optional<int64_t>(3)}) {
      spec.offset = offset;
      spec.limit = limit;
      ExpectSameAsBuffered(spec, cols, sources);
      MergeSpec plain = Plain({0, 1});
      plain.offset = offset;
      plain.limit = limit;
      ExpectSameAsBuffered(plain, cols, sources);
    }
  }
  // A hidden sort key, descending with NULLs first, on two keys.
  MergeSpec hidden = Plain({1, 0});
  hidden.visible_outputs = 1;
  hidden.order_by = {Desc(1), Desc(0)};
  const std::vector<std::vector<Row>> desc = {{{"10", "a"}, {"3", "b"}, {"3", "a"}}, {{N, "c"}, {"3", "c"}, {"1", "d"}}};
  ExpectSameAsBuffered(hidden, cols, desc);
  EXPECT_EQ(StreamMerge(hidden, cols, desc).rows, (std::vector<Row>{{"c"}, {"a"}, {"c"}, {"b"}, {"a"}, {"d"}}));
}

TEST(MergeStreamTest, BinaryKeysAreReadAndRowsGoOutAsTheyCame) {
  std::vector<Col> cols = {{"k", kInt4, 1}, {"t", kText, 0}, {"i", kInterval, 1}};
  MergeSpec spec = Plain({0, 1, 2});
  spec.order_by = {Desc(0), Asc(1)};
  const std::vector<std::vector<Row>> sources = {{{N, "d", "z"}, {I4(300), "a", N}, {I4(-5), "b", "x"}},
                                                 {{I4(7), "c", "y"}}};
  ExpectSameAsBuffered(spec, cols, sources);
  EXPECT_EQ(StreamMerge(spec, cols, sources).rows,
            (std::vector<Row>{{N, "d", "z"}, {I4(300), "a", N}, {I4(7), "c", "y"}, {I4(-5), "b", "x"}}));
}

TEST(MergeStreamTest, ConcatenationSendsEachRowAsItComes) {
  MergeSpec spec = Plain({0});
  spec.offset = 1;
  spec.limit = 2;
  std::vector<int> ready;
  Output out = StreamMerge(spec, {{"k", kInt8}}, {{{"1"}, {"2"}}, {{"3"}, {"4"}}}, &ready);
  // Adds: 2 RowDescriptions, then rows 1 (skipped), 3, 2, 4 (past LIMIT), then the CommandCompletes.
  EXPECT_EQ(ready, (std::vector<int>{0, 0, 0, 1, 1, 0, 0, 0}));
  EXPECT_EQ(out.rows, (std::vector<Row>{{"3"}, {"2"}}));
  EXPECT_EQ(out.tag, "SELECT 2");
}

TEST(MergeStreamTest, KWayRowGoesOutOnceEveryRunningSourceHasOne) {
  MergeSpec spec = Plain({0});
  spec.order_by = {Asc(0)};
  Merger m(spec, 2);
  m.Stream(true);
  const std::string description = RowDescriptionBody({{"k", kInt8}});
  std::string out;
  auto rows_out = [&] {
    std::string now;
    m.TakeReady(&now);
    out += now;
    return Decode(now).rows;
  };
  ASSERT_TRUE(m.Add(0, protocol::be::kRowDescription, description).ok());
  EXPECT_TRUE(m.streaming());
  EXPECT_TRUE(rows_out().empty());
  ASSERT_TRUE(m.Add(0, protocol::be::kDataRow, DataRowBody({"1"})).ok());
  ASSERT_TRUE(m.Add(0, protocol::be::kDataRow, DataRowBody({"5"})).ok());
  EXPECT_TRUE(rows_out().empty());  // source 1 may still send a smaller one
  EXPECT_GT(m.queued_bytes(0), 0u);
  EXPECT_EQ(m.queued_bytes(1), 0u);
  EXPECT_EQ(m.buffered_rows(), 2u);
  ASSERT_TRUE(m.Add(1, protocol::be::kRowDescription, description).ok());
  ASSERT_TRUE(m.Add(1, protocol::be::kDataRow, DataRowBody({"3"})).ok());
  EXPECT_EQ(rows_out(), (std::vector<Row>{{"1"}, {"3"}}));  // then source 1 may send a 4
  ASSERT_TRUE(m.Add(1, protocol::be::kCommandComplete, std::string("SELECT 1\0", 9)).ok());
  EXPECT_EQ(rows_out(), (std::vector<Row>{{"5"}}));  // source 1 is done: source 0 alone
  EXPECT_EQ(m.queued_bytes(0), 0u);
  ASSERT_TRUE(m.Add(0, protocol::be::kDataRow, DataRowBody({"7"})).ok());
  EXPECT_EQ(rows_out(), (std::vector<Row>{{"7"}}));
  ASSERT_TRUE(m.Add(0, protocol::be::kCommandComplete, std::string("SELECT 1\0", 9)).ok());
  ASSERT_TRUE(m.Finish(&out, true).ok());
  Output all = Decode(out);
  EXPECT_EQ(all.fields.size(), 1u);
  EXPECT_EQ(all.tag, "SELECT 4");
}

TEST(MergeStreamTest, WhatMustBeHeldIsNotStreamed) {
  MergeSpec spec = Plain({0});
  EXPECT_TRUE(Merger(spec, 2).Streamable());
  spec.order_by = {Asc(0)};
  EXPECT_TRUE(Merger(spec, 2).Streamable());
  MergeSpec resort = spec;
  resort.presorted = false;
  MergeSpec ties = spec;
  ties.limit = 1;
  ties.with_ties = true;
  MergeSpec distinct = Plain({0});
  distinct.distinct = true;
  for (const MergeSpec& s : {resort, ties, distinct, Aggregate({{0, Agg::kCount}})}) {
    EXPECT_FALSE(Merger(s, 2).Streamable());
  }
  // A sort key the merge cannot order: buffered, and refused as before.
  Merger m(spec, 2);
  m.Stream(true);
  ASSERT_TRUE(m.Add(0, protocol::be::kRowDescription, RowDescriptionBody({{"i", kInterval}})).ok());
  EXPECT_FALSE(m.streaming());
  EXPECT_FALSE(m.description_sent());
  ASSERT_TRUE(m.Add(0, protocol::be::kDataRow, DataRowBody({"1 day"})).ok());
  std::string ready;
  m.TakeReady(&ready);
  EXPECT_TRUE(ready.empty());
  ASSERT_TRUE(m.Add(0, protocol::be::kCommandComplete, std::string("SELECT 1\0", 9)).ok());
  ASSERT_TRUE(m.Add(1, protocol::be::kCommandComplete, std::string("SELECT 0\0", 9)).ok());
  std::string out;
  EXPECT_EQ(m.Finish(&out, true).sqlstate(), "0A000");
}

TEST(ReturningOrder, RestoresValuesOrder) {
  // VALUES (21), (1), (11), (2) over nodes [1-9] [10-19] [20-]: rows 1, 3 / 2 / 0.
  const std::vector<std::vector<int>> parts{{1, 3}, {2}, {0}};
  ReturningOrder order(parts);
  order.Add(2, Msg('D', "21"));  // arrival order across nodes does not matter
  order.Add(0, Msg('D', "1"));
  order.Add(1, Msg('D', "11"));
  EXPECT_FALSE(order.Complete(0));
  order.Add(0, Msg('D', "2"));
  for (int s = 0; s < 3; ++s) EXPECT_TRUE(order.Complete(s)) << s;
  std::string out;
  order.Finish(&out);
  EXPECT_EQ(out, Msg('D', "21") + Msg('D', "1") + Msg('D', "11") + Msg('D', "2"));
}

TEST(ReturningOrder, RowSkippedOnANodeIsIncomplete) {
  ReturningOrder order(std::vector<std::vector<int>>{{0, 2}, {1}});
  order.Add(0, Msg('D', "a"));
  order.Add(1, Msg('D', "b"));
  EXPECT_FALSE(order.Complete(0));
  EXPECT_TRUE(order.Complete(1));
}

std::string BinaryHeader(std::string_view extension = {}) {
  std::string h("PGCOPY\n\xff\r\n\0", 11);
  h.append(std::string("\0\0\0\0", 4));
  const auto n = static_cast<uint32_t>(extension.size());
  for (int shift = 24; shift >= 0; shift -= 8) h.push_back(static_cast<char>((n >> shift) & 0xff));
  h.append(extension);
  return h;
}

std::string Tuple(char v) {  // one int4 column
  std::string t("\0\1\0\0\0\4\0\0\0", 9);
  t.push_back(v);
  return t;
}

TEST(BinaryCopyJoin, OneHeaderAndTrailer) {
  BinaryCopyJoin join(2);
  const std::string trailer(BinaryCopyJoin::Trailer());
  std::string out;
  // PostgreSQL sends the header with the first tuple, the trailer alone.
  ASSERT_TRUE(join.Add(0, BinaryHeader() + Tuple(1), &out).ok());
  ASSERT_TRUE(join.Add(1, BinaryHeader() + Tuple(2), &out).ok());
  ASSERT_TRUE(join.Add(0, trailer, &out).ok());
  ASSERT_TRUE(join.Add(1, Tuple(3), &out).ok());
  ASSERT_TRUE(join.Add(1, trailer, &out).ok());
  EXPECT_TRUE(join.started());
  EXPECT_EQ(out, BinaryHeader() + Tuple(1) + Tuple(2) + Tuple(3));
}

TEST(BinaryCopyJoin, BoundariesAnywhere) {
  // Whatever the CopyData boundaries of each node, and however the nodes' messages interleave,
  // the client gets one header, whole tuples, no trailer (FinishGather adds one).
  const std::string trailer(BinaryCopyJoin::Trailer());
  const std::string a = BinaryHeader("xyz") + Tuple(1) + Tuple(2) + trailer;
  const std::string b = BinaryHeader("xyz") + Tuple(3) + trailer;
  const std::string c = BinaryHeader("xyz") + trailer;  // no rows
  for (size_t step = 1; step <= a.size(); ++step) {
    BinaryCopyJoin join(3);
    std::string out;
    for (size_t i = 0; i < a.size(); i += step) {
      ASSERT_TRUE(join.Add(0, a.substr(i, step), &out).ok());
      if (i < b.size()) {
        ASSERT_TRUE(join.Add(1, b.substr(i, step), &out).ok());
      }
      if (i < c.size()) {
        ASSERT_TRUE(join.Add(2, c.substr(i, step), &out).ok());
      }
    }
    const std::string header = BinaryHeader("xyz");
    ASSERT_EQ(out.substr(0, header.size()), header) << step;
    std::string values;
    for (size_t at = header.size(); at < out.size(); at += Tuple(0).size()) {
      ASSERT_EQ(out.substr(at, Tuple(0).size() - 1), Tuple(0).substr(0, Tuple(0).size() - 1)) << step;
      values.push_back(static_cast<char>('0' + out[at + Tuple(0).size() - 1]));
    }
    std::sort(values.begin(), values.end());
    EXPECT_EQ(values, "123") << step;
    EXPECT_EQ(out.size(), header.size() + 3 * Tuple(0).size()) << step;
  }
}

TEST(BinaryCopyJoin, NullsAndEmptyValues) {
  BinaryCopyJoin join(1);
  // two fields: NULL (-1) and an empty value (0)
  const std::string tuple("\0\2\xff\xff\xff\xff\0\0\0\0", 10);
  std::string out;
  ASSERT_TRUE(join.Add(0, BinaryHeader() + tuple.substr(0, 7), &out).ok());
  EXPECT_EQ(out, BinaryHeader());
  ASSERT_TRUE(join.Add(0, tuple.substr(7) + std::string(BinaryCopyJoin::Trailer()), &out).ok());
  EXPECT_EQ(out, BinaryHeader() + tuple);
}

TEST(BinaryCopyJoin, RefusesWhatIsNotBinaryCopy) {
  std::string out;
  BinaryCopyJoin after(1);
  EXPECT_EQ(after.Add(0, BinaryHeader() + std::string(BinaryCopyJoin::Trailer()) + Tuple(1), &out).sqlstate(), "XX000");
  BinaryCopyJoin negative(1);
  EXPECT_EQ(negative.Add(0, BinaryHeader() + std::string("\xff\xfe", 2), &out).sqlstate(), "XX000");
}

TEST(BinaryCopyJoin, RefusesAStreamWithoutSignature) {
  BinaryCopyJoin join(1);
  std::string out;
  EXPECT_EQ(join.Add(0, std::string(19, 'x'), &out).sqlstate(), "XX000");
  EXPECT_FALSE(join.started());
}

}  // namespace
}  // namespace mosaic::router
