#include "amber/storage/status.hpp"

#include <doctest/doctest.h>

TEST_CASE("an ok status has no message and converts to true") {
  amber::status st;
  CHECK(st.is_ok());
  CHECK(static_cast<bool>(st));
  CHECK(st.to_string() == "ok");
}
