// Statement analysis: libpg_query's JSON parse tree walked into an Analysis, and the shape cache.
//
// The walk never throws out of Analyze(): the tree comes from libpg_query, and anything of an
// unexpected form becomes "opaque"/kOther rather than an error. Byte ranges are computed with the
// shape lexer's tokens (sql/lexer.h), because the parse tree carries only start locations.
#include "sql/analyzer.h"

#include <pg_query.h>

#include <algorithm>
#include <array>
#include <functional>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "sql/parse_tree.h"

namespace mosaic::sql {
namespace {

using Json = nlohmann::json;
using namespace parse_tree;  // NOLINT: the tree readers are this file's vocabulary

// ---- Reading the parse tree (helpers in sql/parse_tree.h) ---------------------------------------

// The last component of a qualified name list (funcname, typeName.names).
std::string_view LastName(const Json& names) {
  return names.is_array() && !names.empty() ? StringOf(names.back()) : "";
}

// funcname of a FuncCall when unqualified or pg_catalog-qualified; "" otherwise.
std::string_view BuiltinName(const Json& func) {
  const Json& names = Items(func, "funcname");
  if (names.size() == 2 && StringOf(names[0]) != "pg_catalog") return "";
  return names.size() <= 2 ? LastName(names) : "";
}

// SELECT set_config(...)[, set_config(...) ...] and nothing else (no FROM, WHERE, ...): how
// PostgREST and others set request settings inside a transaction.
// A SELECT of calls of the built-in function `name` only, nothing else (no FROM, WHERE, ...).
bool OnlyCallsOf(const Json& select, std::string_view name) {
  const Json& targets = Items(select, "targetList");
  if (targets.empty() || Get(select, "fromClause") || Get(select, "whereClause") || Get(select, "groupClause") ||
      Get(select, "havingClause") || Get(select, "withClause") || Get(select, "larg") || Get(select, "valuesLists")) {
    return false;
  }
  for (const Json& target : targets) {
    const Json* val = Get(Body(target), "val");
    if (!val || TypeOf(*val) != "FuncCall" || BuiltinName(Body(*val)) != name) return false;
  }
  return true;
}

std::string Lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

// ---- Function knowledge -----------------------------------------------------------------------

// `filter_ok`: count/sum/min/max with a FILTER clause count as mergeable (an output column keeps
// its text, FILTER included, on every node; avg is rewritten from its argument and would lose it).
TargetColumn::Agg AggregateOf(const Json& func, bool filter_ok = false) {
  using Agg = TargetColumn::Agg;
  if (Get(func, "over")) return Agg::kNone;  // a window function, not an aggregate
  const std::string_view name = BuiltinName(func);
  const bool filtered = Get(func, "agg_filter") != nullptr;
  const bool filter_allowed = !filtered || (filter_ok && name != "avg");
  const bool plain = Items(func, "args").size() == 1 && !Get(func, "agg_order") &&
                     filter_allowed && !Flag(func, "agg_within_group") &&
                     !Flag(func, "func_variadic");
  if (name == "count" && Flag(func, "agg_star")) {
    return filter_allowed ? Agg::kCountStar : Agg::kOtherAgg;
  }
  static constexpr std::array<std::pair<std::string_view, Agg>, 5> kMergeable = {{
      {"count", Agg::kCount}, {"sum", Agg::kSum}, {"min", Agg::kMin}, {"max", Agg::kMax},
      {"avg", Agg::kAvg}}};
  for (const auto& [n, agg] : kMergeable) {
    if (name == n) return plain ? agg : Agg::kOtherAgg;
  }
  static constexpr std::array<std::string_view, 31> kOther = {
      "array_agg", "string_agg", "bool_and", "bool_or", "every", "bit_and", "bit_or", "bit_xor",
      "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg", "xmlagg", "stddev",
      "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp", "corr", "covar_pop",
      "covar_samp", "regr_count", "regr_slope", "regr_intercept", "percentile_cont",
      "percentile_disc", "mode", "range_agg", "range_intersect_agg", "any_value"};
  if (std::find(kOther.begin(), kOther.end(), name) != kOther.end() ||
      name.substr(0, 5) == "regr_" || Flag(func, "agg_star") || Flag(func, "agg_distinct") ||
      Get(func, "agg_order") || Get(func, "agg_filter") || Flag(func, "agg_within_group")) {
    return Agg::kOtherAgg;
  }
  return Agg::kNone;
}

bool IsVolatileFunction(std::string_view name) {
  static constexpr std::array<std::string_view, 14> kNames = {
      "nextval", "currval", "setval", "lastval", "random", "random_normal", "now",
      "clock_timestamp", "statement_timestamp", "transaction_timestamp", "timeofday",
      "gen_random_uuid", "txid_current", "pg_current_xact_id"};
  return std::find(kNames.begin(), kNames.end(), name) != kNames.end() ||
         name.substr(0, 13) == "uuid_generate";
}

// CURRENT_TIMESTAMP and friends are now() in disguise.
bool IsVolatileValueFunction(std::string_view op) {
  return op.find("TIME") != std::string_view::npos || op == "SVFOP_CURRENT_DATE";
}

std::optional<PredOp> ComparisonOp(std::string_view op) {
  if (op == "=") return PredOp::kEq;
  if (op == "<>" || op == "!=") return PredOp::kNe;
  if (op == "<") return PredOp::kLt;
  if (op == "<=") return PredOp::kLe;
  if (op == ">") return PredOp::kGt;
  if (op == ">=") return PredOp::kGe;
  return std::nullopt;
}

// `a op b` as `b op' a`.
PredOp Commute(PredOp op) {
  switch (op) {
    case PredOp::kLt: return PredOp::kGt;
    case PredOp::kLe: return PredOp::kGe;
    case PredOp::kGt: return PredOp::kLt;
    case PredOp::kGe: return PredOp::kLe;
    default: return op;
  }
}

// The lowercased type name of a TypeName body as pg_catalog spells it ("int8", "date", "int4[]").
std::string CastName(const Json& type_name) {
  std::string name = Lowered(LastName(Items(type_name, "names")));
  if (!Items(type_name, "arrayBounds").empty()) name += "[]";
  return name;
}

// A cast's type as AggFinish::type names it: pg_catalog's types by their name alone.
std::string FinishTypeName(const Json& type_name) {
  const Json& names = Items(type_name, "names");
  std::string name;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i == 0 && names.size() == 2 && StringOf(names[0]) == "pg_catalog") continue;
    if (!name.empty()) name += '.';
    name += StringOf(names[i]);
  }
  if (!Items(type_name, "arrayBounds").empty()) name += "[]";
  return name;
}

// PostgreSQL's FigureColnameInternal: the default output name of an expression, with its
// strength (0 none, 1 weak guess, 2 good name).
int FigureName(const Json& node, std::string* name) {
  const std::string_view type = TypeOf(node);
  if (type.empty()) return 0;
  const Json& b = Body(node);
  auto set = [&](std::string_view n) {
    name->assign(n);
    return 2;
  };
  if (type == "ColumnRef") {
    std::string_view last;
    for (const Json& f : Items(b, "fields")) {
      if (TypeOf(f) == "String") last = StringOf(f);
    }
    return last.empty() ? 0 : set(last);
  }
  if (type == "A_Indirection") {
    const Json& ind = Items(b, "indirection");
    for (auto it = ind.rbegin(); it != ind.rend(); ++it) {
      if (TypeOf(*it) == "String") return set(StringOf(*it));
    }
    return Get(b, "arg") ? FigureName(b["arg"], name) : 0;
  }
  if (type == "FuncCall") return set(LastName(Items(b, "funcname")));
  if (type == "A_Expr") return Str(b, "kind") == "AEXPR_NULLIF" ? set("nullif") : 0;
  if (type == "TypeCast" || type == "CollateClause") {
    const int strength = Get(b, "arg") ? FigureName(b["arg"], name) : 0;
    if (type == "TypeCast" && strength <= 1 && Get(b, "typeName")) {
      name->assign(LastName(Items(b["typeName"], "names")));
      return 1;
    }
    return strength;
  }
  if (type == "GroupingFunc") return set("grouping");
  if (type == "SubLink") {
    const std::string_view kind = Str(b, "subLinkType");
    if (kind == "EXISTS_SUBLINK") return set("exists");
    if (kind == "ARRAY_SUBLINK") return set("array");
    if ((kind == "EXPR_SUBLINK" || kind == "MULTIEXPR_SUBLINK") && Get(b, "subselect")) {
      const Json& sub = b["subselect"];
      if (TypeOf(sub) == "SelectStmt") {
        const Json& targets = Items(Body(sub), "targetList");
        if (!targets.empty() && TypeOf(targets[0]) == "ResTarget") {
          const std::string_view alias = Str(Body(targets[0]), "name");
          if (!alias.empty()) return set(alias);
        }
      }
    }
    return 0;
  }
  if (type == "CaseExpr") {
    const int strength = Get(b, "defresult") ? FigureName(b["defresult"], name) : 0;
    if (strength <= 1) {
      name->assign("case");
      return 1;
    }
    return strength;
  }
  if (type == "A_ArrayExpr") return set("array");
  if (type == "RowExpr") return set("row");
  if (type == "CoalesceExpr") return set("coalesce");
  if (type == "MinMaxExpr") return set(Str(b, "op") == "IS_GREATEST" ? "greatest" : "least");
  if (type == "SQLValueFunction") {
    std::string_view op = Str(b, "op");
    if (op.substr(0, 6) == "SVFOP_") op.remove_prefix(6);
    if (op.size() > 2 && op.substr(op.size() - 2) == "_N") op.remove_suffix(2);
    name->assign(Lowered(op));
    return 2;
  }
  if (type == "XmlExpr") {
    std::string_view op = Str(b, "op");
    if (op == "IS_DOCUMENT" || op.substr(0, 3) != "IS_") return 0;
    op.remove_prefix(3);
    name->assign(Lowered(op));
    return 2;
  }
  if (type == "XmlSerialize") return set("xmlserialize");
  return 0;
}

std::string FigureColname(const Json& node) {
  std::string name;
  if (FigureName(node, &name) == 0) name = "?column?";
  return name;
}

// ---- Scopes -----------------------------------------------------------------------------------

// The names visible at one query level: FROM items (tables or not) and CTEs.
struct Scope {
  struct Name {
    std::string name, schema;  // schema only for unaliased tables
    int table = -1;            // -1: a FROM item that is not a table (subquery, function, CTE)
  };
  struct Cte {
    std::string name;
    int first_table = 0, end_table = 0;  // the table references of its query: [first, end)
  };
  const Scope* parent = nullptr;
  std::vector<Name> names;
  std::vector<Cte> ctes;
  int items = 0;        // FROM items (leaves of joins)
  int only_table = -1;  // the table when the level's FROM is exactly one table

  const Cte* FindCte(std::string_view name) const {
    for (const Scope* s = this; s; s = s->parent) {
      for (const Cte& c : s->ctes) {
        if (c.name == name) return &c;
      }
    }
    return nullptr;
  }
};

// Where a table sits in its level's FROM clause, for its filter: whether WHERE (and inner-join
// ON clauses) restrict it, and the ON clauses of the joins above it that do.
struct Placement {
  int table = -1;
  bool where_applies = true;
  std::vector<int> path;  // indexes into FromState::quals
};

struct FromState {
  std::vector<Placement> placements;
  std::vector<const Json*> quals;  // ON clause of each join (null for none)
  std::vector<int> inner;          // joins whose ON restricts the whole level
  struct Using {
    const Json* larg;
    const Json* rarg;
    const Json* columns;
  };
  std::vector<Using> usings;
};

