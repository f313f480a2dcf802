// The SaaS sample schema (tenants, customers, orders, order_items, events, all distributed by
// tenant_id) and its rows: Zipf-skewed tenant sizes (a few whales, many small tenants), each row
// derived from the seed alone so `--init` loads the same data every time.
//
// Pure: no I/O. The loader (workload.cc) streams these lines through COPY.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace mosaic::workload {

// The data covers kSpanDays days from 2024-01-01 (day 0).
inline constexpr int64_t kSpanDays = 365;
inline constexpr const char* kStatuses[] = {"new", "paid", "shipped", "delivered", "cancelled"};
inline constexpr const char* kTables[] = {"tenants", "customers", "orders", "order_items", "events"};

// CREATE TABLE / CREATE INDEX statements, in order. Every primary key starts with tenant_id.
const std::vector<std::string>& SchemaStatements();
// DROP TABLE IF EXISTS for the schema's tables.
const std::vector<std::string>& DropStatements();

struct TenantSize {
  int64_t tenant_id = 0;
  int64_t customers = 0;
  int64_t orders = 0;
};

// Tenant ids 1..tenants; tenant k holds a share 1/k^zipf of scale * 50000 orders (at least 20)
// and a customer per 8 orders (at least 5). REQUIRES: tenants >= 1, scale > 0.
std::vector<TenantSize> TenantSizes(int64_t tenants, double scale, double zipf);

// "2024-03-05" for day 59 (day 0 is 2024-01-01; any day, also past the span).
std::string DayDate(int64_t day);
// "2024-03-05 13:07:09+00": `second` of `day` (0..86399), UTC.
std::string Timestamp(int64_t day, int64_t second);

// One order with its items, as the loader and the generator write them.
struct OrderItem {
  int64_t product_id = 0, quantity = 0, price_cents = 0;
};
struct Order {
  int64_t tenant_id = 0, order_id = 0, customer_id = 0, day = 0, second = 0;
  std::string_view status;
  std::vector<OrderItem> items;  // 1..4
  int64_t AmountCents() const;
};
// The loaded order `order_id` of a tenant with `customers` customers: every field a hash of
// (seed, order_id).
Order LoadedOrder(uint64_t seed, int64_t tenant_id, int64_t order_id, int64_t customers);
// "12.34" for 1234.
std::string Cents(int64_t cents);

// COPY text lines (tab-separated, no newline) per table, in the column order of ColumnList.
// Order ids are global and consecutive, tenant by tenant from 1; event ids likewise (one
// "order_created" event per order, and one "order_<status>" for orders past "new").
std::string ColumnList(std::string_view table);
using EmitLine = std::function<void(const std::string&)>;
void TenantLines(const std::vector<TenantSize>& sizes, const EmitLine& emit);
void CustomerLines(uint64_t seed, const std::vector<TenantSize>& sizes, const EmitLine& emit);
void OrderLines(uint64_t seed, const std::vector<TenantSize>& sizes, const EmitLine& emit);
void OrderItemLines(uint64_t seed, const std::vector<TenantSize>& sizes, const EmitLine& emit);
void EventLines(uint64_t seed, const std::vector<TenantSize>& sizes, const EmitLine& emit);

}  // namespace mosaic::workload
