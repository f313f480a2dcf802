// Subqueries Mosaic runs before their statement: finding them in libpg_query's JSON parse tree
// and writing their results back into the text.
//
// Byte ranges come from the parse tree's start locations and the shape lexer's tokens (the tree
// has no end locations): a subquery is the parenthesised region around it. Nothing here throws
// out of the two entry points; a tree of an unexpected form gives kNone (the statement is then
// refused as before).
#include "sql/subplan.h"

#include <fmt/format.h>
#include <pg_query.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "sql/lexer.h"
#include "sql/parse_tree.h"

namespace mosaic::sql {
namespace {

using namespace parse_tree;  // NOLINT: the tree readers are this file's vocabulary

// The smallest and largest start locations anywhere under `node` (*lo stays INT_MAX when none).
void Locations(const Json& node, int* lo, int* hi) {
  if (node.is_array()) {
    for (const Json& n : node) Locations(n, lo, hi);
  } else if (node.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (it.key() == "location" && it.value().is_number_integer()) {
        const int at = it.value().get<int>();
        if (at >= 0) {
          *lo = std::min(*lo, at);
          *hi = std::max(*hi, at);
        }
      } else {
        Locations(it.value(), lo, hi);
      }
    }
  }
}

bool ReadsTables(const Json& node) {
  if (node.is_array()) return std::any_of(node.begin(), node.end(), ReadsTables);
  if (!node.is_object()) return false;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (it.key() == "RangeVar" || ReadsTables(it.value())) return true;
  }
  return false;
}

// ---- Tokens --------------------------------------------------------------------------------

struct Tokens {
  std::string_view sql;
  std::vector<Token> toks;
  std::vector<int> match;  // "(": index of its ")"; -1 otherwise

  explicit Tokens(std::string_view text) : sql(text) {
    std::vector<int> open;
    int pos = 0;
    for (;;) {
      const Token t = NextToken(sql, &pos);
      if (t.kind == Token::Kind::kEnd || t.kind == Token::Kind::kError) break;
      toks.push_back(t);
      match.push_back(-1);
      if (Is(toks.size() - 1, '(')) {
        open.push_back(static_cast<int>(toks.size() - 1));
      } else if (Is(toks.size() - 1, ')') && !open.empty()) {
        match[static_cast<size_t>(open.back())] = static_cast<int>(toks.size() - 1);
        open.pop_back();
      }
    }
  }
  bool Is(size_t i, char c) const {
    return i < toks.size() && toks[i].kind == Token::Kind::kPunct && toks[i].end - toks[i].begin == 1 &&
           sql[static_cast<size_t>(toks[i].begin)] == c;
  }
  bool IsWord(size_t i, std::string_view word) const {
    if (i >= toks.size() || toks[i].kind != Token::Kind::kIdent) return false;
    const std::string_view t = sql.substr(static_cast<size_t>(toks[i].begin), static_cast<size_t>(toks[i].end - toks[i].begin));
    return t.size() == word.size() &&
           std::equal(t.begin(), t.end(), word.begin(), [](char a, char b) { return (a | 0x20) == b; });
  }
  // Index of the first token starting at or after `offset`.
  size_t At(int offset) const {
    size_t i = 0;
    while (i < toks.size() && toks[i].begin < offset) ++i;
    return i;
  }
  // The region "( ... )" opened by token i: {begin of "(", end of ")"}; {-1,-1} if unmatched.
  std::pair<int, int> Region(size_t i) const {
    if (!Is(i, '(') || match[i] < 0) return {-1, -1};
    return {toks[i].begin, toks[static_cast<size_t>(match[i])].end};
  }
  // The first parenthesised region from token i on.
  std::pair<int, int> NextRegion(size_t i) const {
    while (i < toks.size() && !Is(i, '(')) ++i;
    return Region(i);
  }
  // The innermost region that starts with a query and holds [lo, hi] (strictly after its "(").
  std::pair<int, int> QueryAround(int lo, int hi) const {
    std::pair<int, int> best{-1, -1};
    for (size_t i = 0; i + 1 < toks.size() && toks[i].begin < lo; ++i) {
      const auto r = Region(i);
      if (r.first < 0 || r.second <= hi || r.first < best.first) continue;
      if (IsWord(i + 1, "select") || IsWord(i + 1, "with") || IsWord(i + 1, "values") || IsWord(i + 1, "table") ||
          Is(i + 1, '(')) {
        best = r;
      }
    }
    return best;
  }
};

