// Casts and round() applied to an aggregate after the merger combined it (`count(*)::int`,
// `CAST(avg(x) AS numeric(10,2))`, `round(avg(x), 2)`): the nodes compute the aggregate's parts
// without the cast, the merger finishes the aggregate and then converts its text here exactly
// as PostgreSQL's cast functions would.
//
// Supported targets: int2/int4/int8 (from integers, numeric rounded half away from zero, floats
// rounded half to even; 22003 when out of range), numeric[(p[,s])] (from integers, numeric,
// floats through 15/6 significant digits as float8_numeric; rounding to s and 22003 "numeric
// field overflow" as apply_typmod), float4/float8 (output as float4out/float8out with the
// session's extra_float_digits), text (output text; bool as true/false, char(n) without trailing
// spaces). round() takes numeric only. Anything else is 0A000 naming it. Pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "sql/analysis.h"

namespace mosaic::router {

// What the client's RowDescription says of a finished column.
struct FinishedType {
  uint32_t oid = 0;
  int16_t typlen = -1;
  int32_t typmod = -1;
};

// The type `finish` produces. 0A000 naming the cast when Mosaic cannot apply it (another target
// type, typmods it does not take, an unreadable typmod).
Result<FinishedType> FinishType(const sql::AggFinish& finish);

// OK when `finish` can convert values of type `from` exactly, else 0A000 naming both types.
Status CheckFinish(const sql::AggFinish& finish, uint32_t from);

// `text` (a non-NULL value of type `from`) converted. `float_digits` is extra_float_digits.
// REQUIRES: CheckFinish(finish, from).ok(). PostgreSQL's errors (22003, 0A000 for NaN to integer).
Result<std::string> ApplyFinish(const sql::AggFinish& finish, uint32_t from, std::string_view text,
                                int float_digits);

}  // namespace mosaic::router
