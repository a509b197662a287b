// The table of training options: every option through JSON and back, values out of range or not
// among the choices rejected with the option's name, and older checkpoints' options still read.
#include <catch2/catch.hpp>

#include <limits>
#include <set>
#include <type_traits>
#include <variant>

#include "diffusion/training/train_options.h"
#include "tensor/error.h"

using namespace tinydiff;

namespace {

// A value of `row`'s member other than the default (one of its choices when it has some).
void change(TrainOptions& o, const TrainOption& row) {
  std::visit(
      [&](auto member) {
        using T = std::decay_t<decltype(o.*member)>;
        T& v = o.*member;
        if constexpr (std::is_same_v<T, std::string>) {
          if (row.choices.empty())
            v.append("_other");  // (not `v + "_other"`: GCC 12 warns falsely about it, -Wrestrict)
          else
            v = row.choices.back();
        } else if constexpr (std::is_same_v<T, bool>) {
          v = !v;
        } else if constexpr (std::is_same_v<T, double>) {
          v = v + 0.125;
        } else if constexpr (std::is_same_v<T, uint64_t>) {
          v = v + 123456789012345ull;  // more than a double's 53 bits
        } else {
          v = v + 3;
        }
      },
      row.member);
}

bool same(const TrainOptions& a, const TrainOptions& b, const TrainOption& row) {
  return std::visit([&](auto member) { return a.*member == b.*member; }, row.member);
}

}  // namespace

TEST_CASE("every stored training option survives a JSON round trip, the others keep their defaults", "[trainer]") {
  std::set<std::string> names, flags;
  for (const TrainOption& row : train_option_table()) {
    INFO(row.name);
    CHECK(names.insert(row.name).second);  // one row per option
    if (row.flag != nullptr) CHECK(flags.insert(row.flag).second);
    const TrainOptions defaults;
    TrainOptions o;
    change(o, row);
    REQUIRE_FALSE(same(o, defaults, row));
    const TrainOptions back = train_options_from_json(to_json(o));
    CHECK(same(back, row.stored ? o : defaults, row));
    CHECK(&train_option(row.name) == &row);
    if (row.flag != nullptr) CHECK(&train_option(row.flag) == &row);
  }
  // The JSON keys of checkpoints written before the table (they must still load).
  for (const char* key : {"dataset",
                          "steps",
                          "minutes",
                          "batch",
                          "config",
                          "seed",
                          "lr",
                          "warmup",
                          "lr_decay",
                          "min_lr",
                          "weight_decay",
                          "ema_decay",
                          "caption_dropout",
                          "grad_clip",
                          "flip",
                          "checkpoint_every",
                          "sample_every",
                          "preview_per_prompt",
                          "preview_steps",
                          "preview_guidance",
                          "max_nonfinite",
                          "schedule",
                          "num_timesteps",
                          "prediction",
                          "loss_weight"}) {
    INFO(key);
    CHECK(train_option(key).stored);
  }
  CHECK_THROWS_WITH(train_option("--bogus"), Catch::Contains("unknown training option '--bogus'"));
}

TEST_CASE("options written before prediction and loss weighting existed read as eps and none", "[trainer]") {
  const TrainOptions o = train_options_from_json(R"({"dataset": "shapes", "batch": 16, "steps": 30})");
  CHECK(o.prediction == "eps");
  CHECK(o.loss_weight == "none");
  CHECK(training_prediction(o) == Prediction::Epsilon);
  CHECK(min_snr_gamma(o) == 0.0);
  TrainOptions v = o;
  v.prediction = std::string("v");  // (a literal: GCC 12 -Wrestrict warns falsely)
  v.loss_weight = std::string("min-snr");
  CHECK(training_prediction(v) == Prediction::V);
  CHECK(min_snr_gamma(v) == 5.0);
}