// ---- Tokens of the statement text -------------------------------------------------------------

struct Tok {
  Token t;
  int depth = 0;  // parenthesis/bracket depth; an opening and its closing token have the outer one
};

// ---- The walk ---------------------------------------------------------------------------------

class Walker {
 public:
  Walker(std::string_view sql, const std::vector<Literal>& literals, Analysis* a)
      : sql_(sql), lits_(literals), a_(a) {}

  void Statement(const Json& raw);

 private:
  // Statements.
  void Dml(const Json& node, const Scope* parent, bool in_sub);
  void Select(const Json& s, const Scope* parent, bool in_sub, bool top);
  void Insert(const Json& s, const Scope* parent, bool in_sub, bool top);
  void UpdateOrDelete(const Json& s, bool update, const Scope* parent, bool in_sub);
  void Copy(const Json& s);
  void With(const Json* with, Scope* sc);
  void Utility(std::string_view type, const Json& s);
  bool UtilityKindOf(std::string_view type, const Json& s);
  // `clause` creates the table `rel` (a RangeVar): a temporary one?
  void NoteTemp(const Json& clause, const Json* rel, const char* on_commit_key);
  void Wrapped(const Json* stmt);

  // FROM clauses, filters and joins.
  void FromItem(const Json& node, Scope* sc, bool in_sub, bool where_applies,
                const std::vector<int>& path, FromState* fs);
  std::vector<int> SideTables(int first_table, size_t first_cte_ref) const;
  int AddTable(const Json& rv, bool in_sub);
  void Register(Scope* sc, std::string name, std::string schema, int table);
  void FinishLevel(Scope* sc, FromState* fs, const Json* where);
  void UsingSide(const Json& node, std::string_view column, std::vector<int>* out);
  int AddFilter(BoolExpr e);

  BoolExpr Bool(const Json& e, const Scope* sc, bool conjunct);
  BoolExpr Leaf(int table, std::string_view column, PredOp op, std::vector<ValueRef> values,
                bool negated);
  BoolExpr Opaque(const Json& e, const Scope* sc);
  bool Resolve(const Json& node, const Scope* sc, int* table, std::string* column) const;
  ValueRef Value(const Json& node) const;
  // A boolean constant ("true", 'off', 'f'::boolean): 1 true, 0 false, -1 not a known constant.
  int8_t ConstBool(const Json& node);
  bool ValuesOf(const Json& list, std::vector<ValueRef>* out) const;
  bool ValueOne(const Json& node, std::vector<ValueRef>* out) const;
  void Visit(const Json& node, const Scope* sc);
  void Scan(const Json& node);

  // The top level of a SELECT.
  void TopSelect(const Json& s, const Scope& sc);
  void Targets(const Json& s);
  void GroupBy(const Json& s, const Scope& sc);
  void GroupByAt();
  void Having(const Json& s);
  void OrderBy(const Json& s, const Scope& sc);
  void Limit(const Json& s);
  int ResolveTarget(const Json& expr, const Json& targets, const Scope& sc, bool names_first);
  bool SameExpr(const Json& a, const Json& b, const Scope& sc) const;
  bool ContainsAgg(const Json& node) const;

  // Byte ranges from tokens.
  void Tokenize();
  int TokAt(int offset) const;
  bool Kw(int i, std::string_view kw) const;
  bool IsClauseKeyword(int i) const;
  int NextClause(int i) const;
  int ClauseEnd(int i) const { return toks_[NextClause(i) - 1].t.end; }
  std::vector<std::pair<int, int>> Split(int from, int to) const;
  void ArgRange(int func_location, int* begin, int* end) const;
  void CallRange(int func_location, int* begin, int* end) const;
  bool IntConstant(const Json& node, int32_t* out);
  void FinishedAggregate(const Json& val, TargetColumn* col);
  void ValuesRanges();
  void InsertSelectRange(const Json& insert);

  std::string_view sql_;
  const std::vector<Literal>& lits_;
  Analysis* a_;
  int stmt_begin_ = 0, stmt_end_ = 0;
  std::vector<Tok> toks_;
  int stop_ = 0;  // index of the first token after the statement (its ';' or the end)
  std::unordered_map<const Json*, int> table_of_;  // RangeVar body -> Analysis::tables index
  std::vector<std::pair<int, int>> cte_refs_;  // each FROM reference of a CTE: its table range
  bool has_sublink_ = false, has_window_ = false;
  bool has_from_subquery_ = false;  // a subquery in FROM (RangeSubselect), at any level
  std::vector<const Json*> hidden_keys_;  // GROUP BY keys of Analysis::group_by_hidden
  bool capture_insert_sources_ = false;  // the next SELECT level is the top INSERT's SELECT
};

// Generic pre-pass over the whole tree: parameters, volatile functions, windows, sublinks.
void Walker::Scan(const Json& node) {
  if (node.is_array()) {
    for (const Json& n : node) Scan(n);
    return;
  }
  if (!node.is_object()) return;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string& key = it.key();
    const Json& v = it.value();
    if (key == "ParamRef") {
      a_->max_param = std::max(a_->max_param, Int(v, "number", 0));
    } else if (key == "FuncCall") {
      const std::string_view name = BuiltinName(v);
      if (IsVolatileFunction(name)) a_->has_volatile_functions = true;
      if (name != "count" && name != "sum" && name != "avg" && name != "min" && name != "max") {
        a_->calls_functions = true;
      }
      if (Get(v, "over")) has_window_ = true;
    } else if (key == "SQLValueFunction") {
      if (IsVolatileValueFunction(Str(v, "op"))) a_->has_volatile_functions = true;
    } else if (key == "SubLink") {
      has_sublink_ = true;
    } else if (key == "RangeSubselect") {
      has_from_subquery_ = true;
    }
    Scan(v);
  }
}

void Walker::Statement(const Json& raw) {
  stmt_begin_ = Int(raw, "stmt_location", 0);
  const int len = Int(raw, "stmt_len", 0);
  stmt_end_ = len > 0 ? stmt_begin_ + len : static_cast<int>(sql_.size());
  const Json* node = Get(raw, "stmt");
  if (!node || TypeOf(*node).empty()) {
    a_->type = StatementType::kEmpty;
    return;
  }
  Scan(*node);
  const std::string_view type = TypeOf(*node);
  const Json& s = Body(*node);
  if (type == "SelectStmt") {
    Select(s, nullptr, false, true);
    if (const Json* into = Get(s, "intoClause")) {
      a_->type = StatementType::kDdl;
      a_->ddl_creates_table = a_->ddl_changes_tables = true;
      NoteTemp(*into, Get(*into, "rel"), "onCommit");
      a_->utility = UtilityKind::kCreateAs;
      a_->wrapped = a_->locking ? StatementType::kSelectForUpdate : StatementType::kSelect;
    } else {
      a_->type = a_->locking ? StatementType::kSelectForUpdate : StatementType::kSelect;
      a_->only_set_config = OnlyCallsOf(s, "set_config");
      for (const Json& target : a_->only_set_config ? Items(s, "targetList") : EmptyArray()) {
        const Json& args = Items(Body(*Get(Body(target), "val")), "args");
        a_->set_config_names.push_back(args.empty() ? ValueRef{} : Value(args[0]));
        a_->set_config_local.push_back(args.size() < 3 ? int8_t{-1} : ConstBool(args[2]));
      }
      if (Items(s, "targetList").size() == 1 && OnlyCallsOf(s, "setval")) {
        const Json& args = Items(Body(*Get(Body(Items(s, "targetList")[0]), "val")), "args");
        if (args.size() == 2 || args.size() == 3) {
          a_->only_setval = true;
          a_->setval_sequence = Value(args[0]);
          a_->setval_value = Value(args[1]);
          a_->setval_called = args.size() < 3 ? int8_t{1} : ConstBool(args[2]);
        }
      }
    }
  } else if (type == "InsertStmt") {
    a_->type = StatementType::kInsert;
    Insert(s, nullptr, false, true);
  } else if (type == "UpdateStmt" || type == "DeleteStmt") {
    a_->type = type == "UpdateStmt" ? StatementType::kUpdate : StatementType::kDelete;
    UpdateOrDelete(s, type == "UpdateStmt", nullptr, false);
  } else if (type == "CopyStmt") {
    Copy(s);
  } else if (type == "MergeStmt") {
    a_->type = StatementType::kUpdate;
    a_->merge = true;
    if (const Json* rel = Get(s, "relation")) AddTable(*rel, false);
    if (const Json* src = Get(s, "sourceRelation"); src && TypeOf(*src) == "RangeVar") AddTable(Body(*src), true);
  } else {
    Utility(type, s);
  }
}

// A data-modifying or SELECT statement nested in another (CTE body, COPY query).
void Walker::Dml(const Json& node, const Scope* parent, bool in_sub) {
  const std::string_view type = TypeOf(node);
  if (type == "SelectStmt") {
    Select(Body(node), parent, in_sub, false);
  } else if (type == "InsertStmt") {
    Insert(Body(node), parent, in_sub, false);
  } else if (type == "UpdateStmt" || type == "DeleteStmt") {
    UpdateOrDelete(Body(node), type == "UpdateStmt", parent, in_sub);
  }
}

void Walker::With(const Json* with, Scope* sc) {
  if (!with) return;
  const bool recursive = Flag(*with, "recursive");
  const Json& ctes = Items(*with, "ctes");
  const size_t first = sc->ctes.size();
  if (recursive) {
    for (const Json& c : ctes) sc->ctes.push_back({std::string(Str(Body(c), "ctename"))});
  }
  for (size_t i = 0; i < ctes.size(); ++i) {
    const Json& cte = Body(ctes[i]);
    const int first_table = static_cast<int>(a_->tables.size());
    if (const Json* q = Get(cte, "ctequery")) {
      const std::string_view kind = TypeOf(*q);
      if (kind == "InsertStmt" || kind == "UpdateStmt" || kind == "DeleteStmt") a_->cte_writes = true;
      Dml(*q, sc, true);
    }
    const int end_table = static_cast<int>(a_->tables.size());
    if (recursive) {
      sc->ctes[first + i].first_table = first_table;
      sc->ctes[first + i].end_table = end_table;
    } else {
      sc->ctes.push_back({std::string(Str(cte, "ctename")), first_table, end_table});
    }
  }
}

void Walker::Select(const Json& s, const Scope* parent, bool in_sub, bool top) {
  Scope sc;
  sc.parent = parent;
  With(Get(s, "withClause"), &sc);
  if (Items(s, "lockingClause").size() > 0) a_->locking = true;
  if (Str(s, "op") != "" && Str(s, "op") != "SETOP_NONE") {
    if (const Json* l = Get(s, "larg")) Select(*l, &sc, true, false);  // SelectStmt bodies
    if (const Json* r = Get(s, "rarg")) Select(*r, &sc, true, false);
    for (const char* key : {"sortClause", "limitCount", "limitOffset"}) {
      if (const Json* v = Get(s, key)) Visit(*v, &sc);
    }
    return;
  }
  const bool capture = capture_insert_sources_;
  capture_insert_sources_ = false;
  FromState fs;
  for (const Json& item : Items(s, "fromClause")) FromItem(item, &sc, in_sub, true, {}, &fs);
  FinishLevel(&sc, &fs, Get(s, "whereClause"));
  if (capture) {
    for (const Json& t : Items(s, "targetList")) {
      const Json* val = TypeOf(t) == "ResTarget" ? Get(Body(t), "val") : nullptr;
      InsertSource src;
      if (val == nullptr || (TypeOf(*val) == "ColumnRef" && !Resolve(*val, &sc, &src.table, &src.column))) {
        a_->insert_sources.clear();  // `*`, or a column Mosaic cannot place
        break;
      }
      if (src.table < 0) src.value = Value(*val);
      a_->insert_sources.push_back(std::move(src));
    }
  }
  for (const char* key : {"valuesLists", "targetList", "groupClause", "havingClause",
                          "sortClause", "distinctClause", "limitCount", "limitOffset",
                          "windowClause"}) {
    if (const Json* v = Get(s, key)) Visit(*v, &sc);
  }
  if (top) TopSelect(s, sc);
}

