/// \file
/// \brief `ModelConfig`: the sizes of the text encoder and the U-Net, by name ("tiny", "tiny64", "small").
///
/// The reference config "tiny" is the architecture of the PyTorch peer used for benchmarks
/// (`bench/torch_ref.py` of the project's shared folder): a U-Net with 32 base channels,
/// channel multipliers (1, 2, 2), one ResBlock per level, self- and cross-attention at 8x8,
/// GroupNorm with 8 groups, a 128-wide time embedding; a text encoder of width 128 with 2
/// pre-LayerNorm transformer layers and 4 heads over a 256-word vocabulary and 16 tokens.
/// With one image channel it has 1,292,001 parameters, like the PyTorch model.
///
/// **64x64 images: "tiny64".** tiny with one more level on top: 16 channels at 64x64, then
/// tiny's 32, 64, 64 channels at 32x32, 16x16 and 8x8, attention at 16x16 and 8x8, and tiny's
/// text encoder with a 1024-word vocabulary (captions of a user's own images have more words
/// than the built-in sets). The thin top level keeps the work at 64x64 small: with three channels
/// it has 1,412,531 parameters and costs 1.83 GFLOP per image per training step, against tiny's
/// 1.14 GFLOP at 32x32 (model_flops.h): a step at batch 32 is 58.5 GFLOP, tiny's at batch 64 73.6.
/// (It runs at a lower GFLOP/s, as 16 channels at 64x64 make thin GEMMs: about 1.4 times tiny's step
/// time on two cores, README "Model configs".)
/// The other presets are for 32x32 images; tiny64 takes 32x32 too (then its levels are 32, 16, 8
/// and 4 pixels, with attention at 16x16 and 8x8).
///
/// Every preset takes 1 (grayscale) or 3 (RGB) channels, and the image size of the data it is
/// trained on, 32 or 64, where the preset allows it: `model_config` throws an Error naming the
/// sizes a preset takes and the preset to use instead.
///
/// Configs are stored in checkpoints as JSON (`to_json` / `model_config_from_json`), so a
/// checkpoint rebuilds its own model.
///
/// Usage:
/// \code
///   ModelConfig cfg = model_config("tiny", 3);     // RGB images (Shapes)
///   ModelConfig big = model_config("tiny64", 3, 64);  // 64x64 RGB images
///   TextToImageModel model(cfg, gen);
/// \endcode
#pragma once

#include <string>
#include <vector>

namespace tinydiff {

/// Sizes of the text-to-image model.
struct ModelConfig {
  std::string name = "tiny";                         ///< the preset this came from
  int64_t image_channels = 1;                        ///< 1 grayscale, 3 RGB
  int64_t image_size = 32;                           ///< square images, divisible by 2^(levels-1)
  int64_t base_channels = 32;                        ///< channels of the first level
  std::vector<int64_t> channel_mults = {1, 2, 2};    ///< per-level multipliers of base_channels
  int64_t blocks_per_level = 1;                      ///< ResBlocks per level (down and up)
  std::vector<int64_t> attention_resolutions = {8};  ///< image sizes at which up-path levels attend
  int64_t groups = 8;                                ///< GroupNorm groups
  int64_t attention_heads = 4;                       ///< heads of the U-Net's attention blocks
  int64_t text_width = 128;                          ///< d of the text encoder
  int64_t text_layers = 2;                           ///< transformer layers
  int64_t text_heads = 4;                            ///< heads of the text encoder
  int64_t vocab_size = 256;                          ///< token embedding rows
  int64_t max_length = 16;                           ///< tokens per prompt

  /// Width of the time embedding: 4 x base_channels.
  int64_t time_dim() const { return 4 * base_channels; }
  /// Number of resolution levels.
  int64_t levels() const { return static_cast<int64_t>(channel_mults.size()); }
};

/// The preset `name` ("tiny", "tiny64" (see the file comment), "small", or "micro": tiny's layout
/// with 8 base channels and a 32-wide one-layer text encoder, for fast tests) for images of
/// `image_channels` channels (1 or 3) and `image_size` pixels square (32 or 64; only tiny64 takes
/// 64). Throws Error listing the presets for an unknown name, and naming the allowed values for
/// another channel count or size.
ModelConfig model_config(const std::string& name, int64_t image_channels = 1, int64_t image_size = 32);
/// The names model_config accepts, in the order of the docs: tiny, tiny64, small, micro.
std::vector<std::string> model_config_names();
/// The image sizes the preset `name` takes ({32} or {32, 64}); throws Error for an unknown name.
std::vector<int64_t> model_config_image_sizes(const std::string& name);
/// `config` for images of side `image_size`: the attention resolutions scaled by the same factor,
/// so attention (and with it the text condition) stays at the same levels of the U-Net (`train
/// --image-size` with a size the preset does not take). Throws Error when a scaled resolution is not a
/// whole number or the size does not fit the levels.
ModelConfig with_image_size(const ModelConfig& config, int64_t image_size);
/// Checks that the sizes fit together (divisibility by groups and heads, image size by 2^levels,
/// every attention resolution one of the up path's level sizes).
void validate(const ModelConfig& config);
/// JSON text of a config.
std::string to_json(const ModelConfig& config);
/// Parses to_json() output; throws Error naming the problem.
ModelConfig model_config_from_json(const std::string& json);

}  // namespace tinydiff
