#include "common/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <toml++/toml.h>

#include "advisor/profile_toml.h"

namespace mosaic {

Result<HostPort> ParseHostPort(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) {
    return Status::Error(sqlstate::kInvalidParameterValue,
                         fmt::format("\"{}\" is not HOST:PORT", text));
  }
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::string_view port_text = text.substr(colon + 1);
  int port = -1;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port < 0 || port > 65535 ||
      host.empty()) {
    return Status::Error(sqlstate::kInvalidParameterValue,
                         fmt::format("\"{}\" is not HOST:PORT with a port in 0..65535", text));
  }
  return HostPort{std::string(host), port};
}

namespace {

Status ConfigError(std::string message) {
  return Status::Error(sqlstate::kConfigFileError, std::move(message));
}

template <typename T>
void Take(const toml::table& t, std::string_view key, T* out) {
  if (auto v = t[key].value<T>()) *out = *v;
}

Status ReadListen(const toml::table& t, std::string_view key, HostPort* out) {
  auto v = t[key].value<std::string>();
  if (!v) return Status::OK();
  auto hp = ParseHostPort(*v);
  if (!hp.ok()) return ConfigError(fmt::format("{}: {}", key, hp.status().message()));
  *out = hp.value();
  return Status::OK();
}

Status ReadNodes(const toml::table& t, Config* c) {
  const auto* nodes = t["nodes"].as_array();
  if (nodes == nullptr) return Status::OK();
  for (const auto& item : *nodes) {
    const auto* n = item.as_table();
    if (n == nullptr || !(*n)["dsn"].is_string()) return ConfigError("each [[nodes]] entry needs dsn = \"...\"");
    NodeConfig node;
    Take(*n, "dsn", &node.dsn);
    Take(*n, "tier", &node.tier);
    Take(*n, "capacity", &node.capacity);
    c->nodes.push_back(std::move(node));
  }
  return Status::OK();
}

Status ReadUsers(const toml::table& t, Config* c) {
  const auto* users = t["users"].as_array();
  if (users == nullptr) return Status::OK();
  for (const auto& item : *users) {
    const auto* u = item.as_table();
    if (u == nullptr || !(*u)["name"].is_string()) return ConfigError("each [[users]] entry needs name = \"...\"");
    UserConfig user;
    Take(*u, "name", &user.name);
    Take(*u, "password", &user.password);
    Take(*u, "scram_verifier", &user.scram_verifier);
    c->users.push_back(std::move(user));
  }
  return Status::OK();
}

// "orders" -> "public.orders"; a qualified name stays as it is.
std::string QualifiedTableName(std::string_view name) {
  return name.find('.') == std::string_view::npos ? "public." + std::string(name) : std::string(name);
}

Status ReadDistribution(const toml::table& t, Config* c) {
  Take(t, "tenant_column", &c->tenant_column);
  if (c->tenant_column.empty()) return ConfigError("tenant_column must not be empty");
  if (const auto* refs = t["reference_tables"].as_array()) {
    for (const auto& item : *refs) {
      auto name = item.value<std::string>();
      if (!name || name->empty()) return ConfigError("reference_tables must be a list of table names");
      c->reference_tables.push_back(QualifiedTableName(*name));
    }
  } else if (t.contains("reference_tables")) {
    return ConfigError("reference_tables must be a list of table names");
  }
  const auto* tables = t["tables"].as_table();
  if (tables == nullptr) {
    return t.contains("tables") ? ConfigError("[tables] must be a table of [tables.\"schema.name\"]")
                                : Status::OK();
  }
  for (const auto& [key, value] : *tables) {
    const auto* entry = value.as_table();
    if (entry == nullptr) return ConfigError(fmt::format("tables.\"{}\" must be a table", key.str()));
    TableConfig table;
    Take(*entry, "tenant_column", &table.tenant_column);
    c->tables[QualifiedTableName(key.str())] = std::move(table);
  }
  return Status::OK();
}

Status FromTable(const toml::table& t, Config* c) {
  if (auto s = ReadListen(t, "listen", &c->listen); !s.ok()) return s;
  if (auto s = ReadListen(t, "admin_listen", &c->admin_listen); !s.ok()) return s;
  Take(t, "database", &c->database);
  Take(t, "auth", &c->auth);
  std::string pool_mode = c->pool_mode == PoolMode::kSession ? "session" : "transaction";
  Take(t, "pool_mode", &pool_mode);
  if (pool_mode != "session" && pool_mode != "transaction") {
    return ConfigError(fmt::format("pool_mode must be \"transaction\" or \"session\", not \"{}\"", pool_mode));
  }
  c->pool_mode = pool_mode == "session" ? PoolMode::kSession : PoolMode::kTransaction;
  Take(t, "pool_size", &c->pool_size);
  Take(t, "max_client_connections", &c->max_client_connections);
  Take(t, "workers", &c->workers);
  int64_t max_message = c->max_message_size;
  Take(t, "max_message_size", &max_message);
  if (max_message < 1024 || max_message > (int64_t{1} << 30)) return ConfigError("max_message_size must be in 1024..1073741824");
  c->max_message_size = static_cast<uint32_t>(max_message);
  Take(t, "query_wait_timeout_ms", &c->query_wait_timeout_ms);
  Take(t, "connect_timeout_s", &c->connect_timeout_s);
  Take(t, "authentication_timeout_s", &c->authentication_timeout_s);
  Take(t, "max_prepared_statements", &c->max_prepared_statements);
  Take(t, "max_merge_mb", &c->max_merge_mb);
  if (c->max_merge_mb < 1) return ConfigError("max_merge_mb must be at least 1");
  Take(t, "pipeline_depth", &c->pipeline_depth);
  Take(t, "catalog", &c->catalog_dsn);
  Take(t, "log_level", &c->log_level);
  Take(t, "router_id", &c->router_id);
  Take(t, "two_phase_recovery_interval_s", &c->two_phase_recovery_interval_s);
  Take(t, "deadlock_detection_interval_s", &c->deadlock_detection_interval_s);
  if (const auto* managed = t["managed"].as_table()) {
    Take(*managed, "nodes", &c->managed_nodes);
    Take(*managed, "data_dir", &c->data_dir);
    Take(*managed, "unix_socket", &c->managed_unix_socket);
    Take(*managed, "base_port", &c->node_base_port);
  }
  if (const auto* monitor = t["monitor"].as_table()) {
    Take(*monitor, "enabled", &c->monitor.enabled);
    Take(*monitor, "window_seconds", &c->monitor.window_seconds);
    Take(*monitor, "memory_budget_mb", &c->monitor.memory_budget_mb);
    int64_t checkpoint = c->monitor.checkpoint_seconds;
    Take(*monitor, "checkpoint_seconds", &checkpoint);
    c->monitor.checkpoint_seconds = static_cast<int>(std::clamp<int64_t>(checkpoint, -1, 1 << 30));
  }
  if (const auto* m = t["migration"].as_table()) {
    Take(*m, "copy_rows_per_s", &c->migration.copy_rows_per_s);
    Take(*m, "copy_bytes_per_s", &c->migration.copy_bytes_per_s);
    Take(*m, "batch_rows", &c->migration.batch_rows);
    Take(*m, "retention_s", &c->migration.retention_s);
    Take(*m, "shadow_min_s", &c->migration.shadow_min_s);
    Take(*m, "cutover_drain_ms", &c->migration.cutover_drain_ms);
    Take(*m, "cutover_fence_budget_ms", &c->migration.cutover_fence_budget_ms);
    Take(*m, "cutover_attempts", &c->migration.cutover_attempts);
    Take(*m, "cutover_timeout_s", &c->migration.cutover_timeout_s);
    Take(*m, "catchup_timeout_s", &c->migration.catchup_timeout_s);
    Take(*m, "node_down_timeout_s", &c->migration.node_down_timeout_s);
    Take(*m, "max_per_node", &c->migration.max_per_node);
  }
  if (const auto* r = t["rebalancer"].as_table()) {
    for (const auto& [key, value] : *r) {
      static const char* kKeys[] = {"enabled", "interval_s", "window_s", "imbalance_threshold", "cooldown_s",
                                    "failure_backoff_s", "dry_run", "min_statements", "max_tenants", "max_events"};
      if (std::find(std::begin(kKeys), std::end(kKeys), key.str()) == std::end(kKeys)) {
        return ConfigError(fmt::format("rebalancer.{}: unknown key", key.str()));
      }
      (void)value;
    }
    Take(*r, "enabled", &c->rebalancer.enabled);
    Take(*r, "interval_s", &c->rebalancer.interval_s);
    Take(*r, "window_s", &c->rebalancer.window_s);
    Take(*r, "imbalance_threshold", &c->rebalancer.imbalance_threshold);
    Take(*r, "cooldown_s", &c->rebalancer.cooldown_s);
    Take(*r, "failure_backoff_s", &c->rebalancer.failure_backoff_s);
    Take(*r, "dry_run", &c->rebalancer.dry_run);
    Take(*r, "min_statements", &c->rebalancer.min_statements);
    Take(*r, "max_tenants", &c->rebalancer.max_tenants);
    Take(*r, "max_events", &c->rebalancer.max_events);
  }
  if (auto s = ReadNodes(t, c); !s.ok()) return s;
  if (auto s = ReadDistribution(t, c); !s.ok()) return s;
  auto profiles = advisor::ReadProfilesToml(t);
  if (!profiles.ok()) return profiles.status();
  c->profiles = std::move(profiles).value();
  return ReadUsers(t, c);
}

}  // namespace

