#include "main/demo.h"

#include <fcntl.h>
#include <httplib.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "common/async.h"
#include "common/log.h"
#include "main/admin_client.h"
#include "main/app.h"
#include "main/demo_record.h"
#include "main/demo_traffic.h"
#include "main/demo_view.h"
#include "workload/workload.h"

namespace mosaic {

using Json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kWindowS = 60;          // the window the rebalancer plans from, and the view asks for
constexpr double kRefreshS = 2;           // the view's refresh period
constexpr double kStatusEveryS = 10;      // line output: a status line this often
constexpr int64_t kTenants = 50;          // the sample data's tenants; 1-3 are the whales
constexpr double kHotShiftS = 45;         // the workload's hot windows move this often
constexpr size_t kFollowedTenants = 3;    // the busiest tenants the view shows
constexpr const char* kMarker = "mosaic-demo.txt";

// The profiles: the whales of the Zipf-sized data (tenants 1-3) may be split into up to 4 ranges
// per table group, the others stay whole (they may still move). The whales' range columns are
// pinned to the columns their queries filter by (the workload's seed gives tenant 1 customer
// lookups, tenants 2 and 3 date ranges; order_items has neither, so order_id), as an operator who
// knows them would: with "auto" the advisor keeps a tenant whole when splitting it would make more
// than 20% of its statements cross-node, and these tenants also look orders up by order_id.
constexpr const char* kProfiles = R"({
  "profiles": {"default": {"degree": "none"},
               "whale_by_customer": {"degree": "coarse", "range_columns": ["customer_id", "order_id"]},
               "whale_by_date": {"degree": "coarse", "range_columns": ["created_at", "order_id"]}},
  "tenant_profiles": {"1": "whale_by_customer", "2": "whale_by_date", "3": "whale_by_date"}})";

// Waits for time to pass unless SIGINT or SIGTERM comes first.
class SignalWait {
 public:
  SignalWait() : signals_(io_, SIGINT, SIGTERM) {
    signals_.async_wait([this](const asio::error_code& ec, int) {
      if (!ec) interrupted_ = true;
      io_.stop();
    });
  }
  // Sleeps until `deadline`; false once a signal came (at once if one came before).
  bool SleepUntil(Clock::time_point deadline) {
    if (interrupted_) return false;
    io_.restart();
    io_.run_until(deadline);
    return !interrupted_;
  }
  bool interrupted() {
    io_.restart();
    io_.poll();
    return interrupted_;
  }

 private:
  asio::io_context io_;
  asio::signal_set signals_;
  bool interrupted_ = false;
};

// The admin API as the view reads it: one keep-alive connection, null for anything that fails.
class AdminPoller {
 public:
  AdminPoller(const std::string& host, int port) : client_(host, port) {
    client_.set_connection_timeout(5);
    client_.set_read_timeout(30);
    client_.set_keep_alive(true);
  }

  DemoPoll Poll(double at_s, const DemoRecord& record) {
    DemoPoll poll;
    poll.at_s = at_s;
    if (auto res = client_.Get("/metrics"); res && res->status == 200) {  // first: the counters are taken at at_s
      poll.node_statements = NodeStatementsFromMetrics(res->body);
    }
    const std::string window = "&window=" + std::to_string(kWindowS);
    poll.tenants = Get("/api/v1/patterns?limit=" + std::to_string(kFollowedTenants + 3) + window);
    std::vector<std::string> followed;
    for (const Json& t : poll.tenants.is_object() ? poll.tenants["tenants"] : Json::array()) {
      const std::string name = JsonText(t.value("tenant", Json()));
      if (!name.starts_with("(") && followed.size() < kFollowedTenants) followed.push_back(name);
    }
    for (const auto& name : followed) poll.patterns[name] = Get(Query("/api/v1/patterns", name) + window);
    for (const auto& name : followed) poll.advice[name] = Get(Query("/api/v1/advice", name) + window);
    poll.migrations = Get("/api/v1/migrations");
    poll.events = Get("/api/v1/events?since=" + std::to_string(record.last_event_id()));
    poll.rebalancer = Get("/api/v1/rebalancer");
    return poll;
  }

 private:
  static std::string Query(const std::string& path, const std::string& tenant) {
    return httplib::append_query_params(path, {{"tenant", tenant}});
  }
  Json Get(const std::string& path) {
    auto res = client_.Get(path);
    if (!res || res->status / 100 != 2) return nullptr;
    Json reply = Json::parse(res->body, nullptr, false);
    return reply.is_discarded() ? Json(nullptr) : reply;
  }

