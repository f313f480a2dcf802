#include "router/value.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <system_error>

#include "router/decimal.h"

namespace mosaic::router::value {
namespace {

// PostgreSQL's limits: julian day 0 (4714-11-24 BC) to the end of date and timestamp ranges,
// relative to 2000-01-01.
constexpr int64_t kMinDateDays = -2451545;
constexpr int64_t kEndDateDays = 2147483494 - 2451545;
constexpr int64_t kMinTimestamp = -211813488000000000;
constexpr int64_t kEndTimestamp = 9223371331200000000;  // 294277-01-01
constexpr int64_t kDaysFrom1970To2000 = 10957;
constexpr int kMaxTzHour = 15;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

int HexDigit(char c) {
  if (IsDigit(c)) return c - '0';
  c = Lower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

void AppendHex(std::string_view bytes, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out->push_back(kHex[b >> 4]);
    out->push_back(kHex[b & 15]);
  }
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string Quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

// Proleptic Gregorian calendar, astronomical years (1 BC is year 0), counted in 400-year eras.
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, int* m, int* d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  *m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
int DaysInMonth(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// The fields of one datetime literal as written.
struct Parts {
  int special = 0;  // +1 'infinity', -1 '-infinity'
  bool has_date = false;
  int64_t year = 0;
  int month = 1, day = 1;
  bool bc = false;
  int hour = 0, minute = 0, second = 0;
  int64_t usec = 0;  // fraction, rounded to microseconds (may reach 1000000)
  bool has_tz = false;
  int tz_seconds = 0;  // east of UTC
};

enum class ParseOutcome { kOk, kSyntax, kField };

class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}
  bool AtEnd() const { return i_ == s_.size(); }
  char Peek() const { return AtEnd() ? '\0' : s_[i_]; }
  bool Accept(char c) {
    if (Peek() != c) return false;
    ++i_;
    return true;
  }
  bool AcceptWord(std::string_view w) {
    if (s_.size() - i_ < w.size() || !IEquals(s_.substr(i_, w.size()), w)) return false;
    i_ += w.size();
    return true;
  }
  void SkipSpaces() {
    while (!AtEnd() && IsSpace(s_[i_])) ++i_;
  }
  // A run of digits: its value (saturating) and length.
  size_t Digits(int64_t* v) {
    size_t start = i_;
    *v = 0;
    while (!AtEnd() && IsDigit(s_[i_])) {
      if (*v < 1'000'000'000'000) *v = *v * 10 + (s_[i_] - '0');
      ++i_;
    }
    return i_ - start;
  }
  std::string_view DigitRun() {
    size_t start = i_;
    while (!AtEnd() && IsDigit(s_[i_])) ++i_;
    return s_.substr(start, i_ - start);
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

bool ParseClock(Scanner* sc, Parts* p) {
  int64_t h = 0, mi = 0, se = 0;
  size_t n = sc->Digits(&h);
  if (n < 1 || n > 2 || !sc->Accept(':')) return false;
  if (sc->Digits(&mi) != 2) return false;
  if (sc->Accept(':')) {
    if (sc->Digits(&se) != 2) return false;
    if (sc->Accept('.')) {
      std::string_view frac = sc->DigitRun();
      int64_t us = 0;
      for (size_t k = 0; k < 6; ++k) us = us * 10 + (k < frac.size() ? frac[k] - '0' : 0);
      if (frac.size() > 6 && frac[6] >= '5') ++us;
      p->usec = us;
    }
  }
  p->hour = static_cast<int>(h);
  p->minute = static_cast<int>(mi);
  p->second = static_cast<int>(se);
  return true;
}

// 'Z', 'UTC'/'GMT', or ±HH[[:]MM[[:]SS]].
ParseOutcome ParseZone(Scanner* sc, Parts* p) {
  if (sc->Accept('Z') || sc->Accept('z') || sc->AcceptWord("utc") || sc->AcceptWord("gmt")) {
    p->has_tz = true;
    return ParseOutcome::kOk;
  }
  int sign = sc->Accept('+') ? 1 : (sc->Accept('-') ? -1 : 0);
  if (sign == 0) return ParseOutcome::kOk;
  std::string_view run = sc->DigitRun();
  int64_t h = 0, mi = 0, se = 0;
  auto num = [](std::string_view d) {
    int64_t v = 0;
    for (char c : d) v = v * 10 + (c - '0');
    return v;
  };
  if (run.size() == 4 || run.size() == 6) {
    h = num(run.substr(0, 2));
    mi = num(run.substr(2, 2));
    if (run.size() == 6) se = num(run.substr(4, 2));
  } else if (run.size() == 1 || run.size() == 2) {
    h = num(run);
    if (sc->Accept(':')) {
      if (sc->Digits(&mi) != 2) return ParseOutcome::kSyntax;
      if (sc->Accept(':') && sc->Digits(&se) != 2) return ParseOutcome::kSyntax;
    }
  } else {
    return ParseOutcome::kSyntax;
  }
  if (h > kMaxTzHour || mi > 59 || se > 59) return ParseOutcome::kField;
  p->has_tz = true;
  p->tz_seconds = sign * static_cast<int>((h * 60 + mi) * 60 + se);
  return ParseOutcome::kOk;
}

ParseOutcome ParseParts(std::string_view text, Parts* p) {
  std::string_view s = Trim(text);
  if (IEquals(s, "infinity") || IEquals(s, "+infinity")) {
    p->special = 1;
    return ParseOutcome::kOk;
  }
  if (IEquals(s, "-infinity")) {
    p->special = -1;
    return ParseOutcome::kOk;
  }
  if (IEquals(s, "epoch")) {
    p->has_date = true;
    p->year = 1970;
    p->has_tz = true;
    return ParseOutcome::kOk;
  }
  Scanner sc(s);
  int64_t y = 0, mo = 0, d = 0;
  if (sc.Digits(&y) < 3 || !sc.Accept('-')) return ParseOutcome::kSyntax;
  size_t n = sc.Digits(&mo);
  if (n < 1 || n > 2 || !sc.Accept('-')) return ParseOutcome::kSyntax;
  n = sc.Digits(&d);
  if (n < 1 || n > 2) return ParseOutcome::kSyntax;
  p->has_date = true;
  p->year = y;
  p->month = static_cast<int>(mo);
  p->day = static_cast<int>(d);
  if (sc.Accept('T') || sc.Accept('t')) {
    if (!ParseClock(&sc, p)) return ParseOutcome::kSyntax;
  } else {
    sc.SkipSpaces();
    if (IsDigit(sc.Peek()) && !ParseClock(&sc, p)) return ParseOutcome::kSyntax;
  }
  sc.SkipSpaces();
  ParseOutcome zone = ParseZone(&sc, p);
  if (zone != ParseOutcome::kOk) return zone;
  sc.SkipSpaces();
  if (sc.AcceptWord("bc")) {
    p->bc = true;
  } else {
    (void)sc.AcceptWord("ad");
  }
  sc.SkipSpaces();
  if (!sc.AtEnd()) return ParseOutcome::kSyntax;
  if (p->year == 0 || p->month < 1 || p->month > 12) return ParseOutcome::kField;
  if (p->bc) p->year = 1 - p->year;
  if (p->day < 1 || p->day > DaysInMonth(p->year, p->month)) return ParseOutcome::kField;
  if (p->hour > 24 || p->minute > 59 || p->second > 60) return ParseOutcome::kField;
  if (p->hour == 24 && (p->minute != 0 || p->second != 0 || p->usec != 0)) return ParseOutcome::kField;
  return ParseOutcome::kOk;
}

Status DatetimeError(ParseOutcome outcome, std::string_view type_name, std::string_view text) {
  if (outcome == ParseOutcome::kField) {
    return Status::Error("22008", "date/time field value out of range: " + Quoted(text));
  }
  return Status::Error("22007", "invalid input syntax for type " + std::string(type_name) + ": " + Quoted(text));
}

std::string BigEndian(uint64_t v, int bytes) {
  std::string out(static_cast<size_t>(bytes), '\0');
  for (int k = bytes - 1; k >= 0; --k, v >>= 8) out[static_cast<size_t>(k)] = static_cast<char>(v & 0xFF);
  return out;
}

uint64_t LoadBigEndian(std::string_view bytes) {
  uint64_t v = 0;
  for (char c : bytes) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

std::string FloatKey(double d) {
  if (std::isnan(d)) return std::string(8, '\xFF');
  if (d == 0) d = 0;  // -0 = 0
  uint64_t bits = std::bit_cast<uint64_t>(d);
  bits = (bits >> 63) ? ~bits : bits | (uint64_t{1} << 63);
  return BigEndian(bits, 8);
}

std::string FormatShortest(double v, bool is_float4) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  auto sci = is_float4 ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(v), std::chars_format::scientific)
                       : std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view text(buf, static_cast<size_t>(sci.ptr - buf));
  int exp = 0;
  std::string_view exp_text = text.substr(text.find('e') + 1);
  if (exp_text.front() == '+') exp_text.remove_prefix(1);
  std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exp);
  if (exp < -4 || exp >= (is_float4 ? 6 : 15)) return std::string(text);
  auto fixed = is_float4 ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(v), std::chars_format::fixed)
                         : std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  return std::string(buf, static_cast<size_t>(fixed.ptr - buf));
}

std::string_view IntTypeName(uint32_t oid) {
  switch (oid) {
    case kInt2Oid: return "smallint";
    case kInt8Oid: return "bigint";
    case kOidOid: return "oid";
    default: return "integer";
  }
}

Result<std::string> BoolKey(std::string_view text) {
  std::string_view s = Trim(text);
  static constexpr std::string_view kTrue[] = {"t", "true", "y", "yes", "on", "1"};
  static constexpr std::string_view kFalse[] = {"f", "false", "n", "no", "off", "0"};
  for (auto w : kTrue) {
    if (IEquals(s, w)) return std::string(1, '\x01');
  }
  for (auto w : kFalse) {
    if (IEquals(s, w)) return std::string(1, '\x00');
  }
  return Status::Error("22P02", "invalid input syntax for type boolean: " + Quoted(text));
}

}  // namespace

