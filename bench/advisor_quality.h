// The advisor's quality benchmark, shared by bench/advisor_quality_bench.cc and
// tests/unit/advisor_quality_test.cc: a deterministic generator of synthetic tenant windows with
// known structure, and the yardsticks the advisor's plan is measured against:
//
//  - an exact reference optimum (own code, independent of advisor/partition.*): the lowest
//    imbalance over every layout of the tenant's table group with at most R ranges cut at the
//    generator's candidate boundaries (those more than half the group's statement cost straddles
//    excluded, the rule the issue sets) and every assignment of ranges to nodes; brute force over
//    the cuts, branch and bound over the assignments;
//  - static tenant-hash placement: the tenant whole on ShardMap::TenantHomeNode;
//  - a CockroachDB-style load-based split: split the hottest range at the balancing median of
//    sampled request keys while it carries more than a node's fair share of the tenant, reject a
//    split key more than half the range's sampled requests span, place ranges heaviest first on
//    the least loaded node.
//
// All layouts are scored by the engine's what-if (EvaluateLayouts), so every number is in the
// engine's load model; the reference also computes its optimum in its own arithmetic and the two
// must agree (ReferenceCheck).
//
// The generated world works in "value space": integer keys (customer ids) or days since
// 1970-01-01 (timestamps at midnight UTC). Every heat histogram and every quantile list is
// piecewise uniform between grid points the generator knows, so the share of any interval is
// exact in the reference arithmetic too.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "advisor/engine.h"
#include "router/keys.h"

namespace mosaic::advisor::quality {

enum class Shape : uint8_t {
  kCustomers,  // orders + order_items joined on customer_id; Zipf heat on customer ids
  kDates,      // events: range filters on created_at, hot on the most recent days
};

struct FamilySpec {
  std::string name;
  Shape shape = Shape::kCustomers;
  std::vector<double> capacities = {1, 1, 1, 1};
  int background_tenants = 200;   // small tenants, each whole on its hash node
  double background_share = 0.3;  // of the cluster's cost and bytes
  double zipf_s = 1.1;            // Zipf exponent of the key heat (kCustomers)
  int keys = 100'000;             // customer ids 1..keys (kCustomers)
  int hot_keys = 24;              // hottest keys given their own histogram bucket (kCustomers)
  int coarse_buckets = 32;        // buckets for the rest of the key line
  int quantiles = 16;             // data distribution quantile intervals
  int hot_days = 14;              // kDates: the hot recent window
  double hot_share = 0.8;         // kDates: share of the heat in the hot window
  int max_ranges = 4;             // the tenant's profile (coarse)
  uint32_t seed = 1;
};

// A piecewise-uniform weight over value space: weights[i] spread evenly on [edges[i], edges[i+1]).
struct Piecewise {
  std::vector<int64_t> edges;
  std::vector<double> weights;

  double Total() const { return std::accumulate(weights.begin(), weights.end(), 0.0); }
  // Weight in [lo, hi) (values; lo/hi may lie outside the edges).
  double Between(double lo, double hi) const {
    double w = 0;
    for (size_t i = 0; i + 1 < edges.size(); ++i) {
      const double a = std::max(lo, static_cast<double>(edges[i])), b = std::min(hi, static_cast<double>(edges[i + 1]));
      if (b > a) w += weights[i] * (b - a) / static_cast<double>(edges[i + 1] - edges[i]);
    }
    return w;
  }
  double Share(double lo, double hi) const {
    const double t = Total();
    return t > 0 ? Between(lo, hi) / t : 0;
  }
};

// A sampled request on the range column: a point (lo == hi) or a span [lo, hi).
struct Request {
  int64_t lo = 0, hi = 0;
  double weight = 1;
};

// One generated family: the cluster, the tenant's window and statistics, and what the reference
// needs to know about the truth.
struct Family {
  FamilySpec spec;
  catalog::ShardMap map;
  std::vector<NodeLoad> background;
  TenantInput input;
  Profile profile;
  std::string column;                  // the column the advisor should choose
  router::KeyType key_type = router::KeyType::kInt;
  std::string column_type;
  std::vector<int64_t> group_table_ids;
  std::vector<int64_t> grid;           // candidate boundaries (values), ascending, incl. both ends
  std::vector<double> segment_load;    // the tenant's load (cluster share) on [grid[i], grid[i+1])
  std::vector<double> straddle;        // per grid point: share of the group's cost whose spans straddle it
  std::vector<Request> requests;       // sampled requests (for the load-split heuristic)
  double tenant_load = 0;              // sum of segment_load
};

inline std::string EncodeValue(router::KeyType type, int64_t v) {
  if (type == router::KeyType::kInt) return router::EncodeKey(type, std::to_string(v)).value();
  const std::chrono::year_month_day d{std::chrono::sys_days{std::chrono::days{v}}};
  return router::EncodeKey(type, fmt::format("{:04}-{:02}-{:02} 00:00:00+00", static_cast<int>(d.year()),
                                             static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day())))
      .value();
}

