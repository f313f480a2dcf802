// Subqueries Mosaic runs before their statement ("recursive planning", as Citus calls it).
//
// A SELECT over several nodes that Mosaic cannot combine because it holds a subquery or a CTE is
// taken apart: one subquery at a time runs first, as a statement of its own, and its result
// replaces it in the text as constants; what is left is planned again. NextSubplan finds the
// next such subquery (working on the text alone: it parses it with libpg_query), Substitute
// writes its result in. Both are pure functions over text: running the subquery is the
// session's job (frontend/session_subplan.cc).
//
// Only the refusal path uses this: it parses the statement again, which the data path never does.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace mosaic::sql {

struct SubplanStep {
  enum class Kind : uint8_t {
    kNone,     // nothing left that can run first
    kCte,      // WITH name AS (query): inlined at each reference, removed from WITH
    kDerived,  // FROM (query) alias
    kIn,       // x [NOT] IN (query)
    kAny,      // x op ANY/SOME/ALL (query)
    kExists,   // EXISTS (query)
    kScalar,   // (query) used as a value
    kArray,    // ARRAY(query)
  };
  Kind kind = Kind::kNone;
  std::string query;  // the subquery's text: what runs first (not for a kCte without references)
  // Byte ranges in the statement text. `open`/`close`: the parenthesised subquery, from "(" to
  // after ")". `begin`: kIn the NOT or IN keyword, kExists/kArray the keyword.
  int begin = -1, open = -1, close = -1;
  bool negated = false;  // kIn: NOT IN
  // kScalar/kArray/kExists that names an output column (a target without an alias, the
  // subquery itself or under a cast): where its name goes, so that the constant keeps it.
  int name_at = -1;
  int row_width = 1;     // kIn/kAny/kScalar: columns of the row compared with it ((a, b) IN ... is 2)
  // kCte: its name, its column names as written (may be empty), the name tokens of its
  // references with whether each has an alias of its own, and its definition's range in WITH
  // (to remove, with a comma or the WITH keyword as needed).
  std::string name;
  std::vector<std::string> columns;
  std::vector<std::pair<int, int>> refs;
  std::vector<bool> ref_aliased;
  int remove_begin = -1, remove_end = -1;
};

// A subquery's result: output names, type names (pg_catalog.format_type; "" for a type Mosaic
// cannot name portably), and rows of text values (nullopt is NULL).
struct SubplanResult {
  std::vector<std::string> names;
  std::vector<std::string> types;
  std::vector<std::vector<std::optional<std::string>>> rows;
};

// The first subquery of the SELECT, UPDATE or DELETE `sql` that can run on its own before it: a
// non-recursive CTE, then a subquery in an expression (WHERE, HAVING, target list, SET, ...), then
// a subquery in FROM (USING) that reads tables. kNone when there is none (or the statement is not
// a plain SELECT, or is a write with a subquery in RETURNING).
// Fails with 0A000 when the subquery refers to a table of the outer query (correlated) or is
// LATERAL. Thread-safe.
Result<SubplanStep> NextSubplan(std::string_view sql);

// `sql` with the subquery of `step` replaced by `result` as typed constants. Fails as
// PostgreSQL does on a result that does not fit its use (21000 for several rows of a scalar
// subquery, 42601 for a wrong column count), with 0A000 for a result that cannot be written as
// constants (a user-defined type), and with 54000 when the text would exceed `max_bytes`.
Result<std::string> SubstituteSubplan(std::string_view sql, const SubplanStep& step, const SubplanResult& result,
                                      size_t max_bytes);

}  // namespace mosaic::sql
