// Logging: thin alias over spdlog so every module logs the same way.
// Logging on the data path is for errors and rare events only.
#pragma once

#include <spdlog/spdlog.h>

namespace mosaic::log {
using spdlog::debug;
using spdlog::error;
using spdlog::info;
using spdlog::warn;
// Sets the global level from a name: trace, debug, info, warn, error. Unknown names keep info.
void SetLevel(const std::string& level);
}  // namespace mosaic::log
