// Analysis: what the router (and later the monitor) needs to know about one SQL statement,
// computed once per statement *shape* and cached.
//
// A shape is the statement text with every literal replaced by a slot (see sql/lexer.h): two
// statements that differ only in their constants share one Analysis. Values are therefore never
// stored here; they are referenced as ValueRef — a literal slot (index into the literals the
// lexer extracted from *this* execution's text), a parameter ($n, filled from Bind), NULL, or
// "something else" (an expression the router cannot evaluate, e.g. now() or a column).
//
// Plain data, immutable once built; shared between threads as shared_ptr<const Analysis>.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mosaic::sql {

// Where a value comes from at execution time.
struct ValueRef {
  enum class Kind : uint8_t {
    kLiteral,  // literals[index] of the lexer's output for this execution (a string or number)
    kParam,    // bound parameter $index (1-based, as written in the SQL)
    kNull,     // the NULL keyword
    kDefault,  // DEFAULT in an INSERT's VALUES row
    kOther,    // anything else: an expression, a column, a function call
  };
  Kind kind = Kind::kOther;
  int index = -1;
  bool negate = false;   // "-5": literal slot holds "5", the value is its negation
  std::string cast;      // explicit cast as written, lowercased, e.g. "date", "int8"; "" if none
};

enum class FetchDirection : uint8_t { kForward, kBackward, kAbsolute, kRelative };

enum class PredOp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kBetween, kIsNull, kIsNotNull };

// One restriction on one column of one table reference: `column op values`.
// kIn has n values, kBetween two (low, high), kIsNull/kIsNotNull none, the rest one.
// `col op const` and `const op col` are both normalised to the column on the left
// (`5 < x` becomes `x > 5`).
struct Predicate {
  int table = -1;          // index into Analysis::tables (the table reference it restricts)
  std::string column;      // unqualified column name, folded as PostgreSQL folds identifiers
  PredOp op = PredOp::kEq;
  std::vector<ValueRef> values;
  bool negated = false;    // NOT BETWEEN / NOT IN: kept for the monitor, the router ignores it
};

// The AND/OR structure of a WHERE (or JOIN ... ON) clause, as far as it restricts tables.
// A leaf is a Predicate; anything the analyzer does not understand is kOpaque (it restricts
// nothing the router can use: treat as "true" for pruning, never as "false").
struct BoolExpr {
  enum class Kind : uint8_t { kAnd, kOr, kNot, kPred, kOpaque };
  Kind kind = Kind::kOpaque;
  std::vector<BoolExpr> children;  // kAnd / kOr / kNot (one child)
  int predicate = -1;              // kPred: index into Analysis::predicates
};

// The two sides of an outer join as table references, the tables read in subqueries, functions
// and CTEs of that side included: `preserved` keeps its unmatched rows, `nullable` is
// null-extended. A FULL join gives two, one per side. A side without table references is a
// function, VALUES list or subquery without tables.
struct OuterJoin {
  std::vector<int> preserved, nullable;  // indexes into Analysis::tables
};

// A table referenced by the statement (each FROM item / target is one reference, so a
// self-join has two).
struct TableRef {
  std::string schema;  // "" when unqualified
  std::string name;    // folded
  std::string alias;   // "" when none
  // Predicates that every row of this reference contributing to the result satisfies:
  // WHERE conjuncts and inner-join ON conjuncts of the query level it appears in; for the
  // nullable side of an outer join only that join's ON clause. Index into Analysis::filters.
  int filter = -1;     // -1: nothing restricts it
  bool in_subquery = false;  // appears in a subquery, CTE or set-operation branch
};

// `left.column = right.column` between two table references (inner join conditions and WHERE
// equalities, at any level).
struct JoinPair {
  int left_table = -1, right_table = -1;
  std::string left_column, right_column;
};

