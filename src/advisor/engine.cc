// The recommendation engine: model building, column choice, split points, placement, actions.
#include "advisor/engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <numeric>
#include <set>
#include <unordered_map>

#include "advisor/key_distribution.h"
#include "advisor/partition.h"

namespace mosaic::advisor {
namespace {

using catalog::Layout;
using catalog::ShardMap;

std::string Qualified(std::string_view name) {
  return name.find('.') == std::string_view::npos ? "public." + std::string(name) : std::string(name);
}

// Interval helpers over keys where "" is unbounded (below for lowers, above for uppers).
const std::string& MaxLower(const std::string& a, const std::string& b) { return a.empty() ? b : (b.empty() ? a : std::max(a, b)); }
const std::string& MinUpper(const std::string& a, const std::string& b) { return a.empty() ? b : (b.empty() ? a : std::min(a, b)); }
bool NonEmpty(const std::string& lo, const std::string& hi) { return hi.empty() || lo < hi; }

// One table's ranges: bounds[i] is the upper key of range i (all but the last); nodes per range.
struct Placement {
  int tag = -1;  // tables with the same tag >= 0 share boundaries and nodes (a table group)
  std::string column;
  std::vector<std::string> bounds;
  std::vector<int> nodes;

  std::string Lower(size_t i) const { return i == 0 ? std::string() : bounds[i - 1]; }
  std::string Upper(size_t i) const { return i < bounds.size() ? bounds[i] : std::string(); }
  bool OneNode() const { return std::adjacent_find(nodes.begin(), nodes.end(), std::not_equal_to<>()) == nodes.end(); }
};

struct TableModel {
  const catalog::Table* table = nullptr;
  std::string name;  // schema.name
  double cost = 0, rows = 0, bytes = 0;
  std::map<std::string, KeyDistribution> heat, data;  // by column
  const Layout* current = nullptr;                    // nullptr: whole on `home`
  int home = 0;

  // The distribution to spread cost (heat first) or bytes (data first) along `column`.
  const KeyDistribution* Dist(const std::string& column, bool for_cost) const {
    const auto& first = for_cost ? heat : data;
    const auto& second = for_cost ? data : heat;
    for (const auto* m : {&first, &second}) {
      auto it = m->find(column);
      if (it != m->end() && !it->second.empty()) return &it->second;
    }
    return nullptr;
  }
  // Share of the table's cost or bytes in [lo, hi) of `column`; without a distribution, all of
  // it is taken to lie in the lowest range.
  double Share(const std::string& column, const std::string& lo, const std::string& hi, bool for_cost) const {
    const KeyDistribution* d = Dist(column, for_cost);
    if (d == nullptr) return lo.empty() ? 1.0 : 0.0;
    return d->Fraction(lo, hi);
  }
};

struct Model {
  const ShardMap* map = nullptr;
  const EngineOptions* options = nullptr;
  std::string tenant;
  std::vector<TableModel> tables;  // by name
  // Table name -> index in `tables`, under "schema.name" and, for schema public, also "name": the
  // inputs' names are looked up as written, without building the qualified name.
  std::map<std::string, size_t, std::less<>> index;
  std::vector<const StatementStats*> statements;  // touching at least one known table
  std::vector<JoinPair> joins;                    // between known tables, not on tenant columns
  std::map<int, NodeLoad> background;
  double cost_unit = 0, bytes_unit = 0;  // load = cost * cost_unit + bytes * bytes_unit
  double capacity = 0;                   // of all nodes
  double p99_ms = 0;                     // the tenant's observed p99 latency (0 = unknown)