inline int64_t DayNumber(int y, unsigned m, unsigned d) {
  return std::chrono::sys_days{std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}}.time_since_epoch().count();
}

// Quantile points q[0..n] of a piecewise-uniform weight (values; rounded to integers, strictly
// ascending): each interval holds ~1/n of it. The reference then reads the data distribution
// back from these points exactly as the engine does (1/n per interval, uniform inside).
inline std::vector<int64_t> QuantilePoints(const Piecewise& p, int n) {
  std::vector<int64_t> q{p.edges.front()};
  const double total = p.Total();
  double below = 0;
  size_t i = 0;
  for (int k = 1; k < n; ++k) {
    const double want = total * k / n;
    while (i + 1 < p.edges.size() && below + p.weights[i] < want) below += p.weights[i++];
    if (i + 1 >= p.edges.size()) break;
    const double frac = p.weights[i] > 0 ? (want - below) / p.weights[i] : 0;
    const auto v = static_cast<int64_t>(std::llround(static_cast<double>(p.edges[i]) + frac * static_cast<double>(p.edges[i + 1] - p.edges[i])));
    if (v > q.back() && v < p.edges.back()) q.push_back(v);
  }
  q.push_back(p.edges.back());
  return q;
}

inline Piecewise FromQuantiles(const std::vector<int64_t>& q) {
  Piecewise p{q, std::vector<double>(q.size() - 1, 1.0)};
  return p;
}

inline catalog::Table MakeTable(int64_t id, const std::string& name, std::vector<catalog::Column> columns) {
  catalog::Table t;
  t.id = id;
  t.name = name;
  t.kind = catalog::TableKind::kDistributed;
  t.tenant_column = "tenant_id";
  t.columns = {{"tenant_id", "int4", 23}};
  t.columns.insert(t.columns.end(), columns.begin(), columns.end());
  return t;
}

namespace detail {

// Per table of the group: its cost (statement cost shared by the tables a statement touches),
// bytes, rows, heat and data distribution on the range column.
struct TableTruth {
  std::string name;
  double cost = 0, bytes = 0, rows = 0;
  Piecewise heat, data;
};

inline StatementStats Stmt(std::string fp, double cost, std::vector<std::string> tables, std::vector<ColumnFilter> filters,
                           bool write = false) {
  StatementStats s;
  s.fingerprint = std::move(fp);
  s.cost = cost;
  s.calls = cost * 20;
  s.write = write;
  s.tables = std::move(tables);
  s.filters = std::move(filters);
  return s;
}

// Draws a value from a piecewise-uniform weight.
inline int64_t Draw(const Piecewise& p, std::mt19937_64& rng) {
  std::discrete_distribution<size_t> pick(p.weights.begin(), p.weights.end());
  const size_t i = pick(rng);
  std::uniform_int_distribution<int64_t> in(p.edges[i], p.edges[i + 1] - 1);
  return in(rng);
}

}  // namespace detail

