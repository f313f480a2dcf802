#include "router/keys.h"

#include <algorithm>
#include <cctype>

#include "router/decimal.h"
#include "router/value.h"

namespace mosaic::router {
namespace {

using namespace value;  // NOLINT: the type OIDs and parsers of this module's own helper

std::string Lowered(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view StripTrailingSpaces(std::string_view s) {
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

template <typename T>
Result<std::string> Map(Result<T> r, std::string (*encode)(T)) {
  if (!r.ok()) return r.status();
  return encode(*r);
}

uint64_t LoadBig(std::string_view b) {
  uint64_t v = 0;
  for (char c : b) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

Status WrongLength(uint32_t oid) {
  return Status::Error("22P03", "incorrect binary data format for type oid " + std::to_string(oid));
}

Status Mismatch(KeyType type, uint32_t oid) {
  return Status::Unsupported("cannot use a parameter of type oid " + std::to_string(oid) + " as a " +
                             std::string(KeyTypeName(type)) + " key");
}

// Decodes a fixed-width binary integer parameter (int2/int4/int8).
Result<int64_t> BinaryInt(uint32_t oid, std::string_view bytes) {
  size_t width = oid == kInt2Oid ? 2 : (oid == kInt4Oid ? 4 : 8);
  if (bytes.size() != width) return WrongLength(oid);
  uint64_t raw = LoadBig(bytes);
  if (width == 2) return static_cast<int64_t>(static_cast<int16_t>(raw));
  if (width == 4) return static_cast<int64_t>(static_cast<int32_t>(raw));
  return static_cast<int64_t>(raw);
}

// A binary date/timestamp/timestamptz parameter as microseconds (dates at midnight).
Result<int64_t> BinaryTimestamp(uint32_t oid, std::string_view bytes) {
  if (oid == kDateOid) {
    if (bytes.size() != 4) return WrongLength(oid);
    auto days = static_cast<int32_t>(LoadBig(bytes));
    if (days == kDateInfinity) return kTimestampInfinity;
    if (days == kDateNegInfinity) return kTimestampNegInfinity;
    return int64_t{days} * kUsecPerDay;
  }
  if (bytes.size() != 8) return WrongLength(oid);
  return static_cast<int64_t>(LoadBig(bytes));
}

}  // namespace

KeyType KeyTypeFromName(std::string_view typname) {
  std::string n = Lowered(TrimSpaces(typname));
  if (n == "int2" || n == "int4" || n == "int8" || n == "smallint" || n == "integer" || n == "int" ||
      n == "bigint") {
    return KeyType::kInt;
  }
  if (n == "numeric" || n == "decimal") return KeyType::kNumeric;
  if (n == "text" || n == "varchar" || n == "character varying" || n == "name" || n == "char") return KeyType::kText;
  if (n == "bpchar" || n == "character") return KeyType::kBpchar;
  if (n == "date") return KeyType::kDate;
  if (n == "timestamp" || n == "timestamp without time zone") return KeyType::kTimestamp;
  if (n == "timestamptz" || n == "timestamp with time zone") return KeyType::kTimestampTz;
  if (n == "uuid") return KeyType::kUuid;
  return KeyType::kUnsupported;
}

KeyType KeyTypeFromOid(uint32_t oid) {
  switch (oid) {
    case kInt2Oid: case kInt4Oid: case kInt8Oid: return KeyType::kInt;
    case kNumericOid: return KeyType::kNumeric;
    case kTextOid: case kVarcharOid: case kNameOid: case kCharOid: return KeyType::kText;
    case kBpcharOid: return KeyType::kBpchar;
    case kDateOid: return KeyType::kDate;
    case kTimestampOid: return KeyType::kTimestamp;
    case kTimestampTzOid: return KeyType::kTimestampTz;
    case kUuidOid: return KeyType::kUuid;
    default: return KeyType::kUnsupported;
  }
}

std::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kInt: return "int";
    case KeyType::kNumeric: return "numeric";
    case KeyType::kText: return "text";
    case KeyType::kBpchar: return "bpchar";
    case KeyType::kDate: return "date";
    case KeyType::kTimestamp: return "timestamp";
    case KeyType::kTimestampTz: return "timestamptz";
    case KeyType::kUuid: return "uuid";
    case KeyType::kUnsupported: break;
  }
  return "unsupported";
}

Result<std::string> EncodeKey(KeyType type, std::string_view text) {
  switch (type) {
    case KeyType::kInt:
      return Map(ParseInt64(text, "integer"), &OrderedInt64);
    case KeyType::kNumeric: {
      auto d = Decimal::Parse(text);
      if (!d.ok()) return d.status();
      return d->OrderKey();
    }
    case KeyType::kText:
      return std::string(text);
    case KeyType::kBpchar:
      return std::string(StripTrailingSpaces(text));
    case KeyType::kDate:
      return Map(ParseDate(text), &OrderedInt32);
    case KeyType::kTimestamp:
    case KeyType::kTimestampTz:
      return Map(ParseTimestamp(text, type == KeyType::kTimestampTz), &OrderedInt64);
    case KeyType::kUuid:
      return ParseUuid(text);
    case KeyType::kUnsupported:
      break;
  }
  return Status::Unsupported("range keys of this type are not supported");
}

Result<std::string> EncodeBinaryKey(KeyType type, uint32_t param_oid, std::string_view bytes) {
  // A text-like parameter's binary form is its text: read it as a literal.
  if (IsTextOid(param_oid)) return EncodeKey(type, bytes);
  const bool int_param = param_oid == kInt2Oid || param_oid == kInt4Oid || param_oid == kInt8Oid;
  switch (type) {
    case KeyType::kInt:
      if (int_param) return Map(BinaryInt(param_oid, bytes), &OrderedInt64);
      if (param_oid == kNumericOid) {
        auto d = Decimal::FromBinary(bytes);
        if (!d.ok()) return d.status();
        auto v = d->ToInt64();
        if (!v) return Mismatch(type, param_oid);  // not an integer: no lossless conversion
        return OrderedInt64(*v);
      }
      break;
    case KeyType::kNumeric:
      if (int_param) {
        auto v = BinaryInt(param_oid, bytes);
        if (!v.ok()) return v.status();
        return Decimal::FromInt(*v).OrderKey();
      }
      if (param_oid == kNumericOid) {
        auto d = Decimal::FromBinary(bytes);
        if (!d.ok()) return d.status();
        return d->OrderKey();
      }
      break;
    case KeyType::kDate:
      if (param_oid == kDateOid) {
        if (bytes.size() != 4) return WrongLength(param_oid);
        return OrderedInt32(static_cast<int32_t>(LoadBig(bytes)));
      }
      break;
    case KeyType::kTimestamp:
    case KeyType::kTimestampTz:
      // timestamp <-> timestamptz is lossless under the router's UTC reading of zone-less values.
      if (param_oid == kDateOid || param_oid == kTimestampOid || param_oid == kTimestampTzOid) {
        return Map(BinaryTimestamp(param_oid, bytes), &OrderedInt64);
      }
      break;
    case KeyType::kUuid:
      if (param_oid == kUuidOid) {
        if (bytes.size() != 16) return WrongLength(param_oid);
        return std::string(bytes);
      }
      break;
    case KeyType::kText:
    case KeyType::kBpchar:
    case KeyType::kUnsupported:
      break;
  }
  return Mismatch(type, param_oid);
}

Result<std::string> CanonicalTenant(KeyType type, std::string_view text) {
  switch (type) {
    case KeyType::kInt: {
      auto v = ParseInt64(text, "integer");
      if (!v.ok()) return v.status();
      return std::to_string(*v);
    }
    case KeyType::kUuid: {
      auto bytes = ParseUuid(text);
      if (!bytes.ok()) return bytes.status();
      return FormatUuid(*bytes);
    }
    case KeyType::kText:
      return std::string(text);
    case KeyType::kBpchar:
      return std::string(StripTrailingSpaces(text));
    case KeyType::kUnsupported:
      return std::string(TrimSpaces(text));
    case KeyType::kNumeric:
    case KeyType::kDate:
    case KeyType::kTimestamp:
    case KeyType::kTimestampTz: {
      auto key = EncodeKey(type, text);
      if (!key.ok()) return key.status();
      return DecodeKeyForDisplay(type, *key);
    }
  }
  return std::string(text);
}

std::string DecodeKeyForDisplay(KeyType type, std::string_view key) {
  switch (type) {
    case KeyType::kInt:
      if (key.size() == 8) return std::to_string(FromOrderedInt64(key));
      break;
    case KeyType::kNumeric:
      if (auto d = Decimal::FromOrderKey(key)) return d->ToString();
      break;
    case KeyType::kText:
    case KeyType::kBpchar:
    case KeyType::kUnsupported:
      return std::string(key);
    case KeyType::kDate:
      if (key.size() == 4) return FormatDate(FromOrderedInt32(key));
      break;
    case KeyType::kTimestamp:
    case KeyType::kTimestampTz:
      if (key.size() == 8) return FormatTimestamp(FromOrderedInt64(key), type == KeyType::kTimestampTz);
      break;
    case KeyType::kUuid:
      if (key.size() == 16) return FormatUuid(key);
      break;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "<invalid key \\x";
  for (char c : key) {
    out.push_back(kHex[static_cast<unsigned char>(c) >> 4]);
    out.push_back(kHex[static_cast<unsigned char>(c) & 15]);
  }
  return out + ">";
}

}  // namespace mosaic::router
