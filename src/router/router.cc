// Placement pruning: filter trees to key sets, key sets to ranges and nodes.
#include "router/router.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "router/keys.h"

namespace mosaic::router {
namespace {

using catalog::Layout;
using catalog::ShardMap;
using catalog::Table;
using catalog::TableKind;
using sql::Analysis;
using sql::BoolExpr;
using sql::PredOp;
using sql::Predicate;
using sql::ValueRef;

// pg_catalog and information_schema relations: the same on every node.
bool IsSystemRelation(const sql::TableRef& ref) {
  return ref.schema == "pg_catalog" || ref.schema == "information_schema" ||
         (ref.schema.empty() && ref.name.starts_with("pg_"));
}

// A value resolved for pruning: unknown (cannot be evaluated here), NULL, or an encoded key.
struct KeyValue {
  enum class Kind : uint8_t { kUnknown, kNull, kKey } kind = Kind::kUnknown;
  std::string key;
};

// A set of keys: everything, or a union of intervals plus (maybe) NULL.
struct KeySet {
  struct Interval {
    std::optional<std::string> lo, hi;  // nullopt = unbounded
    bool lo_inclusive = true, hi_inclusive = true;
    bool IsPoint() const { return lo && hi && *lo == *hi && lo_inclusive && hi_inclusive; }
  };
  bool all = true;
  std::vector<Interval> intervals;  // meaningful when !all; empty and !null = nothing
  bool null = false;

  static KeySet All() { return KeySet{}; }
  static KeySet None() { return KeySet{.all = false}; }
  static KeySet Null() { return KeySet{.all = false, .null = true}; }
  static KeySet Point(std::string key) {
    KeySet s{.all = false};
    s.intervals.push_back({key, key, true, true});
    return s;
  }
  bool Empty() const { return !all && intervals.empty() && !null; }
};

// Lower bound comparison: which of two lower bounds is tighter (larger)?
// Returns <0 if a is looser than b.
int CompareLower(const KeySet::Interval& a, const KeySet::Interval& b) {
  if (!a.lo && !b.lo) return 0;
  if (!a.lo) return -1;
  if (!b.lo) return 1;
  int c = a.lo->compare(*b.lo);
  if (c != 0) return c;
  if (a.lo_inclusive == b.lo_inclusive) return 0;
  return a.lo_inclusive ? -1 : 1;  // exclusive is tighter
}

int CompareUpper(const KeySet::Interval& a, const KeySet::Interval& b) {
  if (!a.hi && !b.hi) return 0;
  if (!a.hi) return 1;
  if (!b.hi) return -1;
  int c = a.hi->compare(*b.hi);
  if (c != 0) return c;
  if (a.hi_inclusive == b.hi_inclusive) return 0;
  return a.hi_inclusive ? 1 : -1;
}

bool NonEmpty(const KeySet::Interval& i) {
  if (!i.lo || !i.hi) return true;
  int c = i.lo->compare(*i.hi);
  return c < 0 || (c == 0 && i.lo_inclusive && i.hi_inclusive);
}

KeySet Intersect(const KeySet& a, const KeySet& b) {
  if (a.all) return b;
  if (b.all) return a;
  KeySet out = KeySet::None();
  out.null = a.null && b.null;
  for (const auto& x : a.intervals) {
    for (const auto& y : b.intervals) {
      KeySet::Interval r;
      const auto& lo = CompareLower(x, y) >= 0 ? x : y;
      const auto& hi = CompareUpper(x, y) <= 0 ? x : y;
      r.lo = lo.lo;
      r.lo_inclusive = lo.lo_inclusive;
      r.hi = hi.hi;
      r.hi_inclusive = hi.hi_inclusive;
      if (NonEmpty(r)) out.intervals.push_back(std::move(r));
    }
  }
  return out;
}

KeySet Union(KeySet a, const KeySet& b) {
  if (a.all || b.all) return KeySet::All();
  a.null = a.null || b.null;
  a.intervals.insert(a.intervals.end(), b.intervals.begin(), b.intervals.end());
  return a;
}

// Resolves values of one column for pruning.
class ValueEncoder {
 public:
  virtual ~ValueEncoder() = default;
  virtual KeyValue Encode(const ValueRef& v) const = 0;
  // Whether its keys sort as the values do (ranges of them can be pruned).
  virtual bool Ordered() const = 0;
};

}  // namespace

std::optional<std::string> BinaryIntText(std::string_view bytes) {
  if (bytes.size() != 2 && bytes.size() != 4 && bytes.size() != 8) return std::nullopt;
  int64_t v = static_cast<int8_t>(bytes[0]);
  for (size_t i = 1; i < bytes.size(); ++i) v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  return std::to_string(v);
}

namespace {

class KeyEncoder : public ValueEncoder {
 public:
  KeyEncoder(const Bound& bound, KeyType type, bool tenant) : bound_(bound), type_(type), tenant_(tenant) {}

  // Tenant keys are canonical text, which does not sort as numbers do ("18" < "2").
  bool Ordered() const override { return !tenant_; }

  KeyValue Encode(const ValueRef& v) const override {
    KeyValue out;
    if (v.kind == ValueRef::Kind::kNull) {
      out.kind = KeyValue::Kind::kNull;
      return out;
    }
    if (v.kind == ValueRef::Kind::kParam) {
      if (v.index < 1 || static_cast<size_t>(v.index) > bound_.params.size()) return out;
      const Bound::Param& p = bound_.params[static_cast<size_t>(v.index) - 1];
      if (p.null) {
        out.kind = KeyValue::Kind::kNull;
        return out;
      }
      if (p.binary) {
        if (tenant_) {
          std::optional<std::string> text;
          if (p.type_oid == 20 || p.type_oid == 21 || p.type_oid == 23) {
            text = BinaryIntText(p.bytes);
          } else if (p.type_oid == 25 || p.type_oid == 1043) {
            text = std::string(p.bytes);
          }
          if (!text) return out;
          return FromText(*text);
        }
        auto key = EncodeBinaryKey(type_, p.type_oid, p.bytes);
        if (!key.ok()) return out;
        out.kind = KeyValue::Kind::kKey;
        out.key = std::move(key.value());
        return out;
      }
      return FromText(std::string(p.bytes));
    }
    auto text = bound_.Text(v);
    if (!text) return out;
    return FromText(*text);
  }

