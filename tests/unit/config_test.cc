#include "common/config.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace mosaic {
namespace {

std::string WriteTemp(const std::string& text) {
  char path[] = "/tmp/mosaic-config-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << text;
  return path;
}

TEST(HostPort, Parses) {
  auto hp = ParseHostPort("127.0.0.1:6432");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, 6432);
  auto v6 = ParseHostPort("[::1]:7000");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  for (const char* bad : {"localhost", "host:", ":80", "h:99999", "h:12x", "h:-1"}) {
    auto r = ParseHostPort(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().sqlstate(), "22023");
  }
}

TEST(Config, LoadsTomlOverDefaults) {
  auto path = WriteTemp(R"(
listen = "0.0.0.0:7000"
auth = "scram-sha-256"
pool_mode = "session"
pool_size = 7
[managed]
nodes = 2
data_dir = "/var/tmp/x"
[[users]]
name = "alice"
password = "pw"
)");
  auto c = Config::LoadToml(path);
  std::remove(path.c_str());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->listen.port, 7000);
  EXPECT_EQ(c->admin_listen.port, 6480);  // default kept
  EXPECT_EQ(c->pool_mode, PoolMode::kSession);
  EXPECT_EQ(c->pool_size, 7);
  EXPECT_EQ(c->managed_nodes, 2);
  ASSERT_EQ(c->users.size(), 1u);
  EXPECT_EQ(c->users[0].name, "alice");
  EXPECT_TRUE(c->Validate().ok());
}

TEST(Config, SyntaxErrorNamesFileAndLine) {
  auto path = WriteTemp("listen = \n");
  auto c = Config::LoadToml(path);
  std::remove(path.c_str());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().sqlstate(), "F0000");
  EXPECT_NE(c.status().message().find(path + ":1"), std::string::npos) << c.status().message();
}

TEST(Config, RejectsBadValues) {
  for (const char* text : {"pool_mode = \"statement\"", "listen = \"nowhere\"", "max_message_size = 10",
                           "[[nodes]]\ntier = \"hot\""}) {
    auto path = WriteTemp(text);
    auto c = Config::LoadToml(path);
    std::remove(path.c_str());
    EXPECT_FALSE(c.ok()) << text;
  }
}

TEST(Config, DistributionSettings) {
  auto path = WriteTemp(R"(
tenant_column = "org"
reference_tables = ["countries", "geo.cities"]
[tables."public.orders"]
tenant_column = "org_id"
[tables.events]
tenant_column = "account"
)");
  auto c = Config::LoadToml(path);
  std::remove(path.c_str());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->TenantColumnFor("public", "orders"), "org_id");
  EXPECT_EQ(c->TenantColumnFor("public", "events"), "account");  // bare name: schema public
  EXPECT_EQ(c->TenantColumnFor("public", "other"), "org");
  EXPECT_EQ(c->TenantColumnFor("app", "orders"), "org");
  EXPECT_TRUE(c->IsReferenceTable("public", "countries"));
  EXPECT_TRUE(c->IsReferenceTable("geo", "cities"));
  EXPECT_FALSE(c->IsReferenceTable("public", "cities"));
}

TEST(Config, DistributionDefaults) {
  Config c;
  EXPECT_EQ(c.TenantColumnFor("public", "orders"), "tenant_id");
  EXPECT_FALSE(c.IsReferenceTable("public", "orders"));
}

TEST(Config, RejectsBadDistributionSettings) {
  for (const char* text : {"reference_tables = \"countries\"", "reference_tables = [1]",
                           "tenant_column = \"\"", "tables = 3", "[tables]\norders = 1"}) {
    auto path = WriteTemp(text);
    auto c = Config::LoadToml(path);
    std::remove(path.c_str());
    EXPECT_FALSE(c.ok()) << text;
  }
}

TEST(Config, ValidateCrossFieldRules) {
  Config c;
  EXPECT_FALSE(c.Validate().ok());  // no nodes at all
  c.nodes.push_back({"host=x"});
  EXPECT_TRUE(c.Validate().ok());
  c.managed_nodes = 2;
  EXPECT_FALSE(c.Validate().ok());  // both kinds
  c.nodes.clear();
  EXPECT_FALSE(c.Validate().ok());  // managed without data dir
  c.data_dir = "/var/tmp/x";
  EXPECT_TRUE(c.Validate().ok());
  c.auth = "scram-sha-256";
  EXPECT_FALSE(c.Validate().ok());  // scram without users
  c.users.push_back({"bob", "", ""});
  EXPECT_FALSE(c.Validate().ok());  // user without secret
  c.users[0].password = "pw";
  EXPECT_TRUE(c.Validate().ok());
  c.auth = "md5";
  EXPECT_FALSE(c.Validate().ok());
}

}  // namespace
}  // namespace mosaic

namespace mosaic {
namespace {

TEST(Config, MonitorSettings) {
  Config defaults;
  EXPECT_TRUE(defaults.monitor.enabled);
  EXPECT_EQ(defaults.monitor.window_seconds, 86400);
  auto path = WriteTemp("[monitor]\nenabled = false\nwindow_seconds = 3600\nmemory_budget_mb = 64\ncheckpoint_seconds = 5\n");
  auto c = Config::LoadToml(path);
  std::remove(path.c_str());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->monitor.enabled);
  EXPECT_EQ(c->monitor.window_seconds, 3600);
  EXPECT_EQ(c->monitor.memory_budget_mb, 64);
  EXPECT_EQ(c->monitor.checkpoint_seconds, 5);
  Config bad = c.value();
  bad.managed_nodes = 1;
  bad.data_dir = "/tmp/x";
  EXPECT_TRUE(bad.Validate().ok());
  bad.monitor.window_seconds = 10;
  EXPECT_NE(bad.Validate().message().find("monitor.window_seconds"), std::string::npos);
  bad.monitor.window_seconds = 3600;
  bad.monitor.memory_budget_mb = 0;
  EXPECT_NE(bad.Validate().message().find("monitor.memory_budget_mb"), std::string::npos);
}

}  // namespace
}  // namespace mosaic
