// `tinydiff info`: describes a checkpoint (config, parameters, vocabulary, training).
#include <fmt/format.h>

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "apps/cli_errors.h"
#include "apps/commands.h"
#include "apps/load_checkpoint.h"
#include "diffusion/data/fashion_mnist.h"
#include "diffusion/evaluation/fashion_classifier.h"
#include "diffusion/models/checkpoint_schema.h"
#include "diffusion/models/trained_model.h"
#include "diffusion/training/train_report.h"
#include "diffusion/training/trainer.h"
#include "tensor/blas_core.h"
#include "tensor/cpu_features.h"
#include "tensor/format.h"
#include "tensor/process_env.h"

namespace tinydiff::cli {
namespace {

// "data ..." for a checkpoint trained on a folder (its "data" metadata), else "".
std::string data_line(const std::string& path, const std::map<std::string, std::string>& metadata) {
  const std::string json = read_model_metadata(metadata, path, "info").data;
  if (json.empty()) return "";
  const nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fmt::format("data         (unreadable: {})\n", json);
  const auto get = [&](const char* key) { return j.contains(key) ? j.at(key).dump() : std::string("?"); };
  const auto text = [&](const char* key) {
    return j.contains(key) && j.at(key).is_string() ? j.at(key).get<std::string>() : std::string("?");
  };
  return fmt::format(
      "data         folder {} ({}): {} images, {} without a caption, {} skipped; prepared as {}x{} with {} channel{}, "
      "{}, background {}, horizontal flips {}; vocabulary {} tokens for {} distinct words, {} of {} caption tokens "
      "<unk>, {} captions truncated\n",
      text("folder"), text("convention"), get("images"), get("uncaptioned"), get("skipped"), get("size"), get("size"),
      get("channels"), get("channels") == "1" ? "" : "s", text("resize"), text("background"),
      get("hflip") == "true" ? "on" : "off", get("vocabulary"), get("distinct_words"), get("unk_tokens"),
      get("caption_tokens"), get("truncated_captions"));
}

void run_info(const std::string& path, bool json) {
  const TrainedModel m = load_checkpoint(path);
  TrainOptions o;
  TrainingMetadata t;
  try {
    o = read_checkpoint_train_options(path);
    t = read_training_metadata(m.metadata, path, "info");
  } catch (const Error& e) {
    throw CliError(kExitBadFile, fmt::format("cannot load the checkpoint: {}", e.what()),
                   "pass a checkpoint.safetensors written by 'tinydiff train'");
  }
  const ModelConfig& c = m.config;
  if (json) {  // the same facts as one JSON object, for scripts
    const auto parsed = [](const std::string& text) {
      return text.empty() ? nlohmann::json() : nlohmann::json::parse(text, nullptr, false);
    };
    nlohmann::json j;
    j["checkpoint"] = path;
    j["file_bytes"] = std::filesystem::file_size(path);
    j["written_by"] = m.written_by;
    j["config"] = parsed(to_json(c));
    j["parameters"] = {{"total", m.model->parameter_count()},
                       {"text_encoder", m.model->text_encoder.parameter_count()},
                       {"unet", m.model->unet.parameter_count()}};
    j["schedule"] = {{"name", m.schedule.name}, {"num_timesteps", m.schedule.num_timesteps}};
    j["prediction"] = prediction_name(m.model->prediction());
    j["dataset"] = m.dataset;
    j["step"] = m.step;
    j["elapsed_seconds"] = t.elapsed_seconds;
    j["nonfinite_steps"] = t.nonfinite_steps;
    j["data"] = parsed(read_model_metadata(m.metadata, path, "info").data);
    j["train_options"] = parsed(t.train_options);
    j["vocabulary"] = m.tokenizer->vocab();
    std::fputs((j.dump(2) + "\n").c_str(), stdout);
    return;
  }
  std::string out;
  out +=
      fmt::format("checkpoint   {} ({:.1f} MB)\n", path, static_cast<double>(std::filesystem::file_size(path)) / 1e6);
  out += fmt::format("model        text-to-image, config '{}'\n", c.name);
  out += fmt::format("parameters   {} (text encoder {}, U-Net {})\n", group_thousands(m.model->parameter_count()),
                     group_thousands(m.model->text_encoder.parameter_count()),
                     group_thousands(m.model->unet.parameter_count()));
  out += fmt::format("images       {}x{}, {} channel{}\n", c.image_size, c.image_size, c.image_channels,
                     c.image_channels == 1 ? " (grayscale)" : "s (RGB)");
  out +=
      fmt::format("U-Net        base {} channels x ({}), {} ResBlock per level, attention at {}, {} groups, {} heads\n",
                  c.base_channels, fmt::join(c.channel_mults, ", "), c.blocks_per_level,
                  fmt::join(c.attention_resolutions, ", "), c.groups, c.attention_heads);
  out += fmt::format("text encoder width {}, {} layer{}, {} heads, vocabulary {}, {} tokens\n", c.text_width,
                     c.text_layers, c.text_layers == 1 ? "" : "s", c.text_heads, c.vocab_size, c.max_length);
  out += fmt::format("diffusion    {} schedule, T = {}, predicts {}\n", m.schedule.name, m.schedule.num_timesteps,
                     prediction_name(m.model->prediction()));
  out += fmt::format("training     {} steps on '{}' ({} of training, {} skipped non-finite steps)\n", m.step, m.dataset,
                     format_duration(t.elapsed_seconds), t.nonfinite_steps);
  out += data_line(path, m.metadata);
  out += fmt::format("written by   {}\n",
                     m.written_by.empty() ? "a tinydiff from before versions were recorded" : m.written_by);
  out += fmt::format(
      "options      batch {}, seed {}, lr {} (warm-up {}, {}), weight decay {}, EMA {}, caption dropout "
      "{}, clip {}{}, loss weight {}\n",
      o.batch, o.seed, o.lr, o.warmup,
      o.lr_decay == "cosine" ? fmt::format("cosine to step {}", o.steps) : std::string("constant"), o.weight_decay,
      o.ema_decay, o.caption_dropout, o.grad_clip, o.flip ? ", flips" : "",
      o.loss_weight == "min-snr" ? fmt::format("min-snr (gamma {})", kMinSnrGamma) : o.loss_weight);
  if (!o.validation_prompts.empty())
    out += fmt::format("grids        {} validation prompt{}: \"{}\"\n", o.validation_prompts.size(),
                       o.validation_prompts.size() == 1 ? "" : "s", fmt::join(o.validation_prompts, "\", \""));
  if (o.keep_checkpoints > 0)
    out += fmt::format("checkpoints  the last {} step-numbered ones kept (every {} steps)\n", o.keep_checkpoints,
                       o.checkpoint_every);
  const auto& vocab = m.tokenizer->vocab();
  out += fmt::format("vocabulary   {} tokens, prompts up to {} words: {}\n", vocab.size(),
                     m.tokenizer->max_length() - 1, fmt::join(vocab, " "));
  std::fputs(out.c_str(), stdout);
}

// The best of five 1024x1024x1024 sgemm products, in GFLOP/s (2 n^3 FLOP each).
double measure_sgemm_gflops() {
  constexpr int n = 1024;
  std::vector<float> a(static_cast<size_t>(n) * n, 0.5f), b(a.size(), 0.25f), c(a.size(), 0.0f);
  double best = 1e30;
  for (int rep = 0; rep < 6; ++rep) {  // the first is a warm-up
    const auto start = std::chrono::steady_clock::now();
    openblas_sgemm(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rep > 0) best = std::min(best, s);
  }
  return 2.0 * n * n * n / best / 1e9;
}

// `tinydiff info --system`: what this machine computes with and where tinydiff keeps things.
void run_system_info() {
  const CpuFeatures cpu = detect_cpu_features();
  const ComputeEnvironment env = compute_environment();
  std::string out;
  out += fmt::format("cpu          {} ({}, family {:#x}, model {:#x}), {} logical cores\n",
                     cpu.model_name.empty() ? "unknown" : cpu.model_name, cpu.vendor, cpu.family, cpu.model,
                     omp_get_num_procs());
  out += fmt::format("features     {}\n", cpu_feature_list(cpu));
  out += fmt::format("openblas     {}\n", env.blas_config);
  out += fmt::format("kernels      {} ({}); best for this CPU: {}\n", env.blas_core, env.blas_source,
                     env.best_core.empty() ? "unknown" : env.best_core);
  out += fmt::format("sgemm        {:.1f} GFLOP/s (1024x1024x1024, best of 5, {} threads)\n", measure_sgemm_gflops(),
                     env.threads);
  out += fmt::format("threads      {} (OMP_NUM_THREADS={}, --threads N to change)\n", env.threads,
                     std::getenv("OMP_NUM_THREADS") ? std::getenv("OMP_NUM_THREADS") : "unset");
  out += fmt::format("wait policy  OMP_WAIT_POLICY={}\n", env.wait_policy.empty() ? "unset" : env.wait_policy);
  out += fmt::format("start-up     {}\n", env.reexecuted ? "re-executed once to set the variables above"
                                                         : "ran as started (nothing to set)");
  out += fmt::format("cache        {} (classifier: {})\n", cache_folder(), default_classifier_path());
  out += fmt::format(
      "fashion      {} ({})\n", kFashionMnistDir,
      std::filesystem::exists(kFashionMnistDir) ? "installed" : "missing: apt-get install dataset-fashion-mnist");
  std::fputs(out.c_str(), stdout);
}

}  // namespace

void add_info_command(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "info", "Describe a checkpoint (config, parameters, vocabulary, training) or, with --system, this machine");
  auto path = std::make_shared<std::string>();
  auto system = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  CLI::Option* checkpoint =
      sub->add_option("--checkpoint", *path, "A checkpoint.safetensors written by 'tinydiff train'");
  CLI::Option* sys = sub->add_flag("--system", *system,
                                   "Describe this machine: CPU, OpenBLAS build and kernels, measured sgemm speed, "
                                   "threads, wait policy, where caches and data sets live");
  sub->add_flag("--json", *json, "With --checkpoint: print the description as one JSON object (for scripts)");
  sub->callback([path, system, json, checkpoint, sys] {
    if (checkpoint->count() == 0 && sys->count() == 0)
      throw CliError(kExitUsage, "tinydiff info needs --checkpoint FILE or --system",
                     "e.g. 'tinydiff info --checkpoint runs/fashion/checkpoint.safetensors'");
    if (*json && (*system || checkpoint->count() == 0))
      throw CliError(kExitUsage, "--json describes a checkpoint: give --checkpoint FILE without --system",
                     "e.g. 'tinydiff info --checkpoint runs/fashion/checkpoint.safetensors --json'");
    if (*system) run_system_info();
    if (checkpoint->count() > 0) {
      if (*system) std::fputs("\n", stdout);
      run_info(*path, *json);
    }
  });
}

}  // namespace tinydiff::cli
