// The node operations of a migration: SQL and libpq COPY against the nodes. Blocking; control
// plane only.
#include "migration/node_ops.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>

#include "common/log.h"

namespace mosaic::migration {
namespace {

namespace pg = catalog::pg;
using catalog::Table;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kDuplicateObject = "42710";
constexpr std::string_view kUndefinedObject = "42704";
constexpr std::string_view kLockNotAvailable = "55P03";
// The alias of a table's rows in generated SQL (a whole-row reference, and not a likely column).
constexpr std::string_view kRow = "_mosaic_r";

FlowNames Names(char kind, int64_t migration_id, size_t flow_index) {
  std::string name = fmt::format("mosaic_m{}_{}{}", migration_id, kind, flow_index);
  return FlowNames{name, name, name};
}

std::string NodeName(const catalog::Node& node) { return "node " + std::to_string(node.id); }

// "FROM t _mosaic_r WHERE (filter)": the flow's rows of `table`.
std::string FlowRows(const Table& table, const std::string& filter) {
  return fmt::format("FROM {} {} WHERE ({})", pg::QualifiedName(table), kRow, filter);
}

// The first value of the first row of `sql`'s result; nullopt when there is no row.
Result<std::optional<std::string>> QueryValue(PGconn* conn, const std::string& sql,
                                              const pg::Params& params, std::string_view who) {
  auto res = pg::Exec(conn, sql, params, who);
  if (!res.ok()) return res.status();
  if (PQntuples(res->get()) == 0) return std::optional<std::string>();
  return pg::NullableTextAt(res->get(), 0, 0);
}

// Sleeps `d` in short slices; false as soon as `cancelled` says so.
bool SleepUnlessCancelled(Clock::duration d, const std::function<bool()>& cancelled) {
  const auto until = Clock::now() + d;
  for (auto now = Clock::now(); now < until; now = Clock::now()) {
    if (cancelled && cancelled()) return false;
    std::this_thread::sleep_for(
        std::min<Clock::duration>(until - now, std::chrono::milliseconds(50)));
  }
  return !(cancelled && cancelled());
}

Status Cancelled(std::string_view what) {
  return Status(sqlstate::kQueryCanceled, std::string(what) + " cancelled");
}

Status PinTextFormatsOnBoth(PGconn* source, PGconn* target) {
  if (Status s = PinTextFormats(source, "source"); !s.ok()) return s;
  return PinTextFormats(target, "target");
}

// ---- CopyFlow -------------------------------------------------------------------------------

// One CopyFlow's counters and pacing.
class CopyPacer {
 public:
  CopyPacer(const CopyLimits& limits, const CopyControl& control)
      : limits_(limits), control_(control), batch_start_(Clock::now()) {}

  void Add(int64_t bytes) {
    ++batch_rows_;
    batch_bytes_ += bytes;
  }
  int64_t batch_rows() const { return batch_rows_; }
  int64_t rows() const { return rows_; }
  // Where the copy's time went, for its log line.
  Clock::duration paused() const { return paused_; }
  Clock::duration& reading() { return reading_; }
  Clock::duration& committing() { return committing_; }
  bool BatchFull() const {
    return batch_rows_ >= (limits_.batch_rows > 0 ? limits_.batch_rows : 10000);
  }

  // After a batch committed: reports progress, then pauses as the limits and the slowdown
  // require. 57014 when cancelled.
  Status EndBatch() {
    rows_ += batch_rows_;
    bytes_ += batch_bytes_;
    if (control_.progress) control_.progress(rows_, bytes_);
    if (control_.cancelled && control_.cancelled()) return Cancelled("copy");
    using Seconds = std::chrono::duration<double>;
    const Seconds took = Clock::now() - batch_start_;
    Seconds need = took;
    if (limits_.rows_per_s > 0) {
      need = std::max(need, Seconds(static_cast<double>(batch_rows_) / limits_.rows_per_s));
    }
    if (limits_.bytes_per_s > 0) {
      need = std::max(need, Seconds(static_cast<double>(batch_bytes_) / limits_.bytes_per_s));
    }
    const double slowdown = control_.slowdown ? std::max(1.0, control_.slowdown()) : 1.0;
    const auto pause = std::chrono::duration_cast<Clock::duration>(need * slowdown - took);
    if (pause > Clock::duration::zero()) paused_ += pause;
    if (!SleepUnlessCancelled(pause, control_.cancelled)) return Cancelled("copy");
    batch_rows_ = batch_bytes_ = 0;
    batch_start_ = Clock::now();
    return Status::OK();
  }