  double Load(double cost, double bytes) const { return cost * cost_unit + bytes * bytes_unit; }
  double CapacityShare(const catalog::Node& n) const { return capacity > 0 ? n.capacity / capacity : 0; }
  const TableModel* Find(const std::string& name) const {
    auto it = index.find(name);
    return it == index.end() ? nullptr : &tables[it->second];
  }
};

bool TenantJoin(const Model& m, const JoinPair& j) {
  const TableModel* l = m.Find(j.left_table);
  const TableModel* r = m.Find(j.right_table);
  return l != nullptr && r != nullptr && !l->table->tenant_column.empty() &&
         j.left_column == l->table->tenant_column && j.right_column == r->table->tenant_column;
}

// Whether statement s touches a table of `group` (indexes into m.tables); with `only`, whether it
// touches no known table outside it either.
bool Touches(const Model& m, const StatementStats& s, const std::vector<size_t>& group, bool only = false) {
  bool any = false;
  for (const auto& t : s.tables) {
    auto it = m.index.find(t);
    if (it == m.index.end()) continue;
    const bool in = std::find(group.begin(), group.end(), it->second) != group.end();
    if (only && !in) return false;
    any = any || in;
  }
  return any;
}

// Sets the load of everything else on each node, and with it the load units (shares of the
// cluster's cost and bytes).
void SetBackground(Model& m, const std::vector<NodeLoad>& background) {
  m.background.clear();
  double cost = 0, bytes = 0;
  for (const auto& n : background) {
    m.background[n.node_id].cost += n.cost;
    m.background[n.node_id].bytes += n.bytes;
    cost += n.cost;
    bytes += n.bytes;
  }
  for (const auto& t : m.tables) {
    cost += t.cost;
    bytes += t.bytes;
  }
  const EngineOptions& options = *m.options;
  const double wq = cost > 0 ? options.query_weight : 0, ws = bytes > 0 ? options.size_weight : 0;
  m.cost_unit = m.bytes_unit = 0;
  if (wq + ws > 0) {
    m.cost_unit = cost > 0 ? wq / (wq + ws) / cost : 0;
    m.bytes_unit = bytes > 0 ? ws / (wq + ws) / bytes : 0;
  }
}

Model BuildModel(const ShardMap& map, const std::vector<NodeLoad>& background, const TenantInput& input,
                 const EngineOptions& options) {
  Model m;
  m.map = &map;
  m.options = &options;
  m.tenant = input.tenant;
  m.p99_ms = input.workload.p99_ms;
  const auto kind = input.tenant.empty() ? catalog::TableKind::kSingleTenant : catalog::TableKind::kDistributed;
  std::set<std::string> names;
  for (const auto& s : input.stats) names.insert(Qualified(s.table));
  for (const auto& s : input.workload.statements) {
    for (const auto& t : s.tables) names.insert(Qualified(t));
  }
  for (const auto& name : names) {
    auto dot = name.find('.');
    const catalog::Table* t = map.FindTable(name.substr(0, dot), name.substr(dot + 1));
    if (t == nullptr || t->kind != kind) continue;
    TableModel tm;
    tm.table = t;
    tm.name = name;
    tm.current = map.FindLayout(t->id, input.tenant);
    tm.home = map.TenantHomeNode(input.tenant);
    m.index[name] = m.tables.size();
    if (name.starts_with("public.")) m.index[name.substr(7)] = m.tables.size();
    m.tables.push_back(std::move(tm));
  }
  for (const auto& s : input.stats) {
    auto it = m.index.find(s.table);
    if (it == m.index.end()) continue;
    TableModel& t = m.tables[it->second];
    t.rows += s.rows;
    t.bytes += s.bytes;
    for (const auto& c : s.columns) t.data[c.column] = KeyDistribution::FromQuantiles(c.quantiles);
  }
  for (const auto& h : input.workload.heat) {
    auto it = m.index.find(h.table);
    if (it == m.index.end()) continue;
    TableModel& t = m.tables[it->second];
    auto rows = t.data.find(h.column);
    const bool by_rows = rows != t.data.end() && !rows->second.empty() &&
                         std::any_of(h.buckets.begin(), h.buckets.end(), [](const HeatBucket& b) { return b.by_rows; });
    t.heat[h.column] = KeyDistribution(by_rows ? SpreadByRows(h.buckets, rows->second) : h.buckets);
  }
  for (const auto& s : input.workload.statements) {
    std::vector<size_t> touched;
    for (const auto& t : s.tables) {
      auto it = m.index.find(t);
      if (it != m.index.end() && std::find(touched.begin(), touched.end(), it->second) == touched.end()) {
        touched.push_back(it->second);
      }
    }
    if (touched.empty()) continue;
    m.statements.push_back(&s);
    // A statement's cost is shared by the tables it touches.
    for (size_t i : touched) m.tables[i].cost += s.Weight() / static_cast<double>(touched.size());
    for (const auto& j : s.joins) m.joins.push_back(j);
  }
  for (const auto& j : input.workload.joins) m.joins.push_back(j);
  std::erase_if(m.joins, [&](const JoinPair& j) {
    return m.Find(j.left_table) == nullptr || m.Find(j.right_table) == nullptr || TenantJoin(m, j);
  });
  SetBackground(m, background);
  for (const auto& n : map.nodes) m.capacity += n.capacity;
  return m;
}

Placement PlacementOf(const Model& m, const TableModel& t) {
  Placement p;
  if (t.current == nullptr) {
    p.nodes = {t.home};
    return p;
  }
  p.tag = static_cast<int>(t.current->id);
  p.column = t.current->column;
  for (size_t i = 0; i < t.current->ranges.size(); ++i) {
    if (i + 1 < t.current->ranges.size()) p.bounds.push_back(t.current->ranges[i].upper_key);
    p.nodes.push_back(t.current->ranges[i].node_id);
  }
  (void)m;
  return p;
}

// Bytes of table t in [lo, hi) of `column` on each node under placement `cur`. Along another
// column than cur's, the two columns are taken as independent.
std::map<int, double> BytesOn(const TableModel& t, const Placement& cur, const std::string& column,
                              const std::string& lo, const std::string& hi) {
  std::map<int, double> out;
  const double share = t.Share(column, lo, hi, false);
  for (size_t i = 0; i < cur.nodes.size(); ++i) {
    const std::string ql = cur.Lower(i), qh = cur.Upper(i);
    double part = 0;
    if (cur.nodes.size() == 1) {
      part = share;
    } else if (cur.column == column) {
      const std::string& a = MaxLower(lo, ql);
      const std::string& b = MinUpper(hi, qh);
      part = NonEmpty(a, b) ? t.Share(column, a, b, false) : 0;
    } else {
      part = share * t.Share(cur.column, ql, qh, false);
    }
    if (part > 0) out[cur.nodes[i]] += part * t.bytes;
  }
  return out;
}

// Whether a filter's observed spans stay inside one node's ranges; the share of their weight.
double FilterSingleNode(const ColumnFilter& f, const std::vector<std::string>& node_bounds, const EngineOptions& o) {
  if (node_bounds.empty()) return 1;
  if (f.spans.empty()) return f.op == FilterOp::kEq ? 1 : o.unknown_span_single_node;
  double total = 0, inside = 0;
  for (const auto& s : f.spans) {
    total += s.weight;
    auto b = std::upper_bound(node_bounds.begin(), node_bounds.end(), s.lower);
    const bool crosses = b != node_bounds.end() && s.lower != s.upper && (s.upper.empty() || *b < s.upper);
    if (!crosses) inside += s.weight;
  }
  return total > 0 ? inside / total : 1;
}

// The probability that statement s runs on one node under `placements` (indexed like m.tables).
double SingleNodeProbability(const Model& m, const StatementStats& s, const std::vector<Placement>& placements) {
  std::vector<size_t> split, whole;
  for (const auto& name : s.tables) {
    auto it = m.index.find(name);
    if (it == m.index.end()) continue;
    auto& list = placements[it->second].OneNode() ? whole : split;
    if (std::find(list.begin(), list.end(), it->second) == list.end()) list.push_back(it->second);
  }
  if (split.empty()) {
    for (size_t i : whole) {
      if (placements[i].nodes[0] != placements[whole[0]].nodes[0]) return 0;
    }
    return 1;
  }
  const Placement& p = placements[split[0]];
  if (!whole.empty() || p.tag < 0) return 0;
  for (size_t i : split) {
    if (placements[i].tag != p.tag) return 0;
  }
  std::vector<std::string> node_bounds;
  for (size_t i = 0; i < p.bounds.size(); ++i) {
    if (p.nodes[i] != p.nodes[i + 1]) node_bounds.push_back(p.bounds[i]);
  }
  // Tables pinned by a filter on the range column, then through joins on it.
  std::map<size_t, double> pinned;
  for (const auto& f : s.filters) {
    auto it = m.index.find(f.table);
    if (it == m.index.end() || f.column != p.column || f.op == FilterOp::kOther) continue;
    const double prob = FilterSingleNode(f, node_bounds, *m.options);
    auto [pos, added] = pinned.emplace(it->second, prob);
    if (!added) pos->second = std::max(pos->second, prob);
  }
  for (bool changed = true; changed;) {
    changed = false;
    for (const auto& j : s.joins) {
      if (j.left_column != p.column || j.right_column != p.column) continue;
      auto l = m.index.find(j.left_table), r = m.index.find(j.right_table);
      if (l == m.index.end() || r == m.index.end()) continue;
      for (auto [a, b] : {std::pair(l->second, r->second), std::pair(r->second, l->second)}) {
        if (pinned.contains(a) && !pinned.contains(b)) {
          pinned[b] = pinned[a];
          changed = true;
        }
      }
    }
  }
  double prob = 1;
  for (size_t i : split) {
    auto it = pinned.find(i);
    if (it == pinned.end()) return 0;
    prob = std::min(prob, it->second);
  }
  return prob;
}

// Indexes of the tables of each group: joined tables and tables sharing a layout stay together.
std::vector<std::vector<size_t>> BuildGroups(const Model& m) {
  std::vector<size_t> parent(m.tables.size());
  std::iota(parent.begin(), parent.end(), 0);
  std::function<size_t(size_t)> root = [&](size_t i) { return parent[i] == i ? i : parent[i] = root(parent[i]); };
  auto unite = [&](size_t a, size_t b) {
    a = root(a);
    b = root(b);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  };
  for (const auto& j : m.joins) unite(m.index.at(j.left_table), m.index.at(j.right_table));
  for (size_t i = 0; i < m.tables.size(); ++i) {
    for (size_t k = i + 1; k < m.tables.size(); ++k) {
      if (m.tables[i].current != nullptr && m.tables[i].current == m.tables[k].current) unite(i, k);
    }
  }
  std::map<size_t, std::vector<size_t>> by_root;
  for (size_t i = 0; i < m.tables.size(); ++i) by_root[root(i)].push_back(i);
  std::vector<std::vector<size_t>> groups;
  for (auto& [r, members] : by_root) groups.push_back(std::move(members));
  return groups;
}

struct ColumnInfo {
  std::string name;
  std::string type;
  router::KeyType key_type = router::KeyType::kUnsupported;
};

// The column as a valid range column of the group, or nullopt (see engine.h).
std::optional<ColumnInfo> ValidColumn(const Model& m, const std::vector<size_t>& group, const std::string& column) {
  ColumnInfo info{column, "", router::KeyType::kUnsupported};
  bool has_distribution = false;
  for (size_t i : group) {
    const TableModel& t = m.tables[i];
    const catalog::Column* c = t.table->FindColumn(column);
    if (c == nullptr || column == t.table->tenant_column) return std::nullopt;
    if (info.type.empty()) info.type = c->type;
    if (c->type != info.type) return std::nullopt;
    has_distribution = has_distribution || t.Dist(column, true) != nullptr;
  }
  info.key_type = router::KeyTypeFromName(info.type);
  if (info.key_type == router::KeyType::kUnsupported || !has_distribution) return std::nullopt;
  for (const auto& j : m.joins) {
    const size_t l = m.index.at(j.left_table);
    if (std::find(group.begin(), group.end(), l) == group.end()) continue;
    if (j.left_column != column || j.right_column != column) return std::nullopt;
  }
  return info;
}

struct Segments {
  std::vector<std::string> points;  // boundary keys between segments
  std::vector<Segment> segs;        // points.size() + 1
};

// The shared state of one table group's planning.
struct GroupPlan {
  std::vector<size_t> tables;
  std::optional<ColumnInfo> column;
  bool pinned = false;               // the column is pinned by the profile
  std::string column_reason;        // set by SetColumnReason, for actions only
  const Layout* current = nullptr;  // the one layout all its tables share exactly, if any
  Placement before;                 // the current placement of its first table
  std::vector<std::string> bounds;  // proposed
  std::vector<double> load, bytes;  // per proposed range
  std::vector<int> nodes;           // per proposed range
  double target = 0;                // split target load
  Segments segments;                // of the column, once partitioned
  bool fresh = false;               // the bounds were cut anew (not kept from a current layout)
  bool limits_met = true;
  bool violation = false;           // the current layout breaks the profile
  std::string violation_reason;
};

// Drops the candidate boundaries that more than max_boundary_crossing of the group's statement cost
// would straddle (by the observed spans of its IN/range filters on `column`), as CockroachDB
// rejects split points most requests span. Current boundaries (`keep`) stay.
void DropCrossedPoints(const Model& m, const GroupPlan& g, const std::string& column,
                       const std::vector<std::string>& keep, std::vector<std::string>& points) {
  std::vector<double> crossing(points.size() + 1, 0);  // difference array over points
  double total = 0;
  for (const StatementStats* s : m.statements) {
    if (!Touches(m, *s, g.tables)) continue;
    total += s->Weight();
    for (const auto& f : s->filters) {
      if (f.column != column || f.spans.empty() || m.Find(f.table) == nullptr) continue;
      double weight = 0;
      for (const auto& span : f.spans) weight += span.weight;
      for (const auto& span : f.spans) {
        if (span.lower == span.upper || weight <= 0) continue;
        // Points p with lower < p < upper.
        const size_t a = static_cast<size_t>(std::upper_bound(points.begin(), points.end(), span.lower) - points.begin());
        const size_t b = span.upper.empty() ? points.size()
                                            : static_cast<size_t>(std::lower_bound(points.begin(), points.end(), span.upper) - points.begin());
        if (a >= b) continue;
        crossing[a] += s->Weight() * span.weight / weight;
        crossing[b] -= s->Weight() * span.weight / weight;
      }
      break;  // one filter on the column per statement
    }
  }
  if (total <= 0) return;
  std::vector<std::string> kept;
  double running = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    running += crossing[i];
    if (running <= m.options->max_boundary_crossing * total + 1e-12 * total ||
        std::binary_search(keep.begin(), keep.end(), points[i])) {
      kept.push_back(std::move(points[i]));
    }
  }
  points = std::move(kept);
}

// Elementary segments of the group along `column`: between every key where some distribution of
// the group's tables changes slope (and the current boundaries).
Segments BuildSegments(const Model& m, const GroupPlan& g, const std::string& column) {
  Segments out;
  for (size_t i : g.tables) {
    for (const auto* d : {m.tables[i].Dist(column, true), m.tables[i].Dist(column, false)}) {
      if (d != nullptr) out.points.insert(out.points.end(), d->points().begin(), d->points().end());
    }
  }
  if (g.current != nullptr && g.current->column == column) {
    out.points.insert(out.points.end(), g.before.bounds.begin(), g.before.bounds.end());
  }
  std::sort(out.points.begin(), out.points.end());
  out.points.erase(std::unique(out.points.begin(), out.points.end()), out.points.end());
  std::erase(out.points, std::string());
  const bool same_column = g.current != nullptr && g.current->column == column;
  DropCrossedPoints(m, g, column, same_column ? g.before.bounds : std::vector<std::string>{}, out.points);
  out.segs.assign(out.points.size() + 1, Segment{});
  for (size_t i : g.tables) {
    const TableModel& t = m.tables[i];
    const KeyDistribution* cd = t.Dist(column, true);
    const KeyDistribution* bd = t.Dist(column, false);
    const std::vector<double> cb = cd == nullptr ? std::vector<double>() : cd->BelowEach(out.points);
    const std::vector<double> bb = bd == nullptr ? std::vector<double>() : bd->BelowEach(out.points);
    double prev_c = 0, prev_b = 0;
    for (size_t s = 0; s < out.segs.size(); ++s) {
      const bool last = s == out.points.size();
      const double c = cd == nullptr ? 1.0 : (last ? cd->total() : cb[s]) / cd->total();
      const double b = bd == nullptr ? 1.0 : (last ? bd->total() : bb[s]) / bd->total();
      const double dc = std::max(0.0, c - prev_c), db = std::max(0.0, b - prev_b);
      prev_c = std::max(prev_c, c);
      prev_b = std::max(prev_b, b);
      out.segs[s].load += m.Load(t.cost * dc, t.bytes * db);
      out.segs[s].bytes += t.bytes * db;
      out.segs[s].rows += t.rows * db;
    }
  }
  return out;
}

// Sets the group's proposed bounds and the load and bytes of each range from cuts of `s`.
void SetCuts(const Segments& s, const std::vector<size_t>& cuts, GroupPlan& g) {
  g.bounds.clear();
  g.load.clear();
  g.bytes.clear();
  for (size_t c : cuts) g.bounds.push_back(s.points[c - 1]);
  size_t from = 0;
  for (size_t k = 0; k <= cuts.size(); ++k) {
    const size_t to = k < cuts.size() ? cuts[k] : s.segs.size();
    double load = 0, bytes = 0;
    for (size_t i = from; i < to; ++i) load += s.segs[i].load, bytes += s.segs[i].bytes;
    g.load.push_back(load);
    g.bytes.push_back(bytes);
    from = to;
  }
}

// Cost share of the statements touching `group` that filter `column` on one of its tables.
std::string FilterShareText(const Model& m, const std::vector<size_t>& group, const std::string& column) {
  double total = 0, filtered = 0;
  std::map<FilterOp, double> by_op;
  for (const StatementStats* s : m.statements) {
    if (!Touches(m, *s, group)) continue;
    total += s->Weight();
    for (const auto& f : s->filters) {
      if (f.column == column && f.op != FilterOp::kOther && m.Find(f.table) != nullptr) {
        filtered += s->Weight();
        by_op[f.op] += s->Weight();
        break;
      }
    }
  }
  if (total <= 0) return "no statements in the window";
  std::string ops;
  for (auto [op, name] : {std::pair(FilterOp::kEq, "="), std::pair(FilterOp::kIn, "IN"), std::pair(FilterOp::kRange, "range")}) {
    if (by_op[op] > 0) ops += fmt::format("{}{} {:.0f}%", ops.empty() ? "" : ", ", name, 100 * by_op[op] / total);
  }
  return fmt::format("{:.0f}% of statement cost filters on it{}", 100 * filtered / total,
                     ops.empty() ? "" : " (" + ops + ")");
}

// The single-node cost of the statements touching only `group` if it were split at `bounds`
// on `column` with every range on its own node.
double ColumnScore(const Model& m, const GroupPlan& g, const std::string& column, const std::vector<std::string>& bounds,
                   std::vector<Placement> placements) {
  for (size_t i : g.tables) {
    Placement& p = placements[i];
    p.tag = 1 << 30;
    p.column = column;
    p.bounds = bounds;
    p.nodes.resize(bounds.size() + 1);
    std::iota(p.nodes.begin(), p.nodes.end(), 0);
  }
  double score = 0;
  for (const StatementStats* s : m.statements) {
    if (Touches(m, *s, g.tables, true)) score += s->Weight() * SingleNodeProbability(m, *s, placements);
  }
  return score;
}

bool Eligible(const ShardMap& map, const Profile& profile, const catalog::Node& n) {
  if (profile.preferred_tier.empty() || n.tier == profile.preferred_tier) return true;
  return std::none_of(map.nodes.begin(), map.nodes.end(), [&](const catalog::Node& o) { return o.tier == profile.preferred_tier; });
}

// The load a node of the smallest eligible capacity carries when the cluster is even.
double FairNodeLoad(const Model& m, const Profile& profile) {
  double smallest = 0;
  for (const auto& n : m.map->nodes) {
    if (Eligible(*m.map, profile, n) && (smallest == 0 || n.capacity < smallest)) smallest = n.capacity;
  }
  return m.capacity > 0 ? smallest / m.capacity : 1;
}

// Proposed boundaries of the group on its column: the fewest ranges whose heaviest load is the
// higher of the exact optimum for the profile's range count and the split target. A current
// layout on the same column is kept where it is fine: only its ranges over the target are split
// and only cold untouched neighbours merged.
void PartitionGroup(const Model& m, const Profile& profile, GroupPlan& g) {
  const std::string& column = g.column->name;
  // A group without a layout to keep and no heavier than the split target is one range on any
  // column (PartitionWithin below would give one part): no need to build its segments. Most
  // tenants of a fleet are such.
  if (g.current == nullptr) {
    double load = 0, bytes = 0, rows = 0;
    for (size_t i : g.tables) {
      load += m.Load(m.tables[i].cost, m.tables[i].bytes);
      bytes += m.tables[i].bytes;
      rows += m.tables[i].rows;
    }
    const double target = m.options->split_fraction * FairNodeLoad(m, profile);
    if (load <= target && (profile.max_shard_bytes <= 0 || bytes <= static_cast<double>(profile.max_shard_bytes)) &&
        (profile.max_shard_rows <= 0 || rows <= static_cast<double>(profile.max_shard_rows))) {
      g.target = target;
      g.fresh = true;
      g.limits_met = true;
      g.bounds.clear();
      g.load = {load};
      g.bytes = {bytes};
      return;
    }
  }
  Segments s = BuildSegments(m, g, column);
  PartitionLimits limits{profile.MaxRanges(), static_cast<double>(profile.max_shard_bytes),
                         static_cast<double>(profile.max_shard_rows)};
  const Partition best = OptimalPartition(s.segs, limits);
  g.limits_met = best.limits_met;
  g.target = std::max(best.max_load, m.options->split_fraction * FairNodeLoad(m, profile));
  std::vector<size_t> cuts;
  bool incremental = g.current != nullptr && g.current->column == column &&
                     static_cast<int>(g.current->ranges.size()) <= limits.max_parts;
  if (incremental) {
    struct Part { size_t a, b; bool fresh; };
    std::vector<size_t> bounds_at{0};
    for (const auto& b : g.before.bounds) {
      bounds_at.push_back(static_cast<size_t>(std::lower_bound(s.points.begin(), s.points.end(), b) - s.points.begin()) + 1);
    }
    bounds_at.push_back(s.segs.size());
    std::vector<Part> parts;
    const std::span<const Segment> all(s.segs);
    for (size_t k = 0; k + 1 < bounds_at.size(); ++k) {
      const size_t a = bounds_at[k], b = bounds_at[k + 1];
      const auto span = all.subspan(a, b - a);
      double load = 0, bytes = 0, rows = 0;
      for (const auto& seg : span) load += seg.load, bytes += seg.bytes, rows += seg.rows;
      const bool over = load > g.target * (1 + m.options->min_improvement) ||
                        (limits.max_bytes > 0 && bytes > limits.max_bytes) || (limits.max_rows > 0 && rows > limits.max_rows);
      if (!over) {
        parts.push_back({a, b, false});
        continue;
      }
      PartitionLimits inner = limits;
      inner.max_parts = static_cast<int>(span.size()) + 1;
      const Partition p = PartitionWithin(span, g.target, inner);
      size_t from = a;
      for (size_t c : p.cuts) parts.push_back({from, a + c, true}), from = a + c;
      parts.push_back({from, b, true});
    }
    auto sum = [&](size_t a, size_t b, double Segment::*f) {
      double v = 0;
      for (size_t i = a; i < b; ++i) v += s.segs[i].*f;
      return v;
    };
    std::vector<Part> merged;
    for (const Part& p : parts) {
      if (!merged.empty() && !merged.back().fresh && !p.fresh) {
        const size_t a = merged.back().a;
        const bool cold = sum(a, p.b, &Segment::load) < (1 - m.options->merge_gap) * g.target;
        const bool fits = (limits.max_bytes <= 0 || sum(a, p.b, &Segment::bytes) <= limits.max_bytes) &&
                          (limits.max_rows <= 0 || sum(a, p.b, &Segment::rows) <= limits.max_rows);
        if (cold && fits) {
          merged.back().b = p.b;
          continue;
        }
      }
      merged.push_back(p);
    }
    incremental = static_cast<int>(merged.size()) <= limits.max_parts;
    for (size_t k = 1; incremental && k < merged.size(); ++k) cuts.push_back(merged[k].a);
  }
  if (!incremental) cuts = PartitionWithin(s.segs, g.target, limits).cuts;
  g.fresh = !incremental;
  SetCuts(s, cuts, g);
  g.segments = std::move(s);
}

// Picks the group's range column: the first valid pinned column, else the valid column that
// makes the most statement cost single-node (the current column unless another beats it by
// min_single_node_gain).
void ChooseColumn(const Model& m, const Profile& profile, const std::vector<Placement>& before, GroupPlan& g) {
  if (!profile.AutoColumns()) {
    for (const auto& c : profile.range_columns) {
      g.column = ValidColumn(m, g.tables, c);
      if (!g.column) continue;
      g.pinned = true;
      return;
    }
    g.pinned = true;
    return;
  }
  std::set<std::string> candidates;
  for (const StatementStats* s : m.statements) {
    for (const auto& f : s->filters) {
      const TableModel* t = m.Find(f.table);
      if (t != nullptr && f.op != FilterOp::kOther && std::find(g.tables.begin(), g.tables.end(), t - m.tables.data()) != g.tables.end()) {
        candidates.insert(f.column);
      }
    }
  }
  for (size_t i : g.tables) {
    for (const auto& [c, d] : m.tables[i].heat) candidates.insert(c);
  }
  for (const auto& j : m.joins) {
    if (j.left_column == j.right_column && std::find(g.tables.begin(), g.tables.end(), m.Find(j.left_table) - m.tables.data()) != g.tables.end()) {
      candidates.insert(j.left_column);
    }
  }
  if (g.current != nullptr) candidates.insert(g.current->column);
  double total = 0;
  for (const StatementStats* s : m.statements) total += s->Weight();
  std::optional<ColumnInfo> best;
  double best_score = -1, current_score = -1;
  bool best_splits = false, current_splits = false;
  double unsplit_score = -1;
  std::map<std::string, GroupPlan> trials;
  for (const auto& c : candidates) {
    auto info = ValidColumn(m, g.tables, c);
    if (!info) continue;
    GroupPlan& trial = trials.emplace(c, g).first->second;
    trial.column = info;
    PartitionGroup(m, profile, trial);
    // Unsplit, any column is as good: switching to one would skip the merge hysteresis of the
    // current layout.
    const bool is_current = g.current != nullptr && c == g.current->column;
    if (trial.bounds.empty() && g.current != nullptr && !is_current && ValidColumn(m, g.tables, g.current->column)) continue;
    // A column cut into one range (its distribution is one bucket, or one key) keeps every
    // statement single-node by not splitting at all: it wins only when no column splits.
    const bool splits = !trial.bounds.empty();
    // Unsplit, every column scores the cost of the statements touching only the group.
    if (!splits && unsplit_score < 0) unsplit_score = ColumnScore(m, g, c, trial.bounds, before);
    const double score = splits ? ColumnScore(m, g, c, trial.bounds, before) : unsplit_score;
    if (is_current) current_score = score, current_splits = splits;
    if ((splits && !best_splits) || (splits == best_splits && score > best_score)) {
      best_score = score, best = info, best_splits = splits;
    }
  }
  if (best && current_score >= 0 && best->name != g.current->column && (current_splits || !best_splits) &&
      best_score < current_score + m.options->min_single_node_gain * total) {
    best = ValidColumn(m, g.tables, g.current->column);
  }
  if (best) g = std::move(trials.at(best->name));  // partitioned already
  g.column = best;
}

// The words on the group's column for its actions' reasons (built only for a plan's actions).
void SetColumnReason(const Model& m, const Profile& profile, GroupPlan& g) {
  if (g.pinned) {
    g.column_reason = g.column ? fmt::format("column {} (pinned by profile {}): {}", g.column->name, profile.name,
                                             FilterShareText(m, g.tables, g.column->name))
                               : fmt::format("none of the columns pinned by profile {} is a valid range column of "
                                             "the group", profile.name);
    return;
  }
  g.column_reason = g.column ? fmt::format("column {}: {}", g.column->name, FilterShareText(m, g.tables, g.column->name))
                             : "no column is a valid range column of the group (joins on different columns, or no "
                               "statistics)";
}

// A column to name in a one-range layout of a group that has no valid range column (the layout
// model, and so the migration service, wants one): the tenant column when every table of the group
// has it with one supported type -- a layout on it restricts no statement more than the tenant
// column already is (its UPDATE is refused either way) -- else the first column of the first table
// that every table has with one supported type.
std::optional<ColumnInfo> AnyLayoutColumn(const Model& m, const std::vector<size_t>& group) {
  std::vector<catalog::Column> columns;
  const catalog::Table& first = *m.tables[group[0]].table;
  if (const catalog::Column* tc = first.FindColumn(first.tenant_column)) columns.push_back(*tc);
  columns.insert(columns.end(), first.columns.begin(), first.columns.end());
  for (const auto& c : columns) {
    bool everywhere = router::KeyTypeFromName(c.type) != router::KeyType::kUnsupported;
    for (size_t i : group) {
      const catalog::Column* other = m.tables[i].table->FindColumn(c.name);
      everywhere = everywhere && other != nullptr && other->type == c.type;
    }
    if (everywhere) return ColumnInfo{c.name, c.type, router::KeyTypeFromName(c.type)};
  }
  return std::nullopt;
}

struct Unit {
  size_t group = 0, range = 0;
  double load = 0, bytes = 0;
  std::map<int, double> on;  // bytes already on each node
  int node = 0;
  bool fixed = false;  // cannot move (no layout column)
};

// Assigns each unit a node: kept where it is when that is fine, the rest greedily, then moves off
// the heaviest node while they lower it by min_move_gain and fit the bytes budget.
void PlaceUnits(const Model& m, const Profile& profile, std::vector<Unit>& units) {
  const ShardMap& map = *m.map;
  std::map<int, double> load;
  for (const auto& n : map.nodes) {
    auto it = m.background.find(n.id);
    load[n.id] = it == m.background.end() ? 0 : m.Load(it->second.cost, it->second.bytes);
  }
  auto rel = [&](int id, double l) {
    const double share = m.CapacityShare(*map.FindNode(id));
    return share > 0 ? l / share : 0;
  };
  auto eligible = [&](int id) { return Eligible(map, profile, *map.FindNode(id)); };
  std::vector<size_t> unplaced;
  for (size_t u = 0; u < units.size(); ++u) {
    Unit& unit = units[u];
    int keep = unit.node;
    double most = -1;
    for (const auto& [id, b] : unit.on) {
      if (b > most) most = b, keep = id;
    }
    unit.node = keep;
    if (map.FindNode(keep) != nullptr && (eligible(keep) || unit.fixed)) {
      load[keep] += unit.load;
    } else {
      unplaced.push_back(u);
    }
  }
  std::stable_sort(unplaced.begin(), unplaced.end(), [&](size_t a, size_t b) { return units[a].load > units[b].load; });
  for (size_t u : unplaced) {
    int best = -1;
    for (const auto& n : map.nodes) {
      if (eligible(n.id) && (best < 0 || rel(n.id, load[n.id] + units[u].load) < rel(best, load[best] + units[u].load))) best = n.id;
    }
    units[u].node = best;
    load[best] += units[u].load;
  }
  double moved = 0;
  for (const auto& unit : units) moved += unit.bytes - (unit.on.contains(unit.node) ? unit.on.at(unit.node) : 0);
  for (int iter = 0; iter < 10000; ++iter) {
    int heavy = map.nodes[0].id;
    for (const auto& n : map.nodes) {
      if (rel(n.id, load[n.id]) > rel(heavy, load[heavy])) heavy = n.id;
    }
    const double top = rel(heavy, load[heavy]);
    double best_gain = m.options->min_move_gain, best_extra = 0;
    int best_unit = -1, best_node = -1;
    for (size_t u = 0; u < units.size(); ++u) {
      const Unit& unit = units[u];
      if (unit.node != heavy || unit.fixed) continue;
      for (const auto& n : map.nodes) {
        if (n.id == heavy || !eligible(n.id)) continue;
        const double after = std::max(rel(heavy, load[heavy] - unit.load), rel(n.id, load[n.id] + unit.load));
        const double extra = (unit.on.contains(heavy) ? unit.on.at(heavy) : 0) - (unit.on.contains(n.id) ? unit.on.at(n.id) : 0);
        if (m.options->max_bytes_moved > 0 && moved + extra > m.options->max_bytes_moved) continue;
        const double gain = top - after;
        if (gain > best_gain + 1e-12 || (best_unit >= 0 && gain > best_gain - 1e-12 && extra < best_extra)) {
          best_gain = gain, best_extra = extra, best_unit = static_cast<int>(u), best_node = n.id;
        }
      }
    }
    if (best_unit < 0) break;
    Unit& unit = units[static_cast<size_t>(best_unit)];
    load[heavy] -= unit.load;
    load[best_node] += unit.load;
    unit.node = best_node;
    moved += best_extra;
  }
}

// The tenant's own cost and bytes on each node of the map under `placements`; with `before`, adds
// the bytes that would move from there to *moved.
std::map<int, NodeLoad> TenantLoad(const Model& m, const std::vector<Placement>& placements,
                                   const std::vector<Placement>* before = nullptr, double* moved = nullptr) {
  std::map<int, NodeLoad> own;
  for (size_t i = 0; i < m.tables.size(); ++i) {
    const TableModel& t = m.tables[i];
    const Placement& p = placements[i];
    for (size_t r = 0; r < p.nodes.size(); ++r) {
      if (m.map->FindNode(p.nodes[r]) == nullptr) continue;
      const std::string lo = p.Lower(r), hi = p.Upper(r);
      const double bytes = t.bytes * t.Share(p.column, lo, hi, false);
      NodeLoad& mine = own[p.nodes[r]];
      mine.node_id = p.nodes[r];
      mine.cost += t.cost * t.Share(p.column, lo, hi, true);
      mine.bytes += bytes;
      if (before == nullptr) continue;
      const auto on = BytesOn(t, (*before)[i], p.column, lo, hi);
      auto it = on.find(p.nodes[r]);
      *moved += std::max(0.0, bytes - (it == on.end() ? 0 : it->second));
    }
  }
  return own;
}

Metrics Evaluate(const Model& m, const std::vector<Placement>& placements, const std::vector<Placement>& before);

// The units (ranges) of group number `k` as proposed, each on the group's current node for now.
std::vector<Unit> GroupUnits(const Model& m, const GroupPlan& g, size_t k, const std::vector<Placement>& before) {
  std::vector<Unit> out;
  const std::string column = g.column ? g.column->name : "";
  for (size_t r = 0; r <= g.bounds.size(); ++r) {
    Unit u;
    u.group = k;
    u.range = r;
    u.load = g.load[r];
    u.bytes = g.bytes[r];
    const std::string lo = r == 0 ? "" : g.bounds[r - 1], hi = r < g.bounds.size() ? g.bounds[r] : "";
    for (size_t i : g.tables) {
      for (const auto& [n, b] : BytesOn(m.tables[i], before[i], column, lo, hi)) u.on[n] += b;
    }
    u.node = g.before.nodes[0];
    u.fixed = !g.column && !AnyLayoutColumn(m, g.tables);
    out.push_back(std::move(u));
  }
  return out;
}

// Each group's proposed placement from its bounds and its units' nodes (units in group order).
std::vector<Placement> GroupPlacements(const std::vector<GroupPlan>& groups, const std::vector<Unit>& units) {
  std::vector<Placement> out(groups.size());
  for (const Unit& u : units) out[u.group].nodes.push_back(u.node);
  for (size_t k = 0; k < groups.size(); ++k) {
    out[k].tag = static_cast<int>(k) + (1 << 20);
    out[k].column = groups[k].column ? groups[k].column->name : "";
    out[k].bounds = groups[k].bounds;
  }
  return out;
}

// Per table (indexed like m.tables), its group's placement.
std::vector<Placement> TablePlacements(const std::vector<GroupPlan>& groups, const std::vector<Placement>& by_group,
                                       std::vector<Placement> before) {
  for (size_t k = 0; k < groups.size(); ++k) {
    for (size_t i : groups[k].tables) before[i] = by_group[k];
  }
  return before;
}

// The split points were chosen for the lightest heaviest range, before placement; with uneven
// background or capacities the best layout gives lighter ranges to busier or smaller nodes. So
// each freshly cut group is cut again against the room the rest of the plan leaves on the nodes
// (PartitionOnNodes: each range on its own node), and that layout is kept if it lowers the
// predicted imbalance by min_move_gain (as a move must) without losing more than
// min_single_node_gain of single-node share or moving more than max_bytes_moved.
void PartitionAgainstRoom(const Model& m, const Profile& profile, const std::vector<Placement>& before,
                          std::vector<GroupPlan>& groups, std::vector<Unit>& units,
                          std::vector<Placement>& group_placement, Metrics& predicted) {
  const PartitionLimits limits{profile.MaxRanges(), static_cast<double>(profile.max_shard_bytes),
                               static_cast<double>(profile.max_shard_rows)};
  for (size_t k = 0; k < groups.size(); ++k) {
    const GroupPlan& g = groups[k];
    if (!g.column || !g.fresh || g.bounds.empty()) continue;
    std::map<int, double> load;  // everything but this group
    for (const auto& [id, l] : m.background) load[id] += m.Load(l.cost, l.bytes);
    for (const Unit& u : units) {
      if (u.group != k) load[u.node] += u.load;
    }
    std::vector<NodeRoom> rooms;
    for (const auto& n : m.map->nodes) rooms.push_back({n.id, load[n.id], m.CapacityShare(n), Eligible(*m.map, profile, n)});
    const NodePartition np = PartitionOnNodes(g.segments.segs, rooms, limits);
    if (!np.found || np.imbalance > predicted.imbalance - m.options->min_move_gain) continue;
    GroupPlan trial = g;
    SetCuts(g.segments, np.cuts, trial);
    std::vector<Unit> trial_units;
    for (const Unit& u : units) {
      if (u.group != k) trial_units.push_back(u);
    }
    std::vector<Unit> mine = GroupUnits(m, trial, k, before);
    for (size_t r = 0; r < mine.size(); ++r) mine[r].node = np.nodes[r];
    trial_units.insert(trial_units.end(), mine.begin(), mine.end());
    std::swap(groups[k], trial);
    std::vector<Placement> trial_placement = GroupPlacements(groups, trial_units);
    const Metrics after = Evaluate(m, TablePlacements(groups, trial_placement, before), before);
    const bool better = after.imbalance <= predicted.imbalance - m.options->min_move_gain &&
                        after.single_node_share >= predicted.single_node_share - m.options->min_single_node_gain &&
                        (m.options->max_bytes_moved <= 0 || after.bytes_to_move <= m.options->max_bytes_moved);
    if (!better) {
      std::swap(groups[k], trial);
      continue;
    }
    units = std::move(trial_units);
    group_placement = std::move(trial_placement);
    predicted = after;
  }
}

Metrics Evaluate(const Model& m, const std::vector<Placement>& placements, const std::vector<Placement>& before) {
  Metrics out;
  std::map<int, std::pair<double, double>> node;  // cost, bytes
  for (const auto& n : m.map->nodes) {
    auto it = m.background.find(n.id);
    node[n.id] = it == m.background.end() ? std::pair(0.0, 0.0) : std::pair(it->second.cost, it->second.bytes);
  }
  const std::map<int, NodeLoad> own = TenantLoad(m, placements, &before, &out.bytes_to_move);
  for (const auto& [id, l] : own) {
    node[id].first += l.cost;
    node[id].second += l.bytes;
  }
  for (const auto& n : m.map->nodes) {
    const double l = m.Load(node[n.id].first, node[n.id].second);
    out.node_load[n.id] = l;
    out.max_node_load = std::max(out.max_node_load, l);
    const double share = m.CapacityShare(n);
    if (share > 0) out.imbalance = std::max(out.imbalance, l / share);
  }
  for (const auto& [id, load] : own) out.tenant_load.push_back(load);
  double all = 0, single = 0, reads = 0, reads_single = 0, writes = 0, writes_single = 0;
  for (const StatementStats* s : m.statements) {
    const double p = SingleNodeProbability(m, *s, placements), w = s->Weight();
    all += w;
    single += w * p;
    (s->write ? writes : reads) += w;
    (s->write ? writes_single : reads_single) += w * p;
    out.cross_node_statements += s->calls * (1 - p);
  }
  if (all > 0) out.single_node_share = single / all;
  if (reads > 0) out.single_node_share_reads = reads_single / reads;
  if (writes > 0) out.single_node_share_writes = writes_single / writes;
  return out;
}

std::vector<Placement> CurrentPlacements(const Model& m) {
  std::vector<Placement> out;
  for (const auto& t : m.tables) out.push_back(PlacementOf(m, t));
  return out;
}

std::string KeyText(router::KeyType type, const std::string& key, bool lower) {
  if (key.empty()) return lower ? "-inf" : "+inf";
  return router::DecodeKeyForDisplay(type, key);
}

std::string RangeText(const PlannedRange& r) {
  return fmt::format("[{}, {})", r.lower.value_or("-inf"), r.upper.value_or("+inf"));
}

std::string Bytes(double b) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) b /= 1000, ++u;
  return fmt::format("{:.{}f} {}", b, u == 0 ? 0 : 1, units[u]);
}

