// FETCH and MOVE over a cursor's rows that Mosaic holds (a cursor over several nodes), with
// PostgreSQL's positions: 0 before the first row, 1..rows on a row, rows + 1 after the last.
#pragma once

#include <cstdint>

#include "sql/analysis.h"

namespace mosaic::router {

struct HeldFetch {
  int64_t first = 0;      // the first row returned (1-based), when count > 0
  int64_t count = 0;      // rows returned (FETCH) or passed over (MOVE): the command tag's number
  bool backward = false;  // rows first, first - 1, ... (else first, first + 1, ...)
  int64_t position = 0;   // the cursor's position after it
  // The move needs the cursor to go back (PostgreSQL: only a SCROLL cursor may; NO SCROLL
  // answers 55000).
  bool goes_back = false;
};

// What FETCH/MOVE `direction` `count` does on a cursor of `rows` rows at `position`.
HeldFetch FetchHeld(int64_t position, int64_t rows, sql::FetchDirection direction, int64_t count);

}  // namespace mosaic::router