// Builds the family. Deterministic for a spec (fixed seeds, no clock).
inline Family Generate(const FamilySpec& spec) {
  using detail::Stmt;
  Family f;
  f.spec = spec;
  std::mt19937_64 rng(spec.seed);
  // Nodes with capacities; the tables of both shapes.
  f.map.version = 1;
  for (size_t i = 0; i < spec.capacities.size(); ++i) {
    catalog::Node n;
    n.id = static_cast<int>(i) + 1;
    n.capacity = spec.capacities[i];
    f.map.nodes.push_back(n);
  }
  f.map.tables.push_back(MakeTable(1, "orders", {{"order_id", "int8", 20}, {"customer_id", "int8", 20}, {"created_at", "timestamptz", 1184}}));
  f.map.tables.push_back(MakeTable(2, "order_items", {{"order_id", "int8", 20}, {"customer_id", "int8", 20}, {"sku", "text", 25}}));
  f.map.tables.push_back(MakeTable(3, "events", {{"event_id", "int8", 20}, {"customer_id", "int8", 20}, {"created_at", "timestamptz", 1184}}));
  const std::string tenant = spec.shape == Shape::kCustomers ? "7001" : "7002";
  f.map.tenants.push_back({tenant, ""});
  for (int b = 0; b < spec.background_tenants; ++b) f.map.tenants.push_back({std::to_string(1000 + b), ""});
  f.map.BuildIndex();
  f.input.tenant = tenant;
  f.profile.name = "coarse";
  f.profile.degree = ShardingDegree::kCoarse;
  f.profile.max_ranges = spec.max_ranges;

  std::vector<detail::TableTruth> group;
  std::vector<StatementStats>& stmts = f.input.workload.statements;
  std::vector<Request> spans;  // the range filters' observed spans on the range column
  double range_cost = 0;       // cost of the statements carrying `spans`
  if (spec.shape == Shape::kCustomers) {
    f.column = "customer_id";
    f.key_type = router::KeyType::kInt;
    f.column_type = "int8";
    f.group_table_ids = {1, 2};
    // Zipf over key ranks; rank r is the customer id a fixed permutation gives it. The hottest
    // keys get a bucket of their own, the rest of the line coarse buckets.
    std::vector<int64_t> ids(static_cast<size_t>(spec.keys));
    std::iota(ids.begin(), ids.end(), 1);
    std::shuffle(ids.begin(), ids.end(), rng);
    double zipf_total = 0;
    for (int r = 1; r <= spec.keys; ++r) zipf_total += std::pow(r, -spec.zipf_s);
    std::vector<std::pair<int64_t, double>> hot;
    double hot_total = 0;
    for (int r = 1; r <= spec.hot_keys; ++r) {
      const double w = std::pow(r, -spec.zipf_s) / zipf_total;
      hot.push_back({ids[static_cast<size_t>(r - 1)], w});
      hot_total += w;
    }
    std::sort(hot.begin(), hot.end());
    std::vector<int64_t> edges;
    for (int b = 0; b <= spec.coarse_buckets; ++b) edges.push_back(1 + int64_t{spec.keys} * b / spec.coarse_buckets);
    for (const auto& [id, w] : hot) edges.push_back(id), edges.push_back(id + 1);
    std::sort(edges.begin(), edges.end());
    edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
    Piecewise heat{edges, std::vector<double>(edges.size() - 1, 0)};
    const double cold_per_key = (1 - hot_total) / (spec.keys - spec.hot_keys);
    for (size_t i = 0; i + 1 < edges.size(); ++i) {
      auto it = std::find_if(hot.begin(), hot.end(), [&](auto& h) { return h.first == edges[i] && edges[i + 1] == edges[i] + 1; });
      heat.weights[i] = it != hot.end() ? it->second : cold_per_key * static_cast<double>(edges[i + 1] - edges[i]);
    }
    // Rows: more rows for lower ids (older customers), in 4 steps.
    Piecewise rows{{1, 1 + spec.keys / 4, 1 + spec.keys / 2, 1 + 3 * spec.keys / 4, 1 + spec.keys}, {4, 3, 2, 1}};
    const auto q = QuantilePoints(rows, spec.quantiles);
    group.push_back({"public.orders", 0, 6e9, 4e7, heat, FromQuantiles(q)});
    group.push_back({"public.order_items", 0, 9e9, 1.2e8, heat, FromQuantiles(q)});
    // Statements: 55% orders by customer, 25% the join by customer, 12% orders by created_at
    // ranges, 8% item inserts.
    std::vector<KeySpan> points;
    for (int k = 0; k < 64; ++k) {
      const int64_t v = detail::Draw(heat, rng);
      points.push_back({EncodeValue(f.key_type, v), EncodeValue(f.key_type, v), 1});
    }
    stmts.push_back(Stmt("SELECT orders WHERE customer_id = $1", 550, {"orders"}, {{"orders", "customer_id", FilterOp::kEq, points}}));
    StatementStats join = Stmt("SELECT orders JOIN order_items USING (customer_id) WHERE customer_id = $1", 250,
                               {"orders", "order_items"}, {{"orders", "customer_id", FilterOp::kEq, points}});
    join.joins = {{"orders", "customer_id", "order_items", "customer_id", 1}};
    stmts.push_back(join);
    stmts.push_back(Stmt("SELECT orders WHERE created_at >= $1", 120, {"orders"}, {{"orders", "created_at", FilterOp::kRange, {}}}));
    stmts.push_back(Stmt("INSERT INTO order_items", 80, {"order_items"}, {{"order_items", "customer_id", FilterOp::kEq, points}}, true));
    f.input.workload.joins.push_back({"orders", "customer_id", "order_items", "customer_id", 250});
    // The created_at heat of orders (a candidate column; invalid here, the join is on customer_id).
    const int64_t y0 = DayNumber(2026, 1, 1), y1 = DayNumber(2027, 1, 1);
    f.input.workload.heat.push_back({"orders", "created_at", {{EncodeValue(router::KeyType::kTimestampTz, y0),
                                                                EncodeValue(router::KeyType::kTimestampTz, y1), 120}}});
    for (int k = 0; k < 2000; ++k) {
      const int64_t v = detail::Draw(heat, rng);
      f.requests.push_back({v, v, 1});
    }
  } else {
    f.column = "created_at";
    f.key_type = router::KeyType::kTimestampTz;
    f.column_type = "timestamptz";
    f.group_table_ids = {3};
    // A year of days: weekly buckets, daily ones over the hot window at its end.
    const int64_t y0 = DayNumber(2026, 1, 1), y1 = DayNumber(2027, 1, 1);
    const int64_t hot0 = y1 - spec.hot_days;
    std::vector<int64_t> edges;
    for (int64_t d = y0; d < hot0; d += 7) edges.push_back(d);
    for (int64_t d = hot0; d <= y1; ++d) edges.push_back(d);
    Piecewise heat{edges, std::vector<double>(edges.size() - 1, 0)};
    const double cold = (1 - spec.hot_share) / static_cast<double>(hot0 - y0);
    for (size_t i = 0; i + 1 < edges.size(); ++i) {
      const double len = static_cast<double>(edges[i + 1] - edges[i]);
      if (edges[i] >= hot0) {
        // Hotter towards today: day j of the window weighs j + 1.
        const double j = static_cast<double>(edges[i] - hot0);
        heat.weights[i] = spec.hot_share * (j + 1) / (spec.hot_days * (spec.hot_days + 1) / 2.0);
      } else {
        heat.weights[i] = cold * len;
      }
    }
    // Rows grow through the year (a growing business): quarterly steps 1:2:3:4.
    Piecewise rows{{y0, y0 + 90, y0 + 181, y0 + 273, y1}, {1, 2, 3, 4}};
    const auto q = QuantilePoints(rows, spec.quantiles);
    group.push_back({"public.events", 0, 2e10, 2e8, heat, FromQuantiles(q)});
    // Statements: 75% range scans of one day (one in eight of a week), 10% by customer_id, 15%
    // inserts at the newest day.
    std::vector<KeySpan> day_spans;
    for (int k = 0; k < 96; ++k) {
      const int64_t d = detail::Draw(heat, rng);
      const int64_t len = k % 8 == 0 ? 7 : 1;
      day_spans.push_back({EncodeValue(f.key_type, d), EncodeValue(f.key_type, d + len), 1});
      spans.push_back({d, d + len, 1});
    }
    range_cost = 750;
    std::vector<KeySpan> today{{EncodeValue(f.key_type, y1 - 1), EncodeValue(f.key_type, y1 - 1), 1}};
    stmts.push_back(Stmt("SELECT events WHERE created_at >= $1 AND created_at < $2", 750, {"events"},
                         {{"events", "created_at", FilterOp::kRange, day_spans}}));
    stmts.push_back(Stmt("SELECT events WHERE customer_id = $1", 100, {"events"}, {{"events", "customer_id", FilterOp::kEq, {}}}));
    stmts.push_back(Stmt("INSERT INTO events", 150, {"events"}, {{"events", "created_at", FilterOp::kEq, today}}, true));
    // Customer-id heat too (a candidate column): uniform, in 16 buckets (with one bucket the
    // column could not be split at all, and the engine would score it as wholly single-node).
    ColumnHeat by_customer{"events", "customer_id", {}};
    for (int b = 0; b < 16; ++b) {
      by_customer.buckets.push_back({EncodeValue(router::KeyType::kInt, 1 + 3125 * b), EncodeValue(router::KeyType::kInt, 1 + 3125 * (b + 1)), 100.0 / 16});
    }
    f.input.workload.heat.push_back(std::move(by_customer));
    for (int k = 0; k < 2000; ++k) {
      const int64_t d = detail::Draw(heat, rng);
      const int64_t len = k % 8 == 0 ? 7 : (k % 10 < 7 ? 1 : 0);
      f.requests.push_back({d, d + len, 1});
    }
  }
  // Table costs as the engine shares them, heat and statistics into the input.
  for (auto& t : group) {
    for (const auto& s : stmts) {
      if (std::find(s.tables.begin(), s.tables.end(), t.name.substr(7)) != s.tables.end()) {
        t.cost += s.Weight() / static_cast<double>(s.tables.size());
      }
    }
    ColumnHeat h{t.name.substr(7), f.column, {}};
    for (size_t i = 0; i + 1 < t.heat.edges.size(); ++i) {
      h.buckets.push_back({EncodeValue(f.key_type, t.heat.edges[i]), EncodeValue(f.key_type, t.heat.edges[i + 1]), t.heat.weights[i]});
    }
    f.input.workload.heat.push_back(std::move(h));
    ColumnDistribution dist{f.column, {}};
    for (int64_t v : t.data.edges) dist.quantiles.push_back(EncodeValue(f.key_type, v));
    f.input.stats.push_back({t.name.substr(7), t.rows, t.bytes, {dist}});
  }
  // Background: small tenants with lognormal cost and bytes, each on its hash node, scaled to
  // background_share of the cluster.
  double tenant_cost = 0, tenant_bytes = 0;
  for (const auto& t : group) tenant_cost += t.cost, tenant_bytes += t.bytes;
  std::lognormal_distribution<double> size(0, 1);
  std::vector<double> bc(f.map.nodes.size(), 0), bb(f.map.nodes.size(), 0);
  double sum_c = 0, sum_b = 0;
  for (int b = 0; b < spec.background_tenants; ++b) {
    const int node = f.map.TenantHomeNode(std::to_string(1000 + b));
    const double c = size(rng), by = size(rng);
    bc[static_cast<size_t>(node - 1)] += c;
    bb[static_cast<size_t>(node - 1)] += by;
    sum_c += c, sum_b += by;
  }
  const double want_c = tenant_cost * spec.background_share / (1 - spec.background_share);
  const double want_b = tenant_bytes * spec.background_share / (1 - spec.background_share);
  for (size_t i = 0; i < f.map.nodes.size(); ++i) {
    f.background.push_back({f.map.nodes[i].id, sum_c > 0 ? bc[i] * want_c / sum_c : 0, sum_b > 0 ? bb[i] * want_b / sum_b : 0});
  }
  // The reference's view: the grid (every heat and quantile edge of the group), the tenant's load
  // per grid segment in the engine's load model (shares of the cluster, weights 1/2 and 1/2).
  for (const auto& t : group) {
    f.grid.insert(f.grid.end(), t.heat.edges.begin(), t.heat.edges.end());
    f.grid.insert(f.grid.end(), t.data.edges.begin(), t.data.edges.end());
  }
  std::sort(f.grid.begin(), f.grid.end());
  f.grid.erase(std::unique(f.grid.begin(), f.grid.end()), f.grid.end());
  const double cluster_cost = tenant_cost + want_c, cluster_bytes = tenant_bytes + want_b;
  for (size_t i = 0; i + 1 < f.grid.size(); ++i) {
    const double lo = static_cast<double>(f.grid[i]), hi = static_cast<double>(f.grid[i + 1]);
    double load = 0;
    for (const auto& t : group) {
      load += 0.5 * t.cost * t.heat.Share(lo, hi) / cluster_cost + 0.5 * t.bytes * t.data.Share(lo, hi) / cluster_bytes;
    }
    f.segment_load.push_back(load);
    f.tenant_load += load;
  }
  // Straddling cost per grid point: statements touching the group with observed spans on the
  // column, each span weighing its statement's cost over the filter's span count.
  double group_cost = 0;
  for (const auto& s : stmts) group_cost += s.Weight();
  f.straddle.assign(f.grid.size(), 0);
  for (size_t g = 0; g < f.grid.size(); ++g) {
    double w = 0;
    for (const auto& sp : spans) {
      if (sp.lo < f.grid[g] && f.grid[g] < sp.hi) w += range_cost / static_cast<double>(spans.size());
    }
    f.straddle[g] = group_cost > 0 ? w / group_cost : 0;
  }
  return f;
}

