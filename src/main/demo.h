// The demo's sample data: a small multi-tenant SaaS schema (tenants, users, orders) created
// through Mosaic itself, as a client would, so the demo exercises the whole data path.
#pragma once

#include "common/config.h"
#include "common/status.h"
#include "main/app.h"

namespace mosaic {

// Creates the sample schema and rows if they are not there yet, then prints how to connect.
Status LoadDemoData(const App& app, const Config& config);

}  // namespace mosaic
