// QueryEvent: what the monitor learns from one completed statement, as a fixed-size plain struct
// so that a worker can copy it into a ring buffer without allocating.
//
// Names and values are stored inline and truncated to their fields' sizes (a truncated value is
// flagged and not used as a key). Filters beyond kMaxFilters and tables beyond kMaxTables are
// dropped and `truncated` is set. Built on a worker thread (event_builder.h), read by the
// aggregator thread (pattern_store.h); never shared while being written.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace mosaic::monitor {

// A short string stored inline: at most N-1 bytes (the last byte keeps the length).
template <size_t N>
struct InlineText {
  static_assert(N >= 2 && N <= 256);
  char bytes[N - 1];
  uint8_t len = 0;

  // Stores `s`, cut to capacity; returns false when it had to cut.
  bool Set(std::string_view s) {
    const size_t n = std::min(s.size(), N - 1);
    std::memcpy(bytes, s.data(), n);
    len = static_cast<uint8_t>(n);
    return n == s.size();
  }
  std::string_view view() const { return {bytes, len}; }
  bool empty() const { return len == 0; }
  static constexpr size_t capacity() { return N - 1; }
};

enum class FilterOp : uint8_t { kEq, kIn, kRange, kOther };
inline constexpr int kFilterOps = 4;
std::string_view FilterOpName(FilterOp op);

// Which end of a key interval a value is.
enum class ValueRole : uint8_t {
  kNone,   // no usable value (an expression, NULL, IS NULL, a binary parameter, ...)
  kPoint,  // = v, IN (..., v, ...)
  kLower,  // > v, >= v, BETWEEN v AND ...
  kUpper,  // < v, <= v, BETWEEN ... AND v
};

// One value of one predicate. A predicate with several values (IN, BETWEEN) takes several
// entries; only its first has `counts` set, so filter counts are per predicate.
struct EventFilter {
  uint8_t table = 0;  // index into QueryEvent::tables
  FilterOp op = FilterOp::kOther;
  ValueRole role = ValueRole::kNone;
  bool counts = true;
  InlineText<32> column;
  InlineText<48> value;  // text form, as the client sent it (literal or text parameter)
};

// `left.column = right.column` between two of the event's tables.
struct EventJoin {
  uint8_t left_table = 0, right_table = 0;
  InlineText<32> left_column, right_column;
};

struct QueryEvent {
  static constexpr int kMaxTables = 4;
  static constexpr int kMaxFilters = 8;
  static constexpr int kMaxJoins = 4;

  int64_t unix_seconds = 0;  // when it completed (wall clock: windows survive restarts)
  uint64_t fingerprint = 0;  // the statement's shape hash (sql/lexer.h)
  int64_t rows = 0;          // returned or affected (from CommandComplete)
  uint32_t latency_us = 0;   // from routing to completion
  uint16_t nodes = 0;        // nodes touched
  bool write = false;
  bool single_node = false;
  bool tenant_known = false;  // false: several or unknown tenants (recorded under kMultiTenant)
  bool truncated = false;
  uint8_t table_count = 0;
  uint8_t filter_count = 0;
  uint8_t join_count = 0;
  uint64_t node_mask = 0;     // bit i: node id i touched (ids >= 64 are not marked)
  InlineText<48> tenant;      // canonical tenant key; "" = the implicit tenant
  InlineText<48> tables[kMaxTables];
  EventFilter filters[kMaxFilters];
  EventJoin joins[kMaxJoins];
};

// Statement text of a fingerprint, sent once per worker per shape (normalised: literals are '?').
struct ShapeText {
  uint64_t fingerprint = 0;
  InlineText<232> text;
};

// Tenant names the monitor reports for statements without one tenant.
inline constexpr std::string_view kImplicitTenant = "(implicit)";  // single-tenant tables
inline constexpr std::string_view kMultiTenant = "(multi)";       // several or unknown tenants
inline constexpr std::string_view kOtherName = "(other)";         // folded under the memory budget

}  // namespace mosaic::monitor
