// Storage profiles: parsing, validation and window arithmetic. Pure functions.
#include "advisor/profile.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

namespace mosaic::advisor {
namespace {

using Json = nlohmann::json;

constexpr int64_t kDaySeconds = 86400;

Status Bad(std::string message) {
  return Status(sqlstate::kInvalidParameterValue, std::move(message));
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// A whole number of 1..max_digits digits, or -1.
int ParseDigits(std::string_view s, size_t max_digits) {
  if (s.empty() || s.size() > max_digits) return -1;
  int v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && ptr == s.data() + s.size() ? v : -1;
}

// "HH:MM" -> minutes of the day; "24:00" only if allow_24.
int ParseClock(std::string_view s, bool allow_24) {
  auto colon = s.find(':');
  if (colon == std::string_view::npos) return -1;
  int h = ParseDigits(s.substr(0, colon), 2), m = ParseDigits(s.substr(colon + 1), 2);
  if (h < 0 || m < 0 || m > 59 || s.size() - colon - 1 != 2) return -1;
  if (h == 24 && m == 0 && allow_24) return 1440;
  return h <= 23 ? h * 60 + m : -1;
}

std::string ClockText(int minutes) { return fmt::format("{:02}:{:02}", minutes / 60, minutes % 60); }

std::string OffsetText(int offset) {
  const int a = std::abs(offset);
  return fmt::format("{}{:02}:{:02}", offset < 0 ? '-' : '+', a / 60, a % 60);
}

int64_t SecondOfDay(int64_t local_seconds) {
  return ((local_seconds % kDaySeconds) + kDaySeconds) % kDaySeconds;
}

}  // namespace

std::string_view ShardingDegreeName(ShardingDegree degree) {
  switch (degree) {
    case ShardingDegree::kNone: return "none";
    case ShardingDegree::kCoarse: return "coarse";
    case ShardingDegree::kFine: return "fine";
  }
  return "coarse";
}

int DefaultMaxRanges(ShardingDegree degree) {
  switch (degree) {
    case ShardingDegree::kNone: return 1;
    case ShardingDegree::kCoarse: return 4;
    case ShardingDegree::kFine: return 64;
  }
  return 4;
}

bool MigrationWindow::Contains(Seconds t) const {
  const int64_t sod = SecondOfDay(t.time_since_epoch().count() + int64_t{offset_minutes} * 60);
  const int64_t start = int64_t{start_minute} * 60, end = int64_t{end_minute} * 60;
  return start < end ? (sod >= start && sod < end) : (sod >= start || sod < end);
}

Seconds MigrationWindow::NextStart(Seconds t) const {
  const int64_t sod = SecondOfDay(t.time_since_epoch().count() + int64_t{offset_minutes} * 60);
  int64_t delta = int64_t{start_minute} * 60 - sod;
  if (delta < 0) delta += kDaySeconds;
  return t + std::chrono::seconds(delta);
}

std::string MigrationWindow::ToString() const {
  std::string s = ClockText(start_minute) + "-" + ClockText(end_minute);
  if (offset_minutes != 0) s += " " + OffsetText(offset_minutes);
  return s;
}

Result<int> ParseUtcOffset(std::string_view text) {
  std::string_view s = Trim(text);
  if (s == "UTC" || s == "Z" || s == "utc" || s == "GMT") return 0;
  if (s.starts_with("UTC") || s.starts_with("GMT")) s.remove_prefix(3);
  if (s.size() >= 2 && (s[0] == '+' || s[0] == '-')) {
    const int sign = s[0] == '-' ? -1 : 1;
    std::string_view rest = s.substr(1);
    int h = -1, m = 0;
    if (auto colon = rest.find(':'); colon != std::string_view::npos) {
      h = ParseDigits(rest.substr(0, colon), 2);
      m = rest.size() - colon - 1 == 2 ? ParseDigits(rest.substr(colon + 1), 2) : -1;
    } else {
      h = ParseDigits(rest, 2);
    }
    if (h >= 0 && m >= 0 && m <= 59 && h * 60 + m <= 14 * 60) return sign * (h * 60 + m);
  }
  return Bad(fmt::format("\"{}\" is not a UTC offset: give \"UTC\" or \"+HH:MM\" / \"-HH:MM\" "
                         "(zone names such as Europe/Paris are not supported)", text));
}

Result<MigrationWindow> ParseMigrationWindow(std::string_view text, int default_offset_minutes) {
  std::string_view s = Trim(text);
  MigrationWindow w;
  w.offset_minutes = default_offset_minutes;
  if (auto space = s.find(' '); space != std::string_view::npos) {
    auto offset = ParseUtcOffset(s.substr(space + 1));
    if (!offset.ok()) return offset.status();
    w.offset_minutes = *offset;
    s = s.substr(0, space);
  }
  auto dash = s.find('-');
  w.start_minute = dash == std::string_view::npos ? -1 : ParseClock(s.substr(0, dash), false);
  w.end_minute = dash == std::string_view::npos ? -1 : ParseClock(s.substr(dash + 1), true);
  if (w.start_minute < 0 || w.end_minute < 0) {
    return Bad(fmt::format("\"{}\" is not a window \"HH:MM-HH:MM\" with an optional UTC offset "
                           "(\"01:00-05:00 +02:00\")", text));
  }
  if (w.end_minute % 1440 == w.start_minute) {
    if (w.start_minute != 0) {
      return Bad(fmt::format("\"{}\" starts where it ends; write \"00:00-24:00\" for the whole day", text));
    }
    w.end_minute = 1440;
  }
  return w;
}

int Profile::MaxRanges() const {
  if (degree == ShardingDegree::kNone) return 1;
  return max_ranges > 0 ? max_ranges : DefaultMaxRanges(degree);
}

bool Profile::MigrationAllowedAt(Seconds t) const {
  return migration_windows.empty() ||
         std::any_of(migration_windows.begin(), migration_windows.end(),
                     [t](const MigrationWindow& w) { return w.Contains(t); });
}

Seconds Profile::NextMigrationTime(Seconds t) const {
  if (MigrationAllowedAt(t)) return t;
  Seconds next = Seconds::max();
  for (const auto& w : migration_windows) next = std::min(next, w.NextStart(t));
  return next;
}

ProfileSet::ProfileSet() { profiles.emplace("default", Profile{}); }

const Profile& ProfileSet::ForTenant(std::string_view tenant, std::string_view catalog_profile) const {
  if (auto it = tenant_profiles.find(std::string(tenant)); it != tenant_profiles.end()) {
    if (auto p = profiles.find(it->second); p != profiles.end()) return p->second;
  }
  if (auto p = profiles.find(std::string(catalog_profile)); p != profiles.end()) return p->second;
  return profiles.at("default");
}

Result<int64_t> ParseByteSize(std::string_view text) {
  std::string_view s = Trim(text);
  size_t end = 0;
  while (end < s.size() && (std::isdigit(static_cast<unsigned char>(s[end])) || s[end] == '.')) ++end;
  double number = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + end, number);
  std::string unit(Trim(s.substr(end)));
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return std::toupper(c); });
  static const std::array<std::pair<std::string_view, double>, 10> kUnits = {{
      {"", 1}, {"B", 1}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
      {"KIB", 1024.0}, {"MIB", 1048576.0}, {"GIB", 1073741824.0}, {"TIB", 1099511627776.0}}};
  auto unit_it = std::find_if(kUnits.begin(), kUnits.end(), [&](const auto& u) { return u.first == unit; });
  const bool parsed = end > 0 && ec == std::errc() && ptr == s.data() + end && unit_it != kUnits.end();
  const double bytes = parsed ? number * unit_it->second : 0;
  if (!parsed || !(bytes >= 1) || bytes > 9e18) {
    return Bad(fmt::format("\"{}\" is not a positive size (bytes, or a number with KB, MB, GB, "
                           "TB, KiB, MiB, GiB or TiB)", text));
  }
  return static_cast<int64_t>(bytes);
}

