#include "main/advise_cli.h"

#include <fmt/format.h>
#include <httplib.h>

#include <iostream>

#include "main/admin_client.h"

namespace mosaic {

using Json = nlohmann::json;

namespace {

std::string Metrics(const Json& m) {
  return fmt::format("imbalance {:.2f}, single-node share {:.0f}%, bytes to move {:.0f}",
                     m.value("imbalance", 0.0), 100 * m.value("single_node_share", 0.0),
                     m.value("bytes_to_move", 0.0));
}

std::string Bound(const Json& v) { return v.is_null() ? "unbounded" : JsonText(v); }

}  // namespace

std::string FormatAdvice(const Json& reply, bool explain) {
  std::string out = fmt::format("tenant {} (profile {}), window {} s\n", JsonText(reply.value("tenant", Json())),
                                JsonText(reply.value("profile", Json())), JsonText(reply.value("window_seconds", Json())));
  out += "  now:       " + Metrics(reply.value("current", Json::object())) + "\n";
  const Json actions = reply.value("actions", Json::array());
  if (actions.empty()) {
    out += "  no action: " + JsonText(reply.value("summary", Json(""))) + "\n";
    return out;
  }
  out += "  predicted: " + Metrics(reply.value("predicted", Json::object())) + "\n";
  std::vector<TableRow> rows = {{"ACTION", "TABLES", "COLUMN", "LOWER", "UPPER", "NODE"}};
  for (const Json& a : actions) {
    std::string tables;
    for (const Json& t : a.value("tables", Json::array())) tables += (tables.empty() ? "" : ",") + JsonText(t);
    for (const Json& r : a.value("ranges", Json::array())) {
      rows.push_back({JsonText(a["action"]), tables, JsonText(a["column"]), Bound(r.value("lower", Json())),
                      Bound(r.value("upper", Json())), JsonText(r.value("node", Json()))});
    }
  }
  out += "\n" + RenderTable(rows);
  if (explain) {
    out += "\nwhy: " + JsonText(reply.value("summary", Json(""))) + "\n";
    int i = 0;
    for (const Json& a : actions) {
      out += fmt::format("  {}. {} on {}: {}\n", ++i, JsonText(a["action"]), JsonText(a["column"]),
                         JsonText(a.value("reason", Json(""))));
    }
  }
  return out;
}

int RunAdvise(const AdviseArgs& args) {
  std::vector<std::string> tenants;
  if (args.tenant) {
    tenants.push_back(*args.tenant);
  } else {
    auto list = CallAdmin("mosaic advise", args.admin, "GET",
                          "/api/v1/patterns?limit=" + std::to_string(args.top), nullptr);
    if (!list) return 1;
    for (const Json& t : list->value("tenants", Json::array())) tenants.push_back(JsonText(t["tenant"]));
    if (tenants.empty()) {
      std::cout << "no tenant has statements in the monitor's window yet\n";
      return 0;
    }
  }
  Json all = Json::array();
  for (const auto& tenant : tenants) {
    auto reply = CallAdmin("mosaic advise", args.admin, "GET",
                           httplib::append_query_params("/api/v1/advice", {{"tenant", tenant}}), nullptr);
    if (!reply) return 1;
    if (args.json) {
      all.push_back(*reply);
    } else {
      std::cout << FormatAdvice(*reply, args.explain) << (tenants.size() > 1 ? "\n" : "");
    }
  }
  if (args.json) std::cout << (args.tenant ? all[0] : all).dump(2) << "\n";
  return 0;
}

}  // namespace mosaic
