// The migration model: names of phases and kinds, and PlanAction, which binds an action in the
// advisor's format to a shard map (the ranges it replaces, the flows of rows between nodes, the
// layout after the cutover). Pure: no I/O.
#include "migration/migration.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <array>
#include <set>

#include "admin/layout_api.h"
#include "catalog/layout_check.h"
#include "catalog/pg_client.h"

namespace mosaic::migration {
namespace {

using catalog::Layout;
using catalog::Range;
using catalog::ShardMap;
using catalog::Table;
using catalog::TableKind;
using Json = nlohmann::json;

constexpr std::array<std::string_view, 9> kPhaseNames = {
    "queued", "shadow_reads", "incremental_writes", "cutover",     "deprecated",
    "done",   "rolling_back", "rolled_back",        "failed"};
constexpr std::array<std::string_view, 3> kActionNames = {"split", "move", "merge"};

Status BadRequest(std::string message) {
  return Status(sqlstate::kInvalidParameterValue, std::move(message));
}

Status InField(std::string_view field, const Status& status) {
  return Status(status.sqlstate(), fmt::format("{}: {}", field, status.message()));
}

std::string QualifiedName(const Table& t) { return t.schema + "." + t.name; }

const Table* TableById(const ShardMap& map, int64_t id) {
  for (const Table& t : map.tables) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

// The range column of one side of a flow (the old layout's, or the action's).
struct ColumnSide {
  std::string column;  // unquoted; "" when there is no layout (the tenant lives whole on one node)
  std::string type;    // pg_type.typname
  router::KeyType key_type = router::KeyType::kUnsupported;
};

// An SQL literal of `text` cast to `type`: '2024-01-01'::date.
std::string Literal(std::string_view text, std::string_view type) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'::" + std::string(type);
}

// The condition for rows of `side` in range `r`. Boundaries are written as the router reads them
// (decoded keys: a timestamptz without offset is UTC to the router, whatever the session says).
std::string RangeSql(const ColumnSide& side, const Range& r) {
  auto operand = [&](const std::optional<std::string>& text,
                     const std::string& key) -> std::optional<std::string> {
    if (!text) return std::nullopt;
    return Literal(router::DecodeKeyForDisplay(side.key_type, key), side.type);
  };
  return catalog::RangeConditionSql(catalog::pg::QuoteIdent(side.column),
                                    operand(r.lower, r.lower_key), operand(r.upper, r.upper_key),
                                    side.key_type);
}

// The condition for rows in any range of `ranges` on `node`: "true" if one is unbounded.
std::string RangesOnNode(const ColumnSide& side, const std::vector<Range>& ranges, int node) {
  std::vector<std::string> parts;
  for (const Range& r : ranges) {
    if (r.node_id != node) continue;
    std::string part = RangeSql(side, r);
    if (part == "true") return part;
    parts.push_back(std::move(part));
  }
  if (parts.size() == 1) return parts.front();
  return "(" + fmt::format("{}", fmt::join(parts, " OR ")) + ")";
}

// Whether ranges `a` and `b` (keys of one column) share a value.
bool Overlap(const Range& a, const Range& b) {
  const bool lo_unbounded = !a.lower && !b.lower, hi_unbounded = !a.upper && !b.upper;
  if (lo_unbounded || hi_unbounded) return true;
  const std::string& lo = !a.lower ? b.lower_key : !b.lower ? a.lower_key : std::max(a.lower_key, b.lower_key);
  const std::string& hi = !a.upper ? b.upper_key : !b.upper ? a.upper_key : std::min(a.upper_key, b.upper_key);
  return lo < hi;
}

bool AnyOverlap(const std::vector<Range>& from, int source, const std::vector<Range>& to, int target) {
  for (const Range& a : from) {
    if (a.node_id != source) continue;
    for (const Range& b : to) {
      if (b.node_id == target && Overlap(a, b)) return true;
    }
  }
  return false;
}

std::vector<int> NodesOf(const std::vector<Range>& ranges) {
  std::set<int> nodes;
  for (const Range& r : ranges) nodes.insert(r.node_id);
  return {nodes.begin(), nodes.end()};
}

// What PlanAction has read so far.
struct Parsed {
  std::vector<const Table*> tables;
  const Layout* current = nullptr;  // the tenant's layout of the group, if any
  ColumnSide old_side, new_side;
  std::vector<Range> to;
  std::string tenant_sql;  // "tenant_id = '42'::int8", or "" for single-tenant tables
};

Status CheckFields(const Json& action) {
  static const std::set<std::string> kFields = {"action", "tenant", "tables", "column", "ranges",
                                                "from",   "origin", "reason", "predicted"};
  if (!action.is_object()) return BadRequest("the action must be a JSON object");
  for (const auto& [key, value] : action.items()) {
    if (!kFields.contains(key)) return BadRequest(fmt::format("unknown field \"{}\"", key));
  }
  return Status::OK();
}

Result<ActionKind> ParseKind(const Json& action) {
  if (!action.contains("action") || !action["action"].is_string()) {
    return BadRequest("action: required, \"split\", \"move\" or \"merge\"");
  }
  const std::string name = action["action"].get<std::string>();
  auto kind = ActionKindFromName(name);
  if (!kind) return BadRequest(fmt::format("action: unknown kind \"{}\" (split, move or merge)", name));
  return *kind;
}

// Whether the action lays the group out as one unbounded range ("move this tenant's tables").
bool OneWholeRange(const Json& action) {
  if (!action.contains("ranges") || !action["ranges"].is_array() || action["ranges"].size() != 1) return false;
  const Json& r = action["ranges"][0];
  auto unbounded = [&r](const char* end) { return !r.contains(end) || r[end].is_null(); };
  return r.is_object() && unbounded("lower") && unbounded("upper");
}

// The column of a column-less action that makes one unbounded range, before the tenant is read:
// the first table's tenant column (distributed tables) or the implicit tenant's layout column.
// "" if there is none (then "column" is required).
std::string DefaultColumn(const Json& tables, const ShardMap& map) {
  if (!tables[0].is_string()) return "";
  auto table = admin::ResolveTable(map, tables[0].get<std::string>());
  if (!table.ok()) return "";
  if ((*table)->kind == TableKind::kDistributed) return (*table)->tenant_column;
  const Layout* layout = map.FindLayout((*table)->id, "");
  return layout != nullptr ? layout->column : "";
}

// Tables, tenant and the new column, validated as the layout API does. One unbounded range needs
// no column: without one it keeps the tenant's current layout's column, else takes the tenant
// column.
Status ParseTarget(const Json& action, const ShardMap& map, Layout& target, Parsed& p) {
  if (!action.contains("tables") || !action["tables"].is_array() || action["tables"].empty()) {
    return BadRequest("tables: required, a non-empty array of table names");
  }
  if (map.nodes.empty()) return BadRequest("the shard map has no nodes");
  Json column = action.value("column", Json());
  const bool defaulted = (column.is_null() || column == "") && OneWholeRange(action);
  if (defaulted) column = DefaultColumn(action["tables"], map);
  Json request = {{"tables", action["tables"]},
                  {"tenant", action.value("tenant", Json())},
                  {"column", column},
                  {"ranges", Json::array({{{"node", map.DefaultNode().id}}})}};
  auto layout = admin::ParseLayoutRequest(request, map);
  if (layout.ok() && defaulted) {
    const Layout* current = map.FindLayout(layout->table_ids.front(), layout->tenant);
    if (current != nullptr && current->column != layout->column) {
      request["column"] = current->column;
      layout = admin::ParseLayoutRequest(request, map);
    }
  }
  if (!layout.ok()) return layout.status();
  target = std::move(layout).value();
  target.ranges.clear();
  p.new_side = {target.column, target.column_type, target.key_type};
  for (int64_t id : target.table_ids) p.tables.push_back(TableById(map, id));
  return Status::OK();
}

// The tenant condition of the flows; the tenant columns of the group must agree for it to hold in
// every table.
Status ParseTenantColumn(const std::string& tenant, Parsed& p) {
  if (tenant.empty()) return Status::OK();
  const Table& first = *p.tables.front();
  const catalog::Column* column = first.FindColumn(first.tenant_column);
  for (const Table* t : p.tables) {
    const catalog::Column* c = t->FindColumn(t->tenant_column);
    if (t->tenant_column != first.tenant_column || c == nullptr || column == nullptr ||
        c->type != column->type) {
      return BadRequest(fmt::format(
          "tables: \"{}\" and \"{}\" have different tenant columns; one migration moves tables "
          "whose tenant column has the same name and type", QualifiedName(first), QualifiedName(*t)));
    }
  }
  p.tenant_sql = catalog::pg::QuoteIdent(first.tenant_column) + " = " + Literal(tenant, column->type);
  return Status::OK();
}

// The tenant's current layout of the group: the tables must be exactly its tables.
Status FindCurrentLayout(const ShardMap& map, const Layout& target, Parsed& p) {
  p.current = map.FindLayout(target.table_ids.front(), target.tenant);
  std::set<int64_t> asked(target.table_ids.begin(), target.table_ids.end());
  for (int64_t id : target.table_ids) {
    if (map.FindLayout(id, target.tenant) != p.current) {
      return BadRequest("tables: they are not one table group of the tenant (their layouts differ); "
                        "a migration moves one whole group");
    }
  }
  if (p.current == nullptr) return Status::OK();
  if (std::set<int64_t>(p.current->table_ids.begin(), p.current->table_ids.end()) != asked) {
    std::vector<std::string> names;
    for (int64_t id : p.current->table_ids) {
      const Table* t = TableById(map, id);
      names.push_back(t != nullptr ? QualifiedName(*t) : std::to_string(id));
    }
    return BadRequest(fmt::format("tables: the tenant's table group is [{}]; a migration moves the "
                                  "whole group", fmt::join(names, ", ")));
  }
  p.old_side = {p.current->column, p.current->column_type, p.current->key_type};
  return Status::OK();
}

// One boundary of ranges[i] ("lower" or "upper"): text and encoded key; nullopt text if null.
Status ParseBoundary(const Json& item, const std::string& field, const char* name,
                     router::KeyType type, std::optional<std::string>& text, std::string& key) {
  if (!item.contains(name) || item[name].is_null()) return Status::OK();
  const Json& v = item[name];
  if (!v.is_string() && !v.is_number()) return BadRequest(fmt::format("{}.{}: must be a string, a number or null", field, name));
  text = v.is_string() ? v.get<std::string>() : v.dump();
  auto encoded = router::EncodeKey(type, *text);
  if (!encoded.ok()) return InField(field + "." + name, encoded.status());
  key = std::move(encoded).value();
  return Status::OK();
}

Status ParseRange(const Json& item, size_t i, size_t count, const ShardMap& map, Parsed& p) {
  const std::string field = fmt::format("ranges[{}]", i);
  static const std::set<std::string> kFields = {"lower", "upper", "node", "load", "bytes", "cost"};
  if (!item.is_object()) return BadRequest(field + ": must be an object");
  for (const auto& [key, value] : item.items()) {
    if (!kFields.contains(key)) return BadRequest(fmt::format("{}: unknown field \"{}\"", field, key));
  }
  Range r;
  if (!item.contains("node") || !item["node"].is_number_integer()) return BadRequest(field + ".node: required, a node id");
  const auto node = item["node"].get<int64_t>();  // not get<int>: 2^32 + 1 would name node 1
  r.node_id = node > 0 && node <= std::numeric_limits<int>::max() ? static_cast<int>(node) : 0;
  if (r.node_id != node || map.FindNode(r.node_id) == nullptr) {
    return BadRequest(fmt::format("{}.node: there is no node {}", field, node));
  }
  const router::KeyType type = p.new_side.key_type;
  if (Status s = ParseBoundary(item, field, "lower", type, r.lower, r.lower_key); !s.ok()) return s;
  if (Status s = ParseBoundary(item, field, "upper", type, r.upper, r.upper_key); !s.ok()) return s;
  if (i > 0) {
    const Range& prev = p.to.back();
    if (!r.lower || r.lower_key != prev.upper_key) {
      return BadRequest(fmt::format("{}.lower: must be the previous range's upper bound \"{}\"; ranges "
                                    "must be contiguous", field, prev.upper.value_or("null")));
    }
  }
  if (i + 1 < count && !r.upper) return BadRequest(field + ".upper: only the last range may be unbounded");
  if (r.lower && r.upper && r.upper_key <= r.lower_key) {
    return BadRequest(fmt::format("{}.upper: \"{}\" is not above the lower bound \"{}\"; ranges must be "
                                  "strictly ascending", field, *r.upper, *r.lower));
  }
  p.to.push_back(std::move(r));
  return Status::OK();
}

Status ParseRanges(const Json& action, const ShardMap& map, Parsed& p) {
  if (!action.contains("ranges") || !action["ranges"].is_array() || action["ranges"].empty()) {
    return BadRequest("ranges: required, a non-empty array of the new ranges");
  }
  const Json& ranges = action["ranges"];
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (Status s = ParseRange(ranges[i], i, ranges.size(), map, p); !s.ok()) return s;
  }
  return Status::OK();
}

bool SameBound(const std::optional<std::string>& a_text, const std::string& a_key,
               const std::optional<std::string>& b_text, const std::string& b_key) {
  return a_text.has_value() == b_text.has_value() && a_key == b_key;
}

std::string BoundText(const std::optional<std::string>& text) { return text ? "\"" + *text + "\"" : "null"; }

// The indexes [first, last] of the current ranges the new ranges replace.
Result<std::pair<size_t, size_t>> FindSpan(const std::vector<Range>& current, const Parsed& p,
                                           bool same_column) {
  const Range& lo = p.to.front();
  const Range& hi = p.to.back();
  if (!same_column) {
    const std::string why = p.current == nullptr
        ? "the tenant has no layout of these tables yet (it lives whole on its home node)"
        : fmt::format("the range column changes from \"{}\"", p.current->column);
    if (lo.lower) return BadRequest(fmt::format("ranges[0].lower: must be null: {}, so the new ranges cover every value", why));
    if (hi.upper) return BadRequest(fmt::format("ranges[{}].upper: must be null: {}, so the new ranges cover every value", p.to.size() - 1, why));
    return std::pair<size_t, size_t>(0, current.size() - 1);
  }
  std::string boundaries;
  for (size_t i = 0; i + 1 < current.size(); ++i) boundaries += (i ? ", " : "") + BoundText(current[i].upper);
  std::optional<size_t> first, last;
  for (size_t i = 0; i < current.size(); ++i) {
    if (SameBound(current[i].lower, current[i].lower_key, lo.lower, lo.lower_key)) first = i;
    if (SameBound(current[i].upper, current[i].upper_key, hi.upper, hi.upper_key)) last = i;
  }
  if (!first) {
    return BadRequest(fmt::format("ranges[0].lower: {} is not a boundary of the current layout (null, {}, null)",
                                  BoundText(lo.lower), boundaries));
  }
  if (!last) {
    return BadRequest(fmt::format("ranges[{}].upper: {} is not a boundary of the current layout (null, {}, null)",
                                  p.to.size() - 1, BoundText(hi.upper), boundaries));
  }
  return std::pair<size_t, size_t>(*first, *last);
}

RangeSpec SpecOf(const Range& r) { return RangeSpec{r.lower, r.upper, r.node_id}; }

bool SameRanges(const std::vector<Range>& a, const std::vector<Range>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const Range& x, const Range& y) {
    return SameBound(x.lower, x.lower_key, y.lower, y.lower_key) &&
           SameBound(x.upper, x.upper_key, y.upper, y.upper_key) && x.node_id == y.node_id;
  });
}

