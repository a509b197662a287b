/// \file
/// \brief The "folder" training data set: an `ImageFolder` (image_folder.h) as `TrainingData` (dataset.h).
///
/// A batch draws B examples uniformly with replacement from the data stream, then (with `hflip`)
/// one Bernoulli(1/2) flip per example from the same stream, in that order. Each example keeps
/// its own caption (possibly empty: unconditional). The images are stored as bytes and turned
/// into float32 \f$v = b / 127.5 - 1 \in [-1, 1]\f$ per batch.
///
/// Usage:
/// \code
///   auto data = make_image_folder_data(load_image_folder(options), /*hflip=*/false);
///   TrainingBatch b = data->next_batch(gen, 16);   // b.images: (16, C, S, S)
/// \endcode
#pragma once

#include <memory>

#include "diffusion/data/dataset.h"
#include "diffusion/data/image_folder.h"

namespace tinydiff {

/// The folder as training data; `hflip`: random horizontal flips (they turn "left" into "right").
/// Throws Error for an empty folder.
std::unique_ptr<TrainingData> make_image_folder_data(ImageFolder folder, bool hflip);

}  // namespace tinydiff
