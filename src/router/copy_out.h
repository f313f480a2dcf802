// COPY (query) TO STDOUT over several nodes: Mosaic runs the query as a client's SELECT (merged
// over the nodes) and writes its text rows as COPY's text or CSV output, byte for byte as
// PostgreSQL's COPY writes them (src/backend/commands/copyto.c: CopyAttributeOutText and
// CopyAttributeOutCSV; the COPY page of the manual).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mosaic::router {

// The parts of "COPY ( query ) TO STDOUT ...": the query between the parentheses and what
// follows the closing one, with their byte offsets in the statement.
struct CopyQueryText {
  std::string_view query;
  size_t query_begin = 0;
  std::string_view after;  // " TO STDOUT WITH (FORMAT csv)"
  size_t after_begin = 0;
};
// nullopt when `copy` does not begin with COPY and a parenthesized query.
std::optional<CopyQueryText> SplitCopyQuery(std::string_view copy);

// The statement that has one node check a COPY (query) TO STDOUT's options against the
// query's columns and answer its CopyOutResponse (and its header line) without running the
// query: "COPY (SELECT * FROM (query) AS ... LIMIT 0) TO STDOUT ...".
std::string CopyProbe(const CopyQueryText& parts);
// A position in the probe's text (an error's 'P', 1-based characters) as a position in the
// client's statement `copy`; nullopt when it falls in what the probe added.
std::optional<int> CopyProbePosition(std::string_view copy, const CopyQueryText& parts, int probe_position);
// A position in the query's own text as a position in `copy`.
int CopyQueryPosition(std::string_view copy, const CopyQueryText& parts, int query_position);

struct CopyOutFormat {
  bool csv = false;
  char delimiter = '\t';
  std::string null = "\\N";
  char quote = '"';
  char escape = '"';
  std::vector<bool> force_quote;  // CSV: per column, quoted even when it need not be (FORCE_QUOTE)
};

// Appends one row's line (with its newline) to *out. A nullopt value is NULL.
void AppendCopyLine(const CopyOutFormat& format, const std::vector<std::optional<std::string_view>>& values,
                    std::string* out);

}  // namespace mosaic::router
