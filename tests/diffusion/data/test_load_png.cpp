// Tests of load_png (diffusion/data/image_io.h): exact round trips of byte-quantised images through
// save_png, the byte -> [-1, 1] mapping, and clear errors for missing, damaged, alpha and
// oversized files.
#include <fmt/format.h>
#include <stb_image_write.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "diffusion/data/image_io.h"
#include "tensor/tensor.h"
#include "tests/temp_dir.h"

using namespace tinydiff;
namespace fs = std::filesystem;

namespace {

// A folder of its own under the system temp folder, removed at the end of the test.
struct TempDir : test::TempDir {
  explicit TempDir(const std::string& name) : test::TempDir("png", name) {}
};

// An image (C, H, W) whose pixels are the bytes (k * 37 + 11) mod 256 (k the flat (C, H, W) index)
// mapped to [-1, 1] as byte / 127.5 - 1: byte-quantised values that cover every byte for 256+ pixels.
Tensor quantised_image(int64_t c, int64_t h, int64_t w) {
  std::vector<double> v;
  for (int64_t k = 0; k < c * h * w; ++k)
    v.push_back(static_cast<double>(static_cast<float>((k * 37 + 11) % 256) / 127.5f - 1.0f));
  return Tensor::from_vector(v, {c, h, w});
}

std::string write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
  return path.string();
}

}  // namespace

TEST_CASE("save_png then load_png returns byte-quantised images exactly, grayscale and RGB", "[png][load_png]") {
  TempDir dir("roundtrip");
  for (const Shape& shape : {Shape{1, 5, 7}, Shape{3, 16, 16}, Shape{1, 32, 32}, Shape{3, 1, 300}}) {
    INFO("shape " << shape_str(shape));
    const Tensor image = quantised_image(shape[0], shape[1], shape[2]);
    const std::string path = (dir.path / "x.png").string();
    save_png(path, image);
    const Tensor back = load_png(path);
    REQUIRE(back.shape() == shape);
    CHECK(back.dtype() == DType::F32);
    // Exact: the same float32 values, and so the same bytes again.
    const std::vector<double> a = image.to_vector(), b = back.to_vector();
    for (size_t i = 0; i < a.size(); ++i) REQUIRE(b[i] == a[i]);
    CHECK(to_bytes(back) == to_bytes(image));
  }

  // The mapping by hand: bytes 0, 51, 255 in a 1x3 grayscale PNG written by stb directly.
  const unsigned char bytes[3] = {0, 51, 255};
  const std::string gray = (dir.path / "gray.png").string();
  REQUIRE(stbi_write_png(gray.c_str(), 3, 1, 1, bytes, 3) != 0);
  const Tensor g = load_png(gray);
  REQUIRE(g.shape() == Shape{1, 1, 3});
  CHECK(g.at({0, 0, 0}) == -1.0);
  CHECK(g.at({0, 0, 1}) == Approx(-0.6).margin(1e-7));  // 51 / 255 * 2 - 1, float32 round-off
  CHECK(g.at({0, 0, 2}) == 1.0);
  // RGB interleaving: pixel (x = 1) is (10, 20, 30); channel planes come back separated.
  const unsigned char rgb[6] = {0, 0, 0, 10, 20, 30};
  const std::string rgb_path = (dir.path / "rgb.png").string();
  REQUIRE(stbi_write_png(rgb_path.c_str(), 2, 1, 3, rgb, 6) != 0);
  const Tensor c = load_png(rgb_path);
  REQUIRE(c.shape() == Shape{3, 1, 2});
  CHECK(c.at({0, 0, 1}) == Approx(10 / 127.5 - 1).margin(1e-7));
  CHECK(c.at({1, 0, 1}) == Approx(20 / 127.5 - 1).margin(1e-7));
  CHECK(c.at({2, 0, 1}) == Approx(30 / 127.5 - 1).margin(1e-7));
}

TEST_CASE("load_png names the file and the reason for missing, damaged, alpha and oversized files",
          "[png][load_png][errors]") {
  TempDir dir("errors");
  const std::string missing = (dir.path / "missing.png").string();
  CHECK_THROWS_WITH(load_png(missing),
                    Catch::Contains("load_png") && Catch::Contains(missing) && Catch::Contains("no such file"));
  CHECK_THROWS_WITH(load_png(dir.path.string()), Catch::Contains("folder"));
  const std::string text = write_bytes(dir.path / "text.png", "this is not an image");
  CHECK_THROWS_WITH(load_png(text), Catch::Contains(text) && Catch::Contains("not a PNG file"));
  const std::string empty = write_bytes(dir.path / "empty.png", "");
  CHECK_THROWS_WITH(load_png(empty), Catch::Contains("not a PNG file"));

  // A real PNG cut in half, and one whose data after the header is garbage.
  const std::string png = encode_png(quantised_image(3, 16, 16));
  const std::string cut = write_bytes(dir.path / "cut.png", png.substr(0, png.size() / 2));
  CHECK_THROWS_WITH(load_png(cut), Catch::Contains("load_png") && Catch::Contains(cut));
  std::string garbled = png;
  for (size_t i = 40; i < garbled.size(); ++i) garbled[i] = static_cast<char>(garbled[i] ^ 0x5a);
  const std::string bad = write_bytes(dir.path / "garbled.png", garbled);
  CHECK_THROWS_WITH(load_png(bad), Catch::Contains("load_png") && Catch::Contains(bad));
  const std::string header_only = write_bytes(dir.path / "header.png", png.substr(0, 8));
  CHECK_THROWS_WITH(load_png(header_only), Catch::Contains(header_only));

  // Alpha channels are rejected (not dropped).
  const std::vector<unsigned char> px(4 * 4 * 4, 128);
  const std::string rgba = (dir.path / "rgba.png").string();
  REQUIRE(stbi_write_png(rgba.c_str(), 4, 4, 4, px.data(), 16) != 0);
  CHECK_THROWS_WITH(load_png(rgba), Catch::Contains(rgba) && Catch::Contains("RGBA"));
  const std::string ga = (dir.path / "ga.png").string();
  REQUIRE(stbi_write_png(ga.c_str(), 4, 4, 2, px.data(), 8) != 0);
  CHECK_THROWS_WITH(load_png(ga), Catch::Contains("grey + alpha"));

  // Larger than kMaxPngSide on one side: refused before decoding.
  const std::vector<unsigned char> row(static_cast<size_t>(kMaxPngSide + 1), 0);
  const std::string wide = (dir.path / "wide.png").string();
  REQUIRE(stbi_write_png(wide.c_str(), static_cast<int>(kMaxPngSide + 1), 1, 1, row.data(), 0) != 0);
  CHECK_THROWS_WITH(load_png(wide), Catch::Contains("4097x1 pixels"));
}
