#include "main/app.h"

#include <fmt/format.h>
#include <libpq-fe.h>

#include "admin/metrics.h"
#include "admin/migrations_api.h"
#include "catalog/two_phase_recovery.h"
#include "admin/advice_api.h"
#include "admin/patterns_api.h"
#include "frontend/session.h"
#include "common/log.h"

namespace mosaic {

namespace {

using ConninfoPtr = std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)>;

Result<ConninfoPtr> ParseDsn(const std::string& dsn) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &err);
  if (opts == nullptr) {
    std::string msg = err ? err : "out of memory";
    PQfreemem(err);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    return Status::Error(sqlstate::kInvalidParameterValue, fmt::format("invalid node DSN: {}", msg));
  }
  return ConninfoPtr(opts, &PQconninfoFree);
}

}  // namespace

Result<catalog::Node> NodeFromDsn(int id, const std::string& dsn) {
  auto opts = ParseDsn(dsn);
  if (!opts.ok()) return opts.status();
  catalog::Node node;
  node.id = id;
  node.dsn = dsn;
  node.host = "localhost";
  node.port = 5432;
  for (PQconninfoOption* o = opts.value().get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    std::string_view k = o->keyword;
    if (k == "host" || k == "hostaddr") node.host = o->val;
    if (k == "port") node.port = std::atoi(o->val);
    if (k == "dbname") node.dbname = o->val;
    if (k == "user") node.user = o->val;
  }
  if (node.user.empty()) {
    const char* u = std::getenv("PGUSER");
    node.user = u ? u : "postgres";
  }
  if (node.dbname.empty()) node.dbname = node.user;
  return node;
}

Result<std::string> DsnWithDatabase(const std::string& dsn, const std::string& dbname) {
  auto opts = ParseDsn(dsn);
  if (!opts.ok()) return opts.status();
  std::string out;
  for (PQconninfoOption* o = opts.value().get(); o->keyword != nullptr; ++o) {
    if (std::string_view(o->keyword) == "dbname" || o->val == nullptr || *o->val == '\0') continue;
    out += fmt::format("{}={} ", o->keyword, catalog::QuoteConninfoValue(o->val));
  }
  return out + "dbname=" + catalog::QuoteConninfoValue(dbname);
}

App::App(Config config) : config_(std::move(config)) {}

App::~App() { Stop(); }

