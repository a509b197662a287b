// The cache of prepared image folders. See image_folder_cache.h.
#include "diffusion/data/image_folder_cache.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "tensor/error.h"

namespace tinydiff {

namespace {

constexpr const char* kMagic = "tinydiff-image-folder-cache 1";

uint64_t fnv1a(const std::string& text, uint64_t offset) {
  uint64_t h = offset;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  // splitmix64 finish: spreads the last bytes over every bit.
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
  return h ^ (h >> 31);
}

}  // namespace

std::string hash_hex(const std::string& text) {
  return fmt::format("{:016x}{:016x}", fnv1a(text, 0xcbf29ce484222325ull), fnv1a(text, 0x84222325cbf29ce4ull));
}

bool read_image_folder_cache(const std::string& path, ImageFolder& out, std::string* warning) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  const auto fail = [&](const std::string& why) {
    if (warning != nullptr) *warning = fmt::format("ignoring the cache file '{}': {}", path, why);
    return false;
  };
  std::ifstream in(path, std::ios::binary);
  std::string magic, header;
  if (!std::getline(in, magic) || magic != kMagic) return fail("not a tinydiff image-folder cache of this version");
  if (!std::getline(in, header)) return fail("no header");
  const nlohmann::json j = nlohmann::json::parse(header, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail("the header is not JSON");
  ImageFolder f;
  try {
    f.convention = j.at("convention").get<std::string>();
    f.prepare.size = j.at("size").get<int64_t>();
    f.prepare.channels = j.at("channels").get<int64_t>();
    f.prepare.resize = parse_resize_mode(j.at("resize").get<std::string>());
    f.prepare.background = parse_background(j.at("background").get<std::string>());
    f.files = j.at("files").get<std::vector<std::string>>();
    f.captions = j.at("captions").get<std::vector<std::string>>();
    f.problems = j.at("problems").get<std::vector<std::string>>();
    f.uncaptioned = j.at("uncaptioned").get<int64_t>();
  } catch (const std::exception& e) {
    return fail(fmt::format("a malformed header ({})", e.what()));
  }
  const size_t expected = f.captions.size() * static_cast<size_t>(f.prepare.channels * f.prepare.size * f.prepare.size);
  if (f.files.size() != f.captions.size()) return fail("files and captions differ in number");
  f.pixels.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad() || f.pixels.size() != expected)
    return fail(fmt::format("{} pixel bytes where {} were expected (a damaged file)", f.pixels.size(), expected));
  f.dir = out.dir;
  f.cache_file = out.cache_file;
  f.from_cache = out.from_cache;
  f.seconds = out.seconds;
  out = std::move(f);
  return true;
}

void write_image_folder_cache(const std::string& path, const ImageFolder& folder) {
  const char* op = "write_image_folder_cache";
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  TD_CHECK(!ec, op, fmt::format("cannot create the cache folder '{}': {}", parent.string(), ec.message()));
  const nlohmann::json j = {{"convention", folder.convention},
                            {"size", folder.prepare.size},
                            {"channels", folder.prepare.channels},
                            {"resize", resize_mode_name(folder.prepare.resize)},
                            {"background", background_name(folder.prepare.background)},
                            {"files", folder.files},
                            {"captions", folder.captions},
                            {"problems", folder.problems},
                            {"uncaptioned", folder.uncaptioned}};
  // Invalid UTF-8 in a caption is replaced rather than thrown on.
  const std::string header = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  TD_CHECK(f != nullptr, op, fmt::format("cannot write '{}': check that the cache folder is writable", tmp));
  bool ok = std::fputs(kMagic, f) >= 0 && std::fputc('\n', f) != EOF;
  ok = ok && std::fwrite(header.data(), 1, header.size(), f) == header.size() && std::fputc('\n', f) != EOF;
  ok = ok && std::fwrite(folder.pixels.data(), 1, folder.pixels.size(), f) == folder.pixels.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(op, fmt::format("writing '{}' failed (disk full or folder not writable?)", path));
  }
}

}  // namespace tinydiff
