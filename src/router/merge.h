// Merger: combines the results of one SELECT run on several nodes into the result one PostgreSQL
// holding all the rows would return.
//
// The router rewrites the statement for the nodes (see router/rewrite) and describes here how to
// put the pieces back together: which node columns are output columns, which are partial
// aggregates to combine (count/sum/min/max/avg as sum+count), the GROUP BY columns, HAVING
// conditions on aggregates, DISTINCT, the sort order (node results arrive sorted by it: merged
// k-way; after aggregation: sorted again), LIMIT/OFFSET.
//
// Values the merge reads (keys, aggregate inputs) may come in binary format: they are decoded
// (router/value BinaryToText) and what the merger computes goes out in the format of the node
// column it came from, which is the one the client asked for (NodeBindRest); binary values of
// types without a codec there are refused with 0A000 naming the type, other columns pass
// through as they came. Comparison and arithmetic follow PostgreSQL for the type OIDs in the
// RowDescription: int2/int4/int8/oid, numeric (exact decimal: sum exact, avg with PostgreSQL's
// division scale), float4/float8 (NaN sorts last, shortest round-trip output), text/varchar/
// bpchar/name (C collation: bytes), bool, date, timestamp, timestamptz, time, uuid, and NULL
// (NULLS LAST for ASC, FIRST for DESC unless given). Other types: equality and DISTINCT work
// bytewise; ordering or min/max on them is refused with 0A000.
//
// Memory: every row is buffered until Finish (results larger than memory are not spilled; the
// caller watches buffered_bytes()). Without aggregation, DISTINCT or a re-sort, a source keeps at
// most OFFSET + LIMIT rows and drops the rest.
// Streaming (Stream): a result that needs no aggregation, DISTINCT, HAVING, WITH TIES or re-sort
// goes out as its rows arrive instead: unsorted rows in arrival order, sorted ones k-way merged
// as soon as every source still running has a row queued (only those are kept), OFFSET and LIMIT
// applied on the way; the caller takes what is due with TakeReady after each Add.
// Order: unsorted results are concatenated in source order (streamed: in arrival order); ORDER BY
// ties keep source order.
// Aggregation: groups compare by typed equality (numeric 1.0 = 1.00, NULL = NULL); a group's plain
// columns show the first value seen. count(DISTINCT x) counts the distinct x the nodes' groups
// (extended by x) returned, by typed equality; types without one (interval, jsonb, ...) are
// refused. A cast or round() of an aggregate applies after combining (router/agg_finish). Sums: int8 (22003 "bigint out of range" on overflow),
// numeric exact (scale = max input scale), float4/float8 in their own precision (22003 on
// overflow), NULL partials ignored. avg = summed sum / summed count, numeric division as
// PostgreSQL's numeric_div (select_div_scale), NULL when the count is 0.
// Values are inspected only through the RowDescription's type OIDs: a query that needs them
// (aggregate, DISTINCT, ORDER BY, HAVING) fails with XX000 if rows came without a RowDescription.
// Not thread-safe; one Merger per scattered statement.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "protocol/message.h"
#include "sql/analysis.h"

namespace mosaic::router {

struct MergeSpec {
  enum class Agg : uint8_t {
    kNone,   // a plain value: a group key when aggregating, else passed through
    kCount,  // partial counts (int8): summed
    kSum,    // partial sums: summed in the column's type (int8 / numeric / float8 / float4 / money is refused)
    kMin,
    kMax,
    kAvg,    // `column` holds the partial sum, `count_column` the partial count; output numeric
             // (for integer/numeric sums) or float8 (for float sums), with the output type fixed up
             // in the RowDescription
    kCountDistinct,  // count(DISTINCT x): `column` holds x (the nodes group by it); its distinct
                     // non-NULL values (typed equality) are counted; output int8
  };
  struct Output {
    int column = 0;         // node result column
    Agg agg = Agg::kNone;
    int count_column = -1;  // kAvg only
    sql::AggFinish finish;  // a cast or round() applied to the combined aggregate (router/agg_finish)
  };
  struct Having {           // `agg(...) op value` evaluated per merged group; all must hold
    int column = 0;         // node column with the partial aggregate
    Agg agg = Agg::kCount;
    int count_column = -1;  // kAvg
    sql::PredOp op = sql::PredOp::kEq;  // kEq kNe kLt kLe kGt kGe
    std::optional<std::string> value;   // text of the constant; nullopt = NULL (never true)
  };
  struct Sort {
    int output = 0;  // index into `outputs` (after aggregation) — the merger sorts output rows
    bool descending = false;
    bool nulls_first = false;  // already resolved from the default
  };

  std::vector<Output> outputs;  // the columns the client sees, in order; the rest are hidden.
                                // Empty without aggregation: every node column, in order.
  bool aggregate = false;       // combine rows into groups (one group when group_by is empty)
  std::vector<int> group_by;    // indexes into outputs (group keys are always output columns)
  std::vector<Having> having;
  bool distinct = false;        // on all outputs
  std::vector<Sort> order_by;
  bool presorted = true;        // without aggregation/distinct, node results are sorted by order_by
  std::optional<int64_t> limit;  // nullopt = no limit
  int64_t offset = 0;
  bool with_ties = false;  // FETCH FIRST ... WITH TIES: rows equal on order_by to the last one
                           // within the limit are kept too
  // Only the first `visible_outputs` outputs reach the client (-1 = all); the rest are hidden
  // sort keys (ORDER BY expressions that are not output columns).
  int visible_outputs = -1;
  // What the client's settings make the nodes print. The merger reads dates and times in ISO
  // only (DateStyle ISO, ...), and float partial sums are exact only when the nodes print them
  // exactly (extra_float_digits >= 1): otherwise what needs them is refused (0A000).
  bool iso_dates = true;
  bool exact_floats = true;
  int float_digits = 1;  // extra_float_digits, for casts to float4/float8
  // The statement's tables sort text byte by byte (catalog::Column::bytewise), as the merger
  // does: otherwise ORDER BY and min/max over text are refused.
  bool bytewise_text = true;
  // The columns the nodes return (targets and hidden columns); -1 when the statement does not
  // say (SELECT * over tables Mosaic does not know).
  int node_columns = -1;
};

// The remainder of a Bind (after the portal and statement names: formats, parameters, result
// formats) to send the nodes of a merged SELECT, for the client's remainder `rest`. A client that
// names one result format per column names those the client sees, but the nodes return hidden
// columns too (avg's count, HAVING's aggregates, sort keys): each node column then gets the
// format the client asked for the output it makes, hidden ones text. Otherwise (no codes, one for
// all, or a malformed Bind, which the nodes then refuse) `rest` is returned as it is.
std::string NodeBindRest(const MergeSpec& spec, std::string_view rest);

class Merger {
 public:
  Merger(MergeSpec spec, int sources);

