// Layout requests and placement listings: pure functions over a ShardMap snapshot.
#include "admin/layout_api.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <set>

namespace mosaic::admin {
namespace {

using Json = nlohmann::json;
using catalog::Layout;
using catalog::Range;
using catalog::ShardMap;
using catalog::Table;
using catalog::TableKind;

Status BadRequest(std::string message) {
  return Status(sqlstate::kInvalidParameterValue, std::move(message));
}

// `status` with its message prefixed by the field it concerns.
Status InField(std::string_view field, const Status& status) {
  return Status(status.sqlstate(), fmt::format("{}: {}", field, status.message()));
}

std::string QualifiedName(const Table& t) { return t.schema + "." + t.name; }

// A JSON scalar as the text an operator means by it: strings as they are, numbers as written.
std::optional<std::string> ScalarText(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return v.dump();
  return std::nullopt;
}

Result<std::vector<const Table*>> ParseTables(const Json& body, const ShardMap& map) {
  const bool one = body.contains("table"), many = body.contains("tables");
  if (one == many) return BadRequest("table: give either \"table\" or \"tables\"");
  std::vector<std::pair<std::string, std::string>> names;  // (field, name)
  if (one) {
    if (!body["table"].is_string()) return BadRequest("table: must be a string");
    names.emplace_back("table", body["table"].get<std::string>());
  } else {
    const Json& list = body["tables"];
    if (!list.is_array() || list.empty()) return BadRequest("tables: must be a non-empty array");
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string field = fmt::format("tables[{}]", i);
      if (!list[i].is_string()) return BadRequest(field + ": must be a string");
      names.emplace_back(field, list[i].get<std::string>());
    }
  }
  std::vector<const Table*> tables;
  for (const auto& [field, name] : names) {
    auto table = ResolveTable(map, name);
    if (!table.ok()) return InField(field, table.status());
    if ((*table)->kind == TableKind::kReference) {
      return BadRequest(fmt::format("{}: \"{}\" is a reference table (a copy on every node); it "
                                    "cannot be laid out", field, QualifiedName(**table)));
    }
    if (std::find(tables.begin(), tables.end(), *table) != tables.end()) {
      return BadRequest(fmt::format("{}: \"{}\" is listed twice", field, QualifiedName(**table)));
    }
    tables.push_back(*table);
  }
  return tables;
}

router::KeyType TenantKeyType(const Table& t) {
  const catalog::Column* c = t.FindColumn(t.tenant_column);
  return c == nullptr ? router::KeyType::kUnsupported : router::KeyTypeFromName(c->type);
}

// The canonical tenant of the request: "" for single-tenant tables.
Result<std::string> ParseTenant(const Json& body, const std::vector<const Table*>& tables) {
  const bool implicit = !body.contains("tenant") || body["tenant"].is_null();
  std::optional<std::string> raw;
  if (!implicit) {
    raw = ScalarText(body["tenant"]);
    if (!raw) return BadRequest("tenant: must be a string, a number or null");
  }
  std::optional<std::string> canonical;
  for (const Table* t : tables) {
    const bool distributed = t->kind == TableKind::kDistributed;
    if (implicit && distributed) {
      return BadRequest(fmt::format("tenant: \"{}\" is distributed (tenant column \"{}\"); give "
                                    "the tenant to lay out", QualifiedName(*t), t->tenant_column));
    }
    if (!implicit && !distributed) {
      return BadRequest(fmt::format("tenant: \"{}\" is single-tenant; tenant must be null",
                                    QualifiedName(*t)));
    }
    if (implicit) continue;
    auto key = router::CanonicalTenant(TenantKeyType(*t), *raw);
    if (!key.ok()) return InField("tenant", key.status());
    if (canonical && *canonical != *key) {
      return BadRequest("tenant: the tables' tenant columns read \"" + *raw +
                        "\" as different tenants");
    }
    canonical = std::move(key).value();
  }
  return canonical.value_or("");
}

// Sets layout.column, column_type and key_type from the request.
Status ParseColumn(const Json& body, const std::vector<const Table*>& tables, Layout& layout) {
  if (!body.contains("column") || !body["column"].is_string() ||
      body["column"].get<std::string>().empty()) {
    return BadRequest("column: required, a column name");
  }
  layout.column = body["column"].get<std::string>();
  for (const Table* t : tables) {
    const catalog::Column* c = t->FindColumn(layout.column);
    if (c == nullptr) {
      return BadRequest(fmt::format("column: \"{}\" is not a column of \"{}\"", layout.column,
                                    QualifiedName(*t)));
    }
    if (layout.column_type.empty()) {
      layout.column_type = c->type;
      layout.key_type = router::KeyTypeFromName(c->type);
      if (layout.key_type == router::KeyType::kUnsupported) {
        return BadRequest(fmt::format(
            "column: \"{}\" of \"{}\" has type {}, which cannot be a range column (integer, "
            "numeric, text, varchar, char, date, timestamp, timestamptz and uuid can)",
            layout.column, QualifiedName(*t), c->type));
      }
    }
    if (!c->bytewise) {
      return BadRequest(fmt::format(
          "column: \"{}\" of \"{}\" sorts by a collation that does not compare bytes (a locale or ICU "
          "collation, maybe the database's default); Mosaic's ranges compare text byte by byte, as COLLATE \"C\" does, "
          "so the nodes would disagree with it on which range a value is in",
          layout.column, QualifiedName(*t)));
    }
    if (c->type != layout.column_type) {
      return BadRequest(fmt::format(
          "column: \"{}\" is {} in \"{}\" but {} in \"{}\"; a table group's range columns must "
          "have one type", layout.column, layout.column_type, QualifiedName(*tables.front()),
          c->type, QualifiedName(*t)));
    }
  }
  return Status::OK();
}

Status ParseRange(const Json& item, size_t i, size_t count, const ShardMap& map, Layout& layout) {
  const std::string field = fmt::format("ranges[{}]", i);
  if (!item.is_object()) return BadRequest(field + ": must be an object");
  for (const auto& [key, value] : item.items()) {
    if (key != "upper" && key != "node") return BadRequest(fmt::format("{}: unknown field \"{}\"", field, key));
  }
  Range range;
  if (!item.contains("node") || !item["node"].is_number_integer()) {
    return BadRequest(field + ".node: required, a node id");
  }
  const auto node = item["node"].get<int64_t>();  // not get<int>: 2^32 + 1 would name node 1
  range.node_id = node > 0 && node <= std::numeric_limits<int>::max() ? static_cast<int>(node) : 0;
  if (range.node_id != node || map.FindNode(range.node_id) == nullptr) {
    return BadRequest(fmt::format("{}.node: there is no node {}", field, node));
  }
  const bool last = i + 1 == count;
  const bool bounded = item.contains("upper") && !item["upper"].is_null();
  if (last && bounded) return BadRequest(field + ".upper: the last range must have no upper bound");
  if (!last && !bounded) return BadRequest(field + ".upper: only the last range may be unbounded");
  if (!layout.ranges.empty()) {
    range.lower = layout.ranges.back().upper;
    range.lower_key = layout.ranges.back().upper_key;
  }
  if (bounded) {
    range.upper = ScalarText(item["upper"]);
    if (!range.upper) return BadRequest(field + ".upper: must be a string or a number");
    auto key = router::EncodeKey(layout.key_type, *range.upper);
    if (!key.ok()) return InField(field + ".upper", key.status());
    range.upper_key = std::move(key).value();
    if (range.lower && range.upper_key <= range.lower_key) {
      return BadRequest(fmt::format("{}.upper: \"{}\" is not above the previous boundary \"{}\"; "
                                    "ranges must be strictly ascending", field, *range.upper,
                                    *range.lower));
    }
  }
  layout.ranges.push_back(std::move(range));
  return Status::OK();
}

Status ParseRanges(const Json& body, const ShardMap& map, Layout& layout) {
  if (!body.contains("ranges") || !body["ranges"].is_array() || body["ranges"].empty()) {
    return BadRequest("ranges: required, a non-empty array");
  }
  const Json& ranges = body["ranges"];
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (Status s = ParseRange(ranges[i], i, ranges.size(), map, layout); !s.ok()) return s;
  }
  return Status::OK();
}