bool IsIntegerOid(uint32_t oid) {
  return oid == kInt2Oid || oid == kInt4Oid || oid == kInt8Oid || oid == kOidOid;
}
bool IsFloatOid(uint32_t oid) { return oid == kFloat4Oid || oid == kFloat8Oid; }
bool IsTextOid(uint32_t oid) {
  return oid == kTextOid || oid == kVarcharOid || oid == kBpcharOid || oid == kNameOid || oid == kCharOid ||
         oid == kUnknownOid;
}

bool IsDateTimeOid(uint32_t oid) {
  return oid == kDateOid || oid == kTimeOid || oid == kTimestampOid || oid == kTimestampTzOid;
}

bool HasEqualityKey(uint32_t oid) {
  return HasSortKey(oid) || oid == kByteaOid || oid == kOidOid;
}

Result<int64_t> ParseInt64(std::string_view text, std::string_view type_name) {
  std::string_view s = Trim(text);
  bool neg = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    neg = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) {
    return Status::Error("22P02", "invalid input syntax for type " + std::string(type_name) + ": " + Quoted(text));
  }
  uint64_t mag = 0;
  const uint64_t limit = neg ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  for (char c : s) {
    if (!IsDigit(c)) {
      return Status::Error("22P02", "invalid input syntax for type " + std::string(type_name) + ": " + Quoted(text));
    }
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (mag > (limit - digit) / 10) {
      return Status::Error("22003", "value " + Quoted(text) + " is out of range for type bigint");
    }
    mag = mag * 10 + digit;
  }
  return neg ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
}

