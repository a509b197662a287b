/// \file
/// \brief Captions for Fashion-MNIST: templates x class words, the full caption list for the vocabulary, and the
/// canonical class prompts.
///
/// Fashion-MNIST has labels, not captions, so captions are made from a label by putting one of
/// the class's words into one of several templates:
///
/// | templates | class words (label order) |
/// |---|---|
/// | "a photo of {a}", "{w}", "{a}", "an image of {a}", "a picture of {a}", "a black and white photo of {a}", "a photo
/// of the {w}" | t-shirt/top, t-shirt, top; trouser, trousers; pullover; dress; coat; sandal; shirt; sneaker; bag;
/// ankle boot |
///
/// where {w} is the word and {a} the word with its article: "a sneaker", "an ankle boot" (an
/// before a vowel), and plural words without one ("trousers"). So the training captions
/// include "a photo of a sneaker", "an ankle boot", "trousers" and "a photo of the coat", and
/// each class's name as Fashion-MNIST spells it (lower-cased: "t-shirt/top", "trouser",
/// "ankle boot") as well as the plain words a user would type.
///
/// `all_fashion_captions()` lists every caption the templates can produce, in a fixed order;
/// the tokenizer is built from it, so the vocabulary is the same on every run and covers every
/// word of every caption (and of the class prompts). `fashion_class_prompt(label)` is the
/// canonical prompt "a photo of a {class}" (with the right article) used for previews and
/// evaluation.
///
/// Usage:
/// \code
///   std::string c = fashion_caption(9, 0, 0);          // "a photo of an ankle boot"
///   Tokenizer tok = Tokenizer::build(all_fashion_captions());
///   for (const auto& p : fashion_class_prompts()) ...   // "a photo of a t-shirt/top", ...
/// \endcode
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tinydiff {

/// A class word: its text and whether it is plural (plural words take no article).
struct ClassWord {
  std::string text;     ///< e.g. "ankle boot"
  bool plural = false;  ///< true for "trousers"
};

/// The words of Fashion-MNIST class `label` (0..9), the lower-cased class name first
/// (e.g. label 0: "t-shirt/top", "t-shirt", "top"). Throws Error for a label outside 0..9.
const std::vector<ClassWord>& fashion_class_words(int64_t label);

/// The word with its indefinite article: "a sneaker", "an ankle boot"; plural words unchanged.
std::string with_article(const ClassWord& word);

/// Number of caption templates (7).
int fashion_caption_template_count();

/// The caption of template `template_index` (0..count-1; 0 is "a photo of {a}") with word
/// `word_index` of class `label`. Throws Error naming the index that is out of range.
std::string fashion_caption(int64_t label, int template_index, int word_index);

/// Every caption fashion_caption can produce, labels in order, then words, then templates
/// (no duplicates). Deterministic: build the tokenizer from it.
std::vector<std::string> all_fashion_captions();

/// The canonical prompt of class `label`: template 0 with the class name, e.g.
/// "a photo of a t-shirt/top", "a photo of a trouser", "a photo of an ankle boot".
std::string fashion_class_prompt(int64_t label);

/// fashion_class_prompt for the ten labels, in label order.
std::vector<std::string> fashion_class_prompts();

}  // namespace tinydiff
