#include "amber/runtime/message_codec.hpp"

#include <cmath>
#include <vector>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/deserializer.hpp>
#include <caf/serializer.hpp>
#include <caf/sec.hpp>
#include <caf/uniform_type_info_map.hpp>

namespace amber {

namespace {

// CAF's binary_deserializer with every sequence length checked against the
// bytes left. CAF resizes a byte sequence (std::vector<char>, ...) and a
// std::vector<bool> to their stored length before it reads them, and loops
// over other sequences for as many elements as claimed: without this a few
// bytes claiming 2^60 elements allocate until the process dies. An element
// takes at least one bit (std::vector<bool> packs eight to a byte), so a
// sound sequence of n elements has at least n / 8 bytes left. Strings are
// range-checked by CAF itself. binary_deserializer is final: this wraps it.
class bounded_deserializer final : public caf::deserializer {
public:
  bounded_deserializer(caf::actor_system& sys, std::string_view bytes)
    : caf::deserializer(sys), inner_(sys, bytes.data(), bytes.size()) {}

  size_t remaining() const noexcept { return inner_.remaining(); }

  /// The last element type named (not numbered) in the bytes: a type the
  /// sender registered, which this program may not.
  const std::string& named_type() const noexcept { return named_type_; }

  caf::error begin_object(uint16_t& typenr, std::string& name) override {
    auto err = inner_.begin_object(typenr, name);
    if (!err && typenr == 0)
      named_type_ = name;
    return err;
  }
  caf::error end_object() override { return inner_.end_object(); }
  caf::error begin_sequence(size_t& num) override {
    if (auto err = inner_.begin_sequence(num))
      return err;
    if (num / 8 > inner_.remaining())
      return caf::make_error(caf::sec::end_of_stream);
    return caf::none;
  }
  caf::error end_sequence() override { return inner_.end_sequence(); }
  caf::error apply_raw(size_t num_bytes, void* data) override {
    return inner_.apply_raw(num_bytes, data);
  }

protected:
  caf::error apply_impl(int8_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(uint8_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(int16_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(uint16_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(int32_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(uint32_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(int64_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(uint64_t& x) override { return inner_.apply(x); }
  // CAF's encoder never writes an infinity (see guarded_serializer): one
  // read here is damage, and re-encoding it would hang.
  caf::error apply_impl(float& x) override { return read_finite(x); }
  caf::error apply_impl(double& x) override { return read_finite(x); }
  caf::error apply_impl(long double& x) override { return inner_.apply(x); }
  caf::error apply_impl(std::string& x) override { return inner_.apply(x); }
  caf::error apply_impl(std::u16string& x) override { return inner_.apply(x); }
  caf::error apply_impl(std::u32string& x) override { return inner_.apply(x); }

private:
  template <class T>
  caf::error read_finite(T& x) {
    if (auto err = inner_.apply(x))
      return err;
    if (std::isinf(x))
      return caf::make_error(caf::sec::invalid_argument);
    return caf::none;
  }

  caf::binary_deserializer inner_;
  std::string named_type_;
};

// CAF's binary serializer, refusing infinite floats and doubles: CAF 0.17
// packs them with a loop (detail::pack754) that never ends on an infinity,
// so recording a message that holds one hung the checkpoint for good.
// serializer_impl is final: this wraps it.
class guarded_serializer final : public caf::serializer {
public:
  guarded_serializer(caf::actor_system& sys, std::vector<char>& buf)
    : caf::serializer(sys), inner_(sys, buf) {}

  /// True when a save failed on an infinity.
  bool refused_infinity() const noexcept { return refused_infinity_; }

  caf::error begin_object(uint16_t& typenr, std::string& name) override {
    return inner_.begin_object(typenr, name);
  }
  caf::error end_object() override { return inner_.end_object(); }
  caf::error begin_sequence(size_t& num) override { return inner_.begin_sequence(num); }
  caf::error end_sequence() override { return inner_.end_sequence(); }
  caf::error apply_raw(size_t num_bytes, void* data) override {
    return inner_.apply_raw(num_bytes, data);
  }

protected:
  caf::error apply_impl(int8_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(uint8_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(int16_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(uint16_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(int32_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(uint32_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(int64_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(uint64_t& x) override { return inner_.apply(x); }
  caf::error apply_impl(float& x) override { return finite(x) ? inner_.apply(x) : refuse(); }
  caf::error apply_impl(double& x) override { return finite(x) ? inner_.apply(x) : refuse(); }
  caf::error apply_impl(long double& x) override { return inner_.apply(x); }
  caf::error apply_impl(std::string& x) override { return inner_.apply(x); }
  caf::error apply_impl(std::u16string& x) override { return inner_.apply(x); }
  caf::error apply_impl(std::u32string& x) override { return inner_.apply(x); }

private:
  template <class T>
  static bool finite(T x) {
    return !std::isinf(x);
  }
  caf::error refuse() {
    refused_infinity_ = true;
    return caf::make_error(caf::sec::invalid_argument);
  }

  caf::binary_serializer inner_;
  bool refused_infinity_ = false;
};

} // namespace

result<std::string> encode_message(caf::actor_system& sys, const caf::message& msg) {
  std::vector<char> buf;
  guarded_serializer sink{sys, buf};
  if (auto err = msg.save(sink)) {
    if (sink.refused_infinity())
      return status::invalid_argument("cannot record message " + caf::to_string(msg)
                                      + ": it holds an infinite float or double, which CAF "
                                        "0.17's serializer cannot write");
    return status(errc::unknown_type, "cannot serialize message " + caf::to_string(msg)
                                        + ": " + sys.render(err)
                                        + " (is every type in it registered?)");
  }
  return std::string(buf.begin(), buf.end());
}

result<caf::message> decode_message(caf::actor_system& sys, std::string_view bytes) {
  bounded_deserializer source{sys, bytes};
  caf::message msg;
  if (auto err = msg.load(source)) {
    // A named type this program lacks; an unknown type number is garbage.
    if (err == caf::sec::unknown_type && !source.named_type().empty()
        && !sys.types().make_value(source.named_type()))
      return status(errc::unknown_type, "a recorded message holds type '" + source.named_type()
                                          + "', which this program does not register");
    return status::corruption("a recorded message does not decode: " + sys.render(err));
  }
  if (source.remaining() != 0)
    return status::corruption("a recorded message has " + std::to_string(source.remaining())
                              + " trailing bytes");
  return msg;
}

} // namespace amber