void Walker::Insert(const Json& s, const Scope* parent, bool in_sub, bool top) {
  Scope sc;
  sc.parent = parent;
  if (const Json* rel = Get(s, "relation")) AddTable(*rel, in_sub);
  With(Get(s, "withClause"), &sc);
  if (top) {
    for (const Json& c : Items(s, "cols")) {
      if (TypeOf(c) == "ResTarget") a_->insert_columns.emplace_back(Str(Body(c), "name"));
    }
    a_->insert_has_column_list = !a_->insert_columns.empty();
    a_->on_conflict = Get(s, "onConflictClause") != nullptr;
    if (const Json* oc = Get(s, "onConflictClause")) {  // DO UPDATE SET ...: as an UPDATE's columns
      a_->on_conflict_do_nothing = Str(*oc, "action") == "ONCONFLICT_NOTHING";
      for (const Json& t : Items(*oc, "targetList")) {
        if (TypeOf(t) == "ResTarget") a_->update_columns.emplace_back(Str(Body(t), "name"));
      }
    }
    a_->returning = !Items(s, "returningList").empty();
  }
  if (const Json* sel = Get(s, "selectStmt"); sel && TypeOf(*sel) == "SelectStmt") {
    const Json& body = Body(*sel);
    const Json& rows = Items(body, "valuesLists");
    if (!rows.empty() && !Get(body, "fromClause")) {
      for (const Json& row : rows) {
        const Json& items = TypeOf(row) == "List" ? Items(Body(row), "items") : EmptyArray();
        Visit(items, &sc);
        if (!top) continue;
        InsertRow r;
        for (const Json& v : items) r.values.push_back(Value(v));
        a_->insert_rows.push_back(std::move(r));
      }
      if (top) ValuesRanges();
    } else {
      if (top) {
        a_->insert_select = true;
        a_->insert_with = Get(s, "withClause") != nullptr;
        capture_insert_sources_ = Str(body, "op") == "" || Str(body, "op") == "SETOP_NONE";
        InsertSelectRange(s);
      }
      Select(body, &sc, in_sub, false);
      capture_insert_sources_ = false;
    }
  }
  for (const char* key : {"onConflictClause", "returningList"}) {
    if (const Json* v = Get(s, key)) Visit(*v, &sc);
  }
}

void Walker::UpdateOrDelete(const Json& s, bool update, const Scope* parent, bool in_sub) {
  Scope sc;
  sc.parent = parent;
  FromState fs;
  if (const Json* rel = Get(s, "relation")) {
    const int t = AddTable(*rel, in_sub);
    fs.placements.push_back({t, true, {}});
    const Json* alias = Get(*rel, "alias");
    Register(&sc, std::string(alias ? Str(*alias, "aliasname") : Str(*rel, "relname")),
             std::string(alias ? "" : Str(*rel, "schemaname")), t);
  }
  With(Get(s, "withClause"), &sc);
  for (const Json& item : Items(s, update ? "fromClause" : "usingClause")) {
    FromItem(item, &sc, in_sub, true, {}, &fs);
  }
  FinishLevel(&sc, &fs, Get(s, "whereClause"));
  for (const Json& t : Items(s, "targetList")) {
    if (TypeOf(t) != "ResTarget") continue;
    if (parent == nullptr && update) a_->update_columns.emplace_back(Str(Body(t), "name"));
    if (const Json* v = Get(Body(t), "val")) Visit(*v, &sc);
  }
  if (parent == nullptr) a_->returning = !Items(s, "returningList").empty();
  if (const Json* r = Get(s, "returningList")) Visit(*r, &sc);
}

void Walker::Copy(const Json& s) {
  a_->type = Flag(s, "is_from") ? StatementType::kCopyFrom : StatementType::kCopyTo;
  if (const Json* rel = Get(s, "relation")) AddTable(*rel, false);
  if (const Json* q = Get(s, "query")) {
    a_->copy_query = true;
    Dml(*q, nullptr, false);
  }
  for (const Json& c : Items(s, "attlist")) a_->copy_columns.emplace_back(StringOf(c));
  a_->copy_stdio = !Flag(s, "is_program") && Str(s, "filename").empty();
  std::optional<char> delimiter, quote, escape;
  std::optional<std::string> null;
  for (const Json& o : Items(s, "options")) {
    if (TypeOf(o) != "DefElem") continue;
    const Json& d = Body(o);
    const std::string_view name = Str(d, "defname");
    const Json* arg = Get(d, "arg");
    const std::string_view sval = arg ? StringOf(*arg) : "";
    if (name == "format") {
      a_->copy_format = Lowered(sval);
    } else if (name == "delimiter" && !sval.empty()) {
      delimiter = sval[0];
    } else if (name == "null") {
      null = std::string(sval);
    } else if (name == "quote" && !sval.empty()) {
      quote = sval[0];
    } else if (name == "escape" && !sval.empty()) {
      escape = sval[0];
    } else if (name == "force_quote") {
      if (arg && TypeOf(*arg) == "A_Star") a_->copy_force_quote_all = true;
      if (arg && TypeOf(*arg) == "List") {
        for (const Json& c : Items(Body(*arg), "items")) a_->copy_force_quote.emplace_back(StringOf(c));
      }
    } else if (name == "encoding") {
      a_->copy_encoding = true;
    } else if (name == "header") {
      // HEADER alone, HEADER true/on/1/match; false/off/0 turn it off.
      bool on = true;
      if (arg && TypeOf(*arg) == "Boolean") on = Flag(Body(*arg), "boolval");
      if (arg && TypeOf(*arg) == "Integer") on = Int(Body(*arg), "ival", 0) != 0;
      if (!sval.empty()) on = !(IEquals(sval, "false") || IEquals(sval, "off") || sval == "0");
      a_->copy_header = on;
    }
  }
  const bool csv = a_->copy_format == "csv";
  a_->copy_delimiter = delimiter.value_or(csv ? ',' : '\t');
  a_->copy_null = null.value_or(csv ? "" : "\\N");
  a_->copy_quote = quote.value_or('"');
  a_->copy_escape = escape.value_or(a_->copy_quote);
}

// Everything that is not SELECT/INSERT/UPDATE/DELETE/COPY.
void Walker::Utility(std::string_view type, const Json& s) {
  if (type == "TransactionStmt") {
    const std::string_view kind = Str(s, "kind");
    if (kind == "TRANS_STMT_BEGIN" || kind == "TRANS_STMT_START") {
      a_->type = StatementType::kBegin;
      a_->start_transaction = kind == "TRANS_STMT_START";
    } else if (kind == "TRANS_STMT_COMMIT") {
      a_->type = StatementType::kCommit;
    } else if (kind == "TRANS_STMT_ROLLBACK") {
      a_->type = StatementType::kRollback;
    } else if (kind == "TRANS_STMT_SAVEPOINT" || kind == "TRANS_STMT_RELEASE" ||
               kind == "TRANS_STMT_ROLLBACK_TO") {
      a_->type = StatementType::kSavepoint;
      a_->rollback_to = kind == "TRANS_STMT_ROLLBACK_TO";
      a_->release = kind == "TRANS_STMT_RELEASE";
    } else {
      a_->type = StatementType::kTwoPhase;
    }
    return;
  }
  if (type == "VariableSetStmt") {
    a_->type = StatementType::kSet;
    const std::string_view kind = Str(s, "kind");
    a_->set_local = Flag(s, "is_local");
    a_->set_reset_all = kind == "VAR_RESET_ALL";
    if (kind != "VAR_SET_MULTI") a_->set_name = Lowered(Str(s, "name"));
    a_->set_session_characteristics = kind == "VAR_SET_MULTI" && Str(s, "name") == "SESSION CHARACTERISTICS";
    const Json& args = Items(s, "args");
    if (args.size() == 1 && TypeOf(args[0]) == "A_Const") {
      if (const Json* sval = Get(Body(args[0]), "sval")) a_->set_value = std::string(Str(*sval, "sval"));
    }
    return;
  }
  if (type == "VariableShowStmt") {
    a_->type = StatementType::kShow;
    return;
  }
  if (type == "CallStmt") {
    // CALL mosaic.fn(...) is the same request as SELECT mosaic.fn(...).
    if (const Json* f = Get(s, "funccall")) {
      const Json& names = Items(*f, "funcname");
      if (names.size() == 2 && StringOf(names[0]) == "mosaic") {
        a_->mosaic_function = std::string(StringOf(names[1]));
        for (const Json& arg : Items(*f, "args")) a_->mosaic_args.push_back(Value(arg));
      }
    }
    a_->type = StatementType::kUtility;
    if (a_->mosaic_function.empty()) a_->utility = UtilityKind::kCall;
    return;
  }
  if (UtilityKindOf(type, s)) {
    a_->type = StatementType::kUtility;
    return;
  }
  if (type == "DiscardStmt") {
    a_->discards_temp = Str(s, "target") == "DISCARD_TEMP" || Str(s, "target") == "DISCARD_ALL";
  }
  const bool maintenance = type == "VacuumStmt" || type == "ClusterStmt" || type == "ReindexStmt";
  static constexpr std::array<std::string_view, 13> kDdl = {
      "IndexStmt", "RenameStmt", "TruncateStmt", "CommentStmt", "GrantStmt", "GrantRoleStmt",
      "DefineStmt", "ViewStmt", "RuleStmt", "CompositeTypeStmt", "SecLabelStmt",
      "ReassignOwnedStmt", "ImportForeignSchemaStmt"};
  const bool ddl = type.substr(0, 6) == "Create" || type.substr(0, 5) == "Alter" ||
                   type.substr(0, 4) == "Drop" ||
                   std::find(kDdl.begin(), kDdl.end(), type) != kDdl.end();
  if (!maintenance && !ddl) {
    a_->type = StatementType::kUtility;
    return;
  }
  a_->type = maintenance ? StatementType::kMaintenance : StatementType::kDdl;
  // The tables a DDL or maintenance statement names (every RangeVar outside its queries), then
  // those of its queries (CREATE TABLE AS, CREATE VIEW), marked in_subquery.
  std::function<void(const Json&)> collect = [&](const Json& n) {
    if (n.is_array()) {
      for (const Json& x : n) collect(x);
    } else if (n.is_object()) {
      if (Get(n, "relname") && Get(n, "relpersistence")) {
        AddTable(n, false);
        return;
      }
      for (auto it = n.begin(); it != n.end(); ++it) {
        if (it.key() != "SelectStmt" && it.key() != "query") collect(it.value());
      }
    }
  };
  collect(s);
  Visit(s, nullptr);
  static constexpr std::array<std::string_view, 6> kRelationKinds = {
      "OBJECT_TABLE", "OBJECT_FOREIGN_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_SCHEMA",
      "OBJECT_COLUMN"};
  auto one_of = [](std::string_view v, const auto& set) {
    return std::find(set.begin(), set.end(), v) != set.end();
  };
  if (type == "CreateStmt" || type == "CreateForeignTableStmt" || type == "CreateTableAsStmt") {
    a_->ddl_creates_table = Str(s, "objtype") != "OBJECT_MATVIEW";
    a_->ddl_changes_tables = true;
    if (type == "CreateStmt") NoteTemp(s, Get(s, "relation"), "oncommit");
    if (type == "CreateTableAsStmt" && a_->ddl_creates_table) {
      if (const Json* into = Get(s, "into")) NoteTemp(*into, Get(*into, "rel"), "onCommit");
    }
    if (type == "CreateTableAsStmt") {
      // Its query's tables were added after the new table (by Visit above).
      a_->utility = UtilityKind::kCreateAs;
      const Json* into = Get(s, "into");
      a_->create_as_no_data = into && Flag(*into, "skipData");
      const Json* query = Get(s, "query");
      a_->wrapped = query && TypeOf(*query) == "SelectStmt" ? StatementType::kSelect : StatementType::kUtility;
      a_->wrapped_tables = 0;
      while (a_->wrapped_tables < static_cast<int>(a_->tables.size()) &&
             !a_->tables[a_->wrapped_tables].in_subquery) {
        ++a_->wrapped_tables;
      }
    }
  } else if (type == "DropStmt") {
    a_->ddl_changes_tables = one_of(Str(s, "removeType"), kRelationKinds);
    a_->ddl_alters_tables = Str(s, "removeType") == "OBJECT_TABLE";
    a_->ddl_concurrently = Flag(s, "concurrent");
    // The relations it drops (whether they are the session's temporary ones decides its nodes).
    const std::string_view removes = Str(s, "removeType");
    if (removes == "OBJECT_TABLE" || removes == "OBJECT_VIEW" || removes == "OBJECT_SEQUENCE") {
      for (const Json& obj : Items(s, "objects")) {
        if (TypeOf(obj) != "List") continue;
        const Json& parts = Items(Body(obj), "items");
        if (parts.empty()) continue;
        TableRef t;
        t.name = std::string(StringOf(parts.back()));
        if (parts.size() >= 2) t.schema = std::string(StringOf(parts[parts.size() - 2]));
        a_->tables.push_back(std::move(t));
      }
    }
  } else if (type == "RenameStmt") {
    a_->ddl_changes_tables = a_->ddl_alters_tables = one_of(Str(s, "renameType"), kRelationKinds);
  } else if (type == "AlterObjectSchemaStmt") {
    a_->ddl_changes_tables = a_->ddl_alters_tables = one_of(Str(s, "objectType"), kRelationKinds);
  } else if (type == "AlterTableStmt" || type == "ViewStmt" || type == "DropOwnedStmt" ||
             type == "CreateExtensionStmt") {
    a_->ddl_changes_tables = true;
    a_->ddl_alters_tables = type == "AlterTableStmt";
    if (type == "ViewStmt") {
      a_->ddl_creates_view = true;
      NoteTemp(s, Get(s, "view"), "");
    }
  } else if (type == "CreateSeqStmt") {
    NoteTemp(s, Get(s, "sequence"), "");
  } else if (type == "TruncateStmt") {
    a_->ddl_alters_tables = true;
  } else if (type == "CreateSchemaStmt") {
    a_->ddl_changes_tables = !Items(s, "schemaElts").empty();
  } else if (type == "IndexStmt") {
    a_->ddl_concurrently = Flag(s, "concurrent");
  } else if (type == "ReindexStmt") {
    for (const Json& p : Items(s, "params")) {
      if (TypeOf(p) == "DefElem" && Str(Body(p), "defname") == "concurrently") {
        a_->ddl_concurrently = true;
      }
    }
  }
}

