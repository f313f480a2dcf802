// Statement analysis with a shape cache.
//
// Analyze() runs libpg_query's full parser and walks the tree into an Analysis. It is the slow
// path. AnalysisCache sits in front of it: the lexer (sql/lexer.h) turns each statement text into
// a shape hash plus its literals in one pass, and a repeated shape returns the cached Analysis
// without parsing again (literal values come from the lexer's output for the current text).
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sql/analysis.h"
#include "sql/lexer.h"

namespace mosaic::sql {

// Parses `sql` (exactly one statement; a trailing ';' is fine) and analyses it. `literals` must
// be the lexer's output for the same text: literal ValueRefs index into it. Never fails: text
// libpg_query rejects yields type kUtility with parse_error set. Thread-safe.
std::shared_ptr<const Analysis> Analyze(std::string_view sql, const std::vector<Literal>& literals);

// A bounded LRU cache of analyses by shape. One per worker thread: not thread-safe.
class AnalysisCache {
 public:
  explicit AnalysisCache(size_t capacity = 4096);

  // Lexes `sql` into `*lexed` (its literals are what the returned analysis's literal ValueRefs
  // refer to) and returns the analysis of its shape, parsing only when the shape is new, a
  // structural literal differs, or the analysis has byte ranges and the text's whitespace
  // layout differs from the cached one's. Byte ranges of the result are always offsets into
  // `sql`: when only literal lengths differ, a hit returns a copy with the ranges moved.
  // Never null.
  std::shared_ptr<const Analysis> Get(std::string_view sql, Lexed* lexed);

  size_t hits() const { return hits_; }
  size_t misses() const { return misses_; }
  size_t size() const { return map_.size(); }

 private:
  struct Entry {
    uint64_t hash = 0;
    std::shared_ptr<const Analysis> analysis;
    // The text the analysis was built from, for reusing its byte ranges: its gap layout, its
    // literals' spans, and the analysis's largest byte offset (-1: it has no byte ranges).
    uint64_t layout = 0;
    std::vector<std::pair<int, int>> spans;
    int max_offset = -1;
  };
  size_t capacity_;
  std::list<Entry> lru_;  // front = most recent
  std::unordered_map<uint64_t, std::list<Entry>::iterator> map_;
  size_t hits_ = 0, misses_ = 0;
};

}  // namespace mosaic::sql