// A layout of the family's group: cuts at grid values, one node per range.
inline catalog::Layout MakeLayout(const Family& f, const std::vector<int64_t>& cuts, const std::vector<int>& nodes) {
  catalog::Layout l;
  l.tenant = f.input.tenant;
  l.table_ids = f.group_table_ids;
  l.column = f.column;
  l.column_type = f.column_type;
  l.key_type = f.key_type;
  for (size_t r = 0; r < nodes.size(); ++r) {
    catalog::Range range;
    if (r > 0) range.lower_key = EncodeValue(f.key_type, cuts[r - 1]);
    if (r < cuts.size()) range.upper_key = EncodeValue(f.key_type, cuts[r]);
    range.node_id = nodes[r];
    l.ranges.push_back(std::move(range));
  }
  return l;
}

// Background load shares per node and capacity shares, in the engine's model.
struct NodeView {
  std::vector<int> ids;
  std::vector<double> background;  // load share
  std::vector<double> capacity;    // capacity share
};

inline NodeView Nodes(const Family& f) {
  NodeView v;
  double cost = 0, bytes = 0, cap = 0;
  for (const auto& t : f.input.stats) bytes += t.bytes;
  for (const auto& s : f.input.workload.statements) cost += s.Weight();
  for (const auto& b : f.background) cost += b.cost, bytes += b.bytes;
  for (const auto& n : f.map.nodes) cap += n.capacity;
  for (size_t i = 0; i < f.map.nodes.size(); ++i) {
    v.ids.push_back(f.map.nodes[i].id);
    v.background.push_back(0.5 * f.background[i].cost / cost + 0.5 * f.background[i].bytes / bytes);
    v.capacity.push_back(f.map.nodes[i].capacity / cap);
  }
  return v;
}

