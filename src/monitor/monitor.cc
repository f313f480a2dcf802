#include "monitor/monitor.h"

#include <chrono>

#include "common/log.h"

namespace mosaic::monitor {

int64_t SystemUnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Recorder::Recorder(size_t capacity) : events_(capacity), shapes_(256) {}

QueryEvent* Recorder::Claim() {
  QueryEvent* e = events_.Claim();
  auto& counter = e != nullptr ? recorded_ : dropped_;
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return e;
}

void Recorder::SendShape(uint64_t fingerprint, std::string_view normalised_text) {
  ShapeText* s = shapes_.Claim();
  if (s == nullptr) return;  // sent again with a later statement of the shape
  s->fingerprint = fingerprint;
  s->text.Set(normalised_text);
  shapes_.Publish();
  if (sent_shapes_.size() >= 65536) sent_shapes_.clear();
  sent_shapes_.insert(fingerprint);
}

Monitor::Monitor(MonitorOptions options, Clock clock, KeyTypeResolver resolver)
    : options_(options),
      clock_(std::move(clock)),
      store_(PatternStoreOptions{options.window_seconds, options.memory_budget_bytes}, std::move(resolver)) {}

Monitor::~Monitor() { Stop(); }

Recorder* Monitor::AddRecorder() {
  recorders_.push_back(std::make_unique<Recorder>(options_.ring_capacity));
  return recorders_.back().get();
}

void Monitor::Start(Saver saver) {
  saver_ = std::move(saver);
  thread_ = std::thread([this] { Loop(); });
}

void Monitor::Stop() {
  {
    std::lock_guard lock(stop_mu_);
    if (stopping_ || !thread_.joinable()) return;
    stopping_ = true;
  }
  stop_cv_.notify_all();
  thread_.join();
}

void Monitor::DrainLocked() {
  for (auto& r : recorders_) {
    r->shapes_.Drain([this](const ShapeText& s) { store_.AddShape(s); });
    r->events_.Drain([this](const QueryEvent& e) { store_.Add(e); });
  }
}

void Monitor::DrainNow() {
  std::lock_guard lock(mu_);
  DrainLocked();
}

void Monitor::Loop() {
  using Clock = std::chrono::steady_clock;
  auto next_checkpoint = Clock::now() + std::chrono::seconds(options_.checkpoint_seconds);
  auto next_budget = Clock::now();
  auto save = [this] {
    if (!saver_) return;
    std::string blob = CheckpointBlob();
    Status s = saver_(blob);
    if (s.ok()) {
      checkpoints_.fetch_add(1, std::memory_order_relaxed);
    } else {
      checkpoint_errors_.fetch_add(1, std::memory_order_relaxed);
      log::warn("monitor: checkpoint failed: {}", s.message());
    }
  };
  for (;;) {
    {
      std::unique_lock lock(stop_mu_);
      if (stop_cv_.wait_for(lock, std::chrono::milliseconds(options_.drain_interval_ms), [this] { return stopping_; })) break;
    }
    const auto now = Clock::now();
    {
      std::lock_guard lock(mu_);
      DrainLocked();
      if (now >= next_budget) {
        store_.Expire(clock_());
        if (size_t folded = store_.EnforceBudget(clock_()); folded > 0) {
          log::info("monitor: memory budget reached; folded {} light tenants into \"{}\"", folded, kOtherName);
        }
        memory_bytes_.store(store_.MemoryBytes(), std::memory_order_relaxed);
        next_budget = now + std::chrono::seconds(5);
      }
    }
    if (options_.checkpoint_seconds > 0 && now >= next_checkpoint) {
      save();
      next_checkpoint = now + std::chrono::seconds(options_.checkpoint_seconds);
    }
  }
  DrainNow();
  save();
}

nlohmann::json Monitor::Patterns(std::string_view tenant, std::optional<std::string_view> table, int64_t window_seconds) {
  std::lock_guard lock(mu_);
  DrainLocked();
  return store_.TenantPatterns(tenant, table, window_seconds, clock_());
}

nlohmann::json Monitor::TenantList(int64_t window_seconds, size_t limit) {
  std::lock_guard lock(mu_);
  DrainLocked();
  return store_.TenantList(window_seconds, clock_(), limit);
}

std::string Monitor::CheckpointBlob() {
  nlohmann::json state;
  {
    std::lock_guard lock(mu_);
    DrainLocked();
    state = store_.Checkpoint(clock_());
  }
  return state.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Status Monitor::Restore(std::string_view blob) {
  nlohmann::json state = nlohmann::json::parse(blob, nullptr, false);
  if (state.is_discarded()) return Status::Internal("monitor checkpoint is not valid JSON");
  std::lock_guard lock(mu_);
  return store_.Restore(state);
}

Monitor::Stats Monitor::GetStats(size_t top_tenants) {
  Stats s;
  for (const auto& r : recorders_) {
    s.recorded += r->recorded();
    s.dropped += r->dropped();
  }
  s.checkpoints = checkpoints_.load(std::memory_order_relaxed);
  s.checkpoint_errors = checkpoint_errors_.load(std::memory_order_relaxed);
  s.memory_bytes = memory_bytes_.load(std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  DrainLocked();
  s.stale = store_.stale_events();
  s.folded_tenants = store_.folded_tenants();
  s.node_statements = store_.node_statements();
  s.top_tenants = store_.TopTenantCounters(top_tenants);
  return s;
}

}  // namespace mosaic::monitor
