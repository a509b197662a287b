/// \file
/// \brief The tensor library in one include: the Tensor class and every operation on it.
///
/// - tensor_core.h: the Tensor class, shapes, strides, views, factories
/// - elementwise.h: broadcasting arithmetic, activations, comparisons
/// - reduce.h: sum, mean, var, max, argmax, logsumexp
/// - softmax.h: softmax, log_softmax and their backward kernels, attention's masked softmax
/// - norm.h: layer norm, group norm and fused GroupNorm + SiLU, forward and backward
/// - linalg.h: matmul, linear, GEMM (OpenBLAS)
/// - conv.h: conv2d (im2col + GEMM) and its gradients, nearest upsampling
/// - attention.h: scaled dot-product attention with a key mask, forward and backward
/// - shape_ops.h: pad, concat, split, index_select, gather
/// - random.h: the Philox generator
/// - format.h: printing with fmt
#pragma once

#include "tensor/attention.h"
#include "tensor/conv.h"
#include "tensor/dispatch.h"
#include "tensor/elementwise.h"
#include "tensor/error.h"
#include "tensor/format.h"
#include "tensor/linalg.h"
#include "tensor/norm.h"
#include "tensor/random.h"
#include "tensor/reduce.h"
#include "tensor/shape_ops.h"
#include "tensor/softmax.h"
#include "tensor/tensor_core.h"
