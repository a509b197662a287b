// Storage and its caching allocator. See Storage in tensor_core.h.
//
// Training allocates the same tensor sizes step after step (activations, gradients, im2col
// buffers). Returning them to malloc costs system calls and, for large blocks, page faults
// on every reuse (glibc maps big blocks with mmap and unmaps them on free). The cache keeps
// freed blocks in free lists by size class and hands them out again.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tensor/tensor_core.h"

#if defined(__SANITIZE_ADDRESS__)
#define TINYDIFF_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TINYDIFF_ASAN 1
#endif
#endif

namespace tinydiff {

namespace {

/// Rounds a request up to its size class: multiples of 64 bytes up to 4 KiB, then 8 steps per
/// power of two (2^k, 2^k (1 + 1/8), ..., 2^k (1 + 7/8)), so at most 1/8 of a block is unused.
int64_t size_class(int64_t bytes) {
  if (bytes <= 4096) return (bytes + 63) / 64 * 64;
  int64_t pow2 = 4096;
  while (pow2 * 2 < bytes) pow2 *= 2;
  const int64_t step = pow2 / 8;
  return (bytes + step - 1) / step * step;
}

int64_t default_limit() {
#ifdef TINYDIFF_ASAN
  return 0;  // every block goes back to malloc, so AddressSanitizer sees each use after free
#else
  const char* env = std::getenv("TINYDIFF_STORAGE_CACHE");
  if (env != nullptr && std::string(env) == "0") return 0;
  return int64_t{1} << 30;
#endif
}

class Cache {
 public:
  void* take(int64_t capacity) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(capacity);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= capacity;
        ++hits_;
        return p;
      }
      ++misses_;
    }
    void* p = std::aligned_alloc(64, static_cast<size_t>(capacity));
    if (p == nullptr) {  // out of memory: give the cached blocks back and try once more
      clear();
      p = std::aligned_alloc(64, static_cast<size_t>(capacity));
    }
    return p;
  }

  void give(void* p, int64_t capacity) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_ + capacity <= limit_) {
        free_[capacity].push_back(p);
        cached_ += capacity;
        return;
      }
    }
    std::free(p);
  }

  void clear() {
    std::vector<void*> blocks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& [cap, list] : free_) blocks.insert(blocks.end(), list.begin(), list.end());
      free_.clear();
      cached_ = 0;
    }
    for (void* p : blocks) std::free(p);
  }

  void set_limit(int64_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      limit_ = bytes;
      if (cached_ <= limit_) return;
    }
    clear();
  }

  int64_t limit() {
    std::lock_guard<std::mutex> lock(mutex_);
    return limit_;
  }

  StorageCacheStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return StorageCacheStats{cached_, hits_, misses_};
  }

  ~Cache() { clear(); }

 private:
  std::mutex mutex_;
  std::unordered_map<int64_t, std::vector<void*>> free_;  // size class -> free blocks
  int64_t cached_ = 0;
  int64_t limit_ = default_limit();
  int64_t hits_ = 0, misses_ = 0;
};

// Never destroyed: tensors in static objects may be freed after main returns, and the cache
// must still exist then (the operating system reclaims the memory at exit).
Cache& cache() {
  static Cache* c = new Cache();
  return *c;
}

}  // namespace

Storage::Storage(int64_t bytes) : bytes_(bytes) {
  TD_CHECK(bytes >= 0, "Storage", fmt::format("negative size {}", bytes));
  if (bytes == 0) return;
  capacity_ = size_class(bytes);
  data_ = cache().take(capacity_);
  TD_CHECK(data_ != nullptr, "Storage", fmt::format("out of memory allocating {} bytes", bytes));
}

Storage::~Storage() {
  if (data_ != nullptr) cache().give(data_, capacity_);
}

StorageCacheStats storage_cache_stats() { return cache().stats(); }
void storage_cache_clear() { cache().clear(); }
void set_storage_cache_limit(int64_t bytes) { cache().set_limit(std::max<int64_t>(bytes, 0)); }
int64_t storage_cache_limit() { return cache().limit(); }

}  // namespace tinydiff
