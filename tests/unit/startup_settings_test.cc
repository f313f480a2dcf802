// Tests for frontend/startup_settings.h: which startup parameters are settings, and which
// settings go to a node to be vetted before the client is admitted.
#include "frontend/startup_settings.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace mosaic::frontend {
namespace {

using Settings = std::vector<std::pair<std::string, std::string>>;

protocol::StartupPacket Packet(const std::vector<std::pair<std::string_view, std::string_view>>& params) {
  protocol::StartupPacket p;
  p.protocol_version = protocol::kProtocolVersion3;
  p.parameters = params;
  return p;
}

TEST(StartupSettings, ConnectionPropertiesAndProtocolOptionsAreNotSettings) {
  const auto p = Packet({{"user", "u"}, {"database", "d"}, {"replication", "false"}, {"_pq_.x", "1"},
                         {"application_name", "app"}, {"DateStyle", "ISO"}});
  EXPECT_EQ(StartupSettings(p), (Settings{{"application_name", "app"}, {"DateStyle", "ISO"}}));
  EXPECT_TRUE(IsProtocolOption("_pq_.x"));
  EXPECT_FALSE(IsProtocolOption("pq.x"));
}

TEST(StartupSettings, OptionsCarrySettingsAfterTheParameters) {
  const auto p = Packet({{"options", "-c work_mem=banana --search_path=s -cstatement_timeout=5 -c"},
                         {"TimeZone", "UTC"}});
  EXPECT_EQ(StartupSettings(p), (Settings{{"TimeZone", "UTC"},
                                          {"work_mem", "banana"},
                                          {"search_path", "s"},
                                          {"statement_timeout", "5"}}));
}

TEST(StartupSettings, WhatDriversSendNeedsNoNode) {
  // pgJDBC, node-postgres, libpq (psql, pgbench, psycopg2).
  EXPECT_TRUE(IsUsualStartupSetting("application_name", "PostgreSQL JDBC Driver"));
  EXPECT_TRUE(IsUsualStartupSetting("application_name", ""));
  EXPECT_TRUE(IsUsualStartupSetting("client_encoding", "UTF8"));
  EXPECT_TRUE(IsUsualStartupSetting("client_encoding", "utf-8"));
  EXPECT_TRUE(IsUsualStartupSetting("DateStyle", "ISO"));
  EXPECT_TRUE(IsUsualStartupSetting("datestyle", "ISO, MDY"));
  EXPECT_TRUE(IsUsualStartupSetting("TimeZone", "UTC"));
  EXPECT_TRUE(IsUsualStartupSetting("TimeZone", "Europe/Berlin"));
  EXPECT_TRUE(IsUsualStartupSetting("extra_float_digits", "2"));
  EXPECT_TRUE(IsUsualStartupSetting("extra_float_digits", "-15"));
  EXPECT_TRUE(IsUsualStartupSetting("search_path", "public"));
  EXPECT_TRUE(IsUsualStartupSetting("search_path", "\"$user\", public, app_1"));
}

TEST(StartupSettings, AnythingElseIsVetted) {
  EXPECT_FALSE(IsUsualStartupSetting("client_encoding", "NOPE"));
  EXPECT_FALSE(IsUsualStartupSetting("client_encoding", "LATIN1"));
  EXPECT_FALSE(IsUsualStartupSetting("DateStyle", "banana"));
  EXPECT_FALSE(IsUsualStartupSetting("TimeZone", "Europe/Nowhere"));
  EXPECT_FALSE(IsUsualStartupSetting("TimeZone", "Europe/../../../etc/passwd"));
  EXPECT_FALSE(IsUsualStartupSetting("TimeZone", "/etc/passwd"));
  EXPECT_FALSE(IsUsualStartupSetting("TimeZone", "zone.tab"));
  EXPECT_FALSE(IsUsualStartupSetting("extra_float_digits", "4"));
  EXPECT_FALSE(IsUsualStartupSetting("extra_float_digits", "2x"));
  EXPECT_FALSE(IsUsualStartupSetting("search_path", "public,"));
  EXPECT_FALSE(IsUsualStartupSetting("search_path", "\"Odd\""));
  EXPECT_FALSE(IsUsualStartupSetting("work_mem", "64MB"));
  EXPECT_FALSE(IsUsualStartupSetting("no_such_guc", "1"));
}

}  // namespace
}  // namespace mosaic::frontend
