#include "amber/runtime/error.hpp"

#include <caf/actor_system.hpp>
#include <caf/sec.hpp>

namespace amber {

caf::error to_caf_error(const status& st) {
  if (st.is_ok())
    return caf::none;
  return caf::error(static_cast<uint8_t>(st.code()), error_category,
                    caf::make_message(st.message()));
}

status from_caf_error(const caf::actor_system& sys, const caf::error& err) {
  if (!err)
    return status::ok();
  if (err.category() == error_category) {
    std::string text;
    if (err.context().match_elements<std::string>())
      text = err.context().get_as<std::string>(0);
    return status(static_cast<errc>(err.code()), std::move(text));
  }
  if (err == caf::sec::request_timeout)
    return status(errc::timeout, "an actor did not answer in time");
  return status(errc::aborted, sys.render(err));
}

void add_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(error_category, [](uint8_t code, caf::atom_value,
                                            const caf::message& ctx) -> std::string {
    std::string text = to_string(static_cast<errc>(code));
    if (ctx.match_elements<std::string>())
      text += ": " + ctx.get_as<std::string>(0);
    return text;
  });
}

} // namespace amber
