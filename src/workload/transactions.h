// What the generator sends: per-tenant profiles (preferred filter column, hot-window offset),
// the hot date window at a moment of the run, the kind of each transaction and its SQL.
//
// Pure: no I/O, no clock. Every choice is drawn from the caller's Rng, so a seed fixes the
// sequence of transactions given the same run times.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "workload/random.h"

namespace mosaic::workload {

// The column a tenant's own range queries filter orders by.
enum class FilterColumn { kCreatedAt, kCustomerId, kStatus };
std::string_view FilterColumnName(FilterColumn column);

// What the generator knows of one tenant (read from the database before a run).
struct TenantData {
  int64_t tenant_id = 0;
  int64_t first_order = 0, last_order = 0;  // loaded order ids of the tenant
  int64_t customers = 0;                    // customer ids 1..customers
};
struct TenantProfile {
  TenantData data;
  FilterColumn preferred = FilterColumn::kCreatedAt;
  int64_t hot_offset_day = 0;  // where its hot window starts at the beginning of the run
};
// Deterministic in (seed, tenant_id).
TenantProfile MakeProfile(uint64_t seed, const TenantData& data);

// The hot days [first_day, first_day + days) of a tenant at `elapsed_s` into the run: the window
// starts at the profile's offset and moves `days` forward every `shift_s` seconds (never if
// shift_s <= 0), wrapping inside the data's span.
struct HotWindow {
  int64_t first_day = 0, days = 0;
};
inline constexpr int64_t kHotWindowDays = 14;
HotWindow HotWindowAt(int64_t offset_day, double elapsed_s, double shift_s, int64_t span_days = 365,
                      int64_t days = kHotWindowDays);

enum class TxnKind {
  kOrdersByFilter,  // range scan or lookup on the tenant's preferred column
  kOrderPoint,      // one order by primary key
  kItemsOfOrder,    // the items of one order
  kEventsRange,     // recent events in the hot window
  kInsertOrder,     // a new order with items and events, one transaction
  kUpdateStatus,    // an order's status changes, with its event, one transaction
};
inline constexpr TxnKind kAllKinds[] = {TxnKind::kOrdersByFilter, TxnKind::kOrderPoint, TxnKind::kItemsOfOrder,
                                        TxnKind::kEventsRange,    TxnKind::kInsertOrder, TxnKind::kUpdateStatus};
std::string_view KindName(TxnKind kind);

// A write with probability write_ratio (70% inserts, 30% status updates); else a read: half
// on the preferred column, the rest point reads, item reads and event scans.
TxnKind ChooseKind(Rng& rng, double write_ratio);

// Ids of rows the generator inserts: client c of n takes first + c, first + c + n, ...
struct IdSequence {
  int64_t next = 0, stride = 1;
  int64_t Take() {
    const int64_t id = next;
    next += stride;
    return id;
  }
};

struct Txn {
  TxnKind kind = TxnKind::kOrderPoint;
  std::vector<std::string> statements;  // run in order; wrapped in BEGIN/COMMIT if explicit
  bool explicit_transaction = false;
  int64_t orders = 0, order_items = 0, events = 0;  // rows it inserts when it commits
};
Txn MakeTxn(Rng& rng, TxnKind kind, const TenantProfile& tenant, const HotWindow& window, IdSequence& order_ids,
            IdSequence& event_ids);

}  // namespace mosaic::workload