 private:
  const CopyLimits& limits_;
  const CopyControl& control_;
  int64_t rows_ = 0, bytes_ = 0;
  int64_t batch_rows_ = 0, batch_bytes_ = 0;
  Clock::time_point batch_start_;
  Clock::duration paused_{}, reading_{}, committing_{};
};

// Runs a COPY statement and checks that the server switched to `expected` (COPY_OUT / COPY_IN).
Status StartCopy(PGconn* conn, const std::string& sql, ExecStatusType expected,
                 std::string_view who) {
  pg::ResultPtr res(PQexec(conn, sql.c_str()));
  if (res != nullptr && PQresultStatus(res.get()) == expected) return Status::OK();
  return pg::QueryError(conn, res.get(), sql, who);
}

// Collects the results after a COPY ended; the first failed one is the error.
Status FinishCopy(PGconn* conn, std::string_view what, std::string_view who) {
  Status status;
  while (pg::ResultPtr res{PQgetResult(conn)}) {
    if (status.ok() && PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
      status = pg::QueryError(conn, res.get(), what, who);
    }
  }
  return status;
}

// "a", "b" of `table`'s columns ("*" if unknown), as the COPY select list.
std::string ColumnList(const Table& table) {
  std::string out;
  for (const catalog::Column& c : table.columns) {
    out += (out.empty() ? "" : ", ") + pg::QuoteIdent(c.name);
  }
  return out;
}

// The binary COPY format's file header (signature, no flags, no extension) and trailer.
constexpr std::string_view kBinaryHeader{"PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19};
constexpr std::string_view kBinaryTrailer{"\377\377", 2};

// How many bytes of `data` (the first COPY OUT message) the binary file header takes; 0 if
// it is not one.
size_t BinaryHeaderSize(std::string_view data) {
  if (data.size() < kBinaryHeader.size() || data.substr(0, 11) != kBinaryHeader.substr(0, 11)) return 0;
  const auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(data[i])); };
  const uint32_t extension = byte(15) << 24 | byte(16) << 16 | byte(17) << 8 | byte(18);
  const size_t size = kBinaryHeader.size() + extension;
  return size <= data.size() ? size : 0;
}

// Streams one table's flow rows from `source` (in binary COPY OUT already) into `target`, one
// binary COPY FROM STDIN statement (one transaction) per batch. Binary: neither node converts
// the values to or from text. Each message of the COPY OUT is one row, except the first, which
// starts with the file header, and the last (the trailer); every batch gets both of its own.
Status StreamTable(PGconn* source, PGconn* target, const Table& table, CopyPacer& pacer,
                   std::string_view target_who) {
  const std::string cols = ColumnList(table);
  const std::string copy_in = fmt::format("COPY {}{} FROM STDIN (FORMAT binary)", pg::QualifiedName(table),
                                          cols.empty() ? "" : " (" + cols + ")");
  bool copying = false;
  bool header_seen = false;
  auto put = [&](std::string_view data) { return PQputCopyData(target, data.data(), static_cast<int>(data.size())) == 1; };
  auto end_batch = [&]() -> Status {
    copying = false;
    const auto t0 = Clock::now();
    if (!put(kBinaryTrailer) || PQputCopyEnd(target, nullptr) != 1) return pg::ConnectionError(target, target_who);
    if (Status s = FinishCopy(target, copy_in, target_who); !s.ok()) return s;
    pacer.committing() += Clock::now() - t0;
    return pacer.EndBatch();
  };
  for (;;) {
    char* row = nullptr;
    const auto t0 = Clock::now();
    const int n = PQgetCopyData(source, &row, /*async=*/0);
    pacer.reading() += Clock::now() - t0;
    if (n == -2) return pg::ConnectionError(source, "source");
    if (n < 0) break;  // done; FinishCopy reads how the COPY ended
    std::string_view data(row, static_cast<size_t>(n));
    if (!header_seen) {
      const size_t header = BinaryHeaderSize(data);
      if (header == 0) {
        PQfreemem(row);
        return Status::Internal("source: the binary COPY did not start with its header");
      }
      data.remove_prefix(header);
      header_seen = true;
    }
    if (data.empty() || data == kBinaryTrailer) {
      PQfreemem(row);
      continue;
    }
    if (!copying) {
      if (Status s = StartCopy(target, copy_in, PGRES_COPY_IN, target_who); !s.ok()) {
        PQfreemem(row);
        return s;
      }
      copying = true;
      if (!put(kBinaryHeader)) {
        PQfreemem(row);
        return pg::ConnectionError(target, target_who);
      }
    }
    const bool sent = put(data);
    PQfreemem(row);
    if (!sent) return pg::ConnectionError(target, target_who);
    pacer.Add(static_cast<int64_t>(data.size()));
    if (pacer.BatchFull()) {
      if (Status s = end_batch(); !s.ok()) return s;
    }
  }
  if (Status s = FinishCopy(source, "COPY (SELECT ...) TO STDOUT", "source"); !s.ok()) return s;
  return copying ? end_batch() : Status::OK();
}

// Creates `slot` over a replication connection; returns the name of its exported snapshot,
// valid while `repl` stays open and runs no other command.
Result<std::string> CreateSlotExportingSnapshot(PGconn* repl, const std::string& slot,
                                                std::string_view who) {
  auto res = pg::Exec(
      repl,
      "CREATE_REPLICATION_SLOT " + pg::QuoteIdent(slot) + " LOGICAL pgoutput (SNAPSHOT 'export')",
      {}, who);
  if (!res.ok()) return res.status();
  const int col = PQfnumber(res->get(), "snapshot_name");
  if (PQntuples(res->get()) != 1 || col < 0) {
    return Status::Internal(std::string(who) + ": CREATE_REPLICATION_SLOT returned no snapshot");
  }
  return pg::TextAt(res->get(), 0, col);
}

Status CopyFlowOnce(const catalog::Node& source, const catalog::Node& target,
                    const std::vector<Table>& tables, const std::string& filter,
                    const std::string& slot, const CopyLimits& limits, const CopyControl& control) {
  const std::string source_who = NodeName(source), target_who = NodeName(target);
  auto dst = pg::ConnectNode(target);
  if (!dst.ok()) return dst.status();
  const int batch = limits.batch_rows > 0 ? limits.batch_rows : 10000;
  if (auto deleted = DeleteRows(dst->get(), tables, filter, batch, target_who); !deleted.ok()) {
    return deleted.status();
  }
  // No WAL flush per batch: one FlushWal after the last batch makes them all durable before the
  // copy counts as done (a copy cut short by a crash starts over anyway).
  if (Status s = pg::Run(dst->get(), "SET synchronous_commit = off", {}, target_who); !s.ok()) return s;
  auto src = pg::ConnectNode(source);
  if (!src.ok()) return src.status();
  if (Status s = DropSlot(src->get(), slot); !s.ok()) return s;
  auto repl = pg::ConnectNodeForReplication(source);
  if (!repl.ok()) return repl.status();
  auto snapshot = CreateSlotExportingSnapshot(repl->get(), slot, source_who);
  if (!snapshot.ok()) return snapshot.status();
  if (Status s = pg::Run(src->get(),
                         "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
                         "SET TRANSACTION SNAPSHOT " +
                             pg::QuoteLiteral(*snapshot),
                         {}, source_who);
      !s.ok()) {
    return s;
  }
  repl->reset();  // the transaction holds the snapshot now; free the WAL sender
  CopyPacer pacer(limits, control);
  const auto start = Clock::now();
  for (const Table& table : tables) {
    const std::string cols = ColumnList(table);
    const std::string copy_out = fmt::format("COPY (SELECT {} {}) TO STDOUT (FORMAT binary)",
                                             cols.empty() ? "*" : cols, FlowRows(table, filter));
    if (Status s = StartCopy(src->get(), copy_out, PGRES_COPY_OUT, source_who); !s.ok()) return s;
    if (Status s = StreamTable(src->get(), dst->get(), table, pacer, target_who); !s.ok()) return s;
  }
  using Seconds = std::chrono::duration<double>;
  log::info("copy {} -> {}: {} rows in {:.1f} s; waiting for rows {:.1f} s, for batch commits {:.1f} s, paused {:.1f} s",
            source_who, target_who, pacer.rows(), Seconds(Clock::now() - start).count(),
            Seconds(pacer.reading()).count(), Seconds(pacer.committing()).count(), Seconds(pacer.paused()).count());
  if (Status s = FlushWal(dst->get(), target_who); !s.ok()) return s;
  return pg::Run(src->get(), "COMMIT", {}, source_who);
}

// ---- Slots ----------------------------------------------------------------------------------

// Whether `slot` has confirmed everything up to `lsn`; 42704 if there is no such slot.
Result<bool> SlotReached(PGconn* conn, const std::string& slot, const std::string& lsn) {
  auto reached = QueryValue(conn,
                            "SELECT coalesce(confirmed_flush_lsn >= $2::pg_lsn, false)::text "
                            "FROM pg_replication_slots WHERE slot_name = $1",
                            {slot, lsn}, "node");
  if (!reached.ok()) return reached.status();
  if (!reached->has_value()) {
    return Status(kUndefinedObject, "replication slot \"" + slot + "\" does not exist");
  }
  return **reached == "true";
}

// Polls until `slot` has confirmed `lsn`, running `nudge` (if any) between polls; 57014 after
// `timeout`.
Status UntilSlotReaches(PGconn* conn, const std::string& slot, const std::string& lsn,
                        std::chrono::milliseconds timeout, const std::function<Status()>& nudge) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    auto reached = SlotReached(conn, slot, lsn);
    if (!reached.ok()) return reached.status();
    if (*reached) return Status::OK();
    if (Clock::now() >= deadline) {
      return Status(sqlstate::kQueryCanceled,
                    fmt::format("replication slot \"{}\" did not reach {} within {} ms", slot, lsn,
                                timeout.count()));
    }
    if (nudge) {
      if (Status s = nudge(); !s.ok()) return s;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// ---- CompareChecksums -----------------------------------------------------------------------

// How one table's rows are ordered into chunks: the key columns (or the row's text) and the
// parameter casts that bound a chunk.
struct ChunkKey {
  std::vector<std::string> exprs;   // ORDER BY items ("a" COLLATE "C", ...)
  std::vector<std::string> casts;   // per item: "::int8" or "::text COLLATE \"C\""
  std::vector<std::string> values;  // per item: its value as text, for boundary reads
  bool indexed = true;              // the primary key's columns (else the row's text)
};

Result<ChunkKey> KeyOf(PGconn* source, const Table& table) {
  auto res = pg::Exec(source,
                      "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attcollation <> 0 "
                      "FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                      "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = $1::regclass "
                      "AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)",
                      {pg::QualifiedName(table)}, "source");
  if (!res.ok()) return res.status();
  ChunkKey key;
  for (int i = 0; i < PQntuples(res->get()); ++i) {
    const std::string collate = pg::TextAt(res->get(), i, 2) == "t" ? " COLLATE \"C\"" : "";
    // Qualified: ORDER BY would take a bare name for the select list's column of that name.
    const std::string col = fmt::format("{}.{}", kRow, pg::QuoteIdent(pg::TextAt(res->get(), i, 0)));
    key.exprs.push_back(col + collate);
    key.casts.push_back("::" + pg::TextAt(res->get(), i, 1) + collate);
    key.values.push_back(col + "::text");
  }
  if (key.exprs.empty()) {  // no primary key: the whole row's text orders the rows
    const std::string row_text = fmt::format("{}::text", kRow);
    key = ChunkKey{{row_text + " COLLATE \"C\""}, {"::text COLLATE \"C\""}, {row_text}, false};
  }
  return key;
}

// KeyOf(source, table), read once per table index into `keys`.
Result<const ChunkKey*> CachedKeyOf(PGconn* source, const Table& table, size_t index,
                                    std::map<size_t, ChunkKey>& keys) {
  auto it = keys.find(index);
  if (it != keys.end()) return &it->second;
  auto key = KeyOf(source, table);
  if (!key.ok()) return key.status();
  return &keys.emplace(index, std::move(key).value()).first->second;
}

// "(k1, k2) > ($3::int8, $4::text)" with parameters numbered from `first`.
std::string KeyBound(const ChunkKey& key, std::string_view op, size_t first) {
  std::string params;
  for (size_t i = 0; i < key.casts.size(); ++i) {
    params += fmt::format("{}${}{}", i == 0 ? "" : ", ", first + i, key.casts[i]);
  }
  return fmt::format("({}) {} ({})", fmt::join(key.exprs, ", "), op, params);
}

// One chunk: rows whose key is in (lower, upper]; an empty bound is unbounded.
struct Chunk {
  pg::Params lower, upper;
};

// The chunk's bounds as a condition, its parameters numbered from `first`.
std::string ChunkWhere(const ChunkKey& key, const Chunk& chunk, size_t first = 1) {
  std::string where;
  if (!chunk.lower.empty()) where += " AND " + KeyBound(key, ">", first);
  if (!chunk.upper.empty()) where += " AND " + KeyBound(key, "<=", first + chunk.lower.size());
  return where;
}

pg::Params ChunkParams(const Chunk& chunk) {
  pg::Params params = chunk.lower;
  params.insert(params.end(), chunk.upper.begin(), chunk.upper.end());
  return params;
}

// The key of the chunk_rows-th flow row of `within` after its lower bound on the source; empty
// when fewer remain.
Result<pg::Params> NextUpperBound(PGconn* source, const Table& table, const std::string& filter,
                                  const ChunkKey& key, const Chunk& within, int chunk_rows) {
  const std::string sql =
      fmt::format("SELECT {} {}{} ORDER BY {} LIMIT 1 OFFSET {}", fmt::join(key.values, ", "),
                  FlowRows(table, filter), ChunkWhere(key, within),
                  fmt::join(key.exprs, ", "), chunk_rows - 1);
  auto res = pg::Exec(source, sql, ChunkParams(within), "source");
  if (!res.ok()) return res.status();
  pg::Params upper;
  if (PQntuples(res->get()) == 1) {
    for (int i = 0; i < PQnfields(res->get()); ++i) upper.push_back(pg::TextAt(res->get(), 0, i));
  }
  return upper;
}

struct ChunkSum {
  int64_t rows = 0;
  std::string hash;
  bool operator==(const ChunkSum&) const = default;
};

std::string SumChunkSql(const Table& table, const std::string& filter, const ChunkKey& key,
                        const Chunk& chunk) {
  return fmt::format("SELECT count(*), coalesce(sum(hashtextextended({}::text, 0)), 0)::text {}{}",
                     kRow, FlowRows(table, filter), ChunkWhere(key, chunk));
}

ChunkSum ReadSum(const PGresult* res) {
  return ChunkSum{pg::IntAt<int64_t>(res, 0, 0), pg::TextAt(res, 0, 1)};
}

Result<ChunkSum> SumChunk(PGconn* conn, const Table& table, const std::string& filter,
                          const ChunkKey& key, const Chunk& chunk, std::string_view who) {
  auto res = pg::Exec(conn, SumChunkSql(table, filter, key, chunk), ChunkParams(chunk), who);
  if (!res.ok()) return res.status();
  return ReadSum(res->get());
}

// Every chunk's count and hash in one statement, rows (chunk index, count, hash); a chunk
// without rows has none: one index range per chunk (UNION ALL). REQUIRES: key.indexed.
std::pair<std::string, pg::Params> SumChunksSql(const Table& table, const std::string& filter,
                                                const ChunkKey& key, const std::vector<Chunk>& chunks) {
  std::string sql;
  pg::Params params;
  for (size_t i = 0; i < chunks.size(); ++i) {
    sql += fmt::format("{}SELECT {}, count(*), coalesce(sum(hashtextextended({}::text, 0)), 0)::text {}{}",
                       i == 0 ? "" : " UNION ALL ", i, kRow, FlowRows(table, filter),
                       ChunkWhere(key, chunks[i], params.size() + 1));
    const pg::Params p = ChunkParams(chunks[i]);
    params.insert(params.end(), p.begin(), p.end());
  }
  return {std::move(sql), std::move(params)};
}

// The sums of SumChunksSql's result, one per chunk.
std::vector<ChunkSum> ReadSums(const PGresult* res, size_t chunks) {
  std::vector<ChunkSum> sums(chunks, ChunkSum{0, "0"});
  for (int r = 0; r < PQntuples(res); ++r) {
    const auto i = pg::IntAt<size_t>(res, r, 0);
    if (i < sums.size()) sums[i] = ChunkSum{pg::IntAt<int64_t>(res, r, 1), pg::TextAt(res, r, 2)};
  }
  return sums;
}

// The keys that cut `within` into sub-chunks of about `rows` rows on the source: every
// rows-th row's key in key order (one sort of the chunk, not one per sub-chunk).
Result<std::vector<pg::Params>> SubChunkBounds(PGconn* source, const Table& table, const std::string& filter,
                                               const ChunkKey& key, const Chunk& within, int rows) {
  std::string inner, outer;
  for (size_t i = 0; i < key.values.size(); ++i) {
    inner += fmt::format("{} AS v{}, ", key.values[i], i);
    outer += fmt::format("{}v{}", i == 0 ? "" : ", ", i);
  }
  const std::string sql = fmt::format(
      "SELECT {} FROM (SELECT {}row_number() OVER (ORDER BY {}) AS n {}{}) x WHERE n % {} = 0 ORDER BY n", outer,
      inner, fmt::join(key.exprs, ", "), FlowRows(table, filter), ChunkWhere(key, within), rows);
  auto res = pg::Exec(source, sql, ChunkParams(within), "source");
  if (!res.ok()) return res.status();
  std::vector<pg::Params> bounds(static_cast<size_t>(PQntuples(res->get())));
  for (int r = 0; r < PQntuples(res->get()); ++r) {
    for (int i = 0; i < PQnfields(res->get()); ++i) bounds[static_cast<size_t>(r)].push_back(pg::TextAt(res->get(), r, i));
  }
  return bounds;
}

// SumChunk of every sub-chunk of `chunk` (cut at `bounds`, see SubChunkBounds) in one
// statement, so one snapshot: one pass over the chunk that puts each row in its sub-chunk
// (width_bucket over the bounds) for a one-item key, one index range per sub-chunk else.
Result<std::vector<ChunkSum>> SumSubChunks(PGconn* conn, const Table& table, const std::string& filter,
                                           const ChunkKey& key, const Chunk& chunk,
                                           const std::vector<pg::Params>& bounds, std::string_view who) {
  std::vector<ChunkSum> sums(bounds.size() + 1, ChunkSum{0, "0"});
  pg::Params params;
  std::string sql;
  if (bounds.empty()) {
    sql = SumChunkSql(table, filter, key, chunk);
    params = ChunkParams(chunk);
  } else if (key.exprs.size() == 1) {
    // Sub-chunks are (lower, upper]: a row equal to the bound width_bucket puts it at belongs
    // to the sub-chunk before.
    params = ChunkParams(chunk);
    std::string array;
    for (const auto& b : bounds) {
      params.push_back(b[0]);
      array += fmt::format("{}${}{}", array.empty() ? "" : ", ", params.size(), key.casts[0]);
    }
    sql = fmt::format(
        "SELECT CASE WHEN x.w > 0 AND x.e = (ARRAY[{0}])[x.w] THEN x.w ELSE x.w + 1 END - 1, count(*), "
        "coalesce(sum(hashtextextended(x.t, 0)), 0)::text FROM (SELECT {1} AS e, {2}::text AS t, "
        "width_bucket({1}, ARRAY[{0}]) AS w {3}{4}) x GROUP BY 1",
        array, key.exprs[0], kRow, FlowRows(table, filter), ChunkWhere(key, chunk));
  } else {
    std::vector<Chunk> subs;
    for (size_t i = 0; i <= bounds.size(); ++i) {
      subs.push_back({i == 0 ? chunk.lower : bounds[i - 1], i == bounds.size() ? chunk.upper : bounds[i]});
    }
    std::tie(sql, params) = SumChunksSql(table, filter, key, subs);
  }
  auto res = pg::Exec(conn, sql, params, who);
  if (!res.ok()) return res.status();
  if (bounds.empty()) {
    sums[0] = ReadSum(res->get());
    return sums;
  }
  return ReadSums(res->get(), sums.size());
}

// The result of a query sent with PQsendQueryParams: the first result (or its error), after
// reading every result so that the connection is ready for the next query.
Result<pg::ResultPtr> Collect(PGconn* conn, const std::string& sql, std::string_view who) {
  pg::ResultPtr first(PQgetResult(conn));
  while (pg::ResultPtr more{PQgetResult(conn)}) {
  }
  if (first == nullptr || PQresultStatus(first.get()) != PGRES_TUPLES_OK) {
    return pg::QueryError(conn, first.get(), sql, who);
  }
  return first;
}

// One statement on both nodes at once: each server runs it while the other does (under the
// cutover's fence, where every millisecond pauses writes).
Result<std::pair<pg::ResultPtr, pg::ResultPtr>> ExecOnBoth(PGconn* source, PGconn* target, const std::string& sql,
                                                           const pg::Params& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  auto send = [&](PGconn* conn) {
    return PQsendQueryParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, 0) == 1;
  };
  if (!send(source)) return pg::ConnectionError(source, "source");
  const bool sent = send(target);
  auto a = Collect(source, sql, "source");  // read even when the target failed
  if (!sent) return pg::ConnectionError(target, "target");
  auto b = Collect(target, sql, "target");
  if (!a.ok()) return a.status();
  if (!b.ok()) return b.status();
  return std::pair{std::move(a).value(), std::move(b).value()};
}

std::string Bound(const pg::Params& p) {
  std::string s;
  for (const auto& v : p) s += (s.empty() ? "" : ", ") + v.value_or("NULL");
  return p.empty() ? std::string("unbounded") : "(" + s + ")";
}

void NoteMismatch(const Table& table, const Chunk& chunk, const ChunkSum& a, const ChunkSum& b,
                  std::string* first) {
  if (first == nullptr || !first->empty()) return;
  const std::string where = chunk.lower.empty() && chunk.upper.empty()
                                ? std::string("all the flow's rows")
                                : fmt::format("chunk {} .. {}", Bound(chunk.lower), Bound(chunk.upper));
  *first = fmt::format("table {}.{} {}: source {} rows, target {} rows{}", table.schema, table.name, where,
                       a.rows, b.rows, a.rows == b.rows ? " (different values)" : "");
}

// Compares one chunk (see CompareChecksums); adds it to `out`.
Status CompareChunk(PGconn* source, PGconn* target, size_t table_index, const Table& table,
                    const std::string& filter, const ChunkKey& key, const Chunk& chunk, int retries,
                    const std::function<Status()>& catch_up, ChecksumResult& out) {
  for (int attempt = 0;; ++attempt) {
    auto before = SumChunk(source, table, filter, key, chunk, "source");
    if (!before.ok()) return before.status();
    if (catch_up) {
      if (Status s = catch_up(); !s.ok()) return s;
    }
    auto on_target = SumChunk(target, table, filter, key, chunk, "target");
    if (!on_target.ok()) return on_target.status();
    if (*before == *on_target) {
      ++out.chunks;
      out.rows_source += before->rows;
      out.rows_target += on_target->rows;
      return Status::OK();
    }
    auto after = SumChunk(source, table, filter, key, chunk, "source");
    if (!after.ok()) return after.status();
    if (*after == *on_target || *before == *after) {
      ++out.chunks;
      out.rows_source += after->rows;
      out.rows_target += on_target->rows;
      if (*after == *on_target) return Status::OK();
      ++out.mismatched_chunks;  // the source held still and the target differs
      NoteMismatch(table, chunk, *after, *on_target, &out.first_mismatch);
      return Status::OK();
    }
    if (attempt >= retries) {
      out.unsettled.push_back({table_index, chunk.lower, chunk.upper});
      return Status::OK();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50 * (attempt + 1)));
  }
}