Status App::Start() {
  std::vector<catalog::Node> nodes;
  if (auto s = StartNodes(&nodes); !s.ok()) return s;
  if (auto s = OpenCatalog(nodes); !s.ok()) return s;
  if (auto s = ReadServerParams(); !s.ok()) return s;
  if (auto s = StartTwoPhase(); !s.ok()) return s;
  control_ = std::make_unique<admin::ControlPlane>(config_, *catalog_, shard_map_, &relation_oids_);
  if (auto s = control_->RefreshTables(); !s.ok()) return s;
  if (auto s = control_->LoadProfiles(); !s.ok()) return s;

  if (config_.workers == 0) config_.workers = std::max(1u, std::min(4u, std::thread::hardware_concurrency()));
  context_.config = config_;
  context_.shard_map = &shard_map_;
  context_.relation_oids = &relation_oids_;
  if (managed_ && config_.managed_unix_socket) {
    for (const auto& info : managed_->nodes()) {
      if (info.socket_dir.empty()) continue;
      context_.local_dsns[info.id] = info.local_dsn();
      log::info("managed node {}: reached over its Unix socket in {}", info.id, info.socket_dir);
    }
  }
  context_.migrations = &migration_registry_;
  if (config_.deadlock_detection_interval_s > 0) context_.backends = &backends_;
  context_.refresh_tables = [this] { return control_->RefreshTables(); };
  context_.create_reference_table = [this](const std::string& table) {
    return control_->CreateReferenceTable(table);
  };
  for (const auto& user : config_.users) {
    if (!user.scram_verifier.empty()) {
      auto v = frontend::ScramVerifier::Parse(user.scram_verifier);
      if (!v.ok()) return Status::Error(sqlstate::kConfigFileError, fmt::format("user \"{}\": {}", user.name, v.status().message()));
      context_.verifiers[user.name] = v.value();
    } else {
      context_.verifiers[user.name] = frontend::ScramVerifier::FromPassword(user.password);
    }
  }
  if (auto s = StartMonitor(); !s.ok()) return s;
  for (int i = 0; i < config_.workers; ++i) {
    workers_.push_back(std::make_unique<frontend::Worker>(i, context_));
  }
  auto listener = frontend::Listener::Bind(config_.listen, workers_);
  if (!listener.ok()) return listener.status();
  listener_ = std::move(listener.value());
  for (auto& w : workers_) w->Start();
  listener_->Start();

  admin::AdminHandlers handlers;
  handlers.nodes = [this] { return NodesJson(); };
  handlers.metrics = [this] { return MetricsText(); };
  auto admin = admin::AdminServer::Start(config_.admin_listen.host, config_.admin_listen.port, handlers);
  if (!admin.ok()) return admin.status();
  admin_ = std::move(admin.value());
  control_->AddRoutes(*admin_);
  migrations_ = std::make_unique<migration::Service>(config_, catalog_dsn_, shard_map_, migration_registry_);
  migrations_->set_in_flight([this](const std::string& gid) { return context_.two_phase.in_flight.Contains(gid); });
  if (auto s = migrations_->Start(); !s.ok()) return s;
  admin::RegisterMigrationRoutes(*admin_, *migrations_);
  admin_->Get("/api/v1/patterns", [this](const auto& query) { return admin::PatternsRequest(monitor_.get(), query); });
  auto advice = [this] {
    return admin::AdviceSources{monitor_.get(), &shard_map_, [this] { return control_->Profiles(); }, &data_stats_};
  };
  admin_->Get("/api/v1/advice", [advice](const auto& query) { return admin::AdviceRequest(advice(), query); });
  admin_->Post("/api/v1/advice/evaluate", [advice](const nlohmann::json& body) { return admin::EvaluateRequest(advice(), body); });
  // A round re-reads statistics older than its interval (at least a minute), a few per round.
  admin::StatisticsPolicy statistics;
  statistics.max_age = std::chrono::seconds(std::max<int64_t>(60, static_cast<int64_t>(config_.rebalancer.interval_s)));
  rebalancer_source_ = std::make_unique<admin::MonitorSource>(advice, statistics);
  rebalancer_ = std::make_unique<rebalancer::Rebalancer>(config_.rebalancer, *rebalancer_source_, *migrations_);
  admin::RegisterRebalancerRoutes(*admin_, *rebalancer_);
  if (monitor_) rebalancer_->Start();
  health_thread_ = std::thread([this] { HealthLoop(); });
  recovery_thread_ = std::thread([this] { RecoveryLoop(); });
  if (context_.backends != nullptr) {
    // A victim is cancelled through its session, on its worker (as a client's cancel request
    // is): the session checks that the backend still runs its statement.
    deadlocks_ = std::make_unique<frontend::DeadlockDetector>(
        config_.deadlock_detection_interval_s, shard_map_, backends_, [this](const frontend::DeadlockVictim& v) {
          std::lock_guard lock(context_.cancel_mu);
          auto it = context_.cancel_targets.find(v.txn.session);
          if (it == context_.cancel_targets.end()) return;
          asio::post(it->second.executor, [weak = it->second.session, node = v.node, pid = v.backend_pid] {
            if (auto session = weak.lock()) session->CancelForDeadlock(node, pid);
          });
        });
    deadlocks_->Start();
  }
  log::info("mosaic listening on {}:{} (admin {}:{}), {} node(s), {} worker(s), {} pooling",
            config_.listen.host, listener_->port(), config_.admin_listen.host, admin_->port(),
            shard_map_.Snapshot()->nodes.size(), workers_.size(),
            config_.pool_mode == PoolMode::kTransaction ? "transaction" : "session");
  return Status::OK();
}

