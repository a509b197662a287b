// Tests of the Fashion-MNIST reader and PNG writing.
#include <stb_image.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>

#include "diffusion/data/fashion_mnist.h"
#include "diffusion/data/image_io.h"

using namespace tinydiff;

TEST_CASE("Fashion-MNIST loads, scaled to (-1, 1) and padded to 32x32", "[data][fashion]") {
  FashionMnist train = load_fashion_mnist(FashionSplit::Train, kFashionMnistDir, 100);
  REQUIRE(train.images.shape() == Shape{100, 1, 32, 32});
  REQUIRE(train.labels.shape() == Shape{100});
  // Reference values read independently with numpy (gzip + frombuffer) from the same files:
  // first labels 9 0 0 3 0 2 7 2 5 5; image 0 has pixel sum 76247 and maximum 255.
  const std::vector<double> first = train.labels.slice(0, 0, 10).to_vector();
  CHECK(first == std::vector<double>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5});
  Tensor img0 = train.images.slice(0, 0, 1);
  double pixel_sum = 0;
  for (double v : img0.to_vector()) pixel_sum += (v + 1.0) * 127.5;
  CHECK(pixel_sum == Approx(76247).margin(0.5));
  CHECK(max(img0).item() == Approx(1.0));
  // The 2-pixel border is background.
  CHECK(max(img0.slice(2, 0, 2)).item() == -1.0);
  CHECK(max(img0.slice(3, 30, 32)).item() == -1.0);

  FashionMnist test = load_fashion_mnist(FashionSplit::Test, kFashionMnistDir, -1, false);
  CHECK(test.images.shape() == Shape{10000, 1, 28, 28});
  CHECK(test.labels.slice(0, 0, 5).to_vector() == std::vector<double>{9, 2, 1, 1, 6});
  CHECK(fashion_class_name(9) == "Ankle boot");
  CHECK_THROWS_WITH(load_fashion_mnist(FashionSplit::Train, "/nonexistent"), Catch::Contains("dataset-fashion-mnist"));
}

TEST_CASE("PNG files decode back to the quantised pixels", "[data][png]") {
  // A 3x2x4 RGB gradient in [-1, 1].
  Tensor img = Tensor::empty({3, 2, 4});
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < 2; ++y)
      for (int64_t x = 0; x < 4; ++x) img.set({c, y, x}, -1.0 + 2.0 * (c * 8 + y * 4 + x) / 23.0);
  const std::string path = (std::filesystem::temp_directory_path() / "tinydiff_test.png").string();
  save_png(path, img);
  int w = 0, h = 0, c = 0;
  unsigned char* pixels = stbi_load(path.c_str(), &w, &h, &c, 0);
  REQUIRE(pixels != nullptr);
  CHECK(w == 4);
  CHECK(h == 2);
  CHECK(c == 3);
  const std::vector<uint8_t> expected = to_bytes(img);
  CHECK(std::vector<uint8_t>(pixels, pixels + 24) == expected);
  CHECK(expected[0] == 0);     // -1 -> 0
  CHECK(expected[23] == 255);  // +1 -> 255 (last pixel, blue channel)
  stbi_image_free(pixels);
  std::remove(path.c_str());

  CHECK_THROWS_WITH(save_png("/nonexistent-folder/x.png", img), Catch::Contains("cannot write"));
  CHECK_THROWS_WITH(save_png(path, Tensor::zeros({2, 4, 4})), Catch::Contains("C = 1 or 3"));

  Tensor grid = make_grid(Tensor::zeros({5, 1, 4, 4}), 3, 1, -1.0);
  CHECK(grid.shape() == Shape{1, 2 * 5 + 1, 3 * 5 + 1});
  CHECK(grid.at({0, 0, 0}) == -1.0);
  CHECK(grid.at({0, 1, 1}) == 0.0);
  CHECK(grid.at({0, 6, 11}) == -1.0);  // the sixth cell is empty
}
