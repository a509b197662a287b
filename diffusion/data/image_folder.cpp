// A folder of captioned images. See image_folder.h.
#include "diffusion/data/image_folder.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "diffusion/data/image_folder_cache.h"
#include "tensor/dispatch.h"

namespace tinydiff {

namespace {

namespace fs = std::filesystem;
constexpr const char* kOp = "image_folder";
constexpr const char* kMetadataFile = "metadata.jsonl";

// One example to decode: its file and caption, and where it was named (for errors).
struct Entry {
  std::string file;     // relative to the folder
  fs::path path;        // the file to read
  std::string caption;  // "" = unconditional
  std::string where;    // "DIR/metadata.jsonl:7" or the file's path
};

// What listing a folder finds: the examples, the skipped entries and the text the cache key hashes.
struct Listing {
  std::string convention;
  std::vector<Entry> entries;
  std::vector<std::string> problems;
  std::string key_text;
};

bool is_image_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* e : {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga", ".pnm", ".ppm", ".pgm", ".psd"})
    if (ext == e) return true;
  return false;
}

std::string read_bytes(const fs::path& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  TD_CHECK(in.good(), kOp, fmt::format("{}: cannot open '{}' (permissions?)", what, path.string()));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TD_CHECK(!in.bad(), kOp, fmt::format("{}: reading '{}' failed", what, path.string()));
  return data;
}

// "size mtime" of a file for the cache key, or "absent".
std::string stamp(const fs::path& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) return "absent";
  const auto mtime = fs::last_write_time(path, ec);
  if (ec) return "absent";
  return fmt::format("{} {}", size, mtime.time_since_epoch().count());
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// A caption file's lines joined by spaces, trimmed.
std::string caption_text(const std::string& text) {
  std::string out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty()) continue;
    if (!out.empty()) out += ' ';
    out += line;
  }
  return out;
}

// A bad entry: an error, or with skip_bad a line in `problems`.
void bad_entry(Listing& l, bool skip_bad, const std::string& problem) {
  TD_CHECK(skip_bad, kOp, problem + " (--skip-bad skips such entries with a warning)");
  l.problems.push_back(problem);
}

Listing list_metadata(const fs::path& dir, bool skip_bad) {
  Listing l;
  l.convention = kMetadataFile;
  const fs::path meta = dir / kMetadataFile;
  l.key_text += fmt::format("{}\t{}\n", kMetadataFile, stamp(meta));
  std::istringstream in(read_bytes(meta, meta.string()));
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (trim(line).empty()) continue;
    const std::string where = fmt::format("{}:{}", meta.string(), number);
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      bad_entry(l, skip_bad, fmt::format("{}: not a JSON object: {}", where, line.substr(0, 60)));
      continue;
    }
    std::string problem;
    for (const char* field : {"file_name", "text"}) {
      if (!problem.empty()) break;
      if (!j.contains(field))
        problem = fmt::format("{}: no \"{}\" field (each line needs \"file_name\" and \"text\")", where, field);
      else if (!j.at(field).is_string())
        problem = fmt::format("{}: \"{}\" is not a string", where, field);
    }
    const std::string file = problem.empty() ? j.at("file_name").get<std::string>() : std::string();
    if (problem.empty() && (file.empty() || fs::path(file).is_absolute()))
      problem = fmt::format("{}: \"file_name\" must be a path relative to the folder, got '{}'", where, file);
    const fs::path path = dir / file;
    const std::string st = problem.empty() ? stamp(path) : std::string();
    l.key_text += fmt::format("{}\t{}\n", file, st);
    std::error_code ec;
    if (problem.empty() && (st == "absent" || !fs::is_regular_file(path, ec)))
      problem = fmt::format("{}: the file '{}' does not exist", where, path.string());
    if (!problem.empty()) {
      bad_entry(l, skip_bad, problem);
      continue;
    }
    l.entries.push_back(
        {file, path, trim(j.at("text").get<std::string>()), fmt::format("{} ('{}')", where, path.string())});
  }
  return l;
}

