// Tests for the pure part of backend/server_conn.h: reading a node's refusal out of libpq's
// message for a failed connection attempt.
#include "backend/server_conn.h"

#include <gtest/gtest.h>

#include <string>

namespace mosaic::backend {
namespace {

TEST(ParseConnectFailure, TooManyClients) {
  const std::string libpq =
      "connection to server on socket \"/run/m/.s.PGSQL.5433\" failed: FATAL:  53300: sorry, too many clients "
      "already\nLOCATION:  InitProcess, proc.c:362\n";
  std::string_view code, message;
  std::string plain;
  ASSERT_TRUE(ParseConnectFailure(libpq, &code, &message, &plain));
  EXPECT_EQ(code, "53300");
  EXPECT_EQ(message, "sorry, too many clients already");
  EXPECT_EQ(plain,
            "connection to server on socket \"/run/m/.s.PGSQL.5433\" failed: FATAL:  sorry, too many clients "
            "already\n");
}

TEST(ParseConnectFailure, DetailLinesStayInThePlainMessage) {
  const std::string libpq =
      "connection to server at \"127.0.0.1\", port 5 failed: FATAL:  3D000: database \"x\" does not exist\n"
      "DETAIL:  it was dropped\nLOCATION:  InitPostgres, postinit.c:885\n";
  std::string_view code, message;
  std::string plain;
  ASSERT_TRUE(ParseConnectFailure(libpq, &code, &message, &plain));
  EXPECT_EQ(code, "3D000");
  EXPECT_EQ(message, "database \"x\" does not exist");
  EXPECT_EQ(plain, "connection to server at \"127.0.0.1\", port 5 failed: FATAL:  database \"x\" does not exist\n"
                   "DETAIL:  it was dropped\n");
}

TEST(ParseConnectFailure, NoServerErrorInTheMessage) {
  std::string_view code, message;
  std::string plain;
  EXPECT_FALSE(ParseConnectFailure("connection to server at \"127.0.0.1\", port 5 failed: Connection refused\n"
                                   "\tIs the server running on that host and accepting TCP/IP connections?\n",
                                   &code, &message, &plain));
  EXPECT_FALSE(ParseConnectFailure("timeout expired", &code, &message, &plain));
  EXPECT_FALSE(ParseConnectFailure("failed: FATAL:  lower: case", &code, &message, &plain));
}

}  // namespace
}  // namespace mosaic::backend
