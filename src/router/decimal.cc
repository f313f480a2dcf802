#include "router/decimal.h"

#include <algorithm>
#include <vector>

namespace mosaic::router {
namespace {

// numeric_in refuses exponents beyond NUMERIC_MAX_PRECISION.
constexpr int64_t kMaxExponent = 1000;
// select_div_scale's constants (NUMERIC_MIN_SIG_DIGITS, DEC_DIGITS, display scale bounds).
constexpr int kMinSigDigits = 16;
constexpr int kDecDigits = 4;
constexpr int kMaxDisplayScale = 1000;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (x != b[i]) return false;
  }
  return true;
}

void StripLeadingZeros(std::string* s) {
  size_t z = s->find_first_not_of('0');
  s->erase(0, z == std::string::npos ? s->size() : z);
}

// Magnitudes as digit strings without leading zeros ("" is zero).
int CompareDigits(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

std::string AddDigits(const std::string& a, const std::string& b) {
  std::string out;
  out.reserve(std::max(a.size(), b.size()) + 1);
  int carry = 0;
  for (size_t i = 0; i < a.size() || i < b.size() || carry; ++i) {
    int d = carry;
    if (i < a.size()) d += a[a.size() - 1 - i] - '0';
    if (i < b.size()) d += b[b.size() - 1 - i] - '0';
    out.push_back(static_cast<char>('0' + d % 10));
    carry = d / 10;
  }
  std::reverse(out.begin(), out.end());
  StripLeadingZeros(&out);
  return out;
}

// REQUIRES: a >= b.
std::string SubDigits(const std::string& a, const std::string& b) {
  std::string out;
  out.reserve(a.size());
  int borrow = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    int d = (a[a.size() - 1 - i] - '0') - borrow;
    if (i < b.size()) d -= b[b.size() - 1 - i] - '0';
    borrow = d < 0;
    out.push_back(static_cast<char>('0' + (d + 10) % 10));
  }
  std::reverse(out.begin(), out.end());
  StripLeadingZeros(&out);
  return out;
}

// Schoolbook long division; *rem gets the remainder. REQUIRES: m non-zero.
std::string DivDigits(const std::string& n, const std::string& m, std::string* rem) {
  std::string q;
  std::string r;
  for (char c : n) {
    r.push_back(c);
    StripLeadingZeros(&r);
    int digit = 0;
    while (CompareDigits(r, m) >= 0) {
      r = SubDigits(r, m);
      ++digit;
    }
    q.push_back(static_cast<char>('0' + digit));
  }
  StripLeadingZeros(&q);
  *rem = std::move(r);
  return q;
}

int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

void AppendBigEndian32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

}  // namespace

Result<Decimal> Decimal::Parse(std::string_view text, std::string_view type_name) {
  auto bad = [&] {
    return Status::Error("22P02", "invalid input syntax for type " + std::string(type_name) + ": \"" +
                                      std::string(text) + "\"");
  };
  size_t b = 0, e = text.size();
  while (b < e && IsSpace(text[b])) ++b;
  while (e > b && IsSpace(text[e - 1])) --e;
  std::string_view s = text.substr(b, e - b);
  Decimal d;
  if (IEquals(s, "nan")) {
    d.kind_ = Kind::kNaN;
    return d;
  }
  bool neg = false;
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  std::string_view rest = s.substr(i);
  if (IEquals(rest, "infinity") || IEquals(rest, "inf")) {
    d.kind_ = neg ? Kind::kNegInfinity : Kind::kInfinity;
    return d;
  }
  std::string digits;
  int64_t frac = 0;
  bool seen_point = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c >= '0' && c <= '9') {
      digits.push_back(c);
      frac += seen_point;
    } else if (c == '.' && !seen_point) {
      seen_point = true;
    } else {
      break;
    }
  }
  if (digits.empty()) return bad();
  int64_t exponent = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool exp_neg = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) exp_neg = s[i++] == '-';
    size_t start = i;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      exponent = exponent * 10 + (s[i] - '0');
      if (exponent > kMaxExponent) return bad();
    }
    if (i == start) return bad();
    if (exp_neg) exponent = -exponent;
  }
  if (i != s.size()) return bad();
  int64_t scale = frac - exponent;
  if (scale < 0) {
    digits.append(static_cast<size_t>(-scale), '0');
    scale = 0;
  }
  d.neg_ = neg;
  d.digits_ = std::move(digits);
  d.scale_ = static_cast<int32_t>(scale);
  d.Normalize();
  return d;
}