Json Nullable(const std::optional<std::string>& v) { return v ? Json(*v) : Json(nullptr); }

Json TenantJson(std::string_view tenant) { return tenant.empty() ? Json(nullptr) : Json(tenant); }

Json WholeRange(int node) {
  return Json::array({{{"lower", nullptr}, {"upper", nullptr}, {"node", node}, {"version", nullptr}}});
}

std::vector<int> NodeIds(const ShardMap& map) {
  std::vector<int> ids;
  for (const auto& n : map.nodes) ids.push_back(n.id);
  return ids;
}

// Placements of one table that has no layout for the tenant (or any tenant, without a filter).
void AddImplicitPlacements(const ShardMap& map, const Table& t,
                           const std::optional<std::string>& tenant, Json& out) {
  const Json tables = Json::array({QualifiedName(t)});
  switch (t.kind) {
    case TableKind::kReference:
      out.push_back({{"kind", "reference"}, {"tables", tables}, {"tenant", nullptr},
                     {"nodes", Json(NodeIds(map))}});
      return;
    case TableKind::kSingleTenant:
      if (map.FindLayout(t.id, "") == nullptr) {
        out.push_back({{"kind", "home"}, {"tables", tables}, {"tenant", nullptr},
                       {"column", nullptr}, {"ranges", WholeRange(map.TenantHomeNode(""))}});
      }
      return;
    case TableKind::kDistributed:
      if (!tenant) {
        out.push_back({{"kind", "hash"}, {"tables", tables}, {"tenant", nullptr},
                       {"nodes", Json(map.tenant_hash_nodes.empty() ? NodeIds(map)
                                                                          : map.tenant_hash_nodes)}});
      } else if (map.FindLayout(t.id, *tenant) == nullptr) {
        out.push_back({{"kind", "home"}, {"tables", tables}, {"tenant", *tenant},
                       {"column", nullptr}, {"ranges", WholeRange(map.TenantHomeNode(*tenant))}});
      }
      return;
  }
}

