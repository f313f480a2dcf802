// Copying a table to every node, for mosaic.create_reference_table('t'). Control plane only:
// synchronous libpq, one connection per node, blocks for as long as the copy takes.
#pragma once

#include "catalog/shard_map.h"
#include "common/status.h"

namespace mosaic::catalog {

// Makes every other node's copy of `table` hold exactly the rows it has on the default node:
// in one transaction per destination, deletes the destination's rows, then streams the
// default node's rows (COPY TO STDOUT in binary, from one snapshot) into every destination at
// once (COPY FROM STDIN); commits the destinations one after another at the end. DELETE rather
// than TRUNCATE, so tables referencing this one by foreign key do not block the copy.
// Refuses with 0A000, before changing anything, a distributed table of which another node holds
// rows (those rows would be lost). REQUIRES: the table exists on every node with the same
// columns. If a commit fails, earlier destinations keep their new copy; running again repairs it.
Status CopyReferenceTable(const ShardMap& map, const Table& table);

}  // namespace mosaic::catalog