Decimal Decimal::FromInt(int64_t v) {
  Decimal d;
  d.neg_ = v < 0;
  uint64_t mag = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  d.digits_ = mag == 0 ? "" : std::to_string(mag);
  return d;
}

Result<Decimal> Decimal::FromBinary(std::string_view bytes) {
  auto bad = [] { return Status::Error("22P03", "invalid binary data for type numeric"); };
  auto u16 = [&](size_t at) {
    return static_cast<uint16_t>((static_cast<unsigned char>(bytes[at]) << 8) |
                                 static_cast<unsigned char>(bytes[at + 1]));
  };
  if (bytes.size() < 8) return bad();
  int ndigits = static_cast<int16_t>(u16(0));
  int weight = static_cast<int16_t>(u16(2));
  uint16_t sign = u16(4);
  int dscale = static_cast<int16_t>(u16(6));
  if (ndigits < 0 || dscale < 0 || bytes.size() != 8 + 2 * static_cast<size_t>(ndigits)) return bad();
  Decimal d;
  switch (sign) {
    case 0xC000: d.kind_ = Kind::kNaN; return d;
    case 0xD000: d.kind_ = Kind::kInfinity; return d;
    case 0xF000: d.kind_ = Kind::kNegInfinity; return d;
    case 0x0000: case 0x4000: break;
    default: return bad();
  }
  std::string digits;
  for (int k = 0; k < ndigits; ++k) {
    uint16_t g = u16(8 + 2 * static_cast<size_t>(k));
    if (g > 9999) return bad();
    std::string four = std::to_string(g);
    digits.append(4 - four.size(), '0').append(four);
  }
  // The last base-10000 digit's unit is 10^(4 * (weight - ndigits + 1)).
  int64_t exp10 = int64_t{kDecDigits} * (weight - ndigits + 1);
  if (exp10 >= 0) {
    digits.append(static_cast<size_t>(exp10), '0');
    exp10 = 0;
  }
  int64_t scale = -exp10;
  if (scale > dscale) {
    digits.resize(digits.size() - std::min<size_t>(digits.size(), static_cast<size_t>(scale - dscale)));
  } else {
    digits.append(static_cast<size_t>(dscale - scale), '0');
  }
  d.neg_ = sign == 0x4000;
  d.digits_ = std::move(digits);
  d.scale_ = dscale;
  d.Normalize();
  return d;
}

std::string Decimal::ToBinary() const {
  std::string out;
  auto put16 = [&](uint32_t v) {
    out.push_back(static_cast<char>((v >> 8) & 0xFF));
    out.push_back(static_cast<char>(v & 0xFF));
  };
  if (kind_ != Kind::kFinite) {
    put16(0);
    put16(0);
    put16(kind_ == Kind::kNaN ? 0xC000 : kind_ == Kind::kInfinity ? 0xD000 : 0xF000);
    // numeric_send reads the dscale of a special value from its header's short-format bits:
    // 0 for NaN (C000), 32 for the infinities (D000, F000), as PostgreSQL 15 sends them.
    put16(kind_ == Kind::kNaN ? 0 : 32);
    return out;
  }
  // Align the digits on the decimal point in groups of four: pad the integer part on the left
  // and the fraction on the right.
  std::string s = digits_;
  int64_t int_len = static_cast<int64_t>(s.size()) - scale_;
  if (int_len < 0) {
    s.insert(0, static_cast<size_t>(-int_len), '0');
    int_len = 0;
  }
  const int64_t left = (kDecDigits - int_len % kDecDigits) % kDecDigits;
  s.insert(0, static_cast<size_t>(left), '0');
  int_len += left;
  s.append(static_cast<size_t>((kDecDigits - scale_ % kDecDigits) % kDecDigits), '0');
  std::vector<uint32_t> groups;
  for (size_t k = 0; k < s.size(); k += kDecDigits) {
    groups.push_back(static_cast<uint32_t>(std::stoul(s.substr(k, kDecDigits))));
  }
  int64_t weight = int_len / kDecDigits - 1;
  size_t first = 0, last = groups.size();
  while (first < last && groups[first] == 0) {
    ++first;
    --weight;
  }
  while (last > first && groups[last - 1] == 0) --last;
  if (first == last) weight = 0;
  put16(static_cast<uint32_t>(last - first));
  put16(static_cast<uint32_t>(static_cast<uint16_t>(static_cast<int16_t>(weight))));
  put16(neg_ && first != last ? 0x4000 : 0);
  put16(static_cast<uint32_t>(scale_));
  for (size_t k = first; k < last; ++k) put16(groups[k]);
  return out;
}

