// COPY ... FROM STDIN over libpq: how the demo and `mosaic workload --init` load rows. Through
// Mosaic, COPY routes each row to its tenant's node.
//
// Blocks on the network; for loaders, never for the data path.
#pragma once

#include <libpq-fe.h>

#include <functional>
#include <string>

#include "common/status.h"

namespace mosaic::workload {

// Runs `copy_sql` (COPY ... FROM STDIN, text format) and streams the lines that `rows` emits
// (without newlines), in 64 KiB chunks. Returns the server's error (with its SQLSTATE) if the
// COPY fails. REQUIRES: `conn` is idle.
using EmitRow = std::function<void(const std::string&)>;
Status CopyRows(PGconn* conn, const std::string& copy_sql, const std::function<void(const EmitRow&)>& rows);

}  // namespace mosaic::workload
