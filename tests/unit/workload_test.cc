// The workload generator's pure parts: Zipf sampling, tenant sizes and profiles, the hot window,
// transaction mix and SQL, percentiles, and the report.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "workload/random.h"
#include "workload/report.h"
#include "workload/saas_data.h"
#include "workload/transactions.h"
#include "workload/workload.h"

namespace mosaic::workload {
namespace {

TEST(ZipfSampler, FollowsZipfsLaw) {
  const ZipfSampler zipf(50, 1.1);
  Rng rng(7);
  std::map<int64_t, int64_t> counts;
  constexpr int kDraws = 200000;
  for (int i = 0; i < kDraws; ++i) ++counts[zipf.Sample(rng)];
  EXPECT_GE(counts.begin()->first, 1);
  EXPECT_LE(counts.rbegin()->first, 50);
  for (int64_t k : {1, 2, 5, 20}) {
    EXPECT_NEAR(static_cast<double>(counts[k]) / kDraws, zipf.Probability(k), 0.01) << "rank " << k;
  }
  // P(1) / P(2) = 2^1.1
  EXPECT_NEAR(zipf.Probability(1) / zipf.Probability(2), std::pow(2.0, 1.1), 1e-9);
  EXPECT_GT(counts[1], counts[2]);
  EXPECT_GT(counts[2], counts[10]);
}

TEST(ZipfSampler, ExponentZeroIsUniformAndEdgesStayInRange) {
  const ZipfSampler uniform(4, 0);
  for (int64_t k = 1; k <= 4; ++k) EXPECT_DOUBLE_EQ(uniform.Probability(k), 0.25);
  EXPECT_EQ(uniform.RankAt(0.0), 1);
  EXPECT_EQ(uniform.RankAt(0.2499), 1);
  EXPECT_EQ(uniform.RankAt(0.25), 2);
  EXPECT_EQ(uniform.RankAt(0.9999999), 4);
  const ZipfSampler one(1, 1.1);
  EXPECT_EQ(one.RankAt(0.5), 1);
}

TEST(ZipfSampler, SameSeedSameSequence) {
  const ZipfSampler zipf(100, 1.1);
  Rng a(42), b(42), c(43);
  std::vector<int64_t> sa, sb, sc;
  for (int i = 0; i < 100; ++i) {
    sa.push_back(zipf.Sample(a));
    sb.push_back(zipf.Sample(b));
    sc.push_back(zipf.Sample(c));
  }
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
}

TEST(TenantSizes, AFewWhalesAndAMinimum) {
  const auto sizes = TenantSizes(50, 1.0, 1.1);
  ASSERT_EQ(sizes.size(), 50u);
  EXPECT_EQ(sizes.front().tenant_id, 1);
  EXPECT_EQ(sizes.back().tenant_id, 50);
  int64_t total = 0;
  for (const auto& t : sizes) {
    total += t.orders;
    EXPECT_GE(t.orders, 20);
    EXPECT_GE(t.customers, 5);
  }
  EXPECT_NEAR(static_cast<double>(total), 50000, 2000);
  EXPECT_GT(sizes[0].orders, 10 * sizes[30].orders);  // the whale
  EXPECT_GT(sizes[0].orders, sizes[1].orders);
  EXPECT_EQ(TenantSizes(3, 0.001, 1.1)[2].orders, 20);
}

TEST(SaasData, DatesAndTimestamps) {
  EXPECT_EQ(DayDate(0), "2024-01-01");
  EXPECT_EQ(DayDate(59), "2024-02-29");  // leap year
  EXPECT_EQ(DayDate(365), "2024-12-31");
  EXPECT_EQ(DayDate(366), "2025-01-01");
  EXPECT_EQ(Timestamp(1, 3600 + 62), "2024-01-02 01:01:02+00");
  EXPECT_EQ(Cents(1234), "12.34");
  EXPECT_EQ(Cents(5), "0.05");
}

TEST(SaasData, LinesAreDeterministicAndConsistent) {
  const auto sizes = TenantSizes(5, 0.01, 1.1);
  auto collect = [&](auto fn, uint64_t seed) {
    std::vector<std::string> lines;
    fn(seed, sizes, [&](const std::string& l) { lines.push_back(l); });
    return lines;
  };
  const auto orders = collect(OrderLines, 1);
  EXPECT_EQ(orders, collect(OrderLines, 1));
  EXPECT_NE(orders, collect(OrderLines, 2));
  int64_t expected_orders = 0;
  for (const auto& t : sizes) expected_orders += t.orders;
  ASSERT_EQ(static_cast<int64_t>(orders.size()), expected_orders);
  // Order ids are consecutive from 1, tenant by tenant; the first order belongs to tenant 1.
  EXPECT_EQ(orders.front().substr(0, 4), "1\t1\t");
  EXPECT_EQ(orders.back().substr(0, 2), "5\t");
  // Every order has 1..4 items and its amount is the items' sum.
  const Order o = LoadedOrder(1, 1, 1, sizes[0].customers);
  ASSERT_GE(o.items.size(), 1u);
  ASSERT_LE(o.items.size(), 4u);
  EXPECT_NE(orders.front().find("\t" + Cents(o.AmountCents()) + "\t"), std::string::npos) << orders.front();
  const auto items = collect(OrderItemLines, 1);
  EXPECT_GE(items.size(), orders.size());
  EXPECT_LE(items.size(), 4 * orders.size());
  // Events: one per order, two for orders past "new"; ids consecutive.
  const auto events = collect(EventLines, 1);
  EXPECT_GE(events.size(), orders.size());
  EXPECT_EQ(events.back().substr(events.back().find('\t') + 1, std::to_string(events.size()).size() + 1),
            std::to_string(events.size()) + "\t");
}

TEST(Profiles, DeterministicPerTenantAndVaried) {
  std::set<FilterColumn> columns;
  for (int64_t t = 1; t <= 30; ++t) {
    const TenantData d{t, 1, 100, 10};
    const auto p = MakeProfile(9, d);
    EXPECT_EQ(p.preferred, MakeProfile(9, d).preferred);
    EXPECT_EQ(p.hot_offset_day, MakeProfile(9, d).hot_offset_day);
    EXPECT_GE(p.hot_offset_day, 0);
    EXPECT_LT(p.hot_offset_day, kSpanDays);
    columns.insert(p.preferred);
  }
  EXPECT_EQ(columns.size(), 3u);  // some tenants by created_at, others by customer_id or status
}

TEST(HotWindow, MovesEveryShiftAndWraps) {
  EXPECT_EQ(HotWindowAt(100, 0, 30).first_day, 100);
  EXPECT_EQ(HotWindowAt(100, 29.9, 30).first_day, 100);
  EXPECT_EQ(HotWindowAt(100, 30, 30).first_day, 114);
  EXPECT_EQ(HotWindowAt(100, 65, 30).first_day, 128);
  EXPECT_EQ(HotWindowAt(100, 1000, 0).first_day, 100);  // no shift
  EXPECT_EQ(HotWindowAt(100, 30, 30).days, kHotWindowDays);
  // Wraps inside the span: first days 0..351 for 14-day windows in 365 days.
  EXPECT_EQ(HotWindowAt(350, 30, 30).first_day, (350 + 14) % 352);
  for (double t = 0; t < 10000; t += 7) {
    const auto w = HotWindowAt(300, t, 30);
    EXPECT_GE(w.first_day, 0);
    EXPECT_LE(w.first_day + w.days, kSpanDays);
  }
}

TEST(Transactions, MixFollowsWriteRatio) {
  Rng rng(3);
  std::map<TxnKind, int> counts;
  for (int i = 0; i < 100000; ++i) ++counts[ChooseKind(rng, 0.2)];
  const double writes = counts[TxnKind::kInsertOrder] + counts[TxnKind::kUpdateStatus];
  EXPECT_NEAR(writes / 100000, 0.2, 0.01);
  EXPECT_NEAR(counts[TxnKind::kInsertOrder] / writes, 0.7, 0.02);
  EXPECT_NEAR(counts[TxnKind::kOrdersByFilter] / 100000.0, 0.4, 0.01);
  for (TxnKind k : kAllKinds) EXPECT_GT(counts[k], 0) << KindName(k);
  Rng only_reads(3);
  for (int i = 0; i < 1000; ++i) {
    const auto k = ChooseKind(only_reads, 0);
    EXPECT_NE(k, TxnKind::kInsertOrder);
    EXPECT_NE(k, TxnKind::kUpdateStatus);
  }
}

TEST(Transactions, FilterQueryUsesThePreferredColumnAndHotWindow) {
  TenantProfile p = MakeProfile(1, {7, 100, 200, 25});
  const HotWindow w{40, 14};
  IdSequence orders{1000, 4}, events{5000, 4};
  Rng rng(1);
  p.preferred = FilterColumn::kCreatedAt;
  auto sql = MakeTxn(rng, TxnKind::kOrdersByFilter, p, w, orders, events).statements.at(0);
  EXPECT_NE(sql.find("tenant_id = 7 AND created_at >= '2024-02-"), std::string::npos) << sql;  // days 40..53
  p.preferred = FilterColumn::kCustomerId;
  sql = MakeTxn(rng, TxnKind::kOrdersByFilter, p, w, orders, events).statements.at(0);
  EXPECT_NE(sql.find("tenant_id = 7 AND customer_id = "), std::string::npos) << sql;
  p.preferred = FilterColumn::kStatus;
  sql = MakeTxn(rng, TxnKind::kOrdersByFilter, p, w, orders, events).statements.at(0);
  EXPECT_NE(sql.find("tenant_id = 7 AND status = '"), std::string::npos) << sql;
  const auto point = MakeTxn(rng, TxnKind::kOrderPoint, p, w, orders, events);
  EXPECT_FALSE(point.explicit_transaction);
  const auto id = std::stoll(point.statements[0].substr(point.statements[0].rfind('=') + 1));
  EXPECT_GE(id, 100);
  EXPECT_LE(id, 200);
}

TEST(Transactions, InsertOrderIsOneTransactionWithFreshIds) {
  const TenantProfile p = MakeProfile(1, {7, 100, 200, 25});
  IdSequence orders{1001, 4}, events{5002, 4};
  Rng rng(5);
  const auto txn = MakeTxn(rng, TxnKind::kInsertOrder, p, {40, 14}, orders, events);
  EXPECT_TRUE(txn.explicit_transaction);
  ASSERT_EQ(txn.statements.size(), 3u);
  EXPECT_EQ(txn.orders, 1);
  EXPECT_EQ(txn.events, 1);
  EXPECT_GE(txn.order_items, 1);
  EXPECT_NE(txn.statements[0].find("VALUES (7, 1001, "), std::string::npos) << txn.statements[0];
  EXPECT_NE(txn.statements[0].find("'2024-02-23 "), std::string::npos) << txn.statements[0];  // last day, 53
  EXPECT_NE(txn.statements[2].find("VALUES (7, 5002, "), std::string::npos) << txn.statements[2];
  EXPECT_EQ(orders.next, 1005);
  EXPECT_EQ(events.next, 5006);
  const auto update = MakeTxn(rng, TxnKind::kUpdateStatus, p, {40, 14}, orders, events);
  EXPECT_TRUE(update.explicit_transaction);
  EXPECT_EQ(update.events, 1);
  EXPECT_EQ(update.orders, 0);
  EXPECT_EQ(update.statements[0].rfind("UPDATE orders SET status = '", 0), 0u) << update.statements[0];
}

TEST(Report, NearestRankPercentiles) {
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  EXPECT_DOUBLE_EQ(Percentile(v, 50), 50);
  EXPECT_DOUBLE_EQ(Percentile(v, 95), 95);
  EXPECT_DOUBLE_EQ(Percentile(v, 99), 99);
  EXPECT_DOUBLE_EQ(Percentile(v, 100), 100);
  EXPECT_DOUBLE_EQ(Percentile({}, 50), 0);
  EXPECT_DOUBLE_EQ(Percentile({7}, 99), 7);
  const auto s = Summarize({5, 1, 3, 2, 4});
  EXPECT_EQ(s.count, 5);
  EXPECT_DOUBLE_EQ(s.p50_ms, 3);
  EXPECT_DOUBLE_EQ(s.max_ms, 5);
  EXPECT_DOUBLE_EQ(s.mean_ms, 3);
}

TEST(Report, MergesClientsAndRenders) {
  Tally a, b;
  a.transactions = 3;
  a.latencies_ms["order_point"] = {1, 2, 3};
  a.tenant_transactions = {{1, 2}, {2, 1}};
  a.inserted_orders = 1;
  b.transactions = 1;
  b.latencies_ms["insert_order"] = {10};
  b.tenant_transactions = {{1, 1}};
  b.AddError("insert_order", "23505", "duplicate key");
  b.AddError("insert_order", "23505", "second message");
  a.Merge(b);
  RunInfo info;
  info.clients = 2;
  info.elapsed_s = 2;
  const auto r = ReportJson(info, a, 1);
  EXPECT_EQ(r["transactions"], 4);
  EXPECT_EQ(r["errors"], 2);
  EXPECT_DOUBLE_EQ(r["tps"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(r["latency_ms"]["max"].get<double>(), 10);
  EXPECT_EQ(r["kinds"]["insert_order"]["errors"], 2);
  EXPECT_EQ(r["kinds"]["order_point"]["transactions"], 3);
  ASSERT_EQ(r["top_tenants"].size(), 1u);
  EXPECT_EQ(r["top_tenants"][0]["tenant"], 1);
  EXPECT_EQ(r["top_tenants"][0]["transactions"], 3);
  EXPECT_EQ(r["errors_by_sqlstate"][0]["sqlstate"], "23505");
  EXPECT_EQ(r["errors_by_sqlstate"][0]["count"], 2);
  EXPECT_EQ(r["errors_by_sqlstate"][0]["message"], "duplicate key");
  EXPECT_EQ(r["inserted"]["orders"], 1);
  const std::string text = ReportText(r);
  EXPECT_NE(text.find("transactions 4  errors 2  tps 2.0"), std::string::npos) << text;
  EXPECT_NE(text.find("23505"), std::string::npos) << text;
  EXPECT_NE(text.find("insert_order"), std::string::npos) << text;
  EXPECT_EQ(IntervalLine(5, 2, 10, 1, {1, 2}), "[   5.0s] tps      5.0 | errors 1 | p50 1.00 ms p99 2.00 ms");
}

TEST(ConnInfo, QuotesValues) {
  EXPECT_EQ(ConnInfo("127.0.0.1", 6432, "mosaic", "mosaic"),
            "host='127.0.0.1' port='6432' user='mosaic' dbname='mosaic'");
  EXPECT_EQ(ConnInfo("h", 0, "o'neil", ""), "host='h' user='o\\'neil'");
}

}  // namespace
}  // namespace mosaic::workload
