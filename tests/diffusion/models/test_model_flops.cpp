// The configs' FLOP count (model_flops.h) against a count by hand, the 64x64 config "tiny64", and
// the image sizes and channel counts the presets take.
#include <catch2/catch.hpp>

#include "diffusion/models/model_config.h"
#include "diffusion/models/model_flops.h"
#include "diffusion/models/text_to_image.h"
#include "tensor/error.h"

using namespace tinydiff;

namespace {

// 2 k^2 Cin Cout H W, and 2 R in out (one image).
double conv(double cin, double cout, double k, double hw) { return 2 * k * k * cin * cout * hw * hw; }
double lin(double rows, double in, double out) { return 2 * rows * in * out; }

}  // namespace

TEST_CASE("the FLOP count of the micro config equals a count by hand, block by block", "[model][flops]") {
  // micro: base 8, widths 8, 16, 16 at 32, 16, 8 pixels, attention at 8x8, time embedding 32,
  // text encoder width 32, one layer, 16 tokens; one grayscale 32x32 image.
  const ModelConfig c = model_config("micro", 1);
  const double L = 16, d = 32, T = 32;
  const double text = lin(L, d, 3 * d) + 4 * L * L * d + lin(L, d, d) + lin(L, d, 4 * d) + lin(L, 4 * d, d);
  const double time = lin(1, 8, T) + lin(1, T, T);
  const auto res = [&](double cin, double cout, double hw) {
    return conv(cin, cout, 3, hw) + lin(1, T, cout) + conv(cout, cout, 3, hw) +
           (cin != cout ? conv(cin, cout, 1, hw) : 0);
  };
  const auto attn = [&](double ch, double hw) {  // self-attention over hw^2 pixels, cross-attention over L tokens
    const double px = hw * hw;
    return lin(px, ch, 3 * ch) + 4 * px * px * ch + lin(px, ch, ch) + lin(px, ch, ch) + 2 * lin(L, d, ch) +
           4 * px * L * ch + lin(px, ch, ch);
  };
  const double unet = conv(1, 8, 3, 32)                                     // inp
                      + res(8, 8, 32) + conv(8, 8, 3, 16)                   // down.0, downsample.0
                      + res(8, 16, 16) + conv(16, 16, 3, 8)                 // down.1, downsample.1
                      + res(16, 16, 8)                                      // down.2
                      + res(16, 16, 8) + attn(16, 8) + res(16, 16, 8)       // mid1, mid_attn, mid2
                      + res(32, 16, 8) + attn(16, 8) + conv(16, 16, 3, 16)  // up.0 (skip 16), up_attn, upconv
                      + res(32, 16, 16) + conv(16, 16, 3, 32)               // up.1 (skip 16), upconv
                      + res(24, 8, 32)                                      // up.2 (skip 8)
                      + conv(8, 1, 3, 32);                                  // out
  // The same numbers written out: the text encoder 425,984, the time MLP 2,560.
  CHECK(text == 425984.0);
  CHECK(time == 2560.0);
  CHECK(forward_flops(c, 1, true) == Approx(text + time + unet).epsilon(1e-12));
  CHECK(forward_flops(c, 1, false) == Approx(time + unet).epsilon(1e-12));
  CHECK(forward_flops(c, 5, true) == Approx(5 * (text + time + unet)).epsilon(1e-12));
  CHECK(training_step_flops(c, 4) == Approx(3 * 4 * (text + time + unet)).epsilon(1e-12));
}

TEST_CASE("the tiny config costs 381.18 MFLOP per image, the total of tutorial 7's module-by-module table",
          "[model][flops]") {
  CHECK(forward_flops(model_config("tiny", 1), 1) / 1e6 == Approx(381.18).margin(0.005));
}

TEST_CASE("tiny64 takes 64x64 and 32x32 images in 1 or 3 channels, the other presets 32x32", "[model][config]") {
  Generator gen(0);
  const ModelConfig c = model_config("tiny64", 3, 64);
  CHECK(c.image_size == 64);
  CHECK(c.image_channels == 3);
  CHECK(c.levels() == 4);
  TextToImageModel rgb(c, gen);
  TextToImageModel gray(model_config("tiny64", 1, 64), gen);
  TextToImageModel small(model_config("tiny64", 3, 32), gen);
  CHECK(rgb.parameter_count() == 1412531);                               // as the docs' table says
  CHECK(gray.parameter_count() == 1412531 - 2 * (16 * 9 + 16 * 9 + 1));  // inp and out: 2 channels fewer
  CHECK(small.parameter_count() == 1385523);  // at 32x32 the 16x16 attention sits at 32 channels, not 64
  CHECK(forward_flops(c, 1) / 1e6 == Approx(609.29).margin(0.005));
  CHECK(model_config_image_sizes("tiny64") == std::vector<int64_t>{32, 64});
  CHECK(model_config_image_sizes("tiny") == std::vector<int64_t>{32});
  CHECK_THROWS_WITH(model_config("tiny64", 3, 48), Catch::Contains("image size 48 is not supported"));
  CHECK_THROWS_WITH(model_config("tiny64", 2, 64), Catch::Contains("must be 1 (grayscale) or 3 (RGB), got 2"));
  CHECK_THROWS_WITH(model_config("tiny", 1, 64),
                    Catch::Contains("config 'tiny' takes 32x32 images, not 64x64") && Catch::Contains("tiny64"));
  CHECK_THROWS_WITH(model_config("huge"), Catch::Contains("choose one of: tiny, tiny64, small, micro"));
  // An attention resolution that no level has is an error, not attention left out silently.
  ModelConfig bad = model_config("tiny", 1);
  bad.image_size = 64;
  CHECK_THROWS_WITH(validate(bad), Catch::Contains("attention resolution 8 is not the size of any level"));
}
