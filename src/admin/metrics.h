// MetricsWriter: builds one Prometheus text exposition (format 0.0.4) for a /metrics scrape.
//
// It only formats numbers that callers already hold; it never reads counters itself, takes no
// locks and does no I/O, so it is safe to use from an HTTP handler thread.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mosaic::admin {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// Collects samples and renders them grouped by metric family: "# HELP" and "# TYPE" once per
// name, then every sample of that name, families in the order they were first added.
//
// REQUIRES: names match [a-zA-Z_:][a-zA-Z0-9_:]* and label names [a-zA-Z_][a-zA-Z0-9_]*
// (they come from code). Label values may be anything (tenant names...): they are escaped.
// Not thread-safe: one writer per scrape.
class MetricsWriter {
 public:
  // Adds one sample of a counter (by convention named "..._total"). The first sample of a name
  // fixes its help text and type; a later sample of the same name with the other type is
  // dropped so the output stays valid.
  void Counter(std::string_view name, std::string_view help, double value,
               const MetricLabels& labels = {});
  // Adds one sample of a gauge; otherwise as Counter.
  void Gauge(std::string_view name, std::string_view help, double value,
             const MetricLabels& labels = {});

  // Returns the whole exposition text and leaves the writer empty for reuse.
  std::string Finish();

 private:
  struct Family {
    std::string name;
    std::string help;
    std::string_view type;  // "counter" or "gauge"
    std::string samples;    // rendered sample lines
  };

  void Add(std::string_view type, std::string_view name, std::string_view help, double value,
           const MetricLabels& labels);

  std::vector<Family> families_;
  std::unordered_map<std::string, size_t> index_;  // name -> position in families_
};

}  // namespace mosaic::admin
