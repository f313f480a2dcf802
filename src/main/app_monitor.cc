// App: the query pattern monitor's lifecycle (see App::StartMonitor in app.h).
#include <fmt/format.h>

#include "common/log.h"
#include "main/app.h"

namespace mosaic {
namespace {

constexpr int kCheckpointId = 1;  // one router per catalog for now

// The key type of table.column from the current shard map ("schema.name" or a public table).
monitor::KeyTypeResolver ShardMapResolver(catalog::ShardMapHolder& holder) {
  return [&holder](std::string_view table, std::string_view column) {
    auto map = holder.Snapshot();
    const size_t dot = table.find('.');
    const catalog::Table* t = dot == std::string_view::npos ? map->FindTable("public", table)
                                                            : map->FindTable(table.substr(0, dot), table.substr(dot + 1));
    const catalog::Column* c = t ? t->FindColumn(column) : nullptr;
    return c ? router::KeyTypeFromName(c->type) : router::KeyType::kUnsupported;
  };
}

}  // namespace

Status App::StartMonitor() {
  if (!config_.monitor.enabled) {
    log::info("monitor: off (monitor.enabled = false)");
    return Status::OK();
  }
  monitor::MonitorOptions options;
  options.window_seconds = config_.monitor.window_seconds;
  options.memory_budget_bytes = static_cast<size_t>(config_.monitor.memory_budget_mb) << 20;
  options.checkpoint_seconds = config_.monitor.checkpoint_seconds;
  monitor_ = std::make_unique<monitor::Monitor>(options, monitor::SystemUnixSeconds, ShardMapResolver(shard_map_));
  context_.monitor = monitor_.get();

  auto catalog = catalog::Catalog::Open(catalog_dsn_);
  if (!catalog.ok()) return catalog.status();
  monitor_catalog_ = std::move(catalog.value());
  auto saved = monitor_catalog_->LoadMonitorCheckpoint(kCheckpointId);
  if (!saved.ok()) return saved.status();
  if (saved->has_value()) {
    if (Status s = monitor_->Restore(**saved); !s.ok()) {
      log::warn("monitor: ignoring the stored checkpoint: {}", s.message());
    } else {
      log::info("monitor: restored the checkpointed windows ({} bytes)", (*saved)->size());
    }
  }
  monitor_->Start([catalog = monitor_catalog_.get()](const std::string& blob) {
    return catalog->SaveMonitorCheckpoint(kCheckpointId, blob);
  });
  return Status::OK();
}

void App::StopMonitor() {
  if (monitor_) monitor_->Stop();
  context_.monitor = nullptr;
  monitor_.reset();
  monitor_catalog_.reset();
}

}  // namespace mosaic