Status CompareTable(PGconn* source, PGconn* target, size_t table_index, const Table& table,
                    const std::string& filter, int chunk_rows, int retries,
                    const std::function<Status()>& catch_up, ChecksumResult& out) {
  auto key = KeyOf(source, table);
  if (!key.ok()) return key.status();
  Chunk chunk;
  for (;;) {
    auto upper = NextUpperBound(source, table, filter, *key, Chunk{chunk.lower, {}}, chunk_rows);
    if (!upper.ok()) return upper.status();
    chunk.upper = std::move(upper).value();
    if (Status s = CompareChunk(source, target, table_index, table, filter, *key, chunk, retries, catch_up, out);
        !s.ok()) {
      return s;
    }
    if (chunk.upper.empty()) return Status::OK();
    chunk.lower = std::move(chunk.upper);
  }
}

// ---- SameResult -----------------------------------------------------------------------------

// `sql`'s rows, each encoded as one string (lengths keep NULL and "" apart), sorted.
Result<std::vector<std::string>> SortedRows(PGconn* conn, const std::string& sql,
                                            const pg::Params& params, std::string_view who) {
  if (Status s = PinTextFormats(conn, who); !s.ok()) return s;
  auto res = pg::Exec(conn, sql, params, who);
  if (!res.ok()) return res.status();
  std::vector<std::string> rows;
  const int fields = PQnfields(res->get());
  for (int r = 0; r < PQntuples(res->get()); ++r) {
    std::string row = std::to_string(fields);
    for (int c = 0; c < fields; ++c) {
      auto v = pg::NullableTextAt(res->get(), r, c);
      row += v ? fmt::format("|{}:{}", v->size(), *v) : std::string("|N");
    }
    rows.push_back(std::move(row));
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

}  // namespace

Status PinTextFormats(PGconn* conn, std::string_view who) {
  return pg::Run(conn,
                 "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres';"
                 " SET extra_float_digits = 3; SET bytea_output = 'hex'",
                 {}, who);
}

FlowNames ForwardNames(int64_t migration_id, size_t flow_index) {
  return Names('f', migration_id, flow_index);
}

FlowNames ReverseNames(int64_t migration_id, size_t flow_index) {
  return Names('r', migration_id, flow_index);
}

// ALTER TABLE ... REPLICA IDENTITY takes the table's ACCESS EXCLUSIVE lock. Waiting for it behind
// a transaction left open on the table (even one reading rows that do not move) would queue every
// later statement on the table on that node behind the ALTER, for as long as that transaction
// lasts. So each try waits at most kAlterLockWait, and tries come again after a growing pause
// (statements queue for one wait at most per try) for up to kAlterLockPatience.
constexpr int kAlterLockWaitMs = 100;
constexpr auto kAlterLockPatience = std::chrono::minutes(10);

Status AlterTablePatiently(PGconn* conn, const std::string& sql, std::string_view who) {
  if (Status s = pg::Run(conn, fmt::format("SET lock_timeout = {}", kAlterLockWaitMs), {}, who); !s.ok()) return s;
  const auto give_up = Clock::now() + kAlterLockPatience;
  auto pause = std::chrono::milliseconds(100);
  Status s;
  for (int tries = 1;; ++tries) {
    s = pg::Run(conn, sql, {}, who);
    if (s.ok() || s.sqlstate() != kLockNotAvailable || Clock::now() > give_up) break;
    if (tries % 10 == 0) {
      log::warn("{}: `{}` waits for a transaction open on the table ({} tries); statements on it are not held meanwhile",
                who, sql, tries);
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(2000));
  }
  if (Status reset = pg::Run(conn, "RESET lock_timeout", {}, who); s.ok() && !reset.ok()) return reset;
  return s;
}

Result<std::vector<std::string>> SetReplicaIdentityFull(PGconn* conn,
                                                        const std::vector<Table>& tables,
                                                        std::string_view who) {
  std::vector<std::string> previous;
  for (const Table& table : tables) {
    auto setting = QueryValue(
        conn,
        "SELECT CASE c.relreplident WHEN 'i' THEN 'i:' || (SELECT ic.relname FROM pg_index x "
        "JOIN pg_class ic ON ic.oid = x.indexrelid WHERE x.indrelid = c.oid AND x.indisreplident) "
        "ELSE c.relreplident::text END FROM pg_class c WHERE c.oid = $1::regclass",
        {pg::QualifiedName(table)}, who);
    if (!setting.ok()) return setting.status();
    previous.push_back(setting->value_or("d"));
    if (previous.back() == "f") continue;
    if (Status s = AlterTablePatiently(conn, "ALTER TABLE " + pg::QualifiedName(table) + " REPLICA IDENTITY FULL", who);
        !s.ok()) {
      return s;
    }
  }
  return previous;
}

Result<std::string> OldestTransactionOn(PGconn* conn, const std::vector<Table>& tables, std::string_view who,
                                        std::string_view lock_mode) {
  std::string relations;
  for (const Table& table : tables) {
    relations += (relations.empty() ? "" : ", ") + pg::QuoteLiteral(pg::QualifiedName(table)) + "::regclass";
  }
  if (relations.empty()) return std::string();
  auto oldest = QueryValue(
      conn,
      "SELECT format('pid %s, %s for %s s (transaction open %s s), last statement: %s', a.pid, a.state, "
      "round(extract(epoch FROM now() - a.state_change)::numeric, 1), "
      "round(extract(epoch FROM now() - a.xact_start)::numeric, 1), left(a.query, 200)) "
      "FROM pg_catalog.pg_stat_activity a WHERE a.backend_type = 'client backend' AND a.xact_start IS NOT NULL "
      "AND a.pid <> pg_catalog.pg_backend_pid() AND EXISTS (SELECT 1 FROM pg_catalog.pg_locks l "
      "WHERE l.pid = a.pid AND l.relation IN (" + relations + ") AND ($1 = '' OR (l.mode = $1 AND l.granted))) "
      "ORDER BY a.xact_start LIMIT 1",
      {std::string(lock_mode)}, who);
  if (!oldest.ok()) return oldest.status();
  return oldest->value_or("");
}

Status RestoreReplicaIdentity(PGconn* conn, const std::vector<Table>& tables,
                              const std::vector<std::string>& previous, std::string_view who) {
  if (previous.size() != tables.size()) {
    return Status(
        sqlstate::kInvalidParameterValue,
        fmt::format("{} replica identity settings for {} tables", previous.size(), tables.size()));
  }
  for (size_t i = 0; i < tables.size(); ++i) {
    const std::string& p = previous[i];
    std::string identity = p == "n" ? "NOTHING" : p == "f" ? "FULL" : "DEFAULT";
    if (p.starts_with("i:")) identity = "USING INDEX " + pg::QuoteIdent(p.substr(2));
    if (Status s = AlterTablePatiently(conn, "ALTER TABLE " + pg::QualifiedName(tables[i]) + " REPLICA IDENTITY " + identity,
                                       who);
        !s.ok()) {
      return s;
    }
  }
  return Status::OK();
}

Status CreatePublication(PGconn* source, const std::string& name, const std::vector<Table>& tables,
                         const std::string& filter) {
  auto exists =
      QueryValue(source, "SELECT 't' FROM pg_publication WHERE pubname = $1", {name}, "source");
  if (!exists.ok()) return exists.status();
  if (exists->has_value()) return Status::OK();
  std::string sql = "CREATE PUBLICATION " + pg::QuoteIdent(name) + " FOR TABLE ";
  for (size_t i = 0; i < tables.size(); ++i) {
    sql += fmt::format("{}{} WHERE ({})", i == 0 ? "" : ", ", pg::QualifiedName(tables[i]), filter);
  }
  // Not TRUNCATE: it is replicated for the whole table, whatever the row filter says, and would
  // empty the other tenants' rows on the subscriber.
  sql += " WITH (publish = 'insert, update, delete')";
  Status s = pg::Run(source, sql, {}, "source");
  return !s.ok() && s.sqlstate() == kDuplicateObject ? Status::OK() : s;
}

Result<int64_t> CountRows(PGconn* conn, const std::vector<Table>& tables, const std::string& filter,
                          std::string_view who) {
  int64_t total = 0;
  for (const Table& table : tables) {
    auto res = pg::Exec(conn, "SELECT count(*) " + FlowRows(table, filter), {}, who);
    if (!res.ok()) return res.status();
    total += pg::IntAt<int64_t>(res->get(), 0, 0);
  }
  return total;
}

Status CopyFlow(const catalog::Node& source, const catalog::Node& target,
                const std::vector<Table>& tables, const std::string& filter,
                const std::string& slot, const CopyLimits& limits, const CopyControl& control) {
  Status s = CopyFlowOnce(source, target, tables, filter, slot, limits, control);
  if (!s.ok()) {  // a slot nobody will use would keep WAL forever
    if (auto conn = pg::ConnectNode(source); conn.ok()) (void)DropSlot(conn->get(), slot);
  }
  return s;
}

namespace {

// Sets the replication origin of subscription `name` on `target` to `lsn` unless it is there or
// beyond already.
Status StartOriginAt(PGconn* target, const std::string& name, std::string_view lsn) {
  return pg::Run(target,
                 "SELECT pg_replication_origin_advance(o, $2::pg_lsn) FROM (SELECT 'pg_' || oid AS o "
                 "FROM pg_subscription WHERE subname = $1 AND subdbid = (SELECT oid FROM pg_database "
                 "WHERE datname = current_database())) s WHERE coalesce(pg_replication_origin_progress(o, "
                 "false), '0/0') < $2::pg_lsn",
                 {name, std::string(lsn)}, "target");
}

}  // namespace

Status Subscribe(PGconn* target, const catalog::Node& source, const FlowNames& names,
                 std::string_view start_lsn) {
  auto enabled =
      QueryValue(target,
                 "SELECT subenabled::text FROM pg_subscription WHERE subname = $1 AND "
                 "subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
                 {names.subscription}, "target");
  if (!enabled.ok()) return enabled.status();
  const std::string sub = pg::QuoteIdent(names.subscription);
  if (enabled->has_value() && **enabled == "true") return Status::OK();
  if (!enabled->has_value()) {
    Status s = pg::Run(target,
                       fmt::format("CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} WITH "
                                   "(create_slot = false, slot_name = {}, copy_data = false, "
                                   "enabled = false)",
                                   sub, pg::QuoteLiteral(source.dsn),
                                   pg::QuoteIdent(names.publication), pg::QuoteLiteral(names.slot)),
                       {}, "target");
    if (!s.ok() && s.sqlstate() != kDuplicateObject) return s;
  }
  if (!start_lsn.empty()) {
    if (Status s = StartOriginAt(target, names.subscription, start_lsn); !s.ok()) return s;
  }
  return pg::Run(target, "ALTER SUBSCRIPTION " + sub + " ENABLE", {}, "target");
}

Result<std::string> CurrentLsn(PGconn* conn, std::string_view who) {
  auto lsn = QueryValue(conn, "SELECT pg_current_wal_insert_lsn()::text", {}, who);
  if (!lsn.ok()) return lsn.status();
  return lsn->value_or("0/0");
}

// A synchronous commit flushes the WAL only if its transaction wrote WAL of its own: PostgreSQL
// commits a transaction that merely has an xid (txid_current()) asynchronously, whatever
// synchronous_commit says (RecordTransactionCommit's wrote_xlog), so that did not flush
// anything. A transactional logical message is a WAL record (with an xid); the output plugin
// of the migration's subscriptions (pgoutput without `messages`) ignores it.
constexpr std::string_view kFlushWalSql =
    "BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_catalog.pg_logical_emit_message(true, 'mosaic', ''); "
    "COMMIT";

Status FlushWal(PGconn* conn, std::string_view who) { return pg::Run(conn, std::string(kFlushWalSql), {}, who); }

Result<std::string> FlushWalThenLsn(PGconn* conn, std::string_view who) {
  // Several statements in one simple query: the result is the last one's, or the first error.
  // The flushed position, not the insert position: WAL that other sessions inserted after the
  // commit may not be on disk yet, and a position past the end of the WAL that survives a crash
  // would never be reached again by a slot or an origin set to it.
  auto lsn = QueryValue(conn, std::string(kFlushWalSql) + "; SELECT pg_current_wal_flush_lsn()::text", {}, who);
  if (!lsn.ok()) return lsn.status();
  return lsn->value_or("0/0");
}

Status WaitCaughtUp(PGconn* source, const std::string& slot, const std::string& lsn,
                    std::chrono::milliseconds timeout) {
  return UntilSlotReaches(source, slot, lsn, timeout, {});
}

Status CreateSlot(PGconn* conn, const std::string& slot) {
  Status s = pg::Run(conn,
                     "SELECT pg_create_logical_replication_slot($1, 'pgoutput') WHERE NOT EXISTS "
                     "(SELECT FROM pg_replication_slots WHERE slot_name = $1)",
                     {slot}, "node");
  return !s.ok() && s.sqlstate() == kDuplicateObject ? Status::OK() : s;
}

Status AdvanceSlot(PGconn* conn, const std::string& slot, const std::string& lsn) {
  // The server advances no further than the WAL it has flushed, which may lag lsn for a moment
  // (asynchronous commit): advance again until the slot is there.
  return UntilSlotReaches(conn, slot, lsn, std::chrono::seconds(10), [&] {
    return pg::Run(conn, "SELECT pg_replication_slot_advance($1, $2::pg_lsn)", {slot, lsn}, "node");
  });
}

Result<ChecksumResult> CompareChecksums(PGconn* source, PGconn* target,
                                        const std::vector<Table>& tables, const std::string& filter,
                                        int chunk_rows, int retries,
                                        const std::function<Status()>& catch_up) {
  if (chunk_rows <= 0) return Status(sqlstate::kInvalidParameterValue, "chunk_rows must be > 0");
  if (Status s = PinTextFormatsOnBoth(source, target); !s.ok()) return s;
  ChecksumResult out;
  for (size_t i = 0; i < tables.size(); ++i) {
    if (Status s = CompareTable(source, target, i, tables[i], filter, chunk_rows, retries, catch_up, out);
        !s.ok()) {
      return s;
    }
  }
  return out;
}

Result<ChecksumResult> RefineChunks(PGconn* source, PGconn* target, const std::vector<Table>& tables,
                                    const std::string& filter, const std::vector<ChunkRange>& chunks,
                                    int sub_chunk_rows, int retries, const std::function<Status()>& catch_up) {
  if (sub_chunk_rows <= 0) return Status(sqlstate::kInvalidParameterValue, "sub_chunk_rows must be > 0");
  if (Status s = PinTextFormatsOnBoth(source, target); !s.ok()) return s;
  ChecksumResult out;
  std::map<size_t, ChunkKey> keys;
  for (const ChunkRange& c : chunks) {
    if (c.table >= tables.size()) continue;
    const Table& table = tables[c.table];
    auto cached = CachedKeyOf(source, table, c.table, keys);
    if (!cached.ok()) return cached.status();
    const ChunkKey& key = **cached;
    const Chunk chunk{c.lower, c.upper};
    auto bounds = SubChunkBounds(source, table, filter, key, chunk, sub_chunk_rows);
    if (!bounds.ok()) return bounds.status();
    auto sub = [&](size_t i) {
      return Chunk{i == 0 ? c.lower : (*bounds)[i - 1], i == bounds->size() ? c.upper : (*bounds)[i]};
    };
    // CompareChunk's rule over all the chunk's sub-chunks at once, catching up once per round
    // instead of once per sub-chunk. The source's sums before the catch-up are one statement.
    // After it, a sub-chunk is settled when nothing wrote it between the target's read and the
    // source's next: with a primary key each sub-chunk's two reads follow each other (two small
    // index range reads: a short window, so few stay unsettled under steady writes); without
    // one every read is a full pass, so each side's sums are one statement.
    std::vector<size_t> pending(bounds->size() + 1);
    for (size_t i = 0; i < pending.size(); ++i) pending[i] = i;
    for (int attempt = 0;; ++attempt) {
      auto before = SumSubChunks(source, table, filter, key, chunk, *bounds, "source");
      if (!before.ok()) return before.status();
      if (catch_up) {
        if (Status st = catch_up(); !st.ok()) return st;
      }
      std::vector<ChunkSum> on_target(pending.size()), after(pending.size());
      std::vector<bool> read_after(pending.size(), false);
      if (key.indexed) {
        for (size_t j = 0; j < pending.size(); ++j) {
          auto t = SumChunk(target, table, filter, key, sub(pending[j]), "target");
          if (!t.ok()) return t.status();
          on_target[j] = std::move(t).value();
          if ((*before)[pending[j]] == on_target[j]) continue;
          auto a = SumChunk(source, table, filter, key, sub(pending[j]), "source");
          if (!a.ok()) return a.status();
          after[j] = std::move(a).value();
          read_after[j] = true;
        }
      } else {
        auto t = SumSubChunks(target, table, filter, key, chunk, *bounds, "target");
        if (!t.ok()) return t.status();
        bool differ = false;
        for (size_t j = 0; j < pending.size(); ++j) {
          on_target[j] = (*t)[pending[j]];
          differ = differ || !((*before)[pending[j]] == on_target[j]);
        }
        if (differ) {
          auto a = SumSubChunks(source, table, filter, key, chunk, *bounds, "source");
          if (!a.ok()) return a.status();
          for (size_t j = 0; j < pending.size(); ++j) after[j] = (*a)[pending[j]];
          read_after.assign(pending.size(), true);
        }
      }
      std::vector<size_t> changing;
      for (size_t j = 0; j < pending.size(); ++j) {
        const size_t i = pending[j];
        const ChunkSum& t = on_target[j];
        if ((*before)[i] == t) {
          ++out.chunks;
          out.rows_source += t.rows;
          out.rows_target += t.rows;
          continue;
        }
        const ChunkSum& a = after[j];
        if (read_after[j] && (a == t || (*before)[i] == a)) {
          ++out.chunks;
          out.rows_source += a.rows;
          out.rows_target += t.rows;
          if (!(a == t)) {  // the source held still and the target differs
            ++out.mismatched_chunks;
            NoteMismatch(table, sub(i), a, t, &out.first_mismatch);
          }
        } else {
          changing.push_back(i);
        }
      }
      pending = std::move(changing);
      if (pending.empty()) break;
      if (attempt >= retries) {
        for (size_t i : pending) {
          Chunk ch = sub(i);
          out.unsettled.push_back({c.table, std::move(ch.lower), std::move(ch.upper)});
        }
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50 * (attempt + 1)));
    }
  }
  return out;
}

