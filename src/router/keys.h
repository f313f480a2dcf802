// Range keys: values of a tenant or range column turned into byte strings whose memcmp order is
// PostgreSQL's order for the column's type, so the router compares keys of any type with one
// std::string comparison and shard-map lookups are binary searches over strings.
//
// Supported types (PostgreSQL type names as in pg_type.typname):
//   int2, int4, int8            signed 64-bit, order-preserving big-endian with the sign bit flipped
//   numeric                     exact decimal order (any precision; NaN sorts above all numbers,
//                               as in PostgreSQL); "1.0" and "1.00" encode equal
//   text, varchar, bpchar, name C collation: byte order (documented: range boundaries of text
//                               columns compare as in COLLATE "C"); bpchar ignores trailing spaces
//   date                        days; 'infinity'/'-infinity' sort last/first
//   timestamp                   microseconds; infinity as for date
//   timestamptz                 microseconds UTC; text without an offset is read as UTC
//   uuid                        16 bytes
// Anything else is unsupported (the layout API refuses such a range column; the tenant column of
// an unsupported type keys tenants by their text as written by the client, after trimming).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mosaic::router {

enum class KeyType : uint8_t { kInt, kNumeric, kText, kBpchar, kDate, kTimestamp, kTimestampTz, kUuid, kUnsupported };

// The KeyType for a pg_type.typname ("int4", "timestamptz", "varchar", ...).
KeyType KeyTypeFromName(std::string_view typname);
// The KeyType for a type OID (binary parameters and ParameterDescription); kUnsupported if unknown.
KeyType KeyTypeFromOid(uint32_t oid);
std::string_view KeyTypeName(KeyType type);

// Encodes the text form of a value (as a literal, a text-format parameter, or a catalog boundary)
// as an order-preserving key. Accepts what PostgreSQL's input functions accept for the common
// forms: integers with sign and surrounding spaces; numerics with exponent; dates "YYYY-MM-DD"
// (and ISO timestamps' date part); timestamps "YYYY-MM-DD[ T]HH:MM[:SS[.ffffff]][Z|±HH[:MM]]";
// uuids with or without hyphens/braces, any case. Fails as PostgreSQL's input function would:
// 22P02 (invalid_text_representation) naming the type for integers, numerics and uuids, 22003
// for integers beyond int8, 22007 (invalid_datetime_format) for malformed dates/timestamps and
// 22008 (datetime_field_overflow) for bad fields or out-of-range values. 0A000 for kUnsupported.
// Dates take only the date part of a timestamp; timestamps (without time zone) ignore an offset.
Result<std::string> EncodeKey(KeyType type, std::string_view text);

// Encodes a binary-format parameter of the given type OID (int2/int4/int8/date/timestamp/
// timestamptz/uuid/text/varchar; numeric binary is decoded too) as the key of `type`.
// Conversions are made only when lossless: int2/int4/int8 for int or numeric keys, an integral
// numeric for int keys, date for timestamp keys, timestamp <-> timestamptz (zone-less values are
// UTC to the router). A text-like parameter (text/varchar/bpchar/name/unknown) is read as text.
// Fails with 22P03 (invalid_binary_representation) on a wrong length, 0A000 otherwise.
Result<std::string> EncodeBinaryKey(KeyType type, uint32_t param_oid, std::string_view bytes);

// The canonical text of a tenant value of column type `type`: integers without leading zeros or
// '+', uuids lowercase hyphenated, text unchanged (bpchar without trailing spaces), numerics
// without trailing fractional zeros, dates/timestamps in ISO output form, unsupported types
// trimmed. Tenant keys in the catalog are canonical text. Fails as EncodeKey does.
Result<std::string> CanonicalTenant(KeyType type, std::string_view text);

// Renders an encoded key back to PostgreSQL's text form (for APIs and logs): numerics without
// trailing zeros (the key does not keep the scale), timestamptz in UTC ("+00"). A key that is
// not of `type` renders as "<invalid key \x...>".
std::string DecodeKeyForDisplay(KeyType type, std::string_view key);

}  // namespace mosaic::router
