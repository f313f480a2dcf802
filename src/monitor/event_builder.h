// Turns what the session already has for a statement — its cached Analysis, the execution's
// values and the router's Route — into a QueryEvent, on the worker thread. Runs on the data path
// for every routed statement: it copies short strings into the event's inline fields and
// allocates nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "monitor/event.h"
#include "router/router.h"
#include "sql/analysis.h"
#include "sql/lexer.h"

namespace mosaic::monitor {

// Fills `*e` (every field but unix_seconds, rows and latency_us, which are known at completion).
// Filters on a distributed table's tenant column are left out (they name the tenant).
void BuildEvent(const sql::Analysis& a, const router::Bound& bound, const router::Route& route,
                uint64_t fingerprint, QueryEvent* e);

// Rows from a CommandComplete tag ("SELECT 5", "INSERT 0 3", "UPDATE 2", "COPY 7"); 0 if none.
int64_t RowsFromTag(std::string_view tag);

// The statement text with every literal replaced by '?' and runs of whitespace folded, for
// showing a fingerprint. `literals` are the lexer's for `sql`.
std::string NormalizedText(std::string_view sql, const std::vector<sql::Literal>& literals);

}  // namespace mosaic::monitor