// Where the target expression ends that goes on at byte `from` (before the "," or keyword that
// follows it, or the end of the text).
int TargetEnd(const Tokens& tk, int from) {
  static constexpr std::string_view kEnds[] = {"from",  "where", "group",     "having", "window", "order", "limit",
                                               "offset", "fetch", "for", "into", "union",  "intersect", "except"};
  int depth = 0, end = from;
  for (size_t i = tk.At(from); i < tk.toks.size(); ++i) {
    if (tk.Is(i, '(') || tk.Is(i, '[')) {
      ++depth;
    } else if (tk.Is(i, ')') || tk.Is(i, ']')) {
      if (depth-- == 0) break;
    } else if (depth == 0 && (tk.Is(i, ',') || tk.Is(i, ';') ||
                              std::any_of(std::begin(kEnds), std::end(kEnds), [&](std::string_view w) { return tk.IsWord(i, w); }))) {
      break;
    }
    end = tk.toks[i].end;
  }
  return end;
}

// Whether `sublink` is what names an output column of `select`: the value of a target without
// an alias, or under casts and COLLATE there (PostgreSQL names such a column after the subquery).
bool NamesTarget(const Json& select, const Json* sublink) {
  for (const Json& target : Items(select, "targetList")) {
    if (TypeOf(target) != "ResTarget" || Get(target.begin().value(), "name") != nullptr) continue;
    const Json* val = Get(target.begin().value(), "val");
    while (val != nullptr && (TypeOf(*val) == "TypeCast" || TypeOf(*val) == "CollateClause")) {
      val = Get(val->begin().value(), "arg");
    }
    if (val != nullptr && TypeOf(*val) == "SubLink" && &val->begin().value() == sublink) return true;
  }
  return false;
}

std::string Inside(std::string_view sql, std::pair<int, int> region) {
  return std::string(sql.substr(static_cast<size_t>(region.first) + 1,
                                static_cast<size_t>(region.second - region.first - 2)));
}

// ---- Correlation ---------------------------------------------------------------------------

// Names a FROM item makes visible to column references.
void FromNames(const Json& item, std::vector<std::string>* names) {
  const std::string_view type = TypeOf(item);
  if (type.empty()) return;
  const Json& body = item.begin().value();
  const Json* alias = Get(body, "alias");
  if (alias != nullptr) names->emplace_back(Str(*alias, "aliasname"));
  if (type == "RangeVar" && alias == nullptr) names->emplace_back(Str(body, "relname"));
  if (type == "JoinExpr") {
    if (const Json* l = Get(body, "larg")) FromNames(*l, names);
    if (const Json* r = Get(body, "rarg")) FromNames(*r, names);
  }
  if (type == "RangeFunction" && alias == nullptr) {
    for (const Json& f : Items(body, "functions")) {
      for (const Json& part : f.is_object() ? Items(f.begin().value(), "items") : f) {
        if (TypeOf(part) == "FuncCall") {
          const Json& fn = Items(part.begin().value(), "funcname");
          if (!fn.empty()) names->emplace_back(StringOf(fn.back()));
        }
      }
    }
  }
}