std::vector<Flow> BuildFlows(const std::vector<Range>& from, const Parsed& p, bool same_column) {
  std::vector<Flow> flows;
  for (int source : NodesOf(from)) {
    for (int target : NodesOf(p.to)) {
      if (target == source) continue;
      if (same_column && !AnyOverlap(from, source, p.to, target)) continue;
      std::vector<std::string> parts;
      for (std::string part : {p.tenant_sql, RangesOnNode(p.old_side, from, source),
                               RangesOnNode(p.new_side, p.to, target)}) {
        if (!part.empty() && part != "true") parts.push_back(std::move(part));
      }
      flows.push_back({source, target, parts.empty() ? "true" : fmt::format("{}", fmt::join(parts, " AND "))});
    }
  }
  return flows;
}

Json RangesJson(const std::vector<RangeSpec>& ranges) {
  Json out = Json::array();
  for (const RangeSpec& r : ranges) {
    out.push_back({{"lower", r.lower ? Json(*r.lower) : Json(nullptr)},
                   {"upper", r.upper ? Json(*r.upper) : Json(nullptr)},
                   {"node", r.node}});
  }
  return out;
}

}  // namespace

std::string_view PhaseName(Phase p) { return kPhaseNames[static_cast<size_t>(p)]; }

std::optional<Phase> PhaseFromName(std::string_view name) {
  for (size_t i = 0; i < kPhaseNames.size(); ++i) {
    if (kPhaseNames[i] == name) return static_cast<Phase>(i);
  }
  return std::nullopt;
}