namespace {

Status InField(const std::string& field, const Status& s) {
  return Bad(fmt::format("{}: {}", field, s.message()));
}

Status ReadDegree(const Json& v, const std::string& field, Profile& p) {
  const std::string name = v.is_string() ? v.get<std::string>() : "";
  for (ShardingDegree d : {ShardingDegree::kNone, ShardingDegree::kCoarse, ShardingDegree::kFine}) {
    if (name == ShardingDegreeName(d)) {
      p.degree = d;
      return Status::OK();
    }
  }
  return Bad(field + ": must be \"none\", \"coarse\" or \"fine\"");
}

Status ReadColumns(const Json& v, const std::string& field, Profile& p) {
  p.range_columns.clear();
  if (v.is_string() && v.get<std::string>() == "auto") return Status::OK();
  if (!v.is_array() || v.empty()) return Bad(field + ": must be \"auto\" or a non-empty list of column names");
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string() || v[i].get<std::string>().empty()) {
      return Bad(fmt::format("{}[{}]: must be a column name", field, i));
    }
    const std::string name = v[i].get<std::string>();
    if (std::find(p.range_columns.begin(), p.range_columns.end(), name) != p.range_columns.end()) {
      return Bad(fmt::format("{}[{}]: \"{}\" is listed twice", field, i, name));
    }
    p.range_columns.push_back(name);
  }
  return Status::OK();
}