// The qualifier of a column reference under `node` that names nothing visible to it ("LATERAL"
// for a LATERAL subquery or function): the subquery refers to its outer query. "" when none.
std::string OuterReference(const Json& node, std::vector<std::string>* visible) {
  if (node.is_array()) {
    for (const Json& n : node) {
      if (std::string q = OuterReference(n, visible); !q.empty()) return q;
    }
    return "";
  }
  if (!node.is_object()) return "";
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string& key = it.key();
    const Json& body = it.value();
    if (key == "SelectStmt") {
      const size_t mark = visible->size();
      if (const Json* with = Get(body, "withClause")) {
        for (const Json& cte : Items(*with, "ctes")) {
          if (TypeOf(cte) == "CommonTableExpr") visible->emplace_back(Str(Body(cte), "ctename"));
        }
      }
      for (const Json& item : Items(body, "fromClause")) FromNames(item, visible);
      std::string q = OuterReference(body, visible);
      visible->resize(mark);
      if (!q.empty()) return q;
      continue;
    }
    if ((key == "RangeSubselect" || key == "RangeFunction") && body.is_object() && body.value("lateral", false)) {
      return "LATERAL";
    }
    if (key == "ColumnRef") {
      const Json& fields = Items(body, "fields");
      if (fields.size() >= 2) {
        const std::string q(StringOf(fields[fields.size() - 2]));
        if (!q.empty() && std::find(visible->begin(), visible->end(), q) == visible->end()) return q;
      }
      continue;
    }
    if (std::string q = OuterReference(body, visible); !q.empty()) return q;
  }
  return "";
}

Status Correlated(std::string_view what, const std::string& name) {
  if (name == "LATERAL") {
    return Status::Unsupported(fmt::format(
        "this SELECT reads several nodes and {} is LATERAL: Mosaic runs such a subquery on its own before the "
        "statement, which a LATERAL one cannot; filter it to one tenant or range so it runs on one node",
        what));
  }
  return Status::Unsupported(fmt::format(
      "this SELECT reads several nodes and {} refers to \"{}\" of its outer query (a correlated subquery): Mosaic "
      "runs a subquery over several nodes on its own before the statement, which a correlated one cannot; "
      "rewrite it as a join on the tenant column, or filter it to one tenant or range so it runs on one node",
      what, name));
}

Result<bool> CheckUncorrelated(const Json& select, std::string_view what) {
  std::vector<std::string> visible;
  const Json wrapped = Json{{"SelectStmt", select}};
  const std::string outer = OuterReference(wrapped, &visible);
  if (!outer.empty()) return Correlated(what, outer);
  return true;
}

// ---- Finding the next step -----------------------------------------------------------------

// References to the CTE `name` under `node` (RangeVars without a schema): their locations and
// whether each has an alias. False when a nested WITH defines the name again.
bool CteReferences(const Json& node, const std::string& name, std::vector<std::pair<int, bool>>* refs) {
  if (node.is_array()) {
    return std::all_of(node.begin(), node.end(), [&](const Json& n) { return CteReferences(n, name, refs); });
  }
  if (!node.is_object()) return true;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (it.key() == "CommonTableExpr" && Str(it.value(), "ctename") == name) return false;
    if (it.key() == "RangeVar") {
      const Json& rv = it.value();
      if (Str(rv, "relname") == name && Str(rv, "schemaname").empty() &&
          Str(rv, "catalogname").empty()) {
        refs->emplace_back(rv.value("location", -1), Get(rv, "alias") != nullptr);
      }
      continue;
    }
    if (!CteReferences(it.value(), name, refs)) return false;
  }
  return true;
}

