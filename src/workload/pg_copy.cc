#include "workload/pg_copy.h"

#include <memory>

#include "catalog/pg_client.h"

namespace mosaic::workload {

Status CopyRows(PGconn* conn, const std::string& copy_sql, const std::function<void(const EmitRow&)>& rows) {
  catalog::pg::ResultPtr res(PQexec(conn, copy_sql.c_str()));
  if (PQresultStatus(res.get()) != PGRES_COPY_IN) return catalog::pg::QueryError(conn, res.get(), copy_sql, "copy");
  std::string buf;
  bool ok = true;
  rows([&](const std::string& line) {
    buf += line;
    buf += '\n';
    if (buf.size() > (1 << 16)) {
      ok = ok && PQputCopyData(conn, buf.data(), static_cast<int>(buf.size())) == 1;
      buf.clear();
    }
  });
  if (!buf.empty()) ok = ok && PQputCopyData(conn, buf.data(), static_cast<int>(buf.size())) == 1;
  ok = PQputCopyEnd(conn, ok ? nullptr : "client error") == 1 && ok;
  Status status;
  while (PGresult* r = PQgetResult(conn)) {
    catalog::pg::ResultPtr next(r);
    if (status.ok() && PQresultStatus(r) != PGRES_COMMAND_OK) status = catalog::pg::QueryError(conn, r, copy_sql, "copy");
  }
  if (status.ok() && !ok) status = catalog::pg::ConnectionError(conn, "copy");
  return status;
}

}  // namespace mosaic::workload
