#include "router/sequences.h"

namespace mosaic::router {
namespace {

int64_t Mod(int64_t a, int64_t m) {
  const int64_t r = a % m;
  return r < 0 ? r + m : r;
}

}  // namespace

StripedSetval SetvalInStripe(int64_t value, bool called, int position, int stride) {
  const int64_t k = position, s = stride;
  if (called) {
    // The largest value of the stripe at or below `value` counts as handed out; below the
    // stripe's first one, the copy starts afresh at it (still past `value`).
    const int64_t v = value - Mod(value - k, s);
    return v >= k ? StripedSetval{v, true} : StripedSetval{k, false};
  }
  int64_t v = 0;
  if (__builtin_add_overflow(value, Mod(k - value, s), &v)) return {value, false};  // the node refuses it
  return {v < k ? k : v, false};
}

}  // namespace mosaic::router