enum class StatementType : uint8_t {
  kEmpty,
  kSelect,        // SELECT / VALUES / TABLE without side effects
  kSelectForUpdate,  // SELECT ... FOR UPDATE/SHARE (a read that locks: routed like a write)
  kInsert,
  kUpdate,
  kDelete,
  kCopyFrom,      // COPY table FROM STDIN
  kCopyTo,        // COPY table/query TO STDOUT
  kDdl,           // CREATE/ALTER/DROP TABLE, INDEX, ..., TRUNCATE, COMMENT, GRANT, REVOKE
  kMaintenance,   // VACUUM, ANALYZE, CLUSTER, REINDEX: run on every node
  kBegin,         // BEGIN, START TRANSACTION
  kCommit,        // COMMIT, END
  kRollback,      // ROLLBACK, ABORT
  kSavepoint,     // SAVEPOINT, RELEASE, ROLLBACK TO
  kSet,           // SET, RESET, SET LOCAL (session settings)
  kShow,
  kUtility,       // anything else (EXPLAIN, LISTEN, DISCARD, PREPARE/EXECUTE/DEALLOCATE, DO, CALL, ...)
  kTwoPhase,      // PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED
};

// What a utility statement does with rows, for deciding where it may run (router::PlanUtility).
enum class UtilityKind : uint8_t {
  kNone,            // none of the below (LISTEN, DISCARD, ...; and every non-utility statement)
  kExplain,         // EXPLAIN without ANALYZE: plans its statement, runs nothing
  kExplainAnalyze,  // EXPLAIN ANALYZE: runs its statement
  kDeclareCursor,   // DECLARE name CURSOR FOR query
  kCursorUse,       // FETCH, MOVE, CLOSE: use a cursor declared earlier
  kPrepare,         // SQL-level PREPARE name AS statement
  kPreparedUse,     // EXECUTE, DEALLOCATE: use a statement prepared earlier
  kCreateAs,        // CREATE TABLE / MATERIALIZED VIEW ... AS, SELECT ... INTO (type kDdl)
  kDo,              // DO: code Mosaic cannot see into
  kCall,            // CALL of a procedure other than mosaic.*: the same
  kLock,            // LOCK TABLE: its tables are `tables`
};

// What is applied to an aggregate after it is combined: a cast (`count(*)::int`,
// `CAST(avg(x) AS numeric(10,2))`) or round(aggregate[, n]).
struct AggFinish {
  enum class Kind : uint8_t { kNone, kCast, kRound };
  Kind kind = Kind::kNone;
  // kCast: the type's name as the parser gives it, without a "pg_catalog." prefix ("int4" for
  // int and integer, "float8" for double precision, "numeric" for decimal); "[]" appended for an
  // array type; other schemas kept ("public.money").
  std::string type;
  std::vector<int32_t> args;  // kCast: the typmods (numeric's precision and scale); kRound: n
  bool unreadable = false;    // a typmod or round's n that is not an integer constant
};

// One output column of a SELECT's top level, for merging results of several nodes.
struct TargetColumn {
  enum class Agg : uint8_t { kNone, kCount, kCountStar, kSum, kMin, kMax, kAvg, kOtherAgg };
  Agg agg = Agg::kNone;
  bool agg_distinct = false;  // count(DISTINCT x) etc.
  bool contains_agg = false;  // an expression with an aggregate inside (e.g. sum(x)+1, round(avg(x)));
                              // false when the target is itself the aggregate (agg != kNone)
  bool is_star = false;       // "*" or "t.*" (expands to several output columns)
  std::string column;         // plain column reference's column name, "" otherwise
  std::string name;           // output name: alias, or PostgreSQL's default name ("count", column, "?column?")
  int text_begin = -1, text_end = -1;  // byte range of the target expression in the statement text,
                                       // without "AS alias"
  int arg_begin = -1, arg_end = -1;    // aggregates: byte range of the argument (count/sum/avg/min/max),
                                       // without DISTINCT; -1 for count(*)
  // An aggregate under a cast or round(): `agg` and the ranges above describe the aggregate,
  // agg_begin/agg_end its call (FILTER included) inside the target's text.
  AggFinish finish;
  int agg_begin = -1, agg_end = -1;
  bool agg_filter = false;             // the aggregate has a FILTER clause
};