void Decimal::Normalize() {
  StripLeadingZeros(&digits_);
  if (digits_.empty()) neg_ = false;
}

std::string Decimal::ToString() const {
  switch (kind_) {
    case Kind::kNaN: return "NaN";
    case Kind::kInfinity: return "Infinity";
    case Kind::kNegInfinity: return "-Infinity";
    case Kind::kFinite: break;
  }
  std::string s = digits_;
  if (s.size() < static_cast<size_t>(scale_) + 1) s.insert(0, scale_ + 1 - s.size(), '0');
  if (scale_ > 0) s.insert(s.size() - scale_, 1, '.');
  if (neg_) s.insert(0, 1, '-');
  return s;
}

std::string Decimal::ToNormalizedString() const {
  Decimal d = *this;
  while (d.scale_ > 0 && !d.digits_.empty() && d.digits_.back() == '0') {
    d.digits_.pop_back();
    --d.scale_;
  }
  if (d.digits_.empty()) d.scale_ = 0;
  return d.ToString();
}

std::optional<int64_t> Decimal::ToInt64() const {
  if (!is_finite()) return std::nullopt;
  size_t int_len = digits_.size() > static_cast<size_t>(scale_) ? digits_.size() - scale_ : 0;
  if (digits_.find_first_not_of('0', int_len) != std::string::npos) return std::nullopt;
  if (int_len > 19) return std::nullopt;
  uint64_t mag = 0;
  for (size_t k = 0; k < int_len; ++k) mag = mag * 10 + static_cast<uint64_t>(digits_[k] - '0');
  if (int_len == 19 && digits_.compare(0, 19, neg_ ? "9223372036854775808" : "9223372036854775807") > 0) {
    return std::nullopt;
  }
  return neg_ ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
}

int64_t Decimal::IntegerDigits() const {
  return digits_.size() > static_cast<size_t>(scale_) ? static_cast<int64_t>(digits_.size()) - scale_ : 0;
}

Decimal Decimal::Round(int32_t scale) const {
  if (!is_finite()) return *this;
  Decimal r = *this;
  if (scale >= scale_) {
    if (!r.digits_.empty()) r.digits_.append(static_cast<size_t>(scale - scale_), '0');
    r.scale_ = scale;
    return r;
  }
  const size_t drop = static_cast<size_t>(static_cast<int64_t>(scale_) - scale);
  const size_t n = digits_.size();
  std::string kept = drop < n ? digits_.substr(0, n - drop) : std::string();
  const char first_dropped = drop <= n ? digits_[n - drop] : '0';
  if (first_dropped >= '5') kept = AddDigits(kept, "1");
  if (scale < 0 && !kept.empty()) kept.append(static_cast<size_t>(-static_cast<int64_t>(scale)), '0');
  r.digits_ = std::move(kept);
  r.scale_ = std::max(scale, 0);
  r.Normalize();
  return r;
}

