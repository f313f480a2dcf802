// ControlPlane: serialised catalog changes driven by sessions and the admin API.
#include "admin/control_plane.h"

#include <algorithm>

#include <fmt/format.h>

#include "admin/layout_api.h"
#include "catalog/layout_check.h"
#include "catalog/reference_copy.h"
#include "catalog/table_discovery.h"
#include "common/log.h"

namespace mosaic::admin {
namespace {

using Json = nlohmann::json;
using Reply = std::pair<int, Json>;

Reply Error(int status, const std::string& message) { return {status, Json{{"error", message}}}; }

std::optional<std::string> QueryValue(const std::map<std::string, std::string>& query,
                                      const std::string& name) {
  auto it = query.find(name);
  if (it == query.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

}  // namespace

ControlPlane::ControlPlane(const Config& config, catalog::Catalog& catalog,
                           catalog::ShardMapHolder& holder, catalog::RelationOidsHolder* relation_oids)
    : config_(config), holder_(holder), relation_oids_(relation_oids), catalog_(catalog), profiles_(config.profiles) {}

namespace {
constexpr const char* kProfilesSetting = "profiles";
}  // namespace

Status ControlPlane::LoadProfiles() {
  std::lock_guard lock(mu_);
  auto stored = catalog_.Setting(kProfilesSetting);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return Status::OK();
  auto parsed = advisor::ParseProfilesJson(nlohmann::json::parse(**stored, nullptr, false));
  if (!parsed.ok()) {
    return Status::Error(parsed.status().sqlstate(),
                         "the storage profiles stored in the catalog are invalid: " + parsed.status().message());
  }
  profiles_ = std::move(parsed).value();
  profiles_from_catalog_ = true;
  log::info("storage profiles: {} profile(s) from the catalog (set through PUT /api/v1/profiles; "
            "they take precedence over the config file)", profiles_.profiles.size());
  return Status::OK();
}

advisor::ProfileSet ControlPlane::Profiles() {
  std::lock_guard lock(mu_);
  return profiles_;
}

std::pair<int, nlohmann::json> ControlPlane::ProfilesJson() {
  std::lock_guard lock(mu_);
  nlohmann::json out = advisor::ProfilesToJson(profiles_);
  out["source"] = profiles_from_catalog_ ? "catalog" : "config";
  return {200, out};
}

std::pair<int, nlohmann::json> ControlPlane::PutProfiles(const nlohmann::json& body) {
  auto parsed = advisor::ParseProfilesJson(body);
  if (!parsed.ok()) return {400, {{"error", parsed.status().message()}}};
  nlohmann::json stored = advisor::ProfilesToJson(*parsed);
  std::lock_guard lock(mu_);
  if (Status s = catalog_.PutSetting(kProfilesSetting, stored.dump()); !s.ok()) {
    return {503, {{"error", "cannot store the profiles in the catalog: " + s.message()}}};
  }
  profiles_ = std::move(parsed).value();
  profiles_from_catalog_ = true;
  log::info("storage profiles replaced: {} profile(s), {} tenant assignment(s)",
            profiles_.profiles.size(), profiles_.tenant_profiles.size());
  stored["source"] = "catalog";
  return {200, stored};
}

Status ControlPlane::PublishLocked() {
  auto map = catalog_.Load();
  if (!map.ok()) return map.status();
  if ((*map)->version != holder_.Snapshot()->version) holder_.Publish(*map);
  return Status::OK();
}

Status ControlPlane::RefreshTablesLocked() {
  auto tables = catalog::DiscoverTables(holder_.Snapshot()->DefaultNode());
  if (!tables.ok()) return tables.status();
  for (catalog::DiscoveredTable& t : *tables) {
    t.tenant_column = config_.TenantColumnFor(t.schema, t.name);
    t.reference = config_.IsReferenceTable(t.schema, t.name);
  }
  if (Status s = catalog_.SyncTables(*tables); !s.ok()) return s;
  if (Status s = PublishLocked(); !s.ok()) return s;
  PublishRelationOidsLocked();
  return Status::OK();
}

void ControlPlane::PublishRelationOidsLocked() {
  if (relation_oids_ == nullptr) return;
  auto map = holder_.Snapshot();
  if (map->nodes.empty()) return;
  std::map<int, std::vector<catalog::NodeRelation>> relations;
  if (map->nodes.size() > 1) {  // one node: nothing is ever translated
    for (const catalog::Node& node : map->nodes) {
      auto read = catalog::DiscoverRelations(node);
      if (!read.ok()) {
        log::warn("cannot read the relations of node {} (its table OIDs are sent as 0): {}", node.id,
                  read.status().message());
        continue;
      }
      relations.emplace(node.id, std::move(read).value());
    }
  }
  relation_oids_->Publish(std::make_shared<const catalog::RelationOids>(map->DefaultNode().id, relations));
}

Status ControlPlane::RefreshTables() {
  std::lock_guard lock(mu_);
  return RefreshTablesLocked();
}

Result<std::string> ControlPlane::CreateReferenceTable(const std::string& name) {
  std::lock_guard lock(mu_);
  if (Status s = RefreshTablesLocked(); !s.ok()) return s;
  auto parsed = catalog::ParseTableName(name);
  if (!parsed.ok()) return parsed.status();
  auto map = holder_.Snapshot();
  const catalog::Table* table = map->FindTable(parsed->schema, parsed->name);
  if (table == nullptr) {
    return Status(std::string_view("42P01"), fmt::format("relation \"{}\" does not exist", name));
  }
  const std::string shown =
      table->schema == "public" ? table->name : table->schema + "." + table->name;
  if (table->kind == catalog::TableKind::kReference) return shown;
  if (!map->LayoutsOfTable(table->id).empty()) {
    return Status(sqlstate::kFeatureNotSupported,
                  fmt::format("table \"{}\" has a layout; a table split over nodes cannot become a "
                              "reference table", shown));
  }
  if (Status s = catalog::CopyReferenceTable(*map, *table); !s.ok()) return s;
  if (Status s = catalog_.MarkReferenceTable(table->id); !s.ok()) return s;
  if (Status s = PublishLocked(); !s.ok()) return s;
  PublishRelationOidsLocked();  // the copies are new tables on the other nodes
  log::info("table {}.{} is now a reference table (copied to {} node(s))", table->schema,
            table->name, map->nodes.size());
  return shown;
}

Reply ControlPlane::SetLayout(const Json& body) {
  std::lock_guard lock(mu_);
  if (Status s = RefreshTablesLocked(); !s.ok()) {
    return Error(503, "cannot refresh the tables: " + s.message());
  }
  auto map = holder_.Snapshot();
  auto layout = ParseLayoutRequest(body, *map);
  if (!layout.ok()) return Error(400, layout.status().message());
  for (const auto& m : map->migrations) {
    if (m.tenant != layout->tenant) continue;
    for (int64_t t : layout->table_ids) {
      if (std::find(m.table_ids.begin(), m.table_ids.end(), t) != m.table_ids.end()) {
        return Error(409, fmt::format("migration {} ({}) is moving rows of these tables for this tenant; "
                                      "change the layout when it is done",
                                      m.id, m.phase));
      }
    }
  }
  auto moved = catalog::FindRowsToMove(*map, *layout);
  if (!moved.ok()) return Error(503, "cannot check the nodes' rows: " + moved.status().message());
  if (moved->has_value()) return Error(409, catalog::DescribeRowsToMove(*map, *layout, **moved));
  auto version = catalog_.ReplaceLayout(*layout);
  if (!version.ok()) return Error(503, "cannot store the layout: " + version.status().message());
  if (Status s = PublishLocked(); !s.ok()) {
    return Error(503, "layout stored, but the shard map did not reload: " + s.message());
  }
  auto published = holder_.Snapshot();
  const catalog::Layout* stored = published->FindLayout(layout->table_ids.front(), layout->tenant);
  Json placements = Json::array();
  if (stored != nullptr) placements.push_back(LayoutJson(*published, *stored));
  log::info("layout of tenant '{}' on {} stored (shard map version {})", layout->tenant,
            layout->column, *version);
  return {200, Json{{"shard_map_version", published->version}, {"placements", placements}}};
}

Reply ControlPlane::Placements(const std::map<std::string, std::string>& query) {
  {
    std::lock_guard lock(mu_);
    if (Status s = RefreshTablesLocked(); !s.ok()) log::warn("placements: {}", s.ToString());
  }
  PlacementFilter filter{QueryValue(query, "table"), QueryValue(query, "tenant")};
  auto json = PlacementsJson(*holder_.Snapshot(), filter);
  if (!json.ok()) return Error(400, json.status().message());
  return {200, std::move(json).value()};
}

Reply ControlPlane::Tables() {
  {
    std::lock_guard lock(mu_);
    if (Status s = RefreshTablesLocked(); !s.ok()) log::warn("tables: {}", s.ToString());
  }
  return {200, TablesJson(*holder_.Snapshot())};
}

void ControlPlane::AddRoutes(AdminServer& server) {
  server.Post("/api/v1/layout", [this](const Json& body) { return SetLayout(body); });
  server.Get("/api/v1/placements", [this](const auto& query) { return Placements(query); });
  server.Get("/api/v1/tables", [this](const auto&) { return Tables(); });
  server.Get("/api/v1/profiles", [this](const auto&) { return ProfilesJson(); });
  server.Put("/api/v1/profiles", [this](const Json& body) { return PutProfiles(body); });
}

}  // namespace mosaic::admin
