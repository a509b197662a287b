// Tests of image preparation (diffusion/data/image_prepare.h): compositing over white and black,
// padding, cropping and channel conversion exact on small images worked by hand; resizing against
// the naive float64 area average.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>

#include "diffusion/data/image_prepare.h"
#include "tensor/error.h"

using namespace tinydiff;

namespace {

DecodedImage image(int64_t w, int64_t h, int64_t c, std::vector<uint8_t> px) {
  return {.width = w, .height = h, .channels = c, .pixels = std::move(px)};
}

std::vector<int> ints(const std::vector<uint8_t>& v) { return std::vector<int>(v.begin(), v.end()); }

}  // namespace

TEST_CASE("prepare_image composites RGBA over white and black exactly", "[image_prepare]") {
  // 2x1 RGBA: (200, 100, 0, alpha 128) and (10, 20, 30, alpha 255); then 1x1 fully transparent.
  const DecodedImage img = image(2, 1, 4, {200, 100, 0, 128, 10, 20, 30, 255});
  // Worked by hand: a = 128/255; over white R = 128*200/255 + 127 = 227.39, G = 50.20 + 127 = 177.20,
  // B = 127; over black 100.39, 50.20, 0. Padded to 2x2: row 0 the image, row 1 the background.
  const PrepareOptions white{.size = 2, .channels = 3, .resize = ResizeMode::Pad, .background = Background::White};
  CHECK(ints(prepare_image(img, white)) ==
        std::vector<int>{227, 10, 255, 255, 177, 20, 255, 255, 127, 30, 255, 255});  // (C, S, S) planes
  PrepareOptions black = white;
  black.background = Background::Black;
  CHECK(ints(prepare_image(img, black)) == std::vector<int>{100, 10, 0, 0, 50, 20, 0, 0, 0, 30, 0, 0});
  const DecodedImage clear = image(1, 1, 4, {9, 9, 9, 0});
  CHECK(ints(prepare_image(clear, {.size = 1, .channels = 3})) == std::vector<int>{255, 255, 255});
  CHECK(ints(prepare_image(clear, {.size = 1, .channels = 1, .background = Background::Black})) == std::vector<int>{0});
  // Grey + alpha: 100 at alpha 51 (0.2) over white = 20 + 204 = 224, over black 20.
  const DecodedImage ga = image(1, 1, 2, {100, 51});
  CHECK(ints(prepare_image(ga, {.size = 1, .channels = 1})) == std::vector<int>{224});
  CHECK(ints(prepare_image(ga, {.size = 1, .channels = 1, .background = Background::Black})) == std::vector<int>{20});
}

TEST_CASE("prepare_image pads and crops to the centred square", "[image_prepare]") {
  // Grey 3x1 [10 20 30]: padded to 3x3 with the image in the middle row; cropped to the middle pixel.
  const DecodedImage row = image(3, 1, 1, {10, 20, 30});
  CHECK(ints(prepare_image(row, {.size = 3, .channels = 1, .resize = ResizeMode::Pad})) ==
        std::vector<int>{255, 255, 255, 10, 20, 30, 255, 255, 255});
  CHECK(ints(prepare_image(row,
                           {.size = 3, .channels = 1, .resize = ResizeMode::Pad, .background = Background::Black})) ==
        std::vector<int>{0, 0, 0, 10, 20, 30, 0, 0, 0});
  CHECK(ints(prepare_image(row, {.size = 1, .channels = 1, .resize = ResizeMode::Crop})) == std::vector<int>{20});
  // Grey 4x2: crop keeps columns 1..2; 2x3 (w 2, h 3) padded: the odd pixel of padding goes right.
  const DecodedImage wide = image(4, 2, 1, {1, 2, 3, 4, 5, 6, 7, 8});
  CHECK(ints(prepare_image(wide, {.size = 2, .channels = 1})) == std::vector<int>{2, 3, 6, 7});
  const DecodedImage tall = image(2, 3, 1, {1, 2, 3, 4, 5, 6});
  CHECK(ints(prepare_image(tall, {.size = 3, .channels = 1, .resize = ResizeMode::Pad})) ==
        std::vector<int>{1, 2, 255, 3, 4, 255, 5, 6, 255});
  // Crop of the tall image: rows 0..1 (floor of (3 - 2) / 2 = 0).
  CHECK(ints(prepare_image(tall, {.size = 2, .channels = 1})) == std::vector<int>{1, 2, 3, 4});
}

