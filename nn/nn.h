/// \file
/// \brief The neural-network library in one include: Module, layers, initialisation (and, from
/// F2's files, optimizers, checkpoints and state dicts).
///
/// - module.h: Module (named parameters, train/eval, zero_grad), ModuleList
/// - module_dict.h: ModuleDict, child modules under chosen names
/// - init.h: uniform_, normal_, xavier_*, kaiming_* as torch.nn.init
/// - linear.h: Linear
/// - conv.h: Conv2d
/// - norm.h: GroupNorm, LayerNorm
/// - embedding.h: Embedding
/// - activation.h: SiLU, GELU, Dropout
/// - sequential.h: Sequential
/// - attention.h: MultiHeadAttention (torch.nn.MultiheadAttention, batch first)
/// - transformer.h: TransformerEncoderLayer (pre-norm by default)
/// - transformer_encoder.h: TransformerEncoder, a stack of those layers
/// - timestep_embedding.h: the sinusoidal timestep embedding of diffusion models
///
/// Usage:
/// \code
///   #include "nn/nn.h"
///   Generator gen(0);
///   TransformerEncoderLayer block({.d_model = 128, .nhead = 4, .dim_feedforward = 512}, gen);
///   fmt::print("{} parameters\n", block.parameter_count());   // 198272
/// \endcode
#pragma once

#include "nn/activation.h"
#include "nn/attention.h"
#include "nn/conv.h"
#include "nn/embedding.h"
#include "nn/init.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/module_dict.h"
#include "nn/norm.h"
#include "nn/sequential.h"
#include "nn/timestep_embedding.h"
#include "nn/transformer.h"
#include "nn/transformer_encoder.h"