void Walker::NoteTemp(const Json& clause, const Json* rel, const char* on_commit_key) {
  if (rel == nullptr || (Str(*rel, "relpersistence") != "t" && Str(*rel, "schemaname") != "pg_temp")) return;
  a_->ddl_temp = true;
  a_->temp_table = std::string(Str(*rel, "relname"));
  a_->temp_on_commit_drop = Str(clause, on_commit_key) == "ONCOMMIT_DROP";
}

// Utility statements that use rows (UtilityKind); false for the others.
bool Walker::UtilityKindOf(std::string_view type, const Json& s) {
  if (type == "ExplainStmt") {
    bool analyze = false;
    for (const Json& o : Items(s, "options")) {
      if (TypeOf(o) != "DefElem" || Str(Body(o), "defname") != "analyze") continue;
      const Json* arg = Get(Body(o), "arg");  // ANALYZE alone, or ANALYZE true/on/1/false/off/0
      analyze = true;
      if (arg && TypeOf(*arg) == "Boolean") analyze = Flag(Body(*arg), "boolval");
      if (arg && TypeOf(*arg) == "Integer") analyze = Int(Body(*arg), "ival", 0) != 0;
      const std::string_view sval = arg ? StringOf(*arg) : "";
      if (!sval.empty()) analyze = !(IEquals(sval, "false") || IEquals(sval, "off") || sval == "0");
    }
    a_->utility = analyze ? UtilityKind::kExplainAnalyze : UtilityKind::kExplain;
  } else if (type == "DeclareCursorStmt") {
    // CURSOR_OPT_BINARY, _SCROLL, _NO_SCROLL, _HOLD (parsenodes.h).
    constexpr int kCursorOptBinary = 0x0001, kCursorOptScroll = 0x0002, kCursorOptNoScroll = 0x0004,
                  kCursorOptHold = 0x0020;
    a_->utility = UtilityKind::kDeclareCursor;
    a_->cursor_name = std::string(Str(s, "portalname"));
    const int options = Int(s, "options", 0);
    a_->cursor_hold = (options & kCursorOptHold) != 0;
    a_->cursor_binary = (options & kCursorOptBinary) != 0;
    a_->cursor_scroll = (options & kCursorOptScroll) != 0;
    a_->cursor_no_scroll = (options & kCursorOptNoScroll) != 0;
  } else if (type == "PrepareStmt") {
    a_->utility = UtilityKind::kPrepare;
  } else if (type == "FetchStmt" || type == "ClosePortalStmt") {
    a_->utility = UtilityKind::kCursorUse;
    a_->cursor_name = std::string(Str(s, "portalname"));
    a_->cursor_close = type == "ClosePortalStmt";
    if (type == "FetchStmt") {
      const std::string_view direction = Str(s, "direction");
      a_->fetch_direction = direction == "FETCH_BACKWARD"   ? FetchDirection::kBackward
                            : direction == "FETCH_ABSOLUTE" ? FetchDirection::kAbsolute
                            : direction == "FETCH_RELATIVE" ? FetchDirection::kRelative
                                                            : FetchDirection::kForward;
      a_->fetch_move = Flag(s, "ismove");
      const Json* count = Get(s, "howMany");  // absent: 0 (FETCH 0, the current row again)
      a_->fetch_count = count && count->is_number_integer() ? count->get<int64_t>() : 0;
      // The count is its only number: FETCH 5 and FETCH 50 share a shape, not a meaning.
      for (size_t i = 0; i < lits_.size(); ++i) {
        if (lits_[i].kind == Literal::Kind::kNumber) a_->structural_literals.emplace_back(static_cast<int>(i), lits_[i].value);
      }
    }
  } else if (type == "ExecuteStmt" || type == "DeallocateStmt") {
    a_->utility = UtilityKind::kPreparedUse;
    a_->deallocate = type == "DeallocateStmt";
    if (a_->deallocate) a_->deallocate_name = std::string(Str(s, "name"));
  } else if (type == "DoStmt") {
    a_->utility = UtilityKind::kDo;
  } else if (type == "LockStmt") {
    a_->utility = UtilityKind::kLock;
    for (const Json& rv : Items(s, "relations")) {
      if (TypeOf(rv) == "RangeVar") AddTable(Body(rv), false);
    }
  } else {
    return false;
  }
  Wrapped(Get(s, "query"));
  return true;
}

// The statement EXPLAIN, DECLARE or PREPARE wraps, analysed into this analysis.
void Walker::Wrapped(const Json* stmt) {
  if (stmt == nullptr) return;
  a_->wrapped_tables = static_cast<int>(a_->tables.size());
  Dml(*stmt, nullptr, false);
  const std::string_view type = TypeOf(*stmt);
  if (type == "SelectStmt" && !Get(Body(*stmt), "intoClause")) {
    a_->wrapped = a_->locking ? StatementType::kSelectForUpdate : StatementType::kSelect;
  } else if (type == "InsertStmt") {
    a_->wrapped = StatementType::kInsert;
  } else if (type == "UpdateStmt") {
    a_->wrapped = StatementType::kUpdate;
  } else if (type == "DeleteStmt") {
    a_->wrapped = StatementType::kDelete;
  } else {
    a_->wrapped = StatementType::kUtility;  // EXECUTE, CREATE TABLE AS, MERGE, ...
  }
}

// ---- FROM clauses -----------------------------------------------------------------------------

int Walker::AddTable(const Json& rv, bool in_sub) {
  TableRef t;
  t.schema = std::string(Str(rv, "schemaname"));
  t.name = std::string(Str(rv, "relname"));
  if (const Json* alias = Get(rv, "alias")) t.alias = std::string(Str(*alias, "aliasname"));
  t.in_subquery = in_sub;
  a_->tables.push_back(std::move(t));
  const int index = static_cast<int>(a_->tables.size()) - 1;
  table_of_[&rv] = index;
  return index;
}

void Walker::Register(Scope* sc, std::string name, std::string schema, int table) {
  sc->names.push_back({std::move(name), std::move(schema), table});
  sc->only_table = ++sc->items == 1 ? table : -1;
}

void Walker::FromItem(const Json& node, Scope* sc, bool in_sub, bool where_applies,
                      const std::vector<int>& path, FromState* fs) {
  const std::string_view type = TypeOf(node);
  if (type.empty()) return;
  const Json& b = Body(node);
  const Json* alias = Get(b, "alias");
  const std::string alias_name(alias ? Str(*alias, "aliasname") : "");
  if (type == "RangeVar") {
    const std::string_view rel = Str(b, "relname");
    if (const Scope::Cte* cte = Str(b, "schemaname").empty() ? sc->FindCte(rel) : nullptr) {
      cte_refs_.emplace_back(cte->first_table, cte->end_table);
      Register(sc, alias ? alias_name : std::string(rel), "", -1);
      return;
    }
    const int t = AddTable(b, in_sub);
    fs->placements.push_back({t, where_applies, path});
    Register(sc, alias ? alias_name : std::string(rel),
             alias ? "" : std::string(Str(b, "schemaname")), t);
  } else if (type == "RangeTableSample") {
    if (const Json* rel = Get(b, "relation")) FromItem(*rel, sc, in_sub, where_applies, path, fs);
    for (const char* key : {"args", "repeatable"}) {
      if (const Json* v = Get(b, key)) Visit(*v, sc);
    }
  } else if (type == "JoinExpr") {
    const std::string_view kind = Str(b, "jointype");
    const int q = static_cast<int>(fs->quals.size());
    fs->quals.push_back(Get(b, "quals"));
    std::vector<int> with_on = path;
    with_on.push_back(q);
    const Json* l = Get(b, "larg");
    const Json* r = Get(b, "rarg");
    const bool left_nullable = kind == "JOIN_RIGHT" || kind == "JOIN_FULL";
    const bool right_nullable = kind == "JOIN_LEFT" || kind == "JOIN_FULL";
    if (left_nullable || right_nullable) a_->has_outer_join = true;
    if (!left_nullable && !right_nullable) fs->inner.push_back(q);
    // A preserved side is not restricted by ON; a nullable side only by ON (and the ON clauses
    // above it); a FULL join's sides by neither.
    auto side = [&](const Json* n, bool nullable, bool other_nullable) {
      const int first_table = static_cast<int>(a_->tables.size());
      const size_t first_cte_ref = cte_refs_.size();
      if (n) {
        FromItem(*n, sc, in_sub, where_applies && !nullable, other_nullable ? path : with_on, fs);
      }
      return SideTables(first_table, first_cte_ref);
    };
    std::vector<int> left = side(l, left_nullable, right_nullable);
    std::vector<int> right = side(r, right_nullable, left_nullable);
    if (right_nullable) a_->outer_joins.push_back({left, right});
    if (left_nullable) a_->outer_joins.push_back({right, left});
    if (const Json* u = Get(b, "usingClause"); u && l && r) fs->usings.push_back({l, r, u});
    if (alias) Register(sc, alias_name, "", -1);
  } else {
    // RangeSubselect, RangeFunction, RangeTableFunc, ...: not a table, but may hold tables.
    if (const Json* sub = Get(b, "subquery")) Dml(*sub, sc, true);
    for (const char* key : {"functions", "docexpr", "rowexpr", "columns"}) {
      if (const Json* v = Get(b, key)) Visit(*v, sc);
    }
    Register(sc, alias_name, "", -1);
  }
}