Listing list_caption_files(const fs::path& dir) {
  Listing l;
  l.convention = "caption files";
  std::vector<fs::path> images;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path& p = it->path();
    if (p.filename().string().rfind('.', 0) == 0) {  // hidden: .git, .ipynb_checkpoints, ...
      std::error_code dir_ec;
      if (it->is_directory(dir_ec)) it.disable_recursion_pending();
      continue;
    }
    std::error_code file_ec;
    if (it->is_regular_file(file_ec) && is_image_name(p)) images.push_back(p);
  }
  TD_CHECK(!ec, kOp, fmt::format("cannot list the folder '{}': {}", dir.string(), ec.message()));
  std::sort(images.begin(), images.end());
  for (const fs::path& p : images) {
    const std::string file = fs::relative(p, dir).generic_string();
    fs::path txt = p;
    txt.replace_extension(".txt");
    const std::string txt_stamp = stamp(txt);
    l.key_text += fmt::format("{}\t{}\t{}\n", file, stamp(p), txt_stamp);
    std::string caption;
    if (txt_stamp != "absent") caption = caption_text(read_bytes(txt, txt.string()));
    l.entries.push_back({file, p, std::move(caption), p.string()});
  }
  return l;
}

Listing list_folder(const ImageFolderOptions& o) {
  std::error_code ec;
  const fs::path dir(o.dir);
  TD_CHECK(!o.dir.empty(), kOp, "no folder given: name a folder of images");
  TD_CHECK(fs::exists(dir, ec), kOp, fmt::format("the folder '{}' does not exist", o.dir));
  TD_CHECK(fs::is_directory(dir, ec), kOp, fmt::format("'{}' is not a folder", o.dir));
  const bool metadata = fs::exists(dir / kMetadataFile, ec);
  Listing l = metadata ? list_metadata(dir, o.skip_bad) : list_caption_files(dir);
  TD_CHECK(!l.entries.empty(), kOp,
           metadata ? fmt::format("'{}' lists no usable images{}", (dir / kMetadataFile).string(),
                                  l.problems.empty() ? "" : fmt::format(" ({} bad lines skipped)", l.problems.size()))
                    : fmt::format("the folder '{}' holds no images (.png, .jpg, .jpeg, .bmp, .gif, .tga, .pnm, "
                                  ".ppm, .pgm, .psd) and no metadata.jsonl",
                                  o.dir));
  const PrepareOptions& p = o.prepare;
  l.key_text = fmt::format("tinydiff image folder v1\n{}\nsize {} channels {} resize {} background {} skip_bad {}\n",
                           fs::absolute(dir, ec).lexically_normal().string(), p.size, p.channels,
                           resize_mode_name(p.resize), background_name(p.background), o.skip_bad) +
               l.key_text;
  return l;
}

// 1 when every image is grey (with or without alpha), else 3; from the headers.
int64_t data_channels(const std::vector<Entry>& entries) {
  for (const Entry& e : entries) {
    const int64_t c = image_file_channels(e.path.string());
    if (c != 1 && c != 2) return 3;
  }
  return 1;
}

void draw_progress(int64_t done, int64_t total) {
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(kWidth * done / std::max<int64_t>(total, 1));
  std::fputs(fmt::format("\rtinydiff: decoding images [{}{}] {}/{}", std::string(filled, '#'),
                         std::string(kWidth - filled, ' '), done, total)
                 .c_str(),
             stderr);
  if (done == total) std::fputs("\n", stderr);
  std::fflush(stderr);
}

}  // namespace

uint64_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t value = 0;
  std::string unit;
  while (in >> key >> value) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return value * 1024;  // kB
  }
  return 0;
}

Tensor ImageFolder::images(const Tensor& index) const {
  TD_CHECK(index.dim() == 1 && index.dtype() == DType::I64, "ImageFolder::images",
           fmt::format("expected an int64 index (B), got {} {}", dtype_name(index.dtype()), shape_str(index.shape())));
  const int64_t b = index.size(0), c = prepare.channels, s = prepare.size, plane = c * s * s, n = count();
  Tensor out = Tensor::empty({b, c, s, s});  // out: (B, C, S, S)
  float* dst = out.data<float>();
  const Tensor idx = index.contiguous();
  const int64_t* id = idx.data<int64_t>();
  for (int64_t i = 0; i < b; ++i) {
    TD_CHECK(id[i] >= 0 && id[i] < n, "ImageFolder::images", fmt::format("index {} outside [0, {})", id[i], n));
    const uint8_t* src = pixels.data() + id[i] * plane;
    for (int64_t k = 0; k < plane; ++k) dst[i * plane + k] = static_cast<float>(src[k]) / 127.5f - 1.0f;
  }
  return out;
}

std::string image_folder_cache_file(const ImageFolderOptions& o) {
  if (o.cache_dir.empty()) return "";
  return (fs::path(o.cache_dir) / (hash_hex(list_folder(o).key_text) + ".bin")).string();
}

