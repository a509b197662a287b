/// \file
/// \brief Test helper: writes folders of captioned images of mixed formats, sizes and modes (PNG and JPEG with
/// stb_image_write; grey, grey + alpha, RGB, RGBA) in both conventions of image_folder.h.
///
/// Usage:
/// \code
///   test::TempDir dir("folder", "jsonl");
///   write_test_folder(dir.path, FolderConvention::Metadata);   // 6 images, metadata.jsonl
/// \endcode
#pragma once

#include <stb_image_write.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace tinydiff::test {

/// The two conventions of image_folder.h.
enum class FolderConvention {
  Metadata,      ///< DIR/metadata.jsonl
  CaptionFiles,  ///< cat.png + cat.txt
};

/// One image of the test folder.
struct TestImage {
  std::string file;     ///< path relative to the folder
  int w, h, c;          ///< size and channels (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA)
  std::string caption;  ///< its caption ("" for none)
};

/// The images write_test_folder writes: PNG, JPEG and BMP, grey to RGBA, 8x8 to 64x48, one in a
/// sub-folder, one without a caption (last).
inline std::vector<TestImage> test_images() {
  return {{"red.png", 40, 30, 3, "a red square"},
          {"sub/grey.jpg", 20, 20, 1, "a grey circle"},
          {"emoji.png", 64, 64, 4, "a smiley cat"},
          {"ga.png", 16, 24, 2, "a grey square"},
          {"photo.jpg", 64, 48, 3, "a photo of a blue sky"},
          {"tiny.bmp", 8, 8, 3, ""}};
}

/// Deterministic pixels (h, w, c) of image number `k`: smooth gradients with a bright block, and
/// an alpha ramp when c is 2 or 4.
inline std::vector<uint8_t> test_pixels(int k, int w, int h, int c) {
  std::vector<uint8_t> px(static_cast<size_t>(w * h * c));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int ch = 0; ch < c; ++ch) {
        int v = (x * 255 / w + y * 97 / h + ch * 60 + k * 31) % 256;
        if (x > w / 3 && x < w / 2 && y > h / 4 && y < h / 2) v = 250 - 20 * ch;
        const bool alpha = (c == 2 || c == 4) && ch == c - 1;
        if (alpha) v = x < w / 4 ? 0 : (x * 255 / std::max(w - 1, 1));
        px[static_cast<size_t>((y * w + x) * c + ch)] = static_cast<uint8_t>(v);
      }
  return px;
}

/// Writes `path` (PNG, JPEG or BMP by its extension) with test_pixels(k, ...); returns false on failure.
inline bool write_test_image(const std::filesystem::path& path, int k, int w, int h, int c) {
  std::filesystem::create_directories(path.parent_path());
  const std::vector<uint8_t> px = test_pixels(k, w, h, c);
  if (path.extension() == ".jpg") return stbi_write_jpg(path.string().c_str(), w, h, c, px.data(), 90) != 0;
  if (path.extension() == ".bmp") return stbi_write_bmp(path.string().c_str(), w, h, c, px.data()) != 0;
  return stbi_write_png(path.string().c_str(), w, h, c, px.data(), w * c) != 0;
}

/// Writes test_images() into `dir` in the given convention.
inline void write_test_folder(const std::filesystem::path& dir, FolderConvention convention) {
  const std::vector<TestImage> images = test_images();
  std::ofstream meta;
  if (convention == FolderConvention::Metadata) meta.open(dir / "metadata.jsonl");
  for (size_t k = 0; k < images.size(); ++k) {
    const TestImage& t = images[k];
    write_test_image(dir / t.file, static_cast<int>(k), t.w, t.h, t.c);
    if (convention == FolderConvention::Metadata) {
      meta << "{\"file_name\": \"" << t.file << "\", \"text\": \"" << t.caption << "\"}\n";
    } else if (!t.caption.empty()) {
      std::filesystem::path txt = dir / t.file;
      txt.replace_extension(".txt");
      std::ofstream(txt) << t.caption << "\n";
    }
  }
}

}  // namespace tinydiff::test
