#include "common/log.h"

namespace mosaic::log {
void SetLevel(const std::string& level) {
  auto l = spdlog::level::from_str(level);
  spdlog::set_level(l == spdlog::level::off && level != "off" ? spdlog::level::info : l);
}
}  // namespace mosaic::log
