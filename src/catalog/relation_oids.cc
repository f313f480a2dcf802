// RelationOids: building the translation and applying it to RowDescription bodies.
#include "catalog/relation_oids.h"

#include <string_view>

#include "protocol/reader.h"

namespace mosaic::catalog {

RelationOids::RelationOids(int default_node, const std::map<int, std::vector<NodeRelation>>& relations)
    : default_node_(default_node) {
  auto home = relations.find(default_node);
  if (home == relations.end()) return;  // nothing to translate to: every OID becomes 0
  struct Known {
    uint32_t oid;
    std::unordered_map<std::string_view, int16_t> attnums;
  };
  std::unordered_map<std::string, Known> by_name;  // schema + '\0' + name
  for (const NodeRelation& r : home->second) {
    Known& k = by_name[r.schema + '\0' + r.name];
    k.oid = r.oid;
    for (const auto& [attnum, name] : r.columns) k.attnums.emplace(name, attnum);
  }
  for (const auto& [node, list] : relations) {
    if (node == default_node) continue;
    for (const NodeRelation& r : list) {
      auto it = by_name.find(r.schema + '\0' + r.name);
      if (it == by_name.end()) continue;
      Target t{.oid = it->second.oid};
      for (const auto& [attnum, name] : r.columns) {
        if (attnum <= 0) continue;
        auto col = it->second.attnums.find(name);
        if (static_cast<size_t>(attnum) >= t.attnums.size()) t.attnums.resize(static_cast<size_t>(attnum) + 1, 0);
        t.attnums[static_cast<size_t>(attnum)] = col == it->second.attnums.end() ? 0 : col->second;
      }
      targets_.emplace(Key(node, r.oid), std::move(t));
    }
  }
}

void RelationOids::Translate(int node_id, std::span<char> body) const {
  if (node_id == default_node_) return;
  protocol::MessageReader r(std::string_view(body.data(), body.size()));
  int16_t fields = 0;
  if (!r.ReadInt16(&fields)) return;
  // A field: name, table OID, column number, type OID, type size, type modifier, format code.
  for (int16_t i = 0; i < fields; ++i) {
    std::string_view name;
    int32_t table = 0, type = 0, typmod = 0;
    int16_t attnum = 0, typlen = 0, format = 0;
    if (!r.ReadCString(&name)) return;
    char* at = body.data() + (body.size() - r.remaining());  // the table OID, then the column number
    if (!r.ReadInt32(&table) || !r.ReadInt16(&attnum) || !r.ReadInt32(&type) || !r.ReadInt16(&typlen) ||
        !r.ReadInt32(&typmod) || !r.ReadInt16(&format)) {
      return;
    }
    const auto oid = static_cast<uint32_t>(table);
    if (oid < kFirstNormalObjectId) continue;  // 0 (no table) or a system catalog
    uint32_t to_oid = 0;
    int16_t to_attnum = 0;
    if (auto it = targets_.find(Key(node_id, oid)); it != targets_.end()) {
      const Target& t = it->second;
      if (attnum < 0) {  // a system column (ctid, xmin, ...): numbered alike everywhere
        to_oid = t.oid;
        to_attnum = attnum;
      } else if (static_cast<size_t>(attnum) < t.attnums.size() && t.attnums[static_cast<size_t>(attnum)] != 0) {
        to_oid = t.oid;
        to_attnum = t.attnums[static_cast<size_t>(attnum)];
      }
    }
    protocol::StoreBigEndian32(at, to_oid);
    protocol::StoreBigEndian16(at + 4, static_cast<uint16_t>(to_attnum));
  }
}

}  // namespace mosaic::catalog
