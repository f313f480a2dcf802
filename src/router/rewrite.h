// Rewrites of statement text for running one statement on several nodes.
//
// Text edits use the byte ranges of the Analysis (the statement is never re-deparsed), so the
// SQL each node runs is the client's SQL with the smallest change that makes the pieces
// combinable: avg(x) becomes sum(x) plus a hidden count(x); HAVING moves to the merger (its
// aggregates become hidden columns); LIMIT n OFFSET m becomes LIMIT n+m (the merger applies the
// offset); ORDER BY keys that are not output columns become hidden columns.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "catalog/shard_map.h"
#include "common/status.h"
#include "router/merge.h"
#include "router/router.h"
#include "sql/analysis.h"

namespace mosaic::router {

struct ScatterSelect {
  std::string sql;  // what every node runs
  MergeSpec spec;   // how to combine the results
};

// Plans a SELECT over several nodes. Fails with 0A000 naming what cannot be combined correctly
// (e.g. count(DISTINCT x), window functions, aggregates inside expressions).
Result<ScatterSelect> RewriteSelect(std::string_view sql, const sql::Analysis& a, const Bound& bound,
                                    const catalog::ShardMap& map);

// The text of an INSERT ... VALUES keeping only `rows` (indexes into a.insert_rows).
std::string InsertWithRows(std::string_view sql, const sql::Analysis& a, const std::vector<int>& rows);

// `sql` with each $n replaced by bound.params[n-1] as a constant of the parameter's type (a
// quoted literal and a cast to the type its OID names, NULL::type; untyped when the OID is 0),
// so that the statement can run in steps through Mosaic. 0A000 for a parameter sent in binary
// (other than int2/4/8) or of a type outside the built-in ones listed in rewrite.cc.
Result<std::string> InlineParams(std::string_view sql, const Bound& bound);

}  // namespace mosaic::router