struct Reference {
  double imbalance = 0;         // the exact optimum, in the reference's arithmetic
  std::vector<int64_t> cuts;    // its boundaries (values)
  std::vector<int> nodes;       // its nodes (ids), per range
  size_t candidates = 0;        // cut points considered
};

namespace detail {

// The lowest max relative node load for `parts` on the nodes (branch and bound; parts heaviest
// first), below `best`; fills `assign` when it improves.
inline void Assign(const std::vector<double>& parts, const std::vector<size_t>& order, size_t k, std::vector<double>& load,
                   const NodeView& v, double current, double& best, std::vector<size_t>& pick, std::vector<size_t>& assign) {
  if (current >= best) return;
  if (k == order.size()) {
    best = current;
    assign = pick;
    return;
  }
  for (size_t n = 0; n < load.size(); ++n) {
    load[n] += parts[order[k]];
    pick[order[k]] = n;
    Assign(parts, order, k + 1, load, v, std::max(current, load[n] / v.capacity[n]), best, pick, assign);
    load[n] -= parts[order[k]];
  }
}

}  // namespace detail

// The exact optimum over layouts with at most `ranges` ranges (see the top of the file).
inline Reference ExactOptimum(const Family& f, int ranges) {
  const NodeView v = Nodes(f);
  std::vector<size_t> cands;  // grid indexes usable as cuts
  for (size_t g = 1; g + 1 < f.grid.size(); ++g) {
    if (f.straddle[g] <= 0.5 + 1e-12) cands.push_back(g);
  }
  std::vector<double> prefix{0};
  for (double l : f.segment_load) prefix.push_back(prefix.back() + l);
  const double total = prefix.back();
  double base = 0;
  for (size_t n = 0; n < v.ids.size(); ++n) base = std::max(base, v.background[n] / v.capacity[n]);
  Reference ref;
  ref.candidates = cands.size();
  double best = std::numeric_limits<double>::infinity();
  std::vector<size_t> chosen, best_cuts, best_assign;
  // Enumerate cut sets of size 0..ranges-1 (ascending candidate indexes).
  std::vector<double> parts;
  std::function<void(size_t, size_t)> rec = [&](size_t from, size_t prev_grid) {
    // Close the partition here: the last part runs to the end.
    parts.push_back(total - prefix[prev_grid]);
    std::vector<size_t> order(parts.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return parts[a] > parts[b]; });
    std::vector<double> load = v.background;
    std::vector<size_t> pick(parts.size()), assign;
    double b = best;
    detail::Assign(parts, order, 0, load, v, base, b, pick, assign);
    if (b < best) best = b, best_cuts = chosen, best_assign = assign;
    parts.pop_back();
    if (static_cast<int>(chosen.size()) + 1 >= ranges) return;
    for (size_t c = from; c < cands.size(); ++c) {
      const double part = prefix[cands[c]] - prefix[prev_grid];
      // A part no node can take below `best` prunes this and every later cut (parts only grow).
      double floor_rel = std::numeric_limits<double>::infinity();
      for (size_t n = 0; n < v.ids.size(); ++n) floor_rel = std::min(floor_rel, (v.background[n] + part) / v.capacity[n]);
      if (floor_rel >= best) break;
      chosen.push_back(cands[c]);
      parts.push_back(part);
      rec(c + 1, cands[c]);
      parts.pop_back();
      chosen.pop_back();
    }
  };
  rec(0, 0);
  ref.imbalance = best;
  for (size_t g : best_cuts) ref.cuts.push_back(f.grid[g]);
  for (size_t n : best_assign) ref.nodes.push_back(v.ids[n]);
  return ref;
}

