// The demo's traffic: the built-in load generator (`mosaic workload`, src/workload) run in-process
// on its own thread against Mosaic's listener, as a client application would. Its per-interval
// lines (TPS, errors, p50, p99) are collected as samples for the live view and the summary, and
// its end-of-run report is kept.
//
// Only workload::Run is used, so the demo sends exactly what `mosaic workload` sends. That run
// cannot be stopped before its duration ends: a caller that must quit earlier leaves the thread
// running (see DemoTraffic::Detach).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "workload/workload.h"

namespace mosaic {

// One interval of the workload, as its report line says it.
struct TrafficSample {
  double at_s = 0;  // when the line arrived, seconds on the caller's clock (see DemoTraffic)
  double tps = 0;
  int64_t errors = 0;
  double p50_ms = 0, p99_ms = 0;
};

// Reads a workload::IntervalLine ("[  5.0s] tps 812.4 | errors 0 | p50 1.20 ms p99 4.51 ms");
// at_s is left 0. nullopt for any other line.
std::optional<TrafficSample> ParseIntervalLine(std::string_view line);

// Thread-safe: the accessors may be called from any thread while the run goes on.
class DemoTraffic {
 public:
  using Clock = std::chrono::steady_clock;

  // Starts workload::Run(options) on a thread. REQUIRES: options.run, options.json and
  // options.report_interval_s > 0 (the samples come from the interval lines). Sample times are
  // seconds since `epoch`.
  DemoTraffic(workload::Options options, Clock::time_point epoch);
  // Joins the thread (waits for the run's end) unless Detach was called.
  ~DemoTraffic();
  DemoTraffic(const DemoTraffic&) = delete;
  DemoTraffic& operator=(const DemoTraffic&) = delete;

  // Waits for the run's end.
  void Join();
  // Lets the run go on unobserved (it keeps its own state, so this object may be destroyed).
  // The process should then end with std::quick_exit: static destructors would race the thread.
  void Detach();

  std::vector<TrafficSample> Samples() const;
  // Lines of the workload that are not interval lines (setup errors, notes).
  std::vector<std::string> Messages() const;
  // After the run: workload::Run's exit code and its report (workload::ReportJson's shape); the
  // report is null if the run failed before it.
  std::optional<int> exit_code() const;
  nlohmann::json report() const;

 private:
  struct State;  // shared with the thread
  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace mosaic
