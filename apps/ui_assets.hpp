#pragma once

// The files of `amber ui`'s page (apps/ui/), compiled into the library by
// apps/ui/embed.cmake: nothing to install or find at run time.
//
// Thread-safety: constant data.

#include <string_view>

namespace amber::cli {

struct ui_asset {
  std::string_view path;         ///< As requested: "/index.html", "/app.js", ...
  std::string_view content_type; ///< With its charset.
  std::string_view body;
};

/// The asset served at `path`, or null.
const ui_asset* find_ui_asset(std::string_view path);

} // namespace amber::cli
