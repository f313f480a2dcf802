#include "main/rebalancer_cli.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <iostream>
#include <thread>

#include "main/admin_client.h"

namespace mosaic {

using Json = nlohmann::json;

namespace {

std::string Clock(const Json& at) {
  if (!at.is_number()) return "-";
  const std::time_t t = static_cast<std::time_t>(at.get<double>());
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string EventLine(const Json& e) {
  std::string decision = JsonText(e.value("decision", Json()));
  const std::string cause = JsonText(e.value("cause", Json()));
  if (!cause.empty()) decision += "(" + cause + ")";
  std::string subject = "cluster";
  const bool tenant = e.contains("tenant") && !e["tenant"].is_null();
  const Json tables = e.value("tables", Json::array());
  if (tenant || !tables.empty()) subject = "tenant " + (tenant ? JsonText(e["tenant"]) : "(implicit)");
  std::string names;
  for (const Json& t : tables) names += (names.empty() ? "" : ",") + JsonText(t);
  if (!names.empty()) subject += " [" + names + "]";
  const int64_t repeats = e.value("repeats", int64_t{1});
  return fmt::format("#{} {} {} {}: {}{}\n", JsonText(e.value("id", Json())), Clock(e.value("at", Json())), decision,
                     subject, JsonText(e.value("reason", Json())),
                     repeats > 1 ? fmt::format(" (x{} rounds, last {})", repeats, Clock(e.value("last_at", Json()))) : "");
}

}  // namespace

std::string FormatEvents(const Json& reply) {
  const Json events = reply.value("events", Json::array());
  if (events.empty()) return "no events\n";
  std::string out;
  for (const Json& e : events) out += EventLine(e);
  return out;
}

std::string FormatRebalancerStatus(const Json& status) {
  std::string out;
  for (const auto& [key, value] : status.items()) out += fmt::format("{}: {}\n", key, value.is_null() ? "-" : JsonText(value));
  return out;
}

int RunEvents(const RebalancerArgs& args) {
  int64_t since = args.since;
  for (bool first = true;; first = false) {
    auto reply = CallAdmin("mosaic events", args.admin, "GET", fmt::format("/api/v1/events?since={}&limit=1000", since), nullptr);
    if (!reply) return 1;
    const Json events = reply->value("events", Json::array());
    if (args.json) {
      if (first || !events.empty()) std::cout << reply->dump(args.follow ? -1 : 2) << std::endl;
    } else if (first || !events.empty()) {
      std::cout << (events.empty() && !args.follow ? FormatEvents(*reply) : events.empty() ? "" : FormatEvents(*reply))
                << std::flush;
    }
    since = reply->value("last_id", since);
    if (!args.follow) return 0;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

int RunRebalancer(const RebalancerArgs& args, const std::string& command) {
  const Json empty = Json::object();
  if (command == "status") {
    auto reply = CallAdmin("mosaic rebalancer", args.admin, "GET", "/api/v1/rebalancer", nullptr);
    if (!reply) return 1;
    std::cout << (args.json ? reply->dump(2) + "\n" : FormatRebalancerStatus(*reply));
    return 0;
  }
  auto reply = CallAdmin("mosaic rebalancer", args.admin, "POST", "/api/v1/rebalancer/" + command, &empty);
  if (!reply) return 1;
  if (args.json) {
    std::cout << reply->dump(2) << "\n";
  } else if (command == "run") {
    std::cout << fmt::format("round {}\n", JsonText(reply->value("round", Json()))) << FormatEvents(*reply);
  } else {
    std::cout << FormatRebalancerStatus(*reply);
  }
  return 0;
}

}  // namespace mosaic
