// `mosaic layout`: builds requests, calls the admin API with cpp-httplib, prints tables.
#include "main/layout_cli.h"

#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <charconv>
#include <iostream>

#include "common/config.h"

namespace mosaic {
namespace {

using Json = nlohmann::json;

std::string Text(const Json& v) {
  if (v.is_null()) return "";
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string Joined(const Json& list) {
  std::string out;
  for (const auto& item : list) out += (out.empty() ? "" : ",") + Text(item);
  return out;
}

std::string RangeText(const Json& r) {
  const Json& lower = r.value("lower", Json());
  const Json& upper = r.value("upper", Json());
  return fmt::format("{}{}, {})", lower.is_null() ? "(" : "[",
                     lower.is_null() ? "-infinity" : Text(lower),
                     upper.is_null() ? "+infinity" : Text(upper));
}

using Row = std::vector<std::string>;

void AddRows(const Json& p, std::vector<Row>& rows) {
  const std::string kind = p.value("kind", "");
  const std::string tables = Joined(p.value("tables", Json::array()));
  const std::string tenant = p.contains("tenant") && !p["tenant"].is_null() ? Text(p["tenant"]) : "-";
  if (p.contains("nodes")) {  // reference copies, or tenants hashed over nodes
    rows.push_back({tables, kind == "hash" ? "(each)" : tenant, kind, "", "", Joined(p["nodes"]), ""});
    return;
  }
  for (const auto& r : p.value("ranges", Json::array())) {
    rows.push_back({tables, tenant, kind, Text(p.value("column", Json())), RangeText(r),
                    Text(r.value("node", Json())), Text(r.value("version", Json()))});
  }
}

std::string Render(const std::vector<Row>& rows) {
  std::vector<size_t> width(rows.front().size(), 0);
  for (const Row& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const Row& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) line += fmt::format("{:<{}}  ", row[i], width[i]);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

// Calls the admin API; prints the error and returns nullopt unless it answers 200.
std::optional<Json> Call(const std::string& admin, const std::string& method,
                         const std::string& path, const Json* body) {
  auto address = ParseHostPort(admin);
  if (!address.ok()) {
    std::cerr << "mosaic layout: --admin " << address.status().message() << "\n";
    return std::nullopt;
  }
  httplib::Client client(address->host, address->port);
  client.set_connection_timeout(5);
  client.set_read_timeout(120);  // a layout checks every node
  auto res = method == "POST" ? client.Post(path, body->dump(), "application/json")
                              : client.Get(path);
  if (!res) {
    std::cerr << "mosaic layout: cannot reach the admin API at " << admin << ": "
              << httplib::to_string(res.error()) << "\n";
    return std::nullopt;
  }
  Json reply = Json::parse(res->body, nullptr, false);
  if (res->status != 200 || reply.is_discarded()) {
    std::string message = !reply.is_discarded() && reply.contains("error") ? Text(reply["error"])
                                                                           : res->body;
    std::cerr << "mosaic layout: HTTP " << res->status << ": " << message << "\n";
    return std::nullopt;
  }
  return reply;
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
  std::vector<Row> rows = {{"TABLES", "TENANT", "KIND", "COLUMN", "RANGE", "NODE", "VERSION"}};
  for (const auto& p : reply.value("placements", Json::array())) AddRows(p, rows);
  return fmt::format("shard map version {}\n", Text(reply.value("shard_map_version", Json()))) +
         Render(rows);
}

int RunLayoutSet(const LayoutSetArgs& args) {
  auto body = LayoutRequestBody(args);
  if (!body.ok()) {
    std::cerr << "mosaic layout set: " << body.status().message() << "\n";
    return 2;
  }
  auto reply = Call(args.admin, "POST", "/api/v1/layout", &*body);
  if (!reply) return 1;
  std::cout << FormatPlacements(*reply);
  return 0;
}

int RunLayoutShow(const LayoutShowArgs& args) {
  httplib::Params params;
  if (args.table) params.emplace("table", *args.table);
  if (args.tenant) params.emplace("tenant", *args.tenant);
  const std::string path = httplib::append_query_params("/api/v1/placements", params);
  auto reply = Call(args.admin, "GET", path, nullptr);
  if (!reply) return 1;
  std::cout << FormatPlacements(*reply);
  return 0;
}

}  // namespace mosaic