// The canonical form of the tenant filter for table `t`; nullopt if it cannot be one of its
// tenants (not distributed, or not a value of its tenant column's type).
std::optional<std::string> TenantFor(const Table& t, const std::string& raw) {
  if (t.kind != TableKind::kDistributed) return std::nullopt;
  auto key = router::CanonicalTenant(TenantKeyType(t), raw);
  return key.ok() ? std::optional<std::string>(std::move(key).value()) : std::nullopt;
}

bool LayoutMatches(const ShardMap& map, const Layout& layout, const Table* only,
                   const std::optional<std::string>& tenant) {
  bool any = false;
  for (int64_t id : layout.table_ids) {
    if (only != nullptr && only->id != id) continue;
    auto t = std::find_if(map.tables.begin(), map.tables.end(),
                          [id](const Table& x) { return x.id == id; });
    if (t == map.tables.end()) continue;
    if (tenant && layout.tenant != "" && TenantFor(*t, *tenant) != layout.tenant) continue;
    if (tenant && layout.tenant == "" && t->kind == TableKind::kDistributed) continue;
    any = true;
  }
  return any;
}

}  // namespace

Result<const Table*> ResolveTable(const ShardMap& map, const std::string& text) {
  auto name = catalog::ParseTableName(text);
  if (!name.ok()) return BadRequest(name.status().message());
  const Table* t = map.FindTable(name->schema, name->name);
  if (t == nullptr) {
    return Status(std::string_view("42P01"), fmt::format("relation \"{}\" does not exist", text));
  }
  return t;
}

Result<Layout> ParseLayoutRequest(const Json& body, const ShardMap& map) {
  if (!body.is_object()) return BadRequest("the request must be a JSON object");
  for (const auto& [key, value] : body.items()) {
    static const std::set<std::string> kFields = {"table", "tables", "tenant", "column", "ranges"};
    if (!kFields.contains(key)) return BadRequest(fmt::format("unknown field \"{}\"", key));
  }
  auto tables = ParseTables(body, map);
  if (!tables.ok()) return tables.status();
  Layout layout;
  for (const Table* t : *tables) layout.table_ids.push_back(t->id);
  auto tenant = ParseTenant(body, *tables);
  if (!tenant.ok()) return tenant.status();
  layout.tenant = std::move(tenant).value();
  if (Status s = ParseColumn(body, *tables, layout); !s.ok()) return s;
  if (Status s = ParseRanges(body, map, layout); !s.ok()) return s;
  return layout;
}

Json LayoutJson(const ShardMap& map, const Layout& layout) {
  Json tables = Json::array();
  for (int64_t id : layout.table_ids) {
    for (const Table& t : map.tables) {
      if (t.id == id) tables.push_back(QualifiedName(t));
    }
  }
  Json ranges = Json::array();
  for (const Range& r : layout.ranges) {
    ranges.push_back({{"lower", Nullable(r.lower)}, {"upper", Nullable(r.upper)},
                      {"node", r.node_id}, {"version", r.version}});
  }
  return {{"kind", "layout"}, {"id", layout.id},         {"tables", tables},
          {"tenant", TenantJson(layout.tenant)},         {"column", layout.column},
          {"type", layout.column_type}, {"version", layout.version}, {"ranges", ranges}};
}

Result<Json> PlacementsJson(const ShardMap& map, const PlacementFilter& filter) {
  const Table* only = nullptr;
  if (filter.table) {
    auto t = ResolveTable(map, *filter.table);
    if (!t.ok()) return InField("table", t.status());
    only = *t;
  }
  Json placements = Json::array();
  for (const Layout& layout : map.layouts) {
    if (LayoutMatches(map, layout, only, filter.tenant)) placements.push_back(LayoutJson(map, layout));
  }
  for (const Table& t : map.tables) {
    if (only != nullptr && only != &t) continue;
    std::optional<std::string> tenant;
    if (filter.tenant) {
      tenant = TenantFor(t, *filter.tenant);
      if (!tenant && t.kind == TableKind::kDistributed) continue;
    }
    AddImplicitPlacements(map, t, tenant, placements);
  }
  return Json{{"shard_map_version", map.version}, {"placements", placements}};
}

Json TablesJson(const ShardMap& map) {
  Json tables = Json::array();
  for (const Table& t : map.tables) {
    Json columns = Json::array();
    for (const auto& c : t.columns) {
      columns.push_back({{"name", c.name}, {"type", c.type}, {"oid", c.type_oid}});
    }
    tables.push_back({{"schema", t.schema},
                      {"name", t.name},
                      {"kind", catalog::TableKindName(t.kind)},
                      {"tenant_column", t.tenant_column.empty() ? Json(nullptr) : Json(t.tenant_column)},
                      {"columns", columns},
                      {"layouts", map.LayoutsOfTable(t.id).size()}});
  }
  return Json{{"shard_map_version", map.version}, {"tables", tables}};
}

}  // namespace mosaic::admin
