/// \file
/// \brief The small training state that `fuzz_checkpoint` loads files into.
///
/// Shared by the fuzz target (fuzz/fuzz_checkpoint.cpp), the seed-corpus writer
/// (fuzz/make_seed_corpus.cpp) and the regression test (tests/nn/test_fuzz_regressions.cpp),
/// so that the seed checkpoints match the model exactly and mutations of them exercise every
/// check of load_checkpoint: names, shapes and dtypes of "model.", "ema." and "optim." tensors,
/// the "tinydiff." metadata, and the caller's "step" and "rng" strings.
///
/// Parameters (state_dict names):
///
///     embed.weight   (4, 3)      float32
///     proj.weight    (2, 3)      float32
///     proj.bias      (2,)        float32
///     scale          ()          float32   (rank 0)
///
/// Usage:
/// \code
///   tinydiff::fuzz::FuzzTrainingState s;
///   auto meta = tinydiff::load_checkpoint(path, s.model, &s.optimizer, &s.ema);
/// \endcode
#pragma once

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "nn/checkpoint.h"
#include "nn/ema.h"
#include "nn/module.h"
#include "nn/optim.h"

namespace tinydiff::fuzz {

/// A linear layer with the PyTorch names "weight" (out, in) and "bias" (out,).
struct FuzzLinear : Module {
  /// Weights 0.25 * (i + 1), bias -0.5 (fixed values: the seeds are reproducible).
  FuzzLinear(int64_t in, int64_t out) {
    std::vector<double> w(static_cast<size_t>(in * out));
    for (size_t i = 0; i < w.size(); ++i) w[i] = 0.25 * static_cast<double>(i + 1);
    weight = register_parameter("weight", Tensor::from_vector(w, {out, in}));
    bias = register_parameter("bias", Tensor::full({out}, -0.5));
  }
  Variable weight;  ///< (out, in)
  Variable bias;    ///< (out,)
};

/// An embedding table with the PyTorch name "weight" (num, dim).
struct FuzzEmbedding : Module {
  /// Every weight 0.125.
  FuzzEmbedding(int64_t num, int64_t dim) { weight = register_parameter("weight", Tensor::full({num, dim}, 0.125)); }
  Variable weight;  ///< (num, dim)
};

/// The fuzzed model: an embedding table, a linear layer and a rank-0 scale.
struct FuzzModel : Module {
  FuzzModel() : embed(4, 3), proj(3, 2) {
    register_module("embed", embed);
    register_module("proj", proj);
    scale = register_parameter("scale", Tensor::scalar(1.5));
  }
  FuzzEmbedding embed;  ///< embed.weight (4, 3)
  FuzzLinear proj;      ///< proj.weight (2, 3), proj.bias (2,)
  Variable scale;       ///< ()
};

/// Model, AdamW optimizer and EMA: everything a training checkpoint restores.
struct FuzzTrainingState {
  FuzzTrainingState() : optimizer(model.named_parameters(), AdamWOptions{}), ema(model.named_parameters()) {}
  FuzzModel model;  ///< the parameters
  AdamW optimizer;  ///< exp_avg, exp_avg_sq and step per parameter
  EMA ema;          ///< shadow weights

  /// Every byte of the parameters, optimizer state and EMA weights, for "nothing changed" checks.
  std::string snapshot() const {
    std::string out;
    auto add = [&](const NamedTensors& tensors) {
      for (const auto& [name, t] : tensors) {
        const Tensor c = t.contiguous();
        out += name;
        out.append(static_cast<const char*>(c.raw_data()), static_cast<size_t>(c.numel() * dtype_size(c.dtype())));
      }
    };
    NamedTensors params;
    for (const auto& [name, p] : model.named_parameters()) params.emplace_back(name, p.value());
    add(params);
    add(optimizer.state_tensors("optim."));
    add(ema.state_tensors("ema."));
    out += std::to_string(ema.num_updates());
    return out;
  }
};

}  // namespace tinydiff::fuzz