Result<int64_t> RecheckChunks(PGconn* source, PGconn* target, const std::vector<Table>& tables,
                              const std::string& filter, const std::vector<ChunkRange>& chunks,
                              std::string* first) {
  // Per table, all its chunks in one statement on each node (one round trip; for a table
  // without primary key one pass over the flow's rows).
  std::map<size_t, std::vector<Chunk>> by_table;
  for (const ChunkRange& c : chunks) {
    if (c.table < tables.size()) by_table[c.table].push_back(Chunk{c.lower, c.upper});
  }
  int64_t differ = 0;
  std::map<size_t, ChunkKey> keys;
  for (const auto& [index, group] : by_table) {
    const Table& table = tables[index];
    auto key = CachedKeyOf(source, table, index, keys);
    if (!key.ok()) return key.status();
    if (!(*key)->indexed) {
      // Every read of a table without primary key is a full pass, so compare the flow's whole
      // rows: under the fence nothing writes them, and the target must hold exactly the
      // source's. Equal sums settle every chunk at once; different ones are a mismatch, in a
      // chunk left for the fence or in one that settled before it.
      auto whole = ExecOnBoth(source, target, SumChunkSql(table, filter, **key, Chunk{}), {});
      if (!whole.ok()) return whole.status();
      const ChunkSum a = ReadSum(whole->first.get());
      const ChunkSum b = ReadSum(whole->second.get());
      if (a != b) {
        ++differ;
        NoteMismatch(table, Chunk{}, a, b, first);
      }
      continue;
    }
    const auto [sql, params] = SumChunksSql(table, filter, **key, group);
    auto both = ExecOnBoth(source, target, sql, params);
    if (!both.ok()) return both.status();
    const std::vector<ChunkSum> a = ReadSums(both->first.get(), group.size());
    const std::vector<ChunkSum> b = ReadSums(both->second.get(), group.size());
    for (size_t i = 0; i < group.size(); ++i) {
      if (a[i] == b[i]) continue;
      ++differ;
      NoteMismatch(table, group[i], a[i], b[i], first);
    }
  }
  return differ;
}