// Windows are read after time_zone, which they default to.
Status ReadWindows(const Json& v, const std::string& field, Profile& p) {
  p.migration_windows.clear();
  if (!v.is_array()) return Bad(field + ": must be a list of \"HH:MM-HH:MM\" windows");
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string item = fmt::format("{}[{}]", field, i);
    if (!v[i].is_string()) return Bad(item + ": must be a string \"HH:MM-HH:MM\"");
    auto w = ParseMigrationWindow(v[i].get<std::string>(), p.time_zone_offset_minutes);
    if (!w.ok()) return InField(item, w.status());
    p.migration_windows.push_back(*w);
  }
  return Status::OK();
}

Status ReadLimit(const Json& v, const std::string& field, bool sizes, int64_t* out) {
  if (v.is_null()) {
    *out = 0;
    return Status::OK();
  }
  if (v.is_number_integer() && v.get<int64_t>() > 0) {
    *out = v.get<int64_t>();
    return Status::OK();
  }
  if (sizes && v.is_string()) {
    auto bytes = ParseByteSize(v.get<std::string>());
    if (!bytes.ok()) return InField(field, bytes.status());
    *out = *bytes;
    return Status::OK();
  }
  return Bad(field + (sizes ? ": must be a positive integer or a size like \"10GiB\""
                            : ": must be a positive integer"));
}

Status ReadOne(const std::string& key, const Json& v, const std::string& field, Profile& p) {
  if (key == "degree") return ReadDegree(v, field, p);
  if (key == "range_columns") return ReadColumns(v, field, p);
  if (key == "migration_windows") return ReadWindows(v, field, p);
  if (key == "max_shard_bytes") return ReadLimit(v, field, true, &p.max_shard_bytes);
  if (key == "max_shard_rows") return ReadLimit(v, field, false, &p.max_shard_rows);
  if (key == "max_ranges") {
    if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 4096) {
      return Bad(field + ": must be an integer in 1..4096");
    }
    p.max_ranges = v.get<int>();
    return Status::OK();
  }
  if (key == "time_zone") {
    auto offset = v.is_string() ? ParseUtcOffset(v.get<std::string>()) : Result<int>(Bad("must be a string"));
    if (!offset.ok()) return InField(field, offset.status());
    p.time_zone_offset_minutes = *offset;
    return Status::OK();
  }
  if (key == "max_p99_ms") {
    if (v.is_null()) {
      p.max_p99_ms = 0;
    } else if (!v.is_number() || !(v.get<double>() > 0) || !std::isfinite(v.get<double>())) {
      return Bad(field + ": must be a positive number of milliseconds");
    } else {
      p.max_p99_ms = v.get<double>();
    }
    return Status::OK();
  }
  if (key == "preferred_tier") {
    if (v.is_null()) {
      p.preferred_tier.clear();
    } else if (!v.is_string() || (v.get<std::string>() != "hot" && v.get<std::string>() != "cold")) {
      return Bad(field + ": must be \"hot\" or \"cold\"");
    } else {
      p.preferred_tier = v.get<std::string>();
    }
    return Status::OK();
  }
  return Bad(fmt::format("{}: unknown field (profiles take degree, max_ranges, range_columns, "
                         "migration_windows, time_zone, max_shard_bytes, max_shard_rows, "
                         "max_p99_ms, preferred_tier)", field));
}