int Decimal::CompareMagnitude(const Decimal& a, const Decimal& b) {
  if (a.digits_.empty() || b.digits_.empty()) {
    return a.digits_.empty() ? (b.digits_.empty() ? 0 : -1) : 1;
  }
  int64_t ea = a.LeadingExponent(), eb = b.LeadingExponent();
  if (ea != eb) return ea < eb ? -1 : 1;
  size_t n = std::max(a.digits_.size(), b.digits_.size());
  for (size_t k = 0; k < n; ++k) {
    char da = k < a.digits_.size() ? a.digits_[k] : '0';
    char db = k < b.digits_.size() ? b.digits_[k] : '0';
    if (da != db) return da < db ? -1 : 1;
  }
  return 0;
}

int Decimal::Compare(const Decimal& other) const {
  auto rank = [](Kind k) {
    switch (k) {
      case Kind::kNegInfinity: return 0;
      case Kind::kFinite: return 1;
      case Kind::kInfinity: return 2;
      case Kind::kNaN: return 3;
    }
    return 3;
  };
  int ra = rank(kind_), rb = rank(other.kind_);
  if (ra != rb) return ra < rb ? -1 : 1;
  if (!is_finite()) return 0;
  int sa = digits_.empty() ? 0 : (neg_ ? -1 : 1);
  int sb = other.digits_.empty() ? 0 : (other.neg_ ? -1 : 1);
  if (sa != sb) return sa < sb ? -1 : 1;
  int m = CompareMagnitude(*this, other);
  return sa >= 0 ? m : -m;
}

Decimal Decimal::Add(const Decimal& a, const Decimal& b) {
  Decimal r;
  if (a.kind_ == Kind::kNaN || b.kind_ == Kind::kNaN) {
    r.kind_ = Kind::kNaN;
    return r;
  }
  if (!a.is_finite() || !b.is_finite()) {
    if (!a.is_finite() && !b.is_finite() && a.kind_ != b.kind_) {
      r.kind_ = Kind::kNaN;
      return r;
    }
    return a.is_finite() ? b : a;
  }
  r.scale_ = std::max(a.scale_, b.scale_);
  std::string da = a.digits_, db = b.digits_;
  if (!da.empty()) da.append(r.scale_ - a.scale_, '0');
  if (!db.empty()) db.append(r.scale_ - b.scale_, '0');
  if (a.neg_ == b.neg_) {
    r.digits_ = AddDigits(da, db);
    r.neg_ = a.neg_;
  } else if (CompareDigits(da, db) >= 0) {
    r.digits_ = SubDigits(da, db);
    r.neg_ = a.neg_;
  } else {
    r.digits_ = SubDigits(db, da);
    r.neg_ = b.neg_;
  }
  r.Normalize();
  return r;
}

Result<Decimal> Decimal::Divide(const Decimal& a, const Decimal& b) {
  Decimal r;
  if (a.kind_ == Kind::kNaN || b.kind_ == Kind::kNaN) {
    r.kind_ = Kind::kNaN;
    return r;
  }
  if (b.is_zero()) return Status::Error("22012", "division by zero");
  if (!a.is_finite()) {
    if (!b.is_finite()) {
      r.kind_ = Kind::kNaN;
    } else {
      bool pos = (a.kind_ == Kind::kInfinity) != b.neg_;
      r.kind_ = pos ? Kind::kInfinity : Kind::kNegInfinity;
    }
    return r;
  }
  if (!b.is_finite()) return r;  // finite / ±Infinity = 0

  // select_div_scale: weight and leading base-10000 digit of each operand (0, 0 for zero).
  auto weight_and_first = [](const Decimal& d, int64_t* weight, int* first) {
    *weight = 0;
    *first = 0;
    if (d.digits_.empty()) return;
    int64_t p = d.LeadingExponent();
    *weight = FloorDiv(p, kDecDigits);
    size_t group = static_cast<size_t>(p - *weight * kDecDigits + 1);
    for (size_t k = 0; k < group; ++k) *first = *first * 10 + (k < d.digits_.size() ? d.digits_[k] - '0' : 0);
  };
  int64_t w1 = 0, w2 = 0;
  int f1 = 0, f2 = 0;
  weight_and_first(a, &w1, &f1);
  weight_and_first(b, &w2, &f2);
  int64_t qweight = w1 - w2;
  if (f1 <= f2) --qweight;
  int64_t rscale = kMinSigDigits - qweight * kDecDigits;
  rscale = std::max<int64_t>({rscale, a.scale_, b.scale_, 0});
  rscale = std::min<int64_t>(rscale, kMaxDisplayScale);

  // |a| / |b| * 10^rscale = Da * 10^(sb + rscale - sa) / Db, rounded half away from zero.
  std::string n = a.digits_, m = b.digits_;
  int64_t shift = b.scale_ + rscale - a.scale_;
  if (shift >= 0) {
    if (!n.empty()) n.append(static_cast<size_t>(shift), '0');
  } else {
    m.append(static_cast<size_t>(-shift), '0');
  }
  std::string rem;
  std::string q = DivDigits(n, m, &rem);
  if (CompareDigits(AddDigits(rem, rem), m) >= 0) q = AddDigits(q, "1");
  r.digits_ = std::move(q);
  r.scale_ = static_cast<int32_t>(rscale);
  r.neg_ = a.neg_ != b.neg_;
  r.Normalize();
  return r;
}

