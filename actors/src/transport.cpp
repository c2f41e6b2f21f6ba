#include "amber/actors/transport.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "tls_error_queue.hpp"

namespace amber {

namespace {

namespace fs = std::filesystem;

// --- OpenSSL handles with owners ------------------------------------------

struct x509_free {
  void operator()(X509* p) const { X509_free(p); }
};
struct pkey_free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct store_free {
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
};
struct store_ctx_free {
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};
struct bio_free {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct stack_free {
  void operator()(STACK_OF(X509) * p) const { sk_X509_pop_free(p, X509_free); }
};
using x509_ptr = std::unique_ptr<X509, x509_free>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using bio_ptr = std::unique_ptr<BIO, bio_free>;

// The reason of OpenSSL's last error on this thread (and clears the queue).
std::string openssl_reason() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0)
    return "no reason given";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

// "tls: cert 'x.pem'".
std::string name(const char* field, const std::string& file) {
  return std::string("tls: ") + field + " '" + file + "'";
}

// Reads a PEM file whole, after checking it is a readable regular file that
// looks like PEM with a block of `kind` (e.g. "CERTIFICATE", "PRIVATE KEY").
result<std::string> read_pem(const char* field, const std::string& file, const char* kind) {
  std::error_code ec;
  auto st = fs::status(file, ec);
  if (ec || !fs::exists(st)) {
    if (ec && ec != std::errc::no_such_file_or_directory)
      return status::io_error(name(field, file) + ": " + ec.message());
    return status::not_found(name(field, file) + ": no such file");
  }
  if (!fs::is_regular_file(st))
    return status::invalid_argument(name(field, file) + ": not a regular file");
  constexpr std::uintmax_t max_size = 1 << 20;
  if (fs::file_size(file, ec) > max_size)
    return status::invalid_argument(name(field, file) + ": larger than 1 MiB, not a PEM file");
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return status::io_error(name(field, file) + ": cannot be read: " + std::strerror(errno));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad())
    return status::io_error(name(field, file) + ": read failed");
  if (text.find("-----BEGIN ") == std::string::npos)
    return status::corruption(name(field, file) + ": not a PEM file (no '-----BEGIN' line)");
  if (text.find(kind) == std::string::npos)
    return status::corruption(name(field, file) + ": holds no " + kind + " block");
  return text;
}

bio_ptr memory_bio(const std::string& text) {
  return bio_ptr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Every certificate in a PEM text, in order.
result<std::vector<x509_ptr>> parse_certs(const char* field, const std::string& file,
                                          const std::string& text) {
  auto bio = memory_bio(text);
  std::vector<x509_ptr> out;
  ERR_clear_error();
  while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
    out.emplace_back(c);
  // The loop ends on "no start line" at the end of the text; anything else
  // is a damaged block.
  unsigned long err = ERR_peek_last_error();
  bool clean_end = err == 0 || (ERR_GET_LIB(err) == ERR_LIB_PEM
                                && ERR_GET_REASON(err) == PEM_R_NO_START_LINE);
  if (!clean_end || out.empty())
    return status::corruption(name(field, file) + ": not a readable PEM certificate ("
                              + openssl_reason() + ")");
  ERR_clear_error();
  return out;
}

// No passphrase prompt on a terminal: an encrypted key is an error.
int no_passphrase(char*, int, int, void*) { return -1; }

result<pkey_ptr> parse_key(const std::string& file, const std::string& text) {
  if (text.find("ENCRYPTED") != std::string::npos)
    return status::invalid_argument(name("key", file)
                                    + ": is encrypted; amber needs an unencrypted key "
                                      "(protect it with file permissions)");
  auto bio = memory_bio(text);
  ERR_clear_error();
  pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key)
    return status::corruption(name("key", file) + ": not a readable PEM private key ("
                              + openssl_reason() + ")");
  return key;
}

status check_half(const tls_settings& tls) {
  struct field {
    const char* name;
    const std::string* file;
  };
  field fields[] = {{"ca", &tls.ca_file}, {"cert", &tls.cert_file}, {"key", &tls.key_file}};
  std::vector<const field*> set, unset;
  for (auto& f : fields)
    (f.file->empty() ? unset : set).push_back(&f);
  if (unset.empty())
    return status::ok();
  std::string text = "tls: ";
  for (size_t i = 0; i < set.size(); ++i)
    text += (i ? " and " : "") + std::string(set[i]->name) + " '" + *set[i]->file + "'";
  text += set.size() == 1 ? " is set but " : " are set but ";
  for (size_t i = 0; i < unset.size(); ++i)
    text += (i ? " and " : "") + std::string(unset[i]->name);
  text += unset.size() == 1 ? " is not" : " are not";
  text += "; mutual TLS needs all three";
  if (set.size() == 1 && !tls.ca_file.empty())
    text += " (CAF aborts the process on a CA file alone)";
  else if (tls.cert_file.empty() || tls.key_file.empty())
    text += " (CAF aborts the process on a certificate or key alone)";
  else
    text += " (without a CA, peers would go unauthenticated)";
  return status::invalid_argument(text);
}

std::string where(const std::string& host, uint16_t port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":"
         + std::to_string(port);
}

status need_openssl(caf::actor_system& sys, const char* what, const std::string& host,
                    uint16_t port) {
  if (sys.has_openssl_manager())
    return status::ok();
  return status::invalid_argument(std::string(what) + " " + where(host, port)
                                  + " over TLS: the actor system has no OpenSSL module "
                                    "(configure_transport with TLS settings loads it)");
}

} // namespace