Result<SubplanStep> CteStep(const Tokens& tk, const Json& select, const Json& with) {
  SubplanStep none;
  if (with.value("recursive", false)) return none;
  const Json& ctes = Items(with, "ctes");
  if (ctes.empty() || TypeOf(ctes[0]) != "CommonTableExpr") return none;
  const Json& cte = ctes[0].begin().value();
  const Json* query = Get(cte, "ctequery");
  if (query == nullptr || TypeOf(*query) != "SelectStmt") return none;  // data-modifying
  SubplanStep step;
  step.kind = SubplanStep::Kind::kCte;
  step.name = std::string(Str(cte, "ctename"));
  for (const Json& c : Items(cte, "aliascolnames")) step.columns.emplace_back(StringOf(c));
  // name [(columns)] AS [NOT] [MATERIALIZED] (query)
  size_t i = tk.At(cte.value("location", -1));
  if (i == 0 || !tk.IsWord(i - 1, "with")) return none;
  const int with_begin = tk.toks[i - 1].begin;
  ++i;
  if (tk.Is(i, '(')) i = static_cast<size_t>(std::max(tk.match[i], 0)) + 1;
  if (!tk.IsWord(i, "as")) return none;
  ++i;
  if (tk.IsWord(i, "not")) ++i;
  if (tk.IsWord(i, "materialized")) ++i;
  const auto body = tk.Region(i);
  if (body.first < 0) return none;
  step.open = body.first;
  step.close = body.second;
  step.query = Inside(tk.sql, body);
  if (auto ok = CheckUncorrelated(query->begin().value(), fmt::format("the WITH query \"{}\"", step.name)); !ok.ok()) {
    return ok.status();
  }
  // References: in the later CTEs and the statement itself.
  std::vector<std::pair<int, bool>> refs;
  for (size_t k = 1; k < ctes.size(); ++k) {
    if (!CteReferences(ctes[k], step.name, &refs)) return none;
  }
  for (auto it = select.begin(); it != select.end(); ++it) {
    if (it.key() != "withClause" && !CteReferences(it.value(), step.name, &refs)) return none;
  }
  for (const auto& [at, aliased] : refs) {
    const size_t t = tk.At(at);
    if (t >= tk.toks.size() || tk.toks[t].begin != at) return none;
    step.refs.emplace_back(tk.toks[t].begin, tk.toks[t].end);
    step.ref_aliased.push_back(aliased);
  }
  if (ctes.size() == 1) {
    step.remove_begin = with_begin;
    step.remove_end = step.close;
  } else {
    // Up to the next definition's name: the comma after this one goes too.
    const int next = ctes[1].begin().value().value("location", -1);
    if (next < 0) return none;
    step.remove_begin = tk.toks[tk.At(cte.value("location", -1))].begin;
    step.remove_end = next;
  }
  return step;
}

struct Candidates {
  const Json* sublink = nullptr;
  const Json* derived = nullptr;
  // (row) op (subquery) (a row comparison): the subquery and the row's width.
  std::vector<std::pair<const Json*, int>> row_compared;
  bool unsupported = false;  // a subquery of a kind that cannot run first
  Status refused;            // a LATERAL subquery
};

void FindCandidates(const Json& node, Candidates* c) {
  if (node.is_array()) {
    for (const Json& n : node) FindCandidates(n, c);
    return;
  }
  if (!node.is_object()) return;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string& key = it.key();
    const Json& body = it.value();
    if (key == "SubLink") {
      const std::string_view type = Str(body, "subLinkType");
      if (type != "EXISTS_SUBLINK" && type != "ANY_SUBLINK" && type != "ALL_SUBLINK" && type != "EXPR_SUBLINK" &&
          type != "ARRAY_SUBLINK") {
        c->unsupported = true;
      }
      if (c->sublink == nullptr) c->sublink = &body;
      if (const Json* test = Get(body, "testexpr")) FindCandidates(*test, c);
    } else if (key == "A_Expr") {
      const Json* l = Get(body, "lexpr");
      const Json* r = Get(body, "rexpr");
      if (l != nullptr && r != nullptr && TypeOf(*l) == "RowExpr" && TypeOf(*r) == "SubLink") {
        c->row_compared.emplace_back(&r->begin().value(), static_cast<int>(Items(l->begin().value(), "args").size()));
      }
      FindCandidates(body, c);
    } else if (key == "RangeSubselect") {
      if (body.value("lateral", false)) {
        if (c->refused.ok()) c->refused = Correlated("a subquery in FROM", "LATERAL");
      } else if (c->derived == nullptr && ReadsTables(body)) {
        c->derived = &body;
      }
    } else if (key == "SelectStmt") {
      c->unsupported = true;  // a query where none was expected
    } else {
      FindCandidates(body, c);
    }
  }
}

