// router/copy_out: COPY (query) TO STDOUT's parts, its probe, and rows written as PostgreSQL's
// COPY writes them in text and CSV format (the end-to-end test compares with a node's own COPY).
#include "router/copy_out.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mosaic::router {
namespace {

using Row = std::vector<std::optional<std::string_view>>;

std::string Line(const CopyOutFormat& f, const Row& row) {
  std::string out;
  AppendCopyLine(f, row, &out);
  return out;
}

TEST(CopyOutSplit, FindsTheParenthesizedQueryAndWhatFollows) {
  const std::string_view sql = " copy /* c ( */ ( SELECT f(a), ')' FROM (SELECT 1 AS a) s ) TO STDOUT (FORMAT csv)";
  const auto parts = SplitCopyQuery(sql);
  ASSERT_TRUE(parts);
  EXPECT_EQ(parts->query, " SELECT f(a), ')' FROM (SELECT 1 AS a) s ");
  EXPECT_EQ(sql.substr(parts->query_begin, parts->query.size()), parts->query);
  EXPECT_EQ(parts->after, " TO STDOUT (FORMAT csv)");
  EXPECT_EQ(sql.substr(parts->after_begin), parts->after);

  EXPECT_FALSE(SplitCopyQuery("COPY t TO STDOUT"));
  EXPECT_FALSE(SplitCopyQuery("COPY (SELECT 1 TO STDOUT"));
  EXPECT_FALSE(SplitCopyQuery("SELECT (1)"));
  EXPECT_FALSE(SplitCopyQuery("COPY (SELECT ')"));
}

TEST(CopyOutProbe, WrapsTheQueryAndMapsPositionsBack) {
  const std::string_view sql = "COPY (SELECT nope FROM t) TO STDOUT (FORCE_QUOTE (zz), FORMAT csv)";
  const auto parts = SplitCopyQuery(sql);
  ASSERT_TRUE(parts);
  const std::string probe = CopyProbe(*parts);
  EXPECT_EQ(probe, "COPY (SELECT * FROM (SELECT nope FROM t) AS mosaic_copy LIMIT 0) TO STDOUT (FORCE_QUOTE (zz), FORMAT csv)");
  // 1-based positions of "nope" and "zz" in each text.
  const int nope_probe = static_cast<int>(probe.find("nope")) + 1, nope_sql = static_cast<int>(sql.find("nope")) + 1;
  const int zz_probe = static_cast<int>(probe.find("zz")) + 1, zz_sql = static_cast<int>(sql.find("zz")) + 1;
  EXPECT_EQ(CopyProbePosition(sql, *parts, nope_probe), nope_sql);
  EXPECT_EQ(CopyProbePosition(sql, *parts, zz_probe), zz_sql);
  EXPECT_EQ(CopyProbePosition(sql, *parts, static_cast<int>(probe.find("LIMIT")) + 1), std::nullopt);
  EXPECT_EQ(CopyProbePosition(sql, *parts, 3), std::nullopt);
  EXPECT_EQ(CopyQueryPosition(sql, *parts, static_cast<int>(parts->query.find("nope")) + 1), nope_sql);

  // Positions count characters, not bytes.
  const std::string_view wide = "COPY (SELECT 'é', nope FROM t) TO STDOUT";
  const auto w = SplitCopyQuery(wide);
  ASSERT_TRUE(w);
  const std::string wprobe = CopyProbe(*w);
  EXPECT_EQ(CopyProbePosition(wide, *w, static_cast<int>(wprobe.find("nope"))), static_cast<int>(wide.find("nope")));
}

TEST(CopyOutText, EscapesAsPostgreSQL) {
  const CopyOutFormat text;
  EXPECT_EQ(Line(text, {"1", "a b", std::nullopt}), "1\ta b\t\\N\n");
  EXPECT_EQ(Line(text, {"tab\there", "nl\nand\rcr", "back\\slash"}), "tab\\there\tnl\\nand\\rcr\tback\\\\slash\n");
  EXPECT_EQ(Line(text, {"\b\f\v", std::string_view("\x01", 1)}), "\\b\\f\\v\t\x01\n");
  EXPECT_EQ(Line(text, {"\\.", ""}), "\\\\.\t\n");
  EXPECT_EQ(Line(text, {"é"}), "é\n");
  CopyOutFormat semi;
  semi.delimiter = ';';
  semi.null = "NULL";
  EXPECT_EQ(Line(semi, {"a;b", std::nullopt, "t\tx"}), "a\\;b;NULL;t\\tx\n");
  CopyOutFormat control;  // a control character as the delimiter is escaped too
  control.delimiter = '\x01';
  EXPECT_EQ(Line(control, {std::string_view("a\x01" "b", 3), "c"}), "a\\\x01" "b\x01" "c\n");
}

TEST(CopyOutCsv, QuotesWhatNeedsIt) {
  CopyOutFormat csv;
  csv.csv = true;
  csv.delimiter = ',';
  csv.null = "";
  EXPECT_EQ(Line(csv, {"1", "plain", std::nullopt, ""}), "1,plain,,\"\"\n");
  EXPECT_EQ(Line(csv, {"a,b", "say \"hi\"", "two\nlines", "cr\r"}), "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\r\"\n");
  EXPECT_EQ(Line(csv, {"back\\slash", "tab\tin"}), "back\\slash,tab\tin\n");
  EXPECT_EQ(Line(csv, {"\\."}), "\"\\.\"\n");  // alone on its line it would read as the end marker
  EXPECT_EQ(Line(csv, {"\\.", "x"}), "\\.,x\n");

  csv.force_quote = {false, true, true};
  EXPECT_EQ(Line(csv, {"1", "2", std::nullopt}), "1,\"2\",\n");  // NULL is never quoted

  CopyOutFormat odd;
  odd.csv = true;
  odd.delimiter = '|';
  odd.null = "NA";
  odd.quote = '\'';
  odd.escape = '\\';
  EXPECT_EQ(Line(odd, {"NA", std::nullopt, "it's", "a\\b", "x|y", "a,b"}), "'NA'|NA|'it\\'s'|a\\b|'x|y'|a,b\n");
  EXPECT_EQ(Line(odd, {"q'\\"}), "'q\\'\\\\'\n");
}

}  // namespace
}  // namespace mosaic::router
