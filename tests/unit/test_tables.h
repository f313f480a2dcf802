// Test helpers: tables for ShardMaps built by hand (no catalog).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "catalog/shard_map.h"

namespace mosaic::testing {

// tenant_id int8: the tenant column of MakeTable's distributed tables.
inline const catalog::Column kTenantColumn{"tenant_id", "int8", 20};

// A table in schema public; distributed tables get tenant column "tenant_id".
inline catalog::Table MakeTable(int64_t id, std::string name, catalog::TableKind kind,
                                std::vector<catalog::Column> columns) {
  catalog::Table t;
  t.id = id;
  t.name = std::move(name);
  t.kind = kind;
  if (kind == catalog::TableKind::kDistributed) t.tenant_column = "tenant_id";
  t.columns = std::move(columns);
  return t;
}

}  // namespace mosaic::testing