// Ranges of a placement as PlannedRanges (text from the key type), with loads and bytes.
std::vector<PlannedRange> Ranges(const Model& m, const GroupPlan& g, const Placement& p, router::KeyType type) {
  std::vector<PlannedRange> out;
  for (size_t r = 0; r < p.nodes.size(); ++r) {
    PlannedRange pr;
    pr.lower_key = p.Lower(r);
    pr.upper_key = p.Upper(r);
    if (!pr.lower_key.empty()) pr.lower = KeyText(type, pr.lower_key, true);
    if (!pr.upper_key.empty()) pr.upper = KeyText(type, pr.upper_key, false);
    pr.node_id = p.nodes[r];
    for (size_t i : g.tables) {
      const TableModel& t = m.tables[i];
      const double cs = t.Share(p.column, pr.lower_key, pr.upper_key, true), bs = t.Share(p.column, pr.lower_key, pr.upper_key, false);
      pr.load += m.Load(t.cost * cs, t.bytes * bs);
      pr.bytes += t.bytes * bs;
      pr.cost += t.cost * cs;
    }
    out.push_back(std::move(pr));
  }
  return out;
}

double MovedBytes(const Model& m, const GroupPlan& g, const std::vector<Placement>& before, const std::string& column,
                  const std::vector<PlannedRange>& ranges) {
  double moved = 0;
  for (const auto& r : ranges) {
    for (size_t i : g.tables) {
      const auto on = BytesOn(m.tables[i], before[i], column, r.lower_key, r.upper_key);
      auto it = on.find(r.node_id);
      moved += std::max(0.0, m.tables[i].bytes * m.tables[i].Share(column, r.lower_key, r.upper_key, false) -
                                 (it == on.end() ? 0 : it->second));
    }
  }
  return moved;
}

