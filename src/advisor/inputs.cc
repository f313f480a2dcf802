// Statement shapes from per-column filter counts.
#include "advisor/inputs.h"

#include <fmt/format.h>

#include <algorithm>

namespace mosaic::advisor {
namespace {

std::string_view OpName(FilterOp op) {
  switch (op) {
    case FilterOp::kEq: return "=";
    case FilterOp::kIn: return "IN";
    case FilterOp::kRange: return "range";
    case FilterOp::kOther: return "other";
  }
  return "other";
}

// Adds the read and write shapes of `count` statements of table t with `filters`.
void AddShapes(const TableActivity& t, double count, std::vector<ColumnFilter> filters, std::string fingerprint,
               std::vector<StatementStats>& out) {
  if (count <= 0 || t.statements <= 0) return;
  const double cost_per = (t.cost > 0 ? t.cost : t.statements) / t.statements;
  const double write_share = std::clamp(t.writes / t.statements, 0.0, 1.0);
  for (bool write : {false, true}) {
    const double calls = count * (write ? write_share : 1 - write_share);
    if (calls <= 0) continue;
    StatementStats s;
    s.fingerprint = fmt::format("{} ({})", fingerprint, write ? "writes" : "reads");
    s.write = write;
    s.calls = calls;
    s.cost = calls * cost_per;
    s.tables = {t.table};
    s.filters = filters;
    out.push_back(std::move(s));
  }
}

}  // namespace

std::vector<StatementStats> StatementsFromActivity(const std::vector<TableActivity>& activity) {
  std::vector<StatementStats> out;
  for (const auto& t : activity) {
    double counted = 0;
    for (const auto& c : t.columns) counted += c.eq + c.in + c.range + c.other;
    const double scale = counted > t.statements && counted > 0 ? t.statements / counted : 1.0;
    for (const auto& c : t.columns) {
      for (auto [op, count] : {std::pair(FilterOp::kEq, c.eq), std::pair(FilterOp::kIn, c.in),
                               std::pair(FilterOp::kRange, c.range), std::pair(FilterOp::kOther, c.other)}) {
        AddShapes(t, count * scale, {ColumnFilter{t.table, c.column, op, {}}},
                  fmt::format("{} where {} {}", t.table, c.column, OpName(op)), out);
      }
    }
    AddShapes(t, t.statements - counted * scale, {}, fmt::format("{} without a filter", t.table), out);
  }
  return out;
}

}  // namespace mosaic::advisor
