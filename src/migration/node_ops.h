// The PostgreSQL-side operations of an online range migration: what the migration service does
// on the nodes to copy a flow's rows (migration.h), keep the copy current with logical
// replication, compare both sides, replicate in reverse after the cutover, and clean up.
//
// Control plane only: every call blocks on the network (synchronous libpq) and may take long
// (CopyFlow, CompareChecksums, DeleteRows). Nothing here is used on the data path. Functions
// are not thread-safe per connection: a PGconn is used by one thread at a time; functions that
// take a catalog::Node open (and close) connections of their own. Errors keep the server's
// SQLSTATE; 57014 means cancelled or timed out.
//
// Requirements on the nodes: wal_level = logical, a free replication slot and WAL sender per
// flow (plus one WAL sender during CopyFlow), and a role that may create publications,
// subscriptions and replication slots (superuser in PostgreSQL 15, which also lets
// subscriptions apply changes to any table).
//
// Filters are SQL conditions over one table's columns with literals only (migration::Flow);
// they must also be valid publication row filters: only immutable built-in functions and
// operators, built-in collations and types. E.g. comparing a timestamptz column with a
// '...'::date literal is rejected (the cast is not immutable): compare with a literal of the
// column's own type.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/pg_client.h"
#include "catalog/shard_map.h"
#include "common/status.h"

