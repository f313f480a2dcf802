#include "router/cursor_fetch.h"

#include <algorithm>

namespace mosaic::router {
namespace {

// One row, `target` (clamped: before the first or after the last returns none).
HeldFetch One(int64_t position, int64_t rows, int64_t target) {
  HeldFetch f;
  f.goes_back = target <= position;
  if (target < 1) {
    f.position = 0;
  } else if (target > rows) {
    f.position = rows + 1;
  } else {
    f.first = target;
    f.count = 1;
    f.position = target;
  }
  return f;
}

}  // namespace

HeldFetch FetchHeld(int64_t position, int64_t rows, sql::FetchDirection direction, int64_t count) {
  using D = sql::FetchDirection;
  position = std::clamp<int64_t>(position, 0, rows + 1);
  if (direction == D::kForward && count < 0) {  // FETCH -n: backward
    direction = D::kBackward;
    count = count == INT64_MIN ? INT64_MAX : -count;
  }
  if ((direction == D::kForward || direction == D::kBackward || direction == D::kRelative) && count == 0) {
    // The current row again, if the cursor is on one.
    HeldFetch f;
    f.position = position;
    f.goes_back = true;
    if (position >= 1 && position <= rows) {
      f.first = position;
      f.count = 1;
    }
    return f;
  }
  switch (direction) {
    case D::kForward: {
      HeldFetch f;
      const int64_t available = rows - std::min(position, rows);
      f.count = std::min(count, available);
      f.first = position + 1;
      f.position = f.count < count ? rows + 1 : position + f.count;
      return f;
    }
    case D::kBackward: {
      HeldFetch f;
      f.goes_back = true;
      const int64_t available = std::max<int64_t>(position - 1, 0);
      f.count = std::min(count, available);
      f.first = position - 1;
      f.backward = true;
      f.position = f.count < count ? 0 : position - f.count;
      return f;
    }
    case D::kAbsolute: {
      if (count == 0) return One(position, rows, 0);
      HeldFetch f = One(position, rows, count > 0 ? count : (count < -rows ? 0 : rows + count + 1));
      f.goes_back = f.goes_back || count < 0;  // from the end: PostgreSQL reads to it, then back
      return f;
    }
    case D::kRelative:
      return One(position, rows, count > 0 ? (count > rows + 1 - position ? rows + 1 : position + count)
                                           : (-count > position ? 0 : position + count));
  }
  return {};
}

}  // namespace mosaic::router