struct ActionContext {
  const Model* m;
  const std::vector<Placement>* before;
  const Metrics* current;
  const Metrics* predicted;
};

std::string EffectText(const ActionContext& c) {
  return fmt::format("max node load {:.2f} -> {:.2f}, imbalance {:.2f} -> {:.2f}, single-node share {:.2f} -> {:.2f}",
                     c.current->max_node_load, c.predicted->max_node_load, c.current->imbalance,
                     c.predicted->imbalance, c.current->single_node_share, c.predicted->single_node_share);
}

Action MakeAction(const ActionContext& c, const GroupPlan& g, ActionKind kind, std::vector<PlannedRange> from,
                  std::vector<PlannedRange> to) {
  const Model& m = *c.m;
  Action a;
  a.kind = kind;
  a.tenant = m.tenant;
  for (size_t i : g.tables) a.tables.push_back(m.tables[i].name);
  // A group without a valid range column still moves whole: its one range is laid out on the
  // column PlanModel gives its layout (the migration service needs one).
  const auto column = g.column ? g.column : AnyLayoutColumn(m, g.tables);
  a.column = column ? column->name : "";
  a.from = std::move(from);
  a.ranges = std::move(to);
  a.bytes_to_move = MovedBytes(m, g, *c.before, a.column, a.ranges);
  a.predicted = *c.predicted;
  double group_load = std::accumulate(g.load.begin(), g.load.end(), 0.0);
  auto share = [&](double load) { return group_load > 0 ? 100 * load / group_load : 0.0; };
  std::string what;
  if (kind == ActionKind::kSplit) {
    const auto& hot = *std::max_element(a.from.begin(), a.from.end(), [](auto& x, auto& y) { return x.load < y.load; });
    const auto& top = *std::max_element(a.ranges.begin(), a.ranges.end(), [](auto& x, auto& y) { return x.load < y.load; });
    const std::string source = a.from.size() == 1 && !a.from[0].lower && !a.from[0].upper
                                   ? "the whole group is on one node"
                                   : fmt::format("range {} carries {:.0f}% of the group's load", RangeText(hot),
                                                 share(hot.load));
    const auto& hottest = *std::max_element(a.ranges.begin(), a.ranges.end(), [](auto& x, auto& y) { return x.cost < y.cost; });
    double cost = 0;
    for (const auto& r : a.ranges) cost += r.cost;
    what = fmt::format("{}; {}; split into {} ranges: the hottest, {}, gets {:.0f}% of the statement cost, the "
                       "heaviest, {}, carries {:.0f}% of the group's load",
                       g.column_reason, source, a.ranges.size(), RangeText(hottest),
                       cost > 0 ? 100 * hottest.cost / cost : 0.0, RangeText(top), share(top.load));
  } else if (kind == ActionKind::kMerge) {
    double load = 0;
    for (const auto& r : a.from) load += r.load;
    const double threshold = (1 - m.options->merge_gap) * g.target;
    what = load < threshold
               ? fmt::format("{}; {} neighbouring ranges carry {:.1f}% of the group's load together, below the "
                             "merge threshold {:.1f}%", g.column_reason, a.from.size(), share(load), share(threshold))
               : fmt::format("{}; {} ranges become one with {:.1f}% of the group's load", g.column_reason,
                             a.from.size(), share(load));
  } else {
    what = fmt::format("range {} carries {:.0f}% of the group's load; node {} -> node {}", RangeText(a.ranges[0]),
                       share(a.ranges[0].load), a.from[0].node_id, a.ranges[0].node_id);
  }
  if (!g.column && column) {
    what += fmt::format("; no valid range column, so its one range is laid out on {}{}", column->name,
                        column->name == m.tables[g.tables[0]].table->tenant_column ? ", its tenant column" : "");
  }
  a.reason = fmt::format("{}; {}; {} to move", what, EffectText(c), Bytes(a.bytes_to_move));
  return a;
}

