#pragma once

// Test certificates made with the `openssl` command line (scripts/install-deps.sh
// installs it): a CA, a second ("wrong") CA, and leaf certificates with
// unencrypted EC keys. Made once per test process in a temp dir.
//
//   ca.pem        CA            wrong-ca.pem   the other CA
//   server.pem/.key  signed by ca     client.pem/.key  signed by ca
//   rogue.pem/.key   signed by wrong-ca
//   elsewhere.pem/.key  signed by ca, naming only DNS:elsewhere.example
//   garbage.pem   text that is not PEM

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

#include "amber/checkpoint/cluster_spec.hpp"
#include "support/temp_dir.hpp"

namespace test {

class pki {
public:
  /// The process's certificates. Throws std::runtime_error when `openssl` fails.
  static const pki& get() {
    static pki instance;
    return instance;
  }

  std::string file(const std::string& name) const { return (dir_.path() / name).string(); }

  /// `ca`.pem + `who`.pem + `who`.key.
  amber::tls_settings settings(const std::string& who, const std::string& ca = "ca") const {
    return {file(ca + ".pem"), file(who + ".pem"), file(who + ".key")};
  }

private:
  pki() {
    std::filesystem::create_directories(dir_.path());
    make_ca("ca");
    make_ca("wrong-ca");
    make_leaf("server", "ca", 1);
    make_leaf("client", "ca", 2);
    make_leaf("rogue", "wrong-ca", 3);
    make_leaf("elsewhere", "ca", 4, "DNS:elsewhere.example");
    std::ofstream(file("garbage.pem")) << "this is not a certificate\n";
  }

  void run(const std::string& cmd) const {
    std::string full = "cd '" + dir_.str() + "' && " + cmd + " >>openssl.log 2>&1";
    if (std::system(full.c_str()) != 0)
      throw std::runtime_error("test certificates: failed: " + full);
  }
  void make_ca(const std::string& ca) const {
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + ca
        + ".key -out " + ca + ".pem -days 2 -subj /CN=amber-test-" + ca);
  }
  void make_leaf(const std::string& who, const std::string& ca, int serial,
                 const std::string& names = "IP:127.0.0.1,DNS:localhost") const {
    std::ofstream(file(who + ".ext")) << "subjectAltName=" << names
                                      << "\nextendedKeyUsage=serverAuth,clientAuth\n";
    run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + who
        + ".key -out " + who + ".csr -subj /CN=" + who);
    run("openssl x509 -req -in " + who + ".csr -CA " + ca + ".pem -CAkey " + ca
        + ".key -set_serial " + std::to_string(serial) + " -days 2 -extfile " + who
        + ".ext -out " + who + ".pem");
  }

  temp_dir dir_{"amber-test-pki"};
};

} // namespace test
