// The control endpoint over mutual TLS (plus its token): --tls-ca/--tls-cert/
// --tls-key on run and checkpoint, the peers it refuses, and half configurations refused
// before anything starts (docs/TLS.md).

#include <doctest/doctest.h>

#include <regex>

#include "fixtures.hpp"
#include "support/test_pki.hpp"

using namespace amber::apps_test;

namespace {

std::vector<std::string> tls_args(const amber::tls_settings& tls) {
  return {"--tls-ca", tls.ca_file, "--tls-cert", tls.cert_file, "--tls-key", tls.key_file};
}

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

} // namespace

TEST_CASE("checkpoint reaches a node's control endpoint over mutual TLS, and only with a CA cert") {
  auto& pki = test::pki::get();
  scratch dir;
  std::string store = dir / "s";
  std::string token = dir / "token";
  write_text(token, "0123456789abcdef0123456789abcdef\n");
  child node(with({"run", example("bank-small.toml"), "--store", store, "--control", "127.0.0.1:0",
                   "--control-token-file", token, "--json"},
                  tls_args(pki.settings("server"))));
  auto started = node.wait_for_line([](auto& l) { return contains(l, "\"started\""); });
  REQUIRE_MESSAGE(started, (node.out + node.err));
  auto event = json::parse(*started);
  CHECK(event.at("control_tls") == true);
  std::string control = event.at("control");
  CHECK(std::regex_match(control, std::regex(R"(127\.0\.0\.1:\d+)")));

  auto client = with({"--control-token-file", token}, tls_args(pki.settings("client")));
  auto ok = run_amber(with({"checkpoint", "--control", control}, client));
  REQUIRE_MESSAGE(ok.code == 0, ok.err);
  std::string id = ok.out.substr(0, ok.out.find('\n'));
  CHECK(std::regex_match(id, std::regex("[0-9a-f]{64}")));

  // Plain TCP with the token: the TLS server drops it without an answer.
  auto plain = run_amber({"checkpoint", "--control", control, "--control-token-file", token});
  CHECK(plain.code == 6);
  CHECK(contains(plain.err, "the control endpoint at " + control));

  auto rogue = run_amber(with({"checkpoint", "--control", control, "--control-token-file", token},
                              tls_args(pki.settings("rogue", "wrong-ca"))));
  CHECK(rogue.code == 6);
  CHECK(contains(rogue.err, "cannot reach the control endpoint at " + control));

  // The node kept serving through the refusals.
  auto again = run_amber(with({"checkpoint", "--control", control}, client));
  CHECK_MESSAGE(again.code == 0, again.err);
  node.signal(SIGTERM);
  CHECK(node.wait() == 0);
  CHECK(log_ids(store).size() == 3);
}

TEST_CASE("a half TLS configuration is a usage error, before any node starts") {
  auto& pki = test::pki::get();
  auto ca_only = run_amber({"run", example("bank-small.toml"), "--control", "127.0.0.1:0",
                            "--tls-ca", pki.file("ca.pem")});
  CHECK(ca_only.code == 2);
  CHECK(contains(ca_only.err, "tls: ca '" + pki.file("ca.pem")
                                + "' is set but cert and key are not; mutual TLS needs all three"));
  CHECK(!contains(ca_only.out, "running"));

  auto mismatched = run_amber({"checkpoint", "--control", "127.0.0.1:1", "--tls-ca",
                               pki.file("ca.pem"), "--tls-cert", pki.file("client.pem"),
                               "--tls-key", pki.file("server.key")});
  CHECK(mismatched.code == 2);
  CHECK(contains(mismatched.err, "does not match cert"));

  auto no_control =
    run_amber(with({"run", example("bank-small.toml")}, tls_args(pki.settings("server"))));
  CHECK(no_control.code == 2);
  CHECK(contains(no_control.err, "need --control"));
}

TEST_CASE("without TLS the control endpoint stays on loopback; with TLS it may listen anywhere") {
  auto& pki = test::pki::get();
  scratch dir;
  std::string token = dir / "token";
  write_text(token, "0123456789abcdef0123456789abcdef\n");
  auto plain = run_amber({"run", example("bank-small.toml"), "--control", "0.0.0.0:0",
                          "--control-token-file", token});
  CHECK(plain.code == 2);
  CHECK(contains(plain.err, "only listens on a loopback address"));
  child node(with({"run", example("bank-small.toml"), "--no-store", "--control", "0.0.0.0:0",
                   "--control-token-file", token, "--json"},
                  tls_args(pki.settings("server"))));
  auto started = node.wait_for_line([](auto& l) { return contains(l, "\"started\""); });
  REQUIRE_MESSAGE(started, (node.out + node.err));
  CHECK(json::parse(*started).at("control_tls") == true);
  node.signal(SIGTERM);
  CHECK(node.wait() == 0);
}
