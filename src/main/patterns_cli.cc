#include "main/patterns_cli.h"

#include <fmt/format.h>
#include <httplib.h>

#include <iostream>

#include "main/admin_client.h"

namespace mosaic {
namespace {

using Json = nlohmann::json;

std::string Percent(const Json& share) { return fmt::format("{:.1f}%", share.get<double>() * 100); }

}  // namespace

std::string PatternsPath(const PatternsArgs& args) {
  httplib::Params params;
  if (args.tenant) params.emplace("tenant", *args.tenant);
  if (args.table) params.emplace("table", *args.table);
  if (args.window) params.emplace("window", std::to_string(*args.window));
  return httplib::append_query_params("/api/v1/patterns", params);
}

std::string FormatTenantList(const Json& reply) {
  std::vector<TableRow> rows = {{"TENANT", "STATEMENTS", "READS", "WRITES", "ROWS", "MEAN_MS"}};
  for (const auto& t : reply.value("tenants", Json::array())) {
    rows.push_back({JsonText(t["tenant"]), JsonText(t["statements"]), JsonText(t["reads"]), JsonText(t["writes"]),
                    JsonText(t["rows"]), JsonText(t["mean_ms"])});
  }
  return fmt::format("tenants by load over the last {} s ({} tenants)\n", JsonText(reply.value("window_seconds", Json())),
                     JsonText(reply.value("tenant_count", Json()))) +
         RenderTable(rows);
}

std::string FormatPatterns(const Json& reply) {
  std::string out = fmt::format("tenant {}, last {} s\n\n", JsonText(reply.value("tenant", Json())),
                                JsonText(reply.value("window_seconds", Json())));
  std::vector<TableRow> tables = {{"TABLE", "STATEMENTS", "READS", "WRITES", "ROWS", "P50_MS", "P99_MS"}};
  std::vector<TableRow> columns = {{"TABLE", "COLUMN", "FILTERS", "EQ", "IN", "RANGE", "OTHER", "HOT_RANGE", "SHARE", "TOP_VALUES"}};
  std::vector<TableRow> joins = {{"JOIN", "COUNT"}};
  for (const auto& t : reply.value("tables", Json::array())) {
    const std::string name = JsonText(t["table"]);
    tables.push_back({name, JsonText(t["statements"]), JsonText(t["reads"]), JsonText(t["writes"]), JsonText(t["rows"]),
                      JsonText(t["latency_ms"]["p50"]), JsonText(t["latency_ms"]["p99"])});
    for (const auto& c : t.value("columns", Json::array())) {
      std::string hot, share, top;
      if (!c["hot_ranges"].empty()) {
        const Json& h = c["hot_ranges"][0];
        hot = fmt::format("[{}, {}]", JsonText(h["lower"]), JsonText(h["upper"]));
        share = Percent(h["share"]);
      }
      for (const auto& v : c["top_values"]) {
        if (top.size() > 40) break;
        top += fmt::format("{}{} ({})", top.empty() ? "" : ", ", JsonText(v["value"]), Percent(v["share"]));
      }
      const Json& op = c["by_op"];
      columns.push_back({name, JsonText(c["column"]), JsonText(c["filters"]), JsonText(op["eq"]), JsonText(op["in"]),
                         JsonText(op["range"]), JsonText(op["other"]), hot, share, top});
    }
    for (const auto& j : t.value("joins", Json::array())) {
      joins.push_back({fmt::format("{} = {}", JsonText(j["left"]), JsonText(j["right"])), JsonText(j["count"])});
    }
  }
  out += RenderTable(tables);
  if (columns.size() > 1) out += "\n" + RenderTable(columns);
  if (joins.size() > 1) out += "\n" + RenderTable(joins);
  std::vector<TableRow> fps = {{"CALLS", "ROWS", "MEAN_MS", "QUERY"}};
  for (const auto& f : reply.value("fingerprints", Json::array())) {
    fps.push_back({JsonText(f["calls"]), JsonText(f["rows"]), JsonText(f["mean_ms"]), JsonText(f["query"])});
  }
  if (fps.size() > 1) out += "\n" + RenderTable(fps);
  return out;
}

int RunPatterns(const PatternsArgs& args) {
  auto reply = CallAdmin("mosaic patterns", args.admin, "GET", PatternsPath(args), nullptr);
  if (!reply) return 1;
  if (args.json) {
    std::cout << reply->dump(2) << "\n";
  } else {
    std::cout << (args.tenant ? FormatPatterns(*reply) : FormatTenantList(*reply));
  }
  return 0;
}

}  // namespace mosaic
