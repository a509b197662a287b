/// \file
/// \brief A word-level tokenizer built from the training captions.
///
/// Text is lower-cased and split into words: a word is a run of letters, digits, `-` and `'`
/// (so "t-shirt" and "don't" stay whole); any other non-space character (",", "/", ".") is a
/// token of its own. The vocabulary holds three special tokens — `\<pad\>` (id 0), `\<unk\>`
/// (id 1) for words never seen in training, and `\<bos\>` (id 2), which starts every encoding
/// so that even the empty prompt (the unconditional input of classifier-free guidance) has
/// one token to attend to — followed by the training words, most frequent first (ties
/// alphabetical), up to `max_vocab` entries in all.
///
/// An encoding has a fixed length (16 by default): `\<bos\>`, the word ids, then `\<pad\>`. The
/// mask is 1 for real tokens and 0 for padding; attention ignores padded keys. Longer
/// prompts are truncated (reported in `Encoded::truncated`); unknown words map to `\<unk\>` and
/// are listed in `Encoded::unknown` so callers can warn about them.
///
/// The tokenizer is saved inside checkpoints as text (`to_text` / `from_text`), so sampling
/// needs nothing but the checkpoint.
///
/// Usage:
/// \code
///   Tokenizer tok = Tokenizer::build({"a photo of a sneaker", "an ankle boot"});
///   Tokenizer::Batch b = tok.encode_batch({"a sneaker", ""});
///   // b.ids: (2, 16) int64, b.mask: (2, 16) float32
/// \endcode
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "tensor/tensor.h"

namespace tinydiff {

/// Options for Tokenizer::build.
struct TokenizerOptions {
  int64_t max_length = 16;  ///< tokens per encoding, including \<bos\>
  int64_t max_vocab = 256;  ///< vocabulary size cap, including the special tokens
};

/// Word-level tokenizer with \<pad\>, \<unk\> and \<bos\>.
class Tokenizer {
 public:
  static constexpr int64_t kPad = 0;  ///< id of \<pad\>
  static constexpr int64_t kUnk = 1;  ///< id of \<unk\>
  static constexpr int64_t kBos = 2;  ///< id of \<bos\>

  /// One encoded text.
  struct Encoded {
    std::vector<int64_t> ids;          ///< max_length ids: \<bos\>, words, \<pad\>...
    std::vector<std::string> unknown;  ///< words mapped to \<unk\>
    bool truncated = false;            ///< true when words were cut to fit max_length
  };
  /// A batch of encodings as tensors.
  struct Batch {
    Tensor ids;                        ///< (B, L) int64
    Tensor mask;                       ///< (B, L) float32, 1 = token, 0 = padding
    std::vector<std::string> unknown;  ///< unknown words over the batch (each once)
    bool truncated = false;            ///< any text truncated
  };

  /// Lower-cases and splits text into words and punctuation tokens.
  static std::vector<std::string> split_words(const std::string& text);
  /// Builds the vocabulary from captions.
  static Tokenizer build(const std::vector<std::string>& captions, const TokenizerOptions& options = {});
  /// A tokenizer with an explicit vocabulary; vocab[0..2] must be \<pad\>, \<unk\>, \<bos\>.
  Tokenizer(std::vector<std::string> vocab, int64_t max_length);

  /// Encodes one text (see the file overview for the rules).
  Encoded encode(const std::string& text) const;
  /// Encodes several texts into (B, L) tensors.
  Batch encode_batch(const std::vector<std::string>& texts) const;
  /// The words of an id sequence, without \<bos\> and \<pad\>.
  std::string decode(const std::vector<int64_t>& ids) const;

  /// Number of vocabulary entries, special tokens included.
  int64_t vocab_size() const { return static_cast<int64_t>(vocab_.size()); }
  /// Tokens per encoding.
  int64_t max_length() const { return max_length_; }
  /// The vocabulary, by id.
  const std::vector<std::string>& vocab() const { return vocab_; }
  /// Id of a word, or kUnk when it is not in the vocabulary.
  int64_t id(const std::string& word) const;

  /// Serialises as text: first line "tinydiff-tokenizer 1 <max_length>", then one word per line.
  std::string to_text() const;
  /// Parses to_text() output; throws Error on malformed input.
  static Tokenizer from_text(const std::string& text);

 private:
  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int64_t> index_;
  int64_t max_length_;
};

/// How well a tokenizer covers a list of captions (e.g. its training captions).
struct CaptionCoverage {
  int64_t captions = 0;            ///< captions looked at
  int64_t distinct_words = 0;      ///< different words (and punctuation tokens) in them
  int64_t tokens = 0;              ///< word tokens the encodings keep (after truncation)
  int64_t unknown_tokens = 0;      ///< of those, tokens encoded as \<unk\>
  int64_t truncated_captions = 0;  ///< captions longer than max_length - 1 words
};

/// Encodes every caption and counts its tokens, \<unk\> tokens and truncated captions.
CaptionCoverage caption_coverage(const Tokenizer& tokenizer, const std::vector<std::string>& captions);

}  // namespace tinydiff
