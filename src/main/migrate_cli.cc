#include "main/migrate_cli.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "main/admin_client.h"
#include "migration/migration.h"

namespace mosaic {

using Json = nlohmann::json;

namespace {

constexpr int kBarWidth = 20;

std::string Duration(double seconds) {
  if (seconds < 0) return "-";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
}

std::string PhaseCell(const Json& m) {
  std::string phase = JsonText(m.value("phase", Json()));
  if (m.value("paused", false)) phase += " (paused)";
  if (m.contains("requested") && !m["requested"].is_null()) phase += " (" + JsonText(m["requested"]) + " requested)";
  return phase;
}

TableRow Row(const Json& m) {
  const Json progress = m.value("progress", Json::object());
  const Json mism = m.value("mismatches", Json::object());
  const auto copied = static_cast<int64_t>(JsonNumber(progress, "rows_copied"));
  const auto estimated = static_cast<int64_t>(JsonNumber(progress, "rows_estimated"));
  const double rate = JsonNumber(progress, "rows_per_s");
  return {JsonText(m.value("id", Json())),
          JsonText(m.value("action", Json())),
          m.contains("tenant") && !m["tenant"].is_null() ? JsonText(m["tenant"]) : "-",
          PhaseCell(m),
          fmt::format("{} {}/{}", ProgressBar(copied, estimated, kBarWidth), copied, estimated),
          rate > 0 ? fmt::format("{:.0f} rows/s", rate) : "-",
          MigrationActive(m) ? Duration(JsonNumber(progress, "eta_s", -1)) : "-",
          fmt::format("shadow {}/{}, checksum {}/{}", JsonNumber(mism, "shadow_mismatches"), JsonNumber(mism, "shadow_reads"),
                      JsonNumber(mism, "checksum_mismatches"), JsonNumber(mism, "checksum_chunks"))};
}

// The API's reply for `path`, printed as JSON or as `text(reply)`. Exit code.
template <typename Text>
int Call(const MigrateArgs& args, const std::string& method, const std::string& path, const Json* body, Text text) {
  auto reply = CallAdmin("mosaic migrate", args.admin, method, path, body);
  if (!reply) return 1;
  std::cout << (args.json ? reply->dump(2) + "\n" : text(*reply));
  return 0;
}

std::string Summary(const Json& m) {
  return fmt::format("migration {}: {} of tenant {} on {}, phase {}\n", JsonText(m.value("id", Json())),
                     JsonText(m.value("action", Json())),
                     m.contains("tenant") && !m["tenant"].is_null() ? JsonText(m["tenant"]) : "(implicit)",
                     JsonText(m.value("column", Json())), PhaseCell(m));
}

}  // namespace

std::string ProgressBar(int64_t done, int64_t total, int width) {
  if (total <= 0) return "[" + std::string(width, '.') + "]    ";
  const double share = std::clamp(static_cast<double>(done) / static_cast<double>(total), 0.0, 1.0);
  const int filled = static_cast<int>(share * width);
  return fmt::format("[{}{}] {:3.0f}%", std::string(filled, '#'), std::string(width - filled, '.'), share * 100);
}

bool MigrationActive(const Json& m) {
  auto phase = migration::PhaseFromName(JsonText(m.value("phase", Json())));
  return phase && !migration::IsTerminal(*phase);
}

std::string FormatMigrations(const Json& reply, bool active_only) {
  std::vector<TableRow> rows = {{"ID", "ACTION", "TENANT", "PHASE", "PROGRESS", "RATE", "ETA", "MISMATCHES"}};
  for (const Json& m : reply.value("migrations", Json::array())) {
    if (!active_only || MigrationActive(m)) rows.push_back(Row(m));
  }
  if (rows.size() == 1) return active_only ? "no active migration\n" : "no migrations\n";
  return RenderTable(rows);
}

int RunMigrateList(const MigrateArgs& args) {
  auto reply = CallAdmin("mosaic migrate", args.admin, "GET", "/api/v1/migrations", nullptr);
  if (!reply) return 1;
  if (args.json) {
    std::cout << reply->dump(2) << "\n";
    return 0;
  }
  std::cout << FormatMigrations(*reply, false);
  if (args.once) return 0;
  const bool tty = isatty(STDOUT_FILENO) != 0;
  for (;;) {
    const Json migrations = reply->value("migrations", Json::array());
    if (std::none_of(migrations.begin(), migrations.end(), MigrationActive)) return 0;
    std::this_thread::sleep_for(std::chrono::seconds(1));
    reply = CallAdmin("mosaic migrate", args.admin, "GET", "/api/v1/migrations", nullptr);
    if (!reply) return 1;
    std::cout << (tty ? "\033[H\033[J" : "\n") << FormatMigrations(*reply, true) << std::flush;
  }
}

int RunMigrateSubmit(const MigrateArgs& args, const std::string& action) {
  std::string text = action;
  if (action.starts_with("@")) {
    std::ifstream file(action.substr(1));
    if (!file) {
      std::cerr << "mosaic migrate submit: cannot read " << action.substr(1) << "\n";
      return 2;
    }
    std::stringstream buffer;
    buffer << file.rdbuf();
    text = buffer.str();
  }
  const Json body = Json::parse(text, nullptr, false);
  if (body.is_discarded()) {
    std::cerr << "mosaic migrate submit: the action is not valid JSON\n";
    return 2;
  }
  return Call(args, "POST", "/api/v1/migrations", &body, Summary);
}

int RunMigrateRequest(const MigrateArgs& args, const std::string& request, const std::string& id) {
  const Json body = Json::object();
  return Call(args, "POST", "/api/v1/migrations/" + id + "/" + request, &body, Summary);
}

}  // namespace mosaic