// The lowest heaviest-range load over partitions into at most `ranges` ranges at the same
// candidate cuts, ignoring nodes (the split-point optimum the engine computes): a plain
// O(ranges * cuts^2) dynamic program, independent of advisor/partition.*.
inline double ExactRangeOptimum(const Family& f, int ranges) {
  std::vector<size_t> pts{0};
  for (size_t g = 1; g + 1 < f.grid.size(); ++g) {
    if (f.straddle[g] <= 0.5 + 1e-12) pts.push_back(g);
  }
  pts.push_back(f.grid.size() - 1);
  std::vector<double> prefix{0};
  for (double l : f.segment_load) prefix.push_back(prefix.back() + l);
  const double inf = std::numeric_limits<double>::infinity();
  // best[j]: the lowest heaviest part covering [grid[0], grid[pts[j]]) with k parts.
  std::vector<double> best(pts.size(), inf);
  for (size_t j = 0; j < pts.size(); ++j) best[j] = prefix[pts[j]];
  for (int k = 2; k <= ranges; ++k) {
    std::vector<double> next = best;
    for (size_t j = 1; j < pts.size(); ++j) {
      for (size_t i = 1; i < j; ++i) next[j] = std::min(next[j], std::max(best[i], prefix[pts[j]] - prefix[pts[i]]));
    }
    best = std::move(next);
  }
  return best.back();
}

