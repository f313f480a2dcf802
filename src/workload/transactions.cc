#include "workload/transactions.h"

#include <fmt/format.h>

#include <cmath>

#include "workload/saas_data.h"

namespace mosaic::workload {

std::string_view FilterColumnName(FilterColumn column) {
  switch (column) {
    case FilterColumn::kCreatedAt: return "created_at";
    case FilterColumn::kCustomerId: return "customer_id";
    case FilterColumn::kStatus: return "status";
  }
  return "created_at";
}

TenantProfile MakeProfile(uint64_t seed, const TenantData& data) {
  const uint64_t h = Mix(seed, static_cast<uint64_t>(data.tenant_id));
  return {data, static_cast<FilterColumn>(h % 3), static_cast<int64_t>(h / 3 % kSpanDays)};
}

HotWindow HotWindowAt(int64_t offset_day, double elapsed_s, double shift_s, int64_t span_days, int64_t days) {
  days = std::min(days, span_days);
  const int64_t starts = span_days - days + 1;  // possible first days
  const int64_t shifts = shift_s > 0 ? static_cast<int64_t>(std::floor(std::max(elapsed_s, 0.0) / shift_s)) : 0;
  const int64_t first = ((offset_day + shifts * days) % starts + starts) % starts;
  return {first, days};
}

std::string_view KindName(TxnKind kind) {
  switch (kind) {
    case TxnKind::kOrdersByFilter: return "orders_by_filter";
    case TxnKind::kOrderPoint: return "order_point";
    case TxnKind::kItemsOfOrder: return "items_of_order";
    case TxnKind::kEventsRange: return "events_range";
    case TxnKind::kInsertOrder: return "insert_order";
    case TxnKind::kUpdateStatus: return "update_status";
  }
  return "?";
}

TxnKind ChooseKind(Rng& rng, double write_ratio) {
  const double u = Unit(rng);
  if (u < write_ratio) return u < write_ratio * 0.7 ? TxnKind::kInsertOrder : TxnKind::kUpdateStatus;
  const double r = (u - write_ratio) / (1 - write_ratio);  // uniform in [0, 1) again
  if (r < 0.5) return TxnKind::kOrdersByFilter;
  if (r < 0.7) return TxnKind::kOrderPoint;
  if (r < 0.85) return TxnKind::kItemsOfOrder;
  return TxnKind::kEventsRange;
}

namespace {

int64_t SomeOrder(Rng& rng, const TenantData& t) { return Between(rng, t.first_order, std::max(t.first_order, t.last_order)); }

// A few days inside the window, as 'from' and 'to' timestamps.
std::pair<std::string, std::string> DaysIn(Rng& rng, const HotWindow& w) {
  const int64_t len = Between(rng, 1, std::min<int64_t>(3, w.days));
  const int64_t first = Between(rng, w.first_day, w.first_day + w.days - len);
  return {Timestamp(first, 0), Timestamp(first + len, 0)};
}

std::string FilterQuery(Rng& rng, const TenantProfile& p, const HotWindow& w) {
  const int64_t t = p.data.tenant_id;
  switch (p.preferred) {
    case FilterColumn::kCreatedAt: {
      auto [from, to] = DaysIn(rng, w);
      return fmt::format("SELECT count(*), sum(amount) FROM orders WHERE tenant_id = {} AND created_at >= '{}' "
                         "AND created_at < '{}'", t, from, to);
    }
    case FilterColumn::kCustomerId:
      return fmt::format("SELECT order_id, status, amount FROM orders WHERE tenant_id = {} AND customer_id = {}", t,
                         Between(rng, 1, std::max<int64_t>(1, p.data.customers)));
    case FilterColumn::kStatus:
      return fmt::format("SELECT count(*), sum(amount) FROM orders WHERE tenant_id = {} AND status = '{}'", t,
                         kStatuses[Between(rng, 0, std::size(kStatuses) - 1)]);
  }
  return {};
}

void AddInsertOrder(Rng& rng, const TenantProfile& p, const HotWindow& w, IdSequence& order_ids,
                    IdSequence& event_ids, Txn& txn) {
  // A new order lands on the last day of the hot window: where the tenant's traffic is now.
  Order o{p.data.tenant_id, order_ids.Take(), Between(rng, 1, std::max<int64_t>(1, p.data.customers)),
          w.first_day + w.days - 1, Between(rng, 0, 86399), "new", {}};
  const int64_t items = Between(rng, 1, 4);
  std::string values;
  for (int64_t i = 1; i <= items; ++i) {
    OrderItem item{Between(rng, 1, 5000), Between(rng, 1, 5), Between(rng, 99, 19999)};
    o.items.push_back(item);
    values += fmt::format("{}({}, {}, {}, {}, {}, {})", i > 1 ? ", " : "", o.tenant_id, o.order_id, i,
                          item.product_id, item.quantity, Cents(item.price_cents));
  }
  const std::string ts = Timestamp(o.day, o.second);
  txn.statements = {
      fmt::format("INSERT INTO orders (tenant_id, order_id, customer_id, status, amount, created_at) VALUES "
                  "({}, {}, {}, 'new', {}, '{}')", o.tenant_id, o.order_id, o.customer_id, Cents(o.AmountCents()), ts),
      "INSERT INTO order_items (tenant_id, order_id, item_no, product_id, quantity, price) VALUES " + values,
      fmt::format("INSERT INTO events (tenant_id, event_id, customer_id, order_id, kind, created_at) VALUES "
                  "({}, {}, {}, {}, 'order_created', '{}')", o.tenant_id, event_ids.Take(), o.customer_id,
                  o.order_id, ts)};
  txn.orders = 1;
  txn.order_items = items;
  txn.events = 1;
}

}  // namespace

Txn MakeTxn(Rng& rng, TxnKind kind, const TenantProfile& p, const HotWindow& w, IdSequence& order_ids,
            IdSequence& event_ids) {
  Txn txn{kind, {}, false, 0, 0, 0};
  const int64_t t = p.data.tenant_id;
  switch (kind) {
    case TxnKind::kOrdersByFilter: txn.statements = {FilterQuery(rng, p, w)}; break;
    case TxnKind::kOrderPoint:
      txn.statements = {fmt::format("SELECT order_id, customer_id, status, amount, created_at FROM orders "
                                    "WHERE tenant_id = {} AND order_id = {}", t, SomeOrder(rng, p.data))};
      break;
    case TxnKind::kItemsOfOrder:
      txn.statements = {fmt::format("SELECT item_no, product_id, quantity, price FROM order_items "
                                    "WHERE tenant_id = {} AND order_id = {} ORDER BY item_no", t, SomeOrder(rng, p.data))};
      break;
    case TxnKind::kEventsRange: {
      auto [from, to] = DaysIn(rng, w);
      txn.statements = {fmt::format("SELECT kind, count(*) FROM events WHERE tenant_id = {} AND created_at >= '{}' "
                                    "AND created_at < '{}' GROUP BY kind", t, from, to)};
      break;
    }
    case TxnKind::kInsertOrder:
      txn.explicit_transaction = true;
      AddInsertOrder(rng, p, w, order_ids, event_ids, txn);
      break;
    case TxnKind::kUpdateStatus: {
      txn.explicit_transaction = true;
      const int64_t order = SomeOrder(rng, p.data);
      const std::string_view status = kStatuses[Between(rng, 1, std::size(kStatuses) - 1)];
      txn.statements = {
          fmt::format("UPDATE orders SET status = '{}' WHERE tenant_id = {} AND order_id = {}", status, t, order),
          fmt::format("INSERT INTO events (tenant_id, event_id, order_id, kind, created_at) VALUES "
                      "({}, {}, {}, 'order_{}', '{}')", t, event_ids.Take(), order, status,
                      Timestamp(w.first_day + w.days - 1, Between(rng, 0, 86399)))};
      txn.events = 1;
      break;
    }
  }
  return txn;
}

}  // namespace mosaic::workload
