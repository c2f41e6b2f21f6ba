// Component state and runtime record decoding, as a restore does it
// (decode_component): the input is tried as the state of every bank
// component type, and as a runtime record (with its timers' messages).

#include "amber/runtime/restore_decoder.hpp"
#include "amber/runtime/runtime_record.hpp"
#include "fuzz_target.hpp"
#include "system.hpp"

using namespace amber;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = fuzz::as_text(data, size);
  auto types = fuzz::bank_types();
  auto& sys = fuzz::system();
  component_record rec;
  rec.name = "fuzzed";
  for (auto& t : types->records()) {
    rec.type_name = t.type_name;
    rec.package = t.package;
    rec.runtime.clear();
    (void) decode_component(*types, sys, rec, bytes); // As a state.
  }
  // As a runtime record, with a state that decodes (an empty bank account).
  rec.runtime.assign(bytes);
  auto account = types->find("bank.account");
  fuzz::fuzz_check(account != nullptr, "the bank registers bank.account");
  rec.type_name = account->type_name;
  rec.package = account->package;
  (void) decode_component(*types, sys, rec, encode(bank::account_state{}));
  runtime_record r;
  if (decode(bytes, &r, "runtime record").is_ok()) {
    runtime_record again;
    fuzz::fuzz_check(decode(encode(r), &again, "runtime record").is_ok(),
                     "a decoded runtime record re-encodes");
  }
  return 0;
}
