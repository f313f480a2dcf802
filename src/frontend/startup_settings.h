// Startup settings: the parameters of a client's StartupMessage that are settings (as opposed
// to connection properties such as user and database, or `_pq_.` protocol options), and which
// of them a node must vet before the client is admitted.
//
// PostgreSQL refuses a bad setting at startup with FATAL (22023, 42704, ...). Mosaic replays a
// client's settings on pooled server connections, so it has a node try them first, except for
// the ones drivers send with values every node accepts: ordinary connects pay nothing. The
// functions here only decide; they never talk to a node and never block (IsUsualStartupSetting
// looks a time zone name up in the system time zone database, a stat()).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/codec.h"

namespace mosaic::frontend {

// "_pq_.name": asks for a protocol feature (Mosaic knows none); never a setting.
bool IsProtocolOption(std::string_view name);

// The settings of a StartupMessage in the order given: every parameter that is not a connection
// property or protocol option, then the "-c name=value" / "--name=value" words of `options`.
std::vector<std::pair<std::string, std::string>> StartupSettings(const protocol::StartupPacket& packet);

// Whether `value` of setting `name` is one drivers send that every node accepts (application_name,
// client_encoding UTF8, DateStyle ISO, TimeZone of the time zone database, extra_float_digits,
// a search_path of plain names): no node needs to vet it.
bool IsUsualStartupSetting(std::string_view name, std::string_view value);

}  // namespace mosaic::frontend