// A sort key of the top-level ORDER BY, resolved to an output column when possible.
struct SortKey {
  int target = -1;        // index into Analysis::targets when the key is an output column (by
                          // ordinal, by output name, or by an identical expression); -1 otherwise
  int group_key = -1;     // else: index into Analysis::group_by_hidden when it is one of those keys
  bool descending = false;
  std::optional<bool> nulls_first;  // as written; nullopt = default (NULLS LAST for ASC, FIRST for DESC)
  int text_begin = -1, text_end = -1;  // the key expression, without ASC/DESC/USING/NULLS
};

// One conjunct of a HAVING clause of the form `aggregate(arg) op constant` (or `constant op
// aggregate`, normalised to the aggregate on the left).
struct HavingCond {
  TargetColumn::Agg agg = TargetColumn::Agg::kCount;  // kCountStar for count(*)
  bool agg_distinct = false;
  int arg_begin = -1, arg_end = -1;  // byte range of the argument (-1 for count(*))
  PredOp op = PredOp::kEq;           // kEq kNe kLt kLe kGt kGe
  ValueRef value;
};

// One output column of the SELECT of INSERT ... SELECT: a constant or parameter (`value`), or a
// column of a table reference the SELECT reads (`table` >= 0, `column`); otherwise
// value.kind == kOther and table < 0 (an expression).
struct InsertSource {
  ValueRef value;
  int table = -1;  // index into Analysis::tables
  std::string column;
};

struct InsertRow {
  std::vector<ValueRef> values;  // one per target column (Analysis::insert_columns)
  int text_begin = -1, text_end = -1;  // byte range of "(...)" of this row in the text
};

// Byte ranges (begin inclusive, end exclusive) are offsets into the text given to Analyze() /
// AnalysisCache::Get(). AnalysisCache moves them when a cached shape is reused for a text whose
// literals have other lengths (sql/analyzer.cc ForEachOffset lists every range field: a new
// range field must be added there).
struct Analysis {
  StatementType type = StatementType::kEmpty;
  bool rollback_to = false;  // kSavepoint: ROLLBACK TO [SAVEPOINT] (allowed in an aborted transaction)
  bool release = false;      // kSavepoint: RELEASE [SAVEPOINT]
  bool start_transaction = false;  // kBegin: START TRANSACTION (its command tag)
  bool parse_error = false;  // libpg_query could not parse it: let the node report the error
  std::string error;         // the parser's message when parse_error

  // Every table reference. For INSERT/UPDATE/DELETE/COPY tables[0] is the target; for DDL and
  // maintenance the tables the statement names come first, then those of its query.
  std::vector<TableRef> tables;
  std::vector<Predicate> predicates;
  std::vector<BoolExpr> filters;  // TableRef::filter indexes this
  std::vector<JoinPair> joins;   // from top-level conjuncts of WHERE/ON (not under OR/NOT), USING
  bool has_outer_join = false;
  std::vector<OuterJoin> outer_joins;  // at any level

  // Shape of a SELECT's top level (what merging needs).
  bool simple_select = false;  // one SELECT level over one FROM list: no CTE, set operation,
                               // window function, subquery in FROM/WHERE/targets, DISTINCT ON,
                               // FOR UPDATE, or SELECT without FROM
  std::vector<TargetColumn> targets;
  bool has_aggregates = false;
  std::vector<int> group_by;     // indexes into targets
  // Group keys that are not among the targets (GROUP BY tenant_id without selecting it): the
  // byte range of each key's expression.
  std::vector<std::pair<int, int>> group_by_hidden;
  bool group_by_unresolved = false;  // a key Mosaic cannot locate (grouping sets, a bad ordinal):
                                     // the router then refuses to scatter
  int group_by_begin = -1, group_by_end = -1;  // byte range of the whole GROUP BY clause
  int group_by_at = -1;  // where a GROUP BY clause would go (the end of the FROM and WHERE clauses)
                         // when count(DISTINCT) needs one and none is written; -1 otherwise
  bool has_having = false;
  int having_begin = -1, having_end = -1;       // byte range of the HAVING clause (incl. keyword)
  std::vector<HavingCond> having;  // its conjuncts, when every one is `aggregate op constant`
  bool having_unsupported = false; // HAVING of any other form (the router refuses to scatter it)
  bool distinct = false;         // SELECT DISTINCT (not DISTINCT ON)
  bool distinct_on = false;
  std::vector<SortKey> order_by;
  int order_by_begin = -1, order_by_end = -1;   // byte range of the ORDER BY clause (incl. keywords)
  std::optional<ValueRef> limit;   // LIMIT value (kNull for LIMIT ALL / LIMIT NULL)
  std::optional<ValueRef> offset;
  int limit_begin = -1, limit_end = -1;  // byte range covering the LIMIT and OFFSET clauses
  bool limit_with_ties = false;    // FETCH FIRST n ROWS WITH TIES (`limit` is n)
  int targets_begin = -1, targets_end = -1;  // byte range of the target list
  int from_begin = -1;  // byte offset of the FROM keyword (-1 if none)
  bool locking = false;  // FOR UPDATE/SHARE anywhere

