// Sequences over several nodes. Each node has its own copy of a sequence; Mosaic stripes them
// (StripeSequences: the copy at node position k hands out k, k + stride, k + 2 * stride, ...)
// so that no value is handed out twice. A setval through Mosaic sets every copy within its own
// stripe.
#pragma once

#include <cstdint>

namespace mosaic::router {

struct StripedSetval {
  int64_t value = 0;
  bool called = true;
};

// What setval(sequence, value, called) becomes on the copy at node `position` (1-based) of a
// sequence striped by `stride`: called, its next value is the first of its stripe past `value`;
// not called, the first at or past it (never below `position`, the stripe's first value).
StripedSetval SetvalInStripe(int64_t value, bool called, int position, int stride);

}  // namespace mosaic::router
