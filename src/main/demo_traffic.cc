#include "main/demo_traffic.h"

#include <cstdio>
#include <functional>
#include <ostream>
#include <sstream>
#include <streambuf>

namespace mosaic {

namespace {

// A stream buffer that hands each complete line to `on_line` as it is written.
class LineBuffer : public std::streambuf {
 public:
  explicit LineBuffer(std::function<void(const std::string&)> on_line) : on_line_(std::move(on_line)) {}

 protected:
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
    if (c == '\n') {
      on_line_(line_);
      line_.clear();
    } else {
      line_ += traits_type::to_char_type(c);
    }
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    for (std::streamsize i = 0; i < n; ++i) overflow(traits_type::to_int_type(s[i]));
    return n;
  }

 private:
  std::function<void(const std::string&)> on_line_;
  std::string line_;
};

}  // namespace

std::optional<TrafficSample> ParseIntervalLine(std::string_view line) {
  TrafficSample s;
  double at = 0;
  long long errors = 0;
  int consumed = 0;
  const std::string text(line);
  if (std::sscanf(text.c_str(), "[ %lfs] tps %lf | errors %lld | p50 %lf ms p99 %lf ms%n", &at, &s.tps, &errors,
                  &s.p50_ms, &s.p99_ms, &consumed) != 5 ||
      consumed != static_cast<int>(text.size())) {
    return std::nullopt;
  }
  s.errors = errors;
  return s;
}

struct DemoTraffic::State {
  explicit State(Clock::time_point e) : epoch(e) {}
  const Clock::time_point epoch;
  std::mutex mu;
  std::vector<TrafficSample> samples;   // GUARDED_BY(mu)
  std::vector<std::string> messages;    // GUARDED_BY(mu)
  std::optional<int> exit_code;         // GUARDED_BY(mu)
  nlohmann::json report;                // GUARDED_BY(mu)

  void AddLine(const std::string& line) {
    auto sample = ParseIntervalLine(line);
    std::lock_guard lock(mu);
    if (!sample) {
      if (!line.empty()) messages.push_back(line);
      return;
    }
    sample->at_s = std::chrono::duration<double>(Clock::now() - epoch).count();
    samples.push_back(*sample);
  }
};

DemoTraffic::DemoTraffic(workload::Options options, Clock::time_point epoch)
    : state_(std::make_shared<State>(epoch)) {
  thread_ = std::thread([state = state_, options = std::move(options)] {
    // With --json the interval lines go to the error stream and the report, alone, to `out`.
    LineBuffer lines([&state = *state](const std::string& line) { state.AddLine(line); });
    std::ostream progress(&lines);
    std::ostringstream out;
    const int code = workload::Run(options, out, progress);
    nlohmann::json report = nlohmann::json::parse(out.str(), nullptr, false);
    std::lock_guard lock(state->mu);
    state->exit_code = code;
    state->report = report.is_discarded() ? nlohmann::json() : std::move(report);
  });
}

DemoTraffic::~DemoTraffic() { Join(); }

void DemoTraffic::Join() {
  if (thread_.joinable()) thread_.join();
}

void DemoTraffic::Detach() {
  if (thread_.joinable()) thread_.detach();
}

std::vector<TrafficSample> DemoTraffic::Samples() const {
  std::lock_guard lock(state_->mu);
  return state_->samples;
}

std::vector<std::string> DemoTraffic::Messages() const {
  std::lock_guard lock(state_->mu);
  return state_->messages;
}

std::optional<int> DemoTraffic::exit_code() const {
  std::lock_guard lock(state_->mu);
  return state_->exit_code;
}

nlohmann::json DemoTraffic::report() const {
  std::lock_guard lock(state_->mu);
  return state_->report;
}

}  // namespace mosaic