// Actions turning the group's current ranges into the proposed ones. With the same column and one
// shared layout, ranges are matched by their common boundaries; otherwise the group is laid out
// anew (one split, or a move/merge when it stays one range).
void GroupActions(const ActionContext& c, const GroupPlan& g, const Placement& proposed, std::vector<Action>& out) {
  const Model& m = *c.m;
  const router::KeyType type = g.column ? g.column->key_type : router::KeyType::kUnsupported;
  std::vector<PlannedRange> to = Ranges(m, g, proposed, type);
  const router::KeyType before_type = g.current ? g.current->key_type : type;
  std::vector<PlannedRange> from = Ranges(m, g, g.before, before_type);
  if (g.current != nullptr) {
    for (size_t r = 0; r < from.size(); ++r) from[r].lower = g.current->ranges[r].lower, from[r].upper = g.current->ranges[r].upper;
  }
  const bool same_column = g.current != nullptr && g.column && g.current->column == g.column->name;
  if (!same_column) {
    if (from.size() == 1 && to.size() == 1) {
      if (from[0].node_id != to[0].node_id) out.push_back(MakeAction(c, g, ActionKind::kMove, std::move(from), std::move(to)));
    } else {
      const ActionKind kind = to.size() == 1 ? ActionKind::kMerge : ActionKind::kSplit;
      out.push_back(MakeAction(c, g, kind, std::move(from), std::move(to)));
    }
    return;
  }
  size_t i = 0, j = 0;
  while (i < from.size() && j < to.size()) {
    std::vector<PlannedRange> cf{from[i]}, ct{to[j]};
    // Extend both sides until their uppers meet (a common boundary or the end).
    while (cf.back().upper_key != ct.back().upper_key) {
      const bool from_short = !cf.back().upper_key.empty() && (ct.back().upper_key.empty() || cf.back().upper_key < ct.back().upper_key);
      if (from_short) cf.push_back(from[++i]); else ct.push_back(to[++j]);
    }
    ++i, ++j;
    if (cf.size() == 1 && ct.size() == 1) {
      if (cf[0].node_id != ct[0].node_id) out.push_back(MakeAction(c, g, ActionKind::kMove, std::move(cf), std::move(ct)));
    } else {
      const ActionKind kind = ct.size() == 1 ? ActionKind::kMerge : ActionKind::kSplit;
      out.push_back(MakeAction(c, g, kind, std::move(cf), std::move(ct)));
    }
  }
}