// The table references walked since `first_table`, and those of the CTEs referenced since
// `first_cte_ref` (a CTE's query is walked where it is defined).
std::vector<int> Walker::SideTables(int first_table, size_t first_cte_ref) const {
  std::vector<int> out;
  for (int t = first_table; t < static_cast<int>(a_->tables.size()); ++t) out.push_back(t);
  for (size_t i = first_cte_ref; i < cte_refs_.size(); ++i) {
    for (int t = cte_refs_[i].first; t < cte_refs_[i].second; ++t) {
      if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
    }
  }
  return out;
}

int Walker::AddFilter(BoolExpr e) {
  a_->filters.push_back(std::move(e));
  return static_cast<int>(a_->filters.size()) - 1;
}

// All of `parts` ANDed (one part as itself). kOpaque when empty.
BoolExpr AndOf(std::vector<BoolExpr> parts) {
  if (parts.size() == 1) return std::move(parts[0]);
  BoolExpr e;
  if (parts.empty()) return e;
  e.kind = BoolExpr::Kind::kAnd;
  e.children = std::move(parts);
  return e;
}

void Walker::FinishLevel(Scope* sc, FromState* fs, const Json* where) {
  std::vector<BoolExpr> ons;
  ons.reserve(fs->quals.size());
  for (const Json* q : fs->quals) ons.push_back(q ? Bool(*q, sc, true) : BoolExpr{});
  std::optional<BoolExpr> w;
  if (where) w = Bool(*where, sc, true);
  for (const auto& u : fs->usings) {
    for (const Json& c : *u.columns) {
      const std::string_view col = StringOf(c);
      std::vector<int> left, right;
      UsingSide(*u.larg, col, &left);
      UsingSide(*u.rarg, col, &right);
      for (int l : left) {
        for (int r : right) a_->joins.push_back({l, r, std::string(col), std::string(col)});
      }
    }
  }
  int level_filter = -2;  // -2: not built yet
  std::vector<std::pair<std::vector<int>, int>> by_path;
  for (const Placement& p : fs->placements) {
    int& filter = a_->tables[p.table].filter;
    if (p.where_applies) {
      if (level_filter == -2) {
        std::vector<BoolExpr> parts;
        if (w) parts.push_back(*w);
        for (int q : fs->inner) {
          if (fs->quals[q]) parts.push_back(ons[q]);
        }
        level_filter = parts.empty() ? -1 : AddFilter(AndOf(std::move(parts)));
      }
      filter = level_filter;
      continue;
    }
    auto known = std::find_if(by_path.begin(), by_path.end(),
                              [&](const auto& e) { return e.first == p.path; });
    if (known != by_path.end()) {
      filter = known->second;
      continue;
    }
    std::vector<BoolExpr> parts;
    for (int q : p.path) {
      if (fs->quals[q]) parts.push_back(ons[q]);
    }
    filter = parts.empty() ? -1 : AddFilter(AndOf(std::move(parts)));
    by_path.emplace_back(p.path, filter);
  }
}

// The tables of one side of a USING join that supply `column`.
void Walker::UsingSide(const Json& node, std::string_view column, std::vector<int>* out) {
  const std::string_view type = TypeOf(node);
  if (type == "RangeVar") {
    auto it = table_of_.find(&Body(node));
    if (it != table_of_.end()) out->push_back(it->second);
  } else if (type == "JoinExpr") {
    const Json& b = Body(node);
    const Json& using_cols = Items(b, "usingClause");
    const bool has = std::any_of(using_cols.begin(), using_cols.end(),
                                 [&](const Json& c) { return StringOf(c) == column; });
    if (!has || Str(b, "jointype") != "JOIN_INNER") return;
    if (const Json* l = Get(b, "larg")) UsingSide(*l, column, out);
    if (const Json* r = Get(b, "rarg")) UsingSide(*r, column, out);
  }
}

// ---- Predicates -------------------------------------------------------------------------------

bool Walker::Resolve(const Json& node, const Scope* sc, int* table, std::string* column) const {
  if (TypeOf(node) != "ColumnRef" || !sc) return false;
  const Json& fields = Items(Body(node), "fields");
  if (fields.empty() || fields.size() > 3) return false;
  for (const Json& f : fields) {
    if (TypeOf(f) != "String") return false;  // t.* or an indirection
  }
  *column = std::string(StringOf(fields.back()));
  if (fields.size() == 1) {
    *table = sc->only_table;
    return *table >= 0;
  }
  const std::string_view qual = StringOf(fields[fields.size() - 2]);
  const std::string_view schema = fields.size() == 3 ? StringOf(fields[0]) : "";
  for (const Scope* s = sc; s; s = s->parent) {
    for (const Scope::Name& n : s->names) {
      if (n.name != qual || (!schema.empty() && n.schema != schema)) continue;
      *table = n.table;
      return n.table >= 0;
    }
  }
  return false;
}

int8_t Walker::ConstBool(const Json& node) {
  const std::string_view type = TypeOf(node);
  const Json& b = Body(node);
  if (type == "TypeCast") {
    const Json* arg = Get(b, "arg");
    return arg ? ConstBool(*arg) : int8_t{-1};
  }
  if (type != "A_Const") return -1;
  if (const Json* v = Get(b, "boolval")) return Flag(*v, "boolval") ? 1 : 0;
  const Json* v = Get(b, "sval");
  if (v == nullptr) return -1;
  // 'true' and 'false' share a shape: the cached analysis holds for this text only.
  const ValueRef ref = Value(node);
  if (ref.kind == ValueRef::Kind::kLiteral) a_->structural_literals.emplace_back(ref.index, lits_[ref.index].value);
  std::string text(Str(*v, "sval"));
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (text == "t" || text == "true" || text == "on" || text == "yes" || text == "1") return 1;
  if (text == "f" || text == "false" || text == "off" || text == "no" || text == "0") return 0;
  return -1;  // PostgreSQL takes more spellings (prefixes, blanks): not known here
}

ValueRef Walker::Value(const Json& node) const {
  ValueRef v;
  const std::string_view type = TypeOf(node);
  if (type.empty()) return v;
  const Json& b = Body(node);
  if (type == "ParamRef") {
    v.kind = ValueRef::Kind::kParam;
    v.index = Int(b, "number", 0);
  } else if (type == "SetToDefault") {
    v.kind = ValueRef::Kind::kDefault;
  } else if (type == "A_Const") {
    if (Flag(b, "isnull")) {
      v.kind = ValueRef::Kind::kNull;
      return v;
    }
    const int loc = Int(b, "location", -1);
    auto it = std::lower_bound(lits_.begin(), lits_.end(), loc,
                               [](const Literal& l, int x) { return l.begin < x; });
    if (it != lits_.end() && it->begin == loc) {
      v.kind = ValueRef::Kind::kLiteral;
      v.index = static_cast<int>(it - lits_.begin());
    } else if (loc >= 0 && loc < static_cast<int>(sql_.size()) && sql_[loc] == '-' &&
               it != lits_.end()) {
      // PostgreSQL folds "-5" into one constant located at the '-'.
      int pos = loc + 1;
      const Token next = NextToken(sql_, &pos);
      if (next.begin == it->begin) {
        v.kind = ValueRef::Kind::kLiteral;
        v.index = static_cast<int>(it - lits_.begin());
        v.negate = true;
      }
    }
  } else if (type == "TypeCast") {
    if (const Json* arg = Get(b, "arg")) v = Value(*arg);
    if (v.kind == ValueRef::Kind::kOther || !v.cast.empty()) return ValueRef{};
    if (const Json* tn = Get(b, "typeName")) v.cast = CastName(*tn);
  } else if (type == "A_Expr" && Str(b, "kind") == "AEXPR_OP" && !Get(b, "lexpr") &&
             LastName(Items(b, "name")) == "-" && Get(b, "rexpr")) {
    v = Value(b["rexpr"]);  // "-$1"
    if (v.kind != ValueRef::Kind::kParam || v.negate) return ValueRef{};
    v.negate = true;
  }
  return v;
}

bool Walker::ValuesOf(const Json& list, std::vector<ValueRef>* out) const {
  for (const Json& item : list) {
    out->push_back(Value(item));
    if (out->back().kind == ValueRef::Kind::kOther) return false;
  }
  return !out->empty();
}

bool Walker::ValueOne(const Json& node, std::vector<ValueRef>* out) const {
  out->push_back(Value(node));
  return out->back().kind != ValueRef::Kind::kOther;
}

BoolExpr Walker::Leaf(int table, std::string_view column, PredOp op, std::vector<ValueRef> values,
                      bool negated) {
  Predicate p;
  p.table = table;
  p.column = std::string(column);
  p.op = op;
  p.values = std::move(values);
  p.negated = negated;
  a_->predicates.push_back(std::move(p));
  BoolExpr e;
  e.kind = BoolExpr::Kind::kPred;
  e.predicate = static_cast<int>(a_->predicates.size()) - 1;
  return e;
}

BoolExpr Walker::Opaque(const Json& e, const Scope* sc) {
  Visit(e, sc);
  return BoolExpr{};
}

