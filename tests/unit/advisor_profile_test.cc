#include "advisor/profile.h"

#include <gtest/gtest.h>

#include "advisor/profile_toml.h"

namespace mosaic::advisor {
namespace {

using Json = nlohmann::json;
using std::chrono::hours;
using std::chrono::minutes;

// 2026-11-28 00:00:00 UTC.
const Seconds kMidnight{std::chrono::seconds(1795824000)};

TEST(MigrationWindow, ParsesAndContains) {
  auto w = ParseMigrationWindow("01:00-05:00");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->start_minute, 60);
  EXPECT_EQ(w->end_minute, 300);
  EXPECT_FALSE(w->Contains(kMidnight));
  EXPECT_TRUE(w->Contains(kMidnight + hours(1)));
  EXPECT_TRUE(w->Contains(kMidnight + hours(5) - std::chrono::seconds(1)));
  EXPECT_FALSE(w->Contains(kMidnight + hours(5)));
  EXPECT_TRUE(w->Contains(kMidnight - hours(24) + hours(2)));  // any day
}

TEST(MigrationWindow, CrossesMidnight) {
  auto w = ParseMigrationWindow("22:00-02:00");
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(w->Contains(kMidnight - hours(1)));
  EXPECT_TRUE(w->Contains(kMidnight + hours(1)));
  EXPECT_FALSE(w->Contains(kMidnight + hours(2)));
  EXPECT_FALSE(w->Contains(kMidnight + hours(12)));
  EXPECT_EQ(w->NextStart(kMidnight + hours(1)), kMidnight + hours(22));
  EXPECT_EQ(w->NextStart(kMidnight + hours(23)), kMidnight + hours(46));
}

TEST(MigrationWindow, OffsetShiftsTheWindow) {
  // 01:00-05:00 at +02:00 is 23:00-03:00 UTC.
  auto w = ParseMigrationWindow("01:00-05:00 +02:00");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->offset_minutes, 120);
  EXPECT_TRUE(w->Contains(kMidnight - minutes(30)));
  EXPECT_FALSE(w->Contains(kMidnight + hours(4)));
  EXPECT_EQ(w->NextStart(kMidnight), kMidnight + hours(23));
  EXPECT_EQ(w->ToString(), "01:00-05:00 +02:00");
  auto west = ParseMigrationWindow("01:00-05:00 UTC-05:30");
  ASSERT_TRUE(west.ok());
  EXPECT_EQ(west->offset_minutes, -330);
  EXPECT_EQ(west->NextStart(kMidnight), kMidnight + hours(6) + minutes(30));
}

TEST(MigrationWindow, NextStartAtTheStartIsNow) {
  auto w = ParseMigrationWindow("03:15-04:00");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->NextStart(kMidnight + hours(3) + minutes(15)), kMidnight + hours(3) + minutes(15));
  EXPECT_EQ(w->NextStart(kMidnight + hours(3) + minutes(16)), kMidnight + hours(27) + minutes(15));
}

TEST(MigrationWindow, WholeDay) {
  auto w = ParseMigrationWindow("00:00-24:00");
  ASSERT_TRUE(w.ok());
  for (int h = 0; h < 24; ++h) EXPECT_TRUE(w->Contains(kMidnight + hours(h))) << h;
}

TEST(MigrationWindow, RejectsBadText) {
  for (const char* bad : {"", "1-5", "01:00", "25:00-01:00", "01:60-02:00", "01:00-05:00 Europe/Paris",
                          "01:00-05:00 +15:00", "03:00-03:00", "24:00-01:00", "1:000-02:00"}) {
    auto w = ParseMigrationWindow(bad);
    ASSERT_FALSE(w.ok()) << bad;
    EXPECT_EQ(w.status().sqlstate(), "22023") << bad;
  }
}

TEST(Profile, MigrationTimesOverSeveralWindows) {
  Profile p;
  EXPECT_TRUE(p.MigrationAllowedAt(kMidnight + hours(13)));  // no windows: any time
  p.migration_windows = {ParseMigrationWindow("01:00-02:00").value(), ParseMigrationWindow("13:00-14:00").value()};
  EXPECT_FALSE(p.MigrationAllowedAt(kMidnight + hours(3)));
  EXPECT_TRUE(p.MigrationAllowedAt(kMidnight + hours(13)));
  EXPECT_EQ(p.NextMigrationTime(kMidnight + hours(3)), kMidnight + hours(13));
  EXPECT_EQ(p.NextMigrationTime(kMidnight + hours(15)), kMidnight + hours(25));
  EXPECT_EQ(p.NextMigrationTime(kMidnight + hours(1)), kMidnight + hours(1));
}

