// Model presets and their JSON form. See model_config.h.
#include "diffusion/models/model_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tensor/error.h"

namespace tinydiff {

std::vector<std::string> model_config_names() { return {"tiny", "tiny64", "small", "micro"}; }

std::vector<int64_t> model_config_image_sizes(const std::string& name) {
  const std::vector<std::string> names = model_config_names();
  TD_CHECK(std::find(names.begin(), names.end(), name) != names.end(), "model_config",
           fmt::format("unknown config '{}'; choose one of: {}", name, fmt::join(names, ", ")));
  if (name == "tiny64") return {32, 64};
  return {32};
}

ModelConfig model_config(const std::string& name, int64_t image_channels, int64_t image_size) {
  TD_CHECK(image_channels == 1 || image_channels == 3, "model_config",
           fmt::format("image_channels must be 1 (grayscale) or 3 (RGB), got {}", image_channels));
  const std::vector<int64_t> sizes = model_config_image_sizes(name);  // checks the name
  TD_CHECK(image_size == 32 || image_size == 64, "model_config",
           fmt::format("image size {} is not supported; the configs take 32x32 or 64x64 images", image_size));
  TD_CHECK(std::find(sizes.begin(), sizes.end(), image_size) != sizes.end(), "model_config",
           fmt::format("config '{}' takes {}x{} images, not {}x{}; use config 'tiny64' for 64x64 images", name,
                       sizes.front(), sizes.front(), image_size, image_size));
  ModelConfig c;
  c.name = name;
  c.image_channels = image_channels;
  c.image_size = image_size;
  if (name == "tiny") {
    // defaults above: the PyTorch peer's architecture
  } else if (name == "tiny64") {
    // tiny with a thin 16-channel level on top (64x64), attention at 16x16 and 8x8.
    c.base_channels = 16;
    c.channel_mults = {1, 2, 4, 4};
    c.attention_resolutions = {16, 8};
    c.vocab_size = 1024;
  } else if (name == "small") {
    c.base_channels = 64;
    c.channel_mults = {1, 2, 2};
    c.attention_resolutions = {16, 8};
    c.text_width = 256;
    c.text_layers = 4;
    c.text_heads = 8;
  } else if (name == "micro") {
    // A miniature of tiny's architecture for fast tests (same levels and attention placement).
    c.base_channels = 8;
    c.groups = 4;
    c.attention_heads = 2;
    c.text_width = 32;
    c.text_layers = 1;
    c.text_heads = 2;
  }
  validate(c);
  return c;
}

ModelConfig with_image_size(const ModelConfig& config, int64_t image_size) {
  TD_CHECK(image_size >= 1, "with_image_size", fmt::format("image_size must be positive, got {}", image_size));
  ModelConfig c = config;
  c.image_size = image_size;
  for (int64_t& r : c.attention_resolutions) {
    TD_CHECK((r * image_size) % config.image_size == 0, "with_image_size",
             fmt::format("config '{}' attends at {}x{} of {}x{} images, which has no whole-number counterpart at "
                         "{}x{}; choose an image size of {} times a power of two",
                         config.name, r, r, config.image_size, config.image_size, image_size, image_size,
                         config.image_size));
    r = r * image_size / config.image_size;
  }
  validate(c);
  return c;
}

void validate(const ModelConfig& c) {
  TD_CHECK(c.levels() >= 1 && c.base_channels > 0 && c.blocks_per_level >= 1, "ModelConfig",
           "need at least one level, positive base_channels and blocks_per_level");
  TD_CHECK(c.image_size % (int64_t{1} << (c.levels() - 1)) == 0, "ModelConfig",
           fmt::format("image_size {} is not divisible by 2^(levels - 1) = {}", c.image_size, 1 << (c.levels() - 1)));
  for (int64_t m : c.channel_mults)
    TD_CHECK(m > 0 && (c.base_channels * m) % c.groups == 0 && (c.base_channels * m) % c.attention_heads == 0,
             "ModelConfig",
             fmt::format("level width {} must be divisible by groups {} and attention_heads {}", c.base_channels * m,
                         c.groups, c.attention_heads));
  for (int64_t r : c.attention_resolutions) {
    bool reached = false;
    for (int64_t i = 0; i < c.levels(); ++i) reached = reached || (c.image_size >> i) == r;
    TD_CHECK(reached, "ModelConfig",
             fmt::format("attention resolution {} is not the size of any level ({} pixels halved {} times)", r,
                         c.image_size, c.levels() - 1));
  }
  TD_CHECK(c.base_channels % c.groups == 0, "ModelConfig", "base_channels must be divisible by groups");
  TD_CHECK(c.text_width % c.text_heads == 0, "ModelConfig",
           fmt::format("text_width {} must be divisible by text_heads {}", c.text_width, c.text_heads));
  TD_CHECK(c.vocab_size >= 3 && c.max_length >= 2, "ModelConfig", "vocab_size >= 3 and max_length >= 2 are needed");
}

std::string to_json(const ModelConfig& c) {
  nlohmann::json j = {{"name", c.name},
                      {"image_channels", c.image_channels},
                      {"image_size", c.image_size},
                      {"base_channels", c.base_channels},
                      {"channel_mults", c.channel_mults},
                      {"blocks_per_level", c.blocks_per_level},
                      {"attention_resolutions", c.attention_resolutions},
                      {"groups", c.groups},
                      {"attention_heads", c.attention_heads},
                      {"text_width", c.text_width},
                      {"text_layers", c.text_layers},
                      {"text_heads", c.text_heads},
                      {"vocab_size", c.vocab_size},
                      {"max_length", c.max_length}};
  return j.dump();
}

ModelConfig model_config_from_json(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  TD_CHECK(!j.is_discarded() && j.is_object(), "model_config_from_json", "the config is not a JSON object");
  ModelConfig c;
  try {
    c.name = j.at("name").get<std::string>();
    c.image_channels = j.at("image_channels").get<int64_t>();
    c.image_size = j.at("image_size").get<int64_t>();
    c.base_channels = j.at("base_channels").get<int64_t>();
    c.channel_mults = j.at("channel_mults").get<std::vector<int64_t>>();
    c.blocks_per_level = j.at("blocks_per_level").get<int64_t>();
    c.attention_resolutions = j.at("attention_resolutions").get<std::vector<int64_t>>();
    c.groups = j.at("groups").get<int64_t>();
    c.attention_heads = j.at("attention_heads").get<int64_t>();
    c.text_width = j.at("text_width").get<int64_t>();
    c.text_layers = j.at("text_layers").get<int64_t>();
    c.text_heads = j.at("text_heads").get<int64_t>();
    c.vocab_size = j.at("vocab_size").get<int64_t>();
    c.max_length = j.at("max_length").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw Error("model_config_from_json", fmt::format("missing or mistyped field: {}", e.what()));
  }
  validate(c);
  return c;
}

}  // namespace tinydiff