  // INSERT: target columns (explicit list, or empty = the table's columns in order), rows.
  std::vector<std::string> insert_columns;
  bool insert_has_column_list = false;
  std::vector<InsertRow> insert_rows;   // VALUES rows; empty for INSERT ... SELECT / DEFAULT VALUES
  bool insert_select = false;           // INSERT ... SELECT
  // INSERT ... SELECT: the byte range of the SELECT (to the ON CONFLICT or RETURNING clause, or
  // the end), -1 when it could not be found; whether the INSERT has a WITH clause of its own;
  // its SELECT's output columns when it is a plain SELECT with no `*` (else empty).
  int insert_select_begin = -1, insert_select_end = -1;
  bool insert_with = false;
  std::vector<InsertSource> insert_sources;
  bool on_conflict = false;
  bool on_conflict_do_nothing = false;  // ON CONFLICT ... DO NOTHING (a conflicting row returns nothing)
  bool cte_writes = false;  // a WITH query inserts, updates or deletes rows
  bool merge = false;       // MERGE (type kUpdate; its target is tables[0])
  bool returning = false;
  int values_begin = -1, values_end = -1;  // byte range from the first row's "(" to the last row's ")"

  // UPDATE: the columns assigned (SET a = ..., b = ...).
  std::vector<std::string> update_columns;

  // COPY: the table (tables[0]), its column list (empty = all), options.
  std::vector<std::string> copy_columns;
  std::string copy_format = "text";  // "text", "csv" or "binary"
  char copy_delimiter = '\t';        // '\t' for text, ',' for csv unless DELIMITER given
  std::string copy_null = "\\N";     // "\\N" for text, "" for csv unless NULL given
  bool copy_header = false;
  char copy_quote = '"';
  char copy_escape = '"';
  bool copy_query = false;           // COPY (query) TO STDOUT
  std::vector<std::string> copy_force_quote;  // FORCE_QUOTE (columns)
  bool copy_force_quote_all = false;          // FORCE_QUOTE *
  bool copy_encoding = false;                 // an ENCODING option
  bool copy_stdio = true;            // FROM STDIN / TO STDOUT (false: a server-side file or program)

