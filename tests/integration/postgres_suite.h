// PostgresSuite: a gtest fixture whose tests share one throwaway PostgreSQL cluster (TestPostgres),
// started before the suite's first test and stopped after its last, on the main thread.
#pragma once

#include <gtest/gtest.h>

#include "test_postgres.h"

namespace mosaic::testing {

class PostgresSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pg_ = new TestPostgres(); }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }
  // Fails the test if the cluster did not start. Fixtures overriding it call it first.
  void SetUp() override { ASSERT_TRUE(pg_->ok()) << pg_->error(); }

  static inline TestPostgres* pg_ = nullptr;
};

}  // namespace mosaic::testing