Result<int64_t> DeleteRows(PGconn* conn, const std::vector<Table>& tables,
                           const std::string& filter, int batch_rows, std::string_view who) {
  int64_t total = 0;
  for (const Table& table : tables) {
    // The outer filter keeps a row whose ctid was reused (or is another partition's) safe.
    const std::string sql =
        fmt::format("DELETE {0} AND ctid = ANY(ARRAY(SELECT ctid {0} LIMIT {1}))",
                    FlowRows(table, filter), std::max(batch_rows, 1));
    for (;;) {
      auto res = pg::Exec(conn, sql, {}, who);
      if (!res.ok()) return res.status();
      const char* n = PQcmdTuples(res->get());
      int64_t deleted = 0;
      std::from_chars(n, n + std::char_traits<char>::length(n), deleted);
      if (deleted == 0) break;
      total += deleted;
    }
  }
  return total;
}

Status DropSubscription(PGconn* target, const std::string& subscription) {
  // Never one plain DROP SUBSCRIPTION of a subscription that can still stream. The DROP resets
  // the subscription's replication origin (how far it applied) outside its transaction: the
  // reset is WAL-logged and done in memory at once. If the DROP then fails or the server
  // crashes before it commits, the subscription survives with no progress, and its next apply
  // worker streams from the slot's confirmed_flush_lsn, which lags what was applied
  // (asynchronous apply; the slot's position is saved at checkpoints): those transactions are
  // applied twice, and an INSERT into a table without a key leaves a duplicate row. So first,
  // in committed steps, the subscription is disabled and detached from its slot (one without a
  // slot cannot be enabled again); the DROP that follows never contacts the publisher.
  const std::string sub = pg::QuoteIdent(subscription);
  for (const char* step :
       {"ALTER SUBSCRIPTION {} DISABLE", "ALTER SUBSCRIPTION {} SET (slot_name = NONE)",
        "DROP SUBSCRIPTION IF EXISTS {}"}) {
    Status s = pg::Run(target, fmt::format(fmt::runtime(step), sub), {}, "target");
    if (!s.ok()) return s.sqlstate() == kUndefinedObject ? Status::OK() : s;
  }
  return Status::OK();
}