ImageFolder load_image_folder(const ImageFolderOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  TD_CHECK(o.prepare.size >= 1 && (o.prepare.channels == 0 || o.prepare.channels == 1 || o.prepare.channels == 3), kOp,
           fmt::format("the image size must be at least 1 and channels 0 (from the data), 1 or 3; got {} and {}",
                       o.prepare.size, o.prepare.channels));
  Listing l = list_folder(o);
  ImageFolder f;
  f.dir = o.dir;
  const auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  if (!o.cache_dir.empty()) {
    f.cache_file = (fs::path(o.cache_dir) / (hash_hex(l.key_text) + ".bin")).string();
    std::string warning;
    if (read_image_folder_cache(f.cache_file, f, &warning)) {
      f.from_cache = true;
      f.seconds = seconds();
      return f;
    }
    if (!warning.empty()) std::fputs(fmt::format("tinydiff: warning: {}\n", warning).c_str(), stderr);
  }
  f.convention = l.convention;
  f.problems = std::move(l.problems);
  f.prepare = o.prepare;
  if (f.prepare.channels == 0) f.prepare.channels = data_channels(l.entries);
  const int64_t n = static_cast<int64_t>(l.entries.size()), s = f.prepare.size, c = f.prepare.channels;
  const int64_t plane = c * s * s;
  const uint64_t bytes = static_cast<uint64_t>(n) * static_cast<uint64_t>(plane);
  const uint64_t available = o.available_memory > 0 ? o.available_memory : available_memory_bytes();
  TD_CHECK(available == 0 || bytes <= available / 2, kOp,
           fmt::format("'{}': {} images of {}x{}x{} need {:.1f} MB in memory, more than half of the {:.1f} MB "
                       "available (/proc/meminfo MemAvailable); use a smaller image size or fewer images",
                       o.dir, n, s, s, c, bytes / 1e6, available / 1e6));

  // Decode in blocks, each in parallel; a progress bar between blocks.
  f.pixels.assign(bytes, 0);
  std::vector<std::string> errors(static_cast<size_t>(n));
  const bool bar = o.progress && ::isatty(STDERR_FILENO) != 0 && n >= 64;
  constexpr int64_t kBlock = 64;
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    const int64_t b1 = std::min(n, b0 + kBlock);
    parallel_for(b1 - b0, int64_t{1} << 20, [&](int64_t begin, int64_t end) {
      for (int64_t i = b0 + begin; i < b0 + end; ++i) {
        const Entry& e = l.entries[static_cast<size_t>(i)];
        try {
          const DecodedImage img = decode_image(read_bytes(e.path, e.where), e.where);
          const std::vector<uint8_t> p = prepare_image(img, f.prepare);
          std::copy(p.begin(), p.end(), f.pixels.begin() + i * plane);
        } catch (const Error& err) {
          // The message without its "op: " prefix, starting with the file.
          std::string msg = std::string(err.what()).substr(err.op().size() + 2);
          errors[static_cast<size_t>(i)] = msg.rfind(e.where, 0) == 0 ? msg : fmt::format("{}: {}", e.where, msg);
        } catch (const std::exception& err) {
          errors[static_cast<size_t>(i)] = fmt::format("{}: {}", e.where, err.what());
        }
      }
    });
    for (int64_t i = b0; i < b1; ++i)
      TD_CHECK(errors[static_cast<size_t>(i)].empty() || o.skip_bad, kOp,
               errors[static_cast<size_t>(i)] + " (--skip-bad skips such entries with a warning)");
    if (bar) draw_progress(b1, n);
  }
  // Keep the good examples, in order.
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    Entry& e = l.entries[static_cast<size_t>(i)];
    if (!errors[static_cast<size_t>(i)].empty()) {
      f.problems.push_back(errors[static_cast<size_t>(i)]);
      continue;
    }
    if (kept != i) std::copy_n(f.pixels.begin() + i * plane, plane, f.pixels.begin() + kept * plane);
    f.files.push_back(std::move(e.file));
    f.captions.push_back(std::move(e.caption));
    if (f.captions.back().empty()) ++f.uncaptioned;
    ++kept;
  }
  f.pixels.resize(static_cast<size_t>(kept * plane));
  TD_CHECK(kept > 0, kOp,
           fmt::format("none of the {} images in '{}' could be decoded; the first: {}", n, o.dir,
                       f.problems.empty() ? std::string() : f.problems.front()));
  if (!f.cache_file.empty()) {
    try {
      write_image_folder_cache(f.cache_file, f);
    } catch (const Error& e) {
      std::fputs(fmt::format("tinydiff: warning: the prepared images are not cached: {}\n", e.what()).c_str(), stderr);
      f.cache_file.clear();
    }
  }
  f.seconds = seconds();
  return f;
}

}  // namespace tinydiff