Result<SubplanStep> SublinkStep(const Tokens& tk, const Json& sublink) {
  SubplanStep none;
  const Json* sub = Get(sublink, "subselect");
  if (sub == nullptr || TypeOf(*sub) != "SelectStmt") return none;
  const std::string_view type = Str(sublink, "subLinkType");
  const int at = sublink.value("location", -1);
  if (at < 0) return none;
  SubplanStep step;
  const size_t i = tk.At(at);
  step.begin = at;
  const auto region = tk.NextRegion(i);
  if (region.first < 0) return none;
  step.open = region.first;
  step.close = region.second;
  step.query = Inside(tk.sql, region);
  if (type == "EXISTS_SUBLINK") {
    step.kind = SubplanStep::Kind::kExists;
  } else if (type == "EXPR_SUBLINK") {
    step.kind = SubplanStep::Kind::kScalar;
  } else if (type == "ARRAY_SUBLINK") {
    step.kind = SubplanStep::Kind::kArray;
  } else {
    step.kind = Items(sublink, "operName").empty() ? SubplanStep::Kind::kIn : SubplanStep::Kind::kAny;
    step.negated = step.kind == SubplanStep::Kind::kIn && tk.IsWord(i, "not");
    if (const Json* test = Get(sublink, "testexpr"); test != nullptr && TypeOf(*test) == "RowExpr") {
      step.row_width = static_cast<int>(Items(test->begin().value(), "args").size());
    }
  }
  if (auto ok = CheckUncorrelated(sub->begin().value(), "a subquery"); !ok.ok()) return ok.status();
  return step;
}

Result<SubplanStep> DerivedStep(const Tokens& tk, const Json& derived) {
  SubplanStep none;
  const Json* sub = Get(derived, "subquery");
  if (sub == nullptr || TypeOf(*sub) != "SelectStmt") return none;
  int lo = INT_MAX, hi = -1;
  Locations(*sub, &lo, &hi);
  if (lo == INT_MAX) return none;
  const auto region = tk.QueryAround(lo, hi);
  if (region.first < 0) return none;
  SubplanStep step;
  step.kind = SubplanStep::Kind::kDerived;
  step.open = region.first;
  step.close = region.second;
  step.query = Inside(tk.sql, region);
  if (auto ok = CheckUncorrelated(sub->begin().value(), "a subquery in FROM"); !ok.ok()) return ok.status();
  return step;
}

// ---- Writing results -----------------------------------------------------------------------

std::string Constant(const std::optional<std::string>& v, const std::string& type) {
  if (!v) return "NULL::" + type;
  const bool backslash = v->find('\\') != std::string::npos;
  std::string out = backslash ? "E'" : "'";
  for (char c : *v) {
    if (c == '\'' || (backslash && c == '\\')) out.push_back(c);
    out.push_back(c);
  }
  return out + "'::" + type;
}

std::string QuoteName(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back(c);
    out.push_back(c);
  }
  return out + "\"";
}

bool IsArrayType(const std::string& type) { return type.size() > 2 && type.ends_with("]"); }

// character(n): compared with its trailing blanks ignored, where text and varchar count them.
bool BlankPadded(const std::string& type) {
  return type == "bpchar" || type == "character" || type.starts_with("character(");
}

// Results of more rows than this are written as array constants where they can be: an IN list
// lets the router prune by its values, but costs its analysis one node per value.
constexpr size_t kListRows = 1000;

// "(c, c, ...)" of row r, or its one constant when `bare`.
std::string RowText(const SubplanResult& res, size_t r, bool bare) {
  std::string out = bare ? "" : "(";
  for (size_t c = 0; c < res.types.size(); ++c) {
    if (c > 0) out += ", ";
    out += Constant(res.rows[r][c], res.types[c]);
  }
  return bare ? out : out + ")";
}

