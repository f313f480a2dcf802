// Catalog: the migrations' records and journal (mosaic.migrations, mosaic.migration_journal).
// Control plane only, as the rest of Catalog. Every phase change writes its journal row in the
// same transaction as the change, so the journal never misses a phase the record went through.
#include <libpq-fe.h>

#include "catalog/catalog.h"
#include "catalog/catalog_internal.h"

namespace mosaic::catalog {
namespace {

using internal::IdArray;
using internal::IdsFromCsv;
using internal::InsertShardMapVersion;
using internal::kShardMapLockKey;
using internal::LockForTransaction;
using internal::WithReconnect;
using pg::Exec;
using pg::InTransaction;
using pg::IntAt;
using pg::NullableTextAt;
using pg::Run;
using pg::TextAt;

constexpr std::string_view kTerminalPhases = "('done', 'rolled_back', 'failed')";

constexpr std::string_view kSelectColumns =
    "SELECT id, action, origin, tenant, array_to_string(table_ids, ','), plan::text, flows::text, "
    "phase, paused, requested, error, state::text, created_at::text, updated_at::text, "
    "finished_at::text FROM mosaic.migrations";

MigrationRecord RecordAt(const PGresult* r, int i) {
  MigrationRecord m;
  m.id = IntAt<int64_t>(r, i, 0);
  m.action = TextAt(r, i, 1);
  m.origin = TextAt(r, i, 2);
  m.tenant = TextAt(r, i, 3);
  m.table_ids = IdsFromCsv(TextAt(r, i, 4));
  m.plan_json = TextAt(r, i, 5);
  m.flows_json = TextAt(r, i, 6);
  m.phase = TextAt(r, i, 7);
  m.paused = TextAt(r, i, 8) == "t";
  m.requested = NullableTextAt(r, i, 9);
  m.error = NullableTextAt(r, i, 10);
  m.state_json = TextAt(r, i, 11);
  m.created_at = TextAt(r, i, 12);
  m.updated_at = TextAt(r, i, 13);
  m.finished_at = NullableTextAt(r, i, 14);
  return m;
}

Status UnknownMigration(int64_t id) {
  return Status(sqlstate::kUndefinedObject, "there is no migration " + std::to_string(id));
}

// Runs an UPDATE of one migration (`sql` with $1 = id); 42704 if no row matched.
Status UpdateOne(PGconn* conn, int64_t id, const std::string& sql, pg::Params params) {
  params.insert(params.begin(), std::to_string(id));
  auto res = Exec(conn, sql, params);
  if (!res.ok()) return res.status();
  return std::string_view(PQcmdTuples(res->get())) == "0" ? UnknownMigration(id) : Status::OK();
}

Status AppendJournal(PGconn* conn, int64_t id, const std::string& phase, const std::string& detail) {
  return Run(conn, "INSERT INTO mosaic.migration_journal (migration_id, phase, detail) VALUES ($1, $2, $3)",
             {std::to_string(id), phase, detail});
}

// The columns of a phase change (no journal row, no version bump); a null `state_json` keeps
// the state. REQUIRES: inside a transaction.
Status UpdatePhase(PGconn* conn, int64_t id, const std::string& phase, const std::optional<std::string>& state_json,
                   const std::optional<std::string>& error) {
  return UpdateOne(conn, id,
                   "UPDATE mosaic.migrations SET phase = $2, state = coalesce($3::jsonb, state), error = $4, "
                   "updated_at = now(), "
                   "finished_at = CASE WHEN $2 IN " + std::string(kTerminalPhases) +
                       " THEN now() END, "
                   "requested = CASE WHEN $2 IN " + std::string(kTerminalPhases) +
                       " THEN NULL ELSE requested END "
                   "WHERE id = $1",
                   {phase, state_json, error});
}

// Migration `id`, or nullopt if there is none.
Result<std::optional<MigrationRecord>> ReadMigration(PGconn* conn, int64_t id) {
  auto res = Exec(conn, std::string(kSelectColumns) + " WHERE id = $1", {std::to_string(id)});
  if (!res.ok()) return res.status();
  if (PQntuples(res->get()) == 0) return std::optional<MigrationRecord>();
  return std::optional<MigrationRecord>(RecordAt(res->get(), 0));
}

// Runs `body` in a transaction holding the shard-map lock; returns the version it set.
template <typename Body>
Result<int64_t> InShardMapTransaction(PGconn* conn, Body&& body) {
  return WithReconnect(conn, [&]() -> Result<int64_t> {
    int64_t version = 0;
    Status s = InTransaction(conn, "BEGIN", [&]() -> Status {
      if (Status st = LockForTransaction(conn, kShardMapLockKey); !st.ok()) return st;
      auto v = body();
      if (!v.ok()) return v.status();
      version = *v;
      return Status::OK();
    });
    if (!s.ok()) return s;
    return version;
  });
}

std::string MigrationReason(int64_t id, const std::string& what) {
  return "migration " + std::to_string(id) + ": " + what;
}

}  // namespace

Result<int64_t> Catalog::CreateMigration(const MigrationRecord& m) {
  PGconn* conn = conn_.get();
  int64_t id = 0;
  auto version = InShardMapTransaction(conn, [&]() -> Result<int64_t> {
    auto res = Exec(conn,
                    "INSERT INTO mosaic.migrations (action, origin, tenant, table_ids, plan, flows, "
                    "phase, paused, requested, state, error) VALUES ($1, $2, $3, $4::bigint[], "
                    "$5::jsonb, $6::jsonb, $7, $8, $9, $10::jsonb, $11) RETURNING id",
                    {m.action, m.origin, m.tenant, IdArray(m.table_ids), m.plan_json, m.flows_json,
                     m.phase, m.paused ? "t" : "f", m.requested, m.state_json, m.error});
    if (!res.ok()) return res.status();
    id = IntAt<int64_t>(res->get(), 0, 0);
    if (Status s = AppendJournal(conn, id, m.phase, "submitted (" + m.origin + ")"); !s.ok()) return s;
    return InsertShardMapVersion(conn, MigrationReason(id, m.action + " " + m.phase));
  });
  if (!version.ok()) return version.status();
  return id;
}

Result<std::vector<MigrationRecord>> Catalog::ListMigrations(bool active_only) {
  PGconn* conn = conn_.get();
  const std::string sql = std::string(kSelectColumns) +
                          (active_only ? " WHERE phase NOT IN " + std::string(kTerminalPhases) : "") +
                          " ORDER BY id DESC";
  return WithReconnect(conn, [&]() -> Result<std::vector<MigrationRecord>> {
    auto res = Exec(conn, sql);
    if (!res.ok()) return res.status();
    std::vector<MigrationRecord> out;
    for (int i = 0; i < PQntuples(res->get()); ++i) out.push_back(RecordAt(res->get(), i));
    return out;
  });
}

Result<std::optional<MigrationRecord>> Catalog::GetMigration(int64_t id) {
  PGconn* conn = conn_.get();
  return WithReconnect(conn, [&] { return ReadMigration(conn, id); });
}

Result<std::optional<MigrationRecord>> Catalog::GetMigrationSettled(int64_t id) {
  PGconn* conn = conn_.get();
  return WithReconnect(conn, [&]() -> Result<std::optional<MigrationRecord>> {
    Result<std::optional<MigrationRecord>> record = Status::Internal("not read");
    Status s = InTransaction(conn, "BEGIN", [&]() -> Status {
      if (Status st = LockForTransaction(conn, kShardMapLockKey); !st.ok()) return st;
      record = ReadMigration(conn, id);
      return record.ok() ? Status::OK() : record.status();
    });
    if (!s.ok()) return s;
    return record;
  });
}

Result<std::vector<MigrationJournalEntry>> Catalog::MigrationJournal(int64_t id) {
  PGconn* conn = conn_.get();
  return WithReconnect(conn, [&]() -> Result<std::vector<MigrationJournalEntry>> {
    auto res = Exec(conn,
                    "SELECT seq, phase, at::text, detail FROM mosaic.migration_journal "
                    "WHERE migration_id = $1 ORDER BY seq",
                    {std::to_string(id)});
    if (!res.ok()) return res.status();
    std::vector<MigrationJournalEntry> out;
    for (int i = 0; i < PQntuples(res->get()); ++i) {
      out.push_back({IntAt<int64_t>(res->get(), i, 0), TextAt(res->get(), i, 1),
                     TextAt(res->get(), i, 2), TextAt(res->get(), i, 3)});
    }
    return out;
  });
}

Result<int64_t> Catalog::SetMigrationPhase(int64_t id, const std::string& phase, const std::string& state_json,
                                           const std::string& detail, const std::optional<std::string>& error) {
  PGconn* conn = conn_.get();
  return InShardMapTransaction(conn, [&]() -> Result<int64_t> {
    if (Status s = UpdatePhase(conn, id, phase, state_json, error); !s.ok()) return s;
    if (Status s = AppendJournal(conn, id, phase, detail); !s.ok()) return s;
    return InsertShardMapVersion(conn, MigrationReason(id, phase));
  });
}

Status Catalog::SaveMigrationState(int64_t id, const std::string& state_json) {
  PGconn* conn = conn_.get();
  return WithReconnect(conn, [&] {
    return UpdateOne(conn, id, "UPDATE mosaic.migrations SET state = $2::jsonb, updated_at = now() WHERE id = $1",
                     {state_json});
  });
}

Status Catalog::SetMigrationPaused(int64_t id, bool paused) {
  PGconn* conn = conn_.get();
  return WithReconnect(conn, [&] {
    return InTransaction(conn, "BEGIN", [&]() -> Status {
      auto res = Exec(conn,
                      "UPDATE mosaic.migrations SET paused = $2, updated_at = now() WHERE id = $1 "
                      "RETURNING phase",
                      {std::to_string(id), paused ? "t" : "f"});
      if (!res.ok()) return res.status();
      if (PQntuples(res->get()) == 0) return UnknownMigration(id);
      return AppendJournal(conn, id, TextAt(res->get(), 0, 0), paused ? "paused" : "resumed");
    });
  });
}

Status Catalog::SetMigrationRequest(int64_t id, const std::optional<std::string>& request) {
  PGconn* conn = conn_.get();
  return WithReconnect(conn, [&] {
    return UpdateOne(conn, id, "UPDATE mosaic.migrations SET requested = $2, updated_at = now() WHERE id = $1",
                     {request});
  });
}

Result<std::unique_ptr<PreparedCutover>> Catalog::PrepareCutOver(int64_t id, const Layout& layout,
                                                                const std::string& phase) {
  PGconn* conn = conn_.get();
  auto map = WithReconnect(conn, [&]() -> Result<std::shared_ptr<const ShardMap>> {
    if (Status s = Run(conn, "BEGIN"); !s.ok()) return s;
    auto prepared = [&]() -> Result<std::shared_ptr<const ShardMap>> {
      if (Status s = LockForTransaction(conn, kShardMapLockKey); !s.ok()) return s;
      // The phase first: an unknown id fails before anything is stored.
      if (Status s = UpdatePhase(conn, id, phase, std::nullopt, std::nullopt); !s.ok()) return s;
      if (auto version = internal::StoreLayout(conn, layout); !version.ok()) return version.status();
      return internal::ReadShardMap(conn);
    }();
    if (!prepared.ok()) (void)Run(conn, "ROLLBACK");
    return prepared;
  });
  if (!map.ok()) return map.status();
  return std::unique_ptr<PreparedCutover>(new PreparedCutover(*this, id, std::move(map).value()));
}

PreparedCutover::PreparedCutover(Catalog& catalog, int64_t id, std::shared_ptr<const ShardMap> map)
    : catalog_(catalog), id_(id), map_(std::move(map)), conn_(std::move(catalog.conn_)) {}

PreparedCutover::~PreparedCutover() { Abort(); }

void PreparedCutover::GiveBack() {
  if (conn_ != nullptr) catalog_.conn_ = std::move(conn_);
}

Status PreparedCutover::Commit(const std::string& state_json, const std::string& detail) {
  PGconn* conn = conn_.get();
  // One round trip before the COMMIT: the journal row takes the phase PrepareCutOver set.
  Status s = Run(conn,
                 "WITH m AS (UPDATE mosaic.migrations SET state = $2::jsonb WHERE id = $1 RETURNING id, phase) "
                 "INSERT INTO mosaic.migration_journal (migration_id, phase, detail) SELECT id, phase, $3 FROM m",
                 {std::to_string(id_), state_json, detail});
  if (s.ok()) s = Run(conn, "COMMIT");
  if (!s.ok()) (void)Run(conn, "ROLLBACK");
  GiveBack();
  return s;
}

void PreparedCutover::Abort() {
  if (conn_ == nullptr) return;
  (void)Run(conn_.get(), "ROLLBACK");
  GiveBack();
}

}  // namespace mosaic::catalog
