// Finding subqueries that run first and writing their results back (sql/subplan.h).
#include "sql/subplan.h"

#include <gtest/gtest.h>

namespace mosaic::sql {
namespace {

using K = SubplanStep::Kind;
constexpr size_t kMax = 1 << 20;

SubplanStep Next(std::string_view sql) {
  auto step = NextSubplan(sql);
  EXPECT_TRUE(step.ok()) << step.status().ToString();
  return step.ok() ? step.value() : SubplanStep{};
}

SubplanResult Ints(std::vector<std::optional<std::string>> values, std::string name = "id") {
  SubplanResult r;
  r.names = {std::move(name)};
  r.types = {"integer"};
  for (auto& v : values) r.rows.push_back({std::move(v)});
  return r;
}

std::string Apply(std::string_view sql, const SubplanResult& r) {
  auto out = SubstituteSubplan(sql, Next(sql), r, kMax);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? out.value() : "";
}

TEST(Subplan, InListKeepsTypesAndNulls) {
  const std::string sql = "SELECT a FROM t WHERE x IN (SELECT id FROM u) ORDER BY a";
  const SubplanStep step = Next(sql);
  EXPECT_EQ(step.kind, K::kIn);
  EXPECT_EQ(step.query, "SELECT id FROM u");
  EXPECT_EQ(Apply(sql, Ints({"1", std::nullopt, "1"})),
            "SELECT a FROM t WHERE x IN ('1'::integer, NULL::integer, '1'::integer) ORDER BY a");
}

TEST(Subplan, EmptyInAndNotIn) {
  EXPECT_EQ(Apply("SELECT a FROM t WHERE x IN (SELECT id FROM u)", Ints({})),
            "SELECT a FROM t WHERE x = ANY ('{}'::integer[])");
  EXPECT_EQ(Apply("SELECT a FROM t WHERE x NOT IN (SELECT id FROM u)", Ints({})),
            "SELECT a FROM t WHERE x <> ALL ('{}'::integer[])");
  EXPECT_EQ(Apply("SELECT a FROM t WHERE x NOT IN (SELECT id FROM u)", Ints({"2"})),
            "SELECT a FROM t WHERE x NOT IN ('2'::integer)");
}

TEST(Subplan, CharacterValuesCompareAsTheSubqueryDoes) {
  // An IN list would compare a varchar x with char(n) values as text (trailing blanks count).
  SubplanResult r;
  r.names = {"c"};
  r.types = {"character(3)"};
  r.rows = {{"ab "}, {"cd "}};
  EXPECT_EQ(Apply("SELECT 1 FROM t WHERE vc IN (SELECT c FROM u)", r),
            "SELECT 1 FROM t WHERE vc = ANY ('{\"ab \",\"cd \"}'::character(3)[])");
  EXPECT_EQ(Apply("SELECT 1 FROM t WHERE vc NOT IN (SELECT c FROM u)", r),
            "SELECT 1 FROM t WHERE vc <> ALL ('{\"ab \",\"cd \"}'::character(3)[])");
  r.rows.pop_back();  // one value: x = value, the subquery's operator
  EXPECT_EQ(Apply("SELECT 1 FROM t WHERE vc IN (SELECT c FROM u)", r),
            "SELECT 1 FROM t WHERE vc IN ('ab '::character(3))");
}

TEST(Subplan, QuotesAndBackslashes) {
  SubplanResult r;
  r.names = {"name"};
  r.types = {"text"};
  r.rows = {{"O'Brien"}, {"back\\slash"}};
  EXPECT_EQ(Apply("SELECT 1 FROM t WHERE n IN (SELECT name FROM c)", r),
            "SELECT 1 FROM t WHERE n IN ('O''Brien'::text, E'back\\\\slash'::text)");
}

TEST(Subplan, ScalarErrorsAsPostgres) {
  const std::string sql = "SELECT a FROM t WHERE x = (SELECT id FROM u)";
  auto many = SubstituteSubplan(sql, Next(sql), Ints({"1", "2"}), kMax);
  ASSERT_FALSE(many.ok());
  EXPECT_EQ(many.status().sqlstate(), "21000");
  EXPECT_EQ(Apply(sql, Ints({})), "SELECT a FROM t WHERE x = (NULL::integer)");
  SubplanResult two = Ints({"1"});
  two.names.push_back("b");
  two.types.push_back("text");
  two.rows[0].push_back("x");
  auto wide = SubstituteSubplan(sql, Next(sql), two, kMax);
  ASSERT_FALSE(wide.ok());
  EXPECT_EQ(wide.status().sqlstate(), "42601");
}

TEST(Subplan, RowComparedWithSubquery) {
  const std::string sql = "SELECT 1 FROM t WHERE (a, b) = (SELECT id, id FROM u)";
  SubplanResult two = Ints({"1"});
  two.names.push_back("id");
  two.types.push_back("integer");
  two.rows[0].push_back(std::nullopt);
  EXPECT_EQ(Apply(sql, two), "SELECT 1 FROM t WHERE (a, b) = ('1'::integer, NULL::integer)");
  auto narrow = SubstituteSubplan(sql, Next(sql), Ints({"1"}), kMax);
  ASSERT_FALSE(narrow.ok());
  EXPECT_EQ(narrow.status().message(), "subquery has too few columns");
}

TEST(Subplan, TargetKeepsItsName) {
  EXPECT_EQ(Apply("SELECT (SELECT max(id) FROM u)::text, 1 FROM t", Ints({"7"}, "max")),
            "SELECT ('7'::integer)::text AS \"max\", 1 FROM t");
  EXPECT_EQ(Apply("SELECT EXISTS (SELECT 1 FROM u) FROM t", Ints({"1"})), "SELECT true AS \"exists\" FROM t");
  SubplanResult untyped = Ints({"1"});  // EXISTS: the session looks no type up
  untyped.types.clear();
  EXPECT_EQ(Apply("SELECT 1 FROM t WHERE NOT EXISTS (SELECT 1 FROM u)", untyped), "SELECT 1 FROM t WHERE NOT true");
  EXPECT_EQ(Apply("SELECT (SELECT max(id) FROM u) AS m FROM t", Ints({"7"}, "max")),
            "SELECT ('7'::integer) AS m FROM t");
}

TEST(Subplan, AnyAllAndArray) {
  EXPECT_EQ(Apply("SELECT 1 FROM t WHERE x > ALL (SELECT id FROM u)", Ints({"1", std::nullopt})),
            "SELECT 1 FROM t WHERE x > ALL ('{\"1\",NULL}'::integer[])");
  EXPECT_EQ(Apply("SELECT 1 FROM t WHERE x = ANY (SELECT id FROM u)", Ints({})),
            "SELECT 1 FROM t WHERE x = ANY ('{}'::integer[])");
  EXPECT_EQ(Apply("SELECT ARRAY(SELECT id FROM u ORDER BY id) AS ids", Ints({"3", "1"})),
            "SELECT ('{\"3\",\"1\"}'::integer[]) AS ids");
  SubplanResult arrays = Ints({"{1,2}"});
  arrays.types = {"integer[]"};
  EXPECT_EQ(Apply("SELECT ARRAY(SELECT a FROM u) AS aa", arrays), "SELECT (ARRAY['{1,2}'::integer[]]::integer[][]) AS aa");
  SubplanResult text;
  text.names = {"n"};
  text.types = {"text"};
  text.rows = {{"a\"b\\c"}};
  EXPECT_EQ(Apply("SELECT 1 FROM t WHERE x = ANY (SELECT n FROM u)", text),
            "SELECT 1 FROM t WHERE x = ANY (E'{\"a\\\\\"b\\\\\\\\c\"}'::text[])");
}

TEST(Subplan, ManyRowsAsArrays) {
  std::vector<std::optional<std::string>> many;
  for (int i = 0; i < 1001; ++i) many.emplace_back(std::to_string(i));
  const std::string in = Apply("SELECT 1 FROM t WHERE x NOT IN (SELECT id FROM u)", Ints(many));
  EXPECT_TRUE(in.starts_with("SELECT 1 FROM t WHERE x <> ALL ('{\"0\",\"1\",")) << in.substr(0, 80);
  const std::string cte = Apply("WITH c AS (SELECT id FROM u) SELECT count(*) FROM c", Ints(many));
  EXPECT_TRUE(cte.starts_with(" SELECT count(*) FROM (SELECT mosaic_c1 AS \"id\" FROM unnest('{\"0\",")) << cte.substr(0, 80);
  EXPECT_TRUE(cte.ends_with("}'::integer[]) AS mosaic_values(mosaic_c1)) AS \"c\"")) << cte.substr(cte.size() - 80);
}

TEST(Subplan, CteInlinedAtEachReference) {
  const std::string sql = "WITH c(k) AS (SELECT id FROM u), d AS (SELECT k FROM c) SELECT * FROM d, c x";
  const SubplanStep step = Next(sql);
  EXPECT_EQ(step.kind, K::kCte);
  EXPECT_EQ(step.query, "SELECT id FROM u");
  EXPECT_EQ(Apply(sql, Ints({"5"})),
            "WITH d AS (SELECT k FROM (SELECT mosaic_c1 AS \"k\" FROM (VALUES ('5'::integer)) AS "
            "mosaic_values(mosaic_c1)) AS \"c\") SELECT * FROM d, (SELECT mosaic_c1 AS \"k\" FROM (VALUES "
            "('5'::integer)) AS mosaic_values(mosaic_c1)) x");
  EXPECT_EQ(Apply("WITH c AS (SELECT id FROM u) SELECT count(*) FROM c", Ints({})),
            " SELECT count(*) FROM (SELECT NULL::integer AS \"id\" WHERE false) AS \"c\"");
}

TEST(Subplan, DerivedTableReadingTables) {
  const std::string sql = "SELECT avg(n) FROM (SELECT count(*) n FROM u GROUP BY g) s";
  const SubplanStep step = Next(sql);
  EXPECT_EQ(step.kind, K::kDerived);
  EXPECT_EQ(step.query, "SELECT count(*) n FROM u GROUP BY g");
  // A set operation in FROM is one subquery, not its first branch.
  const std::string setop = "SELECT * FROM ((SELECT a FROM u) UNION ALL (SELECT b FROM v)) s";
  EXPECT_EQ(Next(setop).query, "(SELECT a FROM u) UNION ALL (SELECT b FROM v)");
  // A derived table without tables is left alone.
  EXPECT_EQ(Next("SELECT * FROM (VALUES (1)) v(x)").kind, K::kNone);
}

TEST(Subplan, CorrelatedAndLateralRefused) {
  auto correlated = NextSubplan("SELECT id FROM o WHERE EXISTS (SELECT 1 FROM c WHERE c.id = o.cid)");
  ASSERT_FALSE(correlated.ok());
  EXPECT_EQ(correlated.status().sqlstate(), "0A000");
  EXPECT_NE(correlated.status().message().find("\"o\""), std::string::npos);
  auto lateral = NextSubplan("SELECT * FROM o, LATERAL (SELECT o.id) s");
  ASSERT_FALSE(lateral.ok());
  EXPECT_EQ(lateral.status().sqlstate(), "0A000");
  // Its own table under the outer one's name is not a reference to the outer query.
  EXPECT_EQ(Next("SELECT 1 FROM o WHERE x > (SELECT avg(o.x) FROM o)").kind, K::kScalar);
}

TEST(Subplan, NothingToRunFirst) {
  EXPECT_EQ(Next("SELECT 1 FROM t UNION SELECT id FROM (SELECT id FROM u) s").kind, K::kNone);
  EXPECT_EQ(Next("WITH RECURSIVE r AS (SELECT 1) SELECT * FROM r").kind, K::kNone);
  EXPECT_EQ(Next("SELECT a FROM t").kind, K::kNone);
  EXPECT_EQ(Next("UPDATE t SET a = 1").kind, K::kNone);
  EXPECT_EQ(Next("DELETE FROM t WHERE a = 1").kind, K::kNone);
}

TEST(Subplan, UpdateAndDelete) {
  EXPECT_EQ(Apply("DELETE FROM t WHERE x IN (SELECT id FROM u)", Ints({"1", "2"})),
            "DELETE FROM t WHERE x IN ('1'::integer, '2'::integer)");
  EXPECT_EQ(Apply("UPDATE t SET v = (SELECT max(id) FROM u) WHERE k = 1", Ints({"7"}, "max")),
            "UPDATE t SET v = ('7'::integer) WHERE k = 1");
  EXPECT_EQ(Next("DELETE FROM t USING (SELECT id FROM u) s WHERE t.x = s.id").kind, K::kDerived);
  EXPECT_EQ(Next("WITH s AS (SELECT id FROM u) UPDATE t SET v = 0 WHERE x IN (SELECT id FROM s)").kind, K::kCte);
  // Correlated with the row written: refused.
  auto correlated = NextSubplan("UPDATE t SET v = (SELECT max(id) FROM u WHERE u.k = t.k)");
  ASSERT_FALSE(correlated.ok());
  EXPECT_EQ(correlated.status().sqlstate(), "0A000");
  // A subquery in RETURNING would name an output column: left alone.
  EXPECT_EQ(Next("DELETE FROM t WHERE x IN (SELECT id FROM u) RETURNING (SELECT 1 FROM w)").kind, K::kNone);
  EXPECT_EQ(Next("INSERT INTO t SELECT id FROM u WHERE id IN (SELECT id FROM w)").kind, K::kNone);
}

TEST(Subplan, LimitsAndUnwritableTypes) {
  const std::string sql = "SELECT a FROM t WHERE x IN (SELECT id FROM u)";
  auto big = SubstituteSubplan(sql, Next(sql), Ints({"123456789"}), 20);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().sqlstate(), "54000");
  SubplanResult user = Ints({"a"});
  user.types = {""};
  auto refused = SubstituteSubplan(sql, Next(sql), user, kMax);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().sqlstate(), "0A000");
}

}  // namespace
}  // namespace mosaic::sql
