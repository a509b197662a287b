// A trained text-to-image model for tutorials 8-10: trained now, or loaded. See trained_model.h.
#include "tutorials/common/trained_model.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tensor/error.h"
#include "tensor/program.h"

namespace tinydiff::tutorial {

TrainOptions tutorial_train_options(const std::string& dataset, bool quick, const std::string& out_dir) {
  //! [recipe]
  TrainOptions opt;
  opt.dataset = dataset;          // "fashion" or "shapes"
  opt.config = "micro";           // 76 thousand parameters (diffusion/models/model_config.h)
  opt.out_dir = out_dir;          // checkpoint.safetensors, log.jsonl, samples/
  opt.steps = quick ? 20 : 1500;  // total steps; the learning rate decays to 0 at the last one
  opt.batch = quick ? 16 : 64;    // images per step
  opt.lr = 5e-3;                  // AdamW, after 200 steps of linear warm-up
  opt.warmup = quick ? 5 : 200;   // linear warm-up steps
  opt.caption_dropout = 0.1;      // 10% of captions replaced by "": the unconditional model
  opt.seed = 0;                   // weights, data order, noise: the same model on every run
  opt.checkpoint_every = 0;       // one checkpoint, at the end
  opt.sample_every = 0;           // one preview grid, at the end
  //! [recipe]
  opt.preview_per_prompt = quick ? 1 : 4;
  opt.preview_steps = quick ? 2 : 25;
  opt.progress = ProgressStyle::Lines;
  return opt;
}

void read_loss_log(const std::string& path, std::vector<double>& steps, std::vector<double>& losses) {
  steps.clear();
  losses.clear();
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("step") || !j.contains("loss") || !j["loss"].is_number()) continue;
    steps.push_back(j["step"].get<double>());
    losses.push_back(j["loss"].get<double>());
  }
}

TutorialModel train_or_load(const TutorialArgs& args, const TrainOptions& options) {
  TutorialModel m;
  if (!args.checkpoint.empty()) {
    fmt::print("loading {} (no training)\n", args.checkpoint);
    m.checkpoint = args.checkpoint;
  } else {
    std::filesystem::remove_all(options.out_dir);  // the Trainer refuses to overwrite an old run
    const auto start = std::chrono::steady_clock::now();
    //! [train]
    Trainer trainer(options);             // builds the model, tokenizer (from the captions), AdamW, EMA
    const TrainResult r = trainer.run();  // trains, logs every step, saves checkpoint.safetensors
    //! [train]
    m.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print("{}\n", r.message);
    m.checkpoint = trainer.checkpoint_path();
    m.trained_now = true;
  }
  try {
    //! [load]
    m.trained = load_trained_model(m.checkpoint);  // the EMA weights, the tokenizer, the schedule
    //! [load]
  } catch (const Error& e) {
    if (args.checkpoint.empty()) throw;  // the file this program just wrote: not the user's fault
    throw ProgramError(kExitBadFile, e.what(), "give --checkpoint the checkpoint.safetensors of a training run");
  }
  TD_CHECK(m.trained.dataset == options.dataset, "train_or_load",
           fmt::format("{} was trained on '{}'; this tutorial needs a '{}' model", m.checkpoint, m.trained.dataset,
                       options.dataset));
  read_loss_log((std::filesystem::path(m.checkpoint).parent_path() / "log.jsonl").string(), m.log_steps, m.log_losses);
  fmt::print("model: config '{}', {} parameters, {} steps on '{}'\n", m.trained.config.name,
             m.trained.model->parameter_count(), m.trained.step, m.trained.dataset);
  return m;
}

}  // namespace tinydiff::tutorial
