#include "router/copy_out.h"

#include "sql/lexer.h"

namespace mosaic::router {
namespace {

constexpr std::string_view kProbeBefore = "COPY (SELECT * FROM (";
constexpr std::string_view kProbeAfter = ") AS mosaic_copy LIMIT 0)";

bool IsKeyword(std::string_view sql, const sql::Token& t, std::string_view word) {
  if (t.kind != sql::Token::Kind::kIdent || static_cast<size_t>(t.end - t.begin) != word.size()) return false;
  for (size_t i = 0; i < word.size(); ++i) {
    const char c = sql[static_cast<size_t>(t.begin) + i];
    if ((c | 0x20) != word[i]) return false;
  }
  return true;
}

// Characters (UTF-8 code points) in `text`: what an error's position counts.
int Characters(std::string_view text) {
  int n = 0;
  for (const char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

void AppendText(std::string_view v, char delimiter, std::string* out) {
  for (const char c : v) {
    const auto u = static_cast<unsigned char>(c);
    char escaped = 0;
    if (u < 0x20) {
      switch (c) {
        case '\b': escaped = 'b'; break;
        case '\f': escaped = 'f'; break;
        case '\n': escaped = 'n'; break;
        case '\r': escaped = 'r'; break;
        case '\t': escaped = 't'; break;
        case '\v': escaped = 'v'; break;
        default: escaped = c == delimiter ? c : 0; break;
      }
    } else if (c == '\\' || c == delimiter) {
      escaped = c;
    }
    if (escaped != 0) {
      out->push_back('\\');
      out->push_back(escaped);
    } else {
      out->push_back(c);
    }
  }
}

void AppendCsv(std::string_view v, const CopyOutFormat& f, bool force, bool single, std::string* out) {
  // Quoted when asked, when it reads as the NULL string, when alone on its line it reads as the
  // end-of-data marker, or when it holds the delimiter, the quote or a line break.
  bool quote = force || v == f.null || (single && v == "\\.");
  for (size_t i = 0; !quote && i < v.size(); ++i) {
    const char c = v[i];
    quote = c == f.delimiter || c == f.quote || c == '\n' || c == '\r';
  }
  if (!quote) {
    out->append(v);
    return;
  }
  out->push_back(f.quote);
  for (const char c : v) {
    if (c == f.quote || c == f.escape) out->push_back(f.escape);
    out->push_back(c);
  }
  out->push_back(f.quote);
}

}  // namespace

std::optional<CopyQueryText> SplitCopyQuery(std::string_view copy) {
  int pos = 0;
  if (!IsKeyword(copy, sql::NextToken(copy, &pos), "copy")) return std::nullopt;
  const sql::Token open = sql::NextToken(copy, &pos);
  if (open.kind != sql::Token::Kind::kPunct || copy[static_cast<size_t>(open.begin)] != '(') return std::nullopt;
  int depth = 1;
  for (;;) {
    const sql::Token t = sql::NextToken(copy, &pos);
    if (t.kind == sql::Token::Kind::kEnd || t.kind == sql::Token::Kind::kError) return std::nullopt;
    if (t.kind != sql::Token::Kind::kPunct) continue;
    const char c = copy[static_cast<size_t>(t.begin)];
    depth += c == '(' ? 1 : c == ')' ? -1 : 0;
    if (depth > 0) continue;
    CopyQueryText parts;
    parts.query_begin = static_cast<size_t>(open.end);
    parts.query = copy.substr(parts.query_begin, static_cast<size_t>(t.begin) - parts.query_begin);
    parts.after_begin = static_cast<size_t>(t.end);
    parts.after = copy.substr(parts.after_begin);
    return parts;
  }
}

std::string CopyProbe(const CopyQueryText& parts) {
  std::string probe;
  probe.reserve(kProbeBefore.size() + parts.query.size() + kProbeAfter.size() + parts.after.size());
  probe.append(kProbeBefore).append(parts.query).append(kProbeAfter).append(parts.after);
  return probe;
}

std::optional<int> CopyProbePosition(std::string_view copy, const CopyQueryText& parts, int probe_position) {
  const int before = Characters(kProbeBefore);
  const int query = Characters(parts.query);
  const int added = Characters(kProbeAfter);
  const int p = probe_position - 1;  // 0-based
  if (p >= before && p < before + query) return p - before + Characters(copy.substr(0, parts.query_begin)) + 1;
  if (p >= before + query + added) return p - before - query - added + Characters(copy.substr(0, parts.after_begin)) + 1;
  return std::nullopt;
}

int CopyQueryPosition(std::string_view copy, const CopyQueryText& parts, int query_position) {
  return query_position + Characters(copy.substr(0, parts.query_begin));
}

void AppendCopyLine(const CopyOutFormat& format, const std::vector<std::optional<std::string_view>>& values,
                    std::string* out) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out->push_back(format.delimiter);
    if (!values[i]) {
      out->append(format.null);
    } else if (format.csv) {
      const bool force = i < format.force_quote.size() && format.force_quote[i];
      AppendCsv(*values[i], format, force, values.size() == 1, out);
    } else {
      AppendText(*values[i], format.delimiter, out);
    }
  }
  out->push_back('\n');
}

}  // namespace mosaic::router
