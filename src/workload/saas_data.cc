#include "workload/saas_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "workload/random.h"

namespace mosaic::workload {

const std::vector<std::string>& SchemaStatements() {
  static const std::vector<std::string> kSchema = {
      "CREATE TABLE tenants (tenant_id int NOT NULL, name text NOT NULL, plan text NOT NULL, "
      "created_at timestamptz NOT NULL, PRIMARY KEY (tenant_id))",
      "CREATE TABLE customers (tenant_id int NOT NULL, customer_id bigint NOT NULL, name text NOT NULL, "
      "email text NOT NULL, created_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, customer_id))",
      "CREATE TABLE orders (tenant_id int NOT NULL, order_id bigint NOT NULL, customer_id bigint NOT NULL, "
      "status text NOT NULL, amount numeric(12,2) NOT NULL, created_at timestamptz NOT NULL, "
      "PRIMARY KEY (tenant_id, order_id))",
      "CREATE TABLE order_items (tenant_id int NOT NULL, order_id bigint NOT NULL, item_no int NOT NULL, "
      "product_id int NOT NULL, quantity int NOT NULL, price numeric(10,2) NOT NULL, "
      "PRIMARY KEY (tenant_id, order_id, item_no))",
      "CREATE TABLE events (tenant_id int NOT NULL, event_id bigint NOT NULL, customer_id bigint, "
      "order_id bigint, kind text NOT NULL, created_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, event_id))",
      "CREATE INDEX orders_created_at_idx ON orders (tenant_id, created_at)",
      "CREATE INDEX orders_customer_idx ON orders (tenant_id, customer_id)",
      "CREATE INDEX orders_status_idx ON orders (tenant_id, status)",
      "CREATE INDEX events_created_at_idx ON events (tenant_id, created_at)",
  };
  return kSchema;
}

const std::vector<std::string>& DropStatements() {
  static const std::vector<std::string> kDrop = {
      "DROP TABLE IF EXISTS events", "DROP TABLE IF EXISTS order_items", "DROP TABLE IF EXISTS orders",
      "DROP TABLE IF EXISTS customers", "DROP TABLE IF EXISTS tenants"};
  return kDrop;
}

std::vector<TenantSize> TenantSizes(int64_t tenants, double scale, double zipf) {
  const ZipfSampler shares(tenants, zipf);
  const double total_orders = scale * 50000;
  std::vector<TenantSize> sizes;
  for (int64_t k = 1; k <= tenants; ++k) {
    const auto orders = std::max<int64_t>(20, std::llround(total_orders * shares.Probability(k)));
    sizes.push_back({k, std::max<int64_t>(5, orders / 8), orders});
  }
  return sizes;
}

std::string DayDate(int64_t day) {
  using namespace std::chrono;
  const year_month_day ymd{sys_days{2024y / January / 1} + days{day}};
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                     static_cast<unsigned>(ymd.day()));
}

std::string Timestamp(int64_t day, int64_t second) {
  return fmt::format("{} {:02}:{:02}:{:02}+00", DayDate(day), second / 3600, second / 60 % 60, second % 60);
}

int64_t Order::AmountCents() const {
  int64_t sum = 0;
  for (const auto& item : items) sum += item.quantity * item.price_cents;
  return sum;
}

std::string Cents(int64_t cents) { return fmt::format("{}.{:02}", cents / 100, cents % 100); }

Order LoadedOrder(uint64_t seed, int64_t tenant_id, int64_t order_id, int64_t customers) {
  Rng rng(Mix(seed, static_cast<uint64_t>(order_id)));
  Order order{tenant_id, order_id, Between(rng, 1, customers), Between(rng, 0, kSpanDays - 1),
              Between(rng, 0, 86399), kStatuses[Between(rng, 0, std::size(kStatuses) - 1)], {}};
  const int64_t items = Between(rng, 1, 4);
  for (int64_t i = 0; i < items; ++i) {
    order.items.push_back({Between(rng, 1, 5000), Between(rng, 1, 5), Between(rng, 99, 19999)});
  }
  return order;
}

std::string ColumnList(std::string_view table) {
  if (table == "tenants") return "tenant_id, name, plan, created_at";
  if (table == "customers") return "tenant_id, customer_id, name, email, created_at";
  if (table == "orders") return "tenant_id, order_id, customer_id, status, amount, created_at";
  if (table == "order_items") return "tenant_id, order_id, item_no, product_id, quantity, price";
  return "tenant_id, event_id, customer_id, order_id, kind, created_at";
}

void TenantLines(const std::vector<TenantSize>& sizes, const EmitLine& emit) {
  for (const auto& t : sizes) {
    emit(fmt::format("{}\ttenant-{}\t{}\t{}", t.tenant_id, t.tenant_id, t.tenant_id <= 3 ? "enterprise" : "starter",
                     Timestamp(0, 0)));
  }
}

void CustomerLines(uint64_t seed, const std::vector<TenantSize>& sizes, const EmitLine& emit) {
  for (const auto& t : sizes) {
    for (int64_t c = 1; c <= t.customers; ++c) {
      const uint64_t h = Mix(seed, static_cast<uint64_t>(t.tenant_id * 1000003 + c));
      emit(fmt::format("{}\t{}\tcustomer {}\tc{}@tenant{}.example\t{}", t.tenant_id, c, c, c, t.tenant_id,
                       Timestamp(static_cast<int64_t>(h % kSpanDays), static_cast<int64_t>(h / kSpanDays % 86400))));
    }
  }
}

namespace {

// Calls fn(order) for every loaded order, tenant by tenant, ids from 1.
template <typename Fn>
void ForEachOrder(uint64_t seed, const std::vector<TenantSize>& sizes, Fn&& fn) {
  int64_t order_id = 0;
  for (const auto& t : sizes) {
    for (int64_t i = 0; i < t.orders; ++i) fn(LoadedOrder(seed, t.tenant_id, ++order_id, t.customers));
  }
}

}  // namespace

void OrderLines(uint64_t seed, const std::vector<TenantSize>& sizes, const EmitLine& emit) {
  ForEachOrder(seed, sizes, [&](const Order& o) {
    emit(fmt::format("{}\t{}\t{}\t{}\t{}\t{}", o.tenant_id, o.order_id, o.customer_id, o.status,
                     Cents(o.AmountCents()), Timestamp(o.day, o.second)));
  });
}

void OrderItemLines(uint64_t seed, const std::vector<TenantSize>& sizes, const EmitLine& emit) {
  ForEachOrder(seed, sizes, [&](const Order& o) {
    for (size_t i = 0; i < o.items.size(); ++i) {
      const auto& item = o.items[i];
      emit(fmt::format("{}\t{}\t{}\t{}\t{}\t{}", o.tenant_id, o.order_id, i + 1, item.product_id, item.quantity,
                       Cents(item.price_cents)));
    }
  });
}

void EventLines(uint64_t seed, const std::vector<TenantSize>& sizes, const EmitLine& emit) {
  int64_t event_id = 0;
  ForEachOrder(seed, sizes, [&](const Order& o) {
    emit(fmt::format("{}\t{}\t{}\t{}\torder_created\t{}", o.tenant_id, ++event_id, o.customer_id, o.order_id,
                     Timestamp(o.day, o.second)));
    if (o.status != "new") {
      emit(fmt::format("{}\t{}\t{}\t{}\torder_{}\t{}", o.tenant_id, ++event_id, o.customer_id, o.order_id,
                       o.status, Timestamp(o.day, std::min<int64_t>(o.second + 3600, 86399))));
    }
  });
}

}  // namespace mosaic::workload
