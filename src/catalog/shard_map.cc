// ShardMap lookups, DSN redaction and the atomic snapshot holder. No I/O, no locks held by
// readers; RedactDsn only parses strings (libpq's parser, no connection).
#include "catalog/shard_map.h"

#include <libpq-fe.h>
#include <xxhash.h>

#include <algorithm>
#include <cassert>
#include <utility>

namespace mosaic::catalog {
namespace {

constexpr std::string_view kUnparseableDsn = "<unparseable dsn>";

bool IsSecretKeyword(std::string_view keyword) {
  return keyword == "password" || keyword == "sslpassword";
}

bool IsUri(std::string_view dsn) {
  return dsn.starts_with("postgresql://") || dsn.starts_with("postgres://");
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes so "pass%77ord" is recognised as "password". Bad escapes stay as they are.
std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexDigit(s[i + 1]) >= 0 && HexDigit(s[i + 2]) >= 0) {
      out += static_cast<char>(HexDigit(s[i + 1]) * 16 + HexDigit(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// "a=1&password=x&b=2" -> "?a=1&b=2"; "" when nothing is left.
std::string RedactUriQuery(std::string_view query) {
  std::string kept;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (param.empty() || IsSecretKeyword(PercentDecode(param.substr(0, param.find('='))))) continue;
    kept += kept.empty() ? "?" : "&";
    kept += param;
  }
  return kept;
}

// Mirrors libpq's URI grammar: user info is whatever precedes the first '@' that comes before
// any '/', and the password is what follows the first ':' in it.
std::string RedactUri(std::string_view uri) {
  size_t start = uri.find("://") + 3;
  std::string out(uri.substr(0, start));
  size_t at = uri.find_first_of("@/", start);
  if (at != std::string_view::npos && uri[at] == '@') {
    std::string_view userinfo = uri.substr(start, at - start);
    out += userinfo.substr(0, userinfo.find(':'));
    out += '@';
    start = at + 1;
  }
  std::string_view rest = uri.substr(start);
  size_t question = rest.find('?');
  out += rest.substr(0, question);
  if (question != std::string_view::npos) out += RedactUriQuery(rest.substr(question + 1));
  return out;
}

std::string RebuildWithoutSecrets(const PQconninfoOption* options) {
  std::string out;
  for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || IsSecretKeyword(o->keyword)) continue;
    if (!out.empty()) out += ' ';
    out += o->keyword;
    out += '=';
    out += QuoteConninfoValue(o->val);
  }
  return out;
}

}  // namespace

std::string QuoteConninfoValue(std::string_view value) {
  if (!value.empty() && value.find_first_of(" \t\n\r\f\v'\\") == std::string_view::npos) {
    return std::string(value);
  }
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

const Node* ShardMap::FindNode(int id) const {
  auto it = std::find_if(nodes.begin(), nodes.end(), [id](const Node& n) { return n.id == id; });
  return it == nodes.end() ? nullptr : &*it;
}

const Table* ShardMap::FindTable(std::string_view schema, std::string_view name) const {
  if (!table_index_.empty()) {
    std::string key;
    key.reserve(schema.size() + name.size() + 1);
    key.append(schema).push_back('\0');
    key.append(name);
    auto found = table_index_.find(key);
    return found == table_index_.end() ? nullptr : found->second;
  }
  auto it = std::find_if(tables.begin(), tables.end(), [&](const Table& t) {
    return t.schema == schema && t.name == name;
  });
  return it == tables.end() ? nullptr : &*it;
}

const Node& ShardMap::DefaultNode() const {
  assert(!nodes.empty());
  return *std::min_element(nodes.begin(), nodes.end(),
                           [](const Node& a, const Node& b) { return a.id < b.id; });
}

namespace {

uint64_t LayoutHash(std::string_view tenant, int64_t table_id) {
  return XXH3_64bits_withSeed(tenant.data(), tenant.size(), static_cast<uint64_t>(table_id));
}

}  // namespace

int ShardMap::TenantHomeNode(std::string_view tenant) const {
  if (tenant.empty()) return DefaultNode().id;
  const uint64_t h = XXH64(tenant.data(), tenant.size(), 0);
  if (!tenant_hash_nodes.empty()) return tenant_hash_nodes[h % tenant_hash_nodes.size()];
  return nodes[h % nodes.size()].id;
}

const Layout* ShardMap::FindLayout(int64_t table_id, std::string_view tenant) const {
  if (layout_slots_.empty()) return nullptr;
  const uint64_t hash = LayoutHash(tenant, table_id);
  const size_t mask = layout_slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {  // ends: the table is at most half full
    const LayoutSlot& slot = layout_slots_[i];
    if (slot.layout == nullptr) return nullptr;
    if (slot.hash == hash && slot.table_id == table_id && slot.layout->tenant == tenant) return slot.layout;
  }
}

const std::vector<const Layout*>& ShardMap::LayoutsOfTable(int64_t table_id) const {
  static const std::vector<const Layout*> kNone;
  auto it = table_layouts_.find(table_id);
  return it == table_layouts_.end() ? kNone : it->second;
}

const std::vector<const ActiveMigration*>& ShardMap::MigrationsOfTable(int64_t table_id) const {
  static const std::vector<const ActiveMigration*> kNone;
  if (table_migrations_.empty()) return kNone;
  auto it = table_migrations_.find(table_id);
  return it == table_migrations_.end() ? kNone : it->second;
}

void ShardMap::BuildIndex() {
  layout_slots_.clear();
  table_layouts_.clear();
  table_migrations_.clear();
  for (const ActiveMigration& m : migrations) {
    for (int64_t id : m.table_ids) table_migrations_[id].push_back(&m);
  }
  table_index_.clear();
  for (const Table& t : tables) {
    std::string key = t.schema;
    key.push_back('\0');
    key.append(t.name);
    table_index_[key] = &t;
  }
  spread_ = !layouts.empty() && nodes.size() > 1;
  for (const Table& t : tables) spread_ = spread_ || (t.kind != TableKind::kSingleTenant && nodes.size() > 1);
  size_t entries = 0;
  for (const Layout& layout : layouts) entries += layout.table_ids.size();
  if (entries == 0) return;
  size_t capacity = 8;
  while (capacity < 2 * entries) capacity *= 2;
  layout_slots_.resize(capacity);
  const size_t mask = capacity - 1;
  for (const Layout& layout : layouts) {
    for (int64_t table : layout.table_ids) {
      table_layouts_[table].push_back(&layout);
      const uint64_t hash = LayoutHash(layout.tenant, table);
      for (size_t i = hash & mask;; i = (i + 1) & mask) {
        LayoutSlot& slot = layout_slots_[i];
        const bool same = slot.layout != nullptr && slot.hash == hash && slot.table_id == table &&
                          slot.layout->tenant == layout.tenant;
        if (slot.layout != nullptr && !same) continue;
        slot = {.hash = hash, .table_id = table, .layout = &layout};  // a later layout wins, as before
        break;
      }
    }
  }
}

std::string_view TableKindName(TableKind kind) {
  switch (kind) {
    case TableKind::kDistributed:
      return "distributed";
    case TableKind::kReference:
      return "reference";
    case TableKind::kSingleTenant:
      break;
  }
  return "single";
}

TableKind TableKindFromName(std::string_view name) {
  if (name == "distributed") return TableKind::kDistributed;
  if (name == "reference") return TableKind::kReference;
  return TableKind::kSingleTenant;
}

int Table::ColumnIndex(std::string_view column) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == column) return static_cast<int>(i);
  }
  return -1;
}

