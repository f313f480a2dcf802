// Decimal: an exact, arbitrary-precision decimal with PostgreSQL numeric semantics, for the
// values the router has to compare or combine itself (range keys, merged sums and averages).
//
// It mirrors numeric's observable behaviour, not its storage: the value is a signed magnitude of
// decimal digits with a display scale (dscale), plus NaN and ±Infinity. Parse follows numeric_in,
// ToString numeric_out, Add numeric addition (result scale = max of the scales) and Divide
// numeric division with select_div_scale's result scale, rounded half away from zero.
// Speed is secondary: digits are kept one per char. Value type; not thread-safe to mutate.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mosaic::router {

class Decimal {
 public:
  enum class Kind : uint8_t { kFinite, kNaN, kInfinity, kNegInfinity };

  Decimal() = default;  // 0 with scale 0

  // numeric_in: surrounding whitespace, sign, digits with an optional point, an exponent,
  // 'NaN', '[+-]Infinity'/'inf' (any case). 22P02 on bad syntax naming `type_name`; 22003 when
  // the exponent is beyond what numeric holds.
  static Result<Decimal> Parse(std::string_view text, std::string_view type_name = "numeric");
  static Decimal FromInt(int64_t v);
  // numeric_send's binary format: int16 ndigits, int16 weight, uint16 sign, int16 dscale, then
  // ndigits base-10000 digits. 22P03 when malformed.
  static Result<Decimal> FromBinary(std::string_view bytes);
  // numeric_send of this value: leading and trailing zero base-10000 digits stripped, weight 0
  // for zero, dscale = scale(); NaN/Infinity/-Infinity with no digits, sign C000/D000/F000
  // and dscale 0/32/32 (what PostgreSQL 15 sends).
  std::string ToBinary() const;

  Kind kind() const { return kind_; }
  bool is_finite() const { return kind_ == Kind::kFinite; }
  bool is_zero() const { return kind_ == Kind::kFinite && digits_.empty(); }
  bool negative() const { return neg_; }
  int32_t scale() const { return scale_; }

  // numeric_out: no exponent, exactly scale() fractional digits; "NaN", "Infinity", "-Infinity".
  std::string ToString() const;
  // Like ToString without trailing fractional zeros (the canonical text of the value).
  std::string ToNormalizedString() const;
  // The value when it is an integer within int64 range.
  std::optional<int64_t> ToInt64() const;

  // Digits before the decimal point (0 for |v| < 1). REQUIRES: finite.
  int64_t IntegerDigits() const;
  // round_var: rounded to `scale` fractional digits (negative: to tens, hundreds, ...), half
  // away from zero, shown with max(scale, 0) of them. NaN and ±Infinity are returned as they are.
  Decimal Round(int32_t scale) const;

  // Total order of numeric: -Infinity < numbers < Infinity < NaN; NaN equals NaN; 1.0 == 1.00.
  int Compare(const Decimal& other) const;

  // Exact sum; NaN if either is NaN or for Infinity + -Infinity.
  static Decimal Add(const Decimal& a, const Decimal& b);
  // a / b rounded to select_div_scale's scale. 22012 "division by zero" when b is 0.
  static Result<Decimal> Divide(const Decimal& a, const Decimal& b);

  // Bytes whose memcmp order is Compare's order; equal values encode equal.
  std::string OrderKey() const;
  // Inverse of OrderKey (the normalized value: scale without trailing zeros); nullopt if `key`
  // was not made by OrderKey.
  static std::optional<Decimal> FromOrderKey(std::string_view key);

 private:
  // Magnitude = digits_ (no leading zeros; "" is zero) × 10^-scale_.
  Kind kind_ = Kind::kFinite;
  bool neg_ = false;
  std::string digits_;
  int32_t scale_ = 0;

  void Normalize();  // strips leading zeros; zero is never negative
  // Power of ten of the leading digit; REQUIRES a finite non-zero value.
  int64_t LeadingExponent() const { return static_cast<int64_t>(digits_.size()) - 1 - scale_; }
  static int CompareMagnitude(const Decimal& a, const Decimal& b);
};

}  // namespace mosaic::router