Status ReadProfile(const std::string& name, const Json& body, Profile& p) {
  const std::string base = "profiles." + name;
  if (!body.is_object()) return Bad(base + ": must be an object");
  // time_zone first: the windows read after it default to its offset.
  if (body.contains("time_zone")) {
    if (Status s = ReadOne("time_zone", body["time_zone"], base + ".time_zone", p); !s.ok()) return s;
  }
  for (const auto& [key, value] : body.items()) {
    if (key == "time_zone") continue;
    if (Status s = ReadOne(key, value, base + "." + key, p); !s.ok()) return s;
  }
  if (p.degree == ShardingDegree::kNone && p.max_ranges > 1) {
    return Bad(base + ".max_ranges: degree \"none\" keeps each table group in one range");
  }
  return Status::OK();
}

}  // namespace

Result<ProfileSet> ParseProfilesJson(const Json& body) {
  ProfileSet set;
  if (!body.is_object()) return Bad("body: must be an object with \"profiles\" and \"tenant_profiles\"");
  for (const auto& [key, value] : body.items()) {
    if (key != "profiles" && key != "tenant_profiles") {
      return Bad(fmt::format("{}: unknown field (expected \"profiles\" and \"tenant_profiles\")", key));
    }
  }
  if (body.contains("profiles")) {
    const Json& profiles = body["profiles"];
    if (!profiles.is_object()) return Bad("profiles: must be an object of profiles by name");
    for (const auto& [name, value] : profiles.items()) {
      if (name.empty()) return Bad("profiles: a profile name must not be empty");
      Profile p;
      p.name = name;
      if (Status s = ReadProfile(name, value, p); !s.ok()) return s;
      set.profiles[name] = std::move(p);
    }
  }
  if (body.contains("tenant_profiles")) {
    const Json& tenants = body["tenant_profiles"];
    if (!tenants.is_object()) return Bad("tenant_profiles: must be an object of tenant -> profile name");
    for (const auto& [tenant, value] : tenants.items()) {
      const std::string field = "tenant_profiles." + tenant;
      if (!value.is_string()) return Bad(field + ": must be a profile name");
      const std::string name = value.get<std::string>();
      if (!set.profiles.contains(name)) return Bad(fmt::format("{}: there is no profile \"{}\"", field, name));
      set.tenant_profiles[tenant] = name;
    }
  }
  return set;
}

Json ProfileToJson(const Profile& p) {
  Json windows = Json::array();
  for (const auto& w : p.migration_windows) windows.push_back(w.ToString());
  auto limit = [](int64_t v) { return v > 0 ? Json(v) : Json(nullptr); };
  return {{"degree", ShardingDegreeName(p.degree)},
          {"max_ranges", p.MaxRanges()},
          {"range_columns", p.AutoColumns() ? Json("auto") : Json(p.range_columns)},
          {"migration_windows", windows},
          {"time_zone", p.time_zone_offset_minutes == 0 ? "UTC" : OffsetText(p.time_zone_offset_minutes)},
          {"max_shard_bytes", limit(p.max_shard_bytes)},
          {"max_shard_rows", limit(p.max_shard_rows)},
          {"max_p99_ms", p.max_p99_ms > 0 ? Json(p.max_p99_ms) : Json(nullptr)},
          {"preferred_tier", p.preferred_tier.empty() ? Json(nullptr) : Json(p.preferred_tier)}};
}

Json ProfilesToJson(const ProfileSet& set) {
  Json profiles = Json::object();
  for (const auto& [name, p] : set.profiles) profiles[name] = ProfileToJson(p);
  Json tenants = Json::object();
  for (const auto& [tenant, name] : set.tenant_profiles) tenants[tenant] = name;
  return {{"profiles", profiles}, {"tenant_profiles", tenants}};
}

}  // namespace mosaic::advisor
