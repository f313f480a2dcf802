// ControlPlane: the operations that change what the shard map says about tables, and the admin
// routes over them: table refresh (discovery on the default node), reference tables, the layout
// API (POST /api/v1/layout, GET /api/v1/placements, GET /api/v1/tables); and the storage
// profiles (GET/PUT /api/v1/profiles).
//
// Every operation blocks on the catalog and the nodes (synchronous libpq): call it from the
// admin server's threads or off a worker's event loop, never on the data path. Operations are
// serialised by one mutex, so a table refresh, a layout and a reference-table copy never
// interleave; each one that changes the catalog returns after publishing the new shard map.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "admin/admin_server.h"
#include "advisor/profile.h"
#include "catalog/catalog.h"
#include "catalog/relation_oids.h"
#include "catalog/shard_map.h"
#include "common/config.h"

namespace mosaic::admin {

class ControlPlane {
 public:
  // `catalog`, `holder` and `relation_oids` (optional) must outlive this object; only it uses
  // `catalog` from now on.
  ControlPlane(const Config& config, catalog::Catalog& catalog, catalog::ShardMapHolder& holder,
               catalog::RelationOidsHolder* relation_oids = nullptr);
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  // Reads the tables of the default node (DiscoverTables), applies the configuration (tenant
  // columns, reference tables), syncs the catalog and publishes the map if it changed; then
  // reads every node's relations and publishes their RelationOids. Thread-safe.
  Status RefreshTables();

  // mosaic.create_reference_table(name): after a table refresh, resolves `name` (SQL rules,
  // schema public by default; 42P01 if unknown), refuses a table with a layout (0A000), copies
  // the table from the default node to every other node, marks it a reference table and
  // publishes. A reference table already is one: nothing to do. Returns the table's name
  // ("t", or "s.t" outside schema public). Thread-safe.
  Result<std::string> CreateReferenceTable(const std::string& name);

  // POST /api/v1/layout: (HTTP status, JSON body). 200 {"shard_map_version", "placements": [the
  // new layout]}; 400 bad request (admin::ParseLayoutRequest); 409 rows would move; 503 a node
  // or the catalog could not be reached. Thread-safe.
  std::pair<int, nlohmann::json> SetLayout(const nlohmann::json& body);
  // GET /api/v1/placements?table=&tenant= (admin::PlacementsJson); 400 for an unknown table.
  std::pair<int, nlohmann::json> Placements(const std::map<std::string, std::string>& query);
  // GET /api/v1/tables (admin::TablesJson).
  std::pair<int, nlohmann::json> Tables();

  // Storage profiles. The config file's set applies until a PUT replaces it; a PUT is kept in
  // the catalog (setting "profiles") and wins over the file from then on, across restarts.
  // LoadProfiles reads the stored set, if any (at start-up). Thread-safe.
  Status LoadProfiles();
  advisor::ProfileSet Profiles();
  // GET /api/v1/profiles: the set as advisor::ProfilesToJson writes it, plus "source"
  // ("config" or "catalog").
  std::pair<int, nlohmann::json> ProfilesJson();
  // PUT /api/v1/profiles: replaces the whole set (the same JSON shape). 400 naming the field
  // (advisor::ParseProfilesJson), 503 if the catalog cannot store it; 200 with the new set.
  std::pair<int, nlohmann::json> PutProfiles(const nlohmann::json& body);

  // Adds the routes above to `server`.
  void AddRoutes(AdminServer& server);

 private:
  Status RefreshTablesLocked();  // REQUIRES: mu_ held
  Status PublishLocked();        // REQUIRES: mu_ held
  // Reads the relations of every node of the current map (DiscoverRelations) and publishes
  // their RelationOids. A node that cannot be read is left out (its table OIDs become 0 in
  // RowDescriptions) with a warning: never an error. REQUIRES: mu_ held.
  void PublishRelationOidsLocked();

  const Config& config_;
  catalog::ShardMapHolder& holder_;
  catalog::RelationOidsHolder* relation_oids_;
  std::mutex mu_;
  catalog::Catalog& catalog_;  // GUARDED_BY(mu_)
  advisor::ProfileSet profiles_;     // GUARDED_BY(mu_)
  bool profiles_from_catalog_ = false;  // GUARDED_BY(mu_)
};

}  // namespace mosaic::admin
