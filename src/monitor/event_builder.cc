#include "monitor/event_builder.h"

#include <charconv>
#include <cstring>

namespace mosaic::monitor {
namespace {

using sql::PredOp;
using sql::ValueRef;

// The text of `v` in this execution into `out`; false when it has none usable as a key (NULL,
// an expression, a binary parameter) or it does not fit.
bool ValueText(const ValueRef& v, const router::Bound& bound, InlineText<48>* out) {
  switch (v.kind) {
    case ValueRef::Kind::kLiteral: {
      if (bound.literals == nullptr || v.index < 0 || static_cast<size_t>(v.index) >= bound.literals->size()) return false;
      const std::string& text = (*bound.literals)[static_cast<size_t>(v.index)].value;
      if (!v.negate) return out->Set(text);
      if (text.size() + 1 > InlineText<48>::capacity()) return false;
      out->bytes[0] = '-';
      std::memcpy(out->bytes + 1, text.data(), text.size());
      out->len = static_cast<uint8_t>(text.size() + 1);
      return true;
    }
    case ValueRef::Kind::kParam: {
      if (v.index < 1 || static_cast<size_t>(v.index) > bound.params.size()) return false;
      const router::Bound::Param& p = bound.params[static_cast<size_t>(v.index) - 1];
      if (p.null || p.binary) return false;
      return out->Set(p.bytes);
    }
    default:
      return false;
  }
}

bool AddFilter(QueryEvent* e, const sql::Predicate& p, FilterOp op, ValueRole role, bool counts,
               const ValueRef* value, const router::Bound& bound) {
  if (e->filter_count >= QueryEvent::kMaxFilters) {
    e->truncated = true;
    return false;
  }
  EventFilter& f = e->filters[e->filter_count];
  f.table = static_cast<uint8_t>(p.table);
  f.op = op;
  f.counts = counts;
  f.column.Set(p.column);
  f.role = role;
  f.value.len = 0;
  if (value == nullptr || !ValueText(*value, bound, &f.value)) f.role = ValueRole::kNone;
  ++e->filter_count;
  return true;
}

void AddPredicate(QueryEvent* e, const sql::Predicate& p, const router::Bound& bound) {
  switch (p.op) {
    case PredOp::kEq:
      AddFilter(e, p, FilterOp::kEq, ValueRole::kPoint, true, p.values.empty() ? nullptr : &p.values[0], bound);
      return;
    case PredOp::kIn:
      if (p.negated || p.values.empty()) break;
      for (size_t i = 0; i < p.values.size(); ++i) {
        if (!AddFilter(e, p, FilterOp::kIn, ValueRole::kPoint, i == 0, &p.values[i], bound)) return;
      }
      return;
    case PredOp::kLt:
    case PredOp::kLe:
      AddFilter(e, p, FilterOp::kRange, ValueRole::kUpper, true, p.values.empty() ? nullptr : &p.values[0], bound);
      return;
    case PredOp::kGt:
    case PredOp::kGe:
      AddFilter(e, p, FilterOp::kRange, ValueRole::kLower, true, p.values.empty() ? nullptr : &p.values[0], bound);
      return;
    case PredOp::kBetween:
      if (p.negated || p.values.size() != 2) break;
      if (AddFilter(e, p, FilterOp::kRange, ValueRole::kLower, true, &p.values[0], bound)) {
        AddFilter(e, p, FilterOp::kRange, ValueRole::kUpper, false, &p.values[1], bound);
      }
      return;
    default:
      break;
  }
  AddFilter(e, p, FilterOp::kOther, ValueRole::kNone, true, nullptr, bound);
}

void SetTableName(const sql::TableRef& t, InlineText<48>* out) {
  if (t.schema.empty() || t.schema == "public") {
    out->Set(t.name);
    return;
  }
  char buf[InlineText<48>::capacity()];
  size_t n = 0;
  for (std::string_view part : {std::string_view(t.schema), std::string_view("."), std::string_view(t.name)}) {
    const size_t k = std::min(part.size(), sizeof(buf) - n);
    std::memcpy(buf + n, part.data(), k);
    n += k;
  }
  out->Set(std::string_view(buf, n));
}

}  // namespace

void BuildEvent(const sql::Analysis& a, const router::Bound& bound, const router::Route& route,
                uint64_t fingerprint, QueryEvent* e) {
  e->fingerprint = fingerprint;
  e->rows = 0;
  e->latency_us = 0;
  e->write = route.write;
  e->nodes = static_cast<uint16_t>(route.nodes.size());
  e->single_node = route.nodes.size() == 1;
  e->node_mask = 0;
  for (int id : route.nodes) {
    if (id >= 0 && id < 64) e->node_mask |= uint64_t{1} << id;
  }
  e->tenant_known = route.tenant_known;
  e->tenant.Set(route.tenant);
  e->truncated = false;
  e->table_count = 0;
  for (const sql::TableRef& t : a.tables) {
    if (e->table_count >= QueryEvent::kMaxTables) {
      e->truncated = true;
      break;
    }
    // The session's temporary tables: no workload of a table Mosaic places (an empty name).
    if (bound.NamesTemp(t)) {
      e->tables[e->table_count++].Set("");
    } else {
      SetTableName(t, &e->tables[e->table_count++]);
    }
  }
  e->filter_count = 0;
  for (const sql::Predicate& p : a.predicates) {
    if (p.table < 0 || p.table >= e->table_count) continue;
    // The tenant column names the tenant: it says nothing about the tenant's own access pattern.
    const auto ti = static_cast<size_t>(p.table);
    const catalog::Table* table = ti < route.tables.size() ? route.tables[ti] : nullptr;
    if (table != nullptr && table->kind == catalog::TableKind::kDistributed && p.column == table->tenant_column) continue;
    AddPredicate(e, p, bound);
  }
  e->join_count = 0;
  for (const sql::JoinPair& j : a.joins) {
    if (j.left_table < 0 || j.right_table < 0 || j.left_table >= e->table_count || j.right_table >= e->table_count) continue;
    if (e->join_count >= QueryEvent::kMaxJoins) {
      e->truncated = true;
      break;
    }
    EventJoin& out = e->joins[e->join_count++];
    out.left_table = static_cast<uint8_t>(j.left_table);
    out.right_table = static_cast<uint8_t>(j.right_table);
    out.left_column.Set(j.left_column);
    out.right_column.Set(j.right_column);
  }
}

int64_t RowsFromTag(std::string_view tag) {
  while (!tag.empty() && tag.back() == '\0') tag.remove_suffix(1);
  const size_t space = tag.rfind(' ');
  if (space == std::string_view::npos) return 0;
  int64_t rows = 0;
  const char* end = tag.data() + tag.size();
  if (std::from_chars(tag.data() + space + 1, end, rows).ptr != end) return 0;
  return rows;
}

std::string NormalizedText(std::string_view sql, const std::vector<sql::Literal>& literals) {
  std::string out;
  out.reserve(sql.size());
  size_t pos = 0;
  auto append = [&](std::string_view part) {
    for (char c : part) {
      const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
      if (space) {
        if (!out.empty() && out.back() != ' ') out.push_back(' ');
      } else {
        out.push_back(c);
      }
    }
  };
  for (const sql::Literal& lit : literals) {
    if (lit.begin < static_cast<int>(pos) || static_cast<size_t>(lit.end) > sql.size()) continue;
    append(sql.substr(pos, static_cast<size_t>(lit.begin) - pos));
    out.push_back('?');
    pos = static_cast<size_t>(lit.end);
  }
  append(sql.substr(pos));
  while (!out.empty() && (out.back() == ' ' || out.back() == ';')) out.pop_back();
  return out;
}

}  // namespace mosaic::monitor
