#include "main/admin_client.h"

#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <iostream>

#include "common/config.h"

namespace mosaic {

using Json = nlohmann::json;

std::string JsonText(const Json& v) {
  if (v.is_null()) return "";
  return v.is_string() ? v.get<std::string>() : v.dump();
}

double JsonNumber(const Json& obj, const char* key, double fallback) {
  if (!obj.is_object()) return fallback;
  auto it = obj.find(key);
  return it != obj.end() && it->is_number() ? it->get<double>() : fallback;
}

std::string RenderTable(const std::vector<TableRow>& rows) {
  std::vector<size_t> width(rows.front().size(), 0);
  for (const TableRow& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const TableRow& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) line += fmt::format("{:<{}}  ", row[i], width[i]);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::optional<Json> CallAdmin(std::string_view command, const std::string& admin, const std::string& method,
                              const std::string& path, const Json* body) {
  auto address = ParseHostPort(admin);
  if (!address.ok()) {
    std::cerr << command << ": --admin " << address.status().message() << "\n";
    return std::nullopt;
  }
  httplib::Client client(address->host, address->port);
  client.set_connection_timeout(5);
  client.set_read_timeout(120);  // a layout checks every node
  auto res = method == "POST" ? client.Post(path, body->dump(), "application/json") : client.Get(path);
  if (!res) {
    std::cerr << command << ": cannot reach the admin API at " << admin << ": " << httplib::to_string(res.error()) << "\n";
    return std::nullopt;
  }
  Json reply = Json::parse(res->body, nullptr, false);
  if (res->status / 100 != 2 || reply.is_discarded()) {
    std::string message = !reply.is_discarded() && reply.contains("error") ? JsonText(reply["error"]) : res->body;
    std::cerr << command << ": HTTP " << res->status << ": " << message << "\n";
    return std::nullopt;
  }
  return reply;
}

}  // namespace mosaic
