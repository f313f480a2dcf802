#include "router/merge.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <memory>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "protocol/codec.h"
#include "protocol/reader.h"
#include "router/agg_finish.h"
#include "router/decimal.h"
#include "router/value.h"

namespace mosaic::router {
namespace {

using Agg = MergeSpec::Agg;
using protocol::MessageReader;
using protocol::MessageWriter;

struct Field {
  std::string name;
  int32_t table_oid = 0;
  int16_t attnum = 0;
  uint32_t type_oid = 0;
  int16_t typlen = 0;
  int32_t typmod = 0;
  int16_t format = 0;
};

struct Cell {
  uint32_t off;  // from the start of the row's body
  int32_t len;   // -1: NULL
};

// Rows kept as their DataRow bodies back to back, with each value's position.
struct Table {
  int ncols = 0;
  std::string arena;
  std::vector<size_t> row_start;
  std::vector<Cell> cells;  // ncols per row

  size_t rows() const { return row_start.size(); }
  std::string_view Body(size_t r) const {
    size_t end = r + 1 < rows() ? row_start[r + 1] : arena.size();
    return std::string_view(arena).substr(row_start[r], end - row_start[r]);
  }
  std::optional<std::string_view> Value(size_t r, int c) const {
    const Cell& cell = cells[r * static_cast<size_t>(ncols) + static_cast<size_t>(c)];
    if (cell.len < 0) return std::nullopt;
    return std::string_view(arena).substr(row_start[r] + cell.off, static_cast<size_t>(cell.len));
  }
  size_t bytes() const { return arena.size() + cells.size() * sizeof(Cell) + row_start.size() * sizeof(size_t); }
  void Clear() {
    arena.clear();
    row_start.clear();
    cells.clear();
  }

