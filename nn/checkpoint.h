/// \file
/// \brief Training checkpoints: model, EMA and optimizer state plus metadata strings in one safetensors file.
///
/// A checkpoint is a single safetensors file (see safetensors.h), written atomically, that
/// holds everything needed to resume training exactly:
///
///     model.<name>         the model's parameters (state_dict names, e.g. model.conv_in.weight)
///     ema.<name>           the EMA weights, when an EMA is given
///     optim.step, optim.<name>.exp_avg, ...   the optimizer state (Optimizer::state_tensors)
///     __metadata__         the caller's strings (configuration, step, RNG states, data
///                          position, tokenizer vocabulary, ...) plus tinydiff's own keys
///                          "tinydiff.format" and "tinydiff.ema_num_updates"
///
/// Because the file is plain safetensors, `tools/safetensors_np.py --check ckpt.safetensors`
/// lists it, and the "model." or "ema." tensors load into PyTorch by stripping the prefix.
///
/// `load_checkpoint` validates the file format, then checks every name and shape against
/// the model, the EMA and the optimizer *before changing any of them*; one Error lists every
/// problem (prefixed "model:", "ema:", "optim:", "file:"). The learning-rate schedule needs
/// no state (scheduled_lr is a pure function of the step).
///
/// Metadata values are strings; the helpers below encode a Generator's state and parse
/// integers with checks.
///
/// Usage:
/// \code
///   std::map<std::string, std::string> meta = {{"step", std::to_string(step)},
///                                               {"rng", format_generator_state(gen.state())},
///                                               {"config", config_json}};
///   save_checkpoint("run/ckpt.safetensors", model, &opt, &ema, meta);
///   ...
///   auto meta2 = load_checkpoint("run/ckpt.safetensors", model, &opt, &ema);
///   step = metadata_int(meta2, "step");
///   gen.set_state(parse_generator_state(meta2.at("rng")));
/// \endcode
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "nn/ema.h"
#include "nn/module.h"
#include "nn/optim.h"
#include "tensor/random.h"

namespace tinydiff {

/// The metadata key naming a training checkpoint's format (its value: kCheckpointFormat).
inline constexpr const char* kCheckpointFormatKey = "tinydiff.format";
/// The value of the "tinydiff.format" metadata key of a training checkpoint.
inline constexpr const char* kCheckpointFormat = "tinydiff-checkpoint-v1";

/// Writes `model`'s parameters, and the state of `optimizer` and `ema` when not null, with
/// `metadata`, atomically to `path`. Keys starting with "tinydiff." are reserved (Error).
void save_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer, const EMA* ema,
                     const std::map<std::string, std::string>& metadata = {});

/// Restores `model`, and `optimizer` and `ema` when not null, from a checkpoint written by
/// save_checkpoint, after validating everything (see the file comment); returns the caller's
/// metadata (without the "tinydiff." keys). Tensors of parts passed as null are ignored.
std::map<std::string, std::string> load_checkpoint(const std::string& path, Module& model, Optimizer* optimizer,
                                                   EMA* ema);

/// Loads only weights into `model` for sampling: the "ema." tensors when `use_ema` (else
/// "model."), checked strictly by name and shape.
void load_checkpoint_weights(const std::string& path, Module& model, bool use_ema = true);

/// "seed:offset" in decimal, e.g. "42:1024".
std::string format_generator_state(const Generator::State& state);
/// Parses format_generator_state's text; throws Error on anything else.
Generator::State parse_generator_state(const std::string& text);

/// The integer stored under `key`; throws Error naming the key when it is absent or not a
/// whole decimal int64.
int64_t metadata_int(const std::map<std::string, std::string>& metadata, const std::string& key);

}  // namespace tinydiff