namespace {

// float8in / float4in: from_chars takes no sign of its own (a second sign, "+-1", is malformed).
template <typename F>
Result<F> ParseFloat(std::string_view text, std::string_view type_name) {
  std::string_view s = Trim(text);
  bool neg = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    neg = s.front() == '-';
    s.remove_prefix(1);
  }
  F v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || s.front() == '-' || s.front() == '+' || ptr != s.data() + s.size() ||
      ec == std::errc::invalid_argument) {
    return Status::Error("22P02", "invalid input syntax for type " + std::string(type_name) + ": " + Quoted(text));
  }
  if (ec == std::errc::result_out_of_range) {
    return Status::Error("22003", Quoted(text) + " is out of range for type " + std::string(type_name));
  }
  return neg ? -v : v;
}

}  // namespace

Result<double> ParseFloat8(std::string_view text) { return ParseFloat<double>(text, "double precision"); }
Result<float> ParseFloat4(std::string_view text) { return ParseFloat<float>(text, "real"); }

std::string FormatFloat8(double v) { return FormatShortest(v, false); }
std::string FormatFloat4(float v) { return FormatShortest(v, true); }

Result<int32_t> ParseDate(std::string_view text) {
  Parts p;
  ParseOutcome outcome = ParseParts(text, &p);
  if (outcome != ParseOutcome::kOk) return DatetimeError(outcome, "date", text);
  if (p.special != 0) return p.special > 0 ? kDateInfinity : kDateNegInfinity;
  int64_t days = DaysFromCivil(p.year, p.month, p.day) - kDaysFrom1970To2000;
  if (days < kMinDateDays || days >= kEndDateDays) {
    return Status::Error("22008", "date out of range: " + Quoted(text));
  }
  return static_cast<int32_t>(days);
}

