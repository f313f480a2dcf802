#include "main/advise_cli.h"

#include <fmt/format.h>
#include <httplib.h>

#include <fstream>
#include <iostream>
#include <sstream>

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

std::string FormatEvaluation(const Json& reply) {
  const Json now = reply.value("current", Json::object()), then = reply.value("evaluated", Json::object());
  std::string out = fmt::format("tenant {}, window {} s: what-if against the recorded window\n",
                                JsonText(reply.value("tenant", Json())), JsonText(reply.value("window_seconds", Json())));
  auto number = [](const Json& m, const char* key, const char* format) {
    return fmt::format(fmt::runtime(format), m.value(key, 0.0));
  };
  std::vector<TableRow> rows = {{"METRIC", "NOW", "EVALUATED"}};
  for (auto [key, label, format] : {std::tuple("imbalance", "imbalance (max/mean)", "{:.3f}"),
                                    std::tuple("max_node_load", "max node load", "{:.3f}"),
                                    std::tuple("single_node_share", "single-node share", "{:.3f}"),
                                    std::tuple("single_node_share_reads", "  of reads", "{:.3f}"),
                                    std::tuple("single_node_share_writes", "  of writes", "{:.3f}"),
                                    std::tuple("cross_node_statements", "cross-node statements", "{:.0f}"),
                                    std::tuple("bytes_to_move", "bytes to move", "{:.0f}")}) {
    rows.push_back({label, number(now, key, format), number(then, key, format)});
  }
  out += RenderTable(rows);
  std::map<int, std::pair<double, double>> shares;
  for (const Json& n : now.value("node_load_share", Json::array())) shares[n.value("node", 0)].first = n.value("share", 0.0);
  for (const Json& n : then.value("node_load_share", Json::array())) shares[n.value("node", 0)].second = n.value("share", 0.0);
  std::vector<TableRow> nodes = {{"NODE", "LOAD NOW", "LOAD EVALUATED"}};
  for (const auto& [id, s] : shares) nodes.push_back({std::to_string(id), fmt::format("{:.3f}", s.first), fmt::format("{:.3f}", s.second)});
  out += "\n" + RenderTable(nodes);
  std::vector<TableRow> layouts = {{"TABLES", "COLUMN", "UPPER", "NODE"}};
  for (const Json& l : reply.value("layouts", Json::array())) {
    std::string tables;
    for (const Json& t : l.value("tables", Json::array())) tables += (tables.empty() ? "" : ",") + JsonText(t);
    for (const Json& r : l.value("ranges", Json::array())) {
      layouts.push_back({tables, JsonText(l.value("column", Json())), Bound(r.value("upper", Json())), JsonText(r.value("node", Json()))});
    }
  }
  out += layouts.size() > 1 ? "\n" + RenderTable(layouts) : "\nno layout: every table whole on its home node\n";
  return out;
}

std::optional<Json> EvaluateBody(const AdviseArgs& args, std::string* error) {
  std::string text = args.evaluate;
  const size_t first = text.find_first_not_of(" \t\r\n");
  const bool inline_json = first != std::string::npos && text[first] == '{';
  if (!inline_json) {
    std::ifstream file(args.evaluate);
    if (!file) {
      *error = fmt::format("--evaluate {}: cannot read the file (give a file or the JSON itself)", args.evaluate);
      return std::nullopt;
    }
    std::stringstream buffer;
    buffer << file.rdbuf();
    text = buffer.str();
  }
  Json body = Json::parse(text, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    *error = fmt::format("--evaluate {}: not a JSON object", inline_json ? "JSON" : args.evaluate);
    return std::nullopt;
  }
  if (args.tenant && !body.contains("tenant")) body["tenant"] = *args.tenant;
  return body;
}

int RunAdvise(const AdviseArgs& args) {
  if (!args.evaluate.empty()) {
    std::string error;
    auto body = EvaluateBody(args, &error);
    if (!body) {
      std::cerr << "mosaic advise: " << error << "\n";
      return 2;
    }
    auto reply = CallAdmin("mosaic advise", args.admin, "POST", "/api/v1/advice/evaluate", &*body);
    if (!reply) return 1;
    std::cout << (args.json ? reply->dump(2) + "\n" : FormatEvaluation(*reply));
    return 0;
  }
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