  // DDL.
  bool ddl_creates_table = false;    // CREATE [FOREIGN] TABLE (incl. AS / LIKE), SELECT ... INTO
  bool ddl_changes_tables = false;   // anything that may change which tables/columns exist: the
                                     // above, ALTER TABLE, DROP/RENAME of tables, views, schemas
                                     // or columns, CREATE VIEW/EXTENSION, DROP OWNED
  bool ddl_concurrently = false;     // CREATE/DROP INDEX CONCURRENTLY (cannot run in a transaction)
  bool ddl_alters_tables = false;    // ALTER TABLE, DROP TABLE, RENAME, SET SCHEMA or TRUNCATE of
                                     // the tables it names (`tables`, outside subqueries)
  bool ddl_creates_view = false;     // CREATE [OR REPLACE] [TEMP] VIEW (tables[0]; its query's
                                     // tables follow, in_subquery)
  // CREATE TEMP TABLE [AS], SELECT ... INTO TEMP, CREATE TABLE pg_temp.x, CREATE TEMP VIEW,
  // CREATE TEMP SEQUENCE: a relation of the session's own named temp_table, dropped at commit
  // when temp_on_commit_drop (ON COMMIT DROP, tables only).
  bool ddl_temp = false;
  std::string temp_table;
  bool temp_on_commit_drop = false;
  bool discards_temp = false;        // DISCARD TEMP, DISCARD ALL: the session's temporary tables go
  // Utility statements. Those wrapping a statement (EXPLAIN, DECLARE, PREPARE, CREATE ... AS)
  // analyse it into this analysis: its table references are tables[wrapped_tables..], and
  // `wrapped` is its type (kSelect, kSelectForUpdate, kInsert, kUpdate, kDelete; kUtility for
  // one Mosaic does not plan, e.g. EXECUTE; kEmpty when nothing is wrapped).
  UtilityKind utility = UtilityKind::kNone;
  StatementType wrapped = StatementType::kEmpty;
  int wrapped_tables = 0;
  bool create_as_no_data = false;  // CREATE ... AS ... WITH NO DATA: no rows are read
  // DECLARE, FETCH, MOVE, CLOSE: the cursor's name as the parser gives it (empty for CLOSE ALL),
  // whether it is DECLARE ... WITH HOLD, and whether it is CLOSE.
  std::string cursor_name;
  bool cursor_hold = false;
  bool cursor_close = false;
  bool cursor_binary = false;  // DECLARE ... BINARY CURSOR
  bool cursor_scroll = false;     // DECLARE ... SCROLL CURSOR
  bool cursor_no_scroll = false;  // DECLARE ... NO SCROLL CURSOR
  // FETCH and MOVE as the parser gives them: a direction and fetch_count (NEXT: forward 1,
  // PRIOR: backward 1, FIRST: absolute 1, LAST: absolute -1, ALL: forward INT64_MAX, a count
  // alone: forward by it, negative too; 0 re-reads the current row); MOVE when fetch_move.
  FetchDirection fetch_direction = FetchDirection::kForward;
  bool fetch_move = false;
  int64_t fetch_count = 0;
  // DEALLOCATE [PREPARE] name, or ALL (deallocate_name empty).
  bool deallocate = false;
  std::string deallocate_name;
  // SET / RESET (kSet): the setting's name as the parser gives it (lower case; empty for RESET
  // ALL and for SET TRANSACTION / SESSION CHARACTERISTICS), whether it is SET LOCAL, whether it
  // is RESET ALL, and its value when it is one string or name (SET ROLE NONE).
  std::string set_name;
  bool set_local = false;
  bool set_reset_all = false;
  std::string set_value;
  bool set_session_characteristics = false;  // SET SESSION CHARACTERISTICS AS TRANSACTION ...
  // A SELECT of set_config(...) calls only (no FROM): settings for the rest of the transaction
  // (is_local true) or session, which every node of a transaction block must see (frontend).
  bool only_set_config = false;
  // Its calls' first argument (the setting's name), in order: a literal or a parameter for a
  // session to read the settings back and adopt them (kOther when neither).
  std::vector<ValueRef> set_config_names;
  // Their third argument (is_local) when it is a constant: 1 true, 0 false, -1 anything else.
  std::vector<int8_t> set_config_local;
  // SELECT [pg_catalog.]setval(sequence, value [, is_called]) alone (pg_dump's restore sets
  // each sequence so): its arguments, is_called as set_config_local (1 when absent).
  bool only_setval = false;
  ValueRef setval_sequence, setval_value;
  int8_t setval_called = 1;
  // Calls of mosaic.* functions (e.g. SELECT mosaic.create_reference_table('t')): function name
  // and its ValueRef arguments.
  std::string mosaic_function;
  std::vector<ValueRef> mosaic_args;

  // Statement-level flags the router needs.
  bool has_volatile_functions = false;  // nextval(), random(), now(), CURRENT_TIMESTAMP, gen_random_uuid()
                                        // ... anywhere in the statement: writes must not be duplicated
  // A function other than count/sum/avg/min/max is called: it may change settings (set_config)
  // or take session locks, so the statement is not pipelined (frontend pooling).
  bool calls_functions = false;
  int max_param = 0;                    // highest $n used
  // ORDER BY / GROUP BY ordinals and other literals whose *value* changes the meaning of the
  // shape: literal slots whose text must equal the text seen when this analysis was built.
  std::vector<std::pair<int, std::string>> structural_literals;
};

}  // namespace mosaic::sql
