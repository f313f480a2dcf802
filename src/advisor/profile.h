// Storage profiles: what a tenant allows the advisor to do with its rows (how finely to shard,
// on which columns, when migrations may run, size and latency limits, which node tier).
//
// Pure values and parsers: no I/O, no clock of their own (times are passed in), no locks. The
// same JSON shape is read from the TOML config ([profiles.NAME] and [tenant_profiles]) and from
// `PUT /api/v1/profiles`, through one validator, so both reject the same values with the same
// message naming the field ("profiles.whale.degree: ...").
//
// JSON shape (ProfilesToJson writes it, ParseProfilesJson reads it):
//   {"profiles": {"NAME": {"degree": "none"|"coarse"|"fine", "max_ranges": N,
//                          "range_columns": "auto" | ["col", ...],
//                          "migration_windows": ["01:00-05:00", "22:00-02:00 +02:00"],
//                          "time_zone": "UTC" | "+HH:MM" | "-HH:MM",
//                          "max_shard_bytes": N | "10GiB", "max_shard_rows": N,
//                          "max_p99_ms": X, "preferred_tier": "hot" | "cold"}},
//    "tenant_profiles": {"TENANT": "NAME"}}
// Every field is optional; a profile named "default" is always present (coarse, columns auto).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace mosaic::advisor {

// How finely a tenant may be split: kNone keeps each table group whole on one node.
enum class ShardingDegree : uint8_t { kNone, kCoarse, kFine };

std::string_view ShardingDegreeName(ShardingDegree degree);  // "none", "coarse", "fine"
// Default range count limit of a degree: none 1, coarse 4, fine 64.
int DefaultMaxRanges(ShardingDegree degree);

using Seconds = std::chrono::sys_seconds;

// A daily time window in a fixed UTC offset, [start, end) in minutes of the local day.
// end < start crosses midnight ("22:00-02:00"); "00:00-24:00" is the whole day.
struct MigrationWindow {
  int start_minute = 0;   // 0..1439
  int end_minute = 0;     // 1..1440, != start_minute
  int offset_minutes = 0; // local time = UTC + offset (-14:00..+14:00)

  // Whether `t` falls inside the window.
  bool Contains(Seconds t) const;
  // The first instant >= t at which the window opens (t itself only if a window opens exactly
  // at t). Always within the next 24 hours.
  Seconds NextStart(Seconds t) const;
  // "01:00-05:00 +02:00" (the offset omitted when 0), as ParseMigrationWindow reads it.
  std::string ToString() const;

  bool operator==(const MigrationWindow&) const = default;
};

// Parses "HH:MM-HH:MM" with an optional zone after a space: "UTC", "Z", "+HH:MM", "-HH:MM",
// "UTC+HH:MM". Without a zone, `default_offset_minutes` applies. IANA zone names (with their
// daylight-saving rules) are not supported: the error says to give the offset. 22023 on error.
Result<MigrationWindow> ParseMigrationWindow(std::string_view text, int default_offset_minutes = 0);
// Parses a zone as above ("UTC", "Z", "+02:00", "UTC-05:30") into minutes east of UTC.
Result<int> ParseUtcOffset(std::string_view text);

struct Profile {
  std::string name = "default";
  ShardingDegree degree = ShardingDegree::kCoarse;
  int max_ranges = 0;                       // 0 = DefaultMaxRanges(degree); none forces 1
  std::vector<std::string> range_columns;   // pinned, in order of preference; empty = auto
  std::vector<MigrationWindow> migration_windows;  // empty = migrations may run at any time
  int time_zone_offset_minutes = 0;         // the zone of windows written without one
  int64_t max_shard_bytes = 0;              // 0 = no limit
  int64_t max_shard_rows = 0;               // 0 = no limit
  double max_p99_ms = 0;                    // 0 = no limit
  std::string preferred_tier;               // "" = any tier

  // The most ranges a table group of this profile may have (1 for degree none).
  int MaxRanges() const;
  bool AutoColumns() const { return range_columns.empty(); }
  // Whether a migration may run at `t`: inside some window, or no windows configured.
  bool MigrationAllowedAt(Seconds t) const;
  // `t` if a migration may run at t, else the earliest window start after t.
  Seconds NextMigrationTime(Seconds t) const;

  bool operator==(const Profile&) const = default;
};

// All profiles and which tenant uses which. Always holds a profile named "default".
struct ProfileSet {
  ProfileSet();

  std::map<std::string, Profile> profiles;              // by name
  std::map<std::string, std::string> tenant_profiles;   // canonical tenant key -> profile name

  // The profile of `tenant`: its assignment here, else `catalog_profile` (the tenant's profile
  // in the catalog) if it names a known profile, else "default". The reference lives as long
  // as this set is not modified.
  const Profile& ForTenant(std::string_view tenant, std::string_view catalog_profile = "") const;
};

// Reads the JSON shape above over the defaults. On a bad value returns 22023 with a message
// naming the field ("profiles.whale.max_shard_bytes: must be a positive integer or a size like
// \"10GiB\""); unknown fields and tenant assignments to unknown profiles are errors too.
Result<ProfileSet> ParseProfilesJson(const nlohmann::json& body);
// The JSON shape above, every field written (for GET /api/v1/profiles). Round-trips through
// ParseProfilesJson.
nlohmann::json ProfilesToJson(const ProfileSet& set);
// One profile as the object under "profiles".NAME.
nlohmann::json ProfileToJson(const Profile& profile);

// "10GiB", "512MB", "4096", "1.5 TB" -> bytes (KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB
// of 1024, B or no unit: bytes). 22023 on anything else or on a value <= 0.
Result<int64_t> ParseByteSize(std::string_view text);

}  // namespace mosaic::advisor
