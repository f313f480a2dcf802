#include "frontend/startup_settings.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "router/router.h"

namespace mosaic::frontend {
namespace {

// Where Debian's PostgreSQL (--with-system-tzdata) reads its time zones.
constexpr std::string_view kZoneInfoDir = "/usr/share/zoneinfo/";

// Startup parameters that are connection properties, not settings to replay on servers.
bool IsConnectionParam(std::string_view name) {
  return name == "user" || name == "database" || name == "replication" || name == "options" ||
         IsProtocolOption(name);
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool IsPlainName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_';
  });
}

// A search_path of unquoted lower-case names (and "$user"), which PostgreSQL accepts whether
// or not the schemas exist.
bool IsPlainSearchPath(std::string_view value) {
  while (true) {
    const size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!IsPlainName(item) && item != "\"$user\"" && item != "$user") return false;
    if (comma == std::string_view::npos) return true;
    value.remove_prefix(comma + 1);
  }
}

// An Area/Location name of the time zone database ("Europe/Berlin"), or a UTC spelling.
bool IsKnownZone(std::string_view zone) {
  if (router::IsUtcZone(zone)) return true;
  if (zone.empty() || zone.size() > 64 || zone.find('/') == std::string_view::npos || zone.front() == '/' ||
      zone.find("..") != std::string_view::npos) {
    return false;
  }
  const bool plain = std::all_of(zone.begin(), zone.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' || c == '+';
  });
  if (!plain) return false;
  std::string path(kZoneInfoDir);
  path.append(zone);
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

bool IsProtocolOption(std::string_view name) { return name.starts_with("_pq_."); }

std::vector<std::pair<std::string, std::string>> StartupSettings(const protocol::StartupPacket& packet) {
  std::vector<std::pair<std::string, std::string>> settings;
  for (const auto& [name, value] : packet.parameters) {
    if (!IsConnectionParam(name)) settings.emplace_back(name, value);
  }
  // "options" carries "-c name=value" (or "--name=value") settings.
  std::string_view options = packet.Get("options");
  size_t pos = 0;
  while (pos < options.size()) {
    size_t end = options.find(' ', pos);
    std::string_view word = options.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    pos = end == std::string_view::npos ? options.size() : end + 1;
    if (word == "-c" || word.empty()) continue;
    if (word.starts_with("--")) word.remove_prefix(2);
    if (word.starts_with("-c")) word.remove_prefix(2);
    size_t eq = word.find('=');
    if (eq != std::string_view::npos) settings.emplace_back(word.substr(0, eq), word.substr(eq + 1));
  }
  return settings;
}

bool IsUsualStartupSetting(std::string_view name, std::string_view value) {
  if (EqualsIgnoringCase(name, "application_name")) return true;
  if (EqualsIgnoringCase(name, "client_encoding")) {
    return EqualsIgnoringCase(value, "UTF8") || EqualsIgnoringCase(value, "UTF-8");
  }
  if (EqualsIgnoringCase(name, "DateStyle")) {
    return value == "ISO" || value == "ISO, MDY" || value == "ISO, DMY" || value == "ISO, YMD";
  }
  if (EqualsIgnoringCase(name, "TimeZone")) return IsKnownZone(value);
  if (EqualsIgnoringCase(name, "extra_float_digits")) {
    int digits = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), digits);
    return ec == std::errc() && end == value.data() + value.size() && digits >= -15 && digits <= 3;
  }
  if (EqualsIgnoringCase(name, "search_path")) return IsPlainSearchPath(value);
  return false;
}

}  // namespace mosaic::frontend