  // Appends one DataRow body. REQUIRES: ncols set.
  Status Append(std::string_view body) {
    MessageReader reader(body);
    int16_t n = 0;
    if (!reader.ReadInt16(&n) || n != ncols) {
      return Status::Internal("DataRow with " + std::to_string(n) + " columns, expected " + std::to_string(ncols));
    }
    size_t first = cells.size();
    for (int c = 0; c < ncols; ++c) {
      int32_t len = 0;
      std::string_view bytes;
      uint32_t off = static_cast<uint32_t>(body.size() - reader.remaining() + 4);
      if (!reader.ReadInt32(&len) || (len >= 0 && !reader.ReadBytes(static_cast<size_t>(len), &bytes))) {
        cells.resize(first);
        return Status::Internal("malformed DataRow from a node");
      }
      cells.push_back(Cell{off, len < 0 ? -1 : len});
    }
    row_start.push_back(arena.size());
    arena.append(body);
    return Status::OK();
  }
  void AppendValues(const std::vector<std::optional<std::string>>& values) {
    std::string body;
    MessageWriter w(&body);
    w.Int16(static_cast<int16_t>(values.size()));
    for (const auto& v : values) {
      if (v) {
        w.Int32(static_cast<int32_t>(v->size())).Bytes(*v);
      } else {
        w.Int32(-1);
      }
    }
    Status s = Append(body);
    (void)s;  // built here with ncols values: cannot fail
  }
};

struct RowRef {
  uint32_t table;
  uint32_t row;
};

Status Unsupported(std::string what, uint32_t oid) {
  return Status::Unsupported("cannot merge " + what + " of type oid " + std::to_string(oid) + " across nodes");
}

Status BigintOutOfRange() { return Status::Error("22003", "bigint out of range"); }

// How partial sums of one column are added up.
enum class SumKind : uint8_t { kInt, kNumeric, kFloat4, kFloat8 };

// One aggregate to combine per group: an output's or a HAVING condition's.
struct AggSpec {
  Agg agg = Agg::kCount;
  int column = 0;
  int count_column = -1;
  uint32_t input_oid = 0;   // type of the partial values
  uint32_t result_oid = 0;  // type of the combined value
  SumKind sum = SumKind::kInt;
  const sql::AggFinish* finish = nullptr;  // applied to the combined value (outputs only)
};

struct AggState {
  bool has = false;
  int64_t count = 0;  // kCount total; kAvg count
  int64_t i = 0;
  Decimal dec;
  double d = 0;
  float f = 0;
  std::optional<std::string> best;  // kMin/kMax
  std::string best_key;
  std::unordered_set<std::string> distinct;  // kCountDistinct: equality keys seen
};

Status AddInt(int64_t* acc, std::string_view text) {
  auto v = value::ParseInt64(text, "bigint");
  if (!v.ok()) return v.status();
  if (__builtin_add_overflow(*acc, *v, acc)) return BigintOutOfRange();
  return Status::OK();
}

template <typename F>
Status AddFloat(F* acc, std::string_view text) {
  auto v = value::ParseFloat8(text);
  if (!v.ok()) return v.status();
  F x = static_cast<F>(*v);
  F sum = *acc + x;
  if (std::isinf(sum) && !std::isinf(*acc) && !std::isinf(x)) {
    return Status::Error("22003", "value out of range: overflow");
  }
  *acc = sum;
  return Status::OK();
}

Status AddSum(const AggSpec& spec, AggState* st, std::string_view text) {
  st->has = true;
  switch (spec.sum) {
    case SumKind::kInt: return AddInt(&st->i, text);
    case SumKind::kFloat4: return AddFloat(&st->f, text);
    case SumKind::kFloat8: return AddFloat(&st->d, text);
    case SumKind::kNumeric: {
      auto v = Decimal::Parse(text);
      if (!v.ok()) return v.status();
      st->dec = Decimal::Add(st->dec, *v);
      return Status::OK();
    }
  }
  return Status::OK();
}

Result<std::optional<std::string>> Combined(const AggSpec& spec, const AggState& st) {
  using Out = std::optional<std::string>;
  switch (spec.agg) {
    case Agg::kCount:
      return Out(std::to_string(st.count));
    case Agg::kCountDistinct:
      return Out(std::to_string(st.distinct.size()));
    case Agg::kMin:
    case Agg::kMax:
      return st.best;
    case Agg::kSum:
      if (!st.has) return Out();
      switch (spec.sum) {
        case SumKind::kInt: return Out(std::to_string(st.i));
        case SumKind::kNumeric: return Out(st.dec.ToString());
        case SumKind::kFloat4: return Out(value::FormatFloat4(st.f));
        case SumKind::kFloat8: return Out(value::FormatFloat8(st.d));
      }
      return Out();
    case Agg::kAvg: {
      if (!st.has || st.count == 0) return Out();
      if (spec.sum == SumKind::kFloat8) return Out(value::FormatFloat8(st.d / static_cast<double>(st.count)));
      auto q = Decimal::Divide(st.dec, Decimal::FromInt(st.count));
      if (!q.ok()) return q.status();
      return Out(q->ToString());
    }
    case Agg::kNone:
      break;
  }
  return Out();
}

// The combined value, its cast or round() applied.
Result<std::optional<std::string>> Finalize(const AggSpec& spec, const AggState& st, int float_digits) {
  auto v = Combined(spec, st);
  if (!v.ok() || !*v || spec.finish == nullptr || spec.finish->kind == sql::AggFinish::Kind::kNone) return v;
  auto done = ApplyFinish(*spec.finish, spec.result_oid, **v, float_digits);
  if (!done.ok()) return done.status();
  return std::optional<std::string>(std::move(done).value());
}

// Whether `value op constant` holds, comparing as the aggregate's result type.
Result<bool> HavingHolds(uint32_t oid, std::string_view value, sql::PredOp op, std::string_view constant) {
  // Integers compare numerically with any numeric constant (count(*) > 1.5).
  if (value::IsIntegerOid(oid)) oid = value::kNumericOid;
  auto a = value::SortKey(oid, value);
  if (!a.ok()) return a.status();
  auto b = value::SortKey(oid, constant);
  if (!b.ok()) return b.status();
  int c = a->compare(*b);
  switch (op) {
    case sql::PredOp::kEq: return c == 0;
    case sql::PredOp::kNe: return c != 0;
    case sql::PredOp::kLt: return c < 0;
    case sql::PredOp::kLe: return c <= 0;
    case sql::PredOp::kGt: return c > 0;
    case sql::PredOp::kGe: return c >= 0;
    default: return Status::Unsupported("unsupported HAVING operator in a merged query");
  }
}

void AppendEqualityKey(std::string* key, uint32_t oid, std::optional<std::string_view> v) {
  if (!v) {
    key->push_back('\0');
    return;
  }
  std::string k = value::EqualityKey(oid, *v);
  key->push_back('\1');
  uint32_t n = static_cast<uint32_t>(k.size());
  key->append(reinterpret_cast<const char*>(&n), sizeof n);
  key->append(k);
}

// The type the client sees of an aggregate output whose combined value has type `combined`.
FinishedType OutputType(const MergeSpec::Output& o, uint32_t combined) {
  if (o.finish.kind != sql::AggFinish::Kind::kNone) {
    if (auto t = FinishType(o.finish); t.ok()) return *t;
  }
  const int16_t len = combined == value::kInt8Oid || combined == value::kFloat8Oid ? 8 : -1;
  return FinishedType{combined, len, -1};
}

// Whether the row with sort keys `a` (one per ORDER BY item, nullopt for NULL) goes before the
// one with `b`.
bool KeyLess(const std::vector<MergeSpec::Sort>& order_by, const std::optional<std::string>* a,
             const std::optional<std::string>* b) {
  for (size_t k = 0; k < order_by.size(); ++k) {
    const auto& ka = a[k];
    const auto& kb = b[k];
    if (!ka || !kb) {
      if (!ka && !kb) continue;
      return order_by[k].nulls_first ? !ka : !kb;
    }
    int c = ka->compare(*kb);
    if (c != 0) return order_by[k].descending ? c > 0 : c < 0;
  }
  return false;
}

// How rows of a table go out as the client's DataRows.
struct Projection {
  std::vector<int> colmap;     // the table column of each visible output
  std::vector<bool> encode;    // per visible output: text to encode in binary (types[o])
  std::vector<uint32_t> types;
  bool identity = false;       // the rows are exactly the visible outputs: sent as they are
};

// Appends row r of `t` as a DataRow for the client. Fails only when encoding a value fails.
Status WriteClientRow(const Table& t, size_t r, const Projection& p, std::string* out) {
  MessageWriter w(out);
  w.Begin(protocol::be::kDataRow);
  if (p.identity) {
    w.Bytes(t.Body(r));
    w.End();
    return Status::OK();
  }
  w.Int16(static_cast<int16_t>(p.colmap.size()));
  for (size_t o = 0; o < p.colmap.size(); ++o) {
    auto v = t.Value(r, p.colmap[o]);
    if (!v) {
      w.Int32(-1);
      continue;
    }
    if (o >= p.encode.size() || !p.encode[o]) {
      w.Int32(static_cast<int32_t>(v->size())).Bytes(*v);
      continue;
    }
    auto bytes = value::TextToBinary(p.types[o], *v);
    if (!bytes.ok()) return bytes.status();
    w.Int32(static_cast<int32_t>(bytes->size())).Bytes(*bytes);
  }
  w.End();
  return Status::OK();
}

}  // namespace

struct Merger::Impl {
  MergeSpec spec;
  std::vector<Table> sources;
  std::vector<bool> done;
  std::vector<Field> fields;
  bool have_description = false;
  int ncols = -1;
  size_t cap = std::numeric_limits<size_t>::max();  // rows kept per source

  Status AddDescription(std::string_view body);
  void SetColumns(int n);
  // The outputs the client sees: a prefix of spec.outputs.
  size_t visible() const {
    size_t n = spec.outputs.size();
    return spec.visible_outputs < 0 ? n : std::min(n, static_cast<size_t>(spec.visible_outputs));
  }
  Status Validate() const;
  // 0A000 when values of type `oid` must be compared (what: "ORDER BY", ...) but the nodes
  // print them in a DateStyle other than ISO (spec.iso_dates).
  Status ReadableDates(uint32_t oid, std::string_view what) const;
  // 0A000 when text of type `oid` must be ordered but the nodes sort it by a collation that
  // does not compare bytes (spec.bytewise_text).
  Status OrderableText(uint32_t oid, std::string_view what) const;
  Status Aggregate(Table* out, std::vector<uint32_t>* types) const;
  // Rewrites the binary-format values of the node columns the merge reads (keys, aggregate
  // inputs) into text, in every source, keeping the sources as they came in `raw`. 0A000
  // naming a type it cannot read.
  Status DecodeBinary();
  std::vector<Table> raw;  // the sources before DecodeBinary rewrote them (empty: it did not)
  Result<std::vector<AggSpec>> AggSpecs() const;
  void WriteDescription(std::string* out) const;

