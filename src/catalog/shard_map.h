// ShardMap: the immutable, versioned snapshot of the catalog that the router reads on the data
// path, and ShardMapHolder, which swaps in a new snapshot atomically.
//
// These are plain value types. Nothing here does I/O, takes a lock on the read path, or mutates
// a map once it has been published: the control plane builds a new ShardMap and publishes it;
// readers keep whatever snapshot they took for as long as they hold the shared_ptr.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mosaic::catalog {

// A node: one PostgreSQL database endpoint that stores rows.
struct Node {
  int id = 0;
  std::string dsn;  // full libpq conninfo, including the password if any: never log it raw
  std::string host;
  int port = 0;
  std::string dbname;
  std::string user;
  std::string tier = "hot";  // "hot" or "cold"
  double capacity = 1.0;     // relative weight for balancing
};

// A table Mosaic routes.
struct Table {
  int64_t id = 0;
  std::string schema = "public";
  std::string name;
  std::string tenant_column;  // "" = single-tenant table (the whole table is one tenant)
  bool reference = false;     // copied to every node
  int64_t table_group = 0;
};

struct Tenant {
  std::string key;  // tenant id as text; "" is the implicit tenant of single-tenant tables
  std::string profile;
};

// (table group, tenant, range) -> node.
struct Placement {
  int64_t table_group = 0;
  std::string tenant;
  std::string range_column;
  std::optional<std::string> lower, upper;  // [lower, upper) as text; nullopt = unbounded
  int node_id = 0;
  int64_t version = 0;  // shard-map version that created this placement
};

// One shard-map version. Immutable once published: share it as shared_ptr<const ShardMap>.
// All lookups are O(n) scans that never allocate; the vectors are small (control-plane sized).
struct ShardMap {
  int64_t version = 0;  // 0 = nothing loaded yet; catalogs start at 1
  std::vector<Node> nodes;  // ordered by id when loaded from the catalog
  std::vector<Table> tables;
  std::vector<Tenant> tenants;
  std::vector<Placement> placements;

  // Returns the node with this id, or nullptr. The pointer lives as long as this map.
  const Node* FindNode(int id) const;
  // Returns the table schema.name, or nullptr. Names are compared exactly (already folded).
  const Table* FindTable(std::string_view schema, std::string_view name) const;
  // The node holding every table's rows until placements exist: the node with the lowest id.
  // REQUIRES: !nodes.empty().
  const Node& DefaultNode() const;
  // Returns `dsn` without its password (and sslpassword), for display in APIs and logs.
  // Accepts keyword/value conninfo ("host=x password=secret") and URIs
  // ("postgresql://u:secret@h/db"). A DSN libpq cannot parse yields a fixed placeholder, so a
  // secret is never echoed back.
  static std::string RedactDsn(std::string_view dsn);
};

// Holds the current ShardMap. Thread-safe: any number of readers may call Snapshot() while a
// writer calls Publish(); readers never wait for a writer to build a map, and a snapshot stays
// valid (and unchanged) after a newer one is published.
class ShardMapHolder {
 public:
  ShardMapHolder();  // holds an empty map (version 0) until the first Publish
  ShardMapHolder(const ShardMapHolder&) = delete;
  ShardMapHolder& operator=(const ShardMapHolder&) = delete;

  // Returns the current map. Never null.
  std::shared_ptr<const ShardMap> Snapshot() const;
  // Makes `map` the current map. REQUIRES: map != nullptr. Callers publish increasing
  // versions; the holder does not reorder them.
  void Publish(std::shared_ptr<const ShardMap> map);

 private:
  std::atomic<std::shared_ptr<const ShardMap>> current_;
};

}  // namespace mosaic::catalog