TEST(Profile, DegreeLimitsRanges) {
  Profile p;
  EXPECT_EQ(p.MaxRanges(), 4);
  p.degree = ShardingDegree::kFine;
  EXPECT_EQ(p.MaxRanges(), 64);
  p.max_ranges = 16;
  EXPECT_EQ(p.MaxRanges(), 16);
  p.degree = ShardingDegree::kNone;
  EXPECT_EQ(p.MaxRanges(), 1);
}

TEST(ByteSize, Parses) {
  EXPECT_EQ(ParseByteSize("4096").value(), 4096);
  EXPECT_EQ(ParseByteSize("10GiB").value(), int64_t{10} << 30);
  EXPECT_EQ(ParseByteSize("512 MB").value(), 512'000'000);
  EXPECT_EQ(ParseByteSize("1.5kb").value(), 1500);
  for (const char* bad : {"", "GB", "-5", "0", "10 parsecs", "1e999"}) EXPECT_FALSE(ParseByteSize(bad).ok()) << bad;
}

TEST(ProfilesJson, ReadsEveryField) {
  auto set = ParseProfilesJson(Json::parse(R"({
    "profiles": {
      "whale": {"degree": "fine", "max_ranges": 32, "range_columns": ["created_at", "customer_id"],
                "time_zone": "+01:00", "migration_windows": ["01:00-05:00", "22:00-23:00 UTC"],
                "max_shard_bytes": "10GiB", "max_shard_rows": 1000000, "max_p99_ms": 25.5,
                "preferred_tier": "hot"},
      "archive": {"degree": "none", "preferred_tier": "cold"}
    },
    "tenant_profiles": {"42": "whale", "7": "archive"}})"));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  const Profile& whale = set->ForTenant("42");
  EXPECT_EQ(whale.name, "whale");
  EXPECT_EQ(whale.degree, ShardingDegree::kFine);
  EXPECT_EQ(whale.MaxRanges(), 32);
  EXPECT_EQ(whale.range_columns, (std::vector<std::string>{"created_at", "customer_id"}));
  ASSERT_EQ(whale.migration_windows.size(), 2u);
  EXPECT_EQ(whale.migration_windows[0].offset_minutes, 60);  // the profile's time_zone
  EXPECT_EQ(whale.migration_windows[1].offset_minutes, 0);   // its own
  EXPECT_EQ(whale.max_shard_bytes, int64_t{10} << 30);
  EXPECT_EQ(whale.max_shard_rows, 1000000);
  EXPECT_DOUBLE_EQ(whale.max_p99_ms, 25.5);
  EXPECT_EQ(set->ForTenant("7").MaxRanges(), 1);
  EXPECT_EQ(set->ForTenant("7").preferred_tier, "cold");
  const Profile& other = set->ForTenant("99");
  EXPECT_EQ(other.name, "default");
  EXPECT_EQ(other.degree, ShardingDegree::kCoarse);
  EXPECT_TRUE(other.AutoColumns());
  EXPECT_EQ(set->ForTenant("99", "archive").name, "archive");  // the catalog's assignment
  EXPECT_EQ(set->ForTenant("99", "nosuch").name, "default");
}

TEST(ProfilesJson, RoundTrips) {
  auto set = ParseProfilesJson(Json::parse(R"({"profiles": {"p": {"degree": "fine",
      "range_columns": ["a"], "time_zone": "-03:00", "migration_windows": ["23:00-01:00"],
      "max_shard_rows": 5}}, "tenant_profiles": {"t": "p"}})"));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  const Json first = ProfilesToJson(*set);
  EXPECT_EQ(first["profiles"]["p"]["migration_windows"][0], "23:00-01:00 -03:00");
  EXPECT_EQ(first["profiles"]["default"]["range_columns"], "auto");
  auto again = ParseProfilesJson(first);
  ASSERT_TRUE(again.ok()) << again.status().ToString() << first.dump();
  EXPECT_EQ(ProfilesToJson(*again), first);
  EXPECT_EQ(again->profiles.at("p").migration_windows, set->profiles.at("p").migration_windows);
}