// Column `c` of every row as one array constant ('{"v1",NULL}'::type[]). REQUIRES: the column's
// type is not an array type (its values would become a dimension of the array).
std::string ArrayConstant(const SubplanResult& res, size_t c) {
  std::string array = "{";
  for (size_t r = 0; r < res.rows.size(); ++r) {
    if (r > 0) array.push_back(',');
    const std::optional<std::string>& v = res.rows[r][c];
    if (!v) {
      array += "NULL";
      continue;
    }
    array.push_back('"');
    for (char ch : *v) {
      if (ch == '"' || ch == '\\') array.push_back('\\');
      array.push_back(ch);
    }
    array.push_back('"');
  }
  return Constant(array + "}", res.types[c] + "[]");
}

// ARRAY[c, ...]::type[] of the one column: also for an array type (a dimension more).
std::string ArrayOfValues(const SubplanResult& res) {
  std::string out = "ARRAY[";
  for (size_t r = 0; r < res.rows.size(); ++r) {
    if (r > 0) out += ", ";
    out += RowText(res, r, true);
  }
  return out + "]::" + res.types[0] + "[]";
}

// A query without tables that returns `res` under `names`: VALUES rows, or for more than
// kListRows rows (and no array column) unnest() of one array constant per column, which costs
// Mosaic's analyzer and the node's parser one literal instead of one per value.
std::string RowsQuery(const SubplanResult& res, const std::vector<std::string>& names) {
  std::string out = "SELECT ";
  for (size_t c = 0; c < res.types.size(); ++c) {
    if (c > 0) out += ", ";
    out += res.rows.empty() ? "NULL::" + res.types[c] : fmt::format("mosaic_c{}", c + 1);
    out += " AS " + QuoteName(c < names.size() ? names[c] : res.names[c]);
  }
  if (res.rows.empty()) return out + " WHERE false";
  if (res.rows.size() > kListRows && std::none_of(res.types.begin(), res.types.end(), IsArrayType)) {
    out += " FROM unnest(";
    for (size_t c = 0; c < res.types.size(); ++c) out += (c > 0 ? ", " : "") + ArrayConstant(res, c);
  } else {
    out += " FROM (VALUES ";
    for (size_t r = 0; r < res.rows.size(); ++r) out += (r > 0 ? ", " : "") + RowText(res, r, false);
  }
  out += ") AS mosaic_values(";
  for (size_t c = 0; c < res.types.size(); ++c) out += fmt::format("{}mosaic_c{}", c > 0 ? ", " : "", c + 1);
  return out + ")";
}

// PostgreSQL's errors for a subquery of the wrong width: as a value (`expression`), or compared
// with `width` columns.
Status Width(const SubplanResult& res, int width, bool expression) {
  if (res.types.size() == static_cast<size_t>(width)) return Status::OK();
  if (expression) return Status::Error(sqlstate::kSyntaxError, "subquery must return only one column");
  return Status::Error(sqlstate::kSyntaxError, res.types.size() > static_cast<size_t>(width)
                                                   ? "subquery has too many columns"
                                                   : "subquery has too few columns");
}

Status CannotWrite(std::string_view why) {
  return Status::Unsupported(fmt::format(
      "this SELECT reads several nodes and Mosaic ran its subquery first, but {}; filter the statement to one "
      "tenant or range so it runs on one node",
      why));
}