BoolExpr Walker::Bool(const Json& e, const Scope* sc, bool conjunct) {
  const std::string_view type = TypeOf(e);
  if (type.empty()) return BoolExpr{};
  const Json& b = Body(e);
  if (type == "BoolExpr") {
    const std::string_view op = Str(b, "boolop");
    BoolExpr out;
    out.kind = op == "AND_EXPR"  ? BoolExpr::Kind::kAnd
               : op == "OR_EXPR" ? BoolExpr::Kind::kOr
                                 : BoolExpr::Kind::kNot;
    for (const Json& arg : Items(b, "args")) {
      out.children.push_back(Bool(arg, sc, conjunct && out.kind == BoolExpr::Kind::kAnd));
    }
    return out;
  }
  int table = -1;
  std::string column;
  if (type == "NullTest") {
    if (!Get(b, "arg") || !Resolve(b["arg"], sc, &table, &column)) return Opaque(e, sc);
    const bool is_null = Str(b, "nulltesttype") == "IS_NULL";
    return Leaf(table, column, is_null ? PredOp::kIsNull : PredOp::kIsNotNull, {}, false);
  }
  if (type != "A_Expr" || !Get(b, "lexpr") || !Get(b, "rexpr")) return Opaque(e, sc);
  const std::string_view kind = Str(b, "kind");
  const std::string_view op = LastName(Items(b, "name"));
  const Json& lhs = b["lexpr"];
  const Json& rhs = b["rexpr"];
  std::vector<ValueRef> values;
  if (kind == "AEXPR_OP") {
    const std::optional<PredOp> cmp = ComparisonOp(op);
    if (!cmp) return Opaque(e, sc);
    int rtable = -1;
    std::string rcolumn;
    const bool lcol = Resolve(lhs, sc, &table, &column);
    const bool rcol = Resolve(rhs, sc, &rtable, &rcolumn);
    if (lcol && rcol) {
      if (conjunct && *cmp == PredOp::kEq && table != rtable) {
        a_->joins.push_back({table, rtable, column, rcolumn});
      }
      return BoolExpr{};
    }
    if (lcol && ValueOne(rhs, &values)) {
      return Leaf(table, column, *cmp, std::move(values), false);
    }
    values.clear();
    if (rcol && ValueOne(lhs, &values)) {
      return Leaf(rtable, rcolumn, Commute(*cmp), std::move(values), false);
    }
    return Opaque(e, sc);
  }
  if (!Resolve(lhs, sc, &table, &column)) return Opaque(e, sc);
  if (kind == "AEXPR_IN" && TypeOf(rhs) == "List" &&
      ValuesOf(Items(Body(rhs), "items"), &values)) {
    return Leaf(table, column, PredOp::kIn, std::move(values), op == "<>");
  }
  if (kind == "AEXPR_OP_ANY" && op == "=" && TypeOf(rhs) == "A_ArrayExpr" &&
      ValuesOf(Items(Body(rhs), "elements"), &values)) {
    return Leaf(table, column, PredOp::kIn, std::move(values), false);
  }
  if ((kind == "AEXPR_BETWEEN" || kind == "AEXPR_NOT_BETWEEN") && TypeOf(rhs) == "List" &&
      Items(Body(rhs), "items").size() == 2 && ValuesOf(Items(Body(rhs), "items"), &values)) {
    return Leaf(table, column, PredOp::kBetween, std::move(values),
                kind == "AEXPR_NOT_BETWEEN");
  }
  return Opaque(e, sc);
}

// Walks an expression for subqueries (new levels whose tables are in_subquery).
void Walker::Visit(const Json& node, const Scope* sc) {
  if (node.is_array()) {
    for (const Json& n : node) Visit(n, sc);
    return;
  }
  if (!node.is_object()) return;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string& key = it.key();
    if (key == "SubLink") {
      if (const Json* sub = Get(it.value(), "subselect")) Dml(*sub, sc, true);
      if (const Json* t = Get(it.value(), "testexpr")) Visit(*t, sc);
    } else if (key == "SelectStmt" || key == "InsertStmt" || key == "UpdateStmt" ||
               key == "DeleteStmt") {
      Dml(node, sc, true);
    } else {
      Visit(it.value(), sc);
    }
  }
}

// ---- The top level of a SELECT ----------------------------------------------------------------

bool Walker::ContainsAgg(const Json& node) const {
  if (node.is_array()) {
    return std::any_of(node.begin(), node.end(), [&](const Json& n) { return ContainsAgg(n); });
  }
  if (!node.is_object()) return false;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (it.key() == "SubLink") continue;
    if (it.key() == "FuncCall" && AggregateOf(it.value()) != TargetColumn::Agg::kNone) return true;
    if (ContainsAgg(it.value())) return true;
  }
  return false;
}

bool Walker::SameExpr(const Json& a, const Json& b, const Scope& sc) const {
  if (TypeOf(a) == "ColumnRef" && TypeOf(b) == "ColumnRef") {
    int ta = -1, tb = -1;
    std::string ca, cb;
    if (Resolve(a, &sc, &ta, &ca) && Resolve(b, &sc, &tb, &cb)) return ta == tb && ca == cb;
    return Items(Body(a), "fields") == Items(Body(b), "fields");
  }
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!SameExpr(a[i], b[i], sc)) return false;
    }
    return true;
  }
  if (!a.is_object()) return a == b;
  size_t na = 0;
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (it.key() == "location") continue;
    ++na;
    const Json* other = Get(b, it.key().c_str());
    if (!other || !SameExpr(it.value(), *other, sc)) return false;
  }
  size_t nb = 0;
  for (auto it = b.begin(); it != b.end(); ++it) nb += it.key() != "location";
  return na == nb;
}

// The target a GROUP BY / ORDER BY key denotes: by ordinal (recorded as a structural literal),
// by output name, or by an identical expression. -1 if none.
int Walker::ResolveTarget(const Json& expr, const Json& targets, const Scope& sc,
                          bool names_first) {
  const ValueRef v = Value(expr);
  if (TypeOf(expr) == "A_Const") {
    if (v.kind != ValueRef::Kind::kLiteral || v.negate ||
        lits_[v.index].kind != Literal::Kind::kNumber) {
      return -1;
    }
    const std::string& text = lits_[v.index].value;
    a_->structural_literals.emplace_back(v.index, text);
    const bool star = std::any_of(a_->targets.begin(), a_->targets.end(),
                                  [](const TargetColumn& t) { return t.is_star; });
    if (star || text.size() > 6 || text.find_first_not_of("0123456789") != std::string::npos) {
      return -1;
    }
    const int ordinal = std::stoi(text);
    return ordinal >= 1 && ordinal <= static_cast<int>(a_->targets.size()) ? ordinal - 1 : -1;
  }
  auto by_name = [&]() {
    const Json& fields = TypeOf(expr) == "ColumnRef" ? Items(Body(expr), "fields") : EmptyArray();
    if (fields.size() != 1 || TypeOf(fields[0]) != "String") return -1;
    for (size_t i = 0; i < a_->targets.size(); ++i) {
      if (!a_->targets[i].is_star && a_->targets[i].name == StringOf(fields[0])) {
        return static_cast<int>(i);
      }
    }
    return -1;
  };
  auto by_expr = [&]() {
    for (size_t i = 0; i < targets.size(); ++i) {
      const Json* val = Get(Body(targets[i]), "val");
      if (val && SameExpr(expr, *val, sc)) return static_cast<int>(i);
    }
    return -1;
  };
  if (names_first) {
    const int n = by_name();
    return n >= 0 ? n : by_expr();
  }
  const int e = by_expr();
  return e >= 0 ? e : by_name();
}

void Walker::TopSelect(const Json& s, const Scope& sc) {
  const Json& distinct = Items(s, "distinctClause");
  a_->distinct = distinct.size() == 1 && distinct[0].is_object() && distinct[0].empty();
  a_->distinct_on = !distinct.empty() && !a_->distinct;
  Tokenize();
  Targets(s);
  for (int i = 0; i < stop_; ++i) {
    if (Kw(i, "from") && IsClauseKeyword(i)) {
      a_->from_begin = toks_[i].t.begin;
      break;
    }
  }
  GroupBy(s, sc);
  Having(s);
  GroupByAt();
  OrderBy(s, sc);
  Limit(s);
  a_->has_aggregates = a_->has_aggregates || a_->has_having;
  // A subquery in FROM that reads no table (a VALUES list, constants: what Mosaic writes for a
  // subquery or CTE it ran first) is the same on every node: each node joins its own rows with
  // it, and the nodes' results combine as for tables alone. One that reads tables is not.
  const bool from_subquery_reads_tables =
      has_from_subquery_ && std::any_of(a_->tables.begin(), a_->tables.end(), [](const TableRef& t) { return t.in_subquery; });
  a_->simple_select = !Items(s, "fromClause").empty() && !Get(s, "withClause") && !has_window_ &&
                      !has_sublink_ && !from_subquery_reads_tables && !a_->distinct_on && !a_->locking &&
                      !Get(s, "intoClause") && Get(s, "valuesLists") == nullptr;
  a_->limit_with_ties = Str(s, "limitOption") == "LIMIT_OPTION_WITH_TIES";
  for (const Json& item : Items(s, "fromClause")) {
    const std::string_view t = TypeOf(item);
    if (t != "RangeVar" && t != "JoinExpr" && t != "RangeSubselect") a_->simple_select = false;
  }
  for (const TargetColumn& t : a_->targets) {
    if (t.text_begin < 0) a_->simple_select = false;  // e.g. a parenthesised SELECT
  }
  // SELECT mosaic.fn(args): a request to Mosaic itself.
  const Json& targets = Items(s, "targetList");
  if (targets.size() == 1 && !Get(s, "fromClause")) {
    const Json* val = Get(Body(targets[0]), "val");
    if (val && TypeOf(*val) == "FuncCall") {
      const Json& names = Items(Body(*val), "funcname");
      if (names.size() == 2 && StringOf(names[0]) == "mosaic") {
        a_->mosaic_function = std::string(StringOf(names[1]));
        for (const Json& arg : Items(Body(*val), "args")) a_->mosaic_args.push_back(Value(arg));
      }
    }
  }
}

void Walker::Targets(const Json& s) {
  const Json& targets = Items(s, "targetList");
  for (const Json& t : targets) {
    TargetColumn col;
    const Json& rt = Body(t);
    const Json* val = Get(rt, "val");
    if (val && TypeOf(*val) == "ColumnRef") {
      const Json& fields = Items(Body(*val), "fields");
      col.is_star = !fields.empty() && TypeOf(fields.back()) == "A_Star";
      if (!col.is_star && !fields.empty()) col.column = std::string(StringOf(fields.back()));
    } else if (val && TypeOf(*val) == "FuncCall") {
      col.agg = AggregateOf(Body(*val), /*filter_ok=*/true);
      col.agg_distinct = col.agg != TargetColumn::Agg::kNone && Flag(Body(*val), "agg_distinct");
      if (col.agg != TargetColumn::Agg::kNone) {
        col.contains_agg = ContainsAgg(Items(Body(*val), "args"));
        if (col.agg != TargetColumn::Agg::kOtherAgg && col.agg != TargetColumn::Agg::kCountStar) {
          ArgRange(Int(Body(*val), "location", -1), &col.arg_begin, &col.arg_end);
        }
      }
    }
    if (val && col.agg == TargetColumn::Agg::kNone) FinishedAggregate(*val, &col);
    if (val && col.agg == TargetColumn::Agg::kNone) col.contains_agg = ContainsAgg(*val);
    if (val && TypeOf(*val) == "FuncCall" && col.finish.kind == AggFinish::Kind::kNone) {
      col.agg_filter = Get(Body(*val), "agg_filter") != nullptr;
    }
    a_->has_aggregates |= col.agg != TargetColumn::Agg::kNone || col.contains_agg;
    const std::string_view alias = Str(rt, "name");
    col.name = !alias.empty() ? std::string(alias) : val ? FigureColname(*val) : "?column?";
    a_->targets.push_back(std::move(col));
  }
  // Text ranges: the target list runs from after SELECT [DISTINCT [ON (...)] | ALL] to the next
  // clause; each target is one depth-0 comma-separated piece, without its alias.
  const int select = [&] {
    for (int i = 0; i < stop_; ++i) {
      if (toks_[i].depth == 0 && Kw(i, "select")) return i;
    }
    return -1;
  }();
  if (select < 0 || targets.empty()) return;
  int first = select + 1;
  if (first < stop_ && Kw(first, "all")) ++first;
  if (first < stop_ && Kw(first, "distinct")) {
    ++first;
    if (first < stop_ && Kw(first, "on")) {
      ++first;
      while (first < stop_ && !(toks_[first].depth == 0 && sql_[toks_[first].t.begin] == ')')) {
        ++first;
      }
      ++first;
    }
  }
  const int end = NextClause(select);
  if (first >= end) return;
  a_->targets_begin = toks_[first].t.begin;
  a_->targets_end = toks_[end - 1].t.end;
  const auto pieces = Split(first, end);
  if (pieces.size() != targets.size()) return;
  for (size_t i = 0; i < pieces.size(); ++i) {
    auto [b, e] = pieces[i];
    if (!Str(Body(targets[i]), "name").empty() && e - b >= 2) {
      --e;  // the alias
      if (e - b >= 2 && Kw(e - 1, "as")) --e;
    }
    a_->targets[i].text_begin = toks_[b].t.begin;
    a_->targets[i].text_end = toks_[e - 1].t.end;
  }
}