// Each bad value is refused with 22023 and a message naming its field.
TEST(ProfilesJson, RejectsBadValuesNamingTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"profiles": {"p": {"degree": "medium"}}})", "profiles.p.degree:"},
      {R"({"profiles": {"p": {"degree": 2}}})", "profiles.p.degree:"},
      {R"({"profiles": {"p": {"range_columns": "manual"}}})", "profiles.p.range_columns:"},
      {R"({"profiles": {"p": {"range_columns": []}}})", "profiles.p.range_columns:"},
      {R"({"profiles": {"p": {"range_columns": ["a", "a"]}}})", "profiles.p.range_columns[1]:"},
      {R"({"profiles": {"p": {"migration_windows": ["1am-5am"]}}})", "profiles.p.migration_windows[0]:"},
      {R"({"profiles": {"p": {"migration_windows": "01:00-05:00"}}})", "profiles.p.migration_windows:"},
      {R"({"profiles": {"p": {"time_zone": "Mars/Olympus"}}})", "profiles.p.time_zone:"},
      {R"({"profiles": {"p": {"max_shard_bytes": -1}}})", "profiles.p.max_shard_bytes:"},
      {R"({"profiles": {"p": {"max_shard_bytes": "lots"}}})", "profiles.p.max_shard_bytes:"},
      {R"({"profiles": {"p": {"max_shard_rows": 0}}})", "profiles.p.max_shard_rows:"},
      {R"({"profiles": {"p": {"max_shard_rows": "10GB"}}})", "profiles.p.max_shard_rows:"},
      {R"({"profiles": {"p": {"max_p99_ms": 0}}})", "profiles.p.max_p99_ms:"},
      {R"({"profiles": {"p": {"preferred_tier": "warm"}}})", "profiles.p.preferred_tier:"},
      {R"({"profiles": {"p": {"max_ranges": 0}}})", "profiles.p.max_ranges:"},
      {R"({"profiles": {"p": {"degree": "none", "max_ranges": 4}}})", "profiles.p.max_ranges:"},
      {R"({"profiles": {"p": {"colour": "red"}}})", "profiles.p.colour:"},
      {R"({"profiles": {"p": 5}})", "profiles.p:"},
      {R"({"profiles": []})", "profiles:"},
      {R"({"tenant_profiles": {"42": "nosuch"}})", "tenant_profiles.42:"},
      {R"({"tenant_profiles": {"42": 1}})", "tenant_profiles.42:"},
      {R"({"profile": {}})", "profile:"},
  };
  for (const auto& [body, field] : cases) {
    auto set = ParseProfilesJson(Json::parse(body));
    ASSERT_FALSE(set.ok()) << body;
    EXPECT_EQ(set.status().sqlstate(), "22023") << body;
    EXPECT_EQ(set.status().message().rfind(field, 0), 0u) << body << " -> " << set.status().message();
  }
}

TEST(ProfilesJson, DefaultCanBeRedefined) {
  auto set = ParseProfilesJson(Json::parse(R"({"profiles": {"default": {"degree": "none"}}})"));
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->ForTenant("x").degree, ShardingDegree::kNone);
}

Result<ProfileSet> FromToml(std::string_view text) { return ReadProfilesToml(toml::parse(text)); }

TEST(ProfilesToml, ReadsProfilesAndAssignments) {
  auto set = FromToml(R"(
[profiles.default]
degree = "coarse"
range_columns = "auto"
[profiles.whale]
degree = "fine"
range_columns = ["created_at"]
migration_windows = ["01:00-05:00 +02:00", "22:00-02:00"]
max_shard_bytes = "64GiB"
max_p99_ms = 50
preferred_tier = "hot"
[tenant_profiles]
"42" = "whale"
)");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  const Profile& whale = set->ForTenant("42");
  EXPECT_EQ(whale.degree, ShardingDegree::kFine);
  EXPECT_EQ(whale.range_columns, std::vector<std::string>{"created_at"});
  ASSERT_EQ(whale.migration_windows.size(), 2u);
  EXPECT_EQ(whale.migration_windows[1].start_minute, 22 * 60);
  EXPECT_EQ(whale.max_shard_bytes, int64_t{64} << 30);
  EXPECT_DOUBLE_EQ(whale.max_p99_ms, 50);
  EXPECT_EQ(set->ForTenant("1").name, "default");
}

TEST(ProfilesToml, NoProfilesMeansTheDefault) {
  auto set = FromToml("listen = \"127.0.0.1:1\"\n");
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->profiles.size(), 1u);
  EXPECT_EQ(set->ForTenant("a").MaxRanges(), 4);
}

TEST(ProfilesToml, BadValueIsAConfigErrorNamingTheField) {
  for (const auto& [text, field] : std::vector<std::pair<std::string, std::string>>{
           {"[profiles.p]\ndegree = \"extreme\"\n", "profiles.p.degree:"},
           {"[profiles.p]\nmigration_windows = [01:00:00]\n", "profiles:"},
           {"[tenant_profiles]\n\"9\" = \"ghost\"\n", "tenant_profiles.9:"}}) {
    auto set = FromToml(text);
    ASSERT_FALSE(set.ok()) << text;
    EXPECT_EQ(set.status().sqlstate(), "F0000");
    EXPECT_EQ(set.status().message().rfind(field, 0), 0u) << set.status().message();
  }
}

}  // namespace
}  // namespace mosaic::advisor