  httplib::Client client_;
};

// The demo starts from fresh data: a directory an earlier demo made (it holds the marker, or it is
// the default demo directory) is emptied unless a running Mosaic holds it; any other directory
// with files in it is refused.
Status FreshDataDir(const std::string& dir, const std::string& default_dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    if (!fs::exists(fs::path(dir) / kMarker) && fs::path(dir) != fs::path(default_dir)) {
      return Status::Error(sqlstate::kConfigFileError,
                           dir + " holds files that `mosaic demo` did not create: the demo starts from fresh data, so "
                                 "give it a new or empty --data-dir");
    }
    const fs::path lock = fs::path(dir) / "nodes" / "mosaic.lock";
    if (int fd = open(lock.c_str(), O_RDWR | O_CLOEXEC); fd >= 0) {
      const bool in_use = flock(fd, LOCK_EX | LOCK_NB) != 0;
      close(fd);
      if (in_use) return Status::Error(sqlstate::kConfigFileError, dir + " is in use by another Mosaic");
    }
    std::cout << "Removing the previous demo's data in " << dir << "\n";
    fs::remove_all(dir, ec);
    if (ec) return Status::Error(sqlstate::kConfigFileError, "cannot empty " + dir + ": " + ec.message());
  }
  fs::create_directories(dir, ec);
  if (ec) return Status::Error(sqlstate::kConfigFileError, "cannot create " + dir + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                           fs::perms::others_read | fs::perms::others_exec, ec);  // reachable by `postgres` as root
  std::ofstream(fs::path(dir) / kMarker) << "Made by `mosaic demo`: the next demo run empties this directory.\n";
  return Status::OK();
}

// Logs go to DIR/mosaic.log: on the terminal they would tear the live view.
void LogToFile(const std::string& dir) {
  auto logger = spdlog::basic_logger_mt("mosaic", (fs::path(dir) / "mosaic.log").string());
  logger->set_level(spdlog::get_level());
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

// While the view runs, stderr goes to the log too: libpq prints the nodes' notices (migrations
// create and drop replication objects) there, and they would tear the view.
class StderrToLog {
 public:
  explicit StderrToLog(const std::string& path) {
    const int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    std::cerr.flush();
    saved_ = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
  }
  ~StderrToLog() { Restore(); }
  void Restore() {
    if (saved_ < 0) return;
    std::cerr.flush();
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    saved_ = -1;
  }

 private:
  int saved_ = -1;
};

int TerminalWidth() {
  winsize ws{};
  return ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 120;
}

std::string ClientDsn(const Config& config, int port) {
  return workload::ConnInfo(config.listen.host, port, "mosaic", config.database);
}

// Creates and loads the sample schema through Mosaic, as `mosaic workload --init` does.
bool LoadSampleData(const Config& config, int port, const DemoOptions& options) {
  workload::Options init;
  init.conninfo = ClientDsn(config, port);
  init.init = true;
  init.run = false;
  init.tenants = kTenants;
  init.scale = options.scale;
  std::ostringstream out, err;
  std::cout << fmt::format("Loading the SaaS sample data through Mosaic (`mosaic workload --init --tenants {} "
                           "--scale {}`)...\n", kTenants, options.scale) << std::flush;
  if (workload::Run(init, out, err) != 0) {
    std::cerr << "mosaic demo: " << err.str();
    return false;
  }
  std::cout << "  " << out.str() << std::flush;
  return true;
}

workload::Options TrafficOptions(const Config& config, int port, const DemoOptions& options, double remaining_s) {
  workload::Options o;
  o.conninfo = ClientDsn(config, port);
  o.run = true;
  o.json = true;  // interval lines on the progress stream, the report alone on the other
  o.tenants = kTenants;
  o.clients = options.clients;
  o.rate = options.rate;
  o.duration_s = remaining_s;
  o.hot_shift_s = kHotShiftS;
  o.report_interval_s = kRefreshS;
  return o;
}

}  // namespace

Config DemoConfig() {
  Config c;
  c.managed_nodes = 3;
  c.monitor.window_seconds = 10 * 60;
  c.migration.retention_s = 5;   // the sources' copies go soon: fewer statements refused meanwhile
  c.migration.shadow_min_s = 2;
  c.rebalancer.interval_s = 10;  // a round every 10 s over the last minute
  c.rebalancer.window_s = kWindowS;
  c.rebalancer.cooldown_s = 30;
  c.rebalancer.failure_backoff_s = 30;
  // A round reads the statistics of every tenant it plans (sampled on the nodes, again after each
  // shard-map change): with all 50 tenants that takes about a minute on a small machine. The 10
  // busiest carry most of the load.
  c.rebalancer.max_tenants = 10;
  auto profiles = advisor::ParseProfilesJson(Json::parse(kProfiles));
  if (profiles.ok()) c.profiles = profiles.value();
  return c;
}

