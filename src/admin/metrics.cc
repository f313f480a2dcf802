// Prometheus text format 0.0.4 rendering. Pure string building; no locks, no I/O.
#include "admin/metrics.h"

#include <charconv>
#include <cmath>

namespace mosaic::admin {
namespace {

// HELP text escapes backslash and newline; label values also escape the double quote.
std::string Escape(std::string_view text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

// Shortest text that parses back to `value`, with Prometheus' spellings of NaN and infinities.
std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  if (ec != std::errc()) return "NaN";  // cannot happen: 64 bytes hold any double
  return std::string(buf, end);
}

std::string RenderSample(std::string_view name, double value, const MetricLabels& labels) {
  std::string line(name);
  if (!labels.empty()) {
    line += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) line += ',';
      line += labels[i].first + "=\"" + Escape(labels[i].second, /*quote=*/true) + '"';
    }
    line += '}';
  }
  line += ' ' + FormatValue(value) + '\n';
  return line;
}

}  // namespace

void MetricsWriter::Counter(std::string_view name, std::string_view help, double value,
                            const MetricLabels& labels) {
  Add("counter", name, help, value, labels);
}

void MetricsWriter::Gauge(std::string_view name, std::string_view help, double value,
                          const MetricLabels& labels) {
  Add("gauge", name, help, value, labels);
}

void MetricsWriter::Add(std::string_view type, std::string_view name, std::string_view help,
                        double value, const MetricLabels& labels) {
  auto [it, inserted] = index_.try_emplace(std::string(name), families_.size());
  if (inserted) families_.push_back(Family{std::string(name), std::string(help), type, {}});
  Family& family = families_[it->second];
  if (family.type != type) return;
  family.samples += RenderSample(name, value, labels);
}

std::string MetricsWriter::Finish() {
  std::string out;
  for (const Family& f : families_) {
    out += "# HELP " + f.name + ' ' + Escape(f.help, /*quote=*/false) + '\n';
    out += "# TYPE " + f.name + ' ' + std::string(f.type) + '\n';
    out += f.samples;
  }
  families_.clear();
  index_.clear();
  return out;
}

}  // namespace mosaic::admin
