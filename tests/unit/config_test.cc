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
  EXPECT_TRUE(c->managed_unix_socket);  // default
  ASSERT_EQ(c->users.size(), 1u);
  EXPECT_EQ(c->users[0].name, "alice");
  EXPECT_TRUE(c->Validate().ok());
}

TEST(Config, ManagedNodesOverTcpOnRequest) {
  auto path = WriteTemp("[managed]\nnodes = 1\ndata_dir = \"/var/tmp/x\"\nunix_socket = false\n");
  auto c = Config::LoadToml(path);
  std::remove(path.c_str());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->managed_unix_socket);
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

TEST(Config, MaxMergeMb) {
  EXPECT_EQ(Config{}.max_merge_mb, 1024);
  auto path = WriteTemp("max_merge_mb = 8\n");
  auto c = Config::LoadToml(path);
  std::remove(path.c_str());
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c.value().max_merge_mb, 8);
  path = WriteTemp("max_merge_mb = 0\n");
  c = Config::LoadToml(path);
  std::remove(path.c_str());
  EXPECT_FALSE(c.ok());
}

TEST(Config, PipelineDepth) {
  EXPECT_EQ(Config{}.pipeline_depth, 4);
  auto path = WriteTemp("pipeline_depth = 0\n");
  auto c = Config::LoadToml(path);
  std::remove(path.c_str());
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c.value().pipeline_depth, 0);
  Config bad;
  bad.pipeline_depth = 65;
  EXPECT_FALSE(bad.Validate().ok());
  bad.pipeline_depth = -1;
  EXPECT_FALSE(bad.Validate().ok());
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

TEST(Config, RouterIdAndRecoveryInterval) {
  Config c;
  c.nodes.push_back({"host=x"});
  EXPECT_EQ(c.router_id, "r1");
  for (const char* good : {"r1", "eu-west-2", "A9"}) {
    c.router_id = good;
    EXPECT_TRUE(c.Validate().ok()) << good;
  }
  // '_' separates the parts of a transaction id; quotes would end its SQL literal
  for (const char* bad : {"", "r_1", "r'1", "r 1", "abcdefghijklmnopqrstuvwxyz0123456789"}) {
    c.router_id = bad;
    auto s = c.Validate();
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.message().find("router_id"), std::string::npos) << s.message();
  }
  c.router_id = "r1";
  c.two_phase_recovery_interval_s = 0;
  EXPECT_FALSE(c.Validate().ok());
  c.two_phase_recovery_interval_s = 30;
  for (double bad : {-1.0, 0.05, 3601.0}) {
    c.deadlock_detection_interval_s = bad;
    auto s = c.Validate();
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.message().find("deadlock_detection_interval_s"), std::string::npos) << s.message();
  }
  for (double good : {0.0, 0.1, 2.0}) {
    c.deadlock_detection_interval_s = good;
    EXPECT_TRUE(c.Validate().ok()) << good;
  }
  auto path = WriteTemp("router_id = \"r7\"\ntwo_phase_recovery_interval_s = 5\ndeadlock_detection_interval_s = 1\n[[nodes]]\ndsn = \"host=x\"\n");
  auto loaded = Config::LoadToml(path);
  std::remove(path.c_str());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->router_id, "r7");
  EXPECT_EQ(loaded->two_phase_recovery_interval_s, 5);
  EXPECT_EQ(loaded->deadlock_detection_interval_s, 1.0);  // an integer is taken as seconds
}