// The tenant's load in [lo, hi) of value space, in the reference's arithmetic.
inline double LoadBetween(const Family& f, double lo, double hi) {
  double load = 0;
  for (size_t i = 0; i + 1 < f.grid.size(); ++i) {
    const double a = std::max(lo, static_cast<double>(f.grid[i])), b = std::min(hi, static_cast<double>(f.grid[i + 1]));
    if (b > a) load += f.segment_load[i] * (b - a) / static_cast<double>(f.grid[i + 1] - f.grid[i]);
  }
  return load;
}

// The CockroachDB-style load-based split and greedy placement (see the top of the file).
inline catalog::Layout LoadSplitLayout(const Family& f) {
  const NodeView v = Nodes(f);
  const double lo_all = static_cast<double>(f.grid.front()), hi_all = static_cast<double>(f.grid.back());
  struct R { double lo, hi, load; bool final; };
  std::vector<R> rs{{-std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(), f.tenant_load, false}};
  const double share = f.tenant_load / static_cast<double>(v.ids.size());
  while (static_cast<int>(rs.size()) < f.spec.max_ranges) {
    size_t hot = rs.size();
    for (size_t i = 0; i < rs.size(); ++i) {
      if (!rs[i].final && (hot == rs.size() || rs[i].load > rs[hot].load)) hot = i;
    }
    if (hot == rs.size() || rs[hot].load <= share) break;
    R& r = rs[hot];
    // Sampled requests starting in the range; the key that best balances them left and right.
    std::vector<const Request*> in;
    for (const auto& q : f.requests) {
      if (static_cast<double>(q.lo) >= r.lo && static_cast<double>(q.lo) < r.hi) in.push_back(&q);
    }
    std::vector<int64_t> keys;
    for (const auto* q : in) keys.push_back(q->lo), keys.push_back(q->lo + 1);
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    double total = 0;
    for (const auto* q : in) total += q->weight;
    int64_t split = 0;
    double best = std::numeric_limits<double>::infinity();
    for (int64_t k : keys) {
      if (static_cast<double>(k) <= r.lo || static_cast<double>(k) >= std::min(r.hi, hi_all)) continue;
      double left = 0;
      for (const auto* q : in) left += q->lo < k ? q->weight : 0;
      const double gap = std::abs(total - 2 * left);
      if (gap < best) best = gap, split = k;
    }
    double spanning = 0;
    for (const auto* q : in) spanning += q->lo < split && split < q->hi ? q->weight : 0;
    if (!std::isfinite(best) || spanning > 0.5 * total || static_cast<double>(split) <= lo_all) {
      r.final = true;
      continue;
    }
    const double s = static_cast<double>(split);
    R left{r.lo, s, LoadBetween(f, r.lo, s), false}, right{s, r.hi, LoadBetween(f, s, r.hi), false};
    rs[hot] = left;
    rs.insert(rs.begin() + static_cast<std::ptrdiff_t>(hot) + 1, right);
  }
  // Greedy placement, heaviest first, on the node with the lowest relative load after taking it.
  std::vector<size_t> order(rs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rs[a].load > rs[b].load; });
  std::vector<double> load = v.background;
  std::vector<int> nodes(rs.size());
  for (size_t i : order) {
    size_t best = 0;
    for (size_t n = 1; n < load.size(); ++n) {
      if ((load[n] + rs[i].load) / v.capacity[n] < (load[best] + rs[i].load) / v.capacity[best]) best = n;
    }
    load[best] += rs[i].load;
    nodes[i] = v.ids[best];
  }
  std::vector<int64_t> cuts;
  for (size_t i = 1; i < rs.size(); ++i) cuts.push_back(static_cast<int64_t>(rs[i].lo));
  return MakeLayout(f, cuts, nodes);
}

