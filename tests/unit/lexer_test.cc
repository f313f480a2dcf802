#include "sql/lexer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mosaic::sql {
namespace {

Lexed LexOf(std::string_view sql) {
  Lexed out;
  Lex(sql, &out);
  return out;
}

std::vector<std::string> Values(const Lexed& l) {
  std::vector<std::string> v;
  for (const Literal& lit : l.literals) v.push_back(lit.value);
  return v;
}

uint64_t Shape(std::string_view sql) { return LexOf(sql).shape_hash; }

TEST(Lexer, LiteralsAreSlotsAndShapeIgnoresTheirValues) {
  const std::string sql = "SELECT * FROM t WHERE a = 42 AND b = 'it''s'";
  const Lexed l = LexOf(sql);
  ASSERT_EQ(l.literals.size(), 2u);
  EXPECT_EQ(l.literals[0].kind, Literal::Kind::kNumber);
  EXPECT_EQ(l.literals[0].value, "42");
  EXPECT_EQ(sql.substr(l.literals[0].begin, l.literals[0].end - l.literals[0].begin), "42");
  EXPECT_EQ(l.literals[1].kind, Literal::Kind::kString);
  EXPECT_EQ(l.literals[1].value, "it's");
  EXPECT_EQ(sql.substr(l.literals[1].begin, l.literals[1].end - l.literals[1].begin), "'it''s'");
  EXPECT_EQ(l.statements, 1);
  EXPECT_FALSE(l.error);
  EXPECT_EQ(l.shape_hash, Shape("select *  from T where A = 7 and b='other'"));
}

TEST(Lexer, ShapeDistinguishesStructure) {
  const uint64_t base = Shape("SELECT a FROM t WHERE b = 1");
  EXPECT_NE(base, Shape("SELECT a FROM t WHERE b < 1"));
  EXPECT_NE(base, Shape("SELECT a FROM u WHERE b = 1"));
  EXPECT_NE(base, Shape("SELECT a FROM t WHERE b = $1"));
  EXPECT_NE(base, Shape("SELECT a FROM t WHERE b = '1'"));  // string vs number
  EXPECT_NE(base, Shape("SELECT a FROM t WHERE b = -1"));
  EXPECT_NE(Shape("SELECT a FROM \"T\""), Shape("SELECT a FROM \"t\""));  // quoted: case kept
  EXPECT_EQ(Shape("SELECT a FROM \"t\""), Shape("select A from \"t\""));
  EXPECT_NE(Shape("SELECT a::int"), Shape("SELECT a: :int"));
  EXPECT_NE(Shape("SELECT $1, $2"), Shape("SELECT $2, $1"));
  EXPECT_NE(Shape("SELECT ab"), Shape("SELECT a b"));
}

TEST(Lexer, WhitespaceAndCommentsDoNotMatterButChangeTheLayout) {
  const Lexed a = LexOf("SELECT a FROM t WHERE b = 1");
  const Lexed b = LexOf("SELECT a -- hi\n FROM /* x /* nested */ y */ t WHERE b = 1");
  EXPECT_EQ(a.shape_hash, b.shape_hash);
  EXPECT_NE(a.layout_hash, b.layout_hash);
  EXPECT_EQ(a.layout_hash, LexOf("select A from T where B = 99999").layout_hash);
}

TEST(Lexer, StringForms) {
  const std::string sql =
      "SELECT E'a\\nb\\'c\\x41\\101\\u00e9', B'1010', x'1F', U&'d\\0061t', $$it's$$, "
      "$tag$a $$ b$tag$, N'nat', 'multi'\n  'line'";
  const Lexed l = LexOf(sql);
  ASSERT_FALSE(l.error);
  EXPECT_EQ(Values(l), (std::vector<std::string>{"a\nb'cAA\xc3\xa9", "1010", "1F", "d\\0061t",
                                                 "it's", "a $$ b", "nat", "multiline"}));
  // Each literal's range covers its prefix and quotes.
  const Literal& e = l.literals[0];
  EXPECT_EQ(sql.substr(e.begin, 2), "E'");
  const Literal& multi = l.literals.back();
  EXPECT_EQ(sql.substr(multi.begin, multi.end - multi.begin), "'multi'\n  'line'");
  // Same line: two separate strings (a syntax error for PostgreSQL, and a different shape).
  EXPECT_EQ(LexOf("SELECT 'a' 'b'").literals.size(), 2u);
  EXPECT_NE(Shape("SELECT 'a' 'b'"), Shape("SELECT 'a'\n'b'"));
}

TEST(Lexer, Numbers) {
  const Lexed l = LexOf("SELECT 42, 4.2, .5, 1e10, 2.5E-3, 7., 1e");
  EXPECT_EQ(Values(l), (std::vector<std::string>{"42", "4.2", ".5", "1e10", "2.5E-3", "7.", "1"}));
  for (const Literal& lit : l.literals) EXPECT_EQ(lit.kind, Literal::Kind::kNumber);
  // t.5 style qualified names are not numbers, but `a.b` keeps its identifiers.
  EXPECT_TRUE(LexOf("SELECT t.a FROM t").literals.empty());
}

TEST(Lexer, ParamsAndIdentifiersAreNotLiterals) {
  const Lexed l = LexOf("SELECT \"Quoted \"\"x\"\"\", a$b, $12 FROM t1");
  EXPECT_TRUE(l.literals.empty());
}

TEST(Lexer, OperatorsFollowPostgresRules) {
  // "=-" splits into "=" and "-" (a trailing minus is not part of an ordinary operator), so
  // "a=-5" and "a = - 5" have one shape.
  EXPECT_EQ(Shape("SELECT 1 WHERE a=-5"), Shape("SELECT 1 WHERE a = - 5"));
  // A comment start ends an operator.
  const Lexed c = LexOf("SELECT 1 +-- comment\n 2");
  EXPECT_EQ(Values(c), (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(Shape("SELECT 1 +-- comment\n 2"), Shape("SELECT 1 + 2"));
  EXPECT_NE(Shape("SELECT a @- b"), Shape("SELECT a @ - b"));
}

TEST(Lexer, CountsStatements) {
  EXPECT_EQ(LexOf("").statements, 0);
  EXPECT_EQ(LexOf("  -- only a comment").statements, 0);
  EXPECT_EQ(LexOf("SELECT 1").statements, 1);
  EXPECT_EQ(LexOf("SELECT 1;").statements, 1);
  EXPECT_EQ(LexOf("SELECT 1; ;  SELECT ';'; SELECT $$;$$").statements, 3);
  EXPECT_EQ(LexOf("CREATE RULE r AS ON INSERT TO t DO (SELECT 1; SELECT 2)").statements, 1);
}

TEST(Lexer, UnterminatedInputIsAnError) {
  for (const char* sql : {"SELECT 'abc", "SELECT /* open", "SELECT $$x", "SELECT \"id",
                          "SELECT E'\\'"}) {
    const Lexed l = LexOf(sql);
    EXPECT_TRUE(l.error) << sql;
    EXPECT_NE(l.shape_hash, Shape("SELECT 'abc'")) << sql;
  }
  EXPECT_NE(Shape("SELECT 'abc"), Shape("SELECT 'abd"));  // raw text hash
}

TEST(Lexer, ReusesOutputAcrossCalls) {
  Lexed l;
  Lex("SELECT 1, 2, 3", &l);
  ASSERT_EQ(l.literals.size(), 3u);
  const Literal* data = l.literals.data();
  Lex("SELECT 'x', 'y'", &l);
  EXPECT_EQ(Values(l), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(l.literals.data(), data);  // same storage: no reallocation
  Lex("SELECT a", &l);
  EXPECT_TRUE(l.literals.empty());
}

TEST(Lexer, NextTokenKinds) {
  const std::string sql = "a \"B\" 'c' 1.5 $1 <= ( :: , E'x'";
  std::vector<Token::Kind> kinds;
  int pos = 0;
  for (Token t = NextToken(sql, &pos); t.kind != Token::Kind::kEnd; t = NextToken(sql, &pos)) {
    kinds.push_back(t.kind);
  }
  using K = Token::Kind;
  EXPECT_EQ(kinds, (std::vector<K>{K::kIdent, K::kQuotedIdent, K::kString, K::kNumber, K::kParam,
                                   K::kOperator, K::kPunct, K::kPunct, K::kPunct, K::kString}));
}

}  // namespace
}  // namespace mosaic::sql
