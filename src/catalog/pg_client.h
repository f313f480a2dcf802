// Small helpers over synchronous libpq for the control plane (the catalog, and the work the
// catalog's callers do on the nodes: table discovery, layout checks, reference-table copies).
//
// Control plane only: every call blocks on the network. Nothing here is used on the data path,
// which speaks the protocol itself (src/backend). Errors keep the server's SQLSTATE.
#pragma once

#include <libpq-fe.h>

#include <charconv>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/shard_map.h"
#include "common/status.h"

namespace mosaic::catalog::pg {

struct ConnCloser {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
struct ResultClearer {
  void operator()(PGresult* res) const { PQclear(res); }
};
using Conn = std::unique_ptr<PGconn, ConnCloser>;
using ResultPtr = std::unique_ptr<PGresult, ResultClearer>;
using Params = std::vector<std::optional<std::string>>;  // nullopt = SQL NULL

// `message` without trailing newlines and spaces ("" for null).
std::string Trimmed(const char* message);

// 08006 with `what` and libpq's connection error message.
Status ConnectionError(PGconn* conn, std::string_view what);

// The error of `res` (a failed result of `sql`; null: the connection's error), keeping the
// server's SQLSTATE (08006 if there is none) and naming `who` and the start of the statement.
Status QueryError(PGconn* conn, const PGresult* res, std::string_view sql, std::string_view who);

// Runs `sql` (without params it may hold several statements: simple query protocol). A failure
// keeps the server's SQLSTATE (08006 if there is none) and names `who` ("catalog", "node 2")
// and the start of the statement.
Result<ResultPtr> Exec(PGconn* conn, const std::string& sql, const Params& params = {},
                       std::string_view who = "catalog");
Status Run(PGconn* conn, const std::string& sql, const Params& params = {},
           std::string_view who = "catalog");
// As Exec, with the parameters' type OIDs given (0 = let the server infer). REQUIRES:
// types.size() == params.size().
Result<ResultPtr> ExecTyped(PGconn* conn, const std::string& sql, const Params& params,
                            const std::vector<Oid>& types, std::string_view who);

// Runs `body` (returning Status) between `begin_sql` and COMMIT; rolls back if anything fails.
template <typename Body>
Status InTransaction(PGconn* conn, const std::string& begin_sql, Body&& body,
                     std::string_view who = "catalog") {
  if (Status s = Run(conn, begin_sql, {}, who); !s.ok()) return s;
  Status s = body();
  if (s.ok()) s = Run(conn, "COMMIT", {}, who);
  if (!s.ok()) (void)Run(conn, "ROLLBACK", {}, who);
  return s;
}

// Column readers for typed columns; a malformed number reads as 0.
template <typename Int>
Int IntAt(const PGresult* res, int row, int col) {
  const char* text = PQgetvalue(res, row, col);
  Int value = 0;
  std::from_chars(text, text + PQgetlength(res, row, col), value);
  return value;
}
// A float8 (or any number) column; malformed text reads as 0.
inline double DoubleAt(const PGresult* res, int row, int col) {
  const char* text = PQgetvalue(res, row, col);
  double value = 0;
  std::from_chars(text, text + PQgetlength(res, row, col), value);
  return value;
}
std::string TextAt(const PGresult* res, int row, int col);
std::optional<std::string> NullableTextAt(const PGresult* res, int row, int col);

// `name` as a quoted SQL identifier ("a""b").
std::string QuoteIdent(std::string_view name);
// `text` as an SQL string literal ('it''s'), for statements that take no parameters
// (standard_conforming_strings on, the default since PostgreSQL 9.1).
std::string QuoteLiteral(std::string_view text);
// schema.name as a quoted, qualified SQL identifier.
std::string QualifiedName(const Table& table);

// Connects to a node (its full DSN, application name "mosaic-control"). Fails with 08006
// naming the node.
Result<Conn> ConnectNode(const Node& node);
// As ConnectNode, as a logical replication connection (replication=database): it accepts the
// replication commands (CREATE_REPLICATION_SLOT ...) and simple-protocol SQL only.
Result<Conn> ConnectNodeForReplication(const Node& node);

}  // namespace mosaic::catalog::pg