// Layout: a class byte (-Infinity < negative < zero < positive < Infinity < NaN), then for
// non-zero numbers the leading digit's power of ten (4 bytes, sign-flipped big-endian) and the
// significant digits. Negative numbers store both inverted, digits ended by 0xFF so that a
// shorter magnitude (a larger negative number) sorts after its extensions.
std::string Decimal::OrderKey() const {
  switch (kind_) {
    case Kind::kNegInfinity: return std::string(1, '\x01');
    case Kind::kInfinity: return std::string(1, '\x05');
    case Kind::kNaN: return std::string(1, '\x06');
    case Kind::kFinite: break;
  }
  if (digits_.empty()) return std::string(1, '\x03');
  size_t len = digits_.find_last_not_of('0') + 1;
  uint32_t exp = static_cast<uint32_t>(static_cast<int32_t>(LeadingExponent())) ^ 0x80000000u;
  std::string key(1, neg_ ? '\x02' : '\x04');
  AppendBigEndian32(&key, neg_ ? ~exp : exp);
  for (size_t k = 0; k < len; ++k) {
    key.push_back(neg_ ? static_cast<char>(0xFF - static_cast<unsigned char>(digits_[k])) : digits_[k]);
  }
  if (neg_) key.push_back('\xFF');
  return key;
}

std::optional<Decimal> Decimal::FromOrderKey(std::string_view key) {
  if (key.empty()) return std::nullopt;
  Decimal d;
  switch (key[0]) {
    case '\x01': d.kind_ = Kind::kNegInfinity; return key.size() == 1 ? std::optional(d) : std::nullopt;
    case '\x05': d.kind_ = Kind::kInfinity; return key.size() == 1 ? std::optional(d) : std::nullopt;
    case '\x06': d.kind_ = Kind::kNaN; return key.size() == 1 ? std::optional(d) : std::nullopt;
    case '\x03': return key.size() == 1 ? std::optional(d) : std::nullopt;
    case '\x02': case '\x04': break;
    default: return std::nullopt;
  }
  d.neg_ = key[0] == '\x02';
  std::string_view body = key.substr(1);
  if (d.neg_) {
    if (body.empty() || body.back() != '\xFF') return std::nullopt;
    body.remove_suffix(1);
  }
  if (body.size() < 5) return std::nullopt;
  uint32_t exp = 0;
  for (int k = 0; k < 4; ++k) exp = (exp << 8) | static_cast<unsigned char>(body[k]);
  if (d.neg_) exp = ~exp;
  int64_t lead = static_cast<int32_t>(exp ^ 0x80000000u);
  for (char c : body.substr(4)) {
    char digit = d.neg_ ? static_cast<char>(0xFF - static_cast<unsigned char>(c)) : c;
    if (digit < '0' || digit > '9') return std::nullopt;
    d.digits_.push_back(digit);
  }
  int64_t scale = static_cast<int64_t>(d.digits_.size()) - 1 - lead;
  if (scale < 0) {
    d.digits_.append(static_cast<size_t>(-scale), '0');
    scale = 0;
  }
  d.scale_ = static_cast<int32_t>(scale);
  d.Normalize();
  return d;
}

}  // namespace mosaic::router