bool IsTerminal(Phase p) { return p == Phase::kDone || p == Phase::kRolledBack || p == Phase::kFailed; }

std::string_view ActionKindName(ActionKind k) { return kActionNames[static_cast<size_t>(k)]; }

std::optional<ActionKind> ActionKindFromName(std::string_view name) {
  for (size_t i = 0; i < kActionNames.size(); ++i) {
    if (kActionNames[i] == name) return static_cast<ActionKind>(i);
  }
  return std::nullopt;
}

std::vector<int> Plan::Nodes() const {
  std::set<int> nodes;
  for (const Flow& f : flows) {
    nodes.insert(f.source);
    nodes.insert(f.target);
  }
  return {nodes.begin(), nodes.end()};
}

Result<Plan> PlanAction(const Json& action, const ShardMap& map) {
  if (Status s = CheckFields(action); !s.ok()) return s;
  auto kind = ParseKind(action);
  if (!kind.ok()) return kind.status();
  Plan plan;
  plan.kind = *kind;
  Parsed p;
  Layout& layout = plan.new_layout;
  if (Status s = ParseTarget(action, map, layout, p); !s.ok()) return s;
  if (Status s = ParseTenantColumn(layout.tenant, p); !s.ok()) return s;
  if (Status s = FindCurrentLayout(map, layout, p); !s.ok()) return s;
  if (Status s = ParseRanges(action, map, p); !s.ok()) return s;

  std::vector<Range> current;
  if (p.current != nullptr) {
    current = p.current->ranges;
    layout.table_ids = p.current->table_ids;  // the layout's order
    plan.layout_id = p.current->id;
  } else {
    current.push_back(Range{.node_id = map.TenantHomeNode(layout.tenant)});
  }
  const bool same_column = p.current != nullptr && p.current->column == layout.column;
  auto span = FindSpan(current, p, same_column);
  if (!span.ok()) return span.status();
  const auto [first, last] = *span;
  std::vector<Range> from(current.begin() + first, current.begin() + last + 1);
  if (same_column && SameRanges(from, p.to)) return BadRequest("ranges: the action changes nothing");

  plan.tenant = layout.tenant;
  plan.table_ids = layout.table_ids;
  for (int64_t id : plan.table_ids) plan.tables.push_back(QualifiedName(*TableById(map, id)));
  plan.column = layout.column;
  plan.column_type = layout.column_type;
  for (const Range& r : from) plan.from.push_back(SpecOf(r));
  for (const Range& r : p.to) plan.to.push_back(SpecOf(r));
  plan.flows = BuildFlows(from, p, same_column);
  if (same_column) layout.ranges.assign(current.begin(), current.begin() + first);
  layout.ranges.insert(layout.ranges.end(), p.to.begin(), p.to.end());
  if (same_column) layout.ranges.insert(layout.ranges.end(), current.begin() + last + 1, current.end());
  return plan;
}

