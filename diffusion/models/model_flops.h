/// \file
/// \brief `forward_flops` and `training_step_flops`: the arithmetic of a text-to-image model, counted from its
/// config, for the training banner, `tinydiff-bench` and the docs' config table.
///
/// A multiply-add counts 2 flops. Counted are the products: every convolution, every linear layer and
/// the two matrix products of attention (\f$QK^\top\f$ and \f$PV\f$). A \f$k \times k\f$ convolution
/// from \f$C_{in}\f$ to \f$C_{out}\f$ channels on an \f$H \times W\f$ output costs
/// \f[ 2\,k^2\,C_{in}\,C_{out}\,H\,W, \f]
/// a linear layer on \f$R\f$ rows \f$2\,R\,d_{in}\,d_{out}\f$, and attention of \f$n\f$ queries over
/// \f$m\f$ keys of width \f$e\f$ \f$2 \cdot 2\,n\,m\,e\f$. Norms, activations, the softmax and the
/// elementwise ops are left out (a few percent). The walk mirrors `UNet`'s constructor and forward
/// (unet.h) and the text encoder's layers (text_encoder.h); for the tiny config it gives 381.2 MFLOP
/// per image, the total of the block-by-block table of tutorial 7, which counts from the modules.
///
/// A training step costs three forward passes: the forward, and a backward whose every product
/// needs two products of the same size (the gradients of both operands; tutorial 2). The optimizer
/// and the loss are not counted.
///
/// Usage:
/// \code
///   const ModelConfig cfg = model_config("tiny64", 3, 64);
///   double gflop = training_step_flops(cfg, 32) / 1e9;   // one step at batch 32
/// \endcode
#pragma once

#include <cstdint>

#include "diffusion/models/model_config.h"

namespace tinydiff {

/// FLOPs of one forward pass of `batch` images through the U-Net, and through the text encoder
/// too when `with_text_encoder` (sampling encodes the prompts once and leaves it out).
double forward_flops(const ModelConfig& config, int64_t batch, bool with_text_encoder = true);

/// FLOPs of one training step at `batch` images: 3 x forward_flops(config, batch, true).
double training_step_flops(const ModelConfig& config, int64_t batch);

}  // namespace tinydiff
