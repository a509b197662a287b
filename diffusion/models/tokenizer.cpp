// Word-level tokenizer. See tokenizer.h.
#include "diffusion/models/tokenizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <sstream>

namespace tinydiff {

namespace {
bool is_word_char(unsigned char c) { return std::isalnum(c) || c == '-' || c == '\'' || c >= 0x80; }
}  // namespace

std::vector<std::string> Tokenizer::split_words(const std::string& text) {
  std::vector<std::string> words;
  std::string current;
  for (unsigned char c : text) {
    if (is_word_char(c)) {
      current += static_cast<char>(std::tolower(c));
      continue;
    }
    if (!current.empty()) words.push_back(std::move(current));
    current.clear();
    if (!std::isspace(c)) words.emplace_back(1, static_cast<char>(c));
  }
  if (!current.empty()) words.push_back(std::move(current));
  return words;
}

Tokenizer::Tokenizer(std::vector<std::string> vocab, int64_t max_length)
    : vocab_(std::move(vocab)), max_length_(max_length) {
  TD_CHECK(max_length_ >= 2, "Tokenizer", fmt::format("max_length must be at least 2, got {}", max_length_));
  TD_CHECK(vocab_.size() >= 3 && vocab_[0] == "<pad>" && vocab_[1] == "<unk>" && vocab_[2] == "<bos>", "Tokenizer",
           "the vocabulary must start with <pad>, <unk>, <bos>");
  for (size_t i = 0; i < vocab_.size(); ++i) {
    TD_CHECK(!vocab_[i].empty(), "Tokenizer", fmt::format("vocabulary entry {} is empty", i));
    const bool inserted = index_.emplace(vocab_[i], static_cast<int64_t>(i)).second;
    TD_CHECK(inserted, "Tokenizer", fmt::format("the word '{}' appears twice in the vocabulary", vocab_[i]));
  }
}

Tokenizer Tokenizer::build(const std::vector<std::string>& captions, const TokenizerOptions& options) {
  TD_CHECK(options.max_vocab >= 3, "Tokenizer::build",
           fmt::format("max_vocab must leave room for the 3 special tokens, got {}", options.max_vocab));
  std::map<std::string, int64_t> counts;
  for (const auto& c : captions)
    for (auto& w : split_words(c)) ++counts[w];
  std::vector<std::pair<std::string, int64_t>> words(counts.begin(), counts.end());
  // Most frequent first; ties alphabetical (the map order, kept by stable_sort).
  std::stable_sort(words.begin(), words.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> vocab = {"<pad>", "<unk>", "<bos>"};
  for (const auto& [w, n] : words) {
    if (static_cast<int64_t>(vocab.size()) >= options.max_vocab) break;
    vocab.push_back(w);
  }
  return Tokenizer(std::move(vocab), options.max_length);
}

int64_t Tokenizer::id(const std::string& word) const {
  auto it = index_.find(word);
  return it == index_.end() ? kUnk : it->second;
}

Tokenizer::Encoded Tokenizer::encode(const std::string& text) const {
  Encoded e;
  e.ids.assign(static_cast<size_t>(max_length_), kPad);
  e.ids[0] = kBos;
  const std::vector<std::string> words = split_words(text);
  size_t pos = 1;
  for (const auto& w : words) {
    if (pos >= e.ids.size()) {
      e.truncated = true;
      break;
    }
    const int64_t i = id(w);
    if (i == kUnk) e.unknown.push_back(w);
    e.ids[pos++] = i;
  }
  return e;
}

Tokenizer::Batch Tokenizer::encode_batch(const std::vector<std::string>& texts) const {
  const int64_t b = static_cast<int64_t>(texts.size()), l = max_length_;
  Batch batch;
  batch.ids = Tensor::empty({b, l}, DType::I64);  // ids: (B, L)
  batch.mask = Tensor::zeros({b, l});             // mask: (B, L)
  int64_t* ids = batch.ids.data<int64_t>();
  float* mask = batch.mask.data<float>();
  for (int64_t i = 0; i < b; ++i) {
    Encoded e = encode(texts[static_cast<size_t>(i)]);
    batch.truncated = batch.truncated || e.truncated;
    for (auto& w : e.unknown)
      if (std::find(batch.unknown.begin(), batch.unknown.end(), w) == batch.unknown.end()) batch.unknown.push_back(w);
    for (int64_t j = 0; j < l; ++j) {
      ids[i * l + j] = e.ids[static_cast<size_t>(j)];
      mask[i * l + j] = e.ids[static_cast<size_t>(j)] == kPad ? 0.0f : 1.0f;
    }
  }
  return batch;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (int64_t i : ids) {
    if (i == kPad || i == kBos) continue;
    TD_CHECK(i >= 0 && i < vocab_size(), "Tokenizer::decode",
             fmt::format("id {} is outside the vocabulary of {} words", i, vocab_size()));
    if (!out.empty()) out += ' ';
    out += vocab_[static_cast<size_t>(i)];
  }
  return out;
}

std::string Tokenizer::to_text() const {
  std::string out = fmt::format("tinydiff-tokenizer 1 {}\n", max_length_);
  for (const auto& w : vocab_) out += w + "\n";
  return out;
}

Tokenizer Tokenizer::from_text(const std::string& text) {
  std::istringstream in(text);
  std::string magic;
  int version = 0;
  int64_t max_length = 0;
  in >> magic >> version >> max_length;
  TD_CHECK(in && magic == "tinydiff-tokenizer" && version == 1, "Tokenizer::from_text",
           "not a tinydiff tokenizer (expected a first line 'tinydiff-tokenizer 1 <max_length>')");
  std::string line;
  std::getline(in, line);
  std::vector<std::string> vocab;
  while (std::getline(in, line))
    if (!line.empty()) vocab.push_back(line);
  return Tokenizer(std::move(vocab), max_length);
}

CaptionCoverage caption_coverage(const Tokenizer& tokenizer, const std::vector<std::string>& captions) {
  CaptionCoverage c;
  std::set<std::string> words;
  for (const std::string& caption : captions) {
    for (std::string& w : Tokenizer::split_words(caption)) words.insert(std::move(w));
    const Tokenizer::Encoded e = tokenizer.encode(caption);
    for (size_t i = 1; i < e.ids.size(); ++i) {
      if (e.ids[i] == Tokenizer::kPad) break;
      ++c.tokens;
      if (e.ids[i] == Tokenizer::kUnk) ++c.unknown_tokens;
    }
    if (e.truncated) ++c.truncated_captions;
  }
  c.captions = static_cast<int64_t>(captions.size());
  c.distinct_words = static_cast<int64_t>(words.size());
  return c;
}

}  // namespace tinydiff
