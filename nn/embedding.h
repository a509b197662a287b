/// \file
/// \brief `Embedding`, a learned lookup table from integer ids to vectors (PyTorch's `nn.Embedding`).
///
/// \f$y_{\dots} = W_{\mathrm{ids}_{\dots}}\f$: each int64 id in [0, num_embeddings) selects a row of
/// the table. The gradient of the table is a scatter-add: row v receives the sum of the
/// upstream gradients of every position whose id is v (see autograd/ops_shape.h).
///
/// Parameter (PyTorch name and shape): `weight` (num_embeddings, embedding_dim), initialised
/// \f$\mathcal{N}(0, 1)\f$ as PyTorch does, drawn from the Generator given to the constructor.
/// PyTorch's `padding_idx`, `max_norm` and sparse gradients are not supported.
///
/// Usage:
/// \code
///   Generator gen(0);
///   Embedding tok({.num_embeddings = 1000, .embedding_dim = 128}, gen);
///   Variable e = tok.forward(ids);   // ids: (B, L) int64 -> (B, L, 128)
/// \endcode
#pragma once

#include <cstdint>

#include "nn/module.h"
#include "tensor/random.h"

namespace tinydiff {

/// Options of Embedding (PyTorch's constructor arguments).
struct EmbeddingOptions {
  int64_t num_embeddings = 0;  ///< V, the number of rows (ids run over [0, V))
  int64_t embedding_dim = 0;   ///< D, the length of each vector
};

/// A table of num_embeddings learned vectors, looked up by id.
class Embedding : public Module {
 public:
  /// Makes the table with PyTorch's default initialisation N(0, 1), drawn from `gen`.
  Embedding(const EmbeddingOptions& options, Generator& gen);

  /// ids: int64 of any shape S -> (S..., embedding_dim). Throws on ids outside [0, num_embeddings).
  Variable forward(const Tensor& ids) const;

  /// The options given at construction.
  const EmbeddingOptions& options() const { return options_; }

  Variable weight;  ///< (num_embeddings, embedding_dim)

 private:
  EmbeddingOptions options_;
};

}  // namespace tinydiff