Result<int64_t> ParseTimestamp(std::string_view text, bool with_tz) {
  std::string_view type_name = with_tz ? "timestamp with time zone" : "timestamp";
  Parts p;
  ParseOutcome outcome = ParseParts(text, &p);
  if (outcome != ParseOutcome::kOk) return DatetimeError(outcome, type_name, text);
  if (p.special != 0) return p.special > 0 ? kTimestampInfinity : kTimestampNegInfinity;
  int64_t days = DaysFromCivil(p.year, p.month, p.day) - kDaysFrom1970To2000;
  auto out_of_range = [&] { return Status::Error("22008", "timestamp out of range: " + Quoted(text)); };
  // Bound the day count first so the microsecond arithmetic cannot overflow.
  if (days < kMinDateDays - 2 || days > kEndTimestamp / kUsecPerDay + 2) return out_of_range();
  int64_t usec = days * kUsecPerDay + ((int64_t{p.hour} * 60 + p.minute) * 60 + p.second) * 1'000'000 + p.usec;
  if (with_tz) usec -= int64_t{p.tz_seconds} * 1'000'000;
  if (usec < kMinTimestamp || usec >= kEndTimestamp) return out_of_range();
  return usec;
}

Result<int64_t> ParseTime(std::string_view text) {
  Scanner sc(Trim(text));
  Parts p;
  if (!ParseClock(&sc, &p) || !sc.AtEnd()) {
    return Status::Error("22007", "invalid input syntax for type time: " + Quoted(text));
  }
  if (p.hour > 24 || p.minute > 59 || p.second > 60 ||
      (p.hour == 24 && (p.minute != 0 || p.second != 0 || p.usec != 0))) {
    return Status::Error("22008", "date/time field value out of range: " + Quoted(text));
  }
  return ((int64_t{p.hour} * 60 + p.minute) * 60 + p.second) * 1'000'000 + p.usec;
}

std::string FormatDate(int32_t days) {
  if (days == kDateInfinity) return "infinity";
  if (days == kDateNegInfinity) return "-infinity";
  int64_t y = 0;
  int m = 0, d = 0;
  CivilFromDays(int64_t{days} + kDaysFrom1970To2000, &y, &m, &d);
  bool bc = y <= 0;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04lld-%02d-%02d%s", static_cast<long long>(bc ? 1 - y : y), m, d,
                bc ? " BC" : "");
  return buf;
}