Status App::StartNodes(std::vector<catalog::Node>* nodes) {
  if (config_.managed_nodes > 0) {
    backend::ManagedNodeOptions options;
    options.data_dir = config_.data_dir;
    options.count = config_.managed_nodes;
    options.base_port = config_.node_base_port;
    auto cluster = backend::ManagedCluster::Start(options);
    if (!cluster.ok()) return cluster.status();
    managed_ = std::move(cluster.value());
    for (const auto& info : managed_->nodes()) {
      auto node = NodeFromDsn(info.id, info.dsn());
      if (!node.ok()) return node.status();
      nodes->push_back(node.value());
    }
    return Status::OK();
  }
  int id = 1;
  for (const auto& nc : config_.nodes) {
    auto node = NodeFromDsn(id++, nc.dsn);
    if (!node.ok()) return node.status();
    node.value().tier = nc.tier;
    node.value().capacity = nc.capacity;
    nodes->push_back(node.value());
  }
  return Status::OK();
}

Status App::OpenCatalog(const std::vector<catalog::Node>& nodes) {
  std::string dsn = config_.catalog_dsn;
  if (dsn.empty()) {
    auto d = DsnWithDatabase(nodes.front().dsn, "mosaic_catalog");
    if (!d.ok()) return d.status();
    dsn = d.value();
  }
  catalog_dsn_ = dsn;
  auto catalog = catalog::Catalog::Open(dsn);
  if (!catalog.ok()) return catalog.status();
  catalog_ = std::move(catalog.value());
  if (auto s = catalog_->RegisterNodes(nodes); !s.ok()) return s;
  auto map = catalog_->Load();
  if (!map.ok()) return map.status();
  if (map.value()->nodes.empty()) return Status::Internal("the catalog lists no nodes");
  shard_map_.Publish(map.value());
  log::info("catalog at schema version {}, shard map version {}", catalog_->schema_version(),
            map.value()->version);
  return Status::OK();
}

Status App::ReadServerParams() {
  const catalog::Node& node = shard_map_.Snapshot()->DefaultNode();
  const char* keys[] = {"dbname", "sslmode", "connect_timeout", nullptr};
  const char* values[] = {node.dsn.c_str(), "disable", "10", nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, 1);
  std::unique_ptr<PGconn, decltype(&PQfinish)> guard(conn, &PQfinish);
  if (PQstatus(conn) != CONNECTION_OK) {
    return Status::Error(sqlstate::kConnectionFailure,
                         fmt::format("cannot connect to node {}: {}", node.id, PQerrorMessage(conn)));
  }
  for (const char* name : {"server_version", "server_encoding", "DateStyle", "IntervalStyle",
                           "TimeZone", "integer_datetimes", "standard_conforming_strings",
                           "is_superuser", "default_transaction_read_only", "in_hot_standby",
                           "client_encoding"}) {
    if (const char* v = PQparameterStatus(conn, name)) context_.server_params[name] = v;
  }
  context_.server_params["application_name"] = "";
  return Status::OK();
}

// Two-phase commit set-up: a new incarnation of this router (its transaction ids never repeat
// an earlier start's), then one recovery pass over what earlier starts left prepared, before
// any client can connect.
Status App::StartTwoPhase() {
  // "migration-cutover" and "migration-apply-stall:N" are the migration service's (service.cc),
  // not two-phase commit's.
  auto faults = frontend::FaultInjector::Parse(config_.test_fault.starts_with("migration-") ? "" : config_.test_fault);
  if (!faults.ok()) return faults.status();
  auto incarnation = catalog_->StartIncarnation(config_.router_id);
  if (!incarnation.ok()) return incarnation.status();
  auto& tp = context_.two_phase;
  tp.faults = faults.value();
  tp.gid_prefix = fmt::format("{}{}_", catalog::TwoPhasePrefix(config_.router_id), *incarnation);
  tp.catalog.id = 0;
  tp.catalog.dsn = catalog_dsn_;
  if (tp.faults.armed()) log::warn("test fault injection is armed: {}", config_.test_fault);
  RecoverOnce(*catalog_);
  return Status::OK();
}