status check_tls(const tls_settings& tls) {
  if (!tls.enabled())
    return status::ok();
  AMBER_RETURN_IF_ERROR(check_half(tls));
  auto ca_text = read_pem("ca", tls.ca_file, "CERTIFICATE");
  if (!ca_text)
    return ca_text.error();
  auto cert_text = read_pem("cert", tls.cert_file, "CERTIFICATE");
  if (!cert_text)
    return cert_text.error();
  auto key_text = read_pem("key", tls.key_file, "PRIVATE KEY");
  if (!key_text)
    return key_text.error();
  auto cas = parse_certs("ca", tls.ca_file, *ca_text);
  if (!cas)
    return cas.error();
  auto chain = parse_certs("cert", tls.cert_file, *cert_text);
  if (!chain)
    return chain.error();
  auto key = parse_key(tls.key_file, *key_text);
  if (!key)
    return key.error();
  X509* leaf = chain->front().get();
  if (X509_check_private_key(leaf, key->get()) != 1) {
    ERR_clear_error();
    return status::invalid_argument(name("key", tls.key_file) + " does not match "
                                    + name("cert", tls.cert_file).substr(5));
  }
  // Verify the certificate (with any intermediates after it in its file)
  // against the CA file alone, as the peers will.
  std::unique_ptr<X509_STORE, store_free> store(X509_STORE_new());
  std::unique_ptr<STACK_OF(X509), stack_free> untrusted(sk_X509_new_null());
  std::unique_ptr<X509_STORE_CTX, store_ctx_free> ctx(X509_STORE_CTX_new());
  if (!store || !untrusted || !ctx)
    return status(errc::internal, "tls: out of memory checking certificates");
  for (auto& ca : *cas)
    if (X509_STORE_add_cert(store.get(), ca.get()) != 1)
      ERR_clear_error(); // a duplicate certificate in the CA file
  for (size_t i = 1; i < chain->size(); ++i) {
    if (sk_X509_push(untrusted.get(), (*chain)[i].get()) == 0)
      return status(errc::internal, "tls: out of memory checking certificates");
    X509_up_ref((*chain)[i].get());
  }
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()) != 1)
    return status(errc::internal, "tls: cannot check certificates: " + openssl_reason());
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return status::invalid_argument(name("cert", tls.cert_file) + " is not accepted by "
                                    + name("ca", tls.ca_file).substr(5) + ": "
                                    + X509_verify_cert_error_string(err));
  }
  return status::ok();
}