std::string FormatTime(int64_t usec) {
  const int64_t secs = usec / 1'000'000, frac = usec % 1'000'000;
  char buf[48];
  int n = std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", static_cast<long long>(secs / 3600),
                        static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
  std::string out(buf, static_cast<size_t>(n));
  if (frac != 0) {
    std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(frac));
    std::string f = buf;
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out;
}

std::string FormatTimestamp(int64_t usec, bool with_tz) {
  if (usec == kTimestampInfinity) return "infinity";
  if (usec == kTimestampNegInfinity) return "-infinity";
  int64_t days = FloorDiv(usec, kUsecPerDay);
  int64_t rest = usec - days * kUsecPerDay;
  int64_t y = 0;
  int m = 0, d = 0;
  CivilFromDays(days + kDaysFrom1970To2000, &y, &m, &d);
  bool bc = y <= 0;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04lld-%02d-%02d ", static_cast<long long>(bc ? 1 - y : y), m, d);
  std::string out = buf + FormatTime(rest);
  if (with_tz) out += "+00";
  if (bc) out += " BC";
  return out;
}

Result<std::string> ParseUuid(std::string_view text) {
  auto bad = [&] { return Status::Error("22P02", "invalid input syntax for type uuid: " + Quoted(text)); };
  std::string_view s = text;
  bool braces = !s.empty() && s.front() == '{';
  if (braces) {
    if (s.back() != '}' || s.size() < 2) return bad();
    s = s.substr(1, s.size() - 2);
  }
  auto hex = HexDigit;
  std::string out;
  size_t i = 0;
  for (int byte = 0; byte < 16; ++byte) {
    if (i + 2 > s.size()) return bad();
    int hi = hex(s[i]), lo = hex(s[i + 1]);
    if (hi < 0 || lo < 0) return bad();
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
    if (byte % 2 == 1 && byte < 15 && i < s.size() && s[i] == '-') ++i;
  }
  if (i != s.size()) return bad();
  return out;
}

std::string FormatUuid(std::string_view bytes) {
  std::string out;
  for (size_t k = 0; k < bytes.size(); ++k) {
    if (k == 4 || k == 6 || k == 8 || k == 10) out.push_back('-');
    AppendHex(bytes.substr(k, 1), &out);
  }
  return out;
}

std::string OrderedInt64(int64_t v) { return BigEndian(static_cast<uint64_t>(v) ^ (uint64_t{1} << 63), 8); }
int64_t FromOrderedInt64(std::string_view bytes) {
  return static_cast<int64_t>(LoadBigEndian(bytes) ^ (uint64_t{1} << 63));
}
std::string OrderedInt32(int32_t v) { return BigEndian(static_cast<uint32_t>(v) ^ 0x80000000u, 4); }
int32_t FromOrderedInt32(std::string_view bytes) {
  return static_cast<int32_t>(static_cast<uint32_t>(LoadBigEndian(bytes)) ^ 0x80000000u);
}

bool HasSortKey(uint32_t oid) {
  switch (oid) {
    case kNumericOid: case kBoolOid: case kDateOid: case kTimeOid: case kTimestampOid:
    case kTimestampTzOid: case kUuidOid:
      return true;
    default:
      return IsIntegerOid(oid) || IsFloatOid(oid) || IsTextOid(oid);
  }
}

