#include "router/agg_finish.h"

#include <fmt/format.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>

#include "router/decimal.h"
#include "router/value.h"

namespace mosaic::router {
namespace {

using Kind = sql::AggFinish::Kind;

enum class Target : uint8_t { kInt2, kInt4, kInt8, kNumeric, kFloat4, kFloat8, kText };

std::optional<Target> TargetOf(const sql::AggFinish& f) {
  if (f.kind == Kind::kRound) return Target::kNumeric;
  if (f.type == "int2") return Target::kInt2;
  if (f.type == "int4") return Target::kInt4;
  if (f.type == "int8") return Target::kInt8;
  if (f.type == "numeric") return Target::kNumeric;
  if (f.type == "float4") return Target::kFloat4;
  if (f.type == "float8") return Target::kFloat8;
  if (f.type == "text") return Target::kText;
  return std::nullopt;
}

std::string Describe(const sql::AggFinish& f) {
  if (f.kind == Kind::kRound) return "round()";
  std::string args;
  for (int32_t a : f.args) args += (args.empty() ? "" : ",") + std::to_string(a);
  return args.empty() ? f.type : fmt::format("{}({})", f.type, args);
}

Status Unsupported(const sql::AggFinish& f, std::string_view why) {
  return Status::Unsupported(fmt::format("cannot apply {} to an aggregate combined across nodes: {}", Describe(f), why));
}

bool IsIntSource(uint32_t oid) {
  return oid == value::kInt2Oid || oid == value::kInt4Oid || oid == value::kInt8Oid;
}

// numeric(p[,s])'s precision and scale; nullopt for plain numeric.
std::optional<std::pair<int32_t, int32_t>> Typmod(const sql::AggFinish& f) {
  if (f.kind != Kind::kCast || f.args.empty()) return std::nullopt;
  return std::make_pair(f.args[0], f.args.size() > 1 ? f.args[1] : 0);
}

struct IntRange {
  int64_t min, max;
  const char* name;  // as PostgreSQL's messages name it
};

IntRange RangeOf(Target t) {
  switch (t) {
    case Target::kInt2: return {std::numeric_limits<int16_t>::min(), std::numeric_limits<int16_t>::max(), "smallint"};
    case Target::kInt4: return {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max(), "integer"};
    default: return {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), "bigint"};
  }
}

Status OutOfRange(const IntRange& r) { return Status::Error("22003", fmt::format("{} out of range", r.name)); }

Result<std::string> ToInt(Target t, uint32_t from, std::string_view text) {
  const IntRange r = RangeOf(t);
  int64_t v = 0;
  if (IsIntSource(from)) {
    auto n = value::ParseInt64(text, "bigint");
    if (!n.ok()) return n.status();
    v = *n;
  } else if (from == value::kNumericOid) {
    auto d = Decimal::Parse(text);
    if (!d.ok()) return d.status();
    if (d->kind() == Decimal::Kind::kNaN) return Status::Unsupported(fmt::format("cannot convert NaN to {}", r.name));
    if (!d->is_finite()) return Status::Unsupported(fmt::format("cannot convert infinity to {}", r.name));
    auto n = d->Round(0).ToInt64();
    if (!n) return OutOfRange(r);
    v = *n;
  } else {
    // dtoi4 and friends: rint (half to even), then the range check; NaN is out of range.
    double x = 0;
    if (from == value::kFloat4Oid) {
      auto f = value::ParseFloat4(text);
      if (!f.ok()) return f.status();
      x = static_cast<double>(std::rint(*f));
    } else {
      auto f = value::ParseFloat8(text);
      if (!f.ok()) return f.status();
      x = std::rint(*f);
    }
    // -(double)min is 2^(bits-1), exactly representable: the limit is exclusive.
    if (std::isnan(x) || x < static_cast<double>(r.min) || x >= -static_cast<double>(r.min)) return OutOfRange(r);
    v = static_cast<int64_t>(x);
  }
  if (v < r.min || v > r.max) return OutOfRange(r);
  return std::to_string(v);
}

Result<std::string> ToNumeric(const sql::AggFinish& f, uint32_t from, std::string_view text) {
  Result<Decimal> d = Decimal();
  if (from == value::kFloat4Oid || from == value::kFloat8Oid) {
    // float8_numeric / float4_numeric: DBL_DIG / FLT_DIG significant digits.
    double x = 0;
    int digits = DBL_DIG;
    if (from == value::kFloat4Oid) {
      auto v = value::ParseFloat4(text);
      if (!v.ok()) return v.status();
      x = static_cast<double>(*v);
      digits = FLT_DIG;
    } else {
      auto v = value::ParseFloat8(text);
      if (!v.ok()) return v.status();
      x = *v;
    }
    if (std::isnan(x)) {
      d = Decimal::Parse("NaN");
    } else if (std::isinf(x)) {
      d = Decimal::Parse(x > 0 ? "Infinity" : "-Infinity");
    } else {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.*g", digits, x);
      d = Decimal::Parse(buf);
    }
  } else {
    d = Decimal::Parse(text);
  }
  if (!d.ok()) return d.status();
  Decimal v = *d;
  if (f.kind == Kind::kRound) {
    const int32_t scale = f.args.empty() ? 0 : std::clamp(f.args[0], -2000, 2000);
    return v.Round(scale).ToString();
  }
  if (auto tm = Typmod(f)) {  // apply_typmod
    const auto [precision, scale] = *tm;
    if (v.kind() == Decimal::Kind::kNaN) return v.ToString();
    if (v.is_finite()) v = v.Round(scale);
    if (!v.is_finite() || v.IntegerDigits() > precision - scale) return Status::Error("22003", "numeric field overflow");
  }
  return v.ToString();
}

// float8out / float4out: shortest exact text, or %.*g with 15 (6) + extra_float_digits digits.
std::string FloatText(double x, bool single, int float_digits) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  if (float_digits > 0) return single ? value::FormatFloat4(static_cast<float>(x)) : value::FormatFloat8(x);
  const int digits = std::max(1, (single ? FLT_DIG : DBL_DIG) + float_digits);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, x);
  return buf;
}

