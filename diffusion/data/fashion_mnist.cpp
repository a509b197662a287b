// Fashion-MNIST IDX reader. See fashion_mnist.h.
#include "diffusion/data/fashion_mnist.h"

#include <fmt/format.h>
#include <zlib.h>

namespace tinydiff {

std::string read_gzip_file(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  TD_CHECK(f != nullptr, "read_gzip_file",
           fmt::format("cannot open '{}'; for Fashion-MNIST install Debian's dataset-fashion-mnist package", path));
  std::string out;
  char buffer[1 << 16];
  int n = 0;
  while ((n = gzread(f, buffer, sizeof(buffer))) > 0) out.append(buffer, static_cast<size_t>(n));
  int err = 0;
  const char* message = gzerror(f, &err);
  const std::string error_text = (n < 0 || err < 0) ? std::string(message) : std::string();
  gzclose(f);
  TD_CHECK(error_text.empty(), "read_gzip_file", fmt::format("'{}' is corrupt: {}", path, error_text));
  return out;
}

namespace {
uint32_t read_be32(const std::string& bytes, size_t pos) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(bytes[pos])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(bytes[pos + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(bytes[pos + 2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(bytes[pos + 3]));
}

// Parses an IDX file of unsigned bytes with the given rank; returns the extents, checks the size.
Shape parse_idx_header(const std::string& bytes, uint32_t rank, const std::string& path) {
  TD_CHECK(bytes.size() >= 4 + 4 * rank, "load_fashion_mnist",
           fmt::format("'{}' is too short for an IDX header", path));
  const uint32_t magic = read_be32(bytes, 0);
  TD_CHECK(magic == (0x0800u | rank), "load_fashion_mnist",
           fmt::format("'{}' has IDX magic 0x{:08x}, expected 0x{:08x} (unsigned bytes, rank {})", path, magic,
                       0x0800u | rank, rank));
  Shape shape;
  int64_t count = 1;
  for (uint32_t i = 0; i < rank; ++i) {
    shape.push_back(read_be32(bytes, 4 + 4 * i));
    count *= shape.back();
  }
  TD_CHECK(bytes.size() == 4 + 4 * rank + static_cast<size_t>(count), "load_fashion_mnist",
           fmt::format("'{}' holds {} bytes, but its header {} needs {}", path, bytes.size(), shape_str(shape),
                       4 + 4 * rank + count));
  return shape;
}
}  // namespace

FashionMnist load_fashion_mnist(FashionSplit split, const std::string& dir, int64_t limit, bool pad_to_32) {
  const std::string prefix = split == FashionSplit::Train ? "train" : "t10k";
  const std::string image_path = dir + "/" + prefix + "-images-idx3-ubyte.gz";
  const std::string label_path = dir + "/" + prefix + "-labels-idx1-ubyte.gz";
  const std::string image_bytes = read_gzip_file(image_path);
  const std::string label_bytes = read_gzip_file(label_path);
  const Shape ishape = parse_idx_header(image_bytes, 3, image_path);  // (N, 28, 28)
  const Shape lshape = parse_idx_header(label_bytes, 1, label_path);  // (N)
  TD_CHECK(ishape[0] == lshape[0], "load_fashion_mnist",
           fmt::format("'{}' has {} images but '{}' has {} labels", image_path, ishape[0], label_path, lshape[0]));

  const int64_t n = limit > 0 ? std::min(limit, ishape[0]) : ishape[0];
  const int64_t h = ishape[1], w = ishape[2], border = pad_to_32 ? 2 : 0;
  const int64_t s_h = h + 2 * border, s_w = w + 2 * border;
  FashionMnist out;
  out.images = Tensor::full({n, 1, s_h, s_w}, -1.0);  // images: (N, 1, S, S), background -1
  out.labels = Tensor::empty({n}, DType::I64);        // labels: (N)
  float* img = out.images.data<float>();
  int64_t* lab = out.labels.data<int64_t>();
  const auto* pix = reinterpret_cast<const uint8_t*>(image_bytes.data() + 16);
  const auto* lbl = reinterpret_cast<const uint8_t*>(label_bytes.data() + 8);
  for (int64_t i = 0; i < n; ++i) {
    TD_CHECK(lbl[i] < 10, "load_fashion_mnist",
             fmt::format("'{}': label {} of example {} is not 0..9", label_path, lbl[i], i));
    lab[i] = lbl[i];
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        img[(i * s_h + y + border) * s_w + x + border] = static_cast<float>(pix[(i * h + y) * w + x]) / 127.5f - 1.0f;
  }
  return out;
}

const std::array<std::string, 10>& fashion_class_names() {
  static const std::array<std::string, 10> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

const std::string& fashion_class_name(int64_t label) {
  TD_CHECK(label >= 0 && label < 10, "fashion_class_name", fmt::format("label {} is not 0..9", label));
  return fashion_class_names()[static_cast<size_t>(label)];
}

}  // namespace tinydiff
