// Storage profiles from the TOML config: the [profiles.NAME] tables and the [tenant_profiles]
// table of the config file, read through the same validator as the JSON API (profile.h).
//
// Kept apart from profile.h so that only the config reader pulls in toml++.
#pragma once

#include <toml++/toml.h>

#include "advisor/profile.h"

namespace mosaic::advisor {

// Reads `root`'s "profiles" and "tenant_profiles" tables (both optional) into a ProfileSet.
// Fails with F0000 (config_file_error) and the JSON validator's message naming the field
// ("profiles.whale.degree: must be ..."); TOML dates and times are refused as values.
Result<ProfileSet> ReadProfilesToml(const toml::table& root);

}  // namespace mosaic::advisor
