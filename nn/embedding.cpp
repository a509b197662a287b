// Embedding layer. See embedding.h.
#include "nn/embedding.h"

#include <fmt/format.h>

#include "autograd/ops_shape.h"
#include "nn/init.h"

namespace tinydiff {

Embedding::Embedding(const EmbeddingOptions& options, Generator& gen) : options_(options) {
  TD_CHECK(options.num_embeddings > 0 && options.embedding_dim > 0, "Embedding",
           fmt::format("num_embeddings and embedding_dim must be positive, got {} and {}", options.num_embeddings,
                       options.embedding_dim));
  Tensor w = Tensor::empty({options.num_embeddings, options.embedding_dim});
  normal_(w, gen, 0.0, 1.0);
  weight = register_parameter("weight", w);
}

Variable Embedding::forward(const Tensor& ids) const {
  check_defined(ids, "Embedding");
  TD_CHECK(
      ids.dtype() == DType::I64, "Embedding",
      fmt::format("ids of shape {} are {}; expected int64 token ids", shape_str(ids.shape()), dtype_name(ids.dtype())));
  // ids: S (int64) -> (S..., D)
  return embedding(weight, ids);
}

}  // namespace tinydiff
