// router/result_formats: a held text result rewritten into the formats a Bind asked for.
#include "router/result_formats.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/codec.h"
#include "protocol/message.h"
#include "protocol/reader.h"
#include "router/value.h"

namespace mosaic::router {
namespace {

namespace be = protocol::be;

std::string Hex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// A RowDescription of (name, type OID) columns, all in text, as a node sends it.
std::string Description(const std::vector<std::pair<std::string, uint32_t>>& columns) {
  std::string out;
  protocol::MessageWriter w(&out);
  w.Begin(be::kRowDescription).Int16(static_cast<int16_t>(columns.size()));
  for (const auto& [name, oid] : columns) {
    w.CString(name).Int32(0).Int16(0).Int32(static_cast<int32_t>(oid)).Int16(-1).Int32(-1).Int16(0);
  }
  w.End();
  return out;
}

std::string Row(const std::vector<std::optional<std::string_view>>& values) {
  std::string out;
  protocol::WriteDataRow(&out, values);
  return out;
}

struct Parsed {
  std::vector<int16_t> formats;                              // of the RowDescription
  std::vector<std::vector<std::optional<std::string>>> rows;  // DataRow values
  std::vector<char> types;                                    // every message's type
};

Parsed Parse(std::string_view messages) {
  Parsed p;
  while (messages.size() >= 5) {
    const size_t length = protocol::LoadBigEndian32(messages.data() + 1);
    const char type = messages[0];
    protocol::MessageReader r(messages.substr(5, length - 4));
    messages.remove_prefix(length + 1);
    p.types.push_back(type);
    int16_t n = 0;
    if (type == be::kRowDescription) {
      EXPECT_TRUE(r.ReadInt16(&n));
      for (int16_t i = 0; i < n; ++i) {
        std::string_view name, fixed;
        int16_t format = 0;
        EXPECT_TRUE(r.ReadCString(&name) && r.ReadBytes(16, &fixed) && r.ReadInt16(&format));
        p.formats.push_back(format);
      }
    } else if (type == be::kDataRow) {
      EXPECT_TRUE(r.ReadInt16(&n));
      auto& row = p.rows.emplace_back();
      for (int16_t i = 0; i < n; ++i) {
        int32_t size = 0;
        std::string_view v;
        EXPECT_TRUE(r.ReadInt32(&size));
        if (size < 0) {
          row.emplace_back(std::nullopt);
        } else {
          EXPECT_TRUE(r.ReadBytes(static_cast<size_t>(size), &v));
          row.emplace_back(std::string(v));
        }
      }
    }
    if (type == be::kRowDescription || type == be::kDataRow) {
      EXPECT_TRUE(r.AtEnd()) << type;
    }
  }
  return p;
}

std::string Complete(std::string_view tag) {
  std::string out;
  protocol::WriteCommandComplete(&out, tag);
  return out;
}

// id int4, name text, amount numeric, at timestamptz, score float8
std::string HeldResult() {
  return Description({{"id", value::kInt4Oid},
                      {"name", value::kTextOid},
                      {"amount", value::kNumericOid},
                      {"at", value::kTimestampTzOid},
                      {"score", value::kFloat8Oid}}) +
         Row({"42", "x", "-1.5", "2000-01-01 05:30:00+05:30", "0.1"}) +
         Row({"-7", std::nullopt, std::nullopt, std::nullopt, std::nullopt}) + Complete("SELECT 2");
}

TEST(ResultFormats, TextFormatsLeaveTheResultAsItIs) {
  for (const std::vector<int16_t>& formats : {std::vector<int16_t>{}, {0}, {0, 0, 0, 0, 0}}) {
    std::string m = HeldResult();
    ASSERT_TRUE(ToResultFormats(&m, formats, {}).ok());
    EXPECT_EQ(m, HeldResult());
  }
}

TEST(ResultFormats, ColumnsAskedInBinaryComeAsTheSendFunctionsWriteThem) {
  std::string m = HeldResult();
  ASSERT_TRUE(ToResultFormats(&m, {1, 0, 1, 1, 1}, {}).ok());
  Parsed p = Parse(m);
  EXPECT_EQ(p.types, (std::vector<char>{be::kRowDescription, be::kDataRow, be::kDataRow, be::kCommandComplete}));
  EXPECT_EQ(p.formats, (std::vector<int16_t>{1, 0, 1, 1, 1}));
  ASSERT_EQ(p.rows.size(), 2u);
  EXPECT_EQ(p.rows[0][0], Hex("0000002a"));
  EXPECT_EQ(p.rows[0][1], "x");                                 // text stays text
  EXPECT_EQ(p.rows[0][2], Hex("000200004000000100011388"));     // numeric_send of -1.5
  EXPECT_EQ(p.rows[0][3], Hex("0000000000000000"));             // 2000-01-01 00:00 UTC
  EXPECT_EQ(p.rows[0][4], Hex("3fb999999999999a"));             // float8send of 0.1
  EXPECT_EQ(p.rows[1][0], Hex("fffffff9"));
  for (size_t i = 1; i < 5; ++i) EXPECT_EQ(p.rows[1][i], std::nullopt) << i;  // NULL stays NULL
}

TEST(ResultFormats, OneCodeAppliesToEveryColumn) {
  std::string m = Description({{"a", value::kInt8Oid}, {"b", value::kBoolOid}, {"c", value::kVarcharOid}}) +
                  Row({"-1", "t", "abc"}) + Complete("SELECT 1");
  ASSERT_TRUE(ToResultFormats(&m, {1}, {}).ok());
  Parsed p = Parse(m);
  EXPECT_EQ(p.formats, (std::vector<int16_t>{1, 1, 1}));
  ASSERT_EQ(p.rows.size(), 1u);
  EXPECT_EQ(p.rows[0][0], Hex("ffffffffffffffff"));
  EXPECT_EQ(p.rows[0][1], Hex("01"));
  EXPECT_EQ(p.rows[0][2], "abc");  // textsend: the same bytes
}

TEST(ResultFormats, RefusesWhatItCannotSendExactly) {
  const std::string interval = Description({{"i", value::kIntervalOid}}) + Row({"1 day"}) + Complete("SELECT 1");
  const std::string floats = Description({{"f", value::kFloat4Oid}}) + Row({"0.1"}) + Complete("SELECT 1");
  const std::string dates = Description({{"d", value::kDateOid}}) + Row({"2024-01-05"}) + Complete("SELECT 1");
  struct Case {
    std::string messages;
    TextOutput output;
    std::string_view names;
  } cases[] = {
      {interval, {}, "of type interval"},
      {floats, {.iso_dates = true, .exact_floats = false}, "extra_float_digits"},
      {dates, {.iso_dates = false, .exact_floats = true}, "DateStyle"},
  };
  for (auto& c : cases) {
    std::string m = c.messages;
    Status s = ToResultFormats(&m, {1}, c.output);
    EXPECT_EQ(s.sqlstate(), "0A000") << c.names;
    EXPECT_NE(s.message().find(c.names), std::string::npos) << s.message();
    EXPECT_EQ(m, c.messages);  // unchanged
    // in text, or with the settings that make the text exact, it goes
    EXPECT_TRUE(ToResultFormats(&m, {0}, c.output).ok());
  }
  std::string m = floats;
  ASSERT_TRUE(ToResultFormats(&m, {1}, {}).ok());
  EXPECT_EQ(Parse(m).rows[0][0], Hex("3dcccccd"));
  m = dates;
  ASSERT_TRUE(ToResultFormats(&m, {1}, {}).ok());
  EXPECT_EQ(Parse(m).rows[0][0], Hex("00002242"));  // 8770 days after 2000-01-01
}

TEST(ResultFormats, BadFormatCodesAsPostgreSql) {
  std::string m = HeldResult();
  EXPECT_EQ(ToResultFormats(&m, {1, 0}, {}).sqlstate(), "08P01");
  EXPECT_EQ(ToResultFormats(&m, {1, 0, 1, 1, 2}, {}).sqlstate(), "22023");
  EXPECT_EQ(ToResultFormats(&m, {-1}, {}).sqlstate(), "22023");
  EXPECT_EQ(m, HeldResult());
}

TEST(ResultFormats, AValueThatDoesNotReadBackFails) {
  const std::string original = Description({{"n", value::kInt4Oid}}) + Row({"12x"}) + Complete("SELECT 1");
  std::string m = original;
  Status s = ToResultFormats(&m, {1}, {});
  EXPECT_EQ(s.sqlstate(), "22P02") << s.message();
  EXPECT_EQ(m, original);
}

TEST(ResultFormats, AResultWithoutRowsKeepsItsOtherMessages) {
  std::string m = Description({{"n", value::kInt4Oid}}) + Complete("SELECT 0");
  ASSERT_TRUE(ToResultFormats(&m, {1}, {}).ok());
  Parsed p = Parse(m);
  EXPECT_EQ(p.types, (std::vector<char>{be::kRowDescription, be::kCommandComplete}));
  EXPECT_EQ(p.formats, (std::vector<int16_t>{1}));
}

}  // namespace
}  // namespace mosaic::router
