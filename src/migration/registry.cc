// Fences and shadow-read samples shared by the data path and the migration service.
#include "migration/registry.h"

#include <thread>

namespace mosaic::migration {

Fence::Enter Fence::TryEnter(int64_t map_version) {
  // Sequentially consistent on purpose: either the cutover's Close() sees this entry (and waits
  // for our Leave), or we see the fence closed; after Open(v) we see v.
  inside_.fetch_add(1);
  if (closed_.load()) {
    inside_.fetch_sub(1);
    return Enter::kClosed;
  }
  if (map_version < switched_version_.load()) {
    inside_.fetch_sub(1);
    return Enter::kStale;
  }
  return Enter::kEntered;
}

void Fence::Leave() { inside_.fetch_sub(1); }

void Fence::Close() { closed_.store(true); }

bool Fence::WaitDrained(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (inside_.load() != 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

void Fence::Open(int64_t switched_version) {
  if (switched_version > switched_version_.load()) switched_version_.store(switched_version);
  closed_.store(false);
}

void Fence::Offer(ShadowSample sample) {
  if (!sampling()) return;
  std::unique_lock lock(samples_mu_, std::try_to_lock);
  if (!lock.owns_lock() || samples_.size() >= kMaxSamples) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  samples_.push_back(std::move(sample));
}

std::vector<ShadowSample> Fence::TakeSamples() {
  std::lock_guard lock(samples_mu_);
  std::vector<ShadowSample> out(std::make_move_iterator(samples_.begin()),
                                std::make_move_iterator(samples_.end()));
  samples_.clear();
  return out;
}

std::shared_ptr<Fence> Registry::Get(int64_t id) {
  std::lock_guard lock(mu_);
  auto& fence = fences_[id];
  if (!fence) fence = std::make_shared<Fence>();
  return fence;
}

void Registry::Forget(int64_t id) {
  std::lock_guard lock(mu_);
  fences_.erase(id);
}

}  // namespace mosaic::migration
