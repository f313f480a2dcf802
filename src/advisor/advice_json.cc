// Plan and metrics as JSON.
#include "advisor/advice_json.h"

#include <fmt/format.h>

namespace mosaic::advisor {
namespace {

using Json = nlohmann::json;

Json Nullable(const std::optional<std::string>& v) { return v ? Json(*v) : Json(nullptr); }
Json Tenant(const std::string& tenant) { return tenant.empty() ? Json(nullptr) : Json(tenant); }

Json RangesJson(const std::vector<PlannedRange>& ranges) {
  Json out = Json::array();
  for (const auto& r : ranges) {
    out.push_back({{"lower", Nullable(r.lower)}, {"upper", Nullable(r.upper)}, {"node", r.node_id},
                   {"load", r.load}, {"bytes", r.bytes}, {"cost", r.cost}});
  }
  return out;
}

}  // namespace

Json MetricsJson(const Metrics& m) {
  Json nodes = Json::array();
  for (const auto& [id, share] : m.node_load) nodes.push_back({{"node", id}, {"share", share}});
  return {{"imbalance", m.imbalance},
          {"max_node_load", m.max_node_load},
          {"single_node_share", m.single_node_share},
          {"single_node_share_reads", m.single_node_share_reads},
          {"single_node_share_writes", m.single_node_share_writes},
          {"cross_node_statements", m.cross_node_statements},
          {"bytes_to_move", m.bytes_to_move},
          {"node_load_share", nodes}};
}

Json ActionJson(const Action& a) {
  return {{"action", ActionKindName(a.kind)},
          {"tenant", Tenant(a.tenant)},
          {"tables", a.tables},
          {"column", a.column},
          {"from", RangesJson(a.from)},
          {"ranges", RangesJson(a.ranges)},
          {"reason", a.reason},
          {"predicted", {{"imbalance", a.predicted.imbalance},
                         {"single_node_share", a.predicted.single_node_share},
                         {"bytes_to_move", a.bytes_to_move}}}};
}

Json AdviceJson(const Plan& plan) {
  Json actions = Json::array();
  for (const auto& a : plan.actions) actions.push_back(ActionJson(a));
  return {{"tenant", Tenant(plan.tenant)},
          {"profile", plan.profile},
          {"summary", plan.summary},
          {"current", MetricsJson(plan.current)},
          {"actions", actions},
          {"predicted", MetricsJson(plan.predicted)}};
}

namespace {

std::string MetricsText(const Metrics& m) {
  return fmt::format("imbalance {:.2f}, max node load {:.2f}, single-node share {:.2f} (reads {:.2f}, writes {:.2f})",
                     m.imbalance, m.max_node_load, m.single_node_share, m.single_node_share_reads,
                     m.single_node_share_writes);
}

}  // namespace

std::string ExplainPlan(const Plan& plan) {
  std::string out = fmt::format("tenant {} (profile {}): {}\n", plan.tenant.empty() ? "(implicit)" : plan.tenant,
                                plan.profile, plan.summary);
  out += "  now:       " + MetricsText(plan.current) + "\n";
  if (plan.actions.empty()) return out;
  out += fmt::format("  predicted: {}; {:.0f} bytes to move\n", MetricsText(plan.predicted), plan.predicted.bytes_to_move);
  for (size_t i = 0; i < plan.actions.size(); ++i) {
    const Action& a = plan.actions[i];
    std::string ranges;
    for (const auto& r : a.ranges) {
      ranges += fmt::format("{}[{}, {}) -> node {}", ranges.empty() ? "" : ", ", r.lower.value_or("-inf"),
                            r.upper.value_or("+inf"), r.node_id);
    }
    std::string tables;
    for (const auto& t : a.tables) tables += (tables.empty() ? "" : ", ") + t;
    out += fmt::format("  {}. {} {} on {}: {}\n     why: {}\n", i + 1, ActionKindName(a.kind), tables,
                       a.column.empty() ? "(no column)" : a.column, ranges, a.reason);
  }
  return out;
}

Json LayoutRequestJson(const catalog::ShardMap& map, const catalog::Layout& layout) {
  Json tables = Json::array();
  for (int64_t id : layout.table_ids) {
    for (const auto& t : map.tables) {
      if (t.id == id) tables.push_back(t.schema + "." + t.name);
    }
  }
  Json ranges = Json::array();
  for (const auto& r : layout.ranges) {
    Json range = {{"node", r.node_id}};
    if (r.upper) range["upper"] = *r.upper;
    ranges.push_back(std::move(range));
  }
  return {{"tables", tables}, {"tenant", Tenant(layout.tenant)}, {"column", layout.column}, {"ranges", ranges}};
}

}  // namespace mosaic::advisor