status configure_transport(caf::actor_system_config& cfg, const transport_settings& ts) {
  AMBER_RETURN_IF_ERROR(check_tls(ts.tls));
  if (ts.heartbeat.count() < 0 || ts.connection_timeout.count() < 0)
    return status::invalid_argument("transport: heartbeat and connection timeout must not be "
                                    "negative");
  if (ts.connection_timeout.count() > 0
      && (ts.heartbeat.count() == 0 || ts.connection_timeout <= ts.heartbeat))
    return status::invalid_argument(
      "transport: a connection timeout of " + std::to_string(ts.connection_timeout.count())
      + " ms needs heartbeats more often than that (heartbeat: "
      + std::to_string(ts.heartbeat.count()) + " ms; CAF ignores the timeout without them)");
  cfg.load<caf::io::middleman>();
  // CAF 0.17 spells them middleman.heartbeat-interval and
  // middleman.connection-timeout (timespans). set() prints to stderr and
  // keeps the default on a wrong name or type: read them back.
  auto heartbeat = caf::timespan{ts.heartbeat};
  auto timeout = caf::timespan{ts.connection_timeout};
  cfg.set("middleman.heartbeat-interval", heartbeat);
  cfg.set("middleman.connection-timeout", timeout);
  if (caf::get_or(cfg, "middleman.heartbeat-interval", caf::timespan{-1}) != heartbeat
      || caf::get_or(cfg, "middleman.connection-timeout", caf::timespan{-1}) != timeout)
    return status(errc::internal, "transport: CAF did not take the middleman's heartbeat "
                                  "options");
  if (ts.tls.enabled()) {
    // Without the error-queue guard one failed TLS connection makes CAF close
    // the process's other TLS connections (tls_error_queue.cpp): refuse.
    if (auto problem = detail::tls_guard_problem())
      return status(errc::internal, std::string("transport: TLS is unsafe with CAF 0.17 here: ")
                                      + problem);
    // The OpenSSL module reads the config's fields; set() stores to them
    // through the "openssl" option group. Both, so that neither path is lost.
    cfg.set("openssl.certificate", ts.tls.cert_file);
    cfg.set("openssl.key", ts.tls.key_file);
    cfg.set("openssl.cafile", ts.tls.ca_file);
    cfg.openssl_certificate = ts.tls.cert_file;
    cfg.openssl_key = ts.tls.key_file;
    cfg.openssl_cafile = ts.tls.ca_file;
    cfg.load<caf::openssl::manager>();
  }
  return status::ok();
}

result<uint16_t> publish_actor(caf::actor_system& sys, const caf::actor& a,
                               const std::string& host, uint16_t port, bool tls,
                               bool reuse_address) {
  if (!a)
    return status::invalid_argument("cannot publish an invalid actor on " + where(host, port));
  caf::expected<uint16_t> bound{uint16_t{0}};
  if (tls) {
    AMBER_RETURN_IF_ERROR(need_openssl(sys, "cannot publish on", host, port));
    bound = caf::openssl::publish(a, port, host.c_str(), reuse_address);
  } else {
    bound = sys.middleman().publish(a, port, host.c_str(), reuse_address);
  }
  if (!bound)
    return status::io_error("cannot publish on " + where(host, port) + (tls ? " (TLS)" : "")
                            + ": " + sys.render(bound.error()));
  return *bound;
}

result<caf::actor> connect_actor(caf::actor_system& sys, const std::string& host,
                                 uint16_t port, bool tls, std::chrono::milliseconds timeout) {
  // caf::io::middleman::remote_actor and caf::openssl::remote_actor wait
  // without a limit, and a listener that accepts but never answers (a frozen
  // process) holds them forever: ask the same middleman actor, with a timeout.
  caf::io::middleman_actor mm;
  if (tls) {
    AMBER_RETURN_IF_ERROR(need_openssl(sys, "cannot connect to", host, port));
    mm = sys.openssl_manager().actor_handle();
  } else {
    mm = sys.middleman().actor_handle();
  }
  auto what = "cannot connect to " + where(host, port) + (tls ? " (TLS)" : "");
  result<caf::actor> out = status(errc::internal, what + ": no answer from the middleman");
  caf::scoped_actor self{sys};
  self->request(mm, timeout, caf::connect_atom::value, host, port)
    .receive(
      [&](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>& ifs) {
        if (!ptr)
          out = status::io_error(what + ": no actor is published there");
        else if (!ifs.empty())
          out = status::invalid_argument(what + ": the actor published there is typed");
        else
          out = caf::actor_cast<caf::actor>(std::move(ptr));
      },
      [&](caf::error& err) {
        if (err == caf::sec::request_timeout)
          out = status(errc::timeout, what + ": no handshake within "
                                        + std::to_string(timeout.count()) + " ms");
        else
          out = status::io_error(what + ": " + sys.render(err));
      });
  return out;
}

} // namespace amber
