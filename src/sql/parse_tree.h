// Reading libpg_query's JSON parse tree: small accessors that never throw and give an empty
// value for a missing or mistyped field (the tree comes from libpg_query; anything of an
// unexpected form is treated as absent). Shared by the analyzer and the subquery planner.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace mosaic::sql::parse_tree {

using Json = nlohmann::json;

inline const Json& EmptyArray() {
  static const Json kEmpty = Json::array();
  return kEmpty;
}

inline const Json* Get(const Json& o, const char* key) {
  if (!o.is_object()) return nullptr;
  auto it = o.find(key);
  return it == o.end() ? nullptr : &*it;
}

inline std::string_view Str(const Json& o, const char* key) {
  const Json* v = Get(o, key);
  return v && v->is_string() ? std::string_view(v->get_ref<const std::string&>()) : "";
}

inline int Int(const Json& o, const char* key, int dflt) {
  const Json* v = Get(o, key);
  return v && v->is_number_integer() ? v->get<int>() : dflt;
}

inline bool Flag(const Json& o, const char* key) {
  const Json* v = Get(o, key);
  return v && v->is_boolean() && v->get<bool>();
}

inline const Json& Items(const Json& o, const char* key) {
  const Json* v = Get(o, key);
  return v && v->is_array() ? *v : EmptyArray();
}

// A node is {"TypeName": {fields}}.
inline std::string_view TypeOf(const Json& node) {
  return node.is_object() && node.size() == 1 ? std::string_view(node.begin().key()) : "";
}
// REQUIRES: TypeOf(node) is not empty.
inline const Json& Body(const Json& node) { return node.begin().value(); }

// The sval of a {"String": {"sval": ...}} node ("" for anything else).
inline std::string_view StringOf(const Json& node) {
  return TypeOf(node) == "String" ? Str(Body(node), "sval") : "";
}

}  // namespace mosaic::sql::parse_tree
