// SpscRing: a bounded single-producer single-consumer queue of fixed-size records.
//
// The producer (a worker thread) claims a slot, fills it in place and publishes it; the consumer
// (the monitor's aggregator thread) reads published slots and releases them. Neither side ever
// blocks or allocates after construction: when the ring is full the producer's Claim() fails and
// the caller counts a drop. Thread-safety: exactly one producer thread and one consumer thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace mosaic::monitor {

template <typename T>
class SpscRing {
 public:
  // REQUIRES: capacity is a power of two.
  explicit SpscRing(size_t capacity) : mask_(capacity - 1), slots_(new T[capacity]) {}
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  // Producer: a slot to fill, or nullptr when the ring is full. Publish() makes it visible.
  T* Claim() {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    if (head - tail_cache_ > mask_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (head - tail_cache_ > mask_) return nullptr;
    }
    return &slots_[head & mask_];
  }
  // Producer: publishes the slot returned by the last Claim().
  void Publish() { head_.store(head_.load(std::memory_order_relaxed) + 1, std::memory_order_release); }

  // Consumer: calls fn(const T&) for every published record, then releases them. Returns how
  // many it consumed.
  template <typename Fn>
  size_t Drain(Fn&& fn) {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    const uint64_t head = head_.load(std::memory_order_acquire);
    for (uint64_t i = tail; i != head; ++i) fn(static_cast<const T&>(slots_[i & mask_]));
    tail_.store(head, std::memory_order_release);
    return static_cast<size_t>(head - tail);
  }

  size_t capacity() const { return mask_ + 1; }

 private:
  const uint64_t mask_;
  std::unique_ptr<T[]> slots_;
  alignas(64) std::atomic<uint64_t> head_{0};  // written by the producer
  uint64_t tail_cache_ = 0;                    // producer's last view of tail_
  alignas(64) std::atomic<uint64_t> tail_{0};  // written by the consumer
};

}  // namespace mosaic::monitor
