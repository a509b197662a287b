// libFuzzer target over the training-checkpoint loader: load_checkpoint and
// load_checkpoint_weights into the small model of fuzz_model.h, then the metadata helpers.
// Besides "no crash, no sanitizer finding, no exception other than tinydiff::Error":
//   - a rejected file changes nothing (model, optimizer and EMA bytes are unchanged);
//   - an accepted file leaves every parameter with its shape and dtype, returns no
//     "tinydiff." metadata, and the restored state can take a training step;
//   - error messages name the op.
#include <cstdint>
#include <string>

#include "fuzz/fuzz_io.h"
#include "fuzz/fuzz_model.h"
#include "nn/checkpoint.h"
#include "tensor/error.h"

using namespace tinydiff;

namespace {

void check_message(const std::string& message) {
  if (message.rfind("load_checkpoint: ", 0) != 0 && message.rfind("load_checkpoint_weights: ", 0) != 0 &&
      message.rfind("load_safetensors: ", 0) != 0)
    fuzz::fail("message lacks the op: " + message);
}

// Shapes and dtypes of the parameters, e.g. "embed.weight(4, 3)float32;...".
std::string layout(const Module& m) {
  std::string out;
  for (const auto& [name, p] : m.named_parameters())
    out += name + shape_str(p.shape()) + dtype_name(p.value().dtype()) + ";";
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::MemFile file;
  file.write(data, size);
  const std::string& path = file.path();

  fuzz::FuzzTrainingState s;
  const std::string before = s.snapshot();
  const std::string expected_layout = layout(s.model);
  try {
    const auto meta = load_checkpoint(path, s.model, &s.optimizer, &s.ema);
    if (layout(s.model) != expected_layout) fuzz::fail("load_checkpoint changed a parameter's shape or dtype");
    for (const auto& [key, value] : meta)
      if (key.rfind("tinydiff.", 0) == 0) fuzz::fail("load_checkpoint returned reserved key " + key);
    // The restored state must be usable: one optimizer step and one EMA update.
    for (auto& [name, p] : s.model.named_parameters())
      Variable(p).set_grad(Tensor::full(p.shape(), 0.5, p.value().dtype()));
    try {
      s.optimizer.step();
      s.ema.update();
    } catch (const Error& e) {
      check_message(e.what());  // (a restored state should never need this)
      fuzz::fail(std::string("a loaded checkpoint cannot take a step: ") + e.what());
    }
    try {
      (void)metadata_int(meta, "step");
    } catch (const Error&) {
    }
    try {
      if (meta.count("rng") != 0) (void)parse_generator_state(meta.at("rng"));
    } catch (const Error&) {
    }
  } catch (const Error& e) {
    check_message(e.what());
    if (s.snapshot() != before) fuzz::fail(std::string("a rejected checkpoint changed the state: ") + e.what());
  }

  for (const bool use_ema : {true, false}) {
    fuzz::FuzzModel model;
    try {
      load_checkpoint_weights(path, model, use_ema);
      if (layout(model) != expected_layout) fuzz::fail("load_checkpoint_weights changed a shape or dtype");
    } catch (const Error& e) {
      check_message(e.what());
    }
  }
  return 0;
}
