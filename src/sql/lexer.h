// The SQL lexer that makes statement shapes: one pass over the text that finds every literal
// (string constants in all their forms, numbers, typed literals' strings) and hashes everything
// else, so statements differing only in constants hash alike. It is what lets the analysis cache
// skip libpg_query's parser on repeated shapes; it must stay much cheaper than parsing.
//
// It knows PostgreSQL's lexical rules: '' quoting, E'' escapes, U&'' strings, $tag$ dollar
// quotes, "quoted identifiers" (hashed, not literals), -- and nested /* */ comments (skipped),
// numeric forms (42, 4.2, .5, 1e10; PostgreSQL 15 has no 0x/0o/0b forms), $n parameters
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
  // Hash of the lengths of the gaps (whitespace, comments) between tokens. Two texts of one
  // shape with equal layout_hash differ in byte offsets only by their literals' lengths: what
  // AnalysisCache needs to reuse an analysis's byte ranges.
  uint64_t layout_hash = 0;
  std::vector<Literal> literals;  // in text order
  int statements = 0;             // number of statements (top-level ';' separated, non-empty)
  bool error = false;             // unterminated quote/comment: the shape is the raw text's hash
};

// One token of SQL text. String tokens include their prefix (E, B, X, U&) and quotes, and
// PostgreSQL's continuation of a quoted string over a newline ('a'\n'b' is one token).
struct Token {
  enum class Kind : uint8_t {
    kEnd,          // no more tokens
    kIdent,        // identifier or keyword (unquoted)
    kQuotedIdent,  // "identifier" (or U&"...")
    kString,       // any string constant form, including $$dollar$$ quotes and B''/X'' bits
    kNumber,
    kParam,        // $n
    kOperator,     // + - * / < > = ~ ! @ # % ^ & | ` ? and runs of them
    kPunct,        // ( ) [ ] , ; : :: . :=
    kError,        // unterminated quote or comment: extends to the end of the text
  };
  Kind kind = Kind::kEnd;
  int begin = 0, end = 0;
};

// Returns the token starting at or after `*pos` (skipping whitespace and comments) and moves
// `*pos` past it. Thread-safe; never allocates.
Token NextToken(std::string_view sql, int* pos);

// The unescaped value of a kString token (sql.substr(t.begin, t.end - t.begin)) into *out.
// U&'' strings with escapes are kept raw (without quotes); B''/X'' give the digits.
void StringValue(std::string_view token, std::string* out);

// Lexes `sql`. `out` is reused (its vector keeps capacity) so steady-state lexing allocates
// nothing for short literals. Thread-safe.
void Lex(std::string_view sql, Lexed* out);

}  // namespace mosaic::sql