// Everything measured on one family.
struct Result {
  double advisor_imbalance = 0;      // the plan's layout by the engine's what-if
  double advisor_predicted = 0;      // plan.predicted.imbalance (must equal the what-if)
  double advisor_ranges = 0;
  double advisor_single_node = 0;
  bool column_ok = false;            // the advisor chose the family's column
  double optimum_imbalance = 0;      // the reference optimum's layout by the engine's what-if
  double optimum_reference = 0;      // the same in the reference's own arithmetic
  double advisor_max_range = 0;      // the heaviest range of the plan (reference arithmetic)
  double optimum_max_range = 0;      // ExactRangeOptimum for the plan's range count
  double hash_imbalance = 0;
  double loadsplit_imbalance = 0;
  double loadsplit_ranges = 0;
  double loadsplit_single_node = 0;
  size_t candidates = 0;
  std::string summary;
};

inline Result Measure(const Family& f) {
  Result out;
  const Plan plan = PlanTenant(f.map, f.background, f.input, f.profile);
  const Metrics adv = EvaluateLayouts(f.map, f.background, f.input, plan.layouts);
  out.advisor_imbalance = adv.imbalance;
  out.advisor_predicted = plan.predicted.imbalance;
  out.advisor_single_node = adv.single_node_share;
  out.advisor_ranges = 1;
  for (const auto& l : plan.layouts) {
    out.advisor_ranges = static_cast<double>(l.ranges.size());
    out.column_ok = l.column == f.column;
  }
  out.summary = plan.summary;
  // The plan's ranges in value space (its cuts are grid points: the engine cuts at distribution
  // points), their loads in the reference's arithmetic.
  for (const auto& l : plan.layouts) {
    for (const auto& r : l.ranges) {
      double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
      for (int64_t g : f.grid) {
        if (!r.lower_key.empty() && EncodeValue(f.key_type, g) == r.lower_key) lo = static_cast<double>(g);
        if (!r.upper_key.empty() && EncodeValue(f.key_type, g) == r.upper_key) hi = static_cast<double>(g);
      }
      out.advisor_max_range = std::max(out.advisor_max_range, LoadBetween(f, lo, hi));
    }
  }
  if (plan.layouts.empty()) out.advisor_max_range = f.tenant_load;
  out.optimum_max_range = ExactRangeOptimum(f, static_cast<int>(out.advisor_ranges));
  const Reference ref = ExactOptimum(f, static_cast<int>(out.advisor_ranges));
  out.candidates = ref.candidates;
  out.optimum_reference = ref.imbalance;
  out.optimum_imbalance = EvaluateLayouts(f.map, f.background, f.input, {MakeLayout(f, ref.cuts, ref.nodes)}).imbalance;
  out.hash_imbalance = EvaluateCurrent(f.map, f.background, f.input).imbalance;
  const catalog::Layout split = LoadSplitLayout(f);
  const Metrics ls = EvaluateLayouts(f.map, f.background, f.input, {split});
  out.loadsplit_imbalance = ls.imbalance;
  out.loadsplit_ranges = static_cast<double>(split.ranges.size());
  out.loadsplit_single_node = ls.single_node_share;
  return out;
}

}  // namespace mosaic::advisor::quality
