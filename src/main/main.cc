// The `mosaic` binary: `serve` runs the router, `demo` tells the whole story on managed nodes
// (demo.h), `layout set|show` calls a running router's layout API, `patterns` its pattern monitor,
// `migrate` its migrations, `events` and `rebalancer` its rebalancer, `workload` generates load
// against Mosaic or PostgreSQL. Command-line parsing and signal handling live here; everything
// else is in App.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <libpq-fe.h>

#include <csignal>
#include <filesystem>
#include <iostream>

#include "common/async.h"
#include "common/log.h"
#include "main/app.h"
#include "main/demo.h"
#include "main/layout_cli.h"
#include "main/advise_cli.h"
#include "main/migrate_cli.h"
#include "main/rebalancer_cli.h"
#include "main/patterns_cli.h"
#include "main/workload_cli.h"

namespace {

struct CliOverrides {
  std::string config_file, listen, admin_listen, data_dir, catalog, pool_mode, auth, log_level, database;
  std::string router_id, test_fault;
  std::vector<std::string> nodes;
  int managed_nodes = -1, node_base_port = -1, pool_size = -1, workers = -1, pipeline_depth = -1;
  std::string monitor;     // "on" / "off"
  std::string rebalancer;  // "on" / "off"
  int64_t monitor_window = -1, monitor_checkpoint = -1;
};

void AddServeOptions(CLI::App* cmd, CliOverrides* o) {
  cmd->add_option("--config", o->config_file, "TOML config file (command-line options override it)");
  cmd->add_option("--listen", o->listen, "HOST:PORT for PostgreSQL clients (default 127.0.0.1:6432)");
  cmd->add_option("--admin-listen", o->admin_listen, "HOST:PORT of the admin HTTP API (default 127.0.0.1:6480)");
  cmd->add_option("--managed-nodes", o->managed_nodes, "run N PostgreSQL nodes under --data-dir");
  cmd->add_option("--data-dir", o->data_dir, "directory of the managed nodes");
  cmd->add_option("--node-base-port", o->node_base_port, "first port of the managed nodes (default: free ports from 6433)");
  cmd->add_option("--node", o->nodes, "DSN of an existing PostgreSQL node (repeatable)");
  cmd->add_option("--catalog", o->catalog, "DSN of the catalog database (default: mosaic_catalog on the first node)");
  cmd->add_option("--pool-mode", o->pool_mode, "transaction (default) or session");
  cmd->add_option("--pool-size", o->pool_size, "server connections per node (default 20)");
  cmd->add_option("--pipeline-depth", o->pipeline_depth,
                  "fast one-statement reads queued per shared server connection (default 4; 0: off)");
  cmd->add_option("--workers", o->workers, "event-loop threads (default: one per core, at most 4)");
  cmd->add_option("--auth", o->auth, "trust (default) or scram-sha-256 (users from the config file)");
  cmd->add_option("--database", o->database, "database name clients connect to (default mosaic)");
  cmd->add_option("--log-level", o->log_level, "trace, debug, info (default), warn, error");
  cmd->add_option("--router-id", o->router_id, "this router's identity in two-phase commit ids (default r1)");
  // Testing only: not shown in --help.
  cmd->add_option("--test-fault", o->test_fault, "")->group("");
  cmd->add_option("--monitor", o->monitor, "on (default) or off: the query pattern monitor");
  cmd->add_option("--monitor-window", o->monitor_window, "the monitor's sliding window in seconds (default 86400)");
  cmd->add_option("--monitor-checkpoint", o->monitor_checkpoint, "seconds between monitor checkpoints (default 60)");
  cmd->add_option("--rebalancer", o->rebalancer, "on (default) or off: the rebalancer's rounds every [rebalancer] interval_s");
}

// The config: `base` (or the --config file instead), then the command line's options over it.
mosaic::Result<mosaic::Config> BuildConfig(const CliOverrides& o, const mosaic::Config& base = {}) {
  mosaic::Config c = base;
  if (!o.config_file.empty()) {
    auto loaded = mosaic::Config::LoadToml(o.config_file);
    if (!loaded.ok()) return loaded.status();
    c = loaded.value();
  }
  for (auto [text, target] : {std::pair{&o.listen, &c.listen}, std::pair{&o.admin_listen, &c.admin_listen}}) {
    if (text->empty()) continue;
    auto hp = mosaic::ParseHostPort(*text);
    if (!hp.ok()) return hp.status();
    *target = hp.value();
  }
  if (o.managed_nodes >= 0) c.managed_nodes = o.managed_nodes;
  if (!o.data_dir.empty()) c.data_dir = std::filesystem::absolute(o.data_dir).string();
  if (o.node_base_port >= 0) c.node_base_port = o.node_base_port;
  for (const auto& dsn : o.nodes) c.nodes.push_back({dsn});
  if (!o.catalog.empty()) c.catalog_dsn = o.catalog;
  if (!o.pool_mode.empty()) {
    if (o.pool_mode != "transaction" && o.pool_mode != "session") {
      return mosaic::Status::Error(mosaic::sqlstate::kConfigFileError, "--pool-mode must be transaction or session");
    }
    c.pool_mode = o.pool_mode == "session" ? mosaic::PoolMode::kSession : mosaic::PoolMode::kTransaction;
  }
  if (o.pool_size >= 0) c.pool_size = o.pool_size;
  if (o.pipeline_depth >= 0) c.pipeline_depth = o.pipeline_depth;
  if (o.workers >= 0) c.workers = o.workers;
  if (!o.auth.empty()) c.auth = o.auth;
  if (!o.database.empty()) c.database = o.database;
  if (!o.log_level.empty()) c.log_level = o.log_level;
  if (!o.router_id.empty()) c.router_id = o.router_id;
  if (!o.test_fault.empty()) c.test_fault = o.test_fault;
  if (!o.monitor.empty()) {
    if (o.monitor != "on" && o.monitor != "off") {
      return mosaic::Status::Error(mosaic::sqlstate::kConfigFileError, "--monitor must be on or off");
    }
    c.monitor.enabled = o.monitor == "on";
  }
  if (!o.rebalancer.empty()) {
    if (o.rebalancer != "on" && o.rebalancer != "off") {
      return mosaic::Status::Error(mosaic::sqlstate::kConfigFileError, "--rebalancer must be on or off");
    }
    c.rebalancer.enabled = o.rebalancer == "on";
  }
  if (o.monitor_window >= 0) c.monitor.window_seconds = o.monitor_window;
  if (o.monitor_checkpoint >= 0) c.monitor.checkpoint_seconds = static_cast<int>(o.monitor_checkpoint);
  if (auto s = c.Validate(); !s.ok()) return s;
  return c;
}

// Blocks until SIGINT/SIGTERM, or until `seconds` pass (0 = forever).
void WaitForSignal(int seconds) {
  asio::io_context io;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::steady_timer timer(io);
  signals.async_wait([&](const asio::error_code& ec, int sig) {
    if (!ec) mosaic::log::info("received signal {}, shutting down", sig);
    timer.cancel();
    io.stop();
  });
  if (seconds > 0) {
    timer.expires_after(std::chrono::seconds(seconds));
    timer.async_wait([&](const asio::error_code& ec) {
      if (!ec) io.stop();
    });
  }
  io.run();
}

int Serve(const CliOverrides& o, int duration) {
  auto config = BuildConfig(o);
  if (!config.ok()) {
    std::cerr << "mosaic: " << config.status().message() << "\n";
    return 2;
  }
  mosaic::log::SetLevel(config.value().log_level);
  mosaic::App app(config.value());
  if (auto s = app.Start(); !s.ok()) {
    std::cerr << "mosaic: " << s.message() << "\n";
    app.Stop();
    return 1;
  }
  WaitForSignal(duration);
  app.Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App cli{"Mosaic: query-aware sharding router for multi-tenant PostgreSQL"};
  cli.require_subcommand(1);

  CliOverrides serve_opts;
  auto* serve = cli.add_subcommand("serve", "run the router");
  AddServeOptions(serve, &serve_opts);
  int serve_duration = 0;
  serve->add_option("--duration", serve_duration, "exit after S seconds (default: run until SIGINT/SIGTERM)");

  CliOverrides demo_opts;
  mosaic::DemoOptions demo_args;
  auto* demo = cli.add_subcommand(
      "demo", "the whole story on 3 managed nodes: sample SaaS data, skewed traffic, Mosaic adapting, live");
  AddServeOptions(demo, &demo_opts);
  demo->add_option("--duration", demo_args.duration_s, "exit after S seconds with a summary (default: run until Ctrl-C)");
  demo->add_option("--clients", demo_args.clients, "workload clients (default 8)");
  demo->add_option("--rate", demo_args.rate, "the workload's total transactions per second (default 500; 0 = unlimited)");

  auto* layout = cli.add_subcommand("layout", "pin or show where tables' rows live (admin API)");
  layout->require_subcommand(1);
  mosaic::LayoutSetArgs set_args;
  std::string set_table, set_tables, set_tenant;
  auto* set = layout->add_subcommand("set", "lay out a table (or table group) for a tenant");
  set->add_option("--admin", set_args.admin, "HOST:PORT of the router's admin API (default 127.0.0.1:6480)");
  auto* table_opt = set->add_option("--table", set_table, "the table to lay out");
  auto* tables_opt = set->add_option("--tables", set_tables, "a table group: tables laid out together, comma-separated");
  table_opt->excludes(tables_opt);
  auto* tenant_opt = set->add_option("--tenant", set_tenant, "the tenant (omit for single-tenant tables)");
  set->add_option("--column", set_args.column, "the range column")->required();
  set->add_option("--range", set_args.ranges, "UPPER:NODE, ascending; the last one :NODE (repeatable)")->required();

  mosaic::LayoutShowArgs show_args;
  std::string show_table, show_tenant;
  auto* show = layout->add_subcommand("show", "list placements: node and range per table and tenant");
  show->add_option("--admin", show_args.admin, "HOST:PORT of the router's admin API (default 127.0.0.1:6480)");
  auto* show_table_opt = show->add_option("--table", show_table, "only this table");
  auto* show_tenant_opt = show->add_option("--tenant", show_tenant, "only this tenant (distributed tables)");

  mosaic::PatternsArgs patterns_args;
  std::string patterns_tenant, patterns_table;
  auto* patterns = cli.add_subcommand("patterns", "what tenants read and write: tables, columns, hot key ranges (admin API)");
  patterns->add_option("--admin", patterns_args.admin, "HOST:PORT of the router's admin API (default 127.0.0.1:6480)");
  auto* patterns_tenant_opt = patterns->add_option("--tenant", patterns_tenant, "one tenant's patterns (default: tenants by load)");
  auto* patterns_table_opt = patterns->add_option("--table", patterns_table, "only this table (with --tenant)");
  int64_t patterns_window = 0;
  auto* patterns_window_opt = patterns->add_option("--window", patterns_window, "the last S seconds (default: the whole window)");
  patterns->add_flag("--json", patterns_args.json, "print the API's JSON");

  mosaic::AdviseArgs advise_args;
  std::string advise_tenant;
  auto* advise = cli.add_subcommand("advise", "the advisor's plan per tenant: split / move / merge, and why (admin API)");
  advise->add_option("--admin", advise_args.admin, "HOST:PORT of the router's admin API (default 127.0.0.1:6480)");
  auto* advise_tenant_opt = advise->add_option("--tenant", advise_tenant, "one tenant (default: the heaviest tenants)");
  advise->add_option("--top", advise_args.top, "without --tenant: how many tenants (default 5)");
  advise->add_flag("--explain", advise_args.explain, "print the reasons with their numbers");
  advise->add_flag("--json", advise_args.json, "print the API's JSON");
  advise->add_option("--evaluate", advise_args.evaluate, "what-if: a layout request (FILE or JSON) scored against the window");

  mosaic::MigrateArgs migrate_args;
  auto* migrate = cli.add_subcommand("migrate", "list and watch migrations; submit, pause, resume, abort or roll one back (admin API)");
  migrate->add_option("--admin", migrate_args.admin, "HOST:PORT of the router's admin API (default 127.0.0.1:6480)");
  migrate->add_flag("--json", migrate_args.json, "print the API's JSON");
  migrate->add_flag("--once", migrate_args.once, "list once; do not watch the active migrations");
  std::string migrate_action;
  auto* migrate_submit = migrate->add_subcommand("submit", "start a migration: an action in the advisor's format");
  migrate_submit->add_option("action", migrate_action, "the action's JSON, or @FILE")->required();
  std::string migrate_id;
  std::vector<std::pair<std::string, CLI::App*>> migrate_requests;
  for (const char* word : {"pause", "resume", "abort", "rollback"}) {
    auto* cmd = migrate->add_subcommand(word, std::string(word) + " migration ID");
    cmd->add_option("id", migrate_id, "the migration's id")->required();
    migrate_requests.emplace_back(word, cmd);
  }
  migrate_submit->fallthrough();  // `migrate submit X --admin H:P` as well as `migrate --admin H:P submit X`
  for (const auto& request : migrate_requests) request.second->fallthrough();

  mosaic::RebalancerArgs events_args;
  auto* events = cli.add_subcommand("events", "the rebalancer's decisions: acted on, deferred, rejected, with reasons (admin API)");
  events->add_option("--admin", events_args.admin, "HOST:PORT of the router's admin API (default 127.0.0.1:6480)");
  events->add_flag("--json", events_args.json, "print the API's JSON");
  events->add_flag("--follow,-f", events_args.follow, "keep printing new events until interrupted");
  events->add_option("--since", events_args.since, "only events with a larger id");
  mosaic::RebalancerArgs rebalancer_args;
  std::string rebalancer_command = "status";
  auto* rebalancer = cli.add_subcommand("rebalancer", "the rebalancer's status; pause, resume, or run one round now (admin API)");
  rebalancer->add_option("--admin", rebalancer_args.admin, "HOST:PORT of the router's admin API (default 127.0.0.1:6480)");
  rebalancer->add_flag("--json", rebalancer_args.json, "print the API's JSON");
  rebalancer->add_option("command", rebalancer_command, "status (default), pause, resume or run")
      ->check(CLI::IsMember({"status", "pause", "resume", "run"}));

  mosaic::WorkloadArgs workload_args;
  auto* workload = mosaic::AddWorkloadCommand(cli, &workload_args);

  CLI11_PARSE(cli, argc, argv);
  if (workload->parsed()) return mosaic::RunWorkload(workload_args);
  if (set->parsed()) {
    if (table_opt->count() == 0 && tables_opt->count() == 0) {
      std::cerr << "mosaic layout set: give --table or --tables\n";
      return 2;
    }
    if (table_opt->count() > 0) {
      set_args.tables = {set_table};
    } else {
      for (const auto& name : CLI::detail::split(set_tables, ',')) set_args.tables.push_back(name);
    }
    if (tenant_opt->count() > 0) set_args.tenant = set_tenant;
    return mosaic::RunLayoutSet(set_args);
  }
  if (show->parsed()) {
    if (show_table_opt->count() > 0) show_args.table = show_table;
    if (show_tenant_opt->count() > 0) show_args.tenant = show_tenant;
    return mosaic::RunLayoutShow(show_args);
  }
  if (patterns->parsed()) {
    if (patterns_tenant_opt->count() > 0) patterns_args.tenant = patterns_tenant;
    if (patterns_table_opt->count() > 0) patterns_args.table = patterns_table;
    if (patterns_window_opt->count() > 0) patterns_args.window = patterns_window;
    return mosaic::RunPatterns(patterns_args);
  }
  if (advise->parsed()) {
    if (advise_tenant_opt->count() > 0) advise_args.tenant = advise_tenant;
    return mosaic::RunAdvise(advise_args);
  }
  if (migrate->parsed()) {
    if (migrate_submit->parsed()) return mosaic::RunMigrateSubmit(migrate_args, migrate_action);
    for (const auto& [word, cmd] : migrate_requests) {
      if (cmd->parsed()) return mosaic::RunMigrateRequest(migrate_args, word, migrate_id);
    }
    return mosaic::RunMigrateList(migrate_args);
  }
  if (events->parsed()) return mosaic::RunEvents(events_args);
  if (rebalancer->parsed()) return mosaic::RunRebalancer(rebalancer_args, rebalancer_command);
  if (serve->parsed()) return Serve(serve_opts, serve_duration);
  mosaic::Config demo_base = mosaic::DemoConfig();
  if (!demo_opts.nodes.empty()) demo_base.managed_nodes = 0;
  if (demo_opts.data_dir.empty() && demo_opts.nodes.empty()) demo_opts.data_dir = demo_args.default_data_dir;
  auto demo_config = BuildConfig(demo_opts, demo_base);
  if (!demo_config.ok()) {
    std::cerr << "mosaic demo: " << demo_config.status().message() << "\n";
    return 2;
  }
  mosaic::log::SetLevel(demo_config.value().log_level);
  return mosaic::RunDemo(demo_config.value(), demo_args);
}