// Why the current layout of the group breaks its profile ("" if it does not).
std::string Violation(const Model& m, const Profile& profile, const GroupPlan& g) {
  const Placement& p = g.before;
  if (static_cast<int>(p.nodes.size()) > profile.MaxRanges()) {
    return fmt::format("the group has {} ranges; profile {} allows {}", p.nodes.size(), profile.name, profile.MaxRanges());
  }
  for (int n : p.nodes) {
    const catalog::Node* node = m.map->FindNode(n);
    if (node != nullptr && !Eligible(*m.map, profile, *node)) {
      return fmt::format("node {} is {}, profile {} prefers {}", n, node->tier, profile.name, profile.preferred_tier);
    }
  }
  if (!profile.AutoColumns() && g.current != nullptr && g.column && g.current->column != g.column->name) {
    return fmt::format("the group is split on {}, profile {} pins {}", g.current->column, profile.name, g.column->name);
  }
  for (size_t r = 0; r < p.nodes.size(); ++r) {
    double bytes = 0, rows = 0;
    for (size_t i : g.tables) {
      bytes += m.tables[i].bytes * m.tables[i].Share(p.column, p.Lower(r), p.Upper(r), false);
      rows += m.tables[i].rows * m.tables[i].Share(p.column, p.Lower(r), p.Upper(r), false);
    }
    if ((profile.max_shard_bytes > 0 && bytes > static_cast<double>(profile.max_shard_bytes)) ||
        (profile.max_shard_rows > 0 && rows > static_cast<double>(profile.max_shard_rows))) {
      return fmt::format("a range holds {} in {:.0f} rows, over profile {}'s limit", Bytes(bytes), rows, profile.name);
    }
  }
  return "";
}