// Where a GROUP BY would go, only when count(DISTINCT) without one needs it: a range after the
// statement's literals would make the analysis cache copy the analysis for every execution.
void Walker::GroupByAt() {
  const bool needed =
      a_->group_by_begin < 0 && a_->from_begin >= 0 && stop_ > 0 &&
      (std::any_of(a_->targets.begin(), a_->targets.end(), [](const TargetColumn& t) { return t.agg_distinct; }) ||
       std::any_of(a_->having.begin(), a_->having.end(), [](const HavingCond& h) { return h.agg_distinct; }));
  if (!needed) return;
  for (int i = 0; i < stop_; ++i) {
    if (toks_[i].t.begin <= a_->from_begin || !IsClauseKeyword(i)) continue;
    if (Kw(i, "from") || Kw(i, "where") || Kw(i, "into")) continue;
    a_->group_by_at = toks_[i].t.begin;
    return;
  }
  a_->group_by_at = toks_[stop_ - 1].t.end;
}

// An integer constant (recorded as structural: it changes the statement's meaning).
bool Walker::IntConstant(const Json& node, int32_t* out) {
  const ValueRef v = Value(node);
  if (TypeOf(node) != "A_Const" || v.kind != ValueRef::Kind::kLiteral ||
      lits_[v.index].kind != Literal::Kind::kNumber) {
    return false;
  }
  const std::string& text = lits_[v.index].value;
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  a_->structural_literals.emplace_back(v.index, text);
  *out = std::stoi(text) * (v.negate ? -1 : 1);
  return true;
}

// `aggregate::type`, CAST(aggregate AS type) and round(aggregate[, n]): the aggregate's fields
// of `col` and what is applied after it.
void Walker::FinishedAggregate(const Json& val, TargetColumn* col) {
  const Json& b = Body(val);
  const bool cast = TypeOf(val) == "TypeCast" && Get(b, "typeName");
  const bool round = TypeOf(val) == "FuncCall" && BuiltinName(b) == "round" && !Get(b, "over") &&
                     !Get(b, "agg_filter") && !Flag(b, "agg_star") && !Flag(b, "agg_distinct") &&
                     (Items(b, "args").size() == 1 || Items(b, "args").size() == 2);
  const Json* func = cast ? Get(b, "arg") : round ? &Items(b, "args")[0] : nullptr;
  if (!func || TypeOf(*func) != "FuncCall") return;
  const Json& fb = Body(*func);
  const TargetColumn::Agg agg = AggregateOf(fb, /*filter_ok=*/true);
  if (agg == TargetColumn::Agg::kNone || ContainsAgg(Items(fb, "args"))) return;
  AggFinish& finish = col->finish;
  if (cast) {
    finish.kind = AggFinish::Kind::kCast;
    const Json& type_name = *Get(b, "typeName");
    finish.type = FinishTypeName(type_name);
    for (const Json& m : Items(type_name, "typmods")) {
      int32_t n = 0;
      finish.unreadable = !IntConstant(m, &n) || finish.unreadable;
      finish.args.push_back(n);
    }
  } else {
    finish.kind = AggFinish::Kind::kRound;
    int32_t n = 0;
    if (Items(b, "args").size() == 2) {
      finish.unreadable = !IntConstant(Items(b, "args")[1], &n);
      finish.args.push_back(n);
    }
  }
  col->agg = agg;
  col->agg_distinct = Flag(fb, "agg_distinct");
  col->agg_filter = Get(fb, "agg_filter") != nullptr;
  const int location = Int(fb, "location", -1);
  CallRange(location, &col->agg_begin, &col->agg_end);
  if (agg != TargetColumn::Agg::kOtherAgg && agg != TargetColumn::Agg::kCountStar) {
    ArgRange(location, &col->arg_begin, &col->arg_end);
  }
}

void Walker::GroupBy(const Json& s, const Scope& sc) {
  const Json& keys = Items(s, "groupClause");
  if (keys.empty()) return;
  for (int i = 0; i < stop_; ++i) {
    if (toks_[i].depth == 0 && Kw(i, "group") && IsClauseKeyword(i)) {
      a_->group_by_begin = toks_[i].t.begin;
      a_->group_by_end = ClauseEnd(i);
      break;
    }
  }
  // Each key's text, for those that are not output columns.
  std::vector<std::pair<int, int>> pieces;
  for (int i = 0; i < stop_; ++i) {
    if (toks_[i].depth == 0 && Kw(i, "group") && IsClauseKeyword(i)) {
      int first = i + 2;
      if (first < stop_ && (Kw(first, "distinct") || Kw(first, "all"))) ++first;
      pieces = Split(first, NextClause(i));
      break;
    }
  }
  const Json& targets = Items(s, "targetList");
  for (size_t k = 0; k < keys.size(); ++k) {
    const Json& key = keys[k];
    const std::string_view type = TypeOf(key);
    const int t = type == "GroupingSet" ? -1 : ResolveTarget(key, targets, sc, false);
    if (t >= 0) {
      a_->group_by.push_back(t);
    } else if (type != "GroupingSet" && type != "A_Const" && pieces.size() == keys.size() &&
               !ContainsAgg(key)) {
      auto [b, e] = pieces[k];
      a_->group_by_hidden.emplace_back(toks_[b].t.begin, toks_[e - 1].t.end);
      hidden_keys_.push_back(&key);
    } else {
      a_->group_by_unresolved = true;
    }
  }
}

void Walker::Having(const Json& s) {
  const Json* having = Get(s, "havingClause");
  if (!having) return;
  a_->has_having = true;
  for (int i = 0; i < stop_; ++i) {
    if (Kw(i, "having") && IsClauseKeyword(i)) {
      a_->having_begin = toks_[i].t.begin;
      a_->having_end = ClauseEnd(i);
      break;
    }
  }
  std::vector<const Json*> conjuncts;
  if (TypeOf(*having) == "BoolExpr" && Str(Body(*having), "boolop") == "AND_EXPR") {
    for (const Json& arg : Items(Body(*having), "args")) conjuncts.push_back(&arg);
  } else {
    conjuncts.push_back(having);
  }
  for (const Json* c : conjuncts) {
    std::optional<PredOp> op;
    if (TypeOf(*c) == "A_Expr" && Str(Body(*c), "kind") == "AEXPR_OP") {
      op = ComparisonOp(LastName(Items(Body(*c), "name")));
    }
    const Json* l = op ? Get(Body(*c), "lexpr") : nullptr;
    const Json* r = op ? Get(Body(*c), "rexpr") : nullptr;
    if (l && r && TypeOf(*l) != "FuncCall") {
      std::swap(l, r);
      *op = Commute(*op);
    }
    HavingCond h;
    if (l && r && TypeOf(*l) == "FuncCall") {
      h.agg = AggregateOf(Body(*l));
      h.value = Value(*r);
    }
    if (!l || !r || TypeOf(*l) != "FuncCall" || h.agg == TargetColumn::Agg::kNone ||
        h.agg == TargetColumn::Agg::kOtherAgg || h.value.kind == ValueRef::Kind::kOther) {
      a_->having_unsupported = true;
      a_->having.clear();
      return;
    }
    h.agg_distinct = Flag(Body(*l), "agg_distinct");
    h.op = *op;
    if (h.agg != TargetColumn::Agg::kCountStar) {
      ArgRange(Int(Body(*l), "location", -1), &h.arg_begin, &h.arg_end);
    }
    a_->having.push_back(std::move(h));
  }
}

void Walker::OrderBy(const Json& s, const Scope& sc) {
  const Json& keys = Items(s, "sortClause");
  if (keys.empty()) return;
  int order = -1;
  for (int i = 0; i < stop_; ++i) {
    if (toks_[i].depth == 0 && Kw(i, "order") && IsClauseKeyword(i)) {
      order = i;
      break;
    }
  }
  std::vector<std::pair<int, int>> pieces;
  if (order >= 0 && order + 2 < stop_) {
    a_->order_by_begin = toks_[order].t.begin;
    a_->order_by_end = ClauseEnd(order);
    pieces = Split(order + 2, NextClause(order));
  }
  const Json& targets = Items(s, "targetList");
  for (size_t i = 0; i < keys.size(); ++i) {
    if (TypeOf(keys[i]) != "SortBy") continue;
    const Json& sb = Body(keys[i]);
    SortKey k;
    const std::string_view dir = Str(sb, "sortby_dir");
    k.descending = dir == "SORTBY_DESC";
    const std::string_view nulls = Str(sb, "sortby_nulls");
    if (nulls == "SORTBY_NULLS_FIRST") k.nulls_first = true;
    if (nulls == "SORTBY_NULLS_LAST") k.nulls_first = false;
    if (const Json* node = Get(sb, "node")) {
      k.target = ResolveTarget(*node, targets, sc, true);
      for (size_t g = 0; g < hidden_keys_.size() && k.target < 0 && k.group_key < 0; ++g) {
        if (SameExpr(*node, *hidden_keys_[g], sc)) k.group_key = static_cast<int>(g);
      }
    }
    if (dir == "SORTBY_USING") {
      const std::string_view op = LastName(Items(sb, "useOp"));
      k.descending = op == ">";
      if (op != "<" && op != ">") k.target = k.group_key = -1;
    }
    if (pieces.size() == keys.size()) {
      auto [b, e] = pieces[i];
      if (e - b >= 3 && Kw(e - 2, "nulls")) e -= 2;
      if (e - b >= 2 && (Kw(e - 1, "asc") || Kw(e - 1, "desc"))) {
        --e;
      } else if (e - b >= 3 && Kw(e - 2, "using")) {
        e -= 2;
      }
      k.text_begin = toks_[b].t.begin;
      k.text_end = toks_[e - 1].t.end;
    }
    a_->order_by.push_back(std::move(k));
  }
  a_->has_aggregates |= ContainsAgg(keys);
}

void Walker::Limit(const Json& s) {
  if (const Json* c = Get(s, "limitCount")) a_->limit = Value(*c);
  if (const Json* o = Get(s, "limitOffset")) a_->offset = Value(*o);
  if (!a_->limit && !a_->offset) return;
  for (int i = 0; i < stop_; ++i) {
    if (toks_[i].depth != 0 || !IsClauseKeyword(i)) continue;
    if (Kw(i, "limit") || Kw(i, "offset") || Kw(i, "fetch")) {
      if (a_->limit_begin < 0) a_->limit_begin = toks_[i].t.begin;
      a_->limit_end = ClauseEnd(i);
    }
  }
}

// ---- Tokens -----------------------------------------------------------------------------------

void Walker::Tokenize() {
  int pos = stmt_begin_;
  int depth = 0;
  const std::string_view text = sql_.substr(0, stmt_end_);
  for (;;) {
    const Token t = NextToken(text, &pos);
    if (t.kind == Token::Kind::kEnd || t.kind == Token::Kind::kError) break;
    const char c = sql_[t.begin];
    const bool punct = t.kind == Token::Kind::kPunct && t.end - t.begin == 1;
    if (punct && (c == ')' || c == ']') && depth > 0) --depth;
    toks_.push_back({t, depth});
    if (punct && (c == '(' || c == '[')) ++depth;
  }
  stop_ = static_cast<int>(toks_.size());
  for (int i = 0; i < stop_; ++i) {
    if (toks_[i].depth == 0 && toks_[i].t.kind == Token::Kind::kPunct &&
        sql_[toks_[i].t.begin] == ';') {
      stop_ = i;
      break;
    }
  }
}

