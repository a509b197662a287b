// Fashion-MNIST captions. See captions.h.
#include "diffusion/data/captions.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "tensor/error.h"

namespace tinydiff {
namespace {

// A template: a prefix, then the word with its article (with_article) or bare.
struct CaptionTemplate {
  const char* prefix;
  bool article;
};

constexpr std::array<CaptionTemplate, 7> kTemplates = {{
    {"a photo of ", true},
    {"", false},
    {"", true},
    {"an image of ", true},
    {"a picture of ", true},
    {"a black and white photo of ", true},
    {"a photo of the ", false},
}};

const std::array<std::vector<ClassWord>, 10>& class_words() {
  static const std::array<std::vector<ClassWord>, 10> words = {{
      {{"t-shirt/top"}, {"t-shirt"}, {"top"}},
      {{"trouser"}, {"trousers", true}},
      {{"pullover"}},
      {{"dress"}},
      {{"coat"}},
      {{"sandal"}},
      {{"shirt"}},
      {{"sneaker"}},
      {{"bag"}},
      {{"ankle boot"}},
  }};
  return words;
}

}  // namespace

const std::vector<ClassWord>& fashion_class_words(int64_t label) {
  TD_CHECK(label >= 0 && label < 10, "fashion_class_words", fmt::format("label {} is not a class 0..9", label));
  return class_words()[static_cast<size_t>(label)];
}

std::string with_article(const ClassWord& word) {
  if (word.plural || word.text.empty()) return word.text;
  const char first = word.text[0];
  const bool vowel = first == 'a' || first == 'e' || first == 'i' || first == 'o' || first == 'u';
  return (vowel ? "an " : "a ") + word.text;
}

int fashion_caption_template_count() { return static_cast<int>(kTemplates.size()); }

std::string fashion_caption(int64_t label, int template_index, int word_index) {
  const auto& words = fashion_class_words(label);
  TD_CHECK(template_index >= 0 && template_index < fashion_caption_template_count(), "fashion_caption",
           fmt::format("template {} is not 0..{}", template_index, fashion_caption_template_count() - 1));
  TD_CHECK(word_index >= 0 && word_index < static_cast<int>(words.size()), "fashion_caption",
           fmt::format("word {} is not 0..{} for class {}", word_index, words.size() - 1, label));
  const CaptionTemplate& t = kTemplates[static_cast<size_t>(template_index)];
  const ClassWord& w = words[static_cast<size_t>(word_index)];
  return t.prefix + (t.article ? with_article(w) : w.text);
}

std::vector<std::string> all_fashion_captions() {
  std::vector<std::string> out;
  for (int64_t label = 0; label < 10; ++label) {
    const int nwords = static_cast<int>(fashion_class_words(label).size());
    for (int w = 0; w < nwords; ++w)
      for (int t = 0; t < fashion_caption_template_count(); ++t) {
        std::string c = fashion_caption(label, t, w);
        // "{w}" and "{a}" coincide for plural words: keep each caption once.
        if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(std::move(c));
      }
  }
  return out;
}

std::string fashion_class_prompt(int64_t label) { return fashion_caption(label, 0, 0); }

std::vector<std::string> fashion_class_prompts() {
  std::vector<std::string> out;
  for (int64_t label = 0; label < 10; ++label) out.push_back(fashion_class_prompt(label));
  return out;
}

}  // namespace tinydiff
