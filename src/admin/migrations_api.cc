// The migrations API's routes and JSON rendering. The routes only parse the path: the backend
// (the migration service) does the work and chooses the status.
#include "admin/migrations_api.h"

#include <charconv>
#include <set>

#include "migration/migration.h"

namespace mosaic::admin {
namespace {

using Json = nlohmann::json;
using Reply = std::pair<int, Json>;

constexpr const char* kPrefix = "/api/v1/migrations/";

Reply Error(int status, const std::string& message) { return {status, Json{{"error", message}}}; }

// The id in `text`, or nullopt if it is not a positive decimal number.
std::optional<int64_t> ParseId(std::string_view text) {
  int64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id <= 0) return std::nullopt;
  return id;
}

Reply BadId(std::string_view text) {
  return Error(400, "\"" + std::string(text) + "\" is not a migration id (a positive number)");
}

Reply NoSuchPath(const std::string& rest) { return Error(404, "no such path: " + std::string(kPrefix) + rest); }

Reply GetOne(migration::Backend& backend, const std::string& rest) {
  if (rest.find('/') != std::string::npos) return NoSuchPath(rest);
  auto id = ParseId(rest);
  return id ? backend.Get(*id) : BadId(rest);
}

Reply Request(migration::Backend& backend, const std::string& rest) {
  static const std::set<std::string, std::less<>> kRequests = {"pause", "resume", "abort", "rollback"};
  const size_t slash = rest.find('/');
  if (slash == std::string::npos) return NoSuchPath(rest);
  const std::string_view word = std::string_view(rest).substr(slash + 1);
  if (!kRequests.contains(word)) return NoSuchPath(rest);
  auto id = ParseId(std::string_view(rest).substr(0, slash));
  return id ? backend.Request(*id, std::string(word)) : BadId(rest.substr(0, slash));
}

Json ParsedOr(const std::string& text, Json fallback) {
  Json v = Json::parse(text, nullptr, false);
  return v.is_discarded() ? fallback : v;
}

Json Nullable(const std::optional<std::string>& v) { return v ? Json(*v) : Json(nullptr); }
Json Known(double v) { return v < 0 ? Json(nullptr) : Json(v); }

Json FlowsJson(const std::string& flows_json) {
  Json out = Json::array();
  for (const Json& f : ParsedOr(flows_json, Json::array())) {
    if (f.is_object()) out.push_back({{"source", f.value("source", Json())}, {"target", f.value("target", Json())}});
  }
  return out;
}

}  // namespace

void RegisterMigrationRoutes(AdminServer& server, migration::Backend& backend) {
  server.Post("/api/v1/migrations", [&backend](const Json& body) { return backend.Submit(body); });
  server.Get("/api/v1/migrations", [&backend](const auto&) { return backend.List(); });
  server.GetPrefix(kPrefix, [&backend](const std::string& rest, const auto&) { return GetOne(backend, rest); });
  server.PostPrefix(kPrefix, [&backend](const std::string& rest, const Json&) { return Request(backend, rest); });
}

Json MigrationJson(const catalog::MigrationRecord& m, const std::vector<catalog::MigrationJournalEntry>* journal) {
  const Json plan = ParsedOr(m.plan_json, Json::object());
  const Json state = ParsedOr(m.state_json, Json::object());
  const migration::Progress p =
      migration::ProgressFromJson(state.is_object() ? state.value("progress", Json::object()) : Json());
  auto plan_field = [&plan](const char* name, Json fallback) {
    return plan.is_object() ? plan.value(name, fallback) : fallback;
  };
  Json out = {
      {"id", m.id},
      {"action", m.action},
      {"origin", m.origin},
      {"phase", m.phase},
      {"paused", m.paused},
      {"requested", Nullable(m.requested)},
      {"tenant", m.tenant.empty() ? Json(nullptr) : Json(m.tenant)},
      {"tables", plan_field("tables", Json::array())},
      {"column", plan_field("column", Json())},
      {"ranges", plan_field("ranges", Json::array())},
      {"from", plan_field("from", Json::array())},
      {"flows", FlowsJson(m.flows_json)},
      {"progress", {{"rows_copied", p.rows_copied}, {"rows_estimated", p.rows_estimated},
                    {"bytes", p.bytes_copied}, {"rows_per_s", p.rows_per_s}, {"eta_s", Known(p.eta_s)},
                    {"cutover_attempts", p.cutover_attempts},
                    {"cutover_blocked_by", p.cutover_blocked_by.empty() ? Json(nullptr) : Json(p.cutover_blocked_by)}}},
      {"mismatches", {{"shadow_reads", p.shadow_reads}, {"shadow_mismatches", p.shadow_mismatches},
                      {"checksum_chunks", p.checksum_chunks}, {"checksum_mismatches", p.checksum_mismatches}}},
      {"timings", {{"created_at", m.created_at}, {"updated_at", m.updated_at},
                   {"finished_at", Nullable(m.finished_at)}, {"cutover_pause_ms", Known(p.cutover_pause_ms)},
                   {"cutover_steps_ms", p.cutover_steps_ms}, {"cutover_abandoned_ms", p.cutover_abandoned_ms}}},
      {"error", Nullable(m.error)}};
  if (journal != nullptr) {
    Json entries = Json::array();
    for (const auto& e : *journal) entries.push_back({{"phase", e.phase}, {"at", e.at}, {"detail", e.detail}});
    out["journal"] = std::move(entries);
  }
  return out;
}

}  // namespace mosaic::admin
