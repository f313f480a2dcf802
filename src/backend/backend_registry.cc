#include "backend/backend_registry.h"

namespace mosaic::backend {

std::shared_ptr<BackendOwner> BackendRegistry::Register(int node_id, int32_t pid) {
  auto owner = std::make_shared<BackendOwner>();
  std::lock_guard lock(mu_);
  owners_[{node_id, pid}] = owner;
  return owner;
}

std::map<BackendKey, BackendRegistry::Holder> BackendRegistry::Snapshot() {
  std::map<BackendKey, Holder> out;
  std::lock_guard lock(mu_);
  for (auto it = owners_.begin(); it != owners_.end();) {
    auto owner = it->second.lock();
    if (!owner) {
      it = owners_.erase(it);
      continue;
    }
    const int32_t session = owner->session.load(std::memory_order_relaxed);
    if (session != 0) out[it->first] = {session, owner->since.load(std::memory_order_relaxed)};
    ++it;
  }
  return out;
}

}  // namespace mosaic::backend
