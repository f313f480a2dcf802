// Unit tests for RelationOids: RowDescriptions of other nodes get the default node's table OIDs
// and column numbers. No server needed.
#include "catalog/relation_oids.h"

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "protocol/codec.h"
#include "protocol/reader.h"

namespace mosaic::catalog {
namespace {

struct Field {
  std::string name;
  uint32_t table = 0;
  int16_t attnum = 0;
  uint32_t type = 23;
};

// A RowDescription body (no type byte, no length) with these fields.
std::string Body(const std::vector<Field>& fields) {
  std::string msg;
  protocol::MessageWriter w(&msg);
  w.Begin('T').Int16(static_cast<int16_t>(fields.size()));
  for (const Field& f : fields) {
    w.CString(f.name).Int32(static_cast<int32_t>(f.table)).Int16(f.attnum).Int32(static_cast<int32_t>(f.type));
    w.Int16(4).Int32(-1).Int16(0);
  }
  w.End();
  return msg.substr(5);
}

// (table OID, column number) of each field.
std::vector<std::pair<uint32_t, int16_t>> Origins(const std::string& body) {
  protocol::MessageReader r(body);
  int16_t n = 0;
  EXPECT_TRUE(r.ReadInt16(&n));
  std::vector<std::pair<uint32_t, int16_t>> out;
  for (int16_t i = 0; i < n; ++i) {
    std::string_view name;
    int32_t table = 0, type = 0, typmod = 0;
    int16_t attnum = 0, typlen = 0, format = 0;
    EXPECT_TRUE(r.ReadCString(&name) && r.ReadInt32(&table) && r.ReadInt16(&attnum) && r.ReadInt32(&type) &&
                r.ReadInt16(&typlen) && r.ReadInt32(&typmod) && r.ReadInt16(&format));
    out.emplace_back(static_cast<uint32_t>(table), attnum);
  }
  return out;
}

// Node 1 (default) has orders (oid 16400: id, tenant_id, total) and items (16410); node 2 has
// orders as 20000 with a dropped column before total (so total is attnum 4 there), and a table
// of its own (20100); node 3 could not be read.
RelationOids Sample() {
  std::map<int, std::vector<NodeRelation>> relations;
  relations[1] = {
      {.oid = 16400, .schema = "public", .name = "orders", .columns = {{1, "id"}, {2, "tenant_id"}, {3, "total"}}},
      {.oid = 16410, .schema = "public", .name = "items", .columns = {{1, "id"}}},
  };
  relations[2] = {
      {.oid = 20000, .schema = "public", .name = "orders", .columns = {{1, "id"}, {2, "tenant_id"}, {4, "total"}, {5, "note"}}},
      {.oid = 20100, .schema = "public", .name = "local_only", .columns = {{1, "x"}}},
  };
  return RelationOids(1, relations);
}

TEST(RelationOids, AnotherNodesColumnsNameTheDefaultNodesTableAndColumns) {
  std::string body = Body({{"id", 20000, 1}, {"total", 20000, 4}, {"tenant_id", 20000, 2}});
  Sample().Translate(2, body);
  EXPECT_EQ(Origins(body), (std::vector<std::pair<uint32_t, int16_t>>{{16400, 1}, {16400, 3}, {16400, 2}}));
}

TEST(RelationOids, WhatTheDefaultNodeLacksBecomesNoTable) {
  // A column the default node's table does not have, a table it does not have, a table of a
  // node that could not be read, and an OID no node listed.
  std::string body = Body({{"note", 20000, 5}, {"x", 20100, 1}, {"y", 30000, 1}});
  RelationOids oids = Sample();
  oids.Translate(2, body);
  EXPECT_EQ(Origins(body), (std::vector<std::pair<uint32_t, int16_t>>{{0, 0}, {0, 0}, {0, 0}}));
  std::string third = Body({{"id", 16400, 1}});  // node 3's own OID that equals one of node 1's
  oids.Translate(3, third);
  EXPECT_EQ(Origins(third), (std::vector<std::pair<uint32_t, int16_t>>{{0, 0}}));
}

TEST(RelationOids, ComputedColumnsSystemCatalogsAndSystemColumnsStay) {
  std::string body = Body({{"count", 0, 0}, {"relname", 1259, 2}, {"ctid", 20000, -1}});
  Sample().Translate(2, body);
  EXPECT_EQ(Origins(body), (std::vector<std::pair<uint32_t, int16_t>>{{0, 0}, {1259, 2}, {16400, -1}}));
}

TEST(RelationOids, TheDefaultNodesRepliesAreLeftAlone) {
  std::string body = Body({{"id", 20000, 1}});
  const std::string before = body;
  Sample().Translate(1, body);
  EXPECT_EQ(body, before);
}

TEST(RelationOids, ATruncatedBodyIsTranslatedNoFurtherThanItParses) {
  std::string body = Body({{"id", 20000, 1}, {"total", 20000, 4}});
  body.resize(body.size() - 3);  // the second field is cut short
  Sample().Translate(2, body);
  protocol::MessageReader r(body);
  int16_t n = 0;
  std::string_view name;
  int32_t table = 0;
  int16_t attnum = 0;
  ASSERT_TRUE(r.ReadInt16(&n) && r.ReadCString(&name) && r.ReadInt32(&table) && r.ReadInt16(&attnum));
  EXPECT_EQ(std::make_pair(static_cast<uint32_t>(table), attnum), std::make_pair(16400u, int16_t{1}));
  const std::string rest = body.substr(body.size() - r.remaining());
  EXPECT_NE(rest.find("total"), std::string::npos);
  const size_t at = 2 + 3 + 18 + 6;  // the second field's table OID
  EXPECT_EQ(protocol::LoadBigEndian32(body.data() + at), 20000u);  // untouched: it did not parse
}

TEST(RelationOids, WithoutTheDefaultNodesRelationsEveryTableBecomesNone) {
  std::map<int, std::vector<NodeRelation>> relations;
  relations[2] = {{.oid = 20000, .schema = "public", .name = "orders", .columns = {{1, "id"}}}};
  std::string body = Body({{"id", 20000, 1}});
  RelationOids(1, relations).Translate(2, body);
  EXPECT_EQ(Origins(body), (std::vector<std::pair<uint32_t, int16_t>>{{0, 0}}));
}

}  // namespace
}  // namespace mosaic::catalog