namespace mosaic::migration {

// The PostgreSQL object names of one flow's replication: the publication and the slot live on
// the publishing node, the subscription on the subscribing node.
struct FlowNames {
  std::string publication, slot, subscription;
};
// "mosaic_m<id>_f<index>" for the forward flow (publication and slot on the source,
// subscription on the target).
FlowNames ForwardNames(int64_t migration_id, size_t flow_index);
// "mosaic_m<id>_r<index>" for the reverse flow (publication and slot on the target,
// subscription on the source).
FlowNames ReverseNames(int64_t migration_id, size_t flow_index);

// Throttles of CopyFlow. 0 = unlimited.
struct CopyLimits {
  int64_t rows_per_s = 0;
  int64_t bytes_per_s = 0;  // bytes of COPY text
  int batch_rows = 10000;   // rows per target transaction; <= 0 reads as 10000
};

// Hooks CopyFlow calls between batches, on the copying thread. Any may be empty.
struct CopyControl {
  std::function<void(int64_t rows, int64_t bytes)> progress;  // cumulative
  std::function<bool()> cancelled;                            // true: stop, return 57014
  std::function<double()> slowdown;  // >= 1: each batch takes (at least) that many times as long
};

// Sets REPLICA IDENTITY FULL on each table (row filters may then use any column, and UPDATE
// and DELETE publish whole old rows, so rows moving in and out of a filter replicate right).
// Returns the previous setting per table, in `tables`' order: "d" (default), "n" (nothing),
// "f" (full) or "i:<index name>". Idempotent, but a second call returns "f": keep the first
// call's answer for RestoreReplicaIdentity. Fails with 42P01 for a missing table.
Result<std::vector<std::string>> SetReplicaIdentityFull(PGconn* conn,
                                                        const std::vector<catalog::Table>& tables,
                                                        std::string_view who);

// Puts back what SetReplicaIdentityFull returned. REQUIRES: previous.size() == tables.size()
// (otherwise 22023). Idempotent.
Status RestoreReplicaIdentity(PGconn* conn, const std::vector<catalog::Table>& tables,
                              const std::vector<std::string>& previous, std::string_view who);

// The oldest transaction of a client backend other than `conn`'s that holds a lock on one of
// `tables`, for the log and the progress of a cutover whose fence does not drain: "pid 4711,
// idle in transaction for 12.5 s (transaction open 12.6 s), last statement: UPDATE ..." (cut to
// 200 characters); empty when there is none. `lock_mode` ("AccessExclusiveLock", say): only a
// transaction granted a lock of that mode.
Result<std::string> OldestTransactionOn(PGconn* conn, const std::vector<catalog::Table>& tables,
                                        std::string_view who, std::string_view lock_mode = {});

// CREATE PUBLICATION name FOR TABLE t1 WHERE (filter), t2 WHERE (filter), ... on `source`.
// An existing publication of that name is kept as it is. A filter PostgreSQL refuses as a row
// filter fails with its SQLSTATE (42P17 / 0A000). REQUIRES: !tables.empty().
Status CreatePublication(PGconn* source, const std::string& name,
                         const std::vector<catalog::Table>& tables, const std::string& filter);

// The number of rows of `tables` matching `filter` (one count(*) per table).
Result<int64_t> CountRows(PGconn* conn, const std::vector<catalog::Table>& tables,
                          const std::string& filter, std::string_view who);

// Copies the flow's rows at one consistent point and leaves logical slot `slot` (pgoutput) on
// the source positioned exactly there, so that a subscription using it (Subscribe) continues
// where the copy ended:
//   1. deletes rows matching `filter` on the target (leftovers of an earlier attempt);
//   2. drops a leftover slot named `slot` on the source and creates it over a replication
//      connection, exporting its snapshot;
//   3. in a REPEATABLE READ transaction on the source that imports that snapshot, streams
//      COPY (SELECT cols FROM t WHERE filter) TO STDOUT (FORMAT binary) into
//      COPY t (cols) FROM STDIN (FORMAT binary) on the target (no value goes through its text
//      form), committing every limits.batch_rows rows and pausing between batches to stay
//      under the limits (a batch lasts at least rows/rows_per_s and bytes/bytes_per_s, times
//      control.slowdown()). The batches commit without waiting for their WAL flush; one
//      synchronous commit on the target at the end makes them durable before CopyFlow returns.
// REQUIRES: the publication the slot will serve exists on the source (pgoutput reads it as of
// the slot's position); the tables exist on the target with the same columns of the same
// types (binary COPY refuses others); no subscription uses `slot`. On failure or cancellation
// (57014) the slot is dropped (best effort) and the target may hold part of the rows: call
// again, or DeleteRows on the target.
Status CopyFlow(const catalog::Node& source, const catalog::Node& target,
                const std::vector<catalog::Table>& tables, const std::string& filter,
                const std::string& slot, const CopyLimits& limits, const CopyControl& control);

// On `target`: CREATE SUBSCRIPTION names.subscription CONNECTION '<source dsn>' PUBLICATION
// names.publication WITH (create_slot = false, slot_name = names.slot, copy_data = false).
// An existing subscription of that name is kept and enabled. REQUIRES: the slot exists on the
// source (CopyFlow or CreateSlot). Note: PostgreSQL 15 has no origin filter, so a forward and a
// reverse subscription of the same rows must never be enabled at the same time (they would
// replicate each change back and forth).
//
// With `start_lsn`, the subscription is created disabled and its replication origin (on
// `target`, WAL-logged, so it survives a crash) is set to start_lsn before it is enabled: it
// never applies a transaction of the source that committed before start_lsn, whatever the slot
// says. AdvanceSlot alone does not give that: a logical slot's advanced position is written to
// disk only at the source's next checkpoint, and a source that crashes before it streams again
// from the slot's older position. The origin never moves backwards here.
Status Subscribe(PGconn* target, const catalog::Node& source, const FlowNames& names,
                 std::string_view start_lsn = {});

// The node's current WAL position as text ("0/16B3748"): pg_current_wal_insert_lsn(), not
// pg_current_wal_lsn(), whose write position may still be short of commits already visible
// under asynchronous commit (synchronous_commit = off); a WaitCaughtUp on it could return
// before such a commit was applied.
Result<std::string> CurrentLsn(PGconn* conn, std::string_view who);

// Makes everything `conn`'s node committed so far durable: one synchronous commit of a
// transaction that wrote a WAL record (a transactional logical message; its commit record is
// flushed, and every WAL record before it). The flush also wakes the node's WAL senders.
Status FlushWal(PGconn* conn, std::string_view who);
// As FlushWal, then the node's flushed WAL position (pg_current_wal_flush_lsn(): at or past the
// commit, and all of it on disk), in the same round trip.
Result<std::string> FlushWalThenLsn(PGconn* conn, std::string_view who);

// Waits until `slot` on the source has confirmed_flush_lsn >= lsn, i.e. its subscriber has
// applied (and flushed) everything committed up to lsn. Works on an otherwise idle source: the
// WAL sender's keepalives let the subscriber confirm positions without changes to send.
// 57014 on timeout; 42704 if the slot does not exist.
Status WaitCaughtUp(PGconn* source, const std::string& slot, const std::string& lsn,
                    std::chrono::milliseconds timeout);

// Creates logical slot `slot` (pgoutput) if there is none of that name. The slot then keeps
// every change committed from now on (and the WAL for them) until a subscriber consumes it.
Status CreateSlot(PGconn* conn, const std::string& slot);

// Moves `slot` forward to `lsn` (pg_replication_slot_advance): changes committed before lsn are
// skipped by its future subscriber. A slot already at or past lsn stays where it is. 42704 if
// there is no such slot; 55006 if a subscriber is streaming from it. The new position is only
// made durable at the server's next checkpoint (a server crash before it may lose it).
Status AdvanceSlot(PGconn* conn, const std::string& slot, const std::string& lsn);

// Sets the session's text formats (TimeZone, DateStyle, IntervalStyle, extra_float_digits,
// bytea_output) to fixed values, so that rows read as text on two nodes compare whatever the
// nodes' defaults are. CompareChecksums and RefineChunks set them; RecheckChunks expects them.
Status PinTextFormats(PGconn* conn, std::string_view who);

// A chunk of one table of the flow: rows whose key is in (lower, upper] (empty = unbounded).
struct ChunkRange {
  size_t table = 0;  // index into the tables compared
  std::vector<std::optional<std::string>> lower, upper;
};

// The result of CompareChecksums. A chunk is *settled* when the source read it the same twice
// around the target's read (made after the target caught up): then equal means equal and
// different means different. Chunks the writes kept changing are `unsettled` (neither counted
// as equal nor as mismatched); compare them again where nothing writes (RecheckChunks under the
// cutover's fence). first_mismatch describes the first mismatched chunk ("" if none).
struct ChecksumResult {
  int64_t chunks = 0, mismatched_chunks = 0, rows_source = 0, rows_target = 0;
  std::string first_mismatch;
  std::vector<ChunkRange> unsettled;
};

// Compares the flow's rows on both nodes chunk by chunk, each chunk its own short statement (no
// long snapshot is held): per table, chunks of about chunk_rows rows in primary-key order (by
// the row's text when the table has no primary key), bounded by keys read on the source; per
// chunk the row count and an order-independent hash (sum of hashtextextended(row::text, 0)).
// Per chunk: the source's sum, then `catch_up` (the target applies what the source committed
// so far), the target's sum, the source's sum again; a chunk whose source sums differ is tried
// again after a short pause, up to `retries` times, then left unsettled. Row text depends on
// session settings, so both sessions get TimeZone UTC, DateStyle ISO, IntervalStyle postgres,
// extra_float_digits 3 (they keep them). REQUIRES: chunk_rows > 0; the tables have the same
// columns on both nodes.
Result<ChecksumResult> CompareChecksums(PGconn* source, PGconn* target,
                                        const std::vector<catalog::Table>& tables,
                                        const std::string& filter, int chunk_rows, int retries,
                                        const std::function<Status()>& catch_up = {});
// CompareChecksums over only `chunks` (unsettled chunks of an earlier comparison), each split
// into sub-chunks of about sub_chunk_rows rows: writes that kept a large chunk changing often
// leave most of its sub-chunks still for a moment. The sub-chunks of one chunk are compared
// together, in up to retries + 1 rounds: the source's sums of every sub-chunk in one statement,
// one `catch_up`, then per sub-chunk the target's sum and (where it differs) the source's again
// right after it (a table without primary key: each side's sums in one statement, as every read
// is a full pass). So it waits for the target at most retries + 1 times per chunk however many
// sub-chunks it has. Returns the sub-chunks compared, mismatched and still unsettled as a
// ChecksumResult. Used before the cutover's fence closes, so that
// RecheckChunks under it has only the sub-chunks that are still being written. REQUIRES:
// sub_chunk_rows > 0; PinTextFormats-like settings as CompareChecksums (it sets them).
Result<ChecksumResult> RefineChunks(PGconn* source, PGconn* target, const std::vector<catalog::Table>& tables,
                                    const std::string& filter, const std::vector<ChunkRange>& chunks,
                                    int sub_chunk_rows, int retries, const std::function<Status()>& catch_up);
// Compares `chunks` once each, with nothing writing them (the caller holds writes off), all
// those of one table in one statement on both nodes at once (index ranges): returns how many
// differ, and the first difference in `first`. A table without primary key is compared whole
// instead: the sums of all the flow's rows (one pass, whatever the chunks), counted as one
// difference when they differ, also if the difference lies outside `chunks`.
Result<int64_t> RecheckChunks(PGconn* source, PGconn* target, const std::vector<catalog::Table>& tables,
                              const std::string& filter, const std::vector<ChunkRange>& chunks,
                              std::string* first);

// Deletes the rows matching `filter`, at most batch_rows at a time, each batch its own
// transaction (short locks, bounded WAL per commit). Returns the number of rows deleted.
Result<int64_t> DeleteRows(PGconn* conn, const std::vector<catalog::Table>& tables,
                           const std::string& filter, int batch_rows, std::string_view who);

// Idempotent drops: absent objects are fine.
// DropSubscription disables the subscription and detaches it from its slot (slot_name = NONE),
// each step committed, then drops it; it never contacts the publisher, whose slot is left for
// DropSlot. Interrupted at any point (an error, a crash of `target`), it leaves a subscription
// that either kept its progress or can no longer stream, never one that applies changes twice.
Status DropSubscription(PGconn* target, const std::string& subscription);
Status DropPublication(PGconn* conn, const std::string& publication);
// Waits a few seconds for a streaming WAL sender to let go of the slot (a subscription just
// dropped), then ends that WAL sender.
Status DropSlot(PGconn* conn, const std::string& slot);

// A shadow read: runs `sql` with text parameters on both nodes; true when both return the same
// multiset of rows (same columns, same values as text, in any order). Sets the same session
// settings as CompareChecksums.
Result<bool> SameResult(PGconn* a, PGconn* b, const std::string& sql,
                        const catalog::pg::Params& params);

}  // namespace mosaic::migration