TEST_CASE("an invalid training option is rejected with its name", "[trainer]") {
  TrainOptions ok;
  ok.out_dir = std::string("x");
  ok.steps = 10;
  REQUIRE_NOTHROW(validate(ok));
  for (const TrainOption& row : train_option_table()) {
    INFO(row.name);
    TrainOptions bad = ok;
    bool has_bad_value = true;
    std::visit(
        [&](auto member) {
          using T = std::decay_t<decltype(bad.*member)>;
          if constexpr (std::is_same_v<T, std::string>) {
            has_bad_value = !row.choices.empty();
            bad.*member = std::string(3, 'x');  // (not a literal: GCC 12 warns falsely, -Wrestrict)
          } else if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, uint64_t>) {
            has_bad_value = false;
          } else if constexpr (std::is_same_v<T, double>) {
            bad.*member = std::numeric_limits<double>::quiet_NaN();
          } else {
            has_bad_value = row.range.rule != nullptr;
            bad.*member = -1;
          }
        },
        row.member);
    if (!has_bad_value) continue;
    CHECK_THROWS_WITH(validate(bad), Catch::Contains(row.name));
    CHECK(option_problem(bad, row).find(row.name) != std::string::npos);
    if (row.flag != nullptr) CHECK(option_problem(bad, row, true).find(row.flag) != std::string::npos);
  }
  TrainOptions bad = ok;
  bad.prediction = std::string("w");
  CHECK_THROWS_WITH(validate(bad), Catch::Contains("unknown prediction 'w'; choose one of: eps, x0, v"));
  bad = ok;
  bad.loss_weight = std::string("snr");
  CHECK_THROWS_WITH(validate(bad), Catch::Contains("unknown loss_weight 'snr'; choose one of: none, min-snr"));
  CHECK_THROWS_WITH(train_options_from_json(R"({"prediction": 1})"), Catch::Contains("mistyped field 'prediction'"));
}

TEST_CASE("a resume keeps, takes or refuses each option as its row says", "[trainer]") {
  TrainOptions stored;
  stored.out_dir = "old";
  stored.steps = 1000;
  stored.minutes = 20;
  TrainOptions given;
  given.out_dir = "new";
  given.threads = 3;
  for (const TrainOption& row : train_option_table()) change(given, row);
  given.out_dir = "new";

  // Nothing given: every stored option from the checkpoint, every unstored one from this run.
  ResumeReport none;
  const TrainOptions kept = resumed_options(
      stored, given, [](const TrainOption&) { return false; }, none);
  CHECK(none.changed.empty());
  CHECK(none.ignored.empty());
  for (const TrainOption& row : train_option_table()) {
    INFO(row.name);
    CHECK(same(kept, row.stored ? stored : given, row));
  }

  // Every flag given with another value: kept options refused, naming the flag and both values.
  for (const TrainOption& row : train_option_table()) {
    if (!row.stored || row.flag == nullptr) continue;
    INFO(row.name);
    ResumeReport report;
    const auto only_this = [&](const TrainOption& r) { return &r == &row; };
    if (row.on_resume == OnResume::Kept) {
      CHECK_THROWS_WITH(resumed_options(stored, given, only_this, report), Catch::Contains(row.flag));
      continue;
    }
    const TrainOptions o = resumed_options(stored, given, only_this, report);
    switch (row.on_resume) {
      case OnResume::Ignored:
        CHECK(same(o, stored, row));
        REQUIRE(report.ignored.size() == 1);
        CHECK(report.ignored[0].find(row.flag) == 0);
        break;
      case OnResume::Changed:
        CHECK(same(o, given, row));
        REQUIRE(report.changed.size() == 1);
        CHECK(report.changed[0].find(row.flag) == 0);
        break;
      default:  // Updated
        CHECK(same(o, given, row));
        CHECK(report.changed.empty());
    }
  }
  // The rows that must be what they are: the model and its data cannot change under a run.
  CHECK(train_option("config").on_resume == OnResume::Kept);
  CHECK(train_option("dataset").on_resume == OnResume::Kept);
  CHECK(train_option("prediction").on_resume == OnResume::Kept);
  CHECK(train_option("seed").on_resume == OnResume::Ignored);
  CHECK(train_option("lr").on_resume == OnResume::Changed);

  // --steps alone ends the stored time budget; --minutes alone keeps the stored step target.
  ResumeReport r;
  const auto steps_only = [](const TrainOption& row) { return std::string(row.name) == "steps"; };
  TrainOptions o = resumed_options(stored, given, steps_only, r);
  CHECK(o.steps == given.steps);
  CHECK(o.minutes == 0.0);
  const auto minutes_only = [](const TrainOption& row) { return std::string(row.name) == "minutes"; };
  o = resumed_options(stored, given, minutes_only, r);
  CHECK(o.steps == stored.steps);
  CHECK(o.minutes == given.minutes);
}