Result<std::string> SortKey(uint32_t oid, std::string_view text) {
  if (IsIntegerOid(oid)) {
    auto v = ParseInt64(text, IntTypeName(oid));
    if (!v.ok()) return v.status();
    return OrderedInt64(*v);
  }
  if (IsFloatOid(oid)) {
    auto v = ParseFloat8(text);
    if (!v.ok()) return v.status();
    return FloatKey(*v);
  }
  if (IsTextOid(oid)) {
    if (oid == kBpcharOid) {
      while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
    }
    return std::string(text);
  }
  switch (oid) {
    case kNumericOid: {
      auto d = Decimal::Parse(text);
      if (!d.ok()) return d.status();
      return d->OrderKey();
    }
    case kBoolOid:
      return BoolKey(text);
    case kDateOid: {
      auto v = ParseDate(text);
      if (!v.ok()) return v.status();
      return OrderedInt32(*v);
    }
    case kTimeOid: {
      auto v = ParseTime(text);
      if (!v.ok()) return v.status();
      return OrderedInt64(*v);
    }
    case kTimestampOid: case kTimestampTzOid: {
      auto v = ParseTimestamp(text, oid == kTimestampTzOid);
      if (!v.ok()) return v.status();
      return OrderedInt64(*v);
    }
    case kUuidOid:
      return ParseUuid(text);
    default:
      return Status::Unsupported("cannot compare values of type oid " + std::to_string(oid) + " across nodes");
  }
}

std::string EqualityKey(uint32_t oid, std::string_view text) {
  if (HasSortKey(oid)) {
    auto key = SortKey(oid, text);
    if (key.ok()) return std::move(key).value();
  }
  return std::string(text);
}

std::string TypeName(uint32_t oid) {
  switch (oid) {
    case kBoolOid: return "boolean";
    case kByteaOid: return "bytea";
    case kCharOid: return "\"char\"";
    case kNameOid: return "name";
    case kInt8Oid: return "bigint";
    case kInt2Oid: return "smallint";
    case kInt4Oid: return "integer";
    case kTextOid: return "text";
    case kOidOid: return "oid";
    case kFloat4Oid: return "real";
    case kFloat8Oid: return "double precision";
    case kUnknownOid: return "unknown";
    case kBpcharOid: return "character";
    case kVarcharOid: return "character varying";
    case kDateOid: return "date";
    case kTimeOid: return "time without time zone";
    case kTimestampOid: return "timestamp without time zone";
    case kTimestampTzOid: return "timestamp with time zone";
    case kIntervalOid: return "interval";
    case kNumericOid: return "numeric";
    case kUuidOid: return "uuid";
    default: return "oid " + std::to_string(oid);
  }
}

