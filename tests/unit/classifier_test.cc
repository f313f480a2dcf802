#include "sql/classifier.h"

#include <gtest/gtest.h>

namespace mosaic::sql {
namespace {

TEST(Classifier, FirstKeywordSkipsWhitespaceCommentsAndParens) {
  char buf[32];
  EXPECT_EQ(FirstKeyword("  \n\tSELECT 1", buf), "select");
  EXPECT_EQ(FirstKeyword("-- hello\nCreate table t()", buf), "create");
  EXPECT_EQ(FirstKeyword("/* a /* nested */ comment */ drop table t", buf), "drop");
  EXPECT_EQ(FirstKeyword("((select 1))", buf), "select");
  EXPECT_EQ(FirstKeyword("   ", buf), "");
  EXPECT_EQ(FirstKeyword("/* unterminated", buf), "");
}

TEST(Classifier, SingleStatements) {
  EXPECT_EQ(Classify("SELECT * FROM t WHERE a = 1").kind, StatementKind::kOrdinary);
  EXPECT_EQ(Classify("insert into t values (1);").kind, StatementKind::kOrdinary);
  EXPECT_EQ(Classify("CREATE TABLE t (a int)").kind, StatementKind::kDdl);
  EXPECT_EQ(Classify("alter table t add column b int;  ").kind, StatementKind::kDdl);
  EXPECT_EQ(Classify("DROP INDEX i").kind, StatementKind::kDdl);
  EXPECT_EQ(Classify("grant select on t to bob").kind, StatementKind::kDdl);
  EXPECT_EQ(Classify("COMMENT ON TABLE t IS 'x'").kind, StatementKind::kDdl);
  EXPECT_EQ(Classify("BEGIN ISOLATION LEVEL SERIALIZABLE").kind, StatementKind::kBegin);
  EXPECT_EQ(Classify("start transaction").kind, StatementKind::kBegin);
  EXPECT_EQ(Classify("COMMIT").kind, StatementKind::kTransaction);
  EXPECT_EQ(Classify("rollback to savepoint a").kind, StatementKind::kTransaction);
  EXPECT_EQ(Classify("END").kind, StatementKind::kTransaction);
  // DDL as the analyzer has it: over the extended protocol these must reach every node too.
  EXPECT_EQ(Classify("TRUNCATE t").kind, StatementKind::kDdl);
  EXPECT_EQ(Classify("truncate table a, b restart identity").kind, StatementKind::kDdl);
  EXPECT_EQ(Classify("SECURITY LABEL ON TABLE t IS 'x'").kind, StatementKind::kDdl);
  EXPECT_EQ(Classify("REASSIGN OWNED BY bob TO alice").kind, StatementKind::kDdl);
  EXPECT_EQ(Classify("IMPORT FOREIGN SCHEMA s FROM SERVER f INTO public").kind, StatementKind::kDdl);
  EXPECT_EQ(Classify("").kind, StatementKind::kEmpty);
  EXPECT_EQ(Classify(" -- only a comment").kind, StatementKind::kEmpty);
}

TEST(Classifier, SemicolonInsideLiteralIsNotASecondStatement) {
  Classification c = Classify("SELECT 'a;b' ; ");
  EXPECT_EQ(c.kind, StatementKind::kOrdinary);
  EXPECT_EQ(c.statements, 1);
  c = Classify("INSERT INTO t VALUES ('x; DROP TABLE t')");
  EXPECT_EQ(c.kind, StatementKind::kOrdinary);
}

TEST(Classifier, MultiStatementStrings) {
  Classification c = Classify("CREATE TABLE a (x int); CREATE INDEX ON a (x);");
  EXPECT_EQ(c.kind, StatementKind::kDdl);
  EXPECT_EQ(c.statements, 2);
  EXPECT_EQ(Classify("BEGIN; CREATE TABLE a (x int); COMMIT;").kind, StatementKind::kDdl);
  EXPECT_EQ(Classify("BEGIN; INSERT INTO a VALUES (1); COMMIT;").kind, StatementKind::kOrdinary);
  EXPECT_EQ(Classify("CREATE TABLE a (x int); INSERT INTO a VALUES (1)").kind, StatementKind::kMixed);
  EXPECT_EQ(Classify("BEGIN; COMMIT").kind, StatementKind::kTransaction);
  EXPECT_EQ(Classify("select 1; select 2").statements, 2);
}

TEST(Classifier, UnparseableTextIsLeftToTheNode) {
  // The scanner cannot split an unterminated literal; the node reports the syntax error.
  Classification c = Classify("select 'oops; select 2");
  EXPECT_EQ(c.kind, StatementKind::kOrdinary);
}

}  // namespace
}  // namespace mosaic::sql
