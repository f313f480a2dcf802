// Statement classifier: the cheap first look at a SQL string that routing in the foundation
// needs (is it DDL that every node must see, transaction control, or ordinary work?).
//
// The fast path reads only the first keyword and never allocates. Strings holding several
// statements are split with libpg_query's scanner and each part is classified. This is not the
// statement analyzer (tables, predicates, shapes): that is a later layer; this must stay cheap
// enough to run on every simple-protocol query.
#pragma once

#include <string_view>
#include <vector>

namespace mosaic::sql {

enum class StatementKind {
  kEmpty,        // only whitespace / comments
  kOrdinary,     // reads, writes and utility statements that touch one node's data
  kDdl,          // schema changes that every node must apply (CREATE/ALTER/DROP/COMMENT/GRANT/REVOKE)
  kBegin,        // BEGIN / START TRANSACTION
  kTransaction,  // COMMIT, ROLLBACK, SAVEPOINT, RELEASE, END, ABORT, PREPARE/COMMIT/ROLLBACK PREPARED
  kMixed,        // several statements of which some are DDL and some are not
};

struct Classification {
  StatementKind kind = StatementKind::kEmpty;
  int statements = 0;  // number of statements found (1 on the fast path)
};

// Classifies a query string. Thread-safe; never fails (unparseable text is kOrdinary and left
// for the node to reject with its own syntax error).
Classification Classify(std::string_view sql);

// Splits a query string into its statements (views into `sql`, without the ';'), skipping empty
// ones. False if the scanner fails (unterminated quote...): the caller treats it as one statement.
bool SplitStatements(std::string_view sql, std::vector<std::string_view>* parts);

// The lowercased first keyword of `sql` (after whitespace, comments and opening parentheses),
// at most 31 characters; "" if none. Exposed for tests.
std::string_view FirstKeyword(std::string_view sql, char (&buf)[32]);

}  // namespace mosaic::sql