namespace {

// The size of the binary format of fixed-size types; 0 for variable-size ones.
size_t BinarySize(uint32_t oid) {
  switch (oid) {
    case kBoolOid: case kCharOid: return 1;
    case kInt2Oid: return 2;
    case kInt4Oid: case kOidOid: case kFloat4Oid: case kDateOid: return 4;
    case kInt8Oid: case kFloat8Oid: case kTimeOid: case kTimestampOid: case kTimestampTzOid: return 8;
    case kUuidOid: return 16;
    default: return 0;
  }
}

Status NoCodec(uint32_t oid) {
  return Status::Unsupported("Mosaic cannot read or write values of type " + TypeName(oid) + " in binary format");
}

Result<std::string> HexBytes(std::string_view text) {
  auto bad = [&] { return Status::Error("22P02", "invalid hexadecimal data in bytea: " + Quoted(text)); };
  if (text.size() < 2 || text[0] != '\\' || Lower(text[1]) != 'x' || text.size() % 2 != 0) return bad();
  auto hex = HexDigit;
  std::string out;
  for (size_t i = 2; i < text.size(); i += 2) {
    int hi = hex(text[i]), lo = hex(text[i + 1]);
    if (hi < 0 || lo < 0) return bad();
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

}  // namespace

bool HasBinaryCodec(uint32_t oid) {
  return BinarySize(oid) > 0 || IsTextOid(oid) || oid == kNumericOid || oid == kByteaOid;
}

Result<std::string> BinaryToText(uint32_t oid, std::string_view bytes) {
  if (!HasBinaryCodec(oid)) return NoCodec(oid);
  const size_t size = BinarySize(oid);
  if (size > 0 && bytes.size() != size && oid != kCharOid) {
    return Status::Error("22P03", "invalid binary data for type " + TypeName(oid) + ": " + std::to_string(bytes.size()) +
                                      " bytes, expected " + std::to_string(size));
  }
  const uint64_t raw = LoadBigEndian(bytes);
  switch (oid) {
    case kInt2Oid: return std::to_string(static_cast<int16_t>(raw));
    case kInt4Oid: return std::to_string(static_cast<int32_t>(raw));
    case kInt8Oid: return std::to_string(static_cast<int64_t>(raw));
    case kOidOid: return std::to_string(static_cast<uint32_t>(raw));
    case kFloat4Oid: return FormatFloat4(std::bit_cast<float>(static_cast<uint32_t>(raw)));
    case kFloat8Oid: return FormatFloat8(std::bit_cast<double>(raw));
    case kBoolOid: return std::string(raw != 0 ? "t" : "f");
    case kDateOid: return FormatDate(static_cast<int32_t>(raw));
    case kTimeOid: return FormatTime(static_cast<int64_t>(raw));
    case kTimestampOid: case kTimestampTzOid: return FormatTimestamp(static_cast<int64_t>(raw), oid == kTimestampTzOid);
    case kUuidOid: return FormatUuid(bytes);
    case kNumericOid: {
      auto d = Decimal::FromBinary(bytes);
      if (!d.ok()) return d.status();
      return d->ToString();
    }
    case kByteaOid: {
      std::string out = "\\x";
      AppendHex(bytes, &out);
      return out;
    }
    default:  // the text types: the binary format is the text
      return std::string(bytes);
  }
}

Result<std::string> TextToBinary(uint32_t oid, std::string_view text) {
  if (!HasBinaryCodec(oid)) return NoCodec(oid);
  auto integer = [&](int bytes, int64_t min, int64_t max) -> Result<std::string> {
    auto v = ParseInt64(text, oid == kOidOid ? "oid" : IntTypeName(oid));
    if (!v.ok()) return v.status();
    if (*v < min || *v > max) {
      return Status::Error("22003", "value " + Quoted(text) + " is out of range for type " + TypeName(oid));
    }
    return BigEndian(static_cast<uint64_t>(*v), bytes);
  };
  switch (oid) {
    case kInt2Oid: return integer(2, INT16_MIN, INT16_MAX);
    case kInt4Oid: return integer(4, INT32_MIN, INT32_MAX);
    case kInt8Oid: return integer(8, INT64_MIN, INT64_MAX);
    case kOidOid: return integer(4, 0, UINT32_MAX);
    case kFloat4Oid: {
      auto v = ParseFloat4(text);
      if (!v.ok()) return v.status();
      return BigEndian(std::bit_cast<uint32_t>(*v), 4);
    }
    case kFloat8Oid: {
      auto v = ParseFloat8(text);
      if (!v.ok()) return v.status();
      return BigEndian(std::bit_cast<uint64_t>(*v), 8);
    }
    case kBoolOid: {
      auto k = BoolKey(text);
      if (!k.ok()) return k.status();
      return k;  // one byte, 0 or 1, as boolsend
    }
    case kDateOid: {
      auto v = ParseDate(text);
      if (!v.ok()) return v.status();
      return BigEndian(static_cast<uint32_t>(*v), 4);
    }
    case kTimeOid: {
      auto v = ParseTime(text);
      if (!v.ok()) return v.status();
      return BigEndian(static_cast<uint64_t>(*v), 8);
    }
    case kTimestampOid: case kTimestampTzOid: {
      auto v = ParseTimestamp(text, oid == kTimestampTzOid);
      if (!v.ok()) return v.status();
      return BigEndian(static_cast<uint64_t>(*v), 8);
    }
    case kUuidOid: return ParseUuid(text);
    case kNumericOid: {
      auto d = Decimal::Parse(text);
      if (!d.ok()) return d.status();
      return d->ToBinary();
    }
    case kByteaOid: return HexBytes(text);
    default:
      return std::string(text);
  }
}

}  // namespace mosaic::router::value