Json PlanJson(const Plan& plan) {
  return {{"action", ActionKindName(plan.kind)},
          {"tenant", plan.tenant.empty() ? Json(nullptr) : Json(plan.tenant)},
          {"tables", plan.tables},
          {"column", plan.column},
          {"from", RangesJson(plan.from)},
          {"ranges", RangesJson(plan.to)}};
}

Json ProgressJson(const Progress& p) {
  return {{"rows_copied", p.rows_copied},
          {"rows_estimated", p.rows_estimated},
          {"bytes_copied", p.bytes_copied},
          {"rows_per_s", p.rows_per_s},
          {"eta_s", p.eta_s},
          {"shadow_reads", p.shadow_reads},
          {"shadow_mismatches", p.shadow_mismatches},
          {"checksum_chunks", p.checksum_chunks},
          {"checksum_mismatches", p.checksum_mismatches},
          {"cutover_pause_ms", p.cutover_pause_ms},
          {"cutover_steps_ms", p.cutover_steps_ms},
          {"cutover_abandoned_ms", p.cutover_abandoned_ms},
          {"cutover_attempts", p.cutover_attempts},
          {"cutover_blocked_by", p.cutover_blocked_by}};
}

Progress ProgressFromJson(const Json& json) {
  Progress p;
  if (!json.is_object()) return p;
  auto read = [&json](const char* name, auto& field) {
    auto it = json.find(name);
    if (it != json.end() && it->is_number()) field = it->get<std::remove_reference_t<decltype(field)>>();
  };
  read("rows_copied", p.rows_copied);
  read("rows_estimated", p.rows_estimated);
  read("bytes_copied", p.bytes_copied);
  read("rows_per_s", p.rows_per_s);
  read("eta_s", p.eta_s);
  read("shadow_reads", p.shadow_reads);
  read("shadow_mismatches", p.shadow_mismatches);
  read("checksum_chunks", p.checksum_chunks);
  read("checksum_mismatches", p.checksum_mismatches);
  read("cutover_pause_ms", p.cutover_pause_ms);
  read("cutover_attempts", p.cutover_attempts);
  if (auto blocked = json.find("cutover_blocked_by"); blocked != json.end() && blocked->is_string()) {
    p.cutover_blocked_by = blocked->get<std::string>();
  }
  if (auto steps = json.find("cutover_steps_ms"); steps != json.end() && steps->is_object()) {
    for (const auto& [step, ms] : steps->items()) {
      if (ms.is_number()) p.cutover_steps_ms[step] = ms.get<double>();
    }
  }
  if (auto held = json.find("cutover_abandoned_ms"); held != json.end() && held->is_array()) {
    for (const auto& ms : *held) {
      if (ms.is_number()) p.cutover_abandoned_ms.push_back(ms.get<double>());
    }
  }
  return p;
}

bool OnServer(const std::string& dsn, const std::string& host, int port) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
  if (options == nullptr) {
    PQfreemem(error);
    return true;
  }
  std::string dsn_host, dsn_port;
  for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string_view key = o->keyword;
    if (key == "host") dsn_host = o->val;
    if (key == "hostaddr" && dsn_host.empty()) dsn_host = o->val;
    if (key == "port") dsn_port = o->val;
  }
  PQconninfoFree(options);
  if (dsn_host.empty() || dsn_host.starts_with("/")) return true;
  auto same = [](const std::string& h) { return h == "localhost" ? std::string("127.0.0.1") : h; };
  return same(dsn_host) == same(host) && (dsn_port.empty() ? 5432 : std::atoi(dsn_port.c_str())) == port;
}

}  // namespace mosaic::migration
