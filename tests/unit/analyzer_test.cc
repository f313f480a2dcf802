#include "sql/analyzer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace mosaic::sql {
namespace {

using K = ValueRef::Kind;
using Agg = TargetColumn::Agg;

// One statement, lexed and analysed; keeps the text alive for slicing.
struct Analyzed {
  std::string sql;
  Lexed lexed;
  std::shared_ptr<const Analysis> a;

  explicit Analyzed(std::string text) : sql(std::move(text)) {
    Lex(sql, &lexed);
    a = Analyze(sql, lexed.literals);
  }
  const Analysis* operator->() const { return a.get(); }
  std::string Slice(int begin, int end) const {
    if (begin < 0 || end < begin) return "<none>";
    return sql.substr(begin, end - begin);
  }
  // The literal text a ValueRef denotes ("-5" for a negated slot, "$2" for a parameter).
  std::string Val(const ValueRef& v) const {
    switch (v.kind) {
      case K::kLiteral: {
        std::string s = (v.negate ? "-" : "") + lexed.literals[v.index].value;
        return v.cast.empty() ? s : s + "::" + v.cast;
      }
      case K::kParam: {
        std::string s = (v.negate ? "-$" : "$") + std::to_string(v.index);
        return v.cast.empty() ? s : s + "::" + v.cast;
      }
      case K::kNull: return "NULL";
      case K::kDefault: return "DEFAULT";
      case K::kOther: return "<other>";
    }
    return "?";
  }
  const Predicate& Pred(int i) const { return a->predicates.at(i); }
  // The predicates restricting table t (as the router reads its filter), as strings.
  std::vector<std::string> PredsOf(int t) const {
    std::vector<std::string> out;
    const int f = a->tables.at(t).filter;
    if (f < 0) return out;
    Collect(a->filters.at(f), t, &out);
    return out;
  }
  void Collect(const BoolExpr& e, int t, std::vector<std::string>* out) const {
    if (e.kind == BoolExpr::Kind::kPred && a->predicates[e.predicate].table == t) {
      out->push_back(Describe(a->predicates[e.predicate]));
    }
    for (const BoolExpr& c : e.children) Collect(c, t, out);
  }
  std::string Describe(const Predicate& p) const {
    static const char* kOps[] = {"=", "<>", "<", "<=", ">", ">=", "IN", "BETWEEN", "IS NULL",
                                 "IS NOT NULL"};
    std::string s = (p.negated ? "NOT " : "") + p.column + " " + kOps[static_cast<int>(p.op)];
    for (const ValueRef& v : p.values) s += " " + Val(v);
    return s;
  }
};

// ---- Statement types --------------------------------------------------------------------------

TEST(AnalyzerTypes, StatementTypes) {
  const std::vector<std::pair<std::string, StatementType>> cases = {
      {"SELECT 1", StatementType::kSelect},
      {"VALUES (1)", StatementType::kSelect},
      {"SELECT * FROM t FOR UPDATE", StatementType::kSelectForUpdate},
      {"SELECT * FROM t WHERE a IN (SELECT b FROM u FOR SHARE)", StatementType::kSelectForUpdate},
      {"INSERT INTO t VALUES (1)", StatementType::kInsert},
      {"UPDATE t SET a = 1", StatementType::kUpdate},
      {"DELETE FROM t", StatementType::kDelete},
      {"COPY t FROM STDIN", StatementType::kCopyFrom},
      {"COPY t TO STDOUT", StatementType::kCopyTo},
      {"COPY (SELECT 1) TO STDOUT", StatementType::kCopyTo},
      {"CREATE TABLE t (a int)", StatementType::kDdl},
      {"ALTER TABLE t ADD COLUMN b int", StatementType::kDdl},
      {"DROP TABLE t", StatementType::kDdl},
      {"TRUNCATE t", StatementType::kDdl},
      {"COMMENT ON TABLE t IS 'x'", StatementType::kDdl},
      {"GRANT SELECT ON t TO bob", StatementType::kDdl},
      {"REVOKE SELECT ON t FROM bob", StatementType::kDdl},
      {"CREATE INDEX i ON t (a)", StatementType::kDdl},
      {"ALTER TABLE t RENAME TO u", StatementType::kDdl},
      {"CREATE VIEW v AS SELECT 1", StatementType::kDdl},
      {"CREATE SEQUENCE s", StatementType::kDdl},
      {"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", StatementType::kDdl},
      {"VACUUM t", StatementType::kMaintenance},
      {"ANALYZE t", StatementType::kMaintenance},
      {"CLUSTER t USING i", StatementType::kMaintenance},
      {"REINDEX TABLE t", StatementType::kMaintenance},
      {"BEGIN", StatementType::kBegin},
      {"START TRANSACTION ISOLATION LEVEL SERIALIZABLE", StatementType::kBegin},
      {"COMMIT", StatementType::kCommit},
      {"END", StatementType::kCommit},
      {"ROLLBACK", StatementType::kRollback},
      {"ABORT", StatementType::kRollback},
      {"SAVEPOINT s", StatementType::kSavepoint},
      {"RELEASE SAVEPOINT s", StatementType::kSavepoint},
      {"ROLLBACK TO SAVEPOINT s", StatementType::kSavepoint},
      {"PREPARE TRANSACTION 'x'", StatementType::kTwoPhase},
      {"COMMIT PREPARED 'x'", StatementType::kTwoPhase},
      {"ROLLBACK PREPARED 'x'", StatementType::kTwoPhase},
      {"SET search_path = public", StatementType::kSet},
      {"SET LOCAL statement_timeout = 5", StatementType::kSet},
      {"RESET ALL", StatementType::kSet},
      {"SHOW search_path", StatementType::kShow},
      {"EXPLAIN SELECT 1", StatementType::kUtility},
      {"LISTEN x", StatementType::kUtility},
      {"DISCARD ALL", StatementType::kUtility},
      {"PREPARE p AS SELECT 1", StatementType::kUtility},
      {"DO $$BEGIN END$$", StatementType::kUtility},
      {"", StatementType::kEmpty},
      {"-- nothing", StatementType::kEmpty},
  };
  for (const auto& [sql, type] : cases) {
    Analyzed a(sql);
    EXPECT_EQ(a->type, type) << sql;
    EXPECT_FALSE(a->parse_error) << sql << ": " << a->error;
  }
}

TEST(AnalyzerTypes, SavepointKinds) {
  // The command tag Mosaic answers a savepoint with over the extended protocol comes from these.
  struct Case {
    const char* sql;
    bool rollback_to, release;
  };
  for (const Case& c : {Case{"SAVEPOINT s", false, false}, Case{"RELEASE SAVEPOINT s", false, true},
                        Case{"release s", false, true}, Case{"ROLLBACK TO SAVEPOINT s", true, false},
                        Case{"/* x */ ROLLBACK TO s", true, false}}) {
    Analyzed a(c.sql);
    EXPECT_EQ(a->type, StatementType::kSavepoint) << c.sql;
    EXPECT_EQ(a->rollback_to, c.rollback_to) << c.sql;
    EXPECT_EQ(a->release, c.release) << c.sql;
  }
}

TEST(AnalyzerTypes, SetNamesTheSetting) {
  // Transaction pooling reads a SET's setting back by name (and refuses SET ROLE) from these.
  struct Case {
    const char* sql;
    const char* name;
    bool local, reset_all;
    const char* value;
  };
  for (const Case& c : {Case{"SET search_path = other, public", "search_path", false, false, ""},
                        Case{"set Statement_Timeout to '5s'", "statement_timeout", false, false, "5s"},
                        Case{"SET LOCAL work_mem = '64MB'", "work_mem", true, false, "64MB"},
                        Case{"SET TIME ZONE 'UTC'", "timezone", false, false, "UTC"},
                        Case{"RESET search_path", "search_path", false, false, ""},
                        Case{"RESET ALL", "", false, true, ""},
                        Case{"SET ROLE weak", "role", false, false, "weak"},
                        Case{"SET ROLE NONE", "role", false, false, "none"},
                        Case{"SET SESSION AUTHORIZATION weak", "session_authorization", false, false, "weak"},
                        Case{"SET SESSION AUTHORIZATION DEFAULT", "session_authorization", false, false, ""},
                        Case{"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "", false, false, ""}}) {
    Analyzed a(c.sql);
    EXPECT_EQ(a->type, StatementType::kSet) << c.sql;
    EXPECT_EQ(a->set_name, c.name) << c.sql;
    EXPECT_EQ(a->set_local, c.local) << c.sql;
    EXPECT_EQ(a->set_reset_all, c.reset_all) << c.sql;
    EXPECT_EQ(a->set_value, c.value) << c.sql;
    EXPECT_FALSE(a->set_session_characteristics) << c.sql;
  }
  // Its defaults for the session's transactions: read back as default_transaction_*.
  Analyzed characteristics("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
  EXPECT_EQ(characteristics->type, StatementType::kSet);
  EXPECT_TRUE(characteristics->set_session_characteristics);
  EXPECT_EQ(characteristics->set_name, "");
}

TEST(AnalyzerTypes, SelectOfSetConfigOnly) {
  // PostgREST's request settings: run on every node of the transaction (frontend).
  EXPECT_TRUE(Analyzed("SELECT set_config('request.jwt.claims', $1, true), set_config('role', $2, true)")->only_set_config);
  EXPECT_TRUE(Analyzed("select pg_catalog.set_config('search_path', 'a', false)")->only_set_config);
  EXPECT_FALSE(Analyzed("SELECT set_config('a.b', '1', true), 1")->only_set_config);
  EXPECT_FALSE(Analyzed("SELECT set_config('a.b', v, true) FROM t")->only_set_config);
  EXPECT_FALSE(Analyzed("SELECT set_config('a.b', '1', true) WHERE false")->only_set_config);
  EXPECT_FALSE(Analyzed("SELECT other.set_config('a.b', '1', true)")->only_set_config);
  EXPECT_FALSE(Analyzed("SELECT current_setting('a.b')")->only_set_config);
  // The settings' names, for reading them back: a literal, a parameter, or neither.
  Analyzed names("SELECT set_config('app.tenant', '7', false), set_config($1, $2, false), set_config(lower('X'), '1', false)");
  ASSERT_EQ(names->set_config_names.size(), 3u);
  EXPECT_EQ(names->set_config_names[0].kind, ValueRef::Kind::kLiteral);
  EXPECT_EQ(names->set_config_names[1].kind, ValueRef::Kind::kParam);
  EXPECT_EQ(names->set_config_names[1].index, 1);
  EXPECT_EQ(names->set_config_names[2].kind, ValueRef::Kind::kOther);
  EXPECT_TRUE(Analyzed("SELECT set_config('a.b', v, true) FROM t")->set_config_names.empty());
  // Whether each is local: 1, 0, or -1 when not a constant Mosaic reads.
  Analyzed local("SELECT set_config('a', '1', true), set_config('b', '1', 'off'), set_config('c', '1', $1), "
                 "set_config('d', '1', 'Yes'::bool), set_config('e', '1', 'maybe')");
  EXPECT_EQ(local->set_config_local, (std::vector<int8_t>{1, 0, -1, 1, -1}));
}

TEST(AnalysisCache, SetConfigLocalStringIsPartOfTheShape) {
  // 'true' and 'false' are literals of one shape; the cached analysis must not answer for both.
  AnalysisCache cache(16);
  Lexed lexed;
  EXPECT_EQ(cache.Get("SELECT set_config('a', '1', 'true')", &lexed)->set_config_local, (std::vector<int8_t>{1}));
  EXPECT_EQ(cache.Get("SELECT set_config('a', '1', 'false')", &lexed)->set_config_local, (std::vector<int8_t>{0}));
  EXPECT_EQ(cache.Get("SELECT set_config('a', '2', 'true')", &lexed)->set_config_local, (std::vector<int8_t>{1}));
}

TEST(AnalyzerTypes, WritesThatCouldMoveRows) {
  // The router refuses these on distributed or split tables when they could change a row's
  // tenant or range column (update_columns) or are not planned per node (merge, cte_writes).
  Analyzed upsert("INSERT INTO t VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET k = excluded.k, v = 1");
  EXPECT_EQ(upsert->type, StatementType::kInsert);
  EXPECT_TRUE(upsert->on_conflict);
  EXPECT_FALSE(upsert->on_conflict_do_nothing);
  EXPECT_EQ(upsert->update_columns, (std::vector<std::string>{"k", "v"}));
  Analyzed nothing("INSERT INTO t VALUES (1, 2) ON CONFLICT DO NOTHING");
  EXPECT_TRUE(nothing->update_columns.empty());
  EXPECT_TRUE(nothing->on_conflict_do_nothing);
  Analyzed merge("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET k = s.k");
  EXPECT_EQ(merge->type, StatementType::kUpdate);
  EXPECT_TRUE(merge->merge);
  ASSERT_EQ(merge->tables.size(), 2u);
  EXPECT_EQ(merge->tables[0].name, "t");
  Analyzed cte("WITH u AS (UPDATE t SET k = 1 RETURNING *) SELECT * FROM u");
  EXPECT_EQ(cte->type, StatementType::kSelect);
  EXPECT_TRUE(cte->cte_writes);
  Analyzed read("WITH u AS (SELECT * FROM t) SELECT * FROM u");
  EXPECT_FALSE(read->cte_writes);
}

TEST(AnalyzerTypes, ParseErrorsNeverThrow) {
  for (const char* sql : {"SELEC 1", "SELECT * FROM", "SELECT 'open", "INSERT INTO t VALUES ((1)"}) {
    Analyzed a(sql);
    EXPECT_TRUE(a->parse_error) << sql;
    EXPECT_FALSE(a->error.empty()) << sql;
    EXPECT_EQ(a->type, StatementType::kUtility) << sql;
  }
}

TEST(AnalyzerTypes, MultiStatementTextAnalysesTheFirst) {
  Analyzed a("UPDATE t SET a = 1 WHERE id = 5; SELECT 2");
  EXPECT_EQ(a->type, StatementType::kUpdate);
  EXPECT_EQ(a.PredsOf(0), (std::vector<std::string>{"id = 5"}));
}

TEST(AnalyzerTypes, DdlFlagsAndTables) {
  Analyzed create("CREATE TABLE s.t (a int)");
  EXPECT_TRUE(create->ddl_creates_table);
  EXPECT_TRUE(create->ddl_changes_tables);
  ASSERT_EQ(create->tables.size(), 1u);
  EXPECT_EQ(create->tables[0].schema, "s");
  EXPECT_EQ(create->tables[0].name, "t");

  Analyzed ctas("CREATE TABLE t2 AS SELECT * FROM t1");
  EXPECT_TRUE(ctas->ddl_creates_table);
  ASSERT_EQ(ctas->tables.size(), 2u);
  EXPECT_EQ(ctas->tables[0].name, "t2");
  EXPECT_EQ(ctas->tables[1].name, "t1");

  Analyzed into("SELECT * INTO t2 FROM t1");
  EXPECT_EQ(into->type, StatementType::kDdl);
  EXPECT_TRUE(into->ddl_creates_table);

  Analyzed alter("ALTER TABLE t ADD COLUMN b int");
  EXPECT_FALSE(alter->ddl_creates_table);
  EXPECT_TRUE(alter->ddl_changes_tables);
  EXPECT_EQ(alter->tables.at(0).name, "t");

  Analyzed drop("DROP TABLE a, s.b");
  EXPECT_TRUE(drop->ddl_changes_tables);
  ASSERT_EQ(drop->tables.size(), 2u);
  EXPECT_EQ(drop->tables[1].schema, "s");
  EXPECT_EQ(drop->tables[1].name, "b");

  EXPECT_TRUE(Analyzed("ALTER TABLE t RENAME COLUMN a TO b")->ddl_changes_tables);
  EXPECT_TRUE(Analyzed("ALTER TABLE t RENAME TO u")->ddl_changes_tables);
  EXPECT_FALSE(Analyzed("CREATE INDEX i ON t (a)")->ddl_changes_tables);
  EXPECT_FALSE(Analyzed("CREATE SEQUENCE s")->ddl_changes_tables);
  EXPECT_FALSE(Analyzed("DROP INDEX i")->ddl_changes_tables);
  EXPECT_FALSE(Analyzed("COMMENT ON TABLE t IS 'x'")->ddl_changes_tables);

  EXPECT_TRUE(Analyzed("CREATE INDEX CONCURRENTLY i ON t (a)")->ddl_concurrently);
  EXPECT_TRUE(Analyzed("DROP INDEX CONCURRENTLY i")->ddl_concurrently);
  EXPECT_TRUE(Analyzed("REINDEX TABLE CONCURRENTLY t")->ddl_concurrently);
  EXPECT_FALSE(Analyzed("CREATE INDEX i ON t (a)")->ddl_concurrently);

  Analyzed truncate("TRUNCATE a, b");
  ASSERT_EQ(truncate->tables.size(), 2u);
  EXPECT_EQ(truncate->tables[1].name, "b");
}

// What the data path refuses on a table while a migration moves its rows.
TEST(AnalyzerTypes, DdlThatAltersTheTablesItNames) {
  for (const char* sql : {"ALTER TABLE t ADD COLUMN b int", "ALTER TABLE t RENAME COLUMN a TO b",
                          "ALTER TABLE t RENAME TO u", "ALTER TABLE t SET SCHEMA s", "DROP TABLE t",
                          "TRUNCATE t", "ALTER TABLE t ALTER COLUMN a TYPE bigint"}) {
    Analyzed a(sql);
    EXPECT_TRUE(a->ddl_alters_tables) << sql;
    ASSERT_FALSE(a->tables.empty()) << sql;
    EXPECT_EQ(a->tables[0].name, "t") << sql;
  }
  for (const char* sql : {"CREATE INDEX i ON t (a)", "CREATE INDEX CONCURRENTLY i ON t (a)", "DROP INDEX i",
                          "COMMENT ON TABLE t IS 'x'", "GRANT SELECT ON t TO PUBLIC", "CREATE TABLE u (a int)",
                          "DROP VIEW v", "ALTER SEQUENCE s RESTART"}) {
    EXPECT_FALSE(Analyzed(sql)->ddl_alters_tables) << sql;
  }
}

// ---- Values -----------------------------------------------------------------------------------

TEST(AnalyzerValues, ConstantsParamsCastsAndNegation) {
  Analyzed a(
      "SELECT * FROM t WHERE a = 5 AND b = -7 AND c = 'x'::date AND d = CAST(1 AS bigint) "
      "AND e = DATE '2024-01-01' AND f = $3 AND g = $1::int AND h = NULL AND i = now() "
      "AND j = - 2.5 AND k = CAST($2 AS timestamp with time zone) AND l = -$4");
  std::vector<std::string> got;
  for (const Predicate& p : a->predicates) got.push_back(a.Describe(p));
  EXPECT_EQ(got, (std::vector<std::string>{"a = 5", "b = -7", "c = x::date", "d = 1::int8",
                                           "e = 2024-01-01::date", "f = $3", "g = $1::int4",
                                           "h = NULL", "j = -2.5", "k = $2::timestamptz",
                                           "l = -$4"}));
  EXPECT_EQ(a->max_param, 4);
}

TEST(AnalyzerValues, MaxParamCountsEveryParameter) {
  EXPECT_EQ(Analyzed("SELECT $7 + 1 FROM t WHERE a = $2")->max_param, 7);
  EXPECT_EQ(Analyzed("SELECT 1")->max_param, 0);
}

// ---- Predicates -------------------------------------------------------------------------------

TEST(AnalyzerPredicates, EveryOperatorForm) {
  Analyzed a(
      "SELECT * FROM t WHERE a = 1 AND a <> 2 AND a != 3 AND a < 4 AND a <= 5 AND a > 6 "
      "AND a >= 7 AND 8 < b AND 9 >= b AND 10 = b AND c IN (1, 2, $1) AND c NOT IN (3) "
      "AND d BETWEEN 1 AND 5 AND d NOT BETWEEN 6 AND 7 AND e IS NULL AND e IS NOT NULL "
      "AND f = ANY(ARRAY[1, 2]) AND g = ANY($2)");
  EXPECT_EQ(a.PredsOf(0), (std::vector<std::string>{
                              "a = 1", "a <> 2", "a <> 3", "a < 4", "a <= 5", "a > 6", "a >= 7",
                              "b > 8", "b <= 9", "b = 10", "c IN 1 2 $1", "NOT c IN 3",
                              "d BETWEEN 1 5", "NOT d BETWEEN 6 7", "e IS NULL",
                              "e IS NOT NULL", "f IN 1 2"}));
  // g = ANY($2) is opaque: the parameter is an array.
  const BoolExpr& root = a->filters.at(a->tables[0].filter);
  EXPECT_EQ(root.kind, BoolExpr::Kind::kAnd);
  EXPECT_EQ(root.children.back().kind, BoolExpr::Kind::kOpaque);
}

TEST(AnalyzerPredicates, AndOrNotTrees) {
  Analyzed a("SELECT * FROM t WHERE (a = 1 OR a = 2) AND NOT b = 3 AND lower(c) = 'x'");
  const BoolExpr& root = a->filters.at(a->tables[0].filter);
  ASSERT_EQ(root.kind, BoolExpr::Kind::kAnd);
  ASSERT_EQ(root.children.size(), 3u);
  EXPECT_EQ(root.children[0].kind, BoolExpr::Kind::kOr);
  ASSERT_EQ(root.children[0].children.size(), 2u);
  EXPECT_EQ(a.Describe(a.Pred(root.children[0].children[1].predicate)), "a = 2");
  EXPECT_EQ(root.children[1].kind, BoolExpr::Kind::kNot);
  EXPECT_EQ(a.Describe(a.Pred(root.children[1].children[0].predicate)), "b = 3");
  EXPECT_EQ(root.children[2].kind, BoolExpr::Kind::kOpaque);
}

TEST(AnalyzerPredicates, OpaqueForms) {
  for (const char* sql : {"SELECT * FROM t WHERE a + 1 = 2", "SELECT * FROM t WHERE a = b",
                          "SELECT * FROM t WHERE a::text = 'x'", "SELECT * FROM t WHERE a = b + 1",
                          "SELECT * FROM t WHERE a LIKE 'x%'", "SELECT * FROM t WHERE 1 = 1",
                          "SELECT * FROM t WHERE a IN (1, b)",
                          "SELECT * FROM t WHERE a BETWEEN SYMMETRIC 1 AND 2",
                          "SELECT * FROM t, u WHERE a = 1"}) {
    Analyzed a(sql);
    EXPECT_TRUE(a->predicates.empty()) << sql;
  }
}

TEST(AnalyzerPredicates, ColumnsResolveByAliasOrName) {
  Analyzed a(
      "SELECT * FROM s.orders o, customers WHERE o.id = 1 AND customers.id = 2 "
      "AND s.o.x = 3 AND orders.id = 4");
  ASSERT_EQ(a->tables.size(), 2u);
  EXPECT_EQ(a->tables[0].schema, "s");
  EXPECT_EQ(a->tables[0].name, "orders");
  EXPECT_EQ(a->tables[0].alias, "o");
  EXPECT_EQ(a.PredsOf(0), (std::vector<std::string>{"id = 1"}));
  EXPECT_EQ(a.PredsOf(1), (std::vector<std::string>{"id = 2"}));
  // s.o.x: an alias has no schema; orders.id: the aliased table is only known as o.
  EXPECT_EQ(a->predicates.size(), 2u);
  EXPECT_EQ(a->tables[0].filter, a->tables[1].filter);
  EXPECT_EQ(Analyzed("SELECT * FROM s.t WHERE s.t.a = 1").PredsOf(0),
            (std::vector<std::string>{"a = 1"}));
}

// ---- Joins and filters ------------------------------------------------------------------------

TEST(AnalyzerJoins, InnerJoinsShareTheLevelFilter) {
  Analyzed a(
      "SELECT * FROM a JOIN b ON a.id = b.a_id AND b.k = 5 JOIN c USING (id) WHERE a.id = $1");
  ASSERT_EQ(a->tables.size(), 3u);
  EXPECT_FALSE(a->has_outer_join);
  EXPECT_EQ(a.PredsOf(0), (std::vector<std::string>{"id = $1"}));
  EXPECT_EQ(a.PredsOf(1), (std::vector<std::string>{"k = 5"}));
  EXPECT_EQ(a->tables[0].filter, a->tables[2].filter);
  // USING (id) after a join with ON: which of a and b supplies id is unknown, so no pair.
  ASSERT_EQ(a->joins.size(), 1u);
  EXPECT_EQ(a->joins[0].left_table, 0);
  EXPECT_EQ(a->joins[0].left_column, "id");
  EXPECT_EQ(a->joins[0].right_table, 1);
  EXPECT_EQ(a->joins[0].right_column, "a_id");
  // Nested USING joins on the same column pair every table that supplies it.
  Analyzed u("SELECT * FROM a JOIN b USING (id) JOIN c USING (id)");
  EXPECT_EQ(u->joins.size(), 3u);
}

TEST(AnalyzerJoins, UsingAndWhereEqualities) {
  Analyzed a("SELECT * FROM a JOIN b USING (id, k), c WHERE c.x = a.y AND (a.z = c.z OR a.q = 1)");
  std::vector<std::string> pairs;
  for (const JoinPair& j : a->joins) {
    pairs.push_back(std::to_string(j.left_table) + "." + j.left_column + "=" +
                    std::to_string(j.right_table) + "." + j.right_column);
  }
  // Equalities under OR are not join conditions.
  std::sort(pairs.begin(), pairs.end());
  EXPECT_EQ(pairs, (std::vector<std::string>{"0.id=1.id", "0.k=1.k", "2.x=0.y"}));
}

TEST(AnalyzerJoins, OuterJoinNullableSideUsesOnlyItsOnClause) {
  Analyzed a(
      "SELECT * FROM a LEFT JOIN b ON b.a_id = a.id AND b.k = 1 AND a.k = 2 "
      "WHERE a.id = 5 AND b.v IS NULL");
  EXPECT_TRUE(a->has_outer_join);
  EXPECT_EQ(a.PredsOf(0), (std::vector<std::string>{"id = 5"}));  // not the ON's a.k = 2
  EXPECT_EQ(a.PredsOf(1), (std::vector<std::string>{"k = 1"}));   // not the WHERE's b.v IS NULL
  ASSERT_EQ(a->joins.size(), 1u);
  EXPECT_EQ(a->joins[0].left_table, 1);

  Analyzed r("SELECT * FROM a RIGHT JOIN b ON a.k = 1 WHERE b.id = 2");
  EXPECT_EQ(r.PredsOf(0), (std::vector<std::string>{"k = 1"}));
  EXPECT_EQ(r.PredsOf(1), (std::vector<std::string>{"id = 2"}));

  Analyzed f("SELECT * FROM a FULL JOIN b ON a.k = 1 AND b.k = 2 WHERE a.id = 3");
  EXPECT_EQ(f->tables[0].filter, -1);
  EXPECT_EQ(f->tables[1].filter, -1);

  // A nullable inner join: both of its tables get the outer ON and their own ON.
  Analyzed n("SELECT * FROM a LEFT JOIN (b JOIN c ON c.k = 3) ON b.k = 4 WHERE a.id = 1");
  EXPECT_EQ(n.PredsOf(0), (std::vector<std::string>{"id = 1"}));
  EXPECT_EQ(n.PredsOf(1), (std::vector<std::string>{"k = 4"}));
  EXPECT_EQ(n.PredsOf(2), (std::vector<std::string>{"k = 3"}));
}

TEST(AnalyzerJoins, SelfJoinHasTwoReferences) {
  Analyzed a("SELECT * FROM t x JOIN t y ON x.parent = y.id WHERE y.id = 9");
  ASSERT_EQ(a->tables.size(), 2u);
  EXPECT_EQ(a->tables[0].alias, "x");
  EXPECT_EQ(a.PredsOf(0), (std::vector<std::string>{}));
  EXPECT_EQ(a.PredsOf(1), (std::vector<std::string>{"id = 9"}));
  ASSERT_EQ(a->joins.size(), 1u);
}

// ---- Subqueries and CTEs ----------------------------------------------------------------------

TEST(AnalyzerSubqueries, TablesInSubqueriesAndCtes) {
  Analyzed a(
      "WITH recent AS (SELECT * FROM orders WHERE day = $1) "
      "SELECT * FROM customers c JOIN recent r ON r.cid = c.id "
      "WHERE c.id IN (SELECT cid FROM vip WHERE level > 3) "
      "AND EXISTS (SELECT 1 FROM notes n WHERE n.cid = c.id) "
      "AND c.region = (SELECT region FROM (SELECT * FROM regions) sub LIMIT 1)");
  std::vector<std::string> names;
  for (const TableRef& t : a->tables) names.push_back(t.name + (t.in_subquery ? "*" : ""));
  EXPECT_EQ(names, (std::vector<std::string>{"orders*", "customers", "vip*", "notes*",
                                             "regions*"}));
  EXPECT_EQ(a.PredsOf(0), (std::vector<std::string>{"day = $1"}));
  EXPECT_EQ(a.PredsOf(2), (std::vector<std::string>{"level > 3"}));
  // The correlated equality n.cid = c.id is a join pair between levels.
  bool correlated = false;
  for (const JoinPair& j : a->joins) correlated |= j.left_table == 3 && j.right_table == 1;
  EXPECT_TRUE(correlated);
  EXPECT_FALSE(a->simple_select);
}

TEST(AnalyzerSubqueries, CteNamesAreNotTablesButShadowOnlyInScope) {
  Analyzed a("SELECT * FROM (WITH t AS (SELECT 1) SELECT * FROM t) x, t");
  ASSERT_EQ(a->tables.size(), 1u);
  EXPECT_EQ(a->tables[0].name, "t");
  EXPECT_FALSE(a->tables[0].in_subquery);

  Analyzed r("WITH RECURSIVE r AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT * FROM r, s.r");
  ASSERT_EQ(r->tables.size(), 1u);
  EXPECT_EQ(r->tables[0].schema, "s");
}

TEST(AnalyzerSubqueries, SetOperationBranchesAreSubqueries) {
  Analyzed a("SELECT a FROM t WHERE a = 1 UNION SELECT a FROM u WHERE a = 2");
  ASSERT_EQ(a->tables.size(), 2u);
  EXPECT_TRUE(a->tables[0].in_subquery);
  EXPECT_TRUE(a->tables[1].in_subquery);
  EXPECT_EQ(a.PredsOf(1), (std::vector<std::string>{"a = 2"}));
  EXPECT_FALSE(a->simple_select);
}

TEST(AnalyzerSubqueries, DataModifyingCte) {
  Analyzed a("WITH d AS (DELETE FROM t WHERE id = 4 RETURNING *) INSERT INTO u SELECT * FROM d");
  ASSERT_EQ(a->tables.size(), 2u);
  EXPECT_EQ(a->tables[0].name, "u");
  EXPECT_EQ(a->tables[1].name, "t");
  EXPECT_TRUE(a->tables[1].in_subquery);
  EXPECT_EQ(a.PredsOf(1), (std::vector<std::string>{"id = 4"}));
  EXPECT_TRUE(a->insert_select);
}

// ---- SELECT shape -----------------------------------------------------------------------------

TEST(AnalyzerSelect, TargetsNamesAndRanges) {
  Analyzed a(
      "SELECT a, t.b AS bee, count(*), count(DISTINCT c), sum(x + 1) total, min(y), max(z), "
      "avg(w), sum(x) + 1, round(avg(w)), string_agg(s, ','), t.*, 'lit'::date, d::int, "
      "CASE WHEN a THEN 1 END, coalesce(a, b), \"Quoted\" "
      "FROM t GROUP BY 1, 2, c");
  const auto& t = a->targets;
  ASSERT_EQ(t.size(), 17u);
  std::vector<std::string> names, texts;
  for (const TargetColumn& c : t) {
    names.push_back(c.name);
    texts.push_back(a.Slice(c.text_begin, c.text_end));
  }
  EXPECT_EQ(names, (std::vector<std::string>{"a", "bee", "count", "count", "total", "min", "max",
                                             "avg", "?column?", "round", "string_agg", "t",
                                             "date", "d", "case", "coalesce", "Quoted"}));
  EXPECT_EQ(texts, (std::vector<std::string>{
                       "a", "t.b", "count(*)", "count(DISTINCT c)", "sum(x + 1)", "min(y)",
                       "max(z)", "avg(w)", "sum(x) + 1", "round(avg(w))", "string_agg(s, ',')",
                       "t.*", "'lit'::date", "d::int", "CASE WHEN a THEN 1 END",
                       "coalesce(a, b)", "\"Quoted\""}));
  EXPECT_EQ(t[0].column, "a");
  EXPECT_EQ(t[1].column, "b");
  EXPECT_EQ(t[2].agg, Agg::kCountStar);
  EXPECT_EQ(t[2].arg_begin, -1);
  EXPECT_EQ(t[3].agg, Agg::kCount);
  EXPECT_TRUE(t[3].agg_distinct);
  EXPECT_EQ(a.Slice(t[3].arg_begin, t[3].arg_end), "c");
  EXPECT_EQ(t[4].agg, Agg::kSum);
  EXPECT_EQ(a.Slice(t[4].arg_begin, t[4].arg_end), "x + 1");
  EXPECT_EQ(t[5].agg, Agg::kMin);
  EXPECT_EQ(t[6].agg, Agg::kMax);
  EXPECT_EQ(t[7].agg, Agg::kAvg);
  EXPECT_EQ(a.Slice(t[7].arg_begin, t[7].arg_end), "w");
  EXPECT_EQ(t[8].agg, Agg::kNone);
  EXPECT_TRUE(t[8].contains_agg);
  // round() of one aggregate: the aggregate, finished by round().
  EXPECT_FALSE(t[9].contains_agg);
  EXPECT_EQ(t[9].agg, Agg::kAvg);
  EXPECT_EQ(t[9].finish.kind, AggFinish::Kind::kRound);
  EXPECT_EQ(t[10].agg, Agg::kOtherAgg);
  EXPECT_TRUE(t[11].is_star);
  EXPECT_FALSE(t[0].contains_agg);
  EXPECT_TRUE(a->has_aggregates);
  EXPECT_EQ(a.Slice(a->targets_begin, a->targets_end),
            a.sql.substr(7, a.sql.find(" FROM") - 7));
  EXPECT_EQ(a->from_begin, static_cast<int>(a.sql.find("FROM")));
  // GROUP BY with a star target: ordinals cannot be resolved.
  EXPECT_TRUE(a->group_by_unresolved);
}

TEST(AnalyzerSelect, GroupByResolution) {
  Analyzed a("SELECT region r, lower(name), count(*) FROM t GROUP BY 1, lower( name ), r");
  EXPECT_EQ(a->group_by, (std::vector<int>{0, 1, 0}));
  EXPECT_FALSE(a->group_by_unresolved);
  EXPECT_EQ(a.Slice(a->group_by_begin, a->group_by_end), "GROUP BY 1, lower( name ), r");
  ASSERT_EQ(a->structural_literals.size(), 1u);
  EXPECT_EQ(a->structural_literals[0], (std::pair<int, std::string>{0, "1"}));

  EXPECT_TRUE(Analyzed("SELECT a, count(*) FROM t GROUP BY 3")->group_by_unresolved);
  EXPECT_TRUE(Analyzed("SELECT a, count(*) FROM t GROUP BY ROLLUP (a)")->group_by_unresolved);
  Analyzed q("SELECT t.a, count(*) FROM t GROUP BY a");
  EXPECT_EQ(q->group_by, (std::vector<int>{0}));
}

TEST(AnalyzerSelect, GroupKeysThatAreNotSelected) {
  Analyzed a("SELECT count(*) FROM t WHERE x > 1 GROUP BY DISTINCT t.a, lower(b) ORDER BY a DESC, lower(b), 1 LIMIT 3");
  EXPECT_FALSE(a->group_by_unresolved);
  EXPECT_TRUE(a->group_by.empty());
  ASSERT_EQ(a->group_by_hidden.size(), 2u);
  EXPECT_EQ(a.Slice(a->group_by_hidden[0].first, a->group_by_hidden[0].second), "t.a");
  EXPECT_EQ(a.Slice(a->group_by_hidden[1].first, a->group_by_hidden[1].second), "lower(b)");
  EXPECT_EQ(a->group_by_at, -1);  // one is written
  ASSERT_EQ(a->order_by.size(), 3u);
  EXPECT_EQ(a->order_by[0].target, -1);
  EXPECT_EQ(a->order_by[0].group_key, 0);
  EXPECT_EQ(a->order_by[1].group_key, 1);
  EXPECT_EQ(a->order_by[2].target, 0);
  EXPECT_EQ(a->order_by[2].group_key, -1);
  // Where a GROUP BY would go without one.
  Analyzed w("SELECT count(DISTINCT x) FROM t WHERE y = 1 ORDER BY 1");
  EXPECT_EQ(static_cast<size_t>(w->group_by_at), w.sql.find("ORDER"));
  Analyzed e("SELECT count(DISTINCT x) FROM t AS u;");
  EXPECT_EQ(e.Slice(e->from_begin, e->group_by_at), "FROM t AS u");
  Analyzed h("SELECT a FROM t WHERE b = 1 GROUP BY a HAVING count(DISTINCT c) > 1");
  EXPECT_EQ(h->group_by_at, -1);
  Analyzed h2("SELECT count(*) FROM t WHERE b = 1 HAVING count(DISTINCT c) > 1");
  EXPECT_EQ(static_cast<size_t>(h2->group_by_at), h2.sql.find("HAVING"));
  // Not needed: no range after the literals (the cache shares such an analysis as it is).
  EXPECT_EQ(Analyzed("SELECT count(x) FROM t WHERE b = 1")->group_by_at, -1);
}

TEST(AnalyzerSelect, FetchWithTies) {
  Analyzed a("SELECT a FROM t ORDER BY a OFFSET 1 ROWS FETCH FIRST 2 ROWS WITH TIES");
  EXPECT_TRUE(a->simple_select);
  EXPECT_TRUE(a->limit_with_ties);
  EXPECT_EQ(a.Val(*a->limit), "2");
  EXPECT_EQ(a.Slice(a->limit_begin, a->limit_end), "OFFSET 1 ROWS FETCH FIRST 2 ROWS WITH TIES");
  EXPECT_FALSE(Analyzed("SELECT a FROM t ORDER BY a FETCH FIRST 2 ROWS ONLY")->limit_with_ties);
}

TEST(AnalyzerSelect, AggregatesUnderCastsAndRound) {
  Analyzed a(
      "SELECT count(*)::int, CAST(avg(x) AS numeric(10, 2)) AS a, sum(y) FILTER (WHERE y > 0)::float8, "
      "round(avg(z), 2), round(avg(z)), count(DISTINCT w)::text, max(v)::double precision, x::int FROM t");
  const auto& t = a->targets;
  ASSERT_EQ(t.size(), 8u);
  EXPECT_EQ(t[0].agg, Agg::kCountStar);
  EXPECT_FALSE(t[0].contains_agg);
  EXPECT_EQ(t[0].finish.kind, AggFinish::Kind::kCast);
  EXPECT_EQ(t[0].finish.type, "int4");
  EXPECT_EQ(t[0].name, "count");
  EXPECT_EQ(a.Slice(t[0].agg_begin, t[0].agg_end), "count(*)");
  EXPECT_EQ(a.Slice(t[0].text_begin, t[0].text_end), "count(*)::int");
  EXPECT_EQ(t[1].agg, Agg::kAvg);
  EXPECT_EQ(t[1].finish.type, "numeric");
  EXPECT_EQ(t[1].finish.args, (std::vector<int32_t>{10, 2}));
  EXPECT_EQ(a.Slice(t[1].arg_begin, t[1].arg_end), "x");
  EXPECT_EQ(t[2].agg, Agg::kSum);
  EXPECT_TRUE(t[2].agg_filter);
  EXPECT_EQ(a.Slice(t[2].agg_begin, t[2].agg_end), "sum(y) FILTER (WHERE y > 0)");
  EXPECT_EQ(t[2].finish.type, "float8");
  EXPECT_EQ(t[3].finish.kind, AggFinish::Kind::kRound);
  EXPECT_EQ(t[3].finish.args, (std::vector<int32_t>{2}));
  EXPECT_EQ(t[3].name, "round");
  EXPECT_TRUE(t[4].finish.args.empty());
  EXPECT_TRUE(t[5].agg_distinct);
  EXPECT_EQ(t[5].finish.type, "text");
  EXPECT_EQ(a.Slice(t[5].arg_begin, t[5].arg_end), "w");
  EXPECT_EQ(t[6].finish.type, "float8");
  EXPECT_EQ(t[7].agg, Agg::kNone);
  EXPECT_EQ(t[7].finish.kind, AggFinish::Kind::kNone);
  // Typmods and round's scale are part of the shape.
  EXPECT_EQ(a->structural_literals.size(), 3u);

  Analyzed p("SELECT round(avg(x), $1), sum(x)::numeric(10, $2) FROM t");
  EXPECT_TRUE(p->targets[0].finish.unreadable);
  // Casts over expressions of aggregates stay expressions.
  Analyzed e("SELECT (count(*) + 1)::int, count(*)::int::text FROM t");
  EXPECT_TRUE(e->targets[0].contains_agg);
  EXPECT_EQ(e->targets[0].agg, Agg::kNone);
  EXPECT_TRUE(e->targets[1].contains_agg);
}

TEST(AnalyzerSelect, Having) {
  Analyzed a(
      "SELECT a, count(*) FROM t GROUP BY a HAVING count(*) > 5 AND 10 >= sum(DISTINCT b) "
      "AND avg(c + 1) <> $1 ORDER BY a");
  EXPECT_TRUE(a->has_having);
  EXPECT_FALSE(a->having_unsupported);
  EXPECT_EQ(a.Slice(a->having_begin, a->having_end),
            "HAVING count(*) > 5 AND 10 >= sum(DISTINCT b) AND avg(c + 1) <> $1");
  ASSERT_EQ(a->having.size(), 3u);
  EXPECT_EQ(a->having[0].agg, Agg::kCountStar);
  EXPECT_EQ(a->having[0].op, PredOp::kGt);
  EXPECT_EQ(a.Val(a->having[0].value), "5");
  EXPECT_EQ(a->having[1].agg, Agg::kSum);
  EXPECT_TRUE(a->having[1].agg_distinct);
  EXPECT_EQ(a->having[1].op, PredOp::kLe);
  EXPECT_EQ(a.Slice(a->having[1].arg_begin, a->having[1].arg_end), "b");
  EXPECT_EQ(a.Slice(a->having[2].arg_begin, a->having[2].arg_end), "c + 1");
  EXPECT_EQ(a.Val(a->having[2].value), "$1");

  for (const char* sql : {"SELECT a FROM t GROUP BY a HAVING count(*) > 1 OR sum(b) > 2",
                          "SELECT a FROM t GROUP BY a HAVING a > 1",
                          "SELECT a FROM t GROUP BY a HAVING count(*) > sum(b)",
                          "SELECT a FROM t GROUP BY a HAVING string_agg(b, ',') = 'x'"}) {
    Analyzed u(sql);
    EXPECT_TRUE(u->having_unsupported) << sql;
    EXPECT_TRUE(u->having.empty()) << sql;
  }
}

TEST(AnalyzerSelect, OrderByLimitOffset) {
  Analyzed a(
      "SELECT a, b AS bee, c + 1 FROM t ORDER BY 2 DESC, a NULLS FIRST, c + 1 ASC NULLS LAST, "
      "bee, d LIMIT 10 OFFSET $1");
  const auto& k = a->order_by;
  ASSERT_EQ(k.size(), 5u);
  EXPECT_EQ(k[0].target, 1);
  EXPECT_TRUE(k[0].descending);
  EXPECT_FALSE(k[0].nulls_first.has_value());
  EXPECT_EQ(k[1].target, 0);
  EXPECT_EQ(k[1].nulls_first, std::optional<bool>(true));
  EXPECT_EQ(k[2].target, 2);
  EXPECT_EQ(k[2].nulls_first, std::optional<bool>(false));
  EXPECT_EQ(k[3].target, 1);
  EXPECT_EQ(k[4].target, -1);
  std::vector<std::string> texts;
  for (const SortKey& s : k) texts.push_back(a.Slice(s.text_begin, s.text_end));
  EXPECT_EQ(texts, (std::vector<std::string>{"2", "a", "c + 1", "bee", "d"}));
  EXPECT_EQ(a.Slice(a->order_by_begin, a->order_by_end),
            "ORDER BY 2 DESC, a NULLS FIRST, c + 1 ASC NULLS LAST, bee, d");
  ASSERT_TRUE(a->limit.has_value());
  EXPECT_EQ(a.Val(*a->limit), "10");
  EXPECT_EQ(a.Val(*a->offset), "$1");
  EXPECT_EQ(a.Slice(a->limit_begin, a->limit_end), "LIMIT 10 OFFSET $1");
  EXPECT_TRUE(a->simple_select);

  Analyzed b("SELECT a FROM t OFFSET 5 LIMIT ALL;");
  EXPECT_EQ(b->limit->kind, K::kNull);
  EXPECT_EQ(b.Val(*b->offset), "5");
  EXPECT_EQ(b.Slice(b->limit_begin, b->limit_end), "OFFSET 5 LIMIT ALL");

  Analyzed c("SELECT a FROM t ORDER BY a FETCH FIRST 3 ROWS ONLY");
  EXPECT_EQ(c.Val(*c->limit), "3");
  EXPECT_EQ(c.Slice(c->limit_begin, c->limit_end), "FETCH FIRST 3 ROWS ONLY");
  EXPECT_EQ(c.Slice(c->order_by_begin, c->order_by_end), "ORDER BY a");
}

TEST(AnalyzerSelect, DistinctAndSimpleSelect) {
  Analyzed d("SELECT DISTINCT a, b FROM t");
  EXPECT_TRUE(d->distinct);
  EXPECT_FALSE(d->distinct_on);
  EXPECT_TRUE(d->simple_select);
  EXPECT_EQ(d.Slice(d->targets_begin, d->targets_end), "a, b");

  Analyzed on("SELECT DISTINCT ON (a) a, b FROM t ORDER BY a, b");
  EXPECT_TRUE(on->distinct_on);
  EXPECT_FALSE(on->distinct);
  EXPECT_FALSE(on->simple_select);
  EXPECT_EQ(on.Slice(on->targets[0].text_begin, on->targets[0].text_end), "a");

  for (const char* sql : {"SELECT 1", "SELECT a FROM t FOR UPDATE",
                          "SELECT rank() OVER (ORDER BY a) FROM t",
                          "SELECT * FROM generate_series(1, 3)",
                          "SELECT * FROM (SELECT a FROM t) s", "WITH c AS (SELECT 1) SELECT * FROM t",
                          "SELECT (SELECT 1) FROM t", "VALUES (1)",
                          "SELECT a FROM t FETCH FIRST 2 ROWS WITH TIES"}) {
    EXPECT_FALSE(Analyzed(sql)->simple_select) << sql;
  }
  EXPECT_TRUE(Analyzed("SELECT a FROM t JOIN u ON t.id = u.id WHERE a > 1")->simple_select);
  // A subquery in FROM reading no table is the same on every node (what a subquery run first
  // becomes); one with a subquery of its own is not.
  EXPECT_TRUE(Analyzed("SELECT a FROM t JOIN (VALUES (1), (2)) v(x) ON t.a = v.x")->simple_select);
  EXPECT_TRUE(Analyzed("SELECT a, v.x FROM (SELECT 1 AS x) v, t")->simple_select);
  EXPECT_FALSE(Analyzed("SELECT a FROM t JOIN (VALUES ((SELECT max(b) FROM u))) v(x) ON t.a = v.x")->simple_select);
  EXPECT_FALSE(Analyzed("SELECT a FROM t JOIN (SELECT id FROM u) v ON t.a = v.id")->simple_select);
}

TEST(AnalyzerSelect, RangesIgnoreKeywordLookalikes) {
  Analyzed a(
      "SELECT x IS DISTINCT FROM y AS \"from\", percentile_cont(0.5) WITHIN GROUP (ORDER BY x), "
      "t.order FROM t GROUP BY 1 ORDER BY 1");
  ASSERT_EQ(a->targets.size(), 3u);
  EXPECT_EQ(a.Slice(a->targets[0].text_begin, a->targets[0].text_end), "x IS DISTINCT FROM y");
  EXPECT_EQ(a.Slice(a->targets[1].text_begin, a->targets[1].text_end),
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY x)");
  EXPECT_EQ(a.Slice(a->targets[2].text_begin, a->targets[2].text_end), "t.order");
  EXPECT_EQ(a.Slice(a->group_by_begin, a->group_by_end), "GROUP BY 1");
  EXPECT_EQ(a.Slice(a->order_by_begin, a->order_by_end), "ORDER BY 1");
  EXPECT_EQ(a->from_begin, static_cast<int>(a.sql.find("FROM t")));
}

TEST(AnalyzerSelect, MosaicFunctions) {
  Analyzed a("SELECT mosaic.create_distributed_table('orders', 'customer_id', $1)");
  EXPECT_EQ(a->mosaic_function, "create_distributed_table");
  ASSERT_EQ(a->mosaic_args.size(), 3u);
  EXPECT_EQ(a.Val(a->mosaic_args[0]), "orders");
  EXPECT_EQ(a.Val(a->mosaic_args[2]), "$1");
  EXPECT_EQ(Analyzed("SELECT mosaic.f() FROM t")->mosaic_function, "");
  EXPECT_EQ(Analyzed("SELECT other.f()")->mosaic_function, "");
}

// ---- INSERT / UPDATE / DELETE / COPY ----------------------------------------------------------

TEST(AnalyzerInsert, MultiRowValuesWithRanges) {
  Analyzed a(
      "INSERT INTO s.t AS x (id, name, ts) VALUES (1, 'a', now()),\n ( -2 , $1, DEFAULT) , "
      "(3, NULL, '2024-01-01'::date) ON CONFLICT (id) DO NOTHING RETURNING id");
  EXPECT_EQ(a->type, StatementType::kInsert);
  ASSERT_EQ(a->tables.size(), 1u);
  EXPECT_EQ(a->tables[0].schema, "s");
  EXPECT_EQ(a->tables[0].alias, "x");
  EXPECT_EQ(a->insert_columns, (std::vector<std::string>{"id", "name", "ts"}));
  EXPECT_TRUE(a->insert_has_column_list);
  EXPECT_TRUE(a->on_conflict);
  EXPECT_TRUE(a->returning);
  EXPECT_TRUE(a->has_volatile_functions);
  ASSERT_EQ(a->insert_rows.size(), 3u);
  std::vector<std::string> rows, vals;
  for (const InsertRow& r : a->insert_rows) {
    rows.push_back(a.Slice(r.text_begin, r.text_end));
    for (const ValueRef& v : r.values) vals.push_back(a.Val(v));
  }
  EXPECT_EQ(rows, (std::vector<std::string>{"(1, 'a', now())", "( -2 , $1, DEFAULT)",
                                            "(3, NULL, '2024-01-01'::date)"}));
  EXPECT_EQ(vals, (std::vector<std::string>{"1", "a", "<other>", "-2", "$1", "DEFAULT", "3",
                                            "NULL", "2024-01-01::date"}));
  EXPECT_EQ(a.Slice(a->values_begin, a->values_end),
            "(1, 'a', now()),\n ( -2 , $1, DEFAULT) , (3, NULL, '2024-01-01'::date)");
}

TEST(AnalyzerInsert, SelectAndDefaultValues) {
  Analyzed a("INSERT INTO t SELECT * FROM u WHERE u.k = 3");
  EXPECT_TRUE(a->insert_select);
  EXPECT_FALSE(a->insert_has_column_list);
  EXPECT_TRUE(a->insert_rows.empty());
  ASSERT_EQ(a->tables.size(), 2u);
  EXPECT_EQ(a->tables[0].name, "t");
  EXPECT_EQ(a->tables[0].filter, -1);
  EXPECT_EQ(a.PredsOf(1), (std::vector<std::string>{"k = 3"}));

  Analyzed d("INSERT INTO t DEFAULT VALUES");
  EXPECT_FALSE(d->insert_select);
  EXPECT_TRUE(d->insert_rows.empty());
  EXPECT_FALSE(d->has_volatile_functions);
}

TEST(AnalyzerInsert, SelectRangeAndSources) {
  Analyzed a("INSERT INTO t AS x (tenant_id, id, v) (SELECT u.tenant_id, 7, id + 1 FROM u WHERE tenant_id = 3) "
             "ON CONFLICT (id) DO NOTHING RETURNING *");
  EXPECT_EQ(a.Slice(a->insert_select_begin, a->insert_select_end),
            "(SELECT u.tenant_id, 7, id + 1 FROM u WHERE tenant_id = 3) ");
  ASSERT_EQ(a->insert_sources.size(), 3u);
  EXPECT_EQ(a->insert_sources[0].table, 1);
  EXPECT_EQ(a->insert_sources[0].column, "tenant_id");
  EXPECT_EQ(a->insert_sources[1].table, -1);
  EXPECT_EQ(a.Val(a->insert_sources[1].value), "7");
  EXPECT_EQ(a.Val(a->insert_sources[2].value), "<other>");
  EXPECT_FALSE(a->insert_with);

  Analyzed r("WITH w AS (SELECT 1) INSERT INTO t VALUES (1) , (2)");  // not a SELECT: no range
  EXPECT_EQ(r->insert_select_begin, -1);
  Analyzed s("INSERT INTO t SELECT * FROM u RETURNING id;");
  EXPECT_EQ(s.Slice(s->insert_select_begin, s->insert_select_end), "SELECT * FROM u ");
  EXPECT_TRUE(s->insert_sources.empty());  // `*`
  Analyzed w("WITH w AS (SELECT 1 AS k) INSERT INTO t (k) SELECT k FROM w UNION SELECT 2");
  EXPECT_TRUE(w->insert_with);
  EXPECT_EQ(w.Slice(w->insert_select_begin, w->insert_select_end), "SELECT k FROM w UNION SELECT 2");
  EXPECT_TRUE(w->insert_sources.empty());  // a set operation
}

TEST(AnalyzerSelect, FunctionCallsOtherThanPlainAggregates) {
  EXPECT_FALSE(Analyzed("SELECT abalance FROM pgbench_accounts WHERE aid = 5")->calls_functions);
  EXPECT_FALSE(Analyzed("SELECT count(*), sum(a), avg(a), min(b), max(b) FROM t WHERE k = 1")->calls_functions);
  EXPECT_TRUE(Analyzed("SELECT set_config('TimeZone', 'UTC', false) FROM t WHERE k = 1")->calls_functions);
  EXPECT_TRUE(Analyzed("SELECT pg_advisory_lock(k) FROM t WHERE k = 1")->calls_functions);
  EXPECT_TRUE(Analyzed("SELECT lower(name) FROM t WHERE k = 1")->calls_functions);
  EXPECT_TRUE(Analyzed("SELECT a FROM t WHERE k = myschema.f(1)")->calls_functions);
}

TEST(AnalyzerInsert, VolatileFunctions) {
  EXPECT_TRUE(Analyzed("INSERT INTO t VALUES (nextval('s'))")->has_volatile_functions);
  EXPECT_TRUE(Analyzed("INSERT INTO t VALUES (gen_random_uuid())")->has_volatile_functions);
  EXPECT_TRUE(Analyzed("INSERT INTO t VALUES (uuid_generate_v4())")->has_volatile_functions);
  EXPECT_TRUE(Analyzed("UPDATE t SET a = random()")->has_volatile_functions);
  EXPECT_TRUE(Analyzed("SELECT clock_timestamp()")->has_volatile_functions);
  EXPECT_TRUE(Analyzed("INSERT INTO t VALUES (CURRENT_TIMESTAMP)")->has_volatile_functions);
  EXPECT_FALSE(Analyzed("INSERT INTO t VALUES (lower('X'))")->has_volatile_functions);
}

TEST(AnalyzerDml, UpdateAndDelete) {
  Analyzed u("UPDATE t SET a = a + 1, b = DEFAULT, (c, d) = (1, 2) WHERE id = 7 RETURNING *");
  EXPECT_EQ(u->update_columns, (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(u.PredsOf(0), (std::vector<std::string>{"id = 7"}));
  EXPECT_TRUE(u->returning);

  Analyzed f("UPDATE t SET a = u.b FROM u WHERE t.id = u.id AND u.k = 2");
  ASSERT_EQ(f->tables.size(), 2u);
  EXPECT_EQ(f.PredsOf(1), (std::vector<std::string>{"k = 2"}));
  ASSERT_EQ(f->joins.size(), 1u);

  Analyzed d("DELETE FROM t x USING u WHERE x.id = u.id AND x.id IN (1, 2)");
  EXPECT_EQ(d->type, StatementType::kDelete);
  EXPECT_EQ(d->tables[0].alias, "x");
  EXPECT_EQ(d.PredsOf(0), (std::vector<std::string>{"id IN 1 2"}));
  EXPECT_EQ(d->joins.size(), 1u);
  EXPECT_FALSE(d->returning);
}

TEST(AnalyzerCopy, OptionsAndDefaults) {
  Analyzed t("COPY t (a, b) FROM STDIN");
  EXPECT_EQ(t->type, StatementType::kCopyFrom);
  EXPECT_EQ(t->tables.at(0).name, "t");
  EXPECT_EQ(t->copy_columns, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(t->copy_format, "text");
  EXPECT_EQ(t->copy_delimiter, '\t');
  EXPECT_EQ(t->copy_null, "\\N");
  EXPECT_TRUE(t->copy_stdio);

  Analyzed c("COPY s.t FROM STDIN WITH (FORMAT csv, HEADER, QUOTE '''', ESCAPE '\\')");
  EXPECT_EQ(c->copy_format, "csv");
  EXPECT_EQ(c->copy_delimiter, ',');
  EXPECT_EQ(c->copy_null, "");
  EXPECT_TRUE(c->copy_header);
  EXPECT_EQ(c->copy_quote, '\'');
  EXPECT_EQ(c->copy_escape, '\\');

  Analyzed legacy("COPY t TO STDOUT WITH CSV HEADER DELIMITER ';' NULL 'nil'");
  EXPECT_EQ(legacy->type, StatementType::kCopyTo);
  EXPECT_EQ(legacy->copy_delimiter, ';');
  EXPECT_EQ(legacy->copy_null, "nil");
  EXPECT_TRUE(legacy->copy_header);
  EXPECT_EQ(legacy->copy_escape, '"');

  EXPECT_FALSE(Analyzed("COPY t (a) FROM STDIN (HEADER false, FORMAT csv)")->copy_header);
  EXPECT_EQ(Analyzed("COPY t FROM STDIN (FORMAT binary)")->copy_format, "binary");
  EXPECT_FALSE(Analyzed("COPY t FROM '/tmp/f'")->copy_stdio);
  EXPECT_FALSE(Analyzed("COPY t TO PROGRAM 'gzip > x'")->copy_stdio);

  Analyzed q("COPY (SELECT * FROM t WHERE k = 1) TO STDOUT");
  EXPECT_TRUE(q->copy_query);
  EXPECT_EQ(q.PredsOf(0), (std::vector<std::string>{"k = 1"}));
  EXPECT_TRUE(q->copy_force_quote.empty());
  EXPECT_FALSE(q->copy_force_quote_all);
  EXPECT_FALSE(q->copy_encoding);

  Analyzed fq("COPY (SELECT a, b FROM t) TO STDOUT (FORMAT csv, FORCE_QUOTE (b, \"A\"), ENCODING 'UTF8')");
  EXPECT_EQ(fq->copy_force_quote, (std::vector<std::string>{"b", "A"}));
  EXPECT_FALSE(fq->copy_force_quote_all);
  EXPECT_TRUE(fq->copy_encoding);
  EXPECT_TRUE(Analyzed("COPY (SELECT a FROM t) TO STDOUT (FORMAT csv, FORCE_QUOTE *)")->copy_force_quote_all);
  EXPECT_EQ(Analyzed("COPY (SELECT a FROM t) TO STDOUT CSV FORCE QUOTE a")->copy_force_quote,
            (std::vector<std::string>{"a"}));
}

TEST(AnalyzerSetval, ASetvalAloneAndItsArguments) {
  Analyzed dump("SELECT pg_catalog.setval('public.accounts_id_seq', 8577, true)");
  EXPECT_TRUE(dump->only_setval);
  EXPECT_EQ(dump->setval_sequence.kind, ValueRef::Kind::kLiteral);
  EXPECT_EQ(dump->setval_value.kind, ValueRef::Kind::kLiteral);
  EXPECT_EQ(dump->setval_called, 1);
  EXPECT_EQ(Analyzed("SELECT setval('s', 5, false)")->setval_called, 0);
  EXPECT_EQ(Analyzed("SELECT setval('s', 5)")->setval_called, 1);
  EXPECT_EQ(Analyzed("SELECT setval('s', 5, $1)")->setval_called, -1);
  EXPECT_EQ(Analyzed("SELECT setval('s', $1)")->setval_value.kind, ValueRef::Kind::kParam);
  EXPECT_FALSE(Analyzed("SELECT setval('s', 5), 1")->only_setval);
  EXPECT_FALSE(Analyzed("SELECT setval('s', 5) FROM t")->only_setval);
  EXPECT_FALSE(Analyzed("SELECT nextval('s')")->only_setval);
}

// ---- pgbench ----------------------------------------------------------------------------------

TEST(AnalyzerPgbench, ExtendedProtocolStatements) {
  Analyzed s("SELECT abalance FROM pgbench_accounts WHERE aid = $1;");
  EXPECT_EQ(s->type, StatementType::kSelect);
  EXPECT_TRUE(s->simple_select);
  EXPECT_EQ(s.PredsOf(0), (std::vector<std::string>{"aid = $1"}));
  EXPECT_EQ(s->targets.at(0).name, "abalance");
  EXPECT_EQ(s->max_param, 1);

  Analyzed u("UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;");
  EXPECT_EQ(u.PredsOf(0), (std::vector<std::string>{"aid = $2"}));
  EXPECT_EQ(u->update_columns, (std::vector<std::string>{"abalance"}));
  EXPECT_FALSE(u->has_volatile_functions);

  Analyzed i(
      "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
      "VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);");
  EXPECT_EQ(i->insert_columns.size(), 5u);
  ASSERT_EQ(i->insert_rows.size(), 1u);
  EXPECT_EQ(i.Val(i->insert_rows[0].values[2]), "$3");
  EXPECT_EQ(i->insert_rows[0].values[4].kind, K::kOther);
  EXPECT_EQ(i.Slice(i->insert_rows[0].text_begin, i->insert_rows[0].text_end),
            "($1, $2, $3, $4, CURRENT_TIMESTAMP)");
  EXPECT_EQ(i->max_param, 4);
}

TEST(AnalyzerPgbench, SimpleProtocolStatements) {
  Analyzed s("SELECT abalance FROM pgbench_accounts WHERE aid = 48213;");
  EXPECT_EQ(s.PredsOf(0), (std::vector<std::string>{"aid = 48213"}));
  Analyzed u("UPDATE pgbench_tellers SET tbalance = tbalance + -4211 WHERE tid = 7;");
  EXPECT_EQ(u.PredsOf(0), (std::vector<std::string>{"tid = 7"}));
  Analyzed i(
      "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
      "VALUES (7, 1, 48213, -4211, CURRENT_TIMESTAMP);");
  std::vector<std::string> vals;
  for (const ValueRef& v : i->insert_rows.at(0).values) vals.push_back(i.Val(v));
  EXPECT_EQ(vals, (std::vector<std::string>{"7", "1", "48213", "-4211", "<other>"}));
}

// ---- The cache --------------------------------------------------------------------------------

TEST(AnalysisCache, SameShapeHitsWithFreshLiterals) {
  AnalysisCache cache(16);
  Lexed lexed;
  auto first = cache.Get("SELECT abalance FROM pgbench_accounts WHERE aid = 1", &lexed);
  auto second = cache.Get("select abalance from pgbench_accounts where aid = 99999", &lexed);
  EXPECT_EQ(cache.misses(), 1u);
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(first.get(), second.get());  // no byte range after the literal: shared as is
  ASSERT_EQ(second->predicates.size(), 1u);
  EXPECT_EQ(lexed.literals.at(second->predicates[0].values[0].index).value, "99999");
  cache.Get("SELECT abalance FROM pgbench_accounts WHERE aid = $1", &lexed);
  EXPECT_EQ(cache.misses(), 2u);
  EXPECT_EQ(cache.size(), 2u);
}

TEST(AnalysisCache, StructuralLiteralsMiss) {
  AnalysisCache cache;
  Lexed lexed;
  auto by1 = cache.Get("SELECT a, b FROM t ORDER BY 1", &lexed);
  auto by2 = cache.Get("SELECT a, b FROM t ORDER BY 2", &lexed);
  EXPECT_EQ(cache.misses(), 2u);
  EXPECT_EQ(by1->order_by.at(0).target, 0);
  EXPECT_EQ(by2->order_by.at(0).target, 1);
  cache.Get("SELECT a, b FROM t ORDER BY 2", &lexed);
  EXPECT_EQ(cache.hits(), 1u);
}

TEST(AnalysisCache, RangesFollowLiteralLengths) {
  AnalysisCache cache;
  Lexed lexed;
  cache.Get("SELECT a FROM t WHERE k = 1 ORDER BY a LIMIT 5", &lexed);
  const std::string sql = "SELECT a FROM t WHERE k = 123456 ORDER BY a LIMIT 50";
  auto a = cache.Get(sql, &lexed);
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(sql.substr(a->limit_begin, a->limit_end - a->limit_begin), "LIMIT 50");
  EXPECT_EQ(sql.substr(a->order_by_begin, a->order_by_end - a->order_by_begin), "ORDER BY a");

  const std::string ins = "INSERT INTO t VALUES (100, 'abc'), (2, '')";
  cache.Get("INSERT INTO t VALUES (1, 'x'), (2, 'y')", &lexed);
  auto i = cache.Get(ins, &lexed);
  EXPECT_EQ(cache.hits(), 2u);
  EXPECT_EQ(ins.substr(i->insert_rows[1].text_begin,
                       i->insert_rows[1].text_end - i->insert_rows[1].text_begin),
            "(2, '')");

  // Different whitespace: the ranges cannot be moved, so the shape is analysed again.
  const std::string spaced = "SELECT a FROM t WHERE k = 1  ORDER BY a LIMIT 5";
  auto s = cache.Get(spaced, &lexed);
  EXPECT_EQ(cache.misses(), 3u);
  EXPECT_EQ(spaced.substr(s->limit_begin, s->limit_end - s->limit_begin), "LIMIT 5");
}

TEST(AnalysisCache, EvictsLeastRecentlyUsed) {
  AnalysisCache cache(2);
  Lexed lexed;
  cache.Get("SELECT 1 FROM a", &lexed);
  cache.Get("SELECT 1 FROM b", &lexed);
  cache.Get("SELECT 1 FROM a", &lexed);  // a is now the most recent
  cache.Get("SELECT 1 FROM c", &lexed);  // evicts b
  EXPECT_EQ(cache.size(), 2u);
  cache.Get("SELECT 1 FROM a", &lexed);
  EXPECT_EQ(cache.hits(), 2u);
  cache.Get("SELECT 1 FROM b", &lexed);
  EXPECT_EQ(cache.misses(), 4u);
}

TEST(AnalysisCache, MultiStatementAndErrors) {
  AnalysisCache cache;
  Lexed lexed;
  auto a = cache.Get("SELECT 1; SELECT 2", &lexed);
  EXPECT_EQ(lexed.statements, 2);
  EXPECT_EQ(a->type, StatementType::kSelect);
  auto e = cache.Get("SELECT 'unterminated", &lexed);
  EXPECT_TRUE(lexed.error);
  EXPECT_TRUE(e->parse_error);
}

// Each outer join's sides as "preserved|nullable" lists of table indexes, e.g. "0|1".
std::vector<std::string> OuterJoinSides(const Analyzed& a) {
  auto list = [](const std::vector<int>& tables) {
    std::string out;
    for (int t : tables) out += (out.empty() ? "" : ",") + std::to_string(t);
    return out;
  };
  std::vector<std::string> out;
  for (const OuterJoin& j : a->outer_joins) out.push_back(list(j.preserved) + "|" + list(j.nullable));
  return out;
}

TEST(AnalyzerJoins, OuterJoinSidesListTheirTables) {
  using V = std::vector<std::string>;
  EXPECT_EQ(OuterJoinSides(Analyzed("SELECT * FROM a LEFT JOIN b ON b.x = a.x")), (V{"0|1"}));
  EXPECT_EQ(OuterJoinSides(Analyzed("SELECT * FROM a RIGHT JOIN b ON b.x = a.x")), (V{"1|0"}));
  EXPECT_EQ(OuterJoinSides(Analyzed("SELECT * FROM a FULL JOIN b ON b.x = a.x")), (V{"0|1", "1|0"}));
  EXPECT_TRUE(Analyzed("SELECT * FROM a JOIN b ON b.x = a.x")->outer_joins.empty());
  // Functions and VALUES are sides without tables; subqueries and nested joins bring theirs.
  EXPECT_EQ(OuterJoinSides(Analyzed("SELECT * FROM unnest(ARRAY[1]) u(x) LEFT JOIN b ON b.x = u.x")), (V{"|0"}));
  EXPECT_EQ(OuterJoinSides(Analyzed("SELECT * FROM (VALUES (1)) v(x) LEFT JOIN b ON b.x = v.x")), (V{"|0"}));
  EXPECT_EQ(OuterJoinSides(Analyzed("SELECT * FROM (SELECT * FROM a) s LEFT JOIN (b JOIN c ON c.x = b.x) ON b.x = s.x")),
            (V{"0|1,2"}));
  // A CTE's tables count where it is referenced.
  EXPECT_EQ(OuterJoinSides(Analyzed("WITH s AS (SELECT * FROM a) SELECT * FROM s LEFT JOIN b ON b.x = s.x")),
            (V{"0|1"}));
  EXPECT_EQ(OuterJoinSides(Analyzed("WITH s AS (SELECT * FROM a) SELECT * FROM b LEFT JOIN s ON b.x = s.x")),
            (V{"1|0"}));
  // Nested: the inner join is one side of the outer one.
  EXPECT_EQ(OuterJoinSides(Analyzed("SELECT * FROM a LEFT JOIN b ON b.x = a.x LEFT JOIN c ON c.x = a.x")),
            (V{"0|1", "0,1|2"}));
}

TEST(AnalyzerUtility, KindsAndWrappedStatements) {
  struct Case {
    const char* sql;
    UtilityKind kind;
    StatementType wrapped;
    int tables;  // table references of the wrapped statement
  };
  const std::vector<Case> cases = {
      {"EXPLAIN SELECT * FROM t WHERE k = 1", UtilityKind::kExplain, StatementType::kSelect, 1},
      {"EXPLAIN (ANALYZE false) SELECT * FROM t", UtilityKind::kExplain, StatementType::kSelect, 1},
      {"EXPLAIN ANALYZE UPDATE t SET v = 1", UtilityKind::kExplainAnalyze, StatementType::kUpdate, 1},
      {"EXPLAIN (ANALYZE, COSTS OFF) DELETE FROM t", UtilityKind::kExplainAnalyze, StatementType::kDelete, 1},
      {"EXPLAIN (ANALYZE on) INSERT INTO t VALUES (1)", UtilityKind::kExplainAnalyze, StatementType::kInsert, 1},
      {"EXPLAIN ANALYZE EXECUTE p", UtilityKind::kExplainAnalyze, StatementType::kUtility, 0},
      {"DECLARE c CURSOR FOR SELECT * FROM t JOIN u USING (k)", UtilityKind::kDeclareCursor,
       StatementType::kSelect, 2},
      {"DECLARE c CURSOR FOR SELECT * FROM t FOR UPDATE", UtilityKind::kDeclareCursor,
       StatementType::kSelectForUpdate, 1},
      {"PREPARE p (int) AS SELECT count(*) FROM t WHERE k = $1", UtilityKind::kPrepare, StatementType::kSelect, 1},
      {"FETCH 10 FROM c", UtilityKind::kCursorUse, StatementType::kEmpty, 0},
      {"MOVE NEXT IN c", UtilityKind::kCursorUse, StatementType::kEmpty, 0},
      {"CLOSE ALL", UtilityKind::kCursorUse, StatementType::kEmpty, 0},
      {"EXECUTE p (1)", UtilityKind::kPreparedUse, StatementType::kEmpty, 0},
      {"DEALLOCATE ALL", UtilityKind::kPreparedUse, StatementType::kEmpty, 0},
      {"DO $$ BEGIN UPDATE t SET v = 1; END $$", UtilityKind::kDo, StatementType::kEmpty, 0},
      {"CALL p(1)", UtilityKind::kCall, StatementType::kEmpty, 0},
      {"CALL mosaic.create_reference_table('t')", UtilityKind::kNone, StatementType::kEmpty, 0},
      {"LISTEN x", UtilityKind::kNone, StatementType::kEmpty, 0},
      {"LOCK TABLE t, s.u IN SHARE MODE", UtilityKind::kLock, StatementType::kEmpty, 2},
  };
  for (const Case& c : cases) {
    Analyzed a(c.sql);
    EXPECT_EQ(a->type, StatementType::kUtility) << c.sql;
    EXPECT_EQ(a->utility, c.kind) << c.sql;
    EXPECT_EQ(a->wrapped, c.wrapped) << c.sql;
    EXPECT_EQ(a->wrapped_tables, 0) << c.sql;
    EXPECT_EQ(static_cast<int>(a->tables.size()), c.tables) << c.sql;
  }
  // The wrapped statement's filters are there for routing.
  Analyzed e("EXPLAIN ANALYZE UPDATE t SET v = 1 WHERE tenant_id = 7");
  EXPECT_EQ(e.PredsOf(0), (std::vector<std::string>{"tenant_id = 7"}));
  EXPECT_EQ(e->update_columns, (std::vector<std::string>{"v"}));
}

TEST(AnalyzerUtility, CursorOptionsAndFetchDirections) {
  // What a cursor Mosaic holds (over several nodes) can answer: forward moves of text rows.
  Analyzed hold("DECLARE \"C\" NO SCROLL CURSOR WITH HOLD FOR SELECT * FROM t");
  EXPECT_EQ(hold->cursor_name, "C");
  EXPECT_TRUE(hold->cursor_hold);
  EXPECT_FALSE(hold->cursor_scroll);
  EXPECT_TRUE(hold->cursor_no_scroll);
  EXPECT_FALSE(hold->cursor_binary);
  Analyzed other("DECLARE c BINARY SCROLL CURSOR FOR SELECT * FROM t");
  EXPECT_TRUE(other->cursor_scroll);
  EXPECT_FALSE(other->cursor_no_scroll);
  EXPECT_TRUE(other->cursor_binary);
  EXPECT_FALSE(other->cursor_hold);
  EXPECT_FALSE(Analyzed("DECLARE c CURSOR FOR SELECT 1")->cursor_no_scroll);
  using D = FetchDirection;
  struct Case {
    const char* sql;
    D direction;
    bool move;
    int64_t count;
  };
  for (const Case& c : std::vector<Case>{{"FETCH c", D::kForward, false, 1},
                                         {"FETCH FORWARD 2000 FROM c", D::kForward, false, 2000},
                                         {"FETCH ALL IN c", D::kForward, false, INT64_MAX},
                                         {"MOVE 5 IN c", D::kForward, true, 5},
                                         {"FETCH 0 FROM c", D::kForward, false, 0},
                                         {"FETCH -3 FROM c", D::kForward, false, -3},
                                         {"FETCH BACKWARD 1 FROM c", D::kBackward, false, 1},
                                         {"FETCH PRIOR FROM c", D::kBackward, false, 1},
                                         {"MOVE BACKWARD ALL IN c", D::kBackward, true, INT64_MAX},
                                         {"FETCH ABSOLUTE 3 FROM c", D::kAbsolute, false, 3},
                                         {"FETCH LAST FROM c", D::kAbsolute, false, -1},
                                         {"FETCH FIRST FROM c", D::kAbsolute, false, 1},
                                         {"FETCH RELATIVE -2 FROM c", D::kRelative, false, -2}}) {
    Analyzed a(c.sql);
    EXPECT_EQ(a->fetch_direction, c.direction) << c.sql;
    EXPECT_EQ(a->fetch_move, c.move) << c.sql;
    EXPECT_EQ(a->fetch_count, c.count) << c.sql;
    EXPECT_EQ(a->cursor_name, "c") << c.sql;
  }
}

TEST(AnalysisCache, FetchCountsAreNotShared) {
  AnalysisCache cache(16);
  Lexed lexed;
  EXPECT_EQ(cache.Get("FETCH 5 FROM c", &lexed)->fetch_count, 5);
  EXPECT_EQ(cache.Get("FETCH 50 FROM c", &lexed)->fetch_count, 50);
  EXPECT_EQ(cache.Get("MOVE FORWARD 7 IN c", &lexed)->fetch_count, 7);
  EXPECT_EQ(cache.Get("MOVE FORWARD 8 IN c", &lexed)->fetch_count, 8);
}

TEST(AnalyzerUtility, CreateTableAsWrapsItsQuery) {
  Analyzed ctas("CREATE TABLE n AS SELECT * FROM t WHERE k = 1");
  EXPECT_EQ(ctas->type, StatementType::kDdl);
  EXPECT_EQ(ctas->utility, UtilityKind::kCreateAs);
  EXPECT_EQ(ctas->wrapped, StatementType::kSelect);
  ASSERT_EQ(ctas->tables.size(), 2u);
  EXPECT_EQ(ctas->tables[0].name, "n");
  EXPECT_EQ(ctas->wrapped_tables, 1);
  EXPECT_FALSE(ctas->create_as_no_data);
  EXPECT_TRUE(Analyzed("CREATE TABLE n AS SELECT * FROM t WITH NO DATA")->create_as_no_data);
  Analyzed mv("CREATE MATERIALIZED VIEW n AS SELECT * FROM t");
  EXPECT_EQ(mv->utility, UtilityKind::kCreateAs);
  EXPECT_EQ(mv->wrapped_tables, 1);

  Analyzed into("SELECT * INTO n FROM t WHERE k = 1");
  EXPECT_EQ(into->type, StatementType::kDdl);
  EXPECT_EQ(into->utility, UtilityKind::kCreateAs);
  EXPECT_EQ(into->wrapped, StatementType::kSelect);
  ASSERT_EQ(into->tables.size(), 1u);  // the new table is not among them
  EXPECT_EQ(into->wrapped_tables, 0);
}

TEST(AnalyzerUtility, TemporaryTables) {
  // Created on the session's default node only, named for routing (frontend).
  Analyzed plain("CREATE TEMP TABLE \"Tmp\" (id int, LIKE t)");
  EXPECT_EQ(plain->type, StatementType::kDdl);
  EXPECT_TRUE(plain->ddl_temp);
  EXPECT_EQ(plain->temp_table, "Tmp");
  EXPECT_FALSE(plain->temp_on_commit_drop);
  Analyzed dropped("CREATE TEMPORARY TABLE s (id int) ON COMMIT DROP");
  EXPECT_TRUE(dropped->ddl_temp);
  EXPECT_TRUE(dropped->temp_on_commit_drop);
  Analyzed as("CREATE TEMP TABLE s ON COMMIT DROP AS SELECT * FROM t WHERE k = 1");
  EXPECT_TRUE(as->ddl_temp);
  EXPECT_TRUE(as->temp_on_commit_drop);
  EXPECT_EQ(as->temp_table, "s");
  EXPECT_EQ(as->utility, UtilityKind::kCreateAs);
  Analyzed into("SELECT * INTO TEMP s FROM t");
  EXPECT_TRUE(into->ddl_temp);
  EXPECT_EQ(into->temp_table, "s");
  Analyzed schema("CREATE TABLE pg_temp.s (id int)");
  EXPECT_TRUE(schema->ddl_temp);
  EXPECT_EQ(schema->temp_table, "s");
  EXPECT_FALSE(Analyzed("CREATE TABLE s (id int)")->ddl_temp);
  EXPECT_FALSE(Analyzed("CREATE UNLOGGED TABLE s (id int)")->ddl_temp);
  EXPECT_FALSE(Analyzed("CREATE TABLE s AS SELECT * FROM t")->ddl_temp);
  Analyzed view("CREATE OR REPLACE TEMP VIEW v AS SELECT * FROM s JOIN t USING (id)");
  EXPECT_TRUE(view->ddl_temp);
  EXPECT_TRUE(view->ddl_creates_view);
  EXPECT_EQ(view->temp_table, "v");
  ASSERT_EQ(view->tables.size(), 3u);  // the view, then its query's tables
  EXPECT_FALSE(view->tables[0].in_subquery);
  EXPECT_TRUE(view->tables[1].in_subquery);
  EXPECT_TRUE(view->tables[2].in_subquery);
  Analyzed plain_view("CREATE VIEW v AS SELECT * FROM s");  // temporary if s is (the frontend knows)
  EXPECT_FALSE(plain_view->ddl_temp);
  EXPECT_TRUE(plain_view->ddl_creates_view);
  Analyzed sequence("CREATE TEMP SEQUENCE q START 5");
  EXPECT_TRUE(sequence->ddl_temp);
  EXPECT_EQ(sequence->temp_table, "q");
  EXPECT_FALSE(Analyzed("CREATE SEQUENCE q")->ddl_temp);
  Analyzed drop("DROP VIEW v, pg_temp.w");  // which nodes depends on whether they are temporary
  ASSERT_EQ(drop->tables.size(), 2u);
  EXPECT_EQ(drop->tables[1].schema, "pg_temp");
  EXPECT_EQ(Analyzed("DROP SEQUENCE q")->tables.size(), 1u);
  EXPECT_TRUE(Analyzed("DISCARD TEMP")->discards_temp);
  EXPECT_TRUE(Analyzed("DISCARD ALL")->discards_temp);
  EXPECT_FALSE(Analyzed("DISCARD PLANS")->discards_temp);
}

}  // namespace
}  // namespace mosaic::sql