// The text replacing [*from, *to) for a step other than kCte.
Result<std::string> Replacement(const SubplanStep& step, const SubplanResult& res, int* from, int* to) {
  using K = SubplanStep::Kind;
  *from = step.open;
  *to = step.close;
  switch (step.kind) {
    case K::kExists:
      *from = step.begin;
      return std::string(res.rows.empty() ? "false" : "true");
    case K::kScalar: {
      if (Status s = Width(res, step.row_width, step.row_width == 1); !s.ok()) return s;
      if (res.rows.size() > 1) {
        return Status::Error("21000", "more than one row returned by a subquery used as an expression");
      }
      std::string out = "(";
      for (size_t c = 0; c < res.types.size(); ++c) {
        out += (c > 0 ? ", " : "") + Constant(res.rows.empty() ? std::nullopt : res.rows[0][c], res.types[c]);
      }
      return out + ")";  // a row of two or more values when compared with a row
    }
    case K::kArray:
      if (Status s = Width(res, 1, true); !s.ok()) return s;
      *from = step.begin;
      return "(" + (IsArrayType(res.types[0]) ? ArrayOfValues(res) : ArrayConstant(res, 0)) + ")";
    case K::kAny:
      if (step.row_width != 1) return CannotWrite("it compares a row with op ANY/ALL");
      if (Status s = Width(res, 1, false); !s.ok()) return s;
      if (IsArrayType(res.types[0])) return CannotWrite("it returns arrays, which ANY/ALL over an array would unnest");
      return "(" + ArrayConstant(res, 0) + ")";
    case K::kIn: {
      if (Status s = Width(res, step.row_width, false); !s.ok()) return s;
      const bool as_array = step.row_width == 1 && !IsArrayType(res.types[0]);
      // x IN (a, b) compares in the type common to x, a and b, while x IN (SELECT ...) and
      // x = ANY (array) use x's operator with the column's type: for a varchar x and char(n)
      // values the list would compare as text (trailing blanks count), the subquery as char(n).
      const bool padded = as_array && res.rows.size() > 1 && BlankPadded(res.types[0]);
      if (!res.rows.empty() && !padded && (res.rows.size() <= kListRows || !as_array)) {
        std::string out = "(";
        for (size_t r = 0; r < res.rows.size(); ++r) out += (r > 0 ? ", " : "") + RowText(res, r, step.row_width == 1);
        return out + ")";
      }
      // No row (x IN () is false whatever x is, NOT IN true) or many: = ANY / <> ALL an array.
      if (!as_array) {
        return CannotWrite("it returned no row, and Mosaic writes an empty IN list only for one column of a non-array type");
      }
      *from = step.begin;
      return fmt::format("{} ({})", step.negated ? "<> ALL" : "= ANY", ArrayConstant(res, 0));
    }
    case K::kDerived:
      return "(" + RowsQuery(res, {}) + ")";
    default:
      return Status::Internal("subplan: no replacement for this step");
  }
}

}  // namespace

Result<SubplanStep> NextSubplan(std::string_view sql) {
  SubplanStep none;
  const std::string text(sql);
  PgQueryParseResult parsed = pg_query_parse(text.c_str());
  Json tree;
  const bool ok = parsed.error == nullptr && parsed.parse_tree != nullptr;
  if (ok) tree = Json::parse(parsed.parse_tree, nullptr, /*allow_exceptions=*/false);
  pg_query_free_parse_result(parsed);
  const Json& stmts = Items(tree, "stmts");
  if (!ok || stmts.size() != 1) return none;
  const Json* stmt = Get(stmts[0], "stmt");
  if (stmt == nullptr) return none;
  const std::string_view type = TypeOf(*stmt);
  const bool write = type == "UpdateStmt" || type == "DeleteStmt";
  if (type != "SelectStmt" && !write) return none;
  const Json& select = stmt->begin().value();  // or the UPDATE / DELETE
  if (!write && (Str(select, "op") != "SETOP_NONE" || Get(select, "intoClause") != nullptr ||
                 !Items(select, "lockingClause").empty())) {
    return none;
  }
  const Tokens tk(sql);
  if (const Json* with = Get(select, "withClause")) return CteStep(tk, select, *with);
  Candidates c;
  if (write) {
    // Its SET values, WHERE, FROM / USING; not RETURNING, whose subquery would name an output
    // column (left as it is: the statement stays refused).
    Candidates returned;
    if (const Json* returning = Get(select, "returningList")) FindCandidates(*returning, &returned);
    if (returned.sublink != nullptr || returned.derived != nullptr) return none;
  }
  FindCandidates(select, &c);
  if (!c.refused.ok()) return c.refused;
  if (c.unsupported) return none;
  if (c.sublink != nullptr) {
    auto step = SublinkStep(tk, *c.sublink);
    for (const auto& [sublink, width] : c.row_compared) {
      if (sublink == c.sublink && step.ok()) step.value().row_width = width;
    }
    if (!write && step.ok() && step.value().kind != SubplanStep::Kind::kIn && step.value().kind != SubplanStep::Kind::kAny &&
        NamesTarget(select, c.sublink)) {
      step.value().name_at = TargetEnd(tk, step.value().close);
    }
    return step;
  }
  if (c.derived != nullptr) return DerivedStep(tk, *c.derived);
  return none;
}

