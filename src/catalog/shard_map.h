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
#include <unordered_map>
#include <vector>

#include "router/keys.h"

namespace mosaic::catalog {

// A node: one PostgreSQL database endpoint that stores rows.
// A libpq conninfo value as written in "key=value": quoted when libpq would otherwise split or
// unescape it (spaces, quotes, backslashes, empty).
std::string QuoteConninfoValue(std::string_view value);

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

enum class TableKind : uint8_t {
  kSingleTenant,  // no tenant column: all such tables together are the implicit tenant ""
  kDistributed,   // rows belong to the tenant named by `tenant_column`
  kReference,     // a full copy on every node: reads go to one node, writes to all
};

// "single", "distributed", "reference": the kind's name in the catalog and the APIs.
std::string_view TableKindName(TableKind kind);
// The kind named `name`; single-tenant for anything else.
TableKind TableKindFromName(std::string_view name);

struct Column {
  std::string name;
  std::string type;   // pg_type.typname ("int4", "text", "timestamptz", ...)
  uint32_t type_oid = 0;
  // Its values sort byte by byte: no collation, or one that compares bytes (C, POSIX,
  // ucs_basic), also through the database's default. False for a column sorted by a locale or
  // ICU collation: Mosaic merges and routes text in byte order, so it refuses what that would
  // get wrong (ORDER BY over several nodes, a range column).
  bool bytewise = true;
  // NOT NULL; has a default (DEFAULT, identity or generated). A row whose routing column is
  // DEFAULT or omitted is routed only when the column has no default (its value is then NULL);
  // unknown (a catalog written before these were kept) reads as having one.
  bool not_null = false;
  bool has_default = true;

  bool operator==(const Column&) const = default;
};

// A table Mosaic routes. Tables are discovered from the nodes' system catalogs (created through
// Mosaic or not); a table unknown to the map is treated as single-tenant.
struct Table {
  int64_t id = 0;
  std::string schema = "public";
  std::string name;
  TableKind kind = TableKind::kSingleTenant;
  std::string tenant_column;    // kDistributed only
  std::vector<Column> columns;  // in attnum order, dropped columns omitted

  // Index into `columns`, or -1.
  int ColumnIndex(std::string_view column) const;
  // Whether every column's values sort byte by byte (Column::bytewise).
  bool Bytewise() const;
  const Column* FindColumn(std::string_view column) const;
};

struct Tenant {
  std::string key;  // canonical tenant key (router::CanonicalTenant); "" is the implicit tenant
  std::string profile;
};

// One range of a layout: rows whose range-column key k has lower_key <= k < upper_key.
struct Range {
  std::optional<std::string> lower, upper;  // boundary text as the operator gave it; nullopt = unbounded
  std::string lower_key, upper_key;         // router::EncodeKey of the boundaries ("" if unbounded)
  int node_id = 0;
  int64_t version = 0;  // shard-map version that created this range
};

// How one tenant's table group is split: the tables share the range column and boundaries.
// A (tenant, table) without a layout lives whole on the tenant's home node.
struct Layout {
  int64_t id = 0;
  std::string tenant;              // canonical tenant key; "" = the implicit tenant
  std::vector<int64_t> table_ids;  // the table group
  std::string column;              // range column (same name in every table of the group)
  router::KeyType key_type = router::KeyType::kUnsupported;
  std::string column_type;         // pg_type.typname of the range column (key_type comes from it)
  int64_t version = 0;             // shard-map version that created the layout
  std::vector<Range> ranges;       // ascending, contiguous; first lower and last upper unbounded

