// RelationOids: the default node's table OIDs and column numbers for the tables of every other
// node, so that a RowDescription (which names each column's table by OID and column by number)
// means the same whichever node answered.
//
// Drivers look those numbers up in the system catalogs, and their catalog queries reach the
// default node (pgjdbc's ResultSetMetaData.getTableName, isNullable, isAutoIncrement). A table
// has another OID on every node, so rows from another node would otherwise name no table there,
// or another table that happens to have that OID. Built by the control plane whenever it
// re-reads the tables (start, DDL, layout changes); a plain immutable value read on the data
// path, published through RelationOidsHolder.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace mosaic::catalog {

// A relation as one node's catalog lists it: OID, schema, name, and its live columns.
struct NodeRelation {
  uint32_t oid = 0;
  std::string schema, name;
  std::vector<std::pair<int16_t, std::string>> columns;  // (attnum, attname), dropped omitted
};

// OIDs below this are fixed by initdb (pg_catalog's relations, types): the same on every node.
inline constexpr uint32_t kFirstNormalObjectId = 16384;

class RelationOids {
 public:
  RelationOids() = default;
  // `relations` maps node ids to what their catalogs list; the default node's entry gives the
  // numbers the others are translated to. A node missing from `relations` (unreachable when
  // this was built) has no translations: its table OIDs become 0.
  RelationOids(int default_node, const std::map<int, std::vector<NodeRelation>>& relations);

  // Rewrites, in place, the table OID and column number of each field of `body` (a
  // RowDescription without its type byte and length) that node `node_id` sent: to the default
  // node's numbers for the same schema.table and column name, or to 0 (what PostgreSQL sends
  // for a column that is not a table's) when the default node has no such table or column.
  // OIDs fixed by initdb and replies of the default node are left as they are; so is a body
  // that does not parse (the caller relays it; the client will judge it).
  void Translate(int node_id, std::span<char> body) const;

  int default_node() const { return default_node_; }

 private:
  struct Target {
    uint32_t oid = 0;
    std::vector<int16_t> attnums;  // [node's attnum] -> default node's attnum (0: none)
  };
  static uint64_t Key(int node_id, uint32_t oid) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(node_id)) << 32) | oid;
  }
  int default_node_ = 0;
  std::unordered_map<uint64_t, Target> targets_;  // Key(node, node's oid)
};

// Holds the current RelationOids; readers never wait (same scheme as ShardMapHolder).
class RelationOidsHolder {
 public:
  RelationOidsHolder() : current_(std::make_shared<const RelationOids>()) {}
  std::shared_ptr<const RelationOids> Snapshot() const { return current_.load(std::memory_order_acquire); }
  void Publish(std::shared_ptr<const RelationOids> oids) { current_.store(std::move(oids), std::memory_order_release); }

 private:
  std::atomic<std::shared_ptr<const RelationOids>> current_;
};

}  // namespace mosaic::catalog