TEST_CASE("prepare_image converts channels: grey replicated, RGB to Rec. 601 luma", "[image_prepare]") {
  const DecodedImage grey = image(1, 1, 1, {77});
  CHECK(ints(prepare_image(grey, {.size = 1, .channels = 3})) == std::vector<int>{77, 77, 77});
  // 0.299 * 255 = 76.245; 0.587 * 255 = 149.685; 0.114 * 255 = 29.07; 2.99 + 117.4 + 3.42 = 123.81.
  const DecodedImage rgb = image(4, 1, 3, {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 200, 30});
  CHECK(ints(prepare_image(rgb, {.size = 4, .channels = 1, .resize = ResizeMode::Pad})) ==
        std::vector<int>{255, 255, 255, 255, 76, 150, 29, 124, 255, 255, 255, 255, 255, 255, 255, 255});
}

TEST_CASE("resize_square shrinks by area averaging like the naive float64 reference", "[image_prepare]") {
  // Tolerance: stb_image_resize computes in float32, so 1e-5 of the [0, 1] range (a 255th is 4e-3).
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (const auto& [side, size, channels] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {64, 32, 3}, {37, 16, 3}, {30, 16, 1}, {20, 7, 1}, {48, 32, 3}, {5, 1, 1}}) {
    INFO(side << " -> " << size << ", " << channels << " channels");
    std::vector<double> img(static_cast<size_t>(side * side * channels));
    for (double& v : img) v = u(rng);
    const std::vector<double> want = resize_square_area_naive(img, side, size, channels);
    const std::vector<float> got = resize_square(std::vector<float>(img.begin(), img.end()), side, size, channels);
    REQUIRE(got.size() == want.size());
    double worst = 0.0;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
    CHECK(worst < 1e-5);
  }
  // The reference itself, by hand: 3 -> 2 gives [a + b/2, b/2 + c] / 1.5 along a row.
  const std::vector<double> row3x3 = {0, 3, 6, 0, 3, 6, 0, 3, 6};
  const std::vector<double> small = resize_square_area_naive(row3x3, 3, 2, 1);
  CHECK(small[0] == Approx(1.0).epsilon(1e-12));  // (0 + 1.5) / 1.5
  CHECK(small[1] == Approx(5.0).epsilon(1e-12));  // (1.5 + 6) / 1.5
}

TEST_CASE("prepare_image bytes match the naive pipeline within one level", "[image_prepare]") {
  std::mt19937 rng(9);
  std::vector<uint8_t> px(45 * 31 * 4);
  for (auto& b : px) b = static_cast<uint8_t>(rng() % 256);
  const DecodedImage img = image(45, 31, 4, px);
  for (const ResizeMode mode : {ResizeMode::Crop, ResizeMode::Pad}) {
    const PrepareOptions o{.size = 16, .channels = 3, .resize = mode, .background = Background::Black};
    int64_t side = 0;
    const std::vector<double> sq = square_image(img, o, side);
    const std::vector<double> want = resize_square_area_naive(sq, side, 16, 3);
    const std::vector<uint8_t> got = prepare_image(img, o);
    int worst = 0;
    for (int64_t k = 0; k < 3; ++k)
      for (int64_t p = 0; p < 256; ++p)
        worst = std::max(worst, std::abs(got[k * 256 + p] - static_cast<int>(std::lround(255.0 * want[p * 3 + k]))));
    CHECK(worst <= 1);  // one rounding step: float32 against float64 at a .5 boundary
  }
}

TEST_CASE("decode_image reads a GIF's first frame as RGBA", "[image_prepare]") {
  // A 2x1 GIF written by hand: a 2-colour palette (0: blue, 1: red), pixels [1, 0] as the LZW
  // codes clear, 1, 0, end (3 bits each, least significant bit first: 0x0C 0x0A).
  const std::string gif = std::string("GIF89a\x02\x00\x01\x00\x80\x00\x00", 13) +
                          std::string("\x00\x00\xff\xff\x00\x00", 6) +                   // palette
                          std::string("\x2c\x00\x00\x00\x00\x02\x00\x01\x00\x00", 10) +  // image
                          std::string("\x02\x02\x0c\x0a\x00\x3b", 6);                    // LZW data, end
  const DecodedImage img = decode_image(gif, "two.gif");
  CHECK(img.width == 2);
  CHECK(img.height == 1);
  REQUIRE(img.channels == 4);
  CHECK(ints(img.pixels) == std::vector<int>{255, 0, 0, 255, 0, 0, 255, 255});
}

TEST_CASE("decode_image and prepare_image reject bad input with the file name", "[image_prepare]") {
  CHECK_THROWS_WITH(decode_image("not an image at all", "x/cat.png"), Catch::Contains("x/cat.png: cannot decode"));
  CHECK_THROWS_WITH(decode_image("", "x/empty.png"), Catch::Contains("x/empty.png: cannot decode: the file is empty"));
  CHECK_THROWS_AS(prepare_image(image(1, 1, 1, {0}), {.size = 1, .channels = 2}), Error);
  CHECK_THROWS_WITH(parse_resize_mode("stretch"), Catch::Contains("choose one of: crop, pad"));
  CHECK_THROWS_WITH(parse_background("grey"), Catch::Contains("choose one of: white, black"));
}