Result<std::string> ToFloat(Target t, uint32_t from, std::string_view text, int float_digits) {
  const bool single = t == Target::kFloat4;
  double x = 0;
  if (IsIntSource(from)) {
    auto n = value::ParseInt64(text, "bigint");
    if (!n.ok()) return n.status();
    x = single ? static_cast<double>(static_cast<float>(*n)) : static_cast<double>(*n);
    return FloatText(x, single, float_digits);
  }
  if (from == value::kFloat4Oid) {
    auto v = value::ParseFloat4(text);
    if (!v.ok()) return v.status();
    return FloatText(static_cast<double>(*v), single, float_digits);
  }
  if (from == value::kNumericOid) {
    // numeric_float8 / numeric_float4: the numeric's text read by float8in / float4in.
    if (single) {
      auto v = value::ParseFloat4(text);
      if (!v.ok()) return v.status();
      return FloatText(static_cast<double>(*v), true, float_digits);
    }
    auto v = value::ParseFloat8(text);
    if (!v.ok()) return v.status();
    return FloatText(*v, false, float_digits);
  }
  auto v = value::ParseFloat8(text);  // float8
  if (!v.ok()) return v.status();
  x = *v;
  if (single) {  // dtof
    const float f = static_cast<float>(x);
    if (std::isinf(f) && !std::isinf(x)) return Status::Error("22003", "value out of range: overflow");
    if (f == 0.0f && x != 0.0) return Status::Error("22003", "value out of range: underflow");
    x = static_cast<double>(f);
  }
  return FloatText(x, single, float_digits);
}

}  // namespace

Result<FinishedType> FinishType(const sql::AggFinish& f) {
  if (f.unreadable) return Unsupported(f, "its type modifier or precision is not an integer constant");
  const auto target = TargetOf(f);
  if (!target) {
    return Unsupported(f, "Mosaic applies casts to int2, int4, int8, numeric, float4, float8 and text only");
  }
  if (f.kind == Kind::kCast && !f.args.empty() && (*target != Target::kNumeric || f.args.size() > 2)) {
    return Unsupported(f, "Mosaic takes type modifiers of numeric(precision, scale) only");
  }
  if (auto tm = Typmod(f); tm && (tm->first < 1 || tm->first > 1000 || tm->second < 0 || tm->second > tm->first)) {
    return Unsupported(f, "Mosaic takes numeric precisions 1 to 1000 and scales 0 to the precision only");
  }
  switch (*target) {
    case Target::kInt2: return FinishedType{value::kInt2Oid, 2, -1};
    case Target::kInt4: return FinishedType{value::kInt4Oid, 4, -1};
    case Target::kInt8: return FinishedType{value::kInt8Oid, 8, -1};
    case Target::kFloat4: return FinishedType{value::kFloat4Oid, 4, -1};
    case Target::kFloat8: return FinishedType{value::kFloat8Oid, 8, -1};
    case Target::kText: return FinishedType{value::kTextOid, -1, -1};
    case Target::kNumeric: {
      const auto tm = Typmod(f);
      return FinishedType{value::kNumericOid, -1, tm ? ((tm->first << 16) | tm->second) + 4 : -1};
    }
  }
  return FinishedType{};
}

Status CheckFinish(const sql::AggFinish& f, uint32_t from) {
  auto type = FinishType(f);
  if (!type.ok()) return type.status();
  const Target target = *TargetOf(f);
  const bool numeric_like = IsIntSource(from) || from == value::kNumericOid || value::IsFloatOid(from);
  bool ok = numeric_like;
  if (f.kind == Kind::kRound) {
    ok = from == value::kNumericOid;
  } else if (target == Target::kText) {
    ok = numeric_like || from == value::kTextOid || from == value::kVarcharOid || from == value::kBpcharOid ||
         from == value::kNameOid || from == value::kBoolOid || value::IsDateTimeOid(from) || from == value::kUuidOid;
  }
  if (ok) return Status::OK();
  return Unsupported(f, fmt::format("Mosaic does not convert values of type oid {} that way", from));
}

Result<std::string> ApplyFinish(const sql::AggFinish& f, uint32_t from, std::string_view text, int float_digits) {
  const auto target = TargetOf(f);
  if (!target) return Unsupported(f, "not a supported cast");
  switch (*target) {
    case Target::kInt2:
    case Target::kInt4:
    case Target::kInt8:
      return ToInt(*target, from, text);
    case Target::kNumeric:
      return ToNumeric(f, from, text);
    case Target::kFloat4:
    case Target::kFloat8:
      return ToFloat(*target, from, text, float_digits);
    case Target::kText:
      if (from == value::kBoolOid) return std::string(text == "t" ? "true" : "false");
      if (from == value::kBpcharOid) {
        const size_t end = text.find_last_not_of(' ');
        return std::string(end == std::string_view::npos ? std::string_view() : text.substr(0, end + 1));
      }
      return std::string(text);
  }
  return std::string(text);
}

}  // namespace mosaic::router
