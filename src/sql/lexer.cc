// The shape lexer. One pass, no allocation beyond the literals' values; the token rules follow
// PostgreSQL 15's scan.l closely enough that two texts with one token sequence parse alike.
#include "sql/lexer.h"

namespace mosaic::sql {
namespace {

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

inline uint64_t Mix(uint64_t h, unsigned char c) { return (h ^ c) * kFnvPrime; }

inline uint64_t MixInt(uint64_t h, uint64_t v) {
  for (int i = 0; i < 4; ++i, v >>= 8) h = Mix(h, static_cast<unsigned char>(v));
  return h;
}

inline bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsIdentStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
inline bool IsIdentChar(char c) { return IsIdentStart(c) || IsDigit(c) || c == '$'; }
inline bool IsOpChar(char c) {
  switch (c) {
    case '+': case '-': case '*': case '/': case '<': case '>': case '=': case '~': case '!':
    case '@': case '#': case '%': case '^': case '&': case '|': case '`': case '?':
      return true;
    default:
      return false;
  }
}
inline char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// Skips whitespace and comments from i. Sets *unterminated for an open /* comment.
int SkipGap(std::string_view s, int i, bool* unterminated) {
  const int n = static_cast<int>(s.size());
  while (i < n) {
    const char c = s[i];
    if (IsSpace(c)) {
      ++i;
    } else if (c == '-' && i + 1 < n && s[i + 1] == '-') {
      while (i < n && s[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < n && s[i + 1] == '*') {
      int depth = 1;  // block comments nest in PostgreSQL
      i += 2;
      while (i < n && depth > 0) {
        if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
          ++depth;
          i += 2;
        } else if (s[i] == '*' && i + 1 < n && s[i + 1] == '/') {
          --depth;
          i += 2;
        } else {
          ++i;
        }
      }
      if (depth > 0) *unterminated = true;
    } else {
      break;
    }
  }
  return i;
}

// From the opening quote at i, returns the index after the closing quote, or -1. Backslash
// escapes the next character when `backslash` (E'' strings).
int SkipQuoted(std::string_view s, int i, char quote, bool backslash) {
  const int n = static_cast<int>(s.size());
  for (++i; i < n; ++i) {
    if (backslash && s[i] == '\\') {
      ++i;
    } else if (s[i] == quote) {
      if (i + 1 < n && s[i + 1] == quote) {
        ++i;
      } else {
        return i + 1;
      }
    }
  }
  return -1;
}

// After a closed quoted string ending at i: if whitespace containing a newline and another
// quote follow, PostgreSQL continues the same string there. Returns the next quote's index or -1.
int Continuation(std::string_view s, int i) {
  bool newline = false;
  const int n = static_cast<int>(s.size());
  while (i < n && IsSpace(s[i])) newline |= s[i++] == '\n';
  return newline && i < n && s[i] == '\'' ? i : -1;
}

// A quoted string (with continuations) whose first quote is at q; token begins at `begin`.
Token QuotedString(std::string_view s, int begin, int q, bool backslash, int* pos) {
  const int n = static_cast<int>(s.size());
  for (;;) {
    const int end = SkipQuoted(s, q, '\'', backslash);
    if (end < 0) {
      *pos = n;
      return {Token::Kind::kError, begin, n};
    }
    const int next = Continuation(s, end);
    if (next < 0) {
      *pos = end;
      return {Token::Kind::kString, begin, end};
    }
    q = next;
  }
}

// Length of a $tag$ delimiter starting at i (the '$'), or 0 if there is none.
int DollarTag(std::string_view s, int i) {
  const int n = static_cast<int>(s.size());
  int j = i + 1;
  if (j < n && s[j] == '$') return 2;
  if (j >= n || !IsIdentStart(s[j])) return 0;
  while (j < n && (IsIdentStart(s[j]) || IsDigit(s[j]))) ++j;
  return j < n && s[j] == '$' ? j - i + 1 : 0;
}

Token Number(std::string_view s, int i, int* pos) {
  const int n = static_cast<int>(s.size());
  const int begin = i;
  while (i < n && IsDigit(s[i])) ++i;
  if (i < n && s[i] == '.' && !(i + 1 < n && s[i + 1] == '.')) {
    ++i;
    while (i < n && IsDigit(s[i])) ++i;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    int j = i + 1;
    if (j < n && (s[j] == '+' || s[j] == '-')) ++j;
    if (j < n && IsDigit(s[j])) {
      while (j < n && IsDigit(s[j])) ++j;
      i = j;
    }
  }
  *pos = i;
  return {Token::Kind::kNumber, begin, i};
}

Token Operator(std::string_view s, int i, int* pos) {
  const int n = static_cast<int>(s.size());
  const int begin = i;
  bool special = false;  // contains a character that keeps a trailing + or -
  while (i < n && IsOpChar(s[i])) {
    if (i > begin && ((s[i] == '-' && s[i - 1] == '-') || (s[i] == '*' && s[i - 1] == '/'))) {
      --i;  // a comment starts inside the run
      break;
    }
    switch (s[i]) {
      case '~': case '!': case '@': case '#': case '^': case '&': case '|': case '`': case '?':
      case '%':
        special = true;
        break;
      default:
        break;
    }
    ++i;
  }
  if (!special) {
    while (i - begin > 1 && (s[i - 1] == '+' || s[i - 1] == '-')) --i;
  }
  *pos = i;
  return {Token::Kind::kOperator, begin, i};
}

}  // namespace

Token NextToken(std::string_view s, int* pos) {
  const int n = static_cast<int>(s.size());
  bool unterminated = false;
  int i = SkipGap(s, *pos, &unterminated);
  if (unterminated) {
    *pos = n;
    return {Token::Kind::kError, i, n};
  }
  if (i >= n) {
    *pos = n;
    return {Token::Kind::kEnd, n, n};
  }
  const char c = s[i];
  const char c1 = i + 1 < n ? s[i + 1] : '\0';
  if (c == '\'') return QuotedString(s, i, i, false, pos);
  if ((c == 'e' || c == 'E') && c1 == '\'') return QuotedString(s, i, i + 1, true, pos);
  if ((c == 'b' || c == 'B' || c == 'x' || c == 'X') && c1 == '\'') {
    return QuotedString(s, i, i + 1, false, pos);
  }
  if ((c == 'u' || c == 'U') && c1 == '&' && i + 2 < n && (s[i + 2] == '\'' || s[i + 2] == '"')) {
    if (s[i + 2] == '\'') return QuotedString(s, i, i + 2, false, pos);
    const int end = SkipQuoted(s, i + 2, '"', false);
    *pos = end < 0 ? n : end;
    return {end < 0 ? Token::Kind::kError : Token::Kind::kQuotedIdent, i, *pos};
  }
  if (IsIdentStart(c)) {
    int j = i + 1;
    while (j < n && IsIdentChar(s[j])) ++j;
    *pos = j;
    return {Token::Kind::kIdent, i, j};
  }
  if (c == '"') {
    const int end = SkipQuoted(s, i, '"', false);
    *pos = end < 0 ? n : end;
    return {end < 0 ? Token::Kind::kError : Token::Kind::kQuotedIdent, i, *pos};
  }
  if (IsDigit(c) || (c == '.' && IsDigit(c1))) return Number(s, i, pos);
  if (c == '$') {
    if (IsDigit(c1)) {
      int j = i + 1;
      while (j < n && IsDigit(s[j])) ++j;
      *pos = j;
      return {Token::Kind::kParam, i, j};
    }
    if (const int tag = DollarTag(s, i); tag > 0) {
      const std::string_view delim = s.substr(i, tag);
      const size_t close = s.find(delim, i + tag);
      if (close == std::string_view::npos) {
        *pos = n;
        return {Token::Kind::kError, i, n};
      }
      *pos = static_cast<int>(close) + tag;
      return {Token::Kind::kString, i, *pos};
    }
  }
  if (IsOpChar(c)) return Operator(s, i, pos);
  if ((c == ':' && (c1 == ':' || c1 == '=')) || (c == '.' && c1 == '.')) {
    *pos = i + 2;
    return {Token::Kind::kPunct, i, i + 2};
  }
  *pos = i + 1;
  return {Token::Kind::kPunct, i, i + 1};
}

namespace {

// Appends the code point cp as UTF-8.
void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

int HexValue(char c) {
  if (IsDigit(c)) return c - '0';
  c = Lower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

// Decodes an E'' backslash escape starting after the backslash at body[i]; returns the index
// after it.
size_t Escape(std::string_view body, size_t i, std::string* out) {
  const char c = body[i];
  switch (c) {
    case 'b': out->push_back('\b'); return i + 1;
    case 'f': out->push_back('\f'); return i + 1;
    case 'n': out->push_back('\n'); return i + 1;
    case 'r': out->push_back('\r'); return i + 1;
    case 't': out->push_back('\t'); return i + 1;
    default: break;
  }
  if (c >= '0' && c <= '7') {
    int v = 0;
    size_t j = i;
    for (; j < body.size() && j < i + 3 && body[j] >= '0' && body[j] <= '7'; ++j) {
      v = v * 8 + (body[j] - '0');
    }
    out->push_back(static_cast<char>(v));
    return j;
  }
  if (c == 'x' && i + 1 < body.size() && HexValue(body[i + 1]) >= 0) {
    int v = 0;
    size_t j = i + 1;
    for (; j < body.size() && j < i + 3 && HexValue(body[j]) >= 0; ++j) v = v * 16 + HexValue(body[j]);
    out->push_back(static_cast<char>(v));
    return j;
  }
  if (c == 'u' || c == 'U') {
    const size_t digits = c == 'u' ? 4 : 8;
    uint32_t cp = 0;
    size_t j = i + 1;
    for (; j < body.size() && j < i + 1 + digits && HexValue(body[j]) >= 0; ++j) {
      cp = cp * 16 + static_cast<uint32_t>(HexValue(body[j]));
    }
    if (j == i + 1 + digits) {
      AppendUtf8(cp, out);
      return j;
    }
  }
  out->push_back(c);
  return i + 1;
}

}  // namespace

void StringValue(std::string_view tok, std::string* out) {
  out->clear();
  if (tok.empty()) return;
  if (tok[0] == '$') {
    const size_t tag = tok.find('$', 1) + 1;
    if (tok.size() >= 2 * tag) out->assign(tok.substr(tag, tok.size() - 2 * tag));
    return;
  }
  bool backslash = false;
  size_t i = 0;
  if (tok[0] == 'e' || tok[0] == 'E') {
    backslash = true;
    i = 1;
  } else if (tok[0] == 'b' || tok[0] == 'B' || tok[0] == 'x' || tok[0] == 'X') {
    i = 1;
  } else if (tok[0] == 'u' || tok[0] == 'U') {
    i = 2;  // U&'...': escapes are kept as written
  }
  // Each piece: a quote, the body, a quote; pieces separated by whitespace (continuations).
  while (i < tok.size()) {
    if (tok[i] != '\'') {
      ++i;
      continue;
    }
    for (++i; i < tok.size(); ++i) {
      const char c = tok[i];
      if (backslash && c == '\\' && i + 1 < tok.size()) {
        i = Escape(tok, i + 1, out) - 1;
      } else if (c == '\'') {
        if (i + 1 < tok.size() && tok[i + 1] == '\'') {
          out->push_back('\'');
          ++i;
        } else {
          ++i;
          break;
        }
      } else {
        out->push_back(c);
      }
    }
  }
}

void Lex(std::string_view sql, Lexed* out) {
  uint64_t h = kFnvOffset;
  uint64_t layout = kFnvOffset;
  size_t nlit = 0;
  int depth = 0;
  bool in_statement = false;
  out->statements = 0;
  out->error = false;
  int pos = 0;
  int prev_end = 0;
  for (;;) {
    const Token t = NextToken(sql, &pos);
    if (t.kind == Token::Kind::kEnd) break;
    if (t.kind == Token::Kind::kError) {
      out->error = true;
      break;
    }
    layout = MixInt(layout, static_cast<uint64_t>(t.begin - prev_end));
    prev_end = t.end;
    const std::string_view text = sql.substr(t.begin, t.end - t.begin);
    h = Mix(h, static_cast<unsigned char>(t.kind));
    switch (t.kind) {
      case Token::Kind::kIdent:
        for (char c : text) h = Mix(h, static_cast<unsigned char>(Lower(c)));
        break;
      case Token::Kind::kString:
      case Token::Kind::kNumber: {
        // Only the literal's form enters the shape: its prefix (E, B, X, U&, $) or "number".
        h = Mix(h, t.kind == Token::Kind::kNumber ? 'n' : static_cast<unsigned char>(Lower(text[0])));
        if (nlit == out->literals.size()) out->literals.emplace_back();
        Literal& lit = out->literals[nlit++];
        lit.begin = t.begin;
        lit.end = t.end;
        if (t.kind == Token::Kind::kNumber) {
          lit.kind = Literal::Kind::kNumber;
          lit.value.assign(text);
        } else {
          lit.kind = Literal::Kind::kString;
          StringValue(text, &lit.value);
        }
        break;
      }
      default:
        for (char c : text) h = Mix(h, static_cast<unsigned char>(c));
        break;
    }
    h = Mix(h, 0xFF);  // token boundary
    if (t.kind == Token::Kind::kPunct && text.size() == 1) {
      if (text[0] == '(' || text[0] == '[') {
        ++depth;
      } else if ((text[0] == ')' || text[0] == ']') && depth > 0) {
        --depth;
      } else if (text[0] == ';' && depth == 0) {
        if (in_statement) ++out->statements;
        in_statement = false;
        continue;
      }
    }
    in_statement = true;
  }
  if (in_statement) ++out->statements;
  out->literals.resize(nlit);
  if (out->error) {
    h = kFnvOffset;
    for (char c : sql) h = Mix(h, static_cast<unsigned char>(c));
  }
  out->shape_hash = h;
  out->layout_hash = layout;
}

}  // namespace mosaic::sql