TEST(Config, ReadsStorageProfiles) {
  auto path = WriteTemp(R"(
[profiles.whale]
degree = "fine"
[tenant_profiles]
"42" = "whale"
)");
  auto c = Config::LoadToml(path);
  std::remove(path.c_str());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->profiles.ForTenant("42").MaxRanges(), 64);
  EXPECT_EQ(c->profiles.ForTenant("7").name, "default");
  path = WriteTemp("[profiles.whale]\ndegree = \"huge\"\n");
  auto bad = Config::LoadToml(path);
  std::remove(path.c_str());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().sqlstate(), "F0000");
  EXPECT_EQ(bad.status().message().rfind("profiles.whale.degree:", 0), 0u) << bad.status().message();
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
TEST(Config, RebalancerSettings) {
  Config defaults;
  EXPECT_TRUE(defaults.rebalancer.enabled);
  EXPECT_EQ(defaults.rebalancer.interval_s, 60);
  EXPECT_EQ(defaults.rebalancer.imbalance_threshold, 1.25);
  auto path = WriteTemp("[rebalancer]\ninterval_s = 0\nwindow_s = 600\nimbalance_threshold = 1.5\ncooldown_s = 30\n"
                        "failure_backoff_s = 10\ndry_run = true\nmin_statements = 5\n");
  auto c = Config::LoadToml(path);
  std::remove(path.c_str());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->rebalancer.interval_s, 0);
  EXPECT_EQ(c->rebalancer.window_s, 600);
  EXPECT_EQ(c->rebalancer.imbalance_threshold, 1.5);
  EXPECT_EQ(c->rebalancer.cooldown_s, 30);
  EXPECT_EQ(c->rebalancer.failure_backoff_s, 10);
  EXPECT_TRUE(c->rebalancer.dry_run);
  EXPECT_EQ(c->rebalancer.min_statements, 5);
  path = WriteTemp("[rebalancer]\ninterval = 5\n");  // a typo is an error, not a silent default
  auto typo = Config::LoadToml(path);
  std::remove(path.c_str());
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("rebalancer.interval: unknown key"), std::string::npos) << typo.status().message();
  Config bad = c.value();
  bad.managed_nodes = 1;
  bad.data_dir = "/tmp/x";
  EXPECT_TRUE(bad.Validate().ok());
  bad.rebalancer.imbalance_threshold = 0.9;
  EXPECT_NE(bad.Validate().message().find("rebalancer.imbalance_threshold"), std::string::npos);
  bad.rebalancer.imbalance_threshold = 1.25;
  bad.rebalancer.window_s = 30;
  EXPECT_NE(bad.Validate().message().find("rebalancer.window_s"), std::string::npos);
}

TEST(Config, MigrationCutoverSettings) {
  Config defaults;
  EXPECT_EQ(defaults.migration.cutover_fence_budget_ms, 30);
  EXPECT_EQ(defaults.migration.cutover_attempts, 5);
  EXPECT_EQ(defaults.migration.cutover_timeout_s, 300);
  auto path = WriteTemp(
      "[migration]\ncutover_fence_budget_ms = 0\ncutover_attempts = 2\ncutover_drain_ms = 500\ncutover_timeout_s = 7\n");
  auto c = Config::LoadToml(path);
  std::remove(path.c_str());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->migration.cutover_fence_budget_ms, 0);
  EXPECT_EQ(c->migration.cutover_attempts, 2);
  EXPECT_EQ(c->migration.cutover_drain_ms, 500);
  EXPECT_EQ(c->migration.cutover_timeout_s, 7);
  Config bad = c.value();
  bad.managed_nodes = 1;
  bad.data_dir = "/tmp/x";
  EXPECT_TRUE(bad.Validate().ok());
  bad.migration.cutover_fence_budget_ms = -1;
  EXPECT_NE(bad.Validate().message().find("migration.cutover_fence_budget_ms"), std::string::npos);
  bad.migration.cutover_fence_budget_ms = 20;
  bad.migration.cutover_attempts = 0;
  EXPECT_NE(bad.Validate().message().find("migration.cutover_attempts"), std::string::npos);
  bad.migration.cutover_attempts = 5;
  bad.migration.cutover_timeout_s = 0;
  EXPECT_NE(bad.Validate().message().find("migration.cutover_timeout_s"), std::string::npos);
}

}  // namespace mosaic
