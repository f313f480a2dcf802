// Helpers of the CLI clients of the admin API (`mosaic layout`, `mosaic patterns`): one HTTP call
// with cpp-httplib, JSON values as text, and plain text tables.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace mosaic {

// A JSON value as a table cell: strings without quotes, null as "", others as JSON.
std::string JsonText(const nlohmann::json& v);

// The number at obj[key], or `fallback` when obj is not an object or has no number there.
double JsonNumber(const nlohmann::json& obj, const char* key, double fallback = 0);

using TableRow = std::vector<std::string>;
// Left-aligned columns, two spaces apart, one line per row (the first row is the header).
// REQUIRES: rows is non-empty and all rows have the same size.
std::string RenderTable(const std::vector<TableRow>& rows);

// Calls `method` ("GET" or "POST" with `body`) `path` on the admin API at `admin` (HOST:PORT).
// Returns the reply's JSON when it answers 2xx; otherwise prints "`command`: <why>" to stderr
// (the API's error message for other statuses) and returns nullopt.
std::optional<nlohmann::json> CallAdmin(std::string_view command, const std::string& admin, const std::string& method,
                                        const std::string& path, const nlohmann::json* body);

}  // namespace mosaic
