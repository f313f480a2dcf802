#include "frontend/worker.h"

#include "common/log.h"

namespace mosaic::frontend {

Worker::Worker(int index, FrontendContext& context)
    : index_(index),
      context_(context),
      work_(asio::make_work_guard(io_)),
      recorder_(context.monitor ? context.monitor->AddRecorder() : nullptr) {}

Worker::~Worker() { Stop(); }

void Worker::Start() {
  thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (const std::exception& e) {
      log::error("worker {} stopped by an exception: {}", index_, e.what());
    }
  });
}

void Worker::Stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    for (auto& [id, pool] : pools_) pool->CloseAll();
    decision_log_.reset();
  });
  work_.reset();
  io_.stop();
  thread_.join();
}

uint64_t Worker::GenerationOf(const std::map<std::string, std::string, std::less<>>& params) {
  if (generations_.size() > 10000) generations_.clear();  // numbers stay unique: only sharing is lost
  auto [it, inserted] = generations_.try_emplace(params, 0);
  if (inserted) it->second = NextGeneration();
  return it->second;
}

void Worker::NoteLatency(uint64_t shape, uint32_t us) {
  if (shape_latency_us_.size() > 100000) shape_latency_us_.clear();
  auto [it, inserted] = shape_latency_us_.try_emplace(shape, us);
  if (!inserted) it->second = ShapeEstimate(it->second, us);
}

uint32_t Worker::ShapeEstimate(uint32_t estimate, uint32_t sample) {
  if (sample <= estimate) return sample;
  return static_cast<uint32_t>(estimate + (uint64_t{sample} - estimate + kShapeRise - 1) / kShapeRise);
}

bool Worker::FastShape(uint64_t shape) const {
  auto it = shape_latency_us_.find(shape);
  return it != shape_latency_us_.end() && it->second < kFastShapeMax;
}

backend::NodePool& Worker::pool(const catalog::Node& node) {
  auto it = pools_.find(node.id);
  if (it == pools_.end()) {
    const int workers = std::max<int>(1, context_.config.workers);
    const int size = std::max(1, (context_.config.pool_size + workers - 1) / workers);
    catalog::Node target = node;
    if (auto local = context_.local_dsns.find(node.id); local != context_.local_dsns.end()) {
      target.dsn = local->second;
    }
    it = pools_.emplace(node.id, std::make_unique<backend::NodePool>(
                                     io_.get_executor(), std::move(target), size,
                                     context_.config.query_wait_timeout_ms,
                                     context_.config.connect_timeout_s,
                                     context_.config.pool_mode == PoolMode::kTransaction
                                         ? context_.config.pipeline_depth : 0))
             .first;
  }
  return *it->second;
}

DecisionLog& Worker::decision_log() {
  if (!decision_log_) {
    decision_log_ = std::make_unique<DecisionLog>(io_.get_executor(), context_.two_phase,
                                                  context_.config.connect_timeout_s);
  }
  return *decision_log_;
}

std::map<int, backend::PoolStats> Worker::CollectPoolStats() {
  // Shared so a late answer after the timeout writes into a live promise.
  auto promise = std::make_shared<std::promise<std::map<int, backend::PoolStats>>>();
  auto future = promise->get_future();
  asio::post(io_, [this, promise] {
    std::map<int, backend::PoolStats> stats;
    for (auto& [id, pool] : pools_) stats[id] = pool->stats();
    promise->set_value(std::move(stats));
  });
  if (future.wait_for(std::chrono::seconds(2)) != std::future_status::ready) return {};
  return future.get();
}

}  // namespace mosaic::frontend
