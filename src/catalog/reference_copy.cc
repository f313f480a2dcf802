// Reference-table copy: one COPY OUT from the default node fanned out to COPY INs on the others.
#include "catalog/reference_copy.h"

#include <fmt/format.h>

#include <vector>

#include "catalog/pg_client.h"

namespace mosaic::catalog {
namespace {

struct Destination {
  const Node* node;
  pg::Conn conn;
  std::string who;
};

// Opens a transaction on `dest`, checks it may lose its rows, deletes them and starts COPY IN.
Status PrepareDestination(Destination& dest, const Table& table, int source_id) {
  PGconn* conn = dest.conn.get();
  const std::string name = pg::QualifiedName(table);
  if (Status s = pg::Run(conn, "BEGIN", {}, dest.who); !s.ok()) return s;
  if (table.kind == TableKind::kDistributed) {
    auto rows = pg::Exec(conn, "SELECT 1 FROM " + name + " LIMIT 1", {}, dest.who);
    if (!rows.ok()) return rows.status();
    if (PQntuples(rows->get()) > 0) {
      return Status(sqlstate::kFeatureNotSupported,
                    fmt::format("table \"{}.{}\" has rows on node {}: a reference table is "
                                "copied from node {} only, so they would be lost",
                                table.schema, table.name, dest.node->id, source_id));
    }
  }
  if (Status s = pg::Run(conn, "DELETE FROM " + name, {}, dest.who); !s.ok()) return s;
  pg::ResultPtr res(PQexec(conn, ("COPY " + name + " FROM STDIN (FORMAT binary)").c_str()));
  if (PQresultStatus(res.get()) != PGRES_COPY_IN) {
    return Status(sqlstate::kConnectionFailure,
                  dest.who + ": COPY FROM STDIN failed: " + pg::Trimmed(PQerrorMessage(conn)));
  }
  return Status::OK();
}

// The final result of a COPY on `conn` (after its data), then nothing more.
Status CopyResult(PGconn* conn, const std::string& who) {
  pg::ResultPtr res(PQgetResult(conn));
  Status s = PQresultStatus(res.get()) == PGRES_COMMAND_OK
                 ? Status::OK()
                 : Status(sqlstate::kConnectionFailure,
                          who + ": COPY failed: " + pg::Trimmed(PQerrorMessage(conn)));
  while (pg::ResultPtr(PQgetResult(conn)) != nullptr) {
  }
  return s;
}

// Streams COPY OUT data from `source` to every destination. REQUIRES: COPY OUT is running.
Status Stream(PGconn* source, std::vector<Destination>& dests) {
  for (;;) {
    char* buffer = nullptr;
    const int n = PQgetCopyData(source, &buffer, /*async=*/0);
    if (n == -1) break;  // done
    if (n < 0) {
      return Status(sqlstate::kConnectionFailure,
                    "reading the source copy failed: " + pg::Trimmed(PQerrorMessage(source)));
    }
    for (Destination& d : dests) {
      if (PQputCopyData(d.conn.get(), buffer, n) != 1) {
        PQfreemem(buffer);
        return Status(sqlstate::kConnectionFailure,
                      d.who + ": COPY data failed: " + pg::Trimmed(PQerrorMessage(d.conn.get())));
      }
    }
    PQfreemem(buffer);
  }
  return Status::OK();
}

}  // namespace

Status CopyReferenceTable(const ShardMap& map, const Table& table) {
  const Node& source_node = map.DefaultNode();
  std::vector<Destination> dests;
  for (const Node& node : map.nodes) {
    if (node.id == source_node.id) continue;
    auto conn = pg::ConnectNode(node);
    if (!conn.ok()) return conn.status();
    dests.push_back(Destination{&node, std::move(conn).value(), "node " + std::to_string(node.id)});
    if (Status s = PrepareDestination(dests.back(), table, source_node.id); !s.ok()) return s;
  }
  auto source = pg::ConnectNode(source_node);
  if (!source.ok()) return source.status();
  PGconn* src = source->get();
  const std::string who = "node " + std::to_string(source_node.id);
  if (Status s = pg::Run(src, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", {}, who); !s.ok()) {
    return s;
  }
  pg::ResultPtr out(PQexec(src, ("COPY " + pg::QualifiedName(table) + " TO STDOUT (FORMAT binary)").c_str()));
  if (PQresultStatus(out.get()) != PGRES_COPY_OUT) {
    return Status(sqlstate::kConnectionFailure,
                  who + ": COPY TO STDOUT failed: " + pg::Trimmed(PQerrorMessage(src)));
  }
  if (Status s = Stream(src, dests); !s.ok()) return s;
  if (Status s = CopyResult(src, who); !s.ok()) return s;
  for (Destination& d : dests) {
    if (PQputCopyEnd(d.conn.get(), nullptr) != 1) {
      return Status(sqlstate::kConnectionFailure, d.who + ": ending COPY failed");
    }
    if (Status s = CopyResult(d.conn.get(), d.who); !s.ok()) return s;
  }
  for (Destination& d : dests) {
    if (Status s = pg::Run(d.conn.get(), "COMMIT", {}, d.who); !s.ok()) return s;
  }
  return pg::Run(src, "COMMIT", {}, who);
}

}  // namespace mosaic::catalog
