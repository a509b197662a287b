/// \file
/// \brief The autograd library in one include: Variable, the backward engine, gradcheck and every
/// differentiable op.
///
/// - variable.h: Variable, Node, make_result, NoGradGuard, EnableGradGuard, backward()
/// - gradcheck.h: analytic gradients against float64 finite differences
/// - ops_elementwise.h: arithmetic, unary maths, activations, clamp, where, operators
/// - ops_reduce.h: sum, mean, var, max, logsumexp
/// - ops_shape.h: reshape, permute, slice, expand, concat, split, pad, index_select, gather, embedding
/// - ops_linalg.h: matmul (batched, broadcasting), linear
/// - ops_softmax.h: softmax, log_softmax (kernels: tensor/softmax.h; `_naive` compositions as references)
/// - ops_norm.h: layer_norm, group_norm, group_norm_silu (kernels: tensor/norm.h; `_naive` compositions as references)
/// - ops_conv.h: conv2d, upsample_nearest2d
/// - ops_attention.h: scaled_dot_product_attention with a key padding mask (kernels: tensor/attention.h; `_naive`
///   reference)
/// - ops_loss.h: mse_loss, cross_entropy (fused; `_naive` reference)
/// - ops_dropout.h: inverted dropout
#pragma once

#include "autograd/gradcheck.h"
#include "autograd/ops_attention.h"
#include "autograd/ops_conv.h"
#include "autograd/ops_dropout.h"
#include "autograd/ops_elementwise.h"
#include "autograd/ops_linalg.h"
#include "autograd/ops_loss.h"
#include "autograd/ops_norm.h"
#include "autograd/ops_reduce.h"
#include "autograd/ops_shape.h"
#include "autograd/ops_softmax.h"
#include "autograd/variable.h"
