#include "amber/storage/status.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

using amber::errc;
using amber::result;
using amber::status;

TEST_CASE("an ok status has no message and converts to true") {
  amber::status st;
  CHECK(st.is_ok());
  CHECK(static_cast<bool>(st));
  CHECK(st.to_string() == "ok");
  CHECK(st.code() == errc::ok);
  CHECK(st.message().empty());
  CHECK_FALSE(st.is_not_found());
  CHECK(status::ok() == st);
}

TEST_CASE("each named constructor sets its code and keeps the message") {
  CHECK(status::not_found("a").code() == errc::not_found);
  CHECK(status::corruption("b").code() == errc::corruption);
  CHECK(status::io_error("c").code() == errc::io_error);
  CHECK(status::invalid_argument("d").code() == errc::invalid_argument);
  CHECK(status::not_found("ref x does not exist").message() == "ref x does not exist");
  CHECK(status::not_found("x").is_not_found());
  CHECK_FALSE(status::corruption("x").is_not_found());
}

TEST_CASE("a failed status converts to false and prints its code and message") {
  status st(errc::conflict, "ref main moved");
  CHECK_FALSE(st.is_ok());
  CHECK_FALSE(static_cast<bool>(st));
  CHECK(st.to_string() == "conflict: ref main moved");
  CHECK(status(errc::busy, "").to_string() == "busy");
}

TEST_CASE("every error code has a distinct short name") {
  const std::vector<std::pair<errc, std::string>> names = {
    {errc::ok, "ok"},
    {errc::not_found, "not_found"},
    {errc::corruption, "corruption"},
    {errc::io_error, "io_error"},
    {errc::invalid_argument, "invalid_argument"},
    {errc::not_a_store, "not_a_store"},
    {errc::format_mismatch, "format_mismatch"},
    {errc::unknown_type, "unknown_type"},
    {errc::version_mismatch, "version_mismatch"},
    {errc::config_mismatch, "config_mismatch"},
    {errc::not_quiescent, "not_quiescent"},
    {errc::conflict, "conflict"},
    {errc::busy, "busy"},
    {errc::timeout, "timeout"},
    {errc::aborted, "aborted"},
    {errc::internal, "internal"},
  };
  std::set<std::string> seen;
  for (auto& entry : names) {
    // Not a structured binding: CAPTURE's lambda cannot name one before C++20.
    auto code = entry.first;
    const std::string name = entry.second;
    CAPTURE(name);
    CHECK(std::string(amber::to_string(code)) == name);
    seen.insert(amber::to_string(code));
  }
  CHECK(seen.size() == names.size());
  CHECK(std::string(amber::to_string(static_cast<errc>(200))) == "unknown_error");
}

TEST_CASE("error code values are stable because they cross process borders") {
  CHECK(static_cast<int>(errc::ok) == 0);
  CHECK(static_cast<int>(errc::not_found) == 1);
  CHECK(static_cast<int>(errc::corruption) == 2);
  CHECK(static_cast<int>(errc::io_error) == 3);
  CHECK(static_cast<int>(errc::not_a_store) == 5);
  CHECK(static_cast<int>(errc::conflict) == 11);
  CHECK(static_cast<int>(errc::busy) == 12);
  CHECK(static_cast<int>(errc::internal) == 15);
}

TEST_CASE("with_context prefixes the message and keeps the code") {
  status st = status::not_found("blob 00 does not exist").with_context("restoring bank");
  CHECK(st.code() == errc::not_found);
  CHECK(st.message() == "restoring bank: blob 00 does not exist");
  CHECK(st.to_string() == "not_found: restoring bank: blob 00 does not exist");
}

TEST_CASE("with_context leaves an ok status ok and without a message") {
  status st = status::ok().with_context("anything");
  CHECK(st.is_ok());
  CHECK(st.message().empty());
}

TEST_CASE("statuses compare equal only when code and message both match") {
  CHECK(status::not_found("a") == status::not_found("a"));
  CHECK_FALSE(status::not_found("a") == status::not_found("b"));
  CHECK_FALSE(status::not_found("a") == status::corruption("a"));
}

TEST_CASE("a result built from a value is ok and hands the value out") {
  result<int> r = 42;
  CHECK(r.ok());
  CHECK(static_cast<bool>(r));
  CHECK(r.value() == 42);
  CHECK(*r == 42);
  CHECK(r.error().is_ok());
  *r = 7;
  CHECK(r.value() == 7);

  result<std::string> s = std::string("hello");
  CHECK(s->size() == 5);
  std::string moved = std::move(s).value();
  CHECK(moved == "hello");
}

TEST_CASE("a result built from an error status carries that status and no value") {
  result<int> r = status::corruption("bad bytes");
  CHECK_FALSE(r.ok());
  CHECK_FALSE(static_cast<bool>(r));
  CHECK(r.error().code() == errc::corruption);
  CHECK(r.error().message() == "bad bytes");
}

TEST_CASE("a result built from an ok status becomes an internal error") {
  result<int> r = status::ok();
  CHECK_FALSE(r.ok());
  CHECK(r.error().code() == errc::internal);
  CHECK_FALSE(r.error().message().empty());
}

TEST_CASE("a result can hold a move-only value") {
  result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  REQUIRE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  REQUIRE(p != nullptr);
  CHECK(*p == 5);
}

namespace {

int calls = 0;

status fail_with(errc code) {
  ++calls;
  if (code == errc::ok)
    return status::ok();
  return status(code, "step failed");
}

status two_steps(errc first, errc second) {
  AMBER_RETURN_IF_ERROR(fail_with(first));
  AMBER_RETURN_IF_ERROR(fail_with(second));
  return status(errc::aborted, "reached the end");
}

} // namespace

TEST_CASE("AMBER_RETURN_IF_ERROR returns the first error and skips what follows") {
  calls = 0;
  status st = two_steps(errc::io_error, errc::busy);
  CHECK(st.code() == errc::io_error);
  CHECK(calls == 1);

  calls = 0;
  st = two_steps(errc::ok, errc::busy);
  CHECK(st.code() == errc::busy);
  CHECK(calls == 2);

  calls = 0;
  st = two_steps(errc::ok, errc::ok);
  CHECK(st.code() == errc::aborted);
  CHECK(calls == 2);
}

TEST_CASE("AMBER_RETURN_IF_ERROR works in a function returning a result") {
  auto f = [](errc code) -> result<int> {
    AMBER_RETURN_IF_ERROR(fail_with(code));
    return 9;
  };
  CHECK(f(errc::ok).value() == 9);
  auto r = f(errc::timeout);
  CHECK_FALSE(r.ok());
  CHECK(r.error().code() == errc::timeout);
}