  // Streaming (Stream).
  struct Queued {
    std::string body;                              // the DataRow body as it came
    std::vector<std::optional<std::string>> keys;  // its sort keys, one per ORDER BY item
    size_t bytes() const {
      size_t n = body.size() + sizeof(Queued);
      for (const auto& k : keys) n += k ? k->size() : 0;
      return n;
    }
  };
  bool stream_asked = false;
  bool stream_description = false;
  bool live = false;             // rows are streamed (decided at the first RowDescription)
  bool description_out = false;  // the client RowDescription went to `ready`
  std::string ready;             // client messages due, for TakeReady
  int64_t skipped = 0;           // rows dropped for OFFSET
  int64_t sent = 0;              // rows that went to `ready`
  std::vector<std::deque<Queued>> queues;  // per source: rows waiting for the k-way merge
  std::vector<size_t> queue_bytes;
  Projection projection;
  Table scratch;  // the row being read

  // At the first RowDescription: whether the rows can stream (columns and sort key types that
  // the merge reads row by row as it would all at once), and the client RowDescription.
  void StartStream();
  bool LimitReached() const { return spec.limit && sent >= std::max<int64_t>(*spec.limit, 0); }
  Status StreamRow(int source, std::string_view body);
  // Sends the k-way merge's rows that are due: while every running source has one queued.
  Status Pump();
  // One row to the client, after OFFSET and up to LIMIT.
  Status Send(std::string_view body);
};

void Merger::Impl::StartStream() {
  if (!Validate().ok()) return;  // Finish reports it
  for (const auto& s : spec.order_by) {
    const Field& f = fields[static_cast<size_t>(spec.outputs[static_cast<size_t>(s.output)].column)];
    if (!value::HasSortKey(f.type_oid) || !ReadableDates(f.type_oid, "ORDER BY").ok() ||
        !OrderableText(f.type_oid, "ORDER BY").ok() || (f.format != 0 && !value::HasBinaryCodec(f.type_oid))) {
      return;  // buffered: Finish refuses it if a value needs comparing
    }
  }
  live = true;
  queues.resize(sources.size());
  queue_bytes.assign(sources.size(), 0);
  scratch.ncols = ncols;
  projection.identity = static_cast<int>(visible()) == ncols;
  for (size_t o = 0; o < visible(); ++o) {
    projection.colmap.push_back(spec.outputs[o].column);
    projection.identity = projection.identity && spec.outputs[o].column == static_cast<int>(o);
  }
  if (stream_description) {
    WriteDescription(&ready);
    description_out = true;
  }
}

Status Merger::Impl::Send(std::string_view body) {
  if (LimitReached()) return Status::OK();
  if (skipped < spec.offset) {
    ++skipped;
    return Status::OK();
  }
  scratch.Clear();
  if (Status s = scratch.Append(body); !s.ok()) return s;
  if (Status s = WriteClientRow(scratch, 0, projection, &ready); !s.ok()) return s;
  ++sent;
  return Status::OK();
}

Status Merger::Impl::StreamRow(int source, std::string_view body) {
  if (LimitReached()) return Status::OK();
  if (spec.order_by.empty()) return Send(body);
  scratch.Clear();
  if (Status s = scratch.Append(body); !s.ok()) return s;
  Queued q{std::string(body), {}};
  for (const auto& sort : spec.order_by) {
    const Field& f = fields[static_cast<size_t>(spec.outputs[static_cast<size_t>(sort.output)].column)];
    auto v = scratch.Value(0, spec.outputs[static_cast<size_t>(sort.output)].column);
    if (!v) {
      q.keys.emplace_back();
      continue;
    }
    std::string text;
    if (f.format != 0) {
      auto decoded = value::BinaryToText(f.type_oid, *v);
      if (!decoded.ok()) return decoded.status();
      text = std::move(decoded).value();
      v = text;
    }
    auto key = value::SortKey(f.type_oid, *v);
    if (!key.ok()) {
      if (key.status().sqlstate() == sqlstate::kFeatureNotSupported) return Unsupported("ORDER BY", f.type_oid);
      return key.status();
    }
    q.keys.emplace_back(std::move(key).value());
  }
  const size_t s = static_cast<size_t>(source);
  queue_bytes[s] += q.bytes();
  queues[s].push_back(std::move(q));
  return Pump();
}

Status Merger::Impl::Pump() {
  while (!LimitReached()) {
    size_t best = queues.size();
    for (size_t s = 0; s < queues.size(); ++s) {
      if (queues[s].empty()) {
        if (!done[s]) return Status::OK();  // its next row may come first
        continue;
      }
      // Ties go to the lower source, as in the buffered merge.
      if (best == queues.size() || KeyLess(spec.order_by, queues[s].front().keys.data(), queues[best].front().keys.data())) {
        best = s;
      }
    }
    if (best == queues.size()) return Status::OK();
    Queued q = std::move(queues[best].front());
    queues[best].pop_front();
    queue_bytes[best] -= q.bytes();
    if (Status s = Send(q.body); !s.ok()) return s;
  }
  for (size_t s = 0; s < queues.size(); ++s) {  // past LIMIT: nothing more goes out
    queues[s].clear();
    queue_bytes[s] = 0;
  }
  return Status::OK();
}

Status Merger::Impl::AddDescription(std::string_view body) {
  MessageReader r(body);
  int16_t n = 0;
  if (!r.ReadInt16(&n) || n < 0) return Status::Internal("malformed RowDescription from a node");
  if (ncols >= 0 && n != ncols) {
    return Status::Internal("nodes returned different column counts (" + std::to_string(n) + " and " +
                            std::to_string(ncols) + ")");
  }
  if (have_description) return Status::OK();
  std::vector<Field> parsed(static_cast<size_t>(n));
  for (Field& f : parsed) {
    std::string_view name;
    int32_t type = 0;
    if (!r.ReadCString(&name) || !r.ReadInt32(&f.table_oid) || !r.ReadInt16(&f.attnum) || !r.ReadInt32(&type) ||
        !r.ReadInt16(&f.typlen) || !r.ReadInt32(&f.typmod) || !r.ReadInt16(&f.format)) {
      return Status::Internal("malformed RowDescription from a node");
    }
    f.name = std::string(name);
    f.type_oid = static_cast<uint32_t>(type);
  }
  fields = std::move(parsed);
  have_description = true;
  SetColumns(n);
  if (stream_asked) StartStream();
  return Status::OK();
}

void Merger::Impl::SetColumns(int n) {
  ncols = n;
  for (Table& t : sources) t.ncols = n;
  // No outputs listed for a plain query: every node column is an output.
  if (spec.outputs.empty() && !spec.aggregate) {
    for (int c = 0; c < n; ++c) spec.outputs.push_back({c, Agg::kNone, -1});
  }
}

Status Merger::Impl::Validate() const {
  auto column_ok = [&](int c) { return c >= 0 && c < ncols; };
  auto bad = [] { return Status::Internal("merge spec refers to a column the nodes did not return"); };
  const int nout = static_cast<int>(spec.outputs.size());
  for (const auto& o : spec.outputs) {
    if (!column_ok(o.column) || (o.agg == Agg::kAvg && !column_ok(o.count_column))) return bad();
  }
  for (const auto& h : spec.having) {
    if (!column_ok(h.column) || (h.agg == Agg::kAvg && !column_ok(h.count_column))) return bad();
  }
  for (int g : spec.group_by) {
    if (g < 0 || g >= nout) return bad();
  }
  for (const auto& s : spec.order_by) {
    if (s.output < 0 || s.output >= nout) return bad();
  }
  return Status::OK();
}

Status Merger::Impl::ReadableDates(uint32_t oid, std::string_view what) const {
  if (spec.iso_dates || !value::IsDateTimeOid(oid)) return Status::OK();
  return Status::Unsupported("cannot compare dates and times for " + std::string(what) +
                             " across nodes when DateStyle is not ISO (Mosaic reads the nodes' values in ISO); "
                             "SET DateStyle = ISO");
}

Status Merger::Impl::OrderableText(uint32_t oid, std::string_view what) const {
  if (spec.bytewise_text || (oid != value::kTextOid && oid != value::kVarcharOid && oid != value::kBpcharOid)) {
    return Status::OK();
  }
  return Status::Unsupported("cannot order text for " + std::string(what) +
                             " across nodes: its collation (or the database's default) does not compare bytes, "
                             "and Mosaic merges text byte by byte; add COLLATE \"C\" if byte order will do");
}

Result<std::vector<AggSpec>> Merger::Impl::AggSpecs() const {
  std::vector<AggSpec> specs;
  auto add = [&](Agg agg, int column, int count_column, const sql::AggFinish* finish) -> Status {
    AggSpec a;
    a.finish = finish;
    a.agg = agg;
    a.column = column;
    a.count_column = count_column;
    a.input_oid = have_description ? fields[static_cast<size_t>(column)].type_oid : value::kInt8Oid;
    a.result_oid = a.input_oid;
    const uint32_t t = a.input_oid;
    switch (agg) {
      case Agg::kCount:
        a.result_oid = value::kInt8Oid;
        break;
      case Agg::kCountDistinct:
        // Equal values of these may print differently ('1 mon' and '30 days'): text would not do.
        if (!value::HasEqualityKey(t)) return Unsupported("count(DISTINCT)", t);
        a.result_oid = value::kInt8Oid;
        break;
      case Agg::kSum:
      case Agg::kAvg:
        if (value::IsFloatOid(t) && !spec.exact_floats) {
          return Status::Unsupported("cannot add up float sums across nodes with extra_float_digits below 1 (the nodes "
                                     "print them rounded); SET extra_float_digits = 1");
        }
        if (t == value::kFloat4Oid && agg == Agg::kAvg) {
          // PostgreSQL averages real values in double precision; the nodes' sums are real.
          return Status::Unsupported("cannot combine avg() of real across nodes exactly; write avg(x::float8)");
        }
        if (value::IsIntegerOid(t)) {
          a.sum = agg == Agg::kAvg ? SumKind::kNumeric : SumKind::kInt;
        } else if (t == value::kNumericOid) {
          a.sum = SumKind::kNumeric;
        } else if (value::IsFloatOid(t)) {
          a.sum = t == value::kFloat4Oid && agg == Agg::kSum ? SumKind::kFloat4 : SumKind::kFloat8;
        } else {
          return Unsupported(agg == Agg::kSum ? "sum()" : "avg()", t);
        }
        if (agg == Agg::kAvg) a.result_oid = a.sum == SumKind::kFloat8 ? value::kFloat8Oid : value::kNumericOid;
        break;
      case Agg::kMin:
      case Agg::kMax:
        if (!value::HasSortKey(t)) return Unsupported("min()/max()", t);
        if (Status s = ReadableDates(t, "min()/max()"); !s.ok()) return s;
        if (Status s = OrderableText(t, "min()/max()"); !s.ok()) return s;
        break;
      case Agg::kNone:
        break;
    }
    if (finish && finish->kind != sql::AggFinish::Kind::kNone && have_description) {
      if (Status s = CheckFinish(*finish, a.result_oid); !s.ok()) return s;
    }
    specs.push_back(a);
    return Status::OK();
  };
  for (const auto& o : spec.outputs) {
    if (o.agg == Agg::kNone) continue;
    if (Status s = add(o.agg, o.column, o.count_column, &o.finish); !s.ok()) return s;
  }
  for (const auto& h : spec.having) {
    if (h.agg == Agg::kNone) return Status::Internal("HAVING condition without an aggregate");
    if (Status s = add(h.agg, h.column, h.count_column, nullptr); !s.ok()) return s;
  }
  return specs;
}

// Combines the node rows into one row per group (in order of first appearance), HAVING applied.
Status Merger::Impl::Aggregate(Table* out, std::vector<uint32_t>* types) const {
  auto specs_or = AggSpecs();
  if (!specs_or.ok()) return specs_or.status();
  const std::vector<AggSpec>& specs = *specs_or;
  auto oid_of = [&](int column) { return have_description ? fields[static_cast<size_t>(column)].type_oid : 0u; };
  for (int g : spec.group_by) {
    const uint32_t oid = oid_of(spec.outputs[static_cast<size_t>(g)].column);
    if (have_description && !value::HasEqualityKey(oid)) return Unsupported("GROUP BY", oid);
  }

  struct Group {
    std::vector<std::optional<std::string>> plain;  // kNone outputs: the first value seen
    std::vector<AggState> acc;
  };
  std::vector<Group> groups;
  std::unordered_map<std::string, size_t> index;
  std::string key;
  for (const Table& t : sources) {
    for (size_t r = 0; r < t.rows(); ++r) {
      key.clear();
      for (int g : spec.group_by) {
        int column = spec.outputs[static_cast<size_t>(g)].column;
        AppendEqualityKey(&key, oid_of(column), t.Value(r, column));
      }
      auto [it, inserted] = index.try_emplace(key, groups.size());
      if (inserted) {
        Group g;
        for (const auto& o : spec.outputs) {
          auto v = t.Value(r, o.column);
          g.plain.push_back(o.agg == Agg::kNone && v ? std::optional<std::string>(*v) : std::nullopt);
        }
        g.acc.resize(specs.size());
        groups.push_back(std::move(g));
      }
      Group& group = groups[it->second];
      for (size_t a = 0; a < specs.size(); ++a) {
        const AggSpec& s = specs[a];
        AggState& st = group.acc[a];
        auto v = t.Value(r, s.column);
        Status status;
        switch (s.agg) {
          case Agg::kCount:
            if (v) status = AddInt(&st.count, *v);
            break;
          case Agg::kCountDistinct:
            if (v) st.distinct.insert(value::EqualityKey(s.input_oid, *v));
            break;
          case Agg::kSum:
            if (v) status = AddSum(s, &st, *v);
            break;
          case Agg::kAvg:
            if (v) status = AddSum(s, &st, *v);
            if (auto c = t.Value(r, s.count_column); c && status.ok()) status = AddInt(&st.count, *c);
            break;
          case Agg::kMin:
          case Agg::kMax: {
            if (!v) break;
            auto k = value::SortKey(s.input_oid, *v);
            if (!k.ok()) return k.status();
            int c = st.best ? k->compare(st.best_key) : 0;
            if (!st.best || (s.agg == Agg::kMin ? c < 0 : c > 0)) {
              st.best = std::string(*v);
              st.best_key = std::move(k).value();
            }
            break;
          }
          case Agg::kNone:
            break;
        }
        if (!status.ok()) return status;
      }
    }
  }
  // Without GROUP BY an aggregate returns one row even over no rows.
  if (groups.empty() && spec.group_by.empty()) {
    groups.push_back(Group{std::vector<std::optional<std::string>>(spec.outputs.size()),
                           std::vector<AggState>(specs.size())});
  }

  out->ncols = static_cast<int>(spec.outputs.size());
  types->clear();
  for (size_t i = 0, a = 0; i < spec.outputs.size(); ++i) {
    const auto& o = spec.outputs[i];
    types->push_back(o.agg == Agg::kNone ? oid_of(o.column) : OutputType(o, specs[a++].result_oid).oid);
  }
  const size_t having_base = specs.size() - spec.having.size();
  std::vector<std::optional<std::string>> values;
  for (const Group& g : groups) {
    bool keep = true;
    for (size_t h = 0; h < spec.having.size() && keep; ++h) {
      const AggSpec& s = specs[having_base + h];
      auto v = Finalize(s, g.acc[having_base + h], spec.float_digits);
      if (!v.ok()) return v.status();
      if (!*v || !spec.having[h].value) {
        keep = false;
        break;
      }
      auto holds = HavingHolds(s.result_oid, **v, spec.having[h].op, *spec.having[h].value);
      if (!holds.ok()) return holds.status();
      keep = *holds;
    }
    if (!keep) continue;
    values.clear();
    for (size_t i = 0, a = 0; i < spec.outputs.size(); ++i) {
      if (spec.outputs[i].agg == Agg::kNone) {
        values.push_back(g.plain[i]);
        continue;
      }
      auto v = Finalize(specs[a], g.acc[a], spec.float_digits);
      if (!v.ok()) return v.status();
      values.push_back(std::move(v).value());
      ++a;
    }
    out->AppendValues(values);
  }
  return Status::OK();
}

Status Merger::Impl::DecodeBinary() {
  std::vector<bool> decoded(fields.size(), false);
  std::vector<bool> read(fields.size(), false);  // node columns whose values the merge reads
  auto reads = [&](int column) {
    if (column >= 0 && static_cast<size_t>(column) < read.size()) read[static_cast<size_t>(column)] = true;
  };
  for (size_t o = 0; o < spec.outputs.size(); ++o) {
    const auto& out = spec.outputs[o];
    if (spec.aggregate || (spec.distinct && o < visible())) {
      reads(out.column);
      reads(out.count_column);
    }
  }
  for (const auto& h : spec.having) {
    reads(h.column);
    reads(h.count_column);
  }
  for (const auto& s : spec.order_by) reads(spec.outputs[static_cast<size_t>(s.output)].column);
  bool any = false;
  for (size_t c = 0; c < fields.size(); ++c) {
    if (!read[c] || fields[c].format == 0) continue;
    if (!value::HasBinaryCodec(fields[c].type_oid)) {
      return Status::Unsupported("cannot merge binary-format values of type " + value::TypeName(fields[c].type_oid) +
                                 " across nodes (column \"" + fields[c].name + "\"); ask for it in text format");
    }
    decoded[c] = any = true;
  }
  if (!any) return Status::OK();
  std::vector<std::optional<std::string>> values;
  std::vector<Table> texts(sources.size());
  for (size_t s = 0; s < sources.size(); ++s) {
    const Table& t = sources[s];
    Table& text = texts[s];
    text.ncols = t.ncols;
    for (size_t r = 0; r < t.rows(); ++r) {
      values.clear();
      for (int c = 0; c < t.ncols; ++c) {
        auto v = t.Value(r, c);
        if (!v || !decoded[static_cast<size_t>(c)]) {
          values.emplace_back(v ? std::optional<std::string>(*v) : std::nullopt);
          continue;
        }
        auto converted = value::BinaryToText(fields[static_cast<size_t>(c)].type_oid, *v);
        if (!converted.ok()) return converted.status();
        values.emplace_back(std::move(converted).value());
      }
      text.AppendValues(values);
    }
  }
  raw = std::move(sources);
  sources = std::move(texts);
  return Status::OK();
}

void Merger::Impl::WriteDescription(std::string* out) const {
  MessageWriter w(out);
  w.Begin(protocol::be::kRowDescription).Int16(static_cast<int16_t>(visible()));
  for (size_t i = 0; i < visible(); ++i) {
    const auto& o = spec.outputs[i];
    Field f = fields[static_cast<size_t>(o.column)];
    if (o.agg != Agg::kNone) {
      uint32_t combined = f.type_oid;
      if (o.agg == Agg::kAvg) combined = value::IsFloatOid(f.type_oid) ? value::kFloat8Oid : value::kNumericOid;
      if (o.agg == Agg::kCountDistinct) combined = value::kInt8Oid;
      if (o.agg == Agg::kAvg || o.agg == Agg::kCountDistinct || o.finish.kind != sql::AggFinish::Kind::kNone) {
        const FinishedType t = OutputType(o, combined);
        f.type_oid = t.oid;
        f.typlen = t.typlen;
        f.typmod = t.typmod;
      }
    }
    w.CString(f.name).Int32(f.table_oid).Int16(f.attnum).Int32(static_cast<int32_t>(f.type_oid));
    w.Int16(f.typlen).Int32(f.typmod).Int16(f.format);
  }
  w.End();
}

Merger::Merger(MergeSpec spec, int sources) : impl_(std::make_shared<Impl>()) {
  impl_->sources.resize(static_cast<size_t>(std::max(sources, 0)));
  impl_->done.resize(impl_->sources.size(), false);
  const MergeSpec& s = spec;
  // Without aggregation, DISTINCT or a re-sort, no source can contribute past OFFSET + LIMIT.
  if (!s.aggregate && !s.distinct && s.limit && !s.with_ties && (s.order_by.empty() || s.presorted)) {
    int64_t keep = std::max<int64_t>(*s.limit, 0);
    int64_t off = std::max<int64_t>(s.offset, 0);
    impl_->cap = keep > std::numeric_limits<int64_t>::max() - off ? std::numeric_limits<size_t>::max()
                                                                  : static_cast<size_t>(keep + off);
  }
  impl_->spec = std::move(spec);
}

Status Merger::Add(int source, char type, std::string_view body) {
  Impl& m = *impl_;
  if (source < 0 || static_cast<size_t>(source) >= m.sources.size()) {
    return Status::Internal("merge input from unknown node " + std::to_string(source));
  }
  Table& t = m.sources[static_cast<size_t>(source)];
  switch (type) {
    case protocol::be::kRowDescription:
      return m.AddDescription(body);
    case protocol::be::kDataRow: {
      if (m.ncols < 0) {
        // No RowDescription (yet): the first row fixes the column count.
        MessageReader r(body);
        int16_t n = 0;
        if (!r.ReadInt16(&n) || n < 0) return Status::Internal("malformed DataRow from a node");
        m.SetColumns(n);
      }
      if (m.live) return m.StreamRow(source, body);
      if (t.rows() >= m.cap) return Status::OK();
      return t.Append(body);
    }
    case protocol::be::kCommandComplete:
      m.done[static_cast<size_t>(source)] = true;
      return m.live && !m.spec.order_by.empty() ? m.Pump() : Status::OK();
    default:
      return Status::OK();
  }
}

bool Merger::complete() const {
  return std::all_of(impl_->done.begin(), impl_->done.end(), [](bool d) { return d; });
}

std::string Merger::ClientRowDescription() const {
  std::string out;
  if (impl_->have_description && impl_->Validate().ok()) impl_->WriteDescription(&out);
  return out;
}

Status Merger::Finish(std::string* out, bool with_description) {
  Impl& m = *impl_;
  const MergeSpec& spec = m.spec;
  if (!complete()) return Status::Internal("merge finished before every node completed");
  if (m.live) {  // every row went to `ready` as it came (Pump ran at each CommandComplete)
    out->append(m.ready);
    m.ready.clear();
    protocol::WriteCommandComplete(out, "SELECT " + std::to_string(m.sent));
    return Status::OK();
  }
  size_t total_rows = buffered_rows();
  if (m.ncols >= 0) {  // else nothing arrived at all: an empty result
    if (Status s = m.Validate(); !s.ok()) return s;
  }
  const bool inspect = spec.aggregate || spec.distinct || !spec.order_by.empty() || !spec.having.empty();
  if (inspect) {
    if (!m.have_description && total_rows > 0) {
      return Status::Internal("cannot merge results without their RowDescription");
    }
    if (Status s = m.DecodeBinary(); !s.ok()) return s;
  }

  // The rows to emit, as references into `tables`, with the node column of each output.
  std::vector<Table> aggregated(1);
  const std::vector<Table>* tables = &m.sources;
  std::vector<int> colmap;
  std::vector<uint32_t> types;
  std::vector<RowRef> rows;
  if (spec.aggregate) {
    if (Status s = m.Aggregate(&aggregated[0], &types); !s.ok()) return s;
    tables = &aggregated;
    for (size_t i = 0; i < spec.outputs.size(); ++i) colmap.push_back(static_cast<int>(i));
  } else {
    for (const auto& o : spec.outputs) {
      colmap.push_back(o.column);
      types.push_back(m.have_description ? m.fields[static_cast<size_t>(o.column)].type_oid : 0);
    }
  }
  std::vector<size_t> segment_end;  // per table: end of its rows in `rows`
  for (size_t t = 0; t < tables->size(); ++t) {
    for (size_t r = 0; r < (*tables)[t].rows(); ++r) rows.push_back(RowRef{static_cast<uint32_t>(t), static_cast<uint32_t>(r)});
    segment_end.push_back(rows.size());
  }
  auto value_of = [&](const RowRef& ref, size_t output) {
    return (*tables)[ref.table].Value(ref.row, colmap[output]);
  };

  if (!spec.order_by.empty() && !rows.empty()) {
    const size_t nk = spec.order_by.size();
    std::vector<std::optional<std::string>> keys(rows.size() * nk);
    for (size_t i = 0; i < rows.size(); ++i) {
      for (size_t k = 0; k < nk; ++k) {
        size_t output = static_cast<size_t>(spec.order_by[k].output);
        auto v = value_of(rows[i], output);
        if (!v) continue;
        if (Status s = m.ReadableDates(types[output], "ORDER BY"); !s.ok()) return s;
        if (Status s = m.OrderableText(types[output], "ORDER BY"); !s.ok()) return s;
        auto key = value::SortKey(types[output], *v);
        if (!key.ok()) {
          if (key.status().sqlstate() == sqlstate::kFeatureNotSupported) {
            return Unsupported("ORDER BY", types[output]);
          }
          return key.status();
        }
        keys[i * nk + k] = std::move(key).value();
      }
    }
    auto less = [&](size_t a, size_t b) { return KeyLess(spec.order_by, &keys[a * nk], &keys[b * nk]); };
    std::vector<size_t> order;
    order.reserve(rows.size());
    if (!spec.aggregate && spec.presorted) {
      // k-way merge of the sorted node results; ties go to the lower node index.
      std::vector<size_t> pos(tables->size()), end = segment_end;
      for (size_t t = 0; t < tables->size(); ++t) pos[t] = t == 0 ? 0 : segment_end[t - 1];
      auto after = [&](size_t a, size_t b) { return less(pos[b], pos[a]) || (!less(pos[a], pos[b]) && a > b); };
      std::priority_queue<size_t, std::vector<size_t>, decltype(after)> heap(after);
      for (size_t t = 0; t < tables->size(); ++t) {
        if (pos[t] < end[t]) heap.push(t);
      }
      while (!heap.empty()) {
        size_t t = heap.top();
        heap.pop();
        order.push_back(pos[t]++);
        if (pos[t] < end[t]) heap.push(t);
      }
    } else {
      for (size_t i = 0; i < rows.size(); ++i) order.push_back(i);
      std::stable_sort(order.begin(), order.end(), less);
    }
    std::vector<RowRef> sorted;
    sorted.reserve(rows.size());
    for (size_t i : order) sorted.push_back(rows[i]);
    rows = std::move(sorted);
  }

  const size_t nvisible = m.visible();
  if (spec.distinct && m.have_description) {
    for (size_t o = 0; o < nvisible; ++o) {
      // Equal values of these may print differently ('1 mon' and '30 days'): text would not do.
      if (!value::HasEqualityKey(types[o])) return Unsupported("DISTINCT", types[o]);
    }
  }
  if (spec.distinct) {
    std::unordered_set<std::string> seen;
    std::vector<RowRef> unique;
    std::string key;
    for (const RowRef& ref : rows) {
      key.clear();
      for (size_t o = 0; o < nvisible; ++o) AppendEqualityKey(&key, types[o], value_of(ref, o));
      if (seen.insert(key).second) unique.push_back(ref);
    }
    rows = std::move(unique);
  }

  size_t begin = std::min(rows.size(), static_cast<size_t>(std::max<int64_t>(spec.offset, 0)));
  size_t end = rows.size();
  if (spec.limit) end = begin + std::min(end - begin, static_cast<size_t>(std::max<int64_t>(*spec.limit, 0)));
  if (spec.with_ties && end > begin) {
    // Sort keys already parsed above: the rows are sorted, so ties follow the last row.
    auto tied = [&](const RowRef& a, const RowRef& b) {
      for (const auto& sort : spec.order_by) {
        const size_t o = static_cast<size_t>(sort.output);
        auto va = value_of(a, o), vb = value_of(b, o);
        if (!va || !vb) {
          if (va || vb) return false;
          continue;
        }
        if (value::EqualityKey(types[o], *va) != value::EqualityKey(types[o], *vb)) return false;
      }
      return true;
    };
    while (end < rows.size() && tied(rows[end - 1], rows[end])) ++end;
  }

  // Rows of node results go out as they came (binary keys too: from before DecodeBinary);
  // aggregated rows are text here, encoded on the way out where the client asked binary.
  if (!spec.aggregate && !m.raw.empty()) tables = &m.raw;
  Projection projection;
  projection.colmap.assign(colmap.begin(), colmap.begin() + static_cast<std::ptrdiff_t>(nvisible));
  projection.types = types;
  projection.encode.assign(nvisible, false);
  bool any_encode = false;
  for (size_t o = 0; o < nvisible && m.have_description && spec.aggregate; ++o) {
    projection.encode[o] = m.fields[static_cast<size_t>(spec.outputs[o].column)].format != 0;
    any_encode = any_encode || projection.encode[o];
  }
  size_t estimate = 64;
  for (size_t i = begin; i < end; ++i) estimate += 5 + (*tables)[rows[i].table].Body(rows[i].row).size();
  std::string body;  // the DataRows: encoding may fail, and then nothing is written to `out`
  body.reserve(estimate);
  // Rows that are exactly the visible outputs go out as they came.
  projection.identity = !any_encode && !tables->empty() && static_cast<int>(nvisible) == (*tables)[0].ncols;
  for (size_t o = 0; o < nvisible && projection.identity; ++o) projection.identity = colmap[o] == static_cast<int>(o);
  for (size_t i = begin; i < end; ++i) {
    if (Status s = WriteClientRow((*tables)[rows[i].table], rows[i].row, projection, &body); !s.ok()) return s;
  }
  if (with_description && m.have_description) m.WriteDescription(out);
  out->append(body);
  protocol::WriteCommandComplete(out, "SELECT " + std::to_string(end - begin));
  return Status::OK();
}

size_t Merger::buffered_rows() const {
  size_t n = 0;
  for (const Table& t : impl_->sources) n += t.rows();
  for (const auto& q : impl_->queues) n += q.size();
  return n;
}

size_t Merger::buffered_bytes() const {
  size_t n = 0;
  for (const Table& t : impl_->sources) n += t.bytes();
  for (size_t b : impl_->queue_bytes) n += b;
  return n;
}

bool Merger::Streamable() const {
  const MergeSpec& s = impl_->spec;
  return !s.aggregate && !s.distinct && s.having.empty() && !s.with_ties && (s.order_by.empty() || s.presorted);
}

void Merger::Stream(bool with_description) {
  impl_->stream_asked = true;
  impl_->stream_description = with_description;
}

bool Merger::streaming() const { return impl_->live; }

bool Merger::description_sent() const { return impl_->description_out; }

void Merger::TakeReady(std::string* out) {
  if (out->empty()) {
    out->swap(impl_->ready);
  } else {
    out->append(impl_->ready);
  }
  impl_->ready.clear();
}

size_t Merger::queued_bytes(int source) const {
  const auto& q = impl_->queue_bytes;
  return source >= 0 && static_cast<size_t>(source) < q.size() ? q[static_cast<size_t>(source)] : 0;
}

std::string NodeBindRest(const MergeSpec& spec, std::string_view rest) {
  MessageReader r(rest);
  uint16_t n = 0;
  int16_t code = 0;
  if (!r.ReadUint16(&n)) return std::string(rest);
  for (uint16_t k = 0; k < n; ++k) {
    if (!r.ReadInt16(&code)) return std::string(rest);
  }
  if (!r.ReadUint16(&n)) return std::string(rest);
  for (uint16_t k = 0; k < n; ++k) {
    int32_t len = 0;
    std::string_view bytes;
    if (!r.ReadInt32(&len) || (len > 0 && !r.ReadBytes(static_cast<size_t>(len), &bytes))) return std::string(rest);
  }
  const size_t tail = rest.size() - r.remaining();
  std::vector<int16_t> client;
  if (!r.ReadUint16(&n)) return std::string(rest);
  for (uint16_t k = 0; k < n; ++k) {
    if (!r.ReadInt16(&code)) return std::string(rest);
    client.push_back(code);
  }
  const size_t visible = spec.visible_outputs < 0 ? spec.outputs.size()
                                                  : std::min(spec.outputs.size(), static_cast<size_t>(spec.visible_outputs));
  if (!r.AtEnd() || client.size() <= 1 || spec.node_columns < 0 || spec.outputs.empty() || client.size() != visible) {
    return std::string(rest);
  }
  std::vector<int16_t> node(static_cast<size_t>(spec.node_columns), 0);
  for (size_t o = 0; o < visible; ++o) {
    const int column = spec.outputs[o].column;
    if (column >= 0 && column < spec.node_columns) node[static_cast<size_t>(column)] = client[o];
  }
  std::string out(rest.substr(0, tail));
  MessageWriter w(&out);
  w.Int16(static_cast<int16_t>(node.size()));
  for (int16_t f : node) w.Int16(f);
  return out;
}

// ---------------------------------------------------------------------------------------------
// ReturningOrder

ReturningOrder::ReturningOrder(const std::vector<std::vector<int>>& parts)
    : expected_(parts.size(), 0), rows_(parts.size()) {
  size_t total = 0;
  for (const auto& part : parts) total += part.size();
  row_sources_.assign(total, 0);
  for (size_t source = 0; source < parts.size(); ++source) {
    for (int row : parts[source]) row_sources_.at(static_cast<size_t>(row)) = static_cast<int>(source);
    expected_[source] = parts[source].size();
  }
}

void ReturningOrder::Add(int source, std::string_view data_row) {
  rows_.at(static_cast<size_t>(source)).emplace_back(data_row);
}

bool ReturningOrder::Complete(int source) const {
  return rows_.at(static_cast<size_t>(source)).size() == expected_.at(static_cast<size_t>(source));
}

void ReturningOrder::Finish(std::string* out) const {
  std::vector<size_t> next(rows_.size(), 0);
  for (int source : row_sources_) {
    const auto s = static_cast<size_t>(source);
    if (next[s] < rows_[s].size()) out->append(rows_[s][next[s]++]);
  }
}

// ---------------------------------------------------------------------------------------------
// BinaryCopyJoin

namespace {
constexpr std::string_view kBinaryCopySignature("PGCOPY\n\xff\r\n\0", 11);
constexpr size_t kBinaryCopyFixedHeader = 19;  // signature, flags (int32), extension length (int32)
}  // namespace

BinaryCopyJoin::BinaryCopyJoin(int sources) : sources_(static_cast<size_t>(sources)) {}

namespace {

// The bytes of the whole tuples at the start of `bytes` (*whole); *trailer when the next thing
// is the trailer.
Status WholeTuples(std::string_view bytes, size_t* whole, bool* trailer) {
  size_t pos = 0;
  *trailer = false;
  while (bytes.size() - pos >= 2) {
    const auto fields = static_cast<int16_t>(protocol::LoadBigEndian16(bytes.data() + pos));
    if (fields == -1) {
      *trailer = true;
      break;
    }
    if (fields < 0) return Status::Internal("a node's binary COPY stream has a tuple with a negative field count");
    size_t end = pos + 2;
    bool complete = true;
    for (int16_t f = 0; f < fields && complete; ++f) {
      complete = bytes.size() - end >= 4;
      if (!complete) break;
      const auto length = static_cast<int32_t>(protocol::LoadBigEndian32(bytes.data() + end));
      end += 4;
      if (length > 0) {
        complete = bytes.size() - end >= static_cast<size_t>(length);
        end += complete ? static_cast<size_t>(length) : 0;
      }
    }
    if (!complete) break;
    pos = end;
  }
  *whole = pos;
  return Status::OK();
}

}  // namespace

Status BinaryCopyJoin::TakeHeader(Source& s, std::string_view* data, std::string* out) {
  while (!s.header_done && !data->empty()) {
    const size_t want = (s.header_size == 0 ? kBinaryCopyFixedHeader : s.header_size) - s.header.size();
    const size_t take = std::min(want, data->size());
    s.header.append(data->substr(0, take));
    data->remove_prefix(take);
    if (s.header.size() < kBinaryCopyFixedHeader) break;
    if (s.header_size == 0) {
      if (std::string_view(s.header).substr(0, kBinaryCopySignature.size()) != kBinaryCopySignature) {
        return Status::Internal("a node's binary COPY stream did not start with the PGCOPY signature");
      }
      s.header_size = kBinaryCopyFixedHeader + protocol::LoadBigEndian32(s.header.data() + 15);  // and the extension area
    }
    if (s.header.size() < s.header_size) continue;
    s.header_done = true;
    if (!header_sent_) out->append(s.header);  // the first one to arrive speaks for all
    header_sent_ = true;
  }
  return Status::OK();
}

Status BinaryCopyJoin::Add(int source, std::string_view data, std::string* out) {
  Source& s = sources_.at(static_cast<size_t>(source));
  if (Status st = TakeHeader(s, &data, out); !st.ok()) return st;
  if (data.empty()) return Status::OK();
  if (s.ended) return Status::Internal("a node's binary COPY stream went on after its trailer");
  std::string_view bytes = data;
  if (!s.partial.empty()) {
    s.partial.append(data);
    bytes = s.partial;
  }
  size_t whole = 0;
  if (Status st = WholeTuples(bytes, &whole, &s.ended); !st.ok()) return st;
  out->append(bytes.substr(0, whole));
  if (s.ended && bytes.size() - whole != 2) {
    return Status::Internal("a node's binary COPY stream went on after its trailer");
  }
  // The rest waits for the node's next bytes (the trailer is dropped: one goes out at the end).
  std::string rest(s.ended ? std::string_view() : bytes.substr(whole));
  s.partial = std::move(rest);
  return Status::OK();
}

}  // namespace mosaic::router