const Column* Table::FindColumn(std::string_view column) const {
  int i = ColumnIndex(column);
  return i < 0 ? nullptr : &columns[static_cast<size_t>(i)];
}

const Range& Layout::RangeFor(std::string_view key) const {
  // The first range whose upper bound is above the key (the last one is unbounded).
  size_t lo = 0, hi = ranges.size() - 1;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (ranges[mid].upper && key >= std::string_view(ranges[mid].upper_key)) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return ranges[lo];
}

void Layout::RangesBetween(const std::optional<std::string>& lo, bool lo_inclusive,
                           const std::optional<std::string>& hi, bool hi_inclusive,
                           std::vector<int>* out) const {
  out->clear();
  for (size_t i = 0; i < ranges.size(); ++i) {
    const Range& r = ranges[i];
    // The range [r.lower, r.upper) misses [lo, hi] when it ends at or before lo, or starts after hi.
    if (lo && r.upper) {
      if (std::string_view(r.upper_key) < std::string_view(*lo)) continue;
      if (std::string_view(r.upper_key) == std::string_view(*lo)) continue;  // upper is exclusive
    }
    if (hi && r.lower) {
      const int c = std::string_view(r.lower_key).compare(*hi);
      if (c > 0 || (c == 0 && !hi_inclusive)) continue;
    }
    (void)lo_inclusive;
    out->push_back(static_cast<int>(i));
  }
}

std::string ShardMap::RedactDsn(std::string_view dsn) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(std::string(dsn).c_str(), &error);
  if (options == nullptr) {
    PQfreemem(error);
    return std::string(kUnparseableDsn);
  }
  std::string redacted = IsUri(dsn) ? RedactUri(dsn) : RebuildWithoutSecrets(options);
  PQconninfoFree(options);
  return redacted;
}

Result<TableName> ParseTableName(std::string_view text) {
  auto invalid = [&] {
    return Status(std::string_view("42602"), "invalid table name \"" + std::string(text) + "\"");
  };
  std::vector<std::string> parts(1);
  bool quoted_part = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {
      size_t end = i + 1;
      for (; end < text.size(); ++end) {
        if (text[end] != '"') {
          parts.back() += text[end];
        } else if (end + 1 < text.size() && text[end + 1] == '"') {
          parts.back() += '"';
          ++end;
        } else {
          break;
        }
      }
      if (end >= text.size()) return invalid();  // unterminated quote
      i = end;
      quoted_part = true;
    } else if (c == '.') {
      if (parts.back().empty() && !quoted_part) return invalid();
      parts.emplace_back();
      quoted_part = false;
    } else if (c == ' ' || c == '\t') {
      return invalid();
    } else {
      parts.back() += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
  }
  if (parts.size() > 2 || (parts.back().empty() && !quoted_part)) return invalid();
  for (const std::string& part : parts) {
    if (part.empty()) return invalid();
  }
  if (parts.size() == 1) return TableName{"public", parts[0]};
  return TableName{parts[0], parts[1]};
}

bool Table::Bytewise() const {
  return std::all_of(columns.begin(), columns.end(), [](const Column& c) { return c.bytewise; });
}

ShardMapHolder::ShardMapHolder() : current_(std::make_shared<const ShardMap>()) {}

std::shared_ptr<const ShardMap> ShardMapHolder::Snapshot() const {
  return current_.load(std::memory_order_acquire);
}

void ShardMapHolder::Publish(std::shared_ptr<const ShardMap> map) {
  assert(map != nullptr);
  auto current = current_.load(std::memory_order_acquire);
  while (current->version <= map->version &&
         !current_.compare_exchange_weak(current, map, std::memory_order_acq_rel)) {
  }
}

}  // namespace mosaic::catalog