Status DropPublication(PGconn* conn, const std::string& publication) {
  return pg::Run(conn, "DROP PUBLICATION IF EXISTS " + pg::QuoteIdent(publication), {}, "node");
}

Status DropSlot(PGconn* conn, const std::string& slot) {
  const auto terminate_after = Clock::now() + std::chrono::seconds(5);
  const auto give_up = terminate_after + std::chrono::seconds(5);
  for (;;) {
    auto pid = QueryValue(conn,
                          "SELECT coalesce(active_pid::text, '') FROM pg_replication_slots "
                          "WHERE slot_name = $1",
                          {slot}, "node");
    if (!pid.ok()) return pid.status();
    if (!pid->has_value()) return Status::OK();
    Status s = Status(sqlstate::kObjectInUse, "replication slot \"" + slot + "\" is active");
    if ((*pid)->empty()) {
      s = pg::Run(conn, "SELECT pg_drop_replication_slot($1)", {slot}, "node");
      if (s.ok() || s.sqlstate() == kUndefinedObject) return Status::OK();
      if (s.sqlstate() != sqlstate::kObjectInUse) return s;
    } else if (Clock::now() >= terminate_after) {
      (void)pg::Run(conn, "SELECT pg_terminate_backend($1::int)", {**pid}, "node");
    }
    if (Clock::now() >= give_up) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Result<bool> SameResult(PGconn* a, PGconn* b, const std::string& sql, const pg::Params& params) {
  auto rows_a = SortedRows(a, sql, params, "node a");
  if (!rows_a.ok()) return rows_a.status();
  auto rows_b = SortedRows(b, sql, params, "node b");
  if (!rows_b.ok()) return rows_b.status();
  return *rows_a == *rows_b;
}

}  // namespace mosaic::migration
