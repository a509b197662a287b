// Tests of image folders (diffusion/data/image_folder.h, image_folder_data.h): generated folders of
// PNG and JPEG files of mixed sizes and modes in both conventions, against the naive pipeline;
// the vocabulary built from their captions; every bad input; the cache.
#include <fmt/format.h>
#include <stb_image.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "diffusion/data/image_folder.h"
#include "diffusion/data/image_folder_data.h"
#include "diffusion/models/tokenizer.h"
#include "tensor/error.h"
#include "tests/diffusion/data/image_folder_fixture.h"
#include "tests/temp_dir.h"

using namespace tinydiff;
using test::FolderConvention;
namespace fs = std::filesystem;

namespace {

ImageFolderOptions options_for(const fs::path& dir, int64_t size = 8, int64_t channels = 3) {
  ImageFolderOptions o;
  o.dir = dir.string();
  o.prepare = {.size = size, .channels = channels};
  o.progress = false;
  return o;
}

// The naive pipeline for one file: stb_image's pixels, square_image (float64), the float64 area
// average (every test image is at least `size` on its short side), rounded to (C, S, S) bytes.
std::vector<int> reference_bytes(const fs::path& file, const PrepareOptions& o) {
  int w = 0, h = 0, c = 0;
  stbi_uc* px = stbi_load(file.string().c_str(), &w, &h, &c, 0);
  REQUIRE(px != nullptr);
  DecodedImage img{.width = w, .height = h, .channels = c, .pixels = std::vector<uint8_t>(px, px + w * h * c)};
  stbi_image_free(px);
  int64_t side = 0;
  const std::vector<double> sq = square_image(img, o, side);
  const std::vector<double> small = resize_square_area_naive(sq, side, o.size, o.channels);
  std::vector<int> out(static_cast<size_t>(o.channels * o.size * o.size));
  for (int64_t k = 0; k < o.channels; ++k)
    for (int64_t p = 0; p < o.size * o.size; ++p)
      out[k * o.size * o.size + p] = static_cast<int>(std::lround(255.0 * small[p * o.channels + k]));
  return out;
}

// Largest difference between example i's bytes and the naive pipeline of `file`.
int worst_difference(const ImageFolder& f, int64_t i, const fs::path& file) {
  const std::vector<int> want = reference_bytes(file, f.prepare);
  const int64_t plane = static_cast<int64_t>(want.size());
  int worst = 0;
  for (int64_t k = 0; k < plane; ++k) worst = std::max(worst, std::abs(f.pixels[i * plane + k] - want[k]));
  return worst;
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

}  // namespace

TEST_CASE("an image folder with metadata.jsonl loads every image in line order", "[image_folder]") {
  test::TempDir dir("folder", "jsonl");
  test::write_test_folder(dir.path, FolderConvention::Metadata);
  for (const int64_t channels : {3, 1}) {
    INFO(channels << " channels");
    const ImageFolder f = load_image_folder(options_for(dir.path, 8, channels));
    const auto images = test::test_images();
    REQUIRE(f.count() == static_cast<int64_t>(images.size()));
    CHECK(f.convention == "metadata.jsonl");
    CHECK(f.pixels.size() == images.size() * channels * 8 * 8);
    CHECK(f.uncaptioned == 1);
    CHECK(f.problems.empty());
    for (size_t i = 0; i < images.size(); ++i) {
      INFO(images[i].file);
      CHECK(f.files[i] == images[i].file);
      CHECK(f.captions[i] == images[i].caption);
      // Tolerance: one level (float32 resizing against float64 at a .5 rounding boundary).
      CHECK(worst_difference(f, static_cast<int64_t>(i), dir.path / images[i].file) <= 1);
    }
  }
}

TEST_CASE("an image folder with caption files: path order, empty caption without a .txt", "[image_folder]") {
  test::TempDir dir("folder", "txt");
  test::write_test_folder(dir.path, FolderConvention::CaptionFiles);
  fs::create_directories(dir.path / ".hidden");
  test::write_test_image(dir.path / ".hidden" / "skip.png", 0, 8, 8, 3);  // hidden folders are not read
  write_text(dir.path / "notes.md", "not an image");                      // other files neither
  const ImageFolder f = load_image_folder(options_for(dir.path));
  CHECK(f.convention == "caption files");
  REQUIRE(f.files ==
          std::vector<std::string>{"emoji.png", "ga.png", "photo.jpg", "red.png", "sub/grey.jpg", "tiny.bmp"});
  CHECK(f.captions == std::vector<std::string>{"a smiley cat", "a grey square", "a photo of a blue sky", "a red square",
                                               "a grey circle", ""});
  CHECK(f.uncaptioned == 1);
  for (int64_t i = 0; i < f.count(); ++i) CHECK(worst_difference(f, i, dir.path / f.files[i]) <= 1);
  // A caption file's lines are joined and trimmed.
  write_text(dir.path / "tiny.txt", "  two\nlines \n");
  CHECK(load_image_folder(options_for(dir.path)).captions.back() == "two lines");
}

TEST_CASE("image folder channels follow the data when not given", "[image_folder]") {
  test::TempDir dir("folder", "channels");
  test::write_test_image(dir.path / "a.png", 0, 8, 8, 1);
  test::write_test_image(dir.path / "b.png", 1, 8, 8, 2);
  CHECK(load_image_folder(options_for(dir.path, 8, 0)).prepare.channels == 1);  // grey, grey + alpha
  test::write_test_image(dir.path / "c.jpg", 2, 8, 8, 3);
  CHECK(load_image_folder(options_for(dir.path, 8, 0)).prepare.channels == 3);
}

TEST_CASE("the folder as training data: batches of its images and captions, flips", "[image_folder]") {
  test::TempDir dir("folder", "batches");
  test::write_test_folder(dir.path, FolderConvention::Metadata);
  const ImageFolder f = load_image_folder(options_for(dir.path));
  const auto data = make_image_folder_data(f, false);
  CHECK(data->name() == "folder");
  CHECK(data->image_size() == 8);
  CHECK(data->image_channels() == 3);
  Generator gen(3), same(3);
  const TrainingBatch b = data->next_batch(gen, 16);
  REQUIRE(b.images.shape() == Shape({16, 3, 8, 8}));
  const Tensor index = same.randint(0, f.count(), {16});  // the draws of next_batch
  const std::vector<double> got = b.images.to_vector();
  for (int64_t i = 0; i < 16; ++i) {
    const int64_t k = index.data<int64_t>()[i];
    CHECK(b.captions[static_cast<size_t>(i)] == f.captions[static_cast<size_t>(k)]);
    for (int64_t p = 0; p < 192; ++p)
      REQUIRE(got[static_cast<size_t>(i * 192 + p)] == static_cast<float>(f.pixels[k * 192 + p]) / 127.5f - 1.0f);
  }
  // With flips: every image is itself or its mirror, and both occur.
  const auto flipping = make_image_folder_data(f, true);
  Generator g2(3);
  const TrainingBatch fb = flipping->next_batch(g2, 16);
  const Tensor mirrored = flip_horizontal_where(b.images, Tensor::ones({16}));
  int flipped = 0;
  for (int64_t i = 0; i < 16; ++i) {
    const Tensor x = fb.images.slice(0, i, i + 1), plain = b.images.slice(0, i, i + 1);
    const bool same_image = x.to_vector() == plain.to_vector();
    const bool mirror = x.to_vector() == mirrored.slice(0, i, i + 1).to_vector();
    CHECK((same_image || mirror));
    flipped += mirror && !same_image ? 1 : 0;
  }
  CHECK(flipped > 0);
  CHECK(flipped < 16);
  // Previews: the distinct non-empty captions (here fewer than eight: all of them, sorted).
  CHECK(data->preview_prompts() == std::vector<std::string>{"a grey circle", "a grey square", "a photo of a blue sky",
                                                            "a red square", "a smiley cat"});
  CHECK(data->vocabulary_captions().size() == 6);
  CHECK(data->metadata_json().find("\"images\":6") != std::string::npos);
}

TEST_CASE("the vocabulary of folder captions: lower-cased, punctuation split, most frequent first, capped",
          "[image_folder][tokenizer]") {
  const std::vector<std::string> captions = {"Red cat.", "red dog", "blue CAT", "Red", ""};
  // Counts: red 3, cat 2, then ".", blue, dog once each (ties alphabetical).
  const Tokenizer all = Tokenizer::build(captions);
  CHECK(all.vocab() == std::vector<std::string>{"<pad>", "<unk>", "<bos>", "red", "cat", ".", "blue", "dog"});
  const Tokenizer capped = Tokenizer::build(captions, {.max_length = 4, .max_vocab = 5});
  CHECK(capped.vocab() == std::vector<std::string>{"<pad>", "<unk>", "<bos>", "red", "cat"});
  // Coverage with the cap: tokens red cat . | red dog | blue cat | red = 8, of which ".", dog, blue are <unk>.
  const CaptionCoverage c = caption_coverage(capped, captions);
  CHECK(c.captions == 5);
  CHECK(c.distinct_words == 5);
  CHECK(c.tokens == 8);
  CHECK(c.unknown_tokens == 3);
  CHECK(c.truncated_captions == 0);
  // A caption longer than max_length - 1 = 3 words is truncated to 3 tokens.
  const CaptionCoverage t = caption_coverage(capped, {"red red red red cat"});
  CHECK(t.truncated_captions == 1);
  CHECK(t.tokens == 3);
}

TEST_CASE("bad image folders: one error naming the file and line", "[image_folder][errors]") {
  test::TempDir dir("folder", "bad");
  const auto load = [&](const fs::path& d, bool skip = false) {
    ImageFolderOptions o = options_for(d);
    o.skip_bad = skip;
    return load_image_folder(o);
  };
  CHECK_THROWS_WITH(load(dir.path / "nowhere"), Catch::Contains("nowhere' does not exist"));
  write_text(dir.path / "file.txt", "x");
  CHECK_THROWS_WITH(load(dir.path / "file.txt"), Catch::Contains("is not a folder"));
  fs::create_directories(dir.path / "empty");
  CHECK_THROWS_WITH(load(dir.path / "empty"), Catch::Contains("holds no images"));

  const fs::path m = dir.path / "meta";
  fs::create_directories(m);
  test::write_test_image(m / "ok.png", 0, 8, 8, 3);
  write_text(m / "broken.png", "this is not a PNG file");
  const std::string good = "{\"file_name\": \"ok.png\", \"text\": \"fine\"}\n";
  const std::string meta = (m / "metadata.jsonl").string();
  const auto expect = [&](const std::string& second_line, const std::string& what) {
    write_text(meta, good + second_line + "\n" + good);
    INFO(second_line);
    CHECK_THROWS_WITH(load(m), Catch::Contains(meta + ":2") && Catch::Contains(what));
    const ImageFolder skipped = load(m, true);  // --skip-bad: the two good lines, one problem
    CHECK(skipped.count() == 2);
    REQUIRE(skipped.problems.size() == 1);
    CHECK_THAT(skipped.problems[0], Catch::Contains(meta + ":2"));
  };
  expect("{\"file_name\": \"ok.png\", \"text\": ", "not a JSON object");
  expect("[1, 2]", "not a JSON object");
  expect("{\"file_name\": \"ok.png\"}", "no \"text\" field");
  expect("{\"text\": \"a cat\"}", "no \"file_name\" field");
  expect("{\"file_name\": \"ok.png\", \"text\": 3}", "\"text\" is not a string");
  expect("{\"file_name\": \"gone.png\", \"text\": \"a cat\"}", "gone.png' does not exist");
  expect("{\"file_name\": \"broken.png\", \"text\": \"a cat\"}", "broken.png'): cannot decode");
  // An empty caption is allowed: the unconditional model.
  write_text(meta, good + "{\"file_name\": \"ok.png\", \"text\": \"\"}\n");
  CHECK(load(m).uncaptioned == 1);
  // Every line bad: no usable images even with --skip-bad.
  write_text(meta, "{}\n");
  CHECK_THROWS_WITH(load(m, true), Catch::Contains("lists no usable images"));

  // Caption-file folders name the undecodable file.
  const fs::path t = dir.path / "txt";
  fs::create_directories(t);
  test::write_test_image(t / "ok.png", 0, 8, 8, 3);
  write_text(t / "zz.jpg", "garbage");
  CHECK_THROWS_WITH(load(t), Catch::Contains((t / "zz.jpg").string() + ": cannot decode"));
  CHECK(load(t, true).problems.size() == 1);

  // Too large for memory: 2 images of 8x8x3 = 384 bytes against 200 bytes available (half: 100).
  ImageFolderOptions small = options_for(t);
  small.skip_bad = true;
  small.available_memory = 200;
  CHECK_THROWS_WITH(load_image_folder(small), Catch::Contains("MemAvailable") && Catch::Contains("2 images of 8x8x3"));
  CHECK(available_memory_bytes() > 0);  // /proc/meminfo on Linux
}

TEST_CASE("the image folder cache: a hit on the second load, a miss after a change", "[image_folder][cache]") {
  test::TempDir dir("folder", "cache");
  const fs::path data = dir.path / "data", cache = dir.path / "cache";
  fs::create_directories(data);
  test::write_test_folder(data, FolderConvention::CaptionFiles);
  ImageFolderOptions o = options_for(data);
  o.cache_dir = cache.string();
  const ImageFolder first = load_image_folder(o);
  CHECK_FALSE(first.from_cache);
  REQUIRE(fs::exists(first.cache_file));
  const ImageFolder second = load_image_folder(o);
  CHECK(second.from_cache);
  CHECK(second.cache_file == first.cache_file);
  CHECK(second.pixels == first.pixels);
  CHECK(second.captions == first.captions);
  CHECK(second.files == first.files);
  CHECK(second.uncaptioned == first.uncaptioned);
  CHECK(second.prepare.channels == first.prepare.channels);

  // Touching one image (a new modification time) changes the key: decoded again.
  fs::last_write_time(data / "red.png", fs::last_write_time(data / "red.png") + std::chrono::seconds(2));
  const ImageFolder touched = load_image_folder(o);
  CHECK_FALSE(touched.from_cache);
  CHECK(touched.cache_file != first.cache_file);
  CHECK(load_image_folder(o).from_cache);
  // So do a new caption file, and every preparation option.
  write_text(data / "tiny.txt", "now captioned");
  CHECK_FALSE(load_image_folder(o).from_cache);
  for (int change = 0; change < 4; ++change) {
    ImageFolderOptions p = o;
    if (change == 0) p.prepare.size = 4;
    if (change == 1) p.prepare.channels = 1;
    if (change == 2) p.prepare.resize = ResizeMode::Pad;
    if (change == 3) p.prepare.background = Background::Black;
    INFO("change " << change);
    CHECK_FALSE(load_image_folder(p).from_cache);
    CHECK(load_image_folder(p).from_cache);
  }
  // Only finished cache files remain (no temporary files).
  for (const auto& e : fs::directory_iterator(cache)) CHECK(e.path().extension() == ".bin");
  // A damaged cache file is ignored (and rewritten).
  const std::string file = image_folder_cache_file(o);
  fs::resize_file(file, fs::file_size(file) - 10);
  const ImageFolder repaired = load_image_folder(o);
  CHECK_FALSE(repaired.from_cache);
  CHECK(load_image_folder(o).from_cache);
}