Result<Config> Config::LoadToml(const std::string& path) {
  Config c;
  try {
    toml::table t = toml::parse_file(path);
    if (auto s = FromTable(t, &c); !s.ok()) return s;
  } catch (const toml::parse_error& e) {
    return ConfigError(fmt::format("{}:{}:{}: {}", path, e.source().begin.line,
                                   e.source().begin.column, e.description()));
  }
  return c;
}

std::string Config::TenantColumnFor(std::string_view schema, std::string_view name) const {
  auto it = tables.find(fmt::format("{}.{}", schema, name));
  return it != tables.end() && !it->second.tenant_column.empty() ? it->second.tenant_column
                                                                 : tenant_column;
}

bool Config::IsReferenceTable(std::string_view schema, std::string_view name) const {
  const std::string qualified = fmt::format("{}.{}", schema, name);
  return std::find(reference_tables.begin(), reference_tables.end(), qualified) !=
         reference_tables.end();
}

Status Config::Validate() const {
  if (managed_nodes <= 0 && nodes.empty()) {
    return ConfigError("no nodes: give --managed-nodes N --data-dir DIR, or --node DSN, or a config file");
  }
  if (managed_nodes > 0 && !nodes.empty()) return ConfigError("use either managed nodes or --node, not both");
  if (managed_nodes > 0 && data_dir.empty()) return ConfigError("--managed-nodes needs --data-dir DIR");
  if (managed_nodes > 64) return ConfigError("at most 64 managed nodes");
  if (auth != "trust" && auth != "scram-sha-256") {
    return ConfigError(fmt::format("auth must be \"trust\" or \"scram-sha-256\", not \"{}\"", auth));
  }
  if (auth == "scram-sha-256" && users.empty()) return ConfigError("auth = \"scram-sha-256\" needs [[users]]");
  for (const auto& u : users) {
    if (u.password.empty() && u.scram_verifier.empty()) {
      return ConfigError(fmt::format("user \"{}\" needs password or scram_verifier", u.name));
    }
  }
  if (pool_size < 1 || pool_size > 10000) return ConfigError("pool_size must be in 1..10000");
  if (authentication_timeout_s < 1 || authentication_timeout_s > 600) {
    return ConfigError("authentication_timeout_s must be in 1..600");
  }
  if (workers < 0 || workers > 64) return ConfigError("workers must be in 0..64");
  if (max_prepared_statements < 1) return ConfigError("max_prepared_statements must be at least 1");
  if (pipeline_depth < 0 || pipeline_depth > 64) return ConfigError("pipeline_depth must be in 0..64");
  if (router_id.empty() || router_id.size() > 32 ||
      !std::all_of(router_id.begin(), router_id.end(),
                   [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-'; })) {
    return ConfigError(fmt::format("router_id must be 1..32 characters of A-Z, a-z, 0-9 and '-', not \"{}\"", router_id));
  }
  if (two_phase_recovery_interval_s < 1 || two_phase_recovery_interval_s > 86400) {
    return ConfigError("two_phase_recovery_interval_s must be in 1..86400");
  }
  if (deadlock_detection_interval_s != 0 &&
      !(deadlock_detection_interval_s >= 0.1 && deadlock_detection_interval_s <= 3600)) {
    return ConfigError("deadlock_detection_interval_s must be 0 (off) or in 0.1..3600");
  }
  if (monitor.window_seconds < 60 || monitor.window_seconds > 7 * 24 * 3600) {
    return ConfigError("monitor.window_seconds must be in 60..604800");
  }
  if (monitor.memory_budget_mb < 1 || monitor.memory_budget_mb > 65536) return ConfigError("monitor.memory_budget_mb must be in 1..65536");
  if (monitor.checkpoint_seconds < 0) return ConfigError("monitor.checkpoint_seconds must be 0 or more");
  if (migration.copy_rows_per_s < 0 || migration.copy_bytes_per_s < 0) {
    return ConfigError("migration.copy_rows_per_s and copy_bytes_per_s must be 0 (unlimited) or more");
  }
  if (migration.batch_rows < 1) return ConfigError("migration.batch_rows must be 1 or more");
  if (migration.retention_s < 0) return ConfigError("migration.retention_s must be 0 or more");
  if (migration.shadow_min_s < 0) return ConfigError("migration.shadow_min_s must be 0 or more");
  if (migration.cutover_drain_ms < 1) return ConfigError("migration.cutover_drain_ms must be 1 or more");
  if (migration.cutover_fence_budget_ms < 0) {
    return ConfigError("migration.cutover_fence_budget_ms must be 0 (no budget) or more");
  }
  if (migration.cutover_attempts < 1) return ConfigError("migration.cutover_attempts must be 1 or more");
  if (migration.cutover_timeout_s <= 0) return ConfigError("migration.cutover_timeout_s must be more than 0");
  if (migration.catchup_timeout_s <= 0) return ConfigError("migration.catchup_timeout_s must be more than 0");
  if (migration.node_down_timeout_s <= 0) return ConfigError("migration.node_down_timeout_s must be more than 0");
  if (migration.max_per_node < 1) return ConfigError("migration.max_per_node must be 1 or more");
  if (rebalancer.interval_s < 0) return ConfigError("rebalancer.interval_s must be 0 (on request only) or more");
  if (rebalancer.window_s < 60) return ConfigError("rebalancer.window_s must be 60 or more (the monitor keeps minutes)");
  if (rebalancer.imbalance_threshold < 1) return ConfigError("rebalancer.imbalance_threshold must be 1 or more");
  if (rebalancer.cooldown_s < 0) return ConfigError("rebalancer.cooldown_s must be 0 or more");
  if (rebalancer.failure_backoff_s < 0) return ConfigError("rebalancer.failure_backoff_s must be 0 or more");
  if (rebalancer.min_statements < 0) return ConfigError("rebalancer.min_statements must be 0 or more");
  if (rebalancer.max_tenants < 1) return ConfigError("rebalancer.max_tenants must be 1 or more");
  if (rebalancer.max_events < 1) return ConfigError("rebalancer.max_events must be 1 or more");
  return Status::OK();
}

}  // namespace mosaic