Layout ToLayout(const Model& m, const GroupPlan& g, const Placement& p, const ColumnInfo& column) {
  Layout l;
  l.tenant = m.tenant;
  for (size_t i : g.tables) l.table_ids.push_back(m.tables[i].table->id);
  l.column = column.name;
  l.column_type = column.type;
  l.key_type = column.key_type;
  for (size_t r = 0; r < p.nodes.size(); ++r) {
    catalog::Range range;
    range.lower_key = p.Lower(r);
    range.upper_key = p.Upper(r);
    if (!range.lower_key.empty()) range.lower = router::DecodeKeyForDisplay(column.key_type, range.lower_key);
    if (!range.upper_key.empty()) range.upper = router::DecodeKeyForDisplay(column.key_type, range.upper_key);
    range.node_id = p.nodes[r];
    l.ranges.push_back(std::move(range));
  }
  return l;
}

}  // namespace

std::string_view ActionKindName(ActionKind kind) {
  switch (kind) {
    case ActionKind::kSplit: return "split";
    case ActionKind::kMove: return "move";
    case ActionKind::kMerge: return "merge";
  }
  return "split";
}

namespace {

// PlanTenant on a built model (background set).
Plan PlanModel(const Model& m, const Profile& profile) {
  const ShardMap& map = *m.map;
  const EngineOptions& options = *m.options;
  const std::vector<Placement> before = CurrentPlacements(m);
  Plan plan;
  plan.tenant = m.tenant;
  plan.profile = profile.name;
  plan.current = Evaluate(m, before, before);
  plan.predicted = plan.current;
  for (const auto& l : map.layouts) {
    if (l.tenant == m.tenant) plan.layouts.push_back(l);
  }
  std::vector<GroupPlan> groups;
  std::vector<Unit> units;
  for (auto& tables : BuildGroups(m)) {
    GroupPlan g;
    g.tables = std::move(tables);
    g.before = before[g.tables[0]];
    const Layout* shared = m.tables[g.tables[0]].current;
    bool exact = shared != nullptr && shared->table_ids.size() == g.tables.size();
    for (size_t i : g.tables) exact = exact && m.tables[i].current == shared;
    g.current = exact ? shared : nullptr;
    ChooseColumn(m, profile, before, g);
    if (g.column && g.load.empty()) {
      PartitionGroup(m, profile, g);
    } else if (!g.column) {
      g.load = {0};
      g.bytes = {0};
      for (size_t i : g.tables) g.load[0] += m.Load(m.tables[i].cost, m.tables[i].bytes), g.bytes[0] += m.tables[i].bytes;
    }
    g.violation_reason = Violation(m, profile, g);
    g.violation = !g.violation_reason.empty();
    for (Unit& u : GroupUnits(m, g, groups.size(), before)) units.push_back(std::move(u));
    groups.push_back(std::move(g));
  }
  PlaceUnits(m, profile, units);
  std::vector<Placement> group_placement = GroupPlacements(groups, units);
  Metrics predicted = Evaluate(m, TablePlacements(groups, group_placement, before), before);
  PartitionAgainstRoom(m, profile, before, groups, units, group_placement, predicted);
  bool changed = false, violation = false;
  for (size_t k = 0; k < groups.size(); ++k) {
    const Placement& p = group_placement[k];
    const Placement& b = groups[k].before;
    changed = changed || p.bounds != b.bounds || p.nodes != b.nodes || (p.nodes.size() > 1 && p.column != b.column);
    violation = violation || groups[k].violation;
  }
  const Metrics& current = plan.current;
  const double gain = current.imbalance > 0 ? (current.imbalance - predicted.imbalance) / current.imbalance : 0;
  const double locality = predicted.single_node_share - current.single_node_share;
  // A column pinned by the profile is the operator's choice of locality: its loss is accepted.
  const bool pinned = !profile.AutoColumns() &&
                      std::any_of(groups.begin(), groups.end(), [](const GroupPlan& g) { return g.column.has_value(); });
  // A tenant over its latency objective takes any balance plan worth a move, not only a big one.
  const bool slow = profile.max_p99_ms > 0 && m.p99_ms > profile.max_p99_ms;
  const double needed = slow ? options.min_move_gain : options.min_improvement;
  const bool balance = gain >= needed && (pinned || locality >= -options.max_single_node_loss);
  const bool local = locality >= options.min_single_node_gain && predicted.imbalance <= current.imbalance * (1 + options.min_improvement);
  std::vector<Action> actions;
  const ActionContext ctx{&m, &before, &current, &predicted};
  for (size_t k = 0; changed && k < groups.size(); ++k) {
    SetColumnReason(m, profile, groups[k]);
    GroupActions(ctx, groups[k], group_placement[k], actions);
  }
  const bool merges_only = !actions.empty() && predicted.imbalance <= current.imbalance + 1e-9 &&
                           std::all_of(actions.begin(), actions.end(), [](const Action& a) { return a.kind == ActionKind::kMerge; });
  const std::string numbers = EffectText(ctx);
  if (actions.empty()) {
    plan.summary = fmt::format("no change: the current layout is the plan ({})", numbers);
    return plan;
  }
  if (!(violation || balance || local || merges_only)) {
    plan.summary = gain >= needed
                       ? fmt::format("no plan: the best layout found would cost too much locality ({}; at most "
                                     "{:.2f} of single-node share may be lost)", numbers, options.max_single_node_loss)
                       : fmt::format("no plan: the best layout found changes too little ({}; needs the imbalance "
                                     "{:.0f}% lower or the single-node share {:.2f} higher)", numbers,
                                     100 * needed, options.min_single_node_gain);
    return plan;
  }
  plan.actions = std::move(actions);
  plan.predicted = predicted;
  plan.layouts.clear();
  for (size_t k = 0; k < groups.size(); ++k) {
    const GroupPlan& g = groups[k];
    const Placement& p = group_placement[k];
    const auto column = g.column ? g.column : AnyLayoutColumn(m, g.tables);
    const bool at_home = p.nodes.size() == 1 && g.current == nullptr && p.nodes[0] == m.tables[g.tables[0]].home;
    if (column && !at_home) plan.layouts.push_back(ToLayout(m, g, p, *column));
  }
  std::string why;
  if (slow) why += fmt::format("; p99 latency {:.1f} ms is over profile {}'s max_p99_ms {:.1f}", m.p99_ms, profile.name, profile.max_p99_ms);
  for (const auto& g : groups) {
    if (g.violation) why += "; " + g.violation_reason;
    if (!g.limits_met) why += "; the profile's size limits cannot be met within its range count";
  }
  plan.summary = fmt::format("{} action{}: {}{}", plan.actions.size(), plan.actions.size() == 1 ? "" : "s", numbers, why);
  return plan;
}

}  // namespace