int RunDemo(const Config& config, const DemoOptions& options) {
  const auto epoch = Clock::now();
  auto since = [&] { return std::chrono::duration<double>(Clock::now() - epoch).count(); };
  SignalWait signals;
  if (config.managed_nodes > 0) {
    if (auto s = FreshDataDir(config.data_dir, options.default_data_dir); !s.ok()) {
      std::cerr << "mosaic demo: " << s.message() << "\n";
      return 1;
    }
    LogToFile(config.data_dir);
  }
  std::cout << fmt::format("Starting Mosaic on {} ...\n", config.managed_nodes > 0
                               ? fmt::format("{} managed PostgreSQL nodes in {} (log: {}/mosaic.log)",
                                             config.managed_nodes, config.data_dir, config.data_dir)
                               : fmt::format("{} nodes", config.nodes.size()))
            << std::flush;
  App app(config);
  if (auto s = app.Start(); !s.ok()) {
    std::cerr << "mosaic demo: " << s.message() << "\n";
    app.Stop();
    return 1;
  }
  if (!LoadSampleData(config, app.listen_port(), options)) {
    app.Stop();
    return 1;
  }
  DemoInfo info;
  info.nodes = static_cast<int>(app.shard_map().nodes.size());
  info.psql = fmt::format("psql -h {} -p {} -U mosaic {}", config.listen.host, app.listen_port(), config.database);
  info.admin = fmt::format("{}:{}", config.admin_listen.host, app.admin_port());
  info.duration_s = options.duration_s;
  info.clients = options.clients;
  info.rate = options.rate;
  info.hot_shift_s = kHotShiftS;
  info.window_s = kWindowS;
  info.traffic_from_s = since();
  std::cout << fmt::format("Mosaic demo is running on {} managed PostgreSQL nodes.\n  connect:   {}\n  admin API: "
                           "curl http://{}/api/v1/migrations\n", info.nodes, info.psql, info.admin)
            << std::flush;
  const double remaining = options.duration_s > 0 ? std::max(1.0, options.duration_s - info.traffic_from_s) : 1e9;
  std::optional<StderrToLog> quiet;
  if (config.managed_nodes > 0) quiet.emplace((fs::path(config.data_dir) / "mosaic.log").string());
  DemoTraffic traffic(TrafficOptions(config, app.listen_port(), options, remaining), epoch);
  AdminPoller poller(config.admin_listen.host, app.admin_port());
  DemoRecord record;
  const bool tty = isatty(STDOUT_FILENO) != 0;
  double last_status = -kStatusEveryS;
  auto next = Clock::now();
  bool interrupted = signals.interrupted();
  while (!interrupted && !traffic.exit_code()) {
    next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(kRefreshS));
    interrupted = !signals.SleepUntil(next);
    const double now = since();
    const auto news = record.Add(poller.Poll(now, record));
    if (tty) {
      std::cout << "\033[H\033[J" << RenderView(record, traffic.Samples(), info, now, TerminalWidth()) << std::flush;
    } else {
      for (const auto& line : news) std::cout << line << "\n";
      if (now - last_status >= kStatusEveryS) {
        std::cout << StatusLine(record, traffic.Samples(), now) << "\n";
        last_status = now;
      }
      std::cout << std::flush;
    }
    if (options.duration_s > 0 && now >= options.duration_s) break;
  }
  if (!interrupted) traffic.Join();
  const double end = since();
  for (const auto& line : record.Add(poller.Poll(end, record))) {
    if (!tty) std::cout << line << "\n";
  }
  std::cout << RenderSummary(record, traffic.Samples(), info, end, traffic.report()) << std::flush;
  app.Stop();
  if (quiet) quiet->Restore();  // after the stop: shutting migrations down makes notices too
  if (traffic.exit_code().value_or(0) != 0) {
    for (const auto& m : traffic.Messages()) std::cerr << m << "\n";
  }
  if (interrupted && !traffic.exit_code()) {
    // The workload's run cannot be cut short: leave its thread and end here.
    traffic.Detach();
    std::quick_exit(0);
  }
  return traffic.exit_code().value_or(0) == 0 ? 0 : 1;
}

}  // namespace mosaic
