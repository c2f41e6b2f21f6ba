// Issue 11: message types registered through the registry and checked when
// a component is spawned; unexpected messages reported on stderr.

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <doctest/doctest.h>

#include "amber/runtime/node.hpp"
#include "support/temp_dir.hpp"
#include "support/test_components.hpp"

using namespace amber;

namespace {

struct order {
  std::string item;
  int64_t qty = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, order& x) {
  return f(caf::meta::type_name("test.order"), x.item, x.qty);
}

struct receipt {
  int64_t id = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, receipt& x) {
  return f(caf::meta::type_name("test.receipt"), x.id);
}

struct desk_state {
  int64_t orders = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & orders;
  }
};

/// Takes orders: declares `order` among its message types.
class desk : public component<desk_state> {
public:
  static constexpr const char* type_name = "test.desk";
  static package_ref package() { return {"testpkg", "1.0.0"}; }
  using message_types = message_list<order>;
  using component::component;
  caf::behavior make_behavior() override {
    return {[this](const order& o) { state().orders += o.qty; }};
  }
};

std::shared_ptr<registry> desk_registry(bool with_message) {
  auto reg = std::make_shared<registry>();
  REQUIRE(reg->add<desk>().is_ok());
  if (with_message)
    REQUIRE(reg->add_message_type<order>("test.order").is_ok());
  return reg;
}

// Everything written to file descriptor `fd` while alive goes to a file.
class capture_fd {
public:
  explicit capture_fd(int fd) : fd_(fd), path_((dir_.path() / "out").string()) {
    std::filesystem::create_directories(dir_.path());
    std::fflush(nullptr);
    saved_ = ::dup(fd_);
    auto* f = std::fopen(path_.c_str(), "w");
    ::dup2(::fileno(f), fd_);
    std::fclose(f);
  }
  ~capture_fd() { restore(); }
  std::string text() {
    restore();
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

private:
  void restore() {
    if (saved_ < 0)
      return;
    std::fflush(nullptr);
    ::dup2(saved_, fd_);
    ::close(saved_);
    saved_ = -1;
  }
  test::temp_dir dir_;
  int fd_;
  std::string path_;
  int saved_ = -1;
};

} // namespace

TEST_CASE("a component whose declared message type is not registered fails at spawn, by name") {
  node n(desk_registry(false), {});
  auto r = n.spawn("test.desk", "d");
  REQUIRE(!r);
  CHECK(r.error().code() == errc::unknown_type);
  CHECK(r.error().message().find("component type 'test.desk' declares message type") == 0);
  CHECK(r.error().message().find("order") != std::string::npos);
  CHECK(r.error().message().find("add_message_type") != std::string::npos);
  // A graph is refused whole, naming the instance.
  auto st = n.install({"g", {{"d2", "test.desk", {}}}, {}});
  CHECK(st.code() == errc::unknown_type);
  CHECK(st.message().find("instance 'd2'") != std::string::npos);
  CHECK(n.components().empty());
}

TEST_CASE("a message type registered in the registry or in configure makes it spawnable") {
  {
    node n(desk_registry(true), {});
    auto d = n.spawn("test.desk", "d");
    REQUIRE(d.ok());
    CHECK(n.system().config().type_names_by_rtti.count(typeid(order)) == 1);
  }
  node_options opts;
  opts.configure = [](caf::actor_system_config& cfg) {
    cfg.add_message_type<order>("test.order");
  };
  node n(desk_registry(false), opts);
  CHECK(n.spawn("test.desk", "d").ok());
}

TEST_CASE("the registry refuses a message type or name registered twice") {
  registry reg;
  REQUIRE(reg.add_message_type<order>("test.order").is_ok());
  auto again = reg.add_message_type<order>("test.order2");
  CHECK(again.code() == errc::invalid_argument);
  CHECK(again.message().find("registered twice") != std::string::npos);
  CHECK(reg.add_message_type<receipt>("test.order").code() == errc::invalid_argument);
  CHECK(reg.add_message_type<order>("").code() == errc::invalid_argument);
  CHECK(reg.message_types().size() == 1);
}

TEST_CASE("an unexpected message is reported on stderr, never on stdout") {
  node n(test::make_registry(), {});
  auto c = n.spawn("test.counter", "c");
  REQUIRE(c.ok());
  std::string out, err;
  {
    capture_fd capture_out(STDOUT_FILENO);
    capture_fd capture_err(STDERR_FILENO);
    caf::anon_send(c->handle, std::string("nobody handles this"));
    // A request after it: its answer means the first was processed.
    caf::scoped_actor self{n.system()};
    int64_t count = -1;
    self->request(c->handle, std::chrono::seconds(5), test::get_atom::value)
      .receive([&](int64_t v) { count = v; }, [](caf::error&) {});
    CHECK(count == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(50)); // CAF's printer is async
    out = capture_out.text();
    err = capture_err.text();
  }
  CHECK(out.find("unexpected") == std::string::npos);
  CHECK(out.empty());
  CHECK(err.find("component 'c' (test.counter) has no handler for") != std::string::npos);
  CHECK(err.find("nobody handles this") != std::string::npos);
}
