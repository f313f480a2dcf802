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
// uuids with or without hyphens/braces, any case. Fails with 22P02 (invalid_text_representation)
// or 22008 (datetime out of range) naming the type when the text is not a valid value.
Result<std::string> EncodeKey(KeyType type, std::string_view text);

// Encodes a binary-format parameter of the given type OID (int2/int4/int8/date/timestamp/
// timestamptz/uuid/text/varchar; numeric binary is decoded too) as the key of `type`.
// Fails with 22P03 (invalid_binary_representation) on a wrong length, 0A000 if unsupported.
Result<std::string> EncodeBinaryKey(KeyType type, uint32_t param_oid, std::string_view bytes);

// The canonical text of a tenant value of column type `type`: integers without leading zeros or
// '+', uuids lowercase hyphenated, text unchanged. Tenant keys in the catalog are canonical text.
Result<std::string> CanonicalTenant(KeyType type, std::string_view text);

// Renders an encoded key back to PostgreSQL's text form (for APIs and logs).
std::string DecodeKeyForDisplay(KeyType type, std::string_view key);

}  // namespace mosaic::router
