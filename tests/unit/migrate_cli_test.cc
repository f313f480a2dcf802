// Unit tests for the `mosaic migrate` CLI's rendering (main/migrate_cli.h). No server needed.
#include "main/migrate_cli.h"

#include <gtest/gtest.h>

namespace mosaic {
namespace {

using Json = nlohmann::json;

TEST(MigrateCli, ProgressBar) {
  EXPECT_EQ(ProgressBar(50, 200, 8), "[##......]  25%");
  EXPECT_EQ(ProgressBar(300, 200, 4), "[####] 100%");
  EXPECT_EQ(ProgressBar(5, 0, 4), "[....]    ");
}

TEST(MigrateCli, FormatsActiveAndFinishedMigrations) {
  const Json reply = Json::parse(R"({"migrations": [
    {"id": 4, "action": "split", "tenant": "42", "phase": "shadow_reads", "paused": false, "requested": null,
     "progress": {"rows_copied": 500, "rows_estimated": 1000, "bytes": 1, "rows_per_s": 250.4, "eta_s": 2},
     "mismatches": {"shadow_reads": 30, "shadow_mismatches": 0, "checksum_chunks": 0, "checksum_mismatches": 0}},
    {"id": 3, "action": "move", "tenant": null, "phase": "incremental_writes", "paused": true, "requested": "abort",
     "progress": {"rows_copied": 0, "rows_estimated": 0, "bytes": 0, "rows_per_s": 0, "eta_s": null},
     "mismatches": {"shadow_reads": 0, "shadow_mismatches": 0, "checksum_chunks": 8, "checksum_mismatches": 1}},
    {"id": 2, "action": "merge", "tenant": "7", "phase": "done", "paused": false, "requested": null,
     "progress": {"rows_copied": 10, "rows_estimated": 10, "bytes": 1, "rows_per_s": 0, "eta_s": 0},
     "mismatches": {}}]})");
  EXPECT_EQ(FormatMigrations(reply, false),
            "ID  ACTION  TENANT  PHASE                                          PROGRESS                              RATE        ETA  MISMATCHES\n"
            "4   split   42      shadow_reads                                   [##########..........]  50% 500/1000  250 rows/s  2s   shadow 0/30, checksum 0/0\n"
            "3   move    -       incremental_writes (paused) (abort requested)  [....................]     0/0        -           -    shadow 0/0, checksum 1/8\n"
            "2   merge   7       done                                           [####################] 100% 10/10     -           -    shadow 0/0, checksum 0/0\n");
  const std::string active = FormatMigrations(reply, true);
  EXPECT_NE(active.find("\n4 "), std::string::npos);
  EXPECT_NE(active.find("\n3 "), std::string::npos);
  EXPECT_EQ(active.find("\n2 "), std::string::npos);
  EXPECT_EQ(FormatMigrations(Json::parse(R"({"migrations": []})"), false), "no migrations\n");
  EXPECT_EQ(FormatMigrations(Json::parse(R"({"migrations": [{"id": 1, "phase": "failed"}]})"), true),
            "no active migration\n");
}

TEST(MigrateCli, ActiveMeansANonTerminalPhase) {
  EXPECT_TRUE(MigrationActive(Json{{"phase", "queued"}}));
  EXPECT_TRUE(MigrationActive(Json{{"phase", "deprecated"}}));
  EXPECT_FALSE(MigrationActive(Json{{"phase", "rolled_back"}}));
  EXPECT_FALSE(MigrationActive(Json{{"phase", "bogus"}}));
}

}  // namespace
}  // namespace mosaic