  // The range holding `key` (an encoded key). REQUIRES: !ranges.empty().
  const Range& RangeFor(std::string_view key) const;
  // Indexes of the ranges that may hold keys in [lo, hi] (encoded; nullopt = unbounded), with
  // the bounds inclusive or exclusive as given.
  void RangesBetween(const std::optional<std::string>& lo, bool lo_inclusive,
                     const std::optional<std::string>& hi, bool hi_inclusive,
                     std::vector<int>* out) const;
};

// A migration that is moving rows of a (tenant, table group) between nodes (src/migration): the
// data path fences and samples the statements that touch its rows. Only phases in which rows are
// being copied, or copies exist on two nodes, are listed (not queued or finished ones).
struct ActiveMigration {
  int64_t id = 0;
  std::string tenant;              // canonical tenant key; "" = the implicit tenant
  std::vector<int64_t> table_ids;  // the table group
  struct Flow {
    int source = 0;
    int target = 0;
  };
  std::vector<Flow> flows;  // node pairs rows travel between (either way, after a cutover)
  std::string phase;        // migration::PhaseName
  // Reads are sampled and compared on both nodes in these phases.
  bool shadow = false;
};

// One shard-map version. Immutable once published: share it as shared_ptr<const ShardMap>.
// The indexes point into the vectors: a copy must call BuildIndex() again before use.
// FindNode is a scan (few nodes); FindTable, FindLayout, LayoutsOfTable and MigrationsOfTable
// use the hash indexes BuildIndex() builds.
struct ShardMap {
  int64_t version = 0;  // 0 = nothing loaded yet; catalogs start at 1
  std::vector<Node> nodes;  // ordered by id when loaded from the catalog
  std::vector<Table> tables;
  std::vector<Tenant> tenants;
  std::vector<Layout> layouts;
  // Node ids new tenants are hashed over, fixed when the catalog was created so that adding
  // nodes never moves a tenant by itself (moving is the migration service's job). Empty = all.
  std::vector<int> tenant_hash_nodes;
  std::vector<ActiveMigration> migrations;  // ordered by id

  // Returns the node with this id, or nullptr. The pointer lives as long as this map.
  const Node* FindNode(int id) const;
  // Returns the table schema.name, or nullptr. Names are compared exactly (already folded).
  const Table* FindTable(std::string_view schema, std::string_view name) const;
  // The node holding the implicit tenant (single-tenant tables) until it is laid out, and the
  // node reference tables are read from: the node with the lowest id. REQUIRES: !nodes.empty().
  const Node& DefaultNode() const;
  // The node a tenant without a layout lives on: xxh64 of its canonical key over
  // tenant_hash_nodes (the implicit tenant "": the default node). Deterministic.
  int TenantHomeNode(std::string_view tenant) const;
  // The layout splitting (table, tenant), or nullptr. O(1) after BuildIndex().
  const Layout* FindLayout(int64_t table_id, std::string_view tenant) const;
  // Layouts of `table` for any tenant (for statements that do not pin a tenant).
  const std::vector<const Layout*>& LayoutsOfTable(int64_t table_id) const;
  // Active migrations whose table group holds `table_id` (any tenant); empty for almost every
  // table. O(1) after BuildIndex().
  const std::vector<const ActiveMigration*>& MigrationsOfTable(int64_t table_id) const;
  // Builds the lookup indexes. Call once after filling the vectors and before publishing.
  void BuildIndex();
  // Whether rows may live anywhere but the default node (distributed or reference tables, or
  // layouts exist). Set by BuildIndex().
  bool spread() const { return spread_; }
  // Returns `dsn` without its password (and sslpassword), for display in APIs and logs.
  // Accepts keyword/value conninfo ("host=x password=secret") and URIs
  // ("postgresql://u:secret@h/db"). A DSN libpq cannot parse yields a fixed placeholder, so a
  // secret is never echoed back.
  static std::string RedactDsn(std::string_view dsn);

 private:
  std::unordered_map<std::string, const Table*> table_index_;     // schema + '\0' + name
  // FindLayout's index: open addressing with linear probing over a power-of-two table at most
  // half full, one 24-byte slot per (tenant, table). A lookup reads the slot it hashes to (and
  // rarely the next) and the layout itself, where std::unordered_map walked a bucket pointer, the
  // node before the chain and the chain's nodes: three or four cache misses at a million
  // placements (bench/router_bench.cc).
  struct LayoutSlot {
    uint64_t hash = 0;  // LayoutHash(tenant, table_id)
    int64_t table_id = 0;
    const Layout* layout = nullptr;  // nullptr: empty slot
  };
  std::vector<LayoutSlot> layout_slots_;
  std::unordered_map<int64_t, std::vector<const Layout*>> table_layouts_;
  std::unordered_map<int64_t, std::vector<const ActiveMigration*>> table_migrations_;
  bool spread_ = false;
};

// A table name as PostgreSQL reads it: "orders", "app.Orders", "\"Odd Name\".t". Unquoted parts
// are folded to lower case, quoted ones kept ("" inside quotes is a quote); no schema means
// "public". Fails with 42602 (invalid_name) unless it is one or two non-empty identifiers.
struct TableName {
  std::string schema;
  std::string name;
};
Result<TableName> ParseTableName(std::string_view text);

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
  // Makes `map` the current map unless the current one is newer (several control-plane threads
  // load and publish; the newest version wins). REQUIRES: map != nullptr.
  void Publish(std::shared_ptr<const ShardMap> map);

 private:
  std::atomic<std::shared_ptr<const ShardMap>> current_;
};

}  // namespace mosaic::catalog
