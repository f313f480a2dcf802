// Plan and metrics as JSON.
#include "advisor/advice_json.h"

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
