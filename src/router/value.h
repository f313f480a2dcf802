// Typed values in PostgreSQL text form, for the router's own comparisons and arithmetic: parsing
// of integers, floats, dates and timestamps as PostgreSQL's input functions accept their common
// forms, PostgreSQL-identical output of floats and datetimes, and memcmp-ordered sort keys per
// type OID (shared by range keys and the scatter-gather merger).
//
// Datetimes use DateStyle ISO and treat a timestamptz without an offset as UTC (the router has
// no session TimeZone). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mosaic::router::value {

// pg_type OIDs the router knows.
inline constexpr uint32_t kBoolOid = 16;
inline constexpr uint32_t kByteaOid = 17;
inline constexpr uint32_t kCharOid = 18;
inline constexpr uint32_t kNameOid = 19;
inline constexpr uint32_t kInt8Oid = 20;
inline constexpr uint32_t kInt2Oid = 21;
inline constexpr uint32_t kInt4Oid = 23;
inline constexpr uint32_t kTextOid = 25;
inline constexpr uint32_t kOidOid = 26;
inline constexpr uint32_t kFloat4Oid = 700;
inline constexpr uint32_t kFloat8Oid = 701;
inline constexpr uint32_t kUnknownOid = 705;
inline constexpr uint32_t kBpcharOid = 1042;
inline constexpr uint32_t kVarcharOid = 1043;
inline constexpr uint32_t kDateOid = 1082;
inline constexpr uint32_t kTimeOid = 1083;
inline constexpr uint32_t kTimestampOid = 1114;
inline constexpr uint32_t kTimestampTzOid = 1184;
inline constexpr uint32_t kIntervalOid = 1186;
inline constexpr uint32_t kNumericOid = 1700;
inline constexpr uint32_t kUuidOid = 2950;

bool IsIntegerOid(uint32_t oid);  // int2, int4, int8, oid
bool IsFloatOid(uint32_t oid);    // float4, float8
bool IsTextOid(uint32_t oid);     // text, varchar, bpchar, name, "char", unknown
bool IsDateTimeOid(uint32_t oid); // date, time, timestamp, timestamptz: printed as DateStyle says
// Whether two values of this type are equal exactly when their canonical keys are (EqualityKey):
// the types with a sort key, and those whose text output is canonical (bytea, "char", oid).
bool HasEqualityKey(uint32_t oid);

// Infinite dates and timestamps, as in PostgreSQL's binary formats.
inline constexpr int32_t kDateNegInfinity = INT32_MIN;
inline constexpr int32_t kDateInfinity = INT32_MAX;
inline constexpr int64_t kTimestampNegInfinity = INT64_MIN;
inline constexpr int64_t kTimestampInfinity = INT64_MAX;
inline constexpr int64_t kUsecPerDay = 86'400'000'000;

// int8in-like: surrounding whitespace, optional sign, decimal digits. 22P02 naming `type_name`
// on bad syntax, 22003 "value ... is out of range for type bigint" beyond int64.
Result<int64_t> ParseInt64(std::string_view text, std::string_view type_name = "integer");

// float8in-like (decimal or exponent forms, NaN, [-]Infinity, surrounding whitespace).
Result<double> ParseFloat8(std::string_view text);
Result<float> ParseFloat4(std::string_view text);  // float4in: the same forms, in single precision
// float8out / float4out with extra_float_digits = 1 (the default): the shortest text that reads
// back as the same value; exponent form outside 1e-4 <= |v| < 1e15 (1e6 for float4).
std::string FormatFloat8(double v);
std::string FormatFloat4(float v);

// Days since 2000-01-01 (kDateInfinity / kDateNegInfinity for 'infinity' / '-infinity').
// Accepts 'YYYY-MM-DD' (year of 3+ digits, optional ' BC'/' AD'), an ISO timestamp (its date
// part), 'epoch', 'infinity'. 22007 on bad syntax, 22008 on a bad field or out-of-range date.
Result<int32_t> ParseDate(std::string_view text);
// Microseconds since 2000-01-01 00:00 (UTC for with_tz). Accepts the date forms above plus
// '[ T]HH:MM[:SS[.fraction]]', then 'Z', 'UTC', or ±HH[[:]MM[[:]SS]] (a timestamp without time
// zone ignores the offset, as PostgreSQL does; with_tz text without one is read as UTC).
Result<int64_t> ParseTimestamp(std::string_view text, bool with_tz);
// Microseconds since midnight of 'HH:MM[:SS[.fraction]]'.
Result<int64_t> ParseTime(std::string_view text);
// PostgreSQL's ISO output: '2024-01-05', '0044-03-15 BC', '2024-01-05 10:00:00.5[+00]'.
std::string FormatDate(int32_t days);
std::string FormatTimestamp(int64_t usec, bool with_tz);

// time_out: 'HH:MM:SS[.fraction]' of microseconds since midnight (0 to 24:00:00).
std::string FormatTime(int64_t usec);

// uuid_in: 32 hex digits, any case, optionally in braces, a hyphen allowed after any group of
// four digits. 22P02 otherwise. Returns the 16 bytes.
Result<std::string> ParseUuid(std::string_view text);
std::string FormatUuid(std::string_view bytes);  // lowercase hyphenated; REQUIRES: 16 bytes

// Big-endian bytes of v with the sign bit flipped: memcmp order is numeric order.
std::string OrderedInt64(int64_t v);
int64_t FromOrderedInt64(std::string_view bytes);  // REQUIRES: 8 bytes
std::string OrderedInt32(int32_t v);
int32_t FromOrderedInt32(std::string_view bytes);  // REQUIRES: 4 bytes

// A key whose memcmp order is PostgreSQL's btree order for a non-NULL value of type `oid` in
// text form: integers, numeric, floats (NaN last, -0 = 0), text types (bytes; bpchar ignores
// trailing spaces), bool, date, time, timestamp(tz), uuid. Equal values give equal keys.
// 0A000 naming the type for other types; the input function's error for malformed text.
Result<std::string> SortKey(uint32_t oid, std::string_view text);
bool HasSortKey(uint32_t oid);
// A key equal for equal values: SortKey where the type has one (and the text parses), else the
// bytes themselves.
std::string EqualityKey(uint32_t oid, std::string_view text);

// The type's name for messages: "numeric", "timestamp with time zone", ... or "oid 1186".
std::string TypeName(uint32_t oid);

// PostgreSQL's binary formats (the types' send/recv functions) of integers, oid, floats, numeric,
// bool, date, time, timestamp(tz), uuid, bytea and the text types.
bool HasBinaryCodec(uint32_t oid);
// A binary-format value of type `oid` in the text form the functions above read: what the
// type's output function prints with DateStyle ISO, TimeZone UTC, extra_float_digits 1 and
// bytea_output hex. 22P03 "invalid binary data for type ..." when malformed (a wrong length);
// 0A000 naming the type without a codec here.
Result<std::string> BinaryToText(uint32_t oid, std::string_view bytes);
// The binary format of `text` (as BinaryToText writes it, or as the input function reads it)
// of type `oid`: exactly the bytes PostgreSQL's send function writes for that value. The input
// function's errors (22P02, 22003, ...); 0A000 naming the type without a codec here.
Result<std::string> TextToBinary(uint32_t oid, std::string_view text);

}  // namespace mosaic::router::value