void App::RecoverOnce(catalog::Catalog& catalog) {
  auto result = catalog::RecoverPreparedTransactions(
      catalog, shard_map_.Snapshot()->nodes, catalog::TwoPhasePrefix(config_.router_id),
      [this](const std::string& gid) { return context_.two_phase.in_flight.Contains(gid); });
  if (!result.ok()) {
    log::warn("two-phase recovery: {}", result.status().message());
    return;
  }
  recovered_commits_ += result->committed;
  recovered_rollbacks_ += result->rolled_back;
  for (const auto& e : result->errors) log::warn("two-phase recovery: {}", e);
  if (result->committed + result->rolled_back > 0) {
    log::info("two-phase recovery: committed {}, rolled back {} prepared transaction(s)",
              result->committed, result->rolled_back);
  }
}

void App::RecoveryLoop() {
  std::unique_ptr<catalog::Catalog> catalog;  // this thread's own connection
  while (!stopping_) {
    for (int i = 0; i < config_.two_phase_recovery_interval_s * 10 && !stopping_; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (stopping_) break;
    if (!catalog) {
      auto opened = catalog::Catalog::Open(catalog_dsn_);
      if (!opened.ok()) {
        log::warn("two-phase recovery: {}", opened.status().message());
        continue;
      }
      catalog = std::move(opened.value());
    }
    RecoverOnce(*catalog);
  }
}

void App::Stop() {
  if (stopping_.exchange(true)) return;
  if (health_thread_.joinable()) health_thread_.join();
  if (recovery_thread_.joinable()) recovery_thread_.join();
  if (deadlocks_) deadlocks_->Stop();
  if (admin_) admin_->Stop();
  if (rebalancer_) rebalancer_->Stop();
  if (migrations_) migrations_->Stop();
  if (listener_) listener_->Stop();
  for (auto& w : workers_) w->Stop();
  listener_.reset();
  workers_.clear();
  StopMonitor();
  control_.reset();
  catalog_.reset();
  if (managed_) managed_->Stop();
}

void App::HealthLoop() {
  while (!stopping_) {
    auto map = shard_map_.Snapshot();
    for (const auto& node : map->nodes) {
      const char* keys[] = {"dbname", "connect_timeout", nullptr};
      const char* values[] = {node.dsn.c_str(), "2", nullptr};
      bool up = PQpingParams(keys, values, 1) == PQPING_OK;
      std::lock_guard lock(health_mu_);
      node_up_[node.id] = up;
    }
    for (int i = 0; i < 20 && !stopping_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::string App::NodeState(const catalog::Node& node) const {
  if (managed_) {
    auto state = managed_->state(node.id);
    if (state != backend::ManagedNodeState::kUp) return backend::ToString(state);
  }
  std::lock_guard lock(health_mu_);
  auto it = node_up_.find(node.id);
  if (it == node_up_.end()) return "unknown";
  return it->second ? "up" : "down";
}

nlohmann::json App::NodesJson() const {
  auto map = shard_map_.Snapshot();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& node : map->nodes) {
    out.push_back({{"id", node.id},
                   {"dsn", catalog::ShardMap::RedactDsn(node.dsn)},
                   {"host", node.host},
                   {"port", node.port},
                   {"dbname", node.dbname},
                   {"user", node.user},
                   {"tier", node.tier},
                   {"capacity", node.capacity},
                   {"managed", managed_ != nullptr},
                   {"state", NodeState(node)}});
  }
  return out;
}

std::string App::MetricsText() const {
  admin::MetricsWriter m;
  int64_t clients = 0, clients_total = 0, statements = 0, errors = 0, ddl = 0, multi = 0, two_phase = 0,
          client_writes = 0;
  std::map<int, backend::PoolStats> pools;
  for (const auto& w : workers_) {
    auto& c = w->counters();
    clients += c.clients.load(std::memory_order_relaxed);
    clients_total += c.clients_total.load(std::memory_order_relaxed);
    statements += c.statements_total.load(std::memory_order_relaxed);
    errors += c.errors_total.load(std::memory_order_relaxed);
    ddl += c.ddl_broadcasts_total.load(std::memory_order_relaxed);
    multi += c.multi_node_statements_total.load(std::memory_order_relaxed);
    two_phase += c.two_phase_commits_total.load(std::memory_order_relaxed);
    client_writes += c.client_writes_total.load(std::memory_order_relaxed);
    for (const auto& [id, s] : w->CollectPoolStats()) {
      auto& t = pools[id];
      t.total += s.total;
      t.idle += s.idle;
      t.waiting += s.waiting;
      t.connects += s.connects;
      t.connect_errors += s.connect_errors;
      t.wait_timeouts += s.wait_timeouts;
      t.shared += s.shared;
      t.pipelined += s.pipelined;
    }
  }
  int64_t pipelined = 0;
  for (const auto& [id, s] : pools) pipelined += s.pipelined;
  m.Gauge("mosaic_client_connections", "Client connections open now.", static_cast<double>(clients));
  m.Counter("mosaic_client_connections_total", "Client connections accepted.", static_cast<double>(clients_total));
  m.Counter("mosaic_statements_total", "Statements received (Query and Execute messages).", static_cast<double>(statements));
  m.Counter("mosaic_errors_total", "ErrorResponses sent to clients.", static_cast<double>(errors));
  m.Counter("mosaic_ddl_broadcasts_total", "DDL statements run on every node.", static_cast<double>(ddl));
  m.Counter("mosaic_multi_node_statements_total", "Statements run on several nodes (scatter-gather, split writes, routed COPY).", static_cast<double>(multi));
  m.Counter("mosaic_two_phase_commits_total", "Transactions committed with two-phase commit.", static_cast<double>(two_phase));
  m.Counter("mosaic_client_writes_total", "Writes (send calls) on client sockets; replies are batched per server read.",
            static_cast<double>(client_writes));
  m.Counter("mosaic_pipelined_statements_total",
            "Statements queued on a server connection shared with other sessions (pipelining).",
            static_cast<double>(pipelined));
  m.Counter("mosaic_two_phase_recovered_total", "Prepared transactions the recovery pass finished, by outcome.",
            static_cast<double>(recovered_commits_.load()), {{"outcome", "commit"}});
  m.Counter("mosaic_two_phase_recovered_total", "Prepared transactions the recovery pass finished, by outcome.",
            static_cast<double>(recovered_rollbacks_.load()), {{"outcome", "rollback"}});
  if (deadlocks_) {
    m.Counter("mosaic_distributed_deadlocks_total",
              "Transactions cancelled (40P01) to break a deadlock that spans nodes.",
              static_cast<double>(deadlocks_->victims()));
    m.Counter("mosaic_deadlock_detection_errors_total",
              "Nodes the distributed deadlock detector could not read in a round.",
              static_cast<double>(deadlocks_->errors()));
  }
  auto map = shard_map_.Snapshot();
  m.Gauge("mosaic_shard_map_version", "Shard-map version the router uses.", static_cast<double>(map->version));
  for (const auto& node : map->nodes) {
    const std::string id = std::to_string(node.id);
    const auto& s = pools[node.id];
    m.Gauge("mosaic_node_up", "1 if the node answers, else 0.", NodeState(node) == "up" ? 1 : 0, {{"node", id}});
    m.Gauge("mosaic_pool_server_connections", "Server connections by state.", static_cast<double>(s.idle), {{"node", id}, {"state", "idle"}});
    m.Gauge("mosaic_pool_server_connections", "Server connections by state.", static_cast<double>(s.total - s.idle), {{"node", id}, {"state", "active"}});
    m.Gauge("mosaic_pool_shared_server_connections", "Server connections running pipelined statements of several sessions.",
            static_cast<double>(s.shared), {{"node", id}});
    m.Gauge("mosaic_pool_waiting_clients", "Clients waiting for a server connection.", static_cast<double>(s.waiting), {{"node", id}});
    m.Counter("mosaic_pool_connects_total", "Server connections opened.", static_cast<double>(s.connects), {{"node", id}});
    m.Counter("mosaic_pool_connect_errors_total", "Server connection attempts that failed.", static_cast<double>(s.connect_errors), {{"node", id}});
    m.Counter("mosaic_pool_wait_timeouts_total", "Clients that gave up waiting for a server connection.", static_cast<double>(s.wait_timeouts), {{"node", id}});
    if (managed_) {
      m.Counter("mosaic_node_restarts_total", "Automatic restarts of a managed node.", managed_->restarts(node.id), {{"node", id}});
    }
  }
  if (monitor_) admin::WriteMonitorMetrics(*monitor_, m);
  return m.Finish();
}

}  // namespace mosaic