  // Feeds one backend message of node `source`: RowDescription, DataRow or CommandComplete
  // (others are ignored). A RowDescription seen first from any source fixes the columns; a later
  // one with a different column count is an internal error (XX000).
  Status Add(int source, char type, std::string_view body);

  // True once every source sent its CommandComplete.
  bool complete() const;

  // The RowDescription the client sees (hidden columns dropped, avg outputs typed numeric/float8),
  // as a whole message; "" before any RowDescription arrived. For Describe of a scattered portal.
  std::string ClientRowDescription() const;

  // Writes the merged DataRows and a CommandComplete ("SELECT n") to `out`, preceded by the
  // client RowDescription when `with_description`. Fails (0A000 / 22003 numeric overflow / ...)
  // without writing anything. Call once, after complete().
  Status Finish(std::string* out, bool with_description);

  // Rows buffered so far and the bytes holding them (memory accounting). Streaming: the rows
  // queued for the k-way merge.
  size_t buffered_rows() const;
  size_t buffered_bytes() const;

  // Whether the result can be streamed: no aggregation, DISTINCT, HAVING, WITH TIES or re-sort.
  bool Streamable() const;
  // Asks for streaming (REQUIRES: Streamable(), before any Add). It starts at the first
  // RowDescription, when the sort keys' types allow it (else the result is buffered as without
  // Stream): Add then makes the client RowDescription (when `with_description`) and the DataRows
  // due ready for TakeReady, and Finish writes the rest and "SELECT n" with every row sent.
  void Stream(bool with_description);
  // Rows (and RowDescription) went out as they arrived (decided at the first RowDescription).
  bool streaming() const;
  // Streaming: the client RowDescription was made ready (an error then goes without another).
  bool description_sent() const;
  // Moves what is ready for the client to the end of *out.
  void TakeReady(std::string* out);
  // Streaming: bytes of `source`'s rows queued for the k-way merge, waiting for another
  // source's (the caller may stop reading that source meanwhile).
  size_t queued_bytes(int source) const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// INSERT ... VALUES ... RETURNING whose rows went to several nodes (Route::insert_rows): each
// node returns its rows in the order it was sent them, so the client's VALUES order (which ORMs
// rely on to match returned ids to objects) is restored by taking, for each VALUES row, the next
// row of the node it went to.
class ReturningOrder {
 public:
  // `parts`: the VALUES row indexes sent to each part (source), as Route::insert_rows.
  explicit ReturningOrder(const std::vector<std::vector<int>>& parts);

  // Keeps one DataRow (whole message) of `source`.
  void Add(int source, std::string_view data_row);
  // Whether `source` returned one row per VALUES row it was sent (a row skipped by ON CONFLICT
  // or a trigger returns none: the rows can no longer be matched to VALUES rows).
  bool Complete(int source) const;
  // Appends every row, in VALUES order, to *out. Requires Complete for every source.
  void Finish(std::string* out) const;

 private:
  std::vector<int> row_sources_;            // the source of each VALUES row, in VALUES order
  std::vector<size_t> expected_;            // VALUES rows per source
  std::vector<std::vector<std::string>> rows_;  // per source, in arrival order
};

// COPY ... TO STDOUT (FORMAT binary) over several nodes: each node's stream is a header
// (signature, flags, extension area), tuples, and a trailer (int16 -1); concatenated, the result
// is not a valid stream (a reader stops at the first trailer). The client gets the first header
// to arrive, every node's tuples and one trailer. CopyData boundaries need not fall on those of
// the header, tuples or trailer: each node's bytes are passed on a whole tuple at a time (the
// rest waits for its next CopyData), so the nodes' tuples may interleave.
class BinaryCopyJoin {
 public:
  explicit BinaryCopyJoin(int sources);

  // The payload of one CopyData of `source`: appends what the client gets of it (maybe nothing)
  // to *out. XX000 for a stream that is not binary COPY (signature, tuple structure).
  Status Add(int source, std::string_view data, std::string* out);
  // Whether a header went out: the stream then needs Trailer() before CopyDone.
  bool started() const { return header_sent_; }
  static std::string_view Trailer() { return std::string_view("\xff\xff", 2); }

 private:
  struct Source {
    std::string header;       // bytes of the header so far
    size_t header_size = 0;   // its full size, once its fixed part arrived (0 = not known yet)
    bool header_done = false;
    std::string partial;      // bytes of a tuple not complete yet
    bool ended = false;       // its trailer came
  };
  // Takes the header's bytes from the start of *data; true once it is complete.
  Status TakeHeader(Source& s, std::string_view* data, std::string* out);
  std::vector<Source> sources_;
  bool header_sent_ = false;
};

}  // namespace mosaic::router
