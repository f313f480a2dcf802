// A result Mosaic holds in text form (the rows of a statement it ran in steps, read from the
// nodes over the simple protocol) sent in the result formats the client's Bind asked for.
// pgjdbc, for one, asks binary results for int2/int4/int8, numeric, floats, dates and
// timestamps once it has prepared a statement on the server (from its 5th execution): the text
// values are converted with router/value's TextToBinary, which writes exactly the bytes the
// type's send function would. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace mosaic::router {

// How the nodes printed the text values (the session's settings).
struct TextOutput {
  bool iso_dates = true;     // DateStyle ISO: dates and timestamps read back exactly
  bool exact_floats = true;  // extra_float_digits >= 1: floats read back exactly
};

// Rewrites `messages` (a held reply: a RowDescription, DataRows, CommandComplete, ...; all in
// text) so that the columns `formats` asks in binary (Bind's result format codes: none, one for
// every column, or one per column) come in binary: their RowDescription format code and each
// DataRow value. Other messages are kept as they are. Errors, as PostgreSQL's where it has one:
// 08P01 for a count of codes that is neither 0, 1 nor the number of columns; 22023 for a code
// other than 0 or 1; 0A000 for a column asked in binary whose type Mosaic has no binary form of,
// or whose text is not exact (floats below extra_float_digits 1, datetimes in a DateStyle other
// than ISO); the input function's error for a value that does not read back (malformed text).
// On error `messages` is unchanged.
Status ToResultFormats(std::string* messages, const std::vector<int16_t>& formats, TextOutput output);

}  // namespace mosaic::router
