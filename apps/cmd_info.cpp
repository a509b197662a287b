// `tinydiff info`: describes a checkpoint (config, parameters, vocabulary, training).
#include <fmt/format.h>

#include <filesystem>
#include <memory>

#include "apps/cli_errors.h"
#include "apps/commands.h"
#include "diffusion/models/checkpoint_schema.h"
#include "diffusion/models/trained_model.h"
#include "diffusion/training/train_report.h"
#include "diffusion/training/trainer.h"

namespace tinydiff::cli {
namespace {

std::string group_digits(int64_t n) {
  const std::string s = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

void run_info(const std::string& path) {
  if (!std::filesystem::exists(path))
    throw CliError(kExitBadFile, fmt::format("the checkpoint '{}' does not exist", path),
                   "pass a checkpoint.safetensors written by 'tinydiff train'");
  TrainedModel m;
  TrainOptions o;
  TrainingMetadata t;
  try {
    m = load_trained_model(path, true);
    o = read_checkpoint_train_options(path);
    t = read_training_metadata(m.metadata, path, "info");
  } catch (const Error& e) {
    throw CliError(kExitBadFile, fmt::format("cannot load the checkpoint: {}", e.what()),
                   "pass a checkpoint.safetensors written by 'tinydiff train'");
  }
  const ModelConfig& c = m.config;
  std::string out;
  out +=
      fmt::format("checkpoint   {} ({:.1f} MB)\n", path, static_cast<double>(std::filesystem::file_size(path)) / 1e6);
  out += fmt::format("model        text-to-image, config '{}'\n", c.name);
  out +=
      fmt::format("parameters   {} (text encoder {}, U-Net {})\n", group_digits(m.model->parameter_count()),
                  group_digits(m.model->text_encoder.parameter_count()), group_digits(m.model->unet.parameter_count()));
  out += fmt::format("images       {}x{}, {} channel{}\n", c.image_size, c.image_size, c.image_channels,
                     c.image_channels == 1 ? " (grayscale)" : "s (RGB)");
  out +=
      fmt::format("U-Net        base {} channels x ({}), {} ResBlock per level, attention at {}, {} groups, {} heads\n",
                  c.base_channels, fmt::join(c.channel_mults, ", "), c.blocks_per_level,
                  fmt::join(c.attention_resolutions, ", "), c.groups, c.attention_heads);
  out += fmt::format("text encoder width {}, {} layer{}, {} heads, vocabulary {}, {} tokens\n", c.text_width,
                     c.text_layers, c.text_layers == 1 ? "" : "s", c.text_heads, c.vocab_size, c.max_length);
  out += fmt::format("diffusion    {} schedule, T = {}, predicts {}\n", m.schedule.name, m.schedule.num_timesteps,
                     prediction_name(m.prediction));
  out += fmt::format("training     {} steps on '{}' ({} of training, {} skipped non-finite steps)\n", m.step, m.dataset,
                     format_duration(t.elapsed_seconds), t.nonfinite_steps);
  out += fmt::format(
      "options      batch {}, seed {}, lr {} (warm-up {}, {}), weight decay {}, EMA {}, caption dropout "
      "{}, clip {}{}\n",
      o.batch, o.seed, o.lr, o.warmup,
      o.lr_decay == "cosine" ? fmt::format("cosine to step {}", o.steps) : std::string("constant"), o.weight_decay,
      o.ema_decay, o.caption_dropout, o.grad_clip, o.flip ? ", flips" : "");
  const auto& vocab = m.tokenizer->vocab();
  out += fmt::format("vocabulary   {} tokens, prompts up to {} words: {}\n", vocab.size(),
                     m.tokenizer->max_length() - 1, fmt::join(vocab, " "));
  std::fputs(out.c_str(), stdout);
}

}  // namespace

void add_info_command(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("info", "Describe a checkpoint: config, parameters, vocabulary, training");
  auto path = std::make_shared<std::string>();
  sub->add_option("--checkpoint", *path, "A checkpoint.safetensors written by 'tinydiff train'")->required();
  sub->callback([path] { run_info(*path); });
}

}  // namespace tinydiff::cli
