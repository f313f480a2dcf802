// Statement rewrites for scatter-gather: text edits over the analysis's byte ranges.
#include "router/rewrite.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

#include "router/agg_finish.h"

namespace mosaic::router {
namespace {

using sql::Analysis;
using sql::TargetColumn;
using Agg = MergeSpec::Agg;

struct Edit {
  int begin, end;
  std::string text;
};

std::string Apply(std::string_view sql, std::vector<Edit> edits) {
  // An insertion goes before a replacement starting at the same place.
  std::stable_sort(edits.begin(), edits.end(),
                   [](const Edit& a, const Edit& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  std::string out;
  size_t pos = 0;
  for (const auto& e : edits) {
    out.append(sql.substr(pos, static_cast<size_t>(e.begin) - pos));
    out.append(e.text);
    pos = static_cast<size_t>(std::max(e.end, static_cast<int>(pos)));
  }
  out.append(sql.substr(pos));
  return out;
}

std::string_view Slice(std::string_view sql, int begin, int end) {
  if (begin < 0 || end < begin || static_cast<size_t>(end) > sql.size()) return {};
  return sql.substr(static_cast<size_t>(begin), static_cast<size_t>(end - begin));
}

// Whether the target expression `expr` is a constant every node returns alike: a number, a
// string literal, $n, NULL, TRUE or FALSE, each maybe with `::type` casts (names, spaces,
// digits, a typmod in parentheses). Text-level, conservative: anything else is not.
bool IsConstantTarget(std::string_view expr) {
  auto trim = [](std::string_view v) {
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
    return v;
  };
  expr = trim(expr);
  // Casts: strip ::type from the end while what follows the last "::" is a plain type name.
  for (size_t cast = expr.rfind("::"); cast != std::string_view::npos; cast = expr.rfind("::")) {
    const std::string_view type = expr.substr(cast + 2);
    const bool plain = !type.empty() && std::all_of(type.begin(), type.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ' ' || c == '(' || c == ')' || c == ',';
    });
    if (!plain) break;
    expr = trim(expr.substr(0, cast));
  }
  if (expr.empty()) return false;
  auto lower_equals = [&](std::string_view word) {
    return expr.size() == word.size() && std::equal(expr.begin(), expr.end(), word.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) == b;
           });
  };
  if (lower_equals("null") || lower_equals("true") || lower_equals("false")) return true;
  if (expr.front() == '$') {
    return expr.size() > 1 && std::all_of(expr.begin() + 1, expr.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  }
  if (expr.front() == '\'') {  // 'text' with '' inside, nothing after the closing quote
    if (expr.size() < 2 || expr.back() != '\'') return false;
    const std::string_view inner = expr.substr(1, expr.size() - 2);
    for (size_t i = 0; i < inner.size(); ++i) {
      if (inner[i] != '\'') continue;
      if (i + 1 >= inner.size() || inner[i + 1] != '\'') return false;
      ++i;
    }
    return true;
  }
  if (expr.front() == '-' || expr.front() == '+') expr.remove_prefix(1);
  return !expr.empty() && std::isdigit(static_cast<unsigned char>(expr.front())) &&
         std::all_of(expr.begin(), expr.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+';
         });
}

// The collations `expr` names with COLLATE: nullopt if none, else whether all of them compare
// bytes, as the merger does (C, POSIX, ucs_basic; "default" is the column's or database's).
// Text-level: a COLLATE inside a string literal counts too (a needless refusal at worst).
std::optional<bool> NamedCollationsBytewise(std::string_view expr) {
  std::optional<bool> bytewise;
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  auto word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$'; };
  for (size_t at = 0; at + 7 <= expr.size(); ++at) {
    bool match = true;
    for (size_t i = 0; i < 7 && match; ++i) match = lower(expr[at + i]) == "collate"[i];
    if (!match || (at > 0 && word_char(expr[at - 1])) || (at + 7 < expr.size() && word_char(expr[at + 7]))) continue;
    size_t p = at + 7;
    std::string name;
    while (true) {  // [schema.]name, each part quoted or not; the last part counts
      while (p < expr.size() && std::isspace(static_cast<unsigned char>(expr[p]))) ++p;
      name.clear();
      if (p < expr.size() && expr[p] == '"') {
        for (++p; p < expr.size(); ++p) {
          if (expr[p] == '"' && p + 1 < expr.size() && expr[p + 1] == '"') name += expr[++p];
          else if (expr[p] == '"') break;
          else name += expr[p];
        }
        ++p;
      } else {
        while (p < expr.size() && word_char(expr[p])) name += lower(expr[p++]);
      }
      while (p < expr.size() && std::isspace(static_cast<unsigned char>(expr[p]))) ++p;
      if (p < expr.size() && expr[p] == '.') {
        ++p;
        continue;
      }
      break;
    }
    if (name == "default") continue;  // whatever the column has: judged by the catalog
    bytewise = bytewise.value_or(true) && (name == "C" || name == "POSIX" || name == "ucs_basic");
  }
  return bytewise;
}

// The position an ORDER BY key written as an integer names ("ORDER BY 2"), or nullopt.
std::optional<int> Ordinal(std::string_view key) {
  int n = 0;
  if (key.empty() || key.size() > 5) return std::nullopt;
  for (char c : key) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

Status Refuse(std::string_view why) {
  return Status::Unsupported(fmt::format("this SELECT reads several nodes and {}", why));
}

// A LIMIT/OFFSET value as an integer; nullopt for LIMIT ALL / NULL.
Result<std::optional<int64_t>> IntValue(const sql::ValueRef& v, const Bound& bound, std::string_view clause) {
  if (v.kind == sql::ValueRef::Kind::kNull) return std::optional<int64_t>();
  if (v.kind == sql::ValueRef::Kind::kParam && v.index >= 1 &&
      static_cast<size_t>(v.index) <= bound.params.size() && bound.params[static_cast<size_t>(v.index) - 1].null) {
    return std::optional<int64_t>();
  }
  auto text = bound.Text(v);
  if (!text && v.kind == sql::ValueRef::Kind::kParam && v.index >= 1 &&
      static_cast<size_t>(v.index) <= bound.params.size()) {
    // Binary int2/int4/int8 (pgjdbc's setInt and setLong, psycopg 3's %b); unspecified is int8,
    // the type PostgreSQL gives the parameter of LIMIT and OFFSET.
    const Bound::Param& p = bound.params[static_cast<size_t>(v.index) - 1];
    if (p.binary && (p.type_oid == 0 || p.type_oid == 20 || p.type_oid == 21 || p.type_oid == 23)) {
      text = BinaryIntText(p.bytes);
    }
  }
  if (!text) return Refuse(fmt::format("its {} is not a constant Mosaic can read", clause));
  int64_t n = 0;
  std::string_view t = *text;
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  if (ec != std::errc() || p != t.data() + t.size()) {
    return Refuse(fmt::format("its {} value \"{}\" is not an integer", clause, t));
  }
  if (n < 0) {
    return Status::Error(clause == "LIMIT" ? "2201W" : "2201X",
                         fmt::format("{} must not be negative", clause));
  }
  return std::optional<int64_t>(n);
}

// `expr` under the target's output name: the alias PostgreSQL would have used is added unless one
// is written after the target.
std::string Named(std::string expr, std::string_view sql, const Analysis& a, const TargetColumn& t) {
  size_t after = static_cast<size_t>(t.text_end);
  while (after < sql.size() && std::isspace(static_cast<unsigned char>(sql[after]))) ++after;
  const bool aliased = after < static_cast<size_t>(a.targets_end) && sql[after] != ',';
  if (!aliased) expr += " AS " + QuoteIdent(t.name);
  return expr;
}

// How many output columns a star target expands to, or -1 if unknown.
int StarWidth(const Analysis& a, const catalog::ShardMap& map) {
  if (a.tables.size() != 1) return -1;
  const catalog::Table* t = ResolveTable(map, a.tables[0]);
  if (t == nullptr || t->columns.empty()) return -1;
  return static_cast<int>(t->columns.size());
}

}  // namespace

Result<ScatterSelect> RewriteSelect(std::string_view sql, const Analysis& a, const Bound& bound,
                                    const catalog::ShardMap& map) {
  ScatterSelect out;
  MergeSpec& spec = out.spec;
  if (!a.simple_select) {
    return Refuse(
        "has a shape Mosaic cannot combine yet (CTE, set operation, window function, subquery, "
        "DISTINCT ON or no FROM); filter it to one tenant or range so it runs on one node");
  }
  if (a.distinct_on) return Refuse("uses DISTINCT ON");
  // Text is merged byte by byte: fine where the tables' columns sort so (and the database's
  // default does), or where every key and min/max says COLLATE "C"; refused where a key names
  // another collation.
  bool tables_bytewise = true;
  for (const auto& ref : a.tables) {
    const catalog::Table* t = ResolveTable(map, ref);
    tables_bytewise = tables_bytewise && (t == nullptr || t->Bytewise());
  }
  bool all_named_bytewise = true;
  for (const auto& k : a.order_by) {
    const auto named = NamedCollationsBytewise(Slice(sql, k.text_begin, k.text_end));
    if (named == false) return Refuse("orders text by a collation other than C (Mosaic merges text in byte order)");
    all_named_bytewise = all_named_bytewise && named.has_value();
  }
  for (const auto& t : a.targets) {
    if (t.agg != TargetColumn::Agg::kMin && t.agg != TargetColumn::Agg::kMax) continue;
    const auto named = NamedCollationsBytewise(Slice(sql, t.arg_begin, t.arg_end));
    if (named == false) {
      return Refuse("takes min()/max() of text in a collation other than C (Mosaic compares text in byte order)");
    }
    all_named_bytewise = all_named_bytewise && named.has_value();
  }
  spec.bytewise_text = tables_bytewise || all_named_bytewise;
  std::vector<Edit> edits;
  std::vector<std::string> hidden;  // expressions appended to the target list

  // Node column of each target.
  std::vector<int> position(a.targets.size(), -1);
  int columns = 0;
  bool has_star = false;
  for (size_t i = 0; i < a.targets.size(); ++i) {
    position[i] = columns;
    if (a.targets[i].is_star) {
      has_star = true;
      int width = StarWidth(a, map);
      if (width < 0) {
        columns = -1;
        break;
      }
      columns += width;
    } else {
      columns += 1;
    }
  }
  const bool needs_positions = a.has_aggregates || !a.order_by.empty() || a.distinct || a.has_having;
  if (columns < 0) {
    if (needs_positions) return Refuse("selects * over several tables together with ORDER BY, DISTINCT or aggregates; list the columns");
    // Plain concatenation (maybe with LIMIT): outputs = every node column.
  }
  auto add_hidden = [&](std::string expr) {
    hidden.push_back(std::move(expr));
    return columns + static_cast<int>(hidden.size()) - 1;
  };

  if (a.has_aggregates || a.group_by_begin >= 0) {
    spec.aggregate = true;
    if (a.group_by_unresolved) return Refuse("groups by a grouping set or an expression Mosaic cannot locate");
    // count(DISTINCT x): the nodes group by x as well and return it; the merger counts distinct x.
    std::vector<std::string> distinct_keys;
    std::vector<int> constant_outputs;  // outputs that are constants, neither grouped nor aggregated
    if (a.having_unsupported) return Refuse("has a HAVING condition other than `aggregate op constant`");
    if (has_star) return Refuse("mixes * with aggregates");
    for (size_t i = 0; i < a.targets.size(); ++i) {
      const TargetColumn& t = a.targets[i];
      MergeSpec::Output o;
      o.column = position[i];
      o.finish = t.finish;
      if (t.finish.kind != sql::AggFinish::Kind::kNone) {
        if (auto type = FinishType(t.finish); !type.ok()) return type.status();
        if (t.agg_begin < 0) return Refuse(fmt::format("applies a cast to an aggregate in a form Mosaic cannot rewrite (\"{}\")", t.name));
        // The nodes compute the aggregate itself; the merger applies the cast after combining.
        if (t.agg != TargetColumn::Agg::kAvg && !(t.agg_distinct && t.agg == TargetColumn::Agg::kCount)) {
          edits.push_back({t.text_begin, t.text_end, Named(std::string(Slice(sql, t.agg_begin, t.agg_end)), sql, a, t)});
        }
      }
      if (t.agg_distinct && t.agg == TargetColumn::Agg::kCount) {
        std::string_view arg = Slice(sql, t.arg_begin, t.arg_end);
        if (arg.empty() || t.agg_filter) return Refuse(fmt::format("uses count(DISTINCT) in a form Mosaic cannot rewrite (\"{}\")", t.name));
        edits.push_back({t.text_begin, t.text_end, Named(std::string(arg), sql, a, t)});
        distinct_keys.emplace_back(arg);
        o.agg = Agg::kCountDistinct;
        spec.outputs.push_back(o);
        continue;
      }
      if (t.agg_distinct && t.agg != TargetColumn::Agg::kMin && t.agg != TargetColumn::Agg::kMax) {
        return Refuse(fmt::format("uses an aggregate over DISTINCT values other than count, min and max (\"{}\")", t.name));
      }
      switch (t.agg) {
        case TargetColumn::Agg::kNone: {
          if (t.contains_agg) return Refuse(fmt::format("computes an expression over aggregates (\"{}\")", t.name));
          const bool grouped = std::find(a.group_by.begin(), a.group_by.end(), static_cast<int>(i)) != a.group_by.end();
          if (!grouped) {
            // A constant (SELECT tenant_id, 5000, sum(x) ... GROUP BY tenant_id): every node
            // returns it in every group, so grouping by it too changes no group.
            if (!IsConstantTarget(Slice(sql, t.text_begin, t.text_end))) {
              return Refuse(fmt::format("has output column \"{}\" that is neither grouped nor aggregated", t.name));
            }
            constant_outputs.push_back(static_cast<int>(i));
          }
          o.agg = Agg::kNone;
          break;
        }
        case TargetColumn::Agg::kCount:
        case TargetColumn::Agg::kCountStar:
          o.agg = Agg::kCount;
          break;
        case TargetColumn::Agg::kSum: o.agg = Agg::kSum; break;
        case TargetColumn::Agg::kMin: o.agg = Agg::kMin; break;
        case TargetColumn::Agg::kMax: o.agg = Agg::kMax; break;
        case TargetColumn::Agg::kAvg: {
          std::string_view arg = Slice(sql, t.arg_begin, t.arg_end);
          if (arg.empty()) return Refuse("uses avg() in a form Mosaic cannot rewrite");
          o.agg = Agg::kAvg;
          edits.push_back({t.text_begin, t.text_end, Named(fmt::format("sum({})", arg), sql, a, t)});
          o.count_column = add_hidden(fmt::format("count({})", arg));
          break;
        }
        case TargetColumn::Agg::kOtherAgg:
          return Refuse(fmt::format("uses an aggregate Mosaic cannot combine across nodes (\"{}\")", t.name));
      }
      spec.outputs.push_back(o);
    }
    for (int g : a.group_by) spec.group_by.push_back(g);
    for (int c : constant_outputs) spec.group_by.push_back(c);
    // Group keys that are not selected: hidden outputs after the targets.
    std::vector<int> hidden_key_output;
    for (const auto& [begin, end] : a.group_by_hidden) {
      std::string_view key = Slice(sql, begin, end);
      if (key.empty()) return Refuse("groups by an expression Mosaic cannot locate");
      hidden_key_output.push_back(static_cast<int>(spec.outputs.size()));
      spec.group_by.push_back(hidden_key_output.back());
      spec.outputs.push_back({add_hidden(std::string(key)), Agg::kNone, -1, {}});
    }
    if (!hidden_key_output.empty()) spec.visible_outputs = static_cast<int>(a.targets.size());
    for (const auto& h : a.having) {
      MergeSpec::Having mh;
      mh.op = h.op;
      auto value = bound.Text(h.value);
      if (!value && h.value.kind != sql::ValueRef::Kind::kNull) return Refuse("has a HAVING value Mosaic cannot read");
      mh.value = value;
      std::string_view arg = Slice(sql, h.arg_begin, h.arg_end);
      if (h.agg_distinct && h.agg == TargetColumn::Agg::kCount && !arg.empty()) {
        mh.agg = Agg::kCountDistinct;
        mh.column = add_hidden(std::string(arg));
        distinct_keys.emplace_back(arg);
        spec.having.push_back(std::move(mh));
        continue;
      }
      if (h.agg_distinct) return Refuse("has HAVING over an aggregate of DISTINCT values other than count");
      switch (h.agg) {
        case TargetColumn::Agg::kCountStar:
          mh.agg = Agg::kCount;
          mh.column = add_hidden("count(*)");
          break;
        case TargetColumn::Agg::kCount:
          mh.agg = Agg::kCount;
          mh.column = add_hidden(fmt::format("count({})", arg));
          break;
        case TargetColumn::Agg::kSum:
          mh.agg = Agg::kSum;
          mh.column = add_hidden(fmt::format("sum({})", arg));
          break;
        case TargetColumn::Agg::kMin:
          mh.agg = Agg::kMin;
          mh.column = add_hidden(fmt::format("min({})", arg));
          break;
        case TargetColumn::Agg::kMax:
          mh.agg = Agg::kMax;
          mh.column = add_hidden(fmt::format("max({})", arg));
          break;
        case TargetColumn::Agg::kAvg:
          mh.agg = Agg::kAvg;
          mh.column = add_hidden(fmt::format("sum({})", arg));
          mh.count_column = add_hidden(fmt::format("count({})", arg));
          break;
        default:
          return Refuse("has HAVING over an aggregate Mosaic cannot combine");
      }
      if (arg.empty() && h.agg != TargetColumn::Agg::kCountStar) return Refuse("has HAVING in a form Mosaic cannot rewrite");
      spec.having.push_back(std::move(mh));
    }
    if (a.has_having) edits.push_back({a.having_begin, a.having_end, " "});
    if (!distinct_keys.empty()) {
      std::string keys;
      for (const auto& k : distinct_keys) keys += fmt::format("{}({})", keys.empty() ? "" : ", ", k);
      if (a.group_by_begin >= 0) {
        edits.push_back({a.group_by_end, a.group_by_end, ", " + keys});
      } else if (a.group_by_at >= 0) {
        edits.push_back({a.group_by_at, a.group_by_at, fmt::format(" GROUP BY {} ", keys)});
      } else {
        return Refuse("uses count(DISTINCT) in a form Mosaic cannot rewrite");
      }
    }
    for (const auto& k : a.order_by) {
      int output = k.target;
      if (output < 0 && k.group_key >= 0) output = hidden_key_output[static_cast<size_t>(k.group_key)];
      if (output < 0) return Refuse("orders aggregated results by an expression that is neither an output column nor a group key");
      spec.order_by.push_back({output, k.descending, k.nulls_first.value_or(k.descending)});
    }
    spec.presorted = false;
    spec.distinct = a.distinct;
    // Every node must return all its groups: LIMIT/OFFSET apply after merging.
    if (a.limit || a.offset) edits.push_back({a.limit_begin, a.limit_end, " "});
  } else {
    if (columns >= 0) {
      for (int c = 0; c < columns; ++c) spec.outputs.push_back({c, Agg::kNone, -1});
    }
    for (const auto& k : a.order_by) {
      int output = -1;
      const std::optional<int> ordinal = Ordinal(Slice(sql, k.text_begin, k.text_end));
      if (has_star && ordinal) {
        // A position counts the columns * expands to (the targets do not): the node's column.
        // Out of range, it stays -1 below and the nodes report it (42P10, the ORDER BY is
        // still theirs).
        if (*ordinal >= 1 && *ordinal <= columns) output = *ordinal - 1;
      } else if (k.target >= 0) {
        output = position[static_cast<size_t>(k.target)];
        if (a.targets[static_cast<size_t>(k.target)].is_star) output = -1;
      }
      if (output < 0) {
        std::string_view expr = Slice(sql, k.text_begin, k.text_end);
        if (expr.empty()) return Refuse("orders by an expression Mosaic cannot locate");
        if (a.distinct) return Refuse("uses DISTINCT with ORDER BY on an expression that is not selected");
        output = add_hidden(std::string(expr));
        spec.outputs.push_back({output, Agg::kNone, -1});
      }
      spec.order_by.push_back({output, k.descending, k.nulls_first.value_or(k.descending)});
    }
    spec.presorted = !a.distinct;
    spec.distinct = a.distinct;
    if (!hidden.empty()) spec.visible_outputs = columns;
    if (a.limit || a.offset) {
      std::optional<int64_t> limit;
      int64_t offset = 0;
      if (a.limit) {
        auto l = IntValue(*a.limit, bound, "LIMIT");
        if (!l.ok()) return l.status();
        limit = l.value();
      }
      if (a.offset) {
        auto o = IntValue(*a.offset, bound, "OFFSET");
        if (!o.ok()) return o.status();
        offset = o.value().value_or(0);
      }
      spec.limit = limit;
      spec.offset = offset;
      // Each node returns the first LIMIT + OFFSET rows (no limit if that sum is past bigint:
      // PostgreSQL takes LIMIT 9223372036854775807 OFFSET 1 as no limit at all).
      const bool capped = limit && *limit >= 0 && offset >= 0 && *limit <= std::numeric_limits<int64_t>::max() - offset;
      std::string node_limit = !capped              ? std::string(" ")
                               : a.limit_with_ties ? fmt::format(" FETCH FIRST {} ROWS WITH TIES ", *limit + offset)
                                                   : fmt::format(" LIMIT {} ", *limit + offset);
      if (a.distinct) node_limit = " ";  // duplicates across nodes: every node returns all
      edits.push_back({a.limit_begin, a.limit_end, std::move(node_limit)});
    }
  }
  spec.with_ties = a.limit_with_ties;
  if (spec.aggregate && a.limit) {
    auto l = IntValue(*a.limit, bound, "LIMIT");
    if (!l.ok()) return l.status();
    spec.limit = l.value();
  }
  if (spec.aggregate && a.offset) {
    auto o = IntValue(*a.offset, bound, "OFFSET");
    if (!o.ok()) return o.status();
    spec.offset = o.value().value_or(0);
  }
  if (!hidden.empty()) {
    std::string extra;
    for (size_t i = 0; i < hidden.size(); ++i) extra += fmt::format(", {} AS mosaic_h{}", hidden[i], i + 1);
    edits.push_back({a.targets_end, a.targets_end, std::move(extra)});
  }
  if (columns >= 0) spec.node_columns = columns + static_cast<int>(hidden.size());
  out.sql = Apply(sql, std::move(edits));
  return out;
}

std::string InsertWithRows(std::string_view sql, const Analysis& a, const std::vector<int>& rows) {
  std::string text;
  for (int r : rows) {
    const auto& row = a.insert_rows[static_cast<size_t>(r)];
    if (!text.empty()) text += ", ";
    text.append(Slice(sql, row.text_begin, row.text_end));
  }
  return Apply(sql, {{a.values_begin, a.values_end, std::move(text)}});
}

namespace {

// Built-in types a parameter may be inlined as (OIDs are fixed in PostgreSQL's catalog), by
// their internal names: `bpchar` keeps the value's length where `character` would cut it to one.
std::string_view BuiltinTypeName(uint32_t oid) {
  switch (oid) {
    case 16: return "bool";
    case 17: return "bytea";
    case 20: return "int8";
    case 21: return "int2";
    case 23: return "int4";
    case 25: return "text";
    case 114: return "json";
    case 700: return "float4";
    case 701: return "float8";
    case 1042: return "bpchar";
    case 1043: return "varchar";
    case 1082: return "date";
    case 1083: return "time";
    case 1114: return "timestamp";
    case 1184: return "timestamptz";
    case 1186: return "interval";
    case 1700: return "numeric";
    case 2950: return "uuid";
    case 3802: return "jsonb";
    default: return {};
  }
}

// A parameter's value as a constant: NULL, or a string literal (E'' when it holds a backslash,
// so that standard_conforming_strings does not matter); in CAST(... AS type) when typed.
std::string InlinedValue(const Bound::Param& p, std::string_view value, std::string_view type) {
  std::string literal;
  if (p.null) {
    literal = "NULL";
  } else {
    if (value.find('\\') != std::string_view::npos) literal += 'E';
    literal += '\'';
    for (char c : value) {
      if (c == '\'' || c == '\\') literal += c;
      literal += c;
    }
    literal += '\'';
  }
  if (type.empty()) return literal;
  return fmt::format("CAST({} AS pg_catalog.{})", literal, type);
}

}  // namespace

Result<std::string> InlineParams(std::string_view sql, const Bound& bound) {
  std::string out;
  out.reserve(sql.size() + 32 * bound.params.size());
  int pos = 0, copied = 0;
  for (sql::Token t = sql::NextToken(sql, &pos); t.kind != sql::Token::Kind::kEnd; t = sql::NextToken(sql, &pos)) {
    if (t.kind != sql::Token::Kind::kParam) continue;
    const std::string_view digits = sql.substr(static_cast<size_t>(t.begin) + 1, static_cast<size_t>(t.end - t.begin) - 1);
    size_t n = 0;
    if (std::from_chars(digits.data(), digits.data() + digits.size(), n).ptr != digits.data() + digits.size() || n < 1 ||
        n > bound.params.size()) {
      return Status::Error("08P01", fmt::format("there is no parameter ${}", digits));
    }
    const Bound::Param& p = bound.params[n - 1];
    const std::string_view type = BuiltinTypeName(p.type_oid);
    if (p.type_oid != 0 && type.empty()) {
      return Status::Unsupported(fmt::format(
          "parameter ${} is of a type (OID {}) Mosaic cannot write into a statement it runs in steps; send it "
          "as text with an unspecified type, or use a simple query",
          n, p.type_oid));
    }
    std::string value;
    if (!p.null && p.binary) {
      auto text = (p.type_oid == 20 || p.type_oid == 21 || p.type_oid == 23) ? BinaryIntText(p.bytes) : std::nullopt;
      if (!text) {
        return Status::Unsupported(fmt::format(
            "parameter ${} is sent in binary: Mosaic writes a parameter into a statement it runs in steps only "
            "from text format; send it in text format, or use a simple query",
            n));
      }
      value = std::move(*text);
    } else if (!p.null) {
      value.assign(p.bytes);
    }
    out.append(sql.substr(static_cast<size_t>(copied), static_cast<size_t>(t.begin - copied)));
    out += InlinedValue(p, value, type);
    copied = t.end;
  }
  out.append(sql.substr(static_cast<size_t>(copied)));
  return out;
}

}  // namespace mosaic::router
