// `mosaic layout`: builds requests, calls the admin API with cpp-httplib, prints tables.
#include "main/layout_cli.h"

#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <charconv>
#include <iostream>

#include "main/admin_client.h"

namespace mosaic {
namespace {

using Json = nlohmann::json;

std::string Joined(const Json& list) {
  std::string out;
  for (const auto& item : list) out += (out.empty() ? "" : ",") + JsonText(item);
  return out;
}

std::string RangeText(const Json& r) {
  const Json& lower = r.value("lower", Json());
  const Json& upper = r.value("upper", Json());
  return fmt::format("{}{}, {})", lower.is_null() ? "(" : "[",
                     lower.is_null() ? "-infinity" : JsonText(lower),
                     upper.is_null() ? "+infinity" : JsonText(upper));
}


void AddRows(const Json& p, std::vector<TableRow>& rows) {
  const std::string kind = p.value("kind", "");
  const std::string tables = Joined(p.value("tables", Json::array()));
  const std::string tenant = p.contains("tenant") && !p["tenant"].is_null() ? JsonText(p["tenant"]) : "-";
  if (p.contains("nodes")) {  // reference copies, or tenants hashed over nodes
    rows.push_back({tables, kind == "hash" ? "(each)" : tenant, kind, "", "", Joined(p["nodes"]), ""});
    return;
  }
  for (const auto& r : p.value("ranges", Json::array())) {
    rows.push_back({tables, tenant, kind, JsonText(p.value("column", Json())), RangeText(r),
                    JsonText(r.value("node", Json())), JsonText(r.value("version", Json()))});
  }
}

}  // namespace

Result<Json> LayoutRequestBody(const LayoutSetArgs& args) {
  Json body;
  if (args.tables.size() == 1) {
    body["table"] = args.tables.front();
  } else {
    body["tables"] = args.tables;
  }
  body["tenant"] = args.tenant ? Json(*args.tenant) : Json(nullptr);
  body["column"] = args.column;
  Json ranges = Json::array();
  for (const std::string& arg : args.ranges) {
    const size_t colon = arg.rfind(':');
    int node = 0;
    const char* end = arg.data() + arg.size();
    if (colon == std::string::npos ||
        std::from_chars(arg.data() + colon + 1, end, node).ptr != end || colon + 1 == arg.size()) {
      return Status(sqlstate::kInvalidParameterValue,
                    fmt::format("--range \"{}\": expected UPPER:NODE (\":NODE\" for the last)", arg));
    }
    Json range = {{"node", node}};
    if (colon > 0) range["upper"] = arg.substr(0, colon);
    ranges.push_back(std::move(range));
  }
  body["ranges"] = std::move(ranges);
  return body;
}

std::string FormatPlacements(const Json& reply) {
  std::vector<TableRow> rows = {{"TABLES", "TENANT", "KIND", "COLUMN", "RANGE", "NODE", "VERSION"}};
  for (const auto& p : reply.value("placements", Json::array())) AddRows(p, rows);
  return fmt::format("shard map version {}\n", JsonText(reply.value("shard_map_version", Json()))) +
         RenderTable(rows);
}

int RunLayoutSet(const LayoutSetArgs& args) {
  auto body = LayoutRequestBody(args);
  if (!body.ok()) {
    std::cerr << "mosaic layout set: " << body.status().message() << "\n";
    return 2;
  }
  auto reply = CallAdmin("mosaic layout", args.admin, "POST", "/api/v1/layout", &*body);
  if (!reply) return 1;
  std::cout << FormatPlacements(*reply);
  return 0;
}

int RunLayoutShow(const LayoutShowArgs& args) {
  httplib::Params params;
  if (args.table) params.emplace("table", *args.table);
  if (args.tenant) params.emplace("tenant", *args.tenant);
  const std::string path = httplib::append_query_params("/api/v1/placements", params);
  auto reply = CallAdmin("mosaic layout", args.admin, "GET", path, nullptr);
  if (!reply) return 1;
  std::cout << FormatPlacements(*reply);
  return 0;
}

}  // namespace mosaic
