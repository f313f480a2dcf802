// Tests for admin/metrics.h: Prometheus text format 0.0.4 output.
#include "admin/metrics.h"

#include <gtest/gtest.h>

#include <limits>

namespace mosaic::admin {
namespace {

TEST(MetricsWriterTest, RendersCounterAndGauge) {
  MetricsWriter w;
  w.Counter("mosaic_queries_total", "Queries routed.", 42);
  w.Gauge("mosaic_nodes", "Nodes in the shard map.", 3, {{"tier", "hot"}});
  EXPECT_EQ(w.Finish(),
            "# HELP mosaic_queries_total Queries routed.\n"
            "# TYPE mosaic_queries_total counter\n"
            "mosaic_queries_total 42\n"
            "# HELP mosaic_nodes Nodes in the shard map.\n"
            "# TYPE mosaic_nodes gauge\n"
            "mosaic_nodes{tier=\"hot\"} 3\n");
}

TEST(MetricsWriterTest, GroupsSamplesOfOneFamilyUnderOneHeader) {
  MetricsWriter w;
  w.Counter("a_total", "A.", 1, {{"node", "1"}});
  w.Gauge("b", "B.", 2);
  w.Counter("a_total", "A again (ignored).", 3, {{"node", "2"}, {"tier", "cold"}});
  EXPECT_EQ(w.Finish(),
            "# HELP a_total A.\n"
            "# TYPE a_total counter\n"
            "a_total{node=\"1\"} 1\n"
            "a_total{node=\"2\",tier=\"cold\"} 3\n"
            "# HELP b B.\n"
            "# TYPE b gauge\n"
            "b 2\n");
}

TEST(MetricsWriterTest, EscapesLabelValuesAndHelp) {
  MetricsWriter w;
  w.Gauge("g", "line one\nback\\slash \"quoted\"", 1, {{"tenant", "a\\b\"c\nd"}});
  EXPECT_EQ(w.Finish(),
            "# HELP g line one\\nback\\\\slash \"quoted\"\n"
            "# TYPE g gauge\n"
            "g{tenant=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(MetricsWriterTest, FormatsValues) {
  MetricsWriter w;
  w.Gauge("v", "Values.", 0.5, {{"k", "half"}});
  w.Gauge("v", "Values.", -3, {{"k", "negative"}});
  w.Gauge("v", "Values.", 1e21, {{"k", "big"}});
  w.Gauge("v", "Values.", std::numeric_limits<double>::quiet_NaN(), {{"k", "nan"}});
  w.Gauge("v", "Values.", std::numeric_limits<double>::infinity(), {{"k", "inf"}});
  w.Gauge("v", "Values.", -std::numeric_limits<double>::infinity(), {{"k", "-inf"}});
  w.Counter("c_total", "Big counter.", 9007199254740992.0);
  EXPECT_EQ(w.Finish(),
            "# HELP v Values.\n"
            "# TYPE v gauge\n"
            "v{k=\"half\"} 0.5\n"
            "v{k=\"negative\"} -3\n"
            "v{k=\"big\"} 1e+21\n"
            "v{k=\"nan\"} NaN\n"
            "v{k=\"inf\"} +Inf\n"
            "v{k=\"-inf\"} -Inf\n"
            "# HELP c_total Big counter.\n"
            "# TYPE c_total counter\n"
            "c_total 9007199254740992\n");
}

TEST(MetricsWriterTest, DropsSampleWhoseTypeConflicts) {
  MetricsWriter w;
  w.Counter("x", "X.", 1);
  w.Gauge("x", "X.", 2);
  EXPECT_EQ(w.Finish(), "# HELP x X.\n# TYPE x counter\nx 1\n");
}

TEST(MetricsWriterTest, FinishLeavesWriterEmpty) {
  MetricsWriter w;
  w.Counter("x_total", "X.", 1);
  EXPECT_FALSE(w.Finish().empty());
  EXPECT_EQ(w.Finish(), "");
  w.Gauge("x_total", "Now a gauge.", 2);
  EXPECT_EQ(w.Finish(), "# HELP x_total Now a gauge.\n# TYPE x_total gauge\nx_total 2\n");
}

}  // namespace
}  // namespace mosaic::admin