 private:
  KeyValue FromText(const std::string& text) const {
    KeyValue out;
    if (type_ == KeyType::kTimestampTz && !bound_.utc && !HasZone(text)) return out;  // unknown
    auto key = tenant_ ? CanonicalTenant(type_, text) : EncodeKey(type_, text);
    if (!key.ok()) return out;  // let PostgreSQL report the bad value
    out.kind = KeyValue::Kind::kKey;
    out.key = std::move(key.value());
    return out;
  }

  const Bound& bound_;
  KeyType type_;
  bool tenant_;
};

KeySet PredicateSet(const Predicate& p, const ValueEncoder& enc) {
  if (p.negated) return KeySet::All();
  const bool range = p.op == PredOp::kLt || p.op == PredOp::kLe || p.op == PredOp::kGt || p.op == PredOp::kGe ||
                     p.op == PredOp::kBetween;
  if (range && !enc.Ordered()) return KeySet::All();
  auto point = [&](const ValueRef& v) -> KeySet {
    KeyValue k = enc.Encode(v);
    if (k.kind == KeyValue::Kind::kUnknown) return KeySet::All();
    if (k.kind == KeyValue::Kind::kNull) return KeySet::None();  // x = NULL is never true
    return KeySet::Point(std::move(k.key));
  };
  auto bound = [&](const ValueRef& v, bool upper, bool inclusive) -> KeySet {
    KeyValue k = enc.Encode(v);
    if (k.kind == KeyValue::Kind::kUnknown) return KeySet::All();
    if (k.kind == KeyValue::Kind::kNull) return KeySet::None();
    KeySet s = KeySet::None();
    KeySet::Interval i;
    if (upper) {
      i.hi = std::move(k.key);
      i.hi_inclusive = inclusive;
    } else {
      i.lo = std::move(k.key);
      i.lo_inclusive = inclusive;
    }
    s.intervals.push_back(std::move(i));
    return s;
  };
  switch (p.op) {
    case PredOp::kEq:
      return p.values.size() == 1 ? point(p.values[0]) : KeySet::All();
    case PredOp::kIn: {
      KeySet s = KeySet::None();
      for (const auto& v : p.values) {
        s = Union(std::move(s), point(v));
        if (s.all) break;
      }
      return s;
    }
    case PredOp::kLt: return p.values.size() == 1 ? bound(p.values[0], true, false) : KeySet::All();
    case PredOp::kLe: return p.values.size() == 1 ? bound(p.values[0], true, true) : KeySet::All();
    case PredOp::kGt: return p.values.size() == 1 ? bound(p.values[0], false, false) : KeySet::All();
    case PredOp::kGe: return p.values.size() == 1 ? bound(p.values[0], false, true) : KeySet::All();
    case PredOp::kBetween:
      if (p.values.size() != 2) return KeySet::All();
      return Intersect(bound(p.values[0], false, true), bound(p.values[1], true, true));
    case PredOp::kIsNull:
      return KeySet::Null();
    case PredOp::kNe:
    case PredOp::kIsNotNull:
      return KeySet::All();
  }
  return KeySet::All();
}

KeySet Eval(const Analysis& a, const BoolExpr& e, int table, std::string_view column, const ValueEncoder& enc) {
  switch (e.kind) {
    case BoolExpr::Kind::kPred: {
      if (e.predicate < 0 || static_cast<size_t>(e.predicate) >= a.predicates.size()) return KeySet::All();
      const Predicate& p = a.predicates[static_cast<size_t>(e.predicate)];
      if (p.table != table || p.column != column) return KeySet::All();
      return PredicateSet(p, enc);
    }
    case BoolExpr::Kind::kAnd: {
      KeySet s = KeySet::All();
      for (const auto& c : e.children) {
        s = Intersect(s, Eval(a, c, table, column, enc));
        if (s.Empty()) break;
      }
      return s;
    }
    case BoolExpr::Kind::kOr: {
      KeySet s = KeySet::None();
      for (const auto& c : e.children) {
        s = Union(std::move(s), Eval(a, c, table, column, enc));
        if (s.all) break;
      }
      return s;
    }
    case BoolExpr::Kind::kNot:
    case BoolExpr::Kind::kOpaque:
      return KeySet::All();
  }
  return KeySet::All();
}

KeySet TableColumnSet(const Analysis& a, int table, std::string_view column, const ValueEncoder& enc) {
  const auto& ref = a.tables[static_cast<size_t>(table)];
  if (ref.filter < 0 || static_cast<size_t>(ref.filter) >= a.filters.size()) return KeySet::All();
  return Eval(a, a.filters[static_cast<size_t>(ref.filter)], table, column, enc);
}

void AddNode(std::vector<int>* nodes, int id) {
  if (std::find(nodes->begin(), nodes->end(), id) == nodes->end()) nodes->push_back(id);
}

// Nodes holding the ranges of `layout` that intersect `keys`.
void LayoutNodes(const Layout& layout, const KeySet& keys, std::vector<int>* nodes) {
  if (keys.all) {
    for (const auto& r : layout.ranges) AddNode(nodes, r.node_id);
    return;
  }
  if (keys.null) AddNode(nodes, layout.ranges.back().node_id);  // NULL sorts after every value
  std::vector<int> hits;
  for (const auto& i : keys.intervals) {
    layout.RangesBetween(i.lo, i.lo_inclusive, i.hi, i.hi_inclusive, &hits);
    for (int h : hits) AddNode(nodes, layout.ranges[static_cast<size_t>(h)].node_id);
  }
}

KeyType ColumnKeyType(const Table& t, std::string_view column) {
  const catalog::Column* c = t.FindColumn(column);
  return c ? KeyTypeFromName(c->type) : KeyType::kUnsupported;
}

std::string_view TypeName(sql::StatementType t) {
  switch (t) {
    case sql::StatementType::kInsert: return "INSERT";
    case sql::StatementType::kUpdate: return "UPDATE";
    case sql::StatementType::kDelete: return "DELETE";
    default: return "statement";
  }
}

struct RefInfo {
  const Table* table = nullptr;  // nullptr: unknown relation (lives on the default node)
  bool reference = false;
  bool temp = false;                 // the session's temporary table (table nullptr)
  bool tenants_known = false;        // distributed: a finite set of tenants
  std::vector<std::string> tenants;  // canonical keys when tenants_known
  std::vector<int> nodes;
};

bool FiniteTenants(const KeySet& s, std::vector<std::string>* out) {
  if (s.all) return false;
  out->clear();
  for (const auto& i : s.intervals) {
    if (!i.IsPoint()) return false;
    if (std::find(out->begin(), out->end(), *i.lo) == out->end()) out->push_back(*i.lo);
  }
  return true;  // s.null: no row has a NULL tenant (refused on insert), so it adds nothing
}

// Route::tenant: one known tenant over every distributed table reference, or the implicit
// tenant when the statement reads no distributed table.
void SetTenant(const std::vector<RefInfo>& refs, Route* route) {
  route->tenant_known = false;
  route->tenant.clear();
  bool any = false;
  for (const auto& r : refs) {
    if (r.table == nullptr || r.table->kind != TableKind::kDistributed) continue;
    if (!r.tenants_known || r.tenants.size() != 1 || (any && r.tenants[0] != route->tenant)) return;
    route->tenant = r.tenants[0];
    any = true;
  }
  route->tenant_known = true;
}

// The tenant of INSERT ... VALUES rows into a distributed table when every row names the same one.
void SetInsertTenant(const Table& t, const std::vector<std::string>& columns, const sql::Analysis& a,
                     const Bound& bound, Route* route) {
  if (t.kind != TableKind::kDistributed) return;  // the implicit tenant, set by SetTenant
  route->tenant_known = false;
  const auto col = std::find(columns.begin(), columns.end(), t.tenant_column);
  if (col == columns.end()) return;
  const auto index = static_cast<size_t>(col - columns.begin());
  std::string tenant;
  for (size_t r = 0; r < a.insert_rows.size(); ++r) {
    const auto& values = a.insert_rows[r].values;
    if (index >= values.size()) return;
    auto text = bound.Text(values[index]);
    if (!text) return;
    auto canonical = CanonicalTenant(ColumnKeyType(t, t.tenant_column), *text);
    if (!canonical.ok() || (r > 0 && canonical.value() != tenant)) return;
    tenant = std::move(canonical.value());
  }
  route->tenant = std::move(tenant);
  route->tenant_known = !a.insert_rows.empty();
}

// For a statement on several nodes: an outer join whose preserved side has only rows every node
// has (reference tables, functions, VALUES) and whose other side reads rows of one node or
// another would return the preserved rows from every node, null-extended wherever that node
// holds no match.
Status CheckOuterJoins(const Analysis& a, const std::vector<RefInfo>& refs) {
  auto replicated = [&](int t) { return refs[static_cast<size_t>(t)].reference; };
  for (const sql::OuterJoin& j : a.outer_joins) {
    if (!std::all_of(j.preserved.begin(), j.preserved.end(), replicated) ||
        std::all_of(j.nullable.begin(), j.nullable.end(), replicated)) {
      continue;
    }
    const std::string preserved = j.preserved.empty()
        ? std::string("a function, VALUES list or subquery without tables")
        : fmt::format("reference table \"{}\"", a.tables[static_cast<size_t>(j.preserved[0])].name);
    return Status::Unsupported(fmt::format(
        "an outer join keeping every row of {} (a full copy on every node) against rows on several "
        "nodes is not supported: each node would add the rows it finds no match for, duplicating "
        "them; filter the other side to one tenant, or use an inner join",
        preserved));
  }
  return Status::OK();
}

// A row's routing column takes a default value (DEFAULT, or the column omitted) that Mosaic
// cannot evaluate to route it.
Status RefuseDefault(const Table& t, std::string_view column) {
  return Status::Unsupported(fmt::format(
      "a row of \"{}\" must give its {} column \"{}\" a value: Mosaic routes the row by it and cannot "
      "tell where the column's default value would place it",
      t.name, t.kind == TableKind::kDistributed && column == t.tenant_column ? "tenant" : "range", column));
}

// PostgreSQL's error for a NULL in a NOT NULL column (Mosaic finds it routing the row).
Status NotNullViolation(const Table& t, std::string_view column) {
  return Status::Error("23502", fmt::format("null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                                            column, t.name));
}

}  // namespace

bool Bound::NamesTemp(const sql::TableRef& ref) const {
  return temp_tables != nullptr && (ref.schema.empty() || ref.schema == "pg_temp") &&
         std::find(temp_tables->begin(), temp_tables->end(), ref.name) != temp_tables->end();
}

std::optional<std::string> Bound::Text(const ValueRef& v) const {
  switch (v.kind) {
    case ValueRef::Kind::kLiteral: {
      if (literals == nullptr || v.index < 0 || static_cast<size_t>(v.index) >= literals->size()) return std::nullopt;
      const std::string& value = (*literals)[static_cast<size_t>(v.index)].value;
      if (!v.negate) return value;
      return "-" + value;
    }
    case ValueRef::Kind::kParam: {
      if (v.index < 1 || static_cast<size_t>(v.index) > params.size()) return std::nullopt;
      const Param& p = params[static_cast<size_t>(v.index) - 1];
      if (p.null || p.binary) return std::nullopt;
      return std::string(p.bytes);
    }
    default:
      return std::nullopt;
  }
}

const Table* ResolveTable(const ShardMap& map, const sql::TableRef& ref) {
  return map.FindTable(ref.schema.empty() ? std::string_view("public") : std::string_view(ref.schema), ref.name);
}

bool NamesUnknownRelation(const ShardMap& map, const Analysis& a) {
  return std::any_of(a.tables.begin(), a.tables.end(), [&](const sql::TableRef& ref) {
    return ResolveTable(map, ref) == nullptr && !IsSystemRelation(ref);
  });
}

RowRouter::RowRouter(const ShardMap& map, const Table& table, bool utc) : map_(map), table_(table), utc_(utc) {}

bool HasZone(std::string_view text) {
  // After the date part (which has '-' separators), a sign, 'Z' or a zone name.
  for (size_t i = 10; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+' || c == '-' || c == 'Z' || c == 'z') return true;
    if (std::isalpha(static_cast<unsigned char>(c)) && c != 'T' && c != 't') return true;
  }
  return false;
}

bool IsUtcZone(std::string_view zone) {
  std::string z;
  for (char c : zone) z.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return z == "utc" || z == "etc/utc" || z == "gmt" || z == "etc/gmt" || z == "uct" || z == "etc/uct" ||
         z == "zulu" || z == "etc/zulu" || z == "universal" || z == "etc/universal" || z == "z" ||
         z == "gmt0" || z == "etc/gmt0" || z == "etc/gmt+0" || z == "etc/gmt-0" || z == "greenwich";
}

void RowRouter::SetColumns(const std::vector<std::string>& columns) {
  columns_ = columns;
  needed_.assign(columns.size(), false);
  tenant_index_ = -1;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (table_.kind == TableKind::kDistributed && columns[i] == table_.tenant_column) {
      tenant_index_ = static_cast<int>(i);
      needed_[i] = true;
    }
    for (const Layout* layout : map_.LayoutsOfTable(table_.id)) {
      if (layout->column == columns[i]) needed_[i] = true;
    }
  }
}

bool RowRouter::NeedsColumn(int index) const {
  return index >= 0 && static_cast<size_t>(index) < needed_.size() && needed_[static_cast<size_t>(index)];
}

Result<int> RowRouter::RouteWith(const std::optional<std::string>& tenant_text,
                                 const std::function<std::optional<std::string>(int)>& value) {
  std::string tenant;
  if (table_.kind == TableKind::kDistributed) {
    if (!tenant_text) {
      // Omitted, the column takes its default: NULL when it has none.
      const catalog::Column* c = table_.FindColumn(table_.tenant_column);
      if (tenant_index_ < 0 && (c == nullptr || c->has_default)) return RefuseDefault(table_, table_.tenant_column);
      if (c != nullptr && c->not_null) return NotNullViolation(table_, table_.tenant_column);
      return Status::Unsupported(fmt::format(
          "a row of distributed table \"{}\" needs a value for its tenant column \"{}\" (NULL or missing)",
          table_.name, table_.tenant_column));
    }
    auto canonical = CanonicalTenant(ColumnKeyType(table_, table_.tenant_column), *tenant_text);
    if (!canonical.ok()) return canonical.status();
    tenant = std::move(canonical.value());
  }
  const Layout* layout = map_.FindLayout(table_.id, tenant);
  if (layout == nullptr) return map_.TenantHomeNode(tenant);
  int index = -1;
  for (size_t i = 0; i < columns_.size(); ++i) {
    if (columns_[i] == layout->column) index = static_cast<int>(i);
  }
  const catalog::Column* range_column = table_.FindColumn(layout->column);
  if (index < 0 && (range_column == nullptr || range_column->has_default)) return RefuseDefault(table_, layout->column);
  std::optional<std::string> v = index < 0 ? std::nullopt : value(index);  // omitted: NULL (no default)
  if (!v) return layout->ranges.back().node_id;  // NULL sorts after every value
  if (layout->key_type == KeyType::kTimestampTz && !utc_ && !HasZone(*v)) {
    return Status::Unsupported(fmt::format(
        "the timestamptz value \"{}\" for range column \"{}\" has no time zone offset and the "
        "session's TimeZone is not UTC; write the offset (e.g. '{}+00') so Mosaic can route the row",
        *v, layout->column, *v));
  }
  auto key = EncodeKey(layout->key_type, *v);
  if (!key.ok()) return key.status();
  return layout->RangeFor(key.value()).node_id;
}

namespace {

// A statement reading or writing the session's temporary tables runs where they are, on the
// default node, with nothing from other nodes (INSERT ... SELECT into a table Mosaic routes,
// reading temporary tables, is planned before this: Mosaic reads them and writes the rows).
Status CheckTempTables(const ShardMap& map, const Analysis& a, const std::vector<RefInfo>& refs, const Route& route) {
  const int home = map.DefaultNode().id;
  for (size_t i = 0; i < refs.size(); ++i) {
    if (!refs[i].temp || route.nodes == std::vector<int>{home}) continue;
    std::string others;
    for (int n : route.nodes) {
      if (n != home) others += fmt::format("{}{}", others.empty() ? "" : ", ", n);
    }
    return Status::Unsupported(fmt::format(
        "{} reads temporary table \"{}\", which lives on node {} (temporary tables are created on "
        "the default node), together with rows on node {}: copy those rows into a temporary table "
        "first (INSERT INTO temporary table SELECT ...), or write routed tables with INSERT ... SELECT "
        "FROM the temporary table",
        TypeName(a.type) == "statement" ? "the query" : TypeName(a.type), a.tables[i].name, home, others));
  }
  return Status::OK();
}

// The one node every row of INSERT ... SELECT into refs[0]'s table lands on, when the statement
// says so: the table is whole on one node, or its tenant column is filled with one constant (or
// parameter), or with the tenant column of a table the SELECT reads for one tenant only (not on
// the nullable side of an outer join), and that tenant's rows of the table are not split.
std::optional<int> InsertSelectTarget(const ShardMap& map, const Analysis& a, const Bound& bound,
                                      const std::vector<RefInfo>& refs) {
  const Table& t = *refs[0].table;
  if (refs[0].nodes.size() == 1) return refs[0].nodes[0];
  if (t.kind != TableKind::kDistributed) return std::nullopt;
  size_t position = 0;
  if (a.insert_has_column_list) {
    const auto it = std::find(a.insert_columns.begin(), a.insert_columns.end(), t.tenant_column);
    if (it == a.insert_columns.end()) return std::nullopt;
    position = static_cast<size_t>(it - a.insert_columns.begin());
  } else {
    while (position < t.columns.size() && t.columns[position].name != t.tenant_column) ++position;
  }
  if (position >= a.insert_sources.size()) return std::nullopt;
  const sql::InsertSource& source = a.insert_sources[position];
  std::string tenant;
  if (source.table >= 0) {
    const RefInfo& from = refs[static_cast<size_t>(source.table)];
    const bool nullable = std::any_of(a.outer_joins.begin(), a.outer_joins.end(), [&](const sql::OuterJoin& j) {
      return std::find(j.nullable.begin(), j.nullable.end(), source.table) != j.nullable.end();
    });
    if (from.table == nullptr || from.table->kind != TableKind::kDistributed ||
        source.column != from.table->tenant_column || !from.tenants_known || from.tenants.size() != 1 || nullable) {
      return std::nullopt;
    }
    tenant = from.tenants[0];
  } else {
    auto text = bound.Text(source.value);
    if (!text) return std::nullopt;
    auto canonical = CanonicalTenant(ColumnKeyType(t, t.tenant_column), *text);
    if (!canonical.ok()) return std::nullopt;
    tenant = std::move(canonical.value());
  }
  if (map.FindLayout(t.id, tenant) != nullptr) return std::nullopt;
  return map.TenantHomeNode(tenant);
}

// INSERT ... SELECT into a distributed or single-tenant table: sent as it is to one node when
// it reads rows of that node only (or reference tables) and every row it writes lands there;
// else run through Mosaic (Route::insert_select_through).
Result<Route> PlanInsertSelect(const ShardMap& map, const Analysis& a, const Bound& bound,
                               const std::vector<RefInfo>& refs, const std::vector<int>& all_nodes, Route route) {
  std::vector<int> read;
  for (size_t i = 1; i < refs.size(); ++i) {
    for (int n : refs[i].nodes) AddNode(&read, n);
  }
  const std::optional<int> target = InsertSelectTarget(map, a, bound, refs);
  if (target && (read.empty() || (read.size() == 1 && read[0] == *target))) {
    route.nodes = {*target};
    return route;
  }
  route.insert_select_through = true;
  route.nodes = all_nodes;
  return route;
}

}  // namespace

Result<Route> Plan(const ShardMap& map, const Analysis& a, const Bound& bound) {
  Route route;
  using T = sql::StatementType;
  route.write = a.type == T::kInsert || a.type == T::kUpdate || a.type == T::kDelete ||
                a.type == T::kCopyFrom || a.type == T::kSelectForUpdate || a.locking || a.cte_writes;

  if (a.type == T::kDdl || a.type == T::kMaintenance) {
    route.all_nodes = true;
    for (const auto& n : map.nodes) route.nodes.push_back(n.id);
    return route;
  }

  std::vector<RefInfo> refs(a.tables.size());
  // Tenant sets first (they propagate over joins), then nodes.
  for (size_t i = 0; i < a.tables.size(); ++i) {
    RefInfo& info = refs[i];
    if (static_cast<int>(i) < a.wrapped_tables) {
      // Named by the utility statement wrapping the one planned (CREATE TABLE AS's new table),
      // not read by it.
      info.reference = true;
      route.tables.push_back(nullptr);
      continue;
    }
    info.temp = bound.NamesTemp(a.tables[i]);
    info.table = info.temp ? nullptr : ResolveTable(map, a.tables[i]);
    route.tables.push_back(info.table);
    if (info.table == nullptr) continue;
    if (info.table->kind == TableKind::kReference) {
      info.reference = true;
    } else if (info.table->kind == TableKind::kDistributed) {
      KeyEncoder enc(bound, ColumnKeyType(*info.table, info.table->tenant_column), /*tenant=*/true);
      KeySet s = TableColumnSet(a, static_cast<int>(i), info.table->tenant_column, enc);
      info.tenants_known = FiniteTenants(s, &info.tenants);
    }
  }
  // Equality joins on tenant columns share what is known about the tenants.
  for (bool changed = true; changed;) {
    changed = false;
    for (const auto& j : a.joins) {
      if (j.left_table < 0 || j.right_table < 0) continue;
      RefInfo& l = refs[static_cast<size_t>(j.left_table)];
      RefInfo& r = refs[static_cast<size_t>(j.right_table)];
      if (!l.table || !r.table || l.table->kind != TableKind::kDistributed ||
          r.table->kind != TableKind::kDistributed || j.left_column != l.table->tenant_column ||
          j.right_column != r.table->tenant_column) {
        continue;
      }
      if (l.tenants_known && !r.tenants_known) {
        r.tenants_known = true;
        r.tenants = l.tenants;
        changed = true;
      } else if (r.tenants_known && !l.tenants_known) {
        l.tenants_known = true;
        l.tenants = r.tenants;
        changed = true;
      }
    }
  }

  SetTenant(refs, &route);

  std::vector<int> all_nodes;
  for (const auto& n : map.nodes) all_nodes.push_back(n.id);
  bool any_sharded = false;
  for (size_t i = 0; i < refs.size(); ++i) {
    RefInfo& info = refs[i];
    if (info.reference) continue;
    any_sharded = true;
    if (info.table == nullptr) {
      const auto& ref = a.tables[i];
      if (map.spread() && !IsSystemRelation(ref) && !info.temp) {
        return Status::Error(kUnknownRelation, fmt::format(
            "relation \"{}\" is not a table Mosaic routes (a view, sequence, temporary or foreign "
            "table, or a table created behind Mosaic's back), so it cannot tell which nodes hold its "
            "rows; query the tables themselves",
            ref.name));
      }
      AddNode(&info.nodes, map.DefaultNode().id);
      continue;
    }
    const Table& t = *info.table;
    if ((a.merge || a.cte_writes) && (t.kind == TableKind::kDistributed || !map.LayoutsOfTable(t.id).empty())) {
      // Neither is planned per node: a row they change could belong on another node (its tenant
      // or range column set), or their rows be on several.
      return Status::Unsupported(fmt::format(
          "{} on distributed or split tables (\"{}\") is not supported: use INSERT ... ON CONFLICT, "
          "UPDATE or DELETE (each routed by its tenant and range columns)",
          a.merge ? "MERGE" : "a WITH query that inserts, updates or deletes", t.name));
    }
    auto add_tenant = [&](const std::string& tenant) {
      const Layout* layout = map.FindLayout(t.id, tenant);
      if (layout == nullptr) {
        AddNode(&info.nodes, map.TenantHomeNode(tenant));
        return;
      }
      KeyEncoder enc(bound, layout->key_type, /*tenant=*/false);
      LayoutNodes(*layout, TableColumnSet(a, static_cast<int>(i), layout->column, enc), &info.nodes);
    };
    if (t.kind == TableKind::kSingleTenant) {
      add_tenant("");
    } else if (info.tenants_known) {
      for (const auto& tenant : info.tenants) add_tenant(tenant);
    } else {
      info.nodes = all_nodes;
    }
  }

  // Union of the nodes; reference tables are on every node and follow the others.
  for (const auto& info : refs) {
    for (int n : info.nodes) AddNode(&route.nodes, n);
  }
  std::sort(route.nodes.begin(), route.nodes.end());

  // Writes.
  const bool writes_table = a.type == T::kInsert || a.type == T::kUpdate || a.type == T::kDelete;
  if (writes_table && !refs.empty() && refs[0].reference) {
    // A reference table is written on every node.
    route.nodes = all_nodes;
    if (refs.size() > 1) {
      for (size_t i = 1; i < refs.size(); ++i) {
        if (!refs[i].reference) {
          // Each node would copy its own rows: Mosaic reads them all, then writes them everywhere.
          route.insert_select_through = a.type == T::kInsert && a.insert_select;
          if (route.insert_select_through) return route;
          return Status::Unsupported(fmt::format(
              "{} of reference table \"{}\" reading other non-reference tables is not supported",
              TypeName(a.type), a.tables[0].name));
        }
      }
    }
    return route;
  }
  if ((a.type == T::kUpdate || (a.type == T::kInsert && a.on_conflict)) && !refs.empty() && refs[0].table != nullptr) {
    const Table& t = *refs[0].table;
    for (const auto& col : a.update_columns) {
      if (t.kind == TableKind::kDistributed && col == t.tenant_column) {
        return Status::Unsupported(fmt::format(
            "UPDATE of the tenant column \"{}\" of \"{}\" would move rows to another tenant's "
            "placement; moving rows is the online migration service's job (not supported yet)",
            col, t.name));
      }
      for (const Layout* layout : map.LayoutsOfTable(t.id)) {
        if (layout->column != col) continue;
        const bool applies = t.kind == TableKind::kSingleTenant || !refs[0].tenants_known ||
                             std::find(refs[0].tenants.begin(), refs[0].tenants.end(), layout->tenant) !=
                                 refs[0].tenants.end();
        if (!applies) continue;
        return Status::Unsupported(fmt::format(
            "UPDATE of range column \"{}\" of \"{}\" could move rows to a range on another node; "
            "moving rows is the online migration service's job (not supported yet)",
            col, t.name));
      }
    }
  }
  if (a.type == T::kInsert && a.insert_select && !refs.empty() && refs[0].table != nullptr) {
    return PlanInsertSelect(map, a, bound, refs, all_nodes, std::move(route));
  }
  if (a.type == T::kInsert && !refs.empty()) {
    const RefInfo& target = refs[0];
    if (target.table != nullptr && (target.table->kind == TableKind::kDistributed ||
                                    !map.LayoutsOfTable(target.table->id).empty())) {
      if (a.insert_rows.empty()) {  // DEFAULT VALUES: every column takes its default
        RowRouter rows(map, *target.table, bound.utc);
        rows.SetColumns({});
        auto node = rows.Route([](int) -> std::optional<std::string> { return std::nullopt; });
        if (!node.ok()) return node.status();
        route.nodes = {node.value()};
        return route;
      }
      if (!a.insert_select && !a.insert_rows.empty()) {
        std::vector<std::string> columns = a.insert_columns;
        if (!a.insert_has_column_list) {
          for (const auto& c : target.table->columns) columns.push_back(c.name);
        }
        RowRouter rows(map, *target.table, bound.utc);
        rows.SetColumns(columns);
        std::vector<int> row_nodes;
        for (const auto& row : a.insert_rows) {
          Status value_error;
          auto node = rows.Route([&](int i) -> std::optional<std::string> {
            if (static_cast<size_t>(i) >= row.values.size()) return std::nullopt;
            const ValueRef& v = row.values[static_cast<size_t>(i)];
            if (v.kind == ValueRef::Kind::kNull) return std::nullopt;
            if (v.kind == ValueRef::Kind::kDefault) {
              const catalog::Column* c = target.table->FindColumn(columns[static_cast<size_t>(i)]);
              if (c == nullptr || c->has_default) {
                value_error = RefuseDefault(*target.table, columns[static_cast<size_t>(i)]);
                return std::string();
              }
              return std::nullopt;  // no default: NULL
            }
            if (v.kind == ValueRef::Kind::kParam) {
              if (v.index >= 1 && static_cast<size_t>(v.index) <= bound.params.size()) {
                const Bound::Param& p = bound.params[static_cast<size_t>(v.index) - 1];
                if (p.null) return std::nullopt;
                if (p.binary) {
                  if (auto text = BinaryIntText(p.bytes); text && (p.type_oid == 20 || p.type_oid == 21 || p.type_oid == 23)) return text;
                  value_error = Status::Unsupported("routing a row by a binary-format parameter of this type is not supported; send it in text format");
                  return std::string();
                }
              }
            }
            auto text = bound.Text(v);
            if (!text) {
              value_error = Status::Unsupported(fmt::format(
                  "INSERT into \"{}\": the value of column \"{}\" must be a constant or a parameter for Mosaic to route the row",
                  target.table->name, columns[static_cast<size_t>(i)]));
              return std::string();
            }
            return text;
          });
          if (!value_error.ok()) return value_error;
          if (!node.ok()) return node.status();
          row_nodes.push_back(node.value());
        }
        std::vector<int> nodes;
        for (int n : row_nodes) AddNode(&nodes, n);
        std::sort(nodes.begin(), nodes.end());
        // Other tables the INSERT reads (e.g. in RETURNING subqueries) must be on the same node.
        for (size_t i = 1; i < refs.size(); ++i) {
          for (int n : refs[i].nodes) {
            if (std::find(nodes.begin(), nodes.end(), n) == nodes.end() || nodes.size() > 1) {
              return Status::Unsupported("an INSERT reading other tables must stay on one node");
            }
          }
        }
        route.nodes = nodes;
        SetInsertTenant(*target.table, columns, a, bound, &route);
        if (nodes.size() > 1) {
          if (a.returning && a.on_conflict_do_nothing) {
            // RETURNING rows are put back in VALUES order by counting each node's rows; a
            // conflicting row that returns nothing would shift the others onto wrong rows.
            return Status::Unsupported(fmt::format(
                "INSERT ... ON CONFLICT DO NOTHING RETURNING into \"{}\" with rows for several nodes is not "
                "supported (the returned rows could not be matched to the VALUES rows); insert each node's rows "
                "separately, or drop RETURNING",
                target.table->name));
          }
          route.insert_rows.resize(nodes.size());
          for (size_t r = 0; r < row_nodes.size(); ++r) {
            size_t k = static_cast<size_t>(std::find(nodes.begin(), nodes.end(), row_nodes[r]) - nodes.begin());
            route.insert_rows[k].push_back(static_cast<int>(r));
          }
        }
        return route;
      }
    }
  }

  if (a.type == T::kInsert && a.insert_select && !refs.empty() && refs[0].temp &&
      route.nodes != std::vector<int>{map.DefaultNode().id}) {
    // Into a temporary table from rows on other nodes: Mosaic reads them and inserts them.
    route.insert_select_through = true;
    route.nodes = all_nodes;
    return route;
  }
  if (auto refused = CheckTempTables(map, a, refs, route); !refused.ok()) return refused;
  if (route.write && !a.cte_writes && !refs.empty() &&
      std::all_of(refs.begin(), refs.end(), [](const RefInfo& r) { return r.temp || r.reference; }) &&
      std::any_of(refs.begin(), refs.end(), [](const RefInfo& r) { return r.temp; })) {
    // Rows of the session's own: the default node's part of a transaction over several nodes is
    // then committed as a reader's (PostgreSQL cannot PREPARE it), before the writers' decision.
    route.write = false;
  }
  if (!any_sharded) {
    route.reference_only = true;
    route.nodes = {map.DefaultNode().id};
    return route;
  }

  // A statement over several tables may run on several nodes only if every row it combines is
  // on the same node: all sharded tables joined on their tenant columns and, for tenants split
  // into ranges, all in the same table group and joined on its range column.
  if (route.nodes.size() > 1) {
    if (auto refused = CheckOuterJoins(a, refs); !refused.ok()) return refused;
    std::vector<size_t> sharded;
    for (size_t i = 0; i < refs.size(); ++i) {
      if (!refs[i].reference) sharded.push_back(i);
    }
    if (sharded.size() > 1) {
      const std::string why_prefix = fmt::format(
          "{} combines rows of several tables on {} nodes", TypeName(a.type) == "statement" ? "the query" : TypeName(a.type),
          route.nodes.size());
      // Connected on tenant columns?
      std::vector<int> group(refs.size());
      for (size_t i = 0; i < group.size(); ++i) group[i] = static_cast<int>(i);
      auto find = [&](int x) {
        while (group[static_cast<size_t>(x)] != x) x = group[static_cast<size_t>(x)];
        return x;
      };
      for (const auto& j : a.joins) {
        if (j.left_table < 0 || j.right_table < 0) continue;
        const RefInfo& l = refs[static_cast<size_t>(j.left_table)];
        const RefInfo& r = refs[static_cast<size_t>(j.right_table)];
        if (!l.table || !r.table || l.table->kind != TableKind::kDistributed ||
            r.table->kind != TableKind::kDistributed || j.left_column != l.table->tenant_column ||
            j.right_column != r.table->tenant_column) {
          continue;
        }
        group[static_cast<size_t>(find(j.left_table))] = find(j.right_table);
      }
      bool all_single = true;
      for (size_t i : sharded) {
        all_single = all_single && refs[i].table && refs[i].table->kind == TableKind::kSingleTenant;
      }
      for (size_t i : sharded) {
        if (all_single) break;  // single-tenant tables are all one (implicit) tenant
        if (!refs[i].table || refs[i].table->kind != TableKind::kDistributed ||
            find(static_cast<int>(i)) != find(static_cast<int>(sharded[0]))) {
          return Status::Unsupported(why_prefix +
                                     " without joining them on their tenant columns; the rows may "
                                     "be on different nodes (filter every table by one tenant, or "
                                     "join on the tenant column)");
        }
      }
      // Range-split tenants: the tables must share a layout and be joined on its column.
      for (size_t i : sharded) {
        const Table& t = *refs[i].table;
        std::vector<const Layout*> layouts;
        if (t.kind == TableKind::kSingleTenant) {
          if (const Layout* l = map.FindLayout(t.id, "")) layouts.push_back(l);
        } else if (refs[i].tenants_known) {
          for (const auto& tenant : refs[i].tenants) {
            if (const Layout* l = map.FindLayout(t.id, tenant)) layouts.push_back(l);
          }
        } else {
          layouts = map.LayoutsOfTable(t.id);
        }
        for (const Layout* layout : layouts) {
          for (size_t k : sharded) {
            const Table& other = *refs[k].table;
            if (std::find(layout->table_ids.begin(), layout->table_ids.end(), other.id) ==
                layout->table_ids.end()) {
              return Status::Unsupported(fmt::format(
                  "{}: \"{}\" and \"{}\" are not split together for tenant {} (lay them out as one "
                  "table group to join them across nodes)",
                  why_prefix, t.name, other.name, layout->tenant.empty() ? "(single-tenant)" : layout->tenant));
            }
            if (k == i) continue;
            bool joined = false;
            for (const auto& j : a.joins) {
              if ((j.left_table == static_cast<int>(i) && j.right_table == static_cast<int>(k) &&
                   j.left_column == layout->column && j.right_column == layout->column) ||
                  (j.left_table == static_cast<int>(k) && j.right_table == static_cast<int>(i) &&
                   j.left_column == layout->column && j.right_column == layout->column)) {
                joined = true;
              }
            }
            if (!joined) {
              return Status::Unsupported(fmt::format(
                  "{}: \"{}\" and \"{}\" are split into ranges of \"{}\" for tenant {} but not joined "
                  "on it, so matching rows may be on different nodes",
                  why_prefix, t.name, other.name, layout->column, layout->tenant));
            }
          }
        }
      }
    }
  }
  // No node holds a row that can match (a NULL tenant or range key, contradictory keys): any
  // one node answers truthfully, with the result's description and no rows (or a count of 0).
  if (route.nodes.empty()) route.nodes = {map.DefaultNode().id};
  return route;
}

namespace {

// The statement a utility statement wraps, planned as if it had been sent itself.
Result<Route> PlanWrapped(const ShardMap& map, const Analysis& a, const Bound& bound) {
  using T = sql::StatementType;
  if (a.wrapped != T::kSelect && a.wrapped != T::kSelectForUpdate && a.wrapped != T::kInsert &&
      a.wrapped != T::kUpdate && a.wrapped != T::kDelete) {
    return Status::Unsupported("Mosaic cannot tell which nodes hold the rows of the statement it wraps");
  }
  Analysis wrapped = a;
  wrapped.type = a.wrapped;
  auto route = Plan(map, wrapped, bound);
  if (!route.ok()) return Status::Unsupported(route.status().message());  // kUnknownRelation too
  for (const Table* t : route.value().tables) {
    if (t != nullptr && !map.MigrationsOfTable(t->id).empty()) {
      return Status::Unsupported(fmt::format(
          "rows of table \"{}\" are being migrated between nodes; run it once the migration is done",
          t->name));
    }
  }
  return route;
}

std::string_view UtilityName(const Analysis& a) {
  switch (a.utility) {
    case sql::UtilityKind::kDeclareCursor: return "DECLARE CURSOR";
    case sql::UtilityKind::kPrepare: return "PREPARE";
    case sql::UtilityKind::kCreateAs: return "CREATE TABLE AS (or SELECT INTO)";
    default: return "EXPLAIN ANALYZE";
  }
}

// Why the wrapped statement cannot run where `a` runs.
std::string_view Remedy(const Analysis& a) {
  switch (a.utility) {
    case sql::UtilityKind::kDeclareCursor:
      return a.cursor_hold ? "a cursor WITH HOLD is kept on the default node, which does not hold every row "
                             "the query reads; declare it WITHOUT HOLD in a transaction block, filtered "
                             "to one tenant or range"
                           : "a cursor runs on one node, and its query reads rows of several; filter it "
                             "to one tenant or range, or run the query without a cursor";
    case sql::UtilityKind::kPrepare:
      return "SQL-level prepared statements are kept on the default node, which does not hold every "
             "row the statement touches; use the driver's prepared statements (extended query "
             "protocol), which Mosaic routes at each execution";
    case sql::UtilityKind::kCreateAs:
      return "every node would build the new table from its own rows; create the table, then fill "
             "it with INSERT ... VALUES or COPY";
    default:
      return "it would run on one node only; filter it to one tenant or range, or use EXPLAIN "
             "without ANALYZE";
  }
}

}  // namespace

Result<UtilityRoute> PlanUtility(const ShardMap& map, const Analysis& a, const Bound& bound) {
  using U = sql::UtilityKind;
  if (!map.spread()) return UtilityRoute{};
  const int default_node = map.DefaultNode().id;
  switch (a.utility) {
    case U::kNone:
      return UtilityRoute{};
    case U::kDo:
    case U::kCall:
      return Status::Unsupported(fmt::format(
          "{} is not supported once tables are distributed, laid out or reference tables: it would "
          "run on one node and see only that node's rows, and Mosaic cannot see the statements "
          "inside it to route them; send them as separate statements (Mosaic routes each)",
          a.utility == U::kDo ? "a DO block" : "CALL of a procedure"));
    case U::kCursorUse:
      return UtilityRoute{.node = default_node};
    case U::kLock: {
      // Every node when a table's rows are on several (distributed, reference, laid out); a
      // table Mosaic does not know (a temporary one) is on the default node only.
      bool known = !a.tables.empty(), spread = false;
      for (const sql::TableRef& ref : a.tables) {
        const catalog::Table* t = ResolveTable(map, ref);
        known = known && t != nullptr;
        spread = spread || (t != nullptr && (t->kind != catalog::TableKind::kSingleTenant ||
                                             !map.LayoutsOfTable(t->id).empty()));
      }
      return UtilityRoute{.every_node = known && spread};
    }
    case U::kPreparedUse:  // it may write: the node takes part in two-phase commit
      return UtilityRoute{.node = default_node, .write = true};
    case U::kExplain: {
      auto route = PlanWrapped(map, a, bound);
      const bool one = route.ok() && route.value().nodes.size() == 1;
      return UtilityRoute{.node = one ? route.value().nodes[0] : default_node};
    }
    case U::kCreateAs:
      if (a.create_as_no_data) return UtilityRoute{};
      [[fallthrough]];
    case U::kExplainAnalyze:
    case U::kDeclareCursor:
    case U::kPrepare: {
      auto planned = PlanWrapped(map, a, bound);
      if (!planned.ok()) {
        return Status::Unsupported(fmt::format("{} of this statement is not supported: {}", UtilityName(a), planned.status().message()));
      }
      const Route& route = planned.value();
      const bool default_only = route.reference_only || route.nodes == std::vector<int>{default_node};
      // A cursor lives on the node its query reads (the session sends its FETCHes there) while
      // its transaction lasts; one WITH HOLD outlives it, on whichever server connection the
      // default node's pool gave.
      const bool one_node = route.nodes.size() == 1;
      const bool ok = a.utility == U::kExplainAnalyze                             ? one_node
                      : a.utility == U::kDeclareCursor && !a.cursor_hold ? (one_node || route.reference_only)
                                                                                  : default_only;
      if (!ok) {
        return Status::Unsupported(fmt::format("{} of a statement on {} is not supported: {}", UtilityName(a),
                                               route.nodes.size() == 1 ? fmt::format("node {}", route.nodes[0])
                                                                       : fmt::format("{} nodes", route.nodes.size()),
                                               Remedy(a)));
      }
      if (a.utility == U::kCreateAs) return UtilityRoute{};  // broadcast as DDL
      if (route.reference_only) return UtilityRoute{.node = default_node, .write = route.write};
      return UtilityRoute{.node = route.nodes[0], .write = route.write};
    }
  }
  return UtilityRoute{};
}

}  // namespace mosaic::router