Plan PlanTenant(const ShardMap& map, const std::vector<NodeLoad>& background, const TenantInput& input,
                const Profile& profile, const EngineOptions& options) {
  return PlanModel(BuildModel(map, background, input, options), profile);
}

std::vector<Plan> PlanFleet(const ShardMap& map, const std::vector<NodeLoad>& node_totals,
                            const std::vector<TenantInput>& tenants, const ProfileSet& profiles,
                            const EngineOptions& options) {
  std::map<int, NodeLoad> totals;
  for (const auto& n : node_totals) {
    totals[n.node_id].node_id = n.node_id;
    totals[n.node_id].cost += n.cost;
    totals[n.node_id].bytes += n.bytes;
  }
  struct Order { double cost, bytes; const TenantInput* in; };
  std::vector<Order> order;
  for (const auto& in : tenants) {
    Order o{0, 0, &in};
    for (const auto& s : in.workload.statements) o.cost += s.Weight();
    for (const auto& s : in.stats) o.bytes += s.bytes;
    order.push_back(o);
  }
  std::sort(order.begin(), order.end(), [](const Order& a, const Order& b) {
    if (a.cost != b.cost) return a.cost > b.cost;
    if (a.bytes != b.bytes) return a.bytes > b.bytes;
    return a.in->tenant < b.in->tenant;
  });
  std::unordered_map<std::string_view, std::string_view> catalog_profile;  // tenant -> its profile in the map
  for (const auto& t : map.tenants) catalog_profile[t.key] = t.profile;
  std::vector<Plan> plans;
  plans.reserve(order.size());
  std::vector<NodeLoad> background;
  for (const Order& o : order) {
    const TenantInput& in = *o.in;
    // One model per tenant: its own load (under its current placement) is taken out of the
    // totals to make its background.
    Model m = BuildModel(map, {}, in, options);
    for (const auto& [id, l] : TenantLoad(m, CurrentPlacements(m))) {
      NodeLoad& rest = totals[id];
      rest.node_id = id;
      rest.cost = std::max(0.0, rest.cost - l.cost);
      rest.bytes = std::max(0.0, rest.bytes - l.bytes);
    }
    background.clear();
    for (const auto& [id, l] : totals) background.push_back(l);
    SetBackground(m, background);
    auto p = catalog_profile.find(in.tenant);
    Plan plan = PlanModel(m, profiles.ForTenant(in.tenant, p == catalog_profile.end() ? std::string_view() : p->second));
    for (const auto& l : plan.predicted.tenant_load) {
      totals[l.node_id].node_id = l.node_id;
      totals[l.node_id].cost += l.cost;
      totals[l.node_id].bytes += l.bytes;
    }
    plans.push_back(std::move(plan));
  }
  return plans;
}

Metrics EvaluateLayouts(const ShardMap& map, const std::vector<NodeLoad>& background, const TenantInput& input,
                        const std::vector<Layout>& layouts, const EngineOptions& options) {
  const Model m = BuildModel(map, background, input, options);
  const std::vector<Placement> before = CurrentPlacements(m);
  std::vector<Placement> after;
  for (const auto& t : m.tables) {
    Placement p;
    p.nodes = {t.home};
    for (size_t k = 0; k < layouts.size(); ++k) {
      const Layout& l = layouts[k];
      if (l.tenant != input.tenant || std::find(l.table_ids.begin(), l.table_ids.end(), t.table->id) == l.table_ids.end()) continue;
      p.tag = static_cast<int>(k);
      p.column = l.column;
      p.nodes.clear();
      for (size_t r = 0; r < l.ranges.size(); ++r) {
        if (r + 1 < l.ranges.size()) p.bounds.push_back(l.ranges[r].upper_key);
        p.nodes.push_back(l.ranges[r].node_id);
      }
      break;
    }
    after.push_back(std::move(p));
  }
  return Evaluate(m, after, before);
}

Metrics EvaluateCurrent(const ShardMap& map, const std::vector<NodeLoad>& background, const TenantInput& input,
                        const EngineOptions& options) {
  const Model m = BuildModel(map, background, input, options);
  const std::vector<Placement> before = CurrentPlacements(m);
  return Evaluate(m, before, before);
}

}  // namespace mosaic::advisor