int Walker::TokAt(int offset) const {
  auto it = std::lower_bound(toks_.begin(), toks_.begin() + stop_, offset,
                             [](const Tok& t, int x) { return t.t.begin < x; });
  return it != toks_.begin() + stop_ && it->t.begin == offset
             ? static_cast<int>(it - toks_.begin())
             : -1;
}

bool Walker::Kw(int i, std::string_view kw) const {
  const Token& t = toks_[i].t;
  return t.kind == Token::Kind::kIdent && IEquals(sql_.substr(t.begin, t.end - t.begin), kw);
}

// A depth-0 reserved word that starts a clause of the top SELECT (not an alias, a qualified
// name's part, IS DISTINCT FROM or WITHIN GROUP).
bool Walker::IsClauseKeyword(int i) const {
  if (toks_[i].depth != 0 || toks_[i].t.kind != Token::Kind::kIdent) return false;
  if (i > 0 && (Kw(i - 1, "as") || sql_[toks_[i - 1].t.begin] == '.')) return false;
  static constexpr std::array<std::string_view, 15> kClauses = {
      "from", "into", "where", "group", "having", "window", "order", "limit", "offset", "fetch",
      "for", "union", "intersect", "except", "returning"};
  const std::string_view w = sql_.substr(toks_[i].t.begin, toks_[i].t.end - toks_[i].t.begin);
  if (!std::any_of(kClauses.begin(), kClauses.end(), [&](std::string_view k) { return IEquals(w, k); })) {
    return false;
  }
  if (IEquals(w, "from") && i > 0 && Kw(i - 1, "distinct")) return false;
  if (IEquals(w, "group") && i > 0 && Kw(i - 1, "within")) return false;
  return true;
}

// Index of the next clause keyword after token i (or the statement's end).
int Walker::NextClause(int i) const {
  for (int j = i + 1; j < stop_; ++j) {
    if (IsClauseKeyword(j)) return j;
  }
  return stop_;
}

// Token index ranges [from, to) split at commas of from's depth.
std::vector<std::pair<int, int>> Walker::Split(int from, int to) const {
  std::vector<std::pair<int, int>> out;
  if (from >= to) return out;
  const int depth = toks_[from].depth;
  int start = from;
  for (int i = from; i < to; ++i) {
    if (toks_[i].depth == depth && toks_[i].t.kind == Token::Kind::kPunct &&
        sql_[toks_[i].t.begin] == ',') {
      if (i > start) out.emplace_back(start, i);
      start = i + 1;
    }
  }
  if (to > start) out.emplace_back(start, to);
  return out;
}

// The byte range of the (single) argument of the call whose name starts at func_location.
void Walker::ArgRange(int func_location, int* begin, int* end) const {
  int i = TokAt(func_location);
  if (i < 0) return;
  const int depth = toks_[i].depth;
  while (i < stop_ && !(toks_[i].depth == depth && sql_[toks_[i].t.begin] == '(')) ++i;
  int first = i + 1;
  if (first < stop_ && (Kw(first, "distinct") || Kw(first, "all"))) ++first;
  int last = first;
  while (last < stop_ && toks_[last].depth > depth) ++last;
  if (last >= stop_ || first >= last) return;
  *begin = toks_[first].t.begin;
  *end = toks_[last - 1].t.end;
}

// The byte range of the call whose name starts at func_location, through its closing
// parenthesis and a FILTER (...) clause after it.
void Walker::CallRange(int func_location, int* begin, int* end) const {
  int i = TokAt(func_location);
  if (i < 0) return;
  const int depth = toks_[i].depth;
  int close = i;
  while (close < stop_ && !(toks_[close].depth == depth && sql_[toks_[close].t.begin] == '(')) ++close;
  ++close;
  while (close < stop_ && toks_[close].depth > depth) ++close;
  if (close >= stop_) return;
  if (close + 2 < stop_ && Kw(close + 1, "filter") && sql_[toks_[close + 2].t.begin] == '(') {
    close += 3;
    while (close < stop_ && toks_[close].depth > depth) ++close;
    if (close >= stop_) return;
  }
  *begin = toks_[i].t.begin;
  *end = toks_[close].t.end;
}

// VALUES (...), (...): each row's parenthesised range.
void Walker::ValuesRanges() {
  Tokenize();
  int i = 0;
  while (i < stop_ && !(toks_[i].depth == 0 && Kw(i, "values"))) ++i;
  std::vector<std::pair<int, int>> rows;
  for (++i; i < stop_ && toks_[i].depth == 0 && sql_[toks_[i].t.begin] == '(';) {
    int j = i + 1;
    while (j < stop_ && toks_[j].depth > 0) ++j;
    if (j >= stop_) break;
    rows.emplace_back(toks_[i].t.begin, toks_[j].t.end);
    i = j + 1;
    if (i < stop_ && sql_[toks_[i].t.begin] == ',' && toks_[i].t.kind == Token::Kind::kPunct) {
      ++i;
    } else {
      break;
    }
  }
  if (rows.size() != a_->insert_rows.size() || rows.empty()) return;
  for (size_t r = 0; r < rows.size(); ++r) {
    a_->insert_rows[r].text_begin = rows[r].first;
    a_->insert_rows[r].text_end = rows[r].second;
  }
  a_->values_begin = rows.front().first;
  a_->values_end = rows.back().second;
}

// INSERT ... SELECT: the SELECT's byte range, from its first token after the target (and its
// column list) to the ON CONFLICT clause, a RETURNING clause or the statement's end.
void Walker::InsertSelectRange(const Json& insert) {
  if (toks_.empty()) Tokenize();
  const Json* rel = Get(insert, "relation");
  int i = rel ? TokAt(Int(*rel, "location", -1)) : -1;
  if (i < 0) return;
  bool columns_skipped = !a_->insert_has_column_list;
  for (; i < stop_; ++i) {
    if (toks_[i].depth != 0) continue;
    if (Kw(i, "select") || Kw(i, "values") || Kw(i, "with") || Kw(i, "table")) break;
    if (sql_[toks_[i].t.begin] == '(' && toks_[i].t.kind == Token::Kind::kPunct) {
      if (columns_skipped) break;
      columns_skipped = true;
    }
  }
  if (i >= stop_) return;
  int end = toks_[stop_ - 1].t.end;
  if (const Json* oc = Get(insert, "onConflictClause")) {
    end = Int(*oc, "location", -1);
  } else {
    for (int k = i; k < stop_; ++k) {
      if (toks_[k].depth == 0 && Kw(k, "returning")) {
        end = toks_[k].t.begin;
        break;
      }
    }
  }
  if (end <= toks_[i].t.begin) return;
  a_->insert_select_begin = toks_[i].t.begin;
  a_->insert_select_end = end;
}

// ---- Rebasing cached byte ranges --------------------------------------------------------------

// Calls f on every byte offset field of `a`.
template <typename F>
void ForEachOffset(Analysis* a, F f) {
  for (TargetColumn& t : a->targets) {
    f(t.text_begin), f(t.text_end), f(t.arg_begin), f(t.arg_end), f(t.agg_begin), f(t.agg_end);
  }
  for (auto& [b, e] : a->group_by_hidden) f(b), f(e);
  for (SortKey& k : a->order_by) f(k.text_begin), f(k.text_end);
  for (HavingCond& h : a->having) f(h.arg_begin), f(h.arg_end);
  for (InsertRow& r : a->insert_rows) f(r.text_begin), f(r.text_end);
  for (int* p : {&a->group_by_begin, &a->group_by_end, &a->having_begin, &a->having_end,
                 &a->order_by_begin, &a->order_by_end, &a->limit_begin, &a->limit_end,
                 &a->targets_begin, &a->targets_end, &a->from_begin, &a->values_begin,
                 &a->values_end, &a->group_by_at, &a->insert_select_begin, &a->insert_select_end}) {
    f(*p);
  }
}

int MaxOffset(const Analysis& a) {
  int max = -1;
  ForEachOffset(const_cast<Analysis*>(&a), [&](int& o) { max = std::max(max, o); });
  return max;
}

}  // namespace

std::shared_ptr<const Analysis> Analyze(std::string_view sql, const std::vector<Literal>& literals) {
  auto a = std::make_shared<Analysis>();
  const std::string text(sql);  // libpg_query wants a NUL-terminated string
  PgQueryParseResult r = pg_query_parse(text.c_str());
  if (r.error) {
    a->type = StatementType::kUtility;
    a->parse_error = true;
    a->error = r.error->message ? r.error->message : "syntax error";
    pg_query_free_parse_result(r);
    return a;
  }
  const Json tree = Json::parse(r.parse_tree, nullptr, /*allow_exceptions=*/false);
  pg_query_free_parse_result(r);
  if (tree.is_discarded()) {
    a->type = StatementType::kUtility;
    a->parse_error = true;
    a->error = "statement analysis failed: unreadable parse tree";
    return a;
  }
  try {
    const Json& stmts = Items(tree, "stmts");
    if (stmts.empty()) {
      a->type = StatementType::kEmpty;
      return a;
    }
    Walker w(sql, literals, a.get());
    w.Statement(stmts[0]);
  } catch (const std::exception& e) {
    // Only a malformed tree (a libpg_query bug) gets here; don't let it take the router down.
    *a = Analysis{};
    a->type = StatementType::kUtility;
    a->parse_error = true;
    a->error = std::string("statement analysis failed: ") + e.what();
  }
  return a;
}

AnalysisCache::AnalysisCache(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

std::shared_ptr<const Analysis> AnalysisCache::Get(std::string_view sql, Lexed* lexed) {
  Lex(sql, lexed);
  const std::vector<Literal>& lits = lexed->literals;
  auto fill = [&](Entry* e) {
    e->hash = lexed->shape_hash;
    e->layout = lexed->layout_hash;
    e->analysis = Analyze(sql, lits);
    e->max_offset = MaxOffset(*e->analysis);
    e->spans.clear();
    for (const Literal& l : lits) e->spans.emplace_back(l.begin, l.end);
  };
  auto found = map_.find(lexed->shape_hash);
  if (found == map_.end()) {
    ++misses_;
    lru_.emplace_front();
    fill(&lru_.front());
    map_.emplace(lexed->shape_hash, lru_.begin());
    if (map_.size() > capacity_) {
      map_.erase(lru_.back().hash);
      lru_.pop_back();
    }
    return lru_.front().analysis;
  }
  lru_.splice(lru_.begin(), lru_, found->second);
  Entry& e = lru_.front();
  bool usable = e.spans.size() == lits.size() && (e.max_offset < 0 || e.layout == lexed->layout_hash);
  for (const auto& [slot, text] : e.analysis->structural_literals) {
    usable = usable && slot < static_cast<int>(lits.size()) && lits[slot].value == text;
  }
  if (!usable) {
    ++misses_;
    fill(&e);
    return e.analysis;
  }
  ++hits_;
  // Byte ranges after a literal whose length differs from the cached text's move with it.
  size_t first = 0;
  while (first < lits.size() &&
         lits[first].end - lits[first].begin == e.spans[first].second - e.spans[first].first) {
    ++first;
  }
  if (first == lits.size() || e.max_offset < e.spans[first].second) return e.analysis;
  auto copy = std::make_shared<Analysis>(*e.analysis);
  ForEachOffset(copy.get(), [&](int& o) {
    if (o < 0) return;
    int delta = 0;
    for (size_t i = 0; i < lits.size() && e.spans[i].second <= o; ++i) {
      delta += (lits[i].end - lits[i].begin) - (e.spans[i].second - e.spans[i].first);
    }
    o += delta;
  });
  return copy;
}

}  // namespace mosaic::sql
