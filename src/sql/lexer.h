// The SQL lexer that makes statement shapes: one pass over the text that finds every literal
// (string constants in all their forms, numbers, typed literals' strings) and hashes everything
// else, so statements differing only in constants hash alike. It is what lets the analysis cache
// skip libpg_query's parser on repeated shapes; it must stay much cheaper than parsing.
//
// It knows PostgreSQL's lexical rules: '' quoting, E'' escapes, U&'' strings, $tag$ dollar
// quotes, "quoted identifiers" (hashed, not literals), -- and nested /* */ comments (skipped),
// numeric forms (42, 4.2, .5, 1e10, 0x1F in PG 15? no: plain decimal forms only), $n parameters
// (hashed as parameters, not literals). Keywords and identifiers are hashed case-insensitively
// unless quoted. Whitespace and comments do not affect the hash.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mosaic::sql {

struct Literal {
  enum class Kind : uint8_t { kString, kNumber };
  Kind kind = Kind::kString;
  int begin = 0, end = 0;  // byte range of the literal token in the text (quotes included)
  std::string value;       // the constant's value: string contents unescaped, number as written
};

struct Lexed {
  uint64_t shape_hash = 0;
  std::vector<Literal> literals;  // in text order
  int statements = 0;             // number of statements (top-level ';' separated, non-empty)
  bool error = false;             // unterminated quote/comment: the shape is the raw text's hash
};

// Lexes `sql`. `out` is reused (its vector keeps capacity) so steady-state lexing allocates
// nothing for short literals. Thread-safe.
void Lex(std::string_view sql, Lexed* out);

}  // namespace mosaic::sql
