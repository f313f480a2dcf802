// libpq helpers for the control plane. Blocking; never used on the data path.
#include "catalog/pg_client.h"

#include <algorithm>

namespace mosaic::catalog::pg {

std::string Trimmed(const char* message) {
  std::string s = message != nullptr ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Status ConnectionError(PGconn* conn, std::string_view what) {
  return Status(sqlstate::kConnectionFailure,
                std::string(what) + ": " + Trimmed(PQerrorMessage(conn)));
}

// Keeps the server's SQLSTATE so callers can tell, say, a check violation from a lost server.
Status QueryError(PGconn* conn, const PGresult* res, std::string_view sql, std::string_view who) {
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = res != nullptr ? Trimmed(PQresultErrorMessage(res))
                                       : Trimmed(PQerrorMessage(conn));
  size_t start = std::min(sql.find_first_not_of(" \n"), sql.size());
  std::string head(sql.substr(start, 60));
  for (char& c : head) c = c == '\n' ? ' ' : c;
  return Status(state != nullptr ? std::string_view(state) : sqlstate::kConnectionFailure,
                std::string(who) + " query failed (" + head + "...): " + message);
}

Result<ResultPtr> ExecTyped(PGconn* conn, const std::string& sql, const Params& params,
                            const std::vector<Oid>& types, std::string_view who) {
  ResultPtr res;
  if (params.empty()) {
    res.reset(PQexec(conn, sql.c_str()));
  } else {
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    res.reset(PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()),
                           types.empty() ? nullptr : types.data(), values.data(), nullptr,
                           nullptr, 0));
  }
  ExecStatusType st = res != nullptr ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    return QueryError(conn, res.get(), sql, who);
  }
  return res;
}

Result<ResultPtr> Exec(PGconn* conn, const std::string& sql, const Params& params,
                       std::string_view who) {
  return ExecTyped(conn, sql, params, {}, who);
}

Status Run(PGconn* conn, const std::string& sql, const Params& params, std::string_view who) {
  auto res = Exec(conn, sql, params, who);
  return res.ok() ? Status::OK() : res.status();
}

std::string TextAt(const PGresult* res, int row, int col) {
  return std::string(PQgetvalue(res, row, col), PQgetlength(res, row, col));
}

std::optional<std::string> NullableTextAt(const PGresult* res, int row, int col) {
  if (PQgetisnull(res, row, col)) return std::nullopt;
  return TextAt(res, row, col);
}

namespace {

// `text` between `quote`s, each `quote` in it doubled.
std::string Quote(std::string_view text, char quote) {
  std::string out(1, quote);
  for (char c : text) {
    if (c == quote) out += quote;
    out += c;
  }
  return out + quote;
}

}  // namespace

std::string QuoteIdent(std::string_view name) { return Quote(name, '"'); }

std::string QuoteLiteral(std::string_view text) { return Quote(text, '\''); }

std::string QualifiedName(const Table& table) {
  return QuoteIdent(table.schema) + "." + QuoteIdent(table.name);
}

namespace {

// `replication` is libpq's replication keyword ("" = a normal connection).
Result<Conn> Connect(const Node& node, const char* replication) {
  const char* keywords[] = {"dbname", "fallback_application_name", "replication", nullptr};
  const char* values[] = {node.dsn.c_str(), "mosaic-control", replication, nullptr};
  if (*replication == '\0') keywords[2] = nullptr;
  Conn conn(PQconnectdbParams(keywords, values, /*expand_dbname=*/1));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return ConnectionError(conn.get(), "cannot connect to node " + std::to_string(node.id));
  }
  return conn;
}

}  // namespace

Result<Conn> ConnectNode(const Node& node) { return Connect(node, ""); }

Result<Conn> ConnectNodeForReplication(const Node& node) { return Connect(node, "database"); }

}  // namespace mosaic::catalog::pg