Result<std::string> SubstituteSubplan(std::string_view sql, const SubplanStep& step, const SubplanResult& res,
                                      size_t max_bytes) {
  // EXISTS uses no value; an unused CTE is only dropped.
  const bool values = step.kind != SubplanStep::Kind::kExists && !(step.kind == SubplanStep::Kind::kCte && step.refs.empty());
  if (values && res.types.empty()) return CannotWrite("it returns no columns");
  for (size_t c = 0; values && c < res.types.size(); ++c) {
    if (res.types[c].empty()) {
      return CannotWrite(fmt::format("its column \"{}\" has a user-defined type (enum, domain, composite, ...), "
                                     "whose values Mosaic cannot write back as constants",
                                     res.names[c]));
    }
  }
  for (const auto& row : res.rows) {
    if (values && row.size() != res.types.size()) return Status::Internal("subplan: a row of the wrong width");
  }
  std::vector<std::pair<std::pair<int, int>, std::string>> edits;  // in text order
  if (step.kind == SubplanStep::Kind::kCte) {
    const std::string rows = values ? RowsQuery(res, step.columns) : std::string();
    bool removed = false;
    for (size_t i = 0; i < step.refs.size(); ++i) {
      if (!removed && step.refs[i].first > step.remove_begin) {
        edits.push_back({{step.remove_begin, step.remove_end}, ""});
        removed = true;
      }
      edits.push_back({step.refs[i], "(" + rows + ")" + (step.ref_aliased[i] ? "" : " AS " + QuoteName(step.name))});
    }
    if (!removed) edits.push_back({{step.remove_begin, step.remove_end}, ""});
    std::sort(edits.begin(), edits.end(), [](const auto& a, const auto& b) { return a.first.first < b.first.first; });
  } else {
    int from = -1, to = -1;
    auto text = Replacement(step, res, &from, &to);
    if (!text.ok()) return text.status();
    edits.push_back({{from, to}, std::move(text.value())});
    if (step.name_at >= 0) {
      const std::string name = step.kind == SubplanStep::Kind::kExists  ? "exists"
                               : step.kind == SubplanStep::Kind::kArray ? "array"
                                                                         : res.names[0];
      edits.push_back({{step.name_at, step.name_at}, " AS " + QuoteName(name)});
    }
  }
  std::string out;
  size_t at = 0;
  for (const auto& [range, text] : edits) {
    out.append(sql.substr(at, static_cast<size_t>(range.first) - at));
    out.append(text);
    at = static_cast<size_t>(range.second);
    if (out.size() > max_bytes) break;
  }
  out.append(sql.substr(std::min(at, sql.size())));
  if (out.size() > max_bytes) {
    return Status::Error(sqlstate::kProgramLimitExceeded,
                         fmt::format("this SELECT reads several nodes and the result of its subquery, written as "
                                     "constants, exceeds {} MiB; narrow the subquery",
                                     max_bytes >> 20));
  }
  return out;
}

}  // namespace mosaic::sql
