#include "sql/classifier.h"

#include <pg_query.h>

#include <cctype>
#include <string>

namespace mosaic::sql {
namespace {

// Skips whitespace, comments and '(' starting at i; returns the new position.
size_t SkipNoise(std::string_view s, size_t i) {
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c)) || c == '(') {
      ++i;
    } else if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
      while (i < s.size() && s[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      int depth = 1;  // PostgreSQL block comments nest
      i += 2;
      while (i < s.size() && depth > 0) {
        if (s[i] == '/' && i + 1 < s.size() && s[i + 1] == '*') {
          ++depth;
          i += 2;
        } else if (s[i] == '*' && i + 1 < s.size() && s[i + 1] == '/') {
          --depth;
          i += 2;
        } else {
          ++i;
        }
      }
    } else {
      break;
    }
  }
  return i;
}

StatementKind KindOfKeyword(std::string_view kw) {
  if (kw.empty()) return StatementKind::kEmpty;
  // As the analyzer's DDL (StatementType::kDdl): TRUNCATE, SECURITY LABEL, REASSIGN OWNED and
  // IMPORT FOREIGN SCHEMA too.
  if (kw == "create" || kw == "alter" || kw == "drop" || kw == "comment" || kw == "grant" ||
      kw == "revoke" || kw == "truncate" || kw == "security" || kw == "reassign" || kw == "import") {
    return StatementKind::kDdl;
  }
  if (kw == "begin" || kw == "start") return StatementKind::kBegin;
  if (kw == "commit" || kw == "rollback" || kw == "savepoint" || kw == "release" || kw == "end" ||
      kw == "abort") {
    return StatementKind::kTransaction;
  }
  return StatementKind::kOrdinary;
}

StatementKind KindOf(std::string_view sql) {
  char buf[32];
  return KindOfKeyword(FirstKeyword(sql, buf));
}

// True when the only ';' characters are trailing (possibly followed by whitespace/comments),
// which is the common single-statement case.
bool SingleStatementFastPath(std::string_view sql) {
  size_t semi = sql.find(';');
  if (semi == std::string_view::npos) return true;
  return SkipNoise(sql, semi + 1) == sql.size() && sql.find(';', semi + 1) == std::string_view::npos;
}

}  // namespace

std::string_view FirstKeyword(std::string_view sql, char (&buf)[32]) {
  size_t i = SkipNoise(sql, 0);
  size_t n = 0;
  while (i < sql.size() && n < sizeof(buf) - 1 &&
         (std::isalpha(static_cast<unsigned char>(sql[i])) || sql[i] == '_')) {
    buf[n++] = static_cast<char>(std::tolower(static_cast<unsigned char>(sql[i])));
    ++i;
  }
  return std::string_view(buf, n);
}

Classification Classify(std::string_view sql) {
  if (SingleStatementFastPath(sql)) {
    StatementKind kind = KindOf(sql);
    return {kind, kind == StatementKind::kEmpty ? 0 : 1};
  }
  const std::string copy(sql);  // libpg_query wants a NUL-terminated string
  PgQuerySplitResult split = pg_query_split_with_scanner(copy.c_str());
  Classification result;
  if (split.error != nullptr) {
    pg_query_free_split_result(split);
    return {KindOf(sql), 1};
  }
  bool any_ddl = false;
  bool any_other = false;
  for (int i = 0; i < split.n_stmts; ++i) {
    const PgQuerySplitStmt* part = split.stmts[i];
    StatementKind kind = KindOf(std::string_view(copy).substr(part->stmt_location, part->stmt_len));
    if (kind == StatementKind::kEmpty) continue;
    ++result.statements;
    // Transaction control is neutral: "BEGIN; CREATE ...; COMMIT" is a DDL script.
    if (kind == StatementKind::kDdl) any_ddl = true;
    if (kind == StatementKind::kOrdinary) any_other = true;
  }
  pg_query_free_split_result(split);
  if (any_ddl && any_other) {
    result.kind = StatementKind::kMixed;
  } else if (any_ddl) {
    result.kind = StatementKind::kDdl;
  } else if (any_other) {
    result.kind = StatementKind::kOrdinary;
  } else {
    result.kind = result.statements > 0 ? StatementKind::kTransaction : StatementKind::kEmpty;
  }
  return result;
}

bool SplitStatements(std::string_view sql, std::vector<std::string_view>* parts) {
  parts->clear();
  const std::string copy(sql);
  PgQuerySplitResult split = pg_query_split_with_scanner(copy.c_str());
  if (split.error != nullptr) {
    pg_query_free_split_result(split);
    return false;
  }
  for (int i = 0; i < split.n_stmts; ++i) {
    const PgQuerySplitStmt* part = split.stmts[i];
    std::string_view text = sql.substr(static_cast<size_t>(part->stmt_location), static_cast<size_t>(part->stmt_len));
    if (KindOf(text) != StatementKind::kEmpty) parts->push_back(text);
  }
  pg_query_free_split_result(split);
  return true;
}

}  // namespace mosaic::sql
