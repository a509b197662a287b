// Tests of the word-level tokenizer: splitting, the vocabulary, encoding, and its text form.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "diffusion/models/tokenizer.h"

using namespace tinydiff;

TEST_CASE("tokenizer splits, builds a frequency-ordered vocabulary and encodes with <bos> and padding",
          "[model][tokenizer]") {
  CHECK(Tokenizer::split_words("A photo of a T-shirt/top.") ==
        std::vector<std::string>{"a", "photo", "of", "a", "t-shirt", "/", "top", "."});
  Tokenizer tok = Tokenizer::build({"a photo of a sneaker", "an ankle boot", "a bag"});
  // "a" appears 3 times, then alphabetical: an, ankle, bag, boot, of, photo, sneaker.
  CHECK(tok.vocab() == std::vector<std::string>{"<pad>", "<unk>", "<bos>", "a", "an", "ankle", "bag", "boot", "of",
                                                "photo", "sneaker"});
  Tokenizer::Encoded e = tok.encode("A Sneaker, please");
  CHECK(e.ids[0] == Tokenizer::kBos);
  CHECK(e.ids[1] == tok.id("a"));
  CHECK(e.ids[2] == tok.id("sneaker"));
  CHECK(e.ids[3] == Tokenizer::kUnk);  // ","
  CHECK(e.ids[4] == Tokenizer::kUnk);  // "please"
  CHECK(e.ids[5] == Tokenizer::kPad);
  CHECK(e.unknown == std::vector<std::string>{",", "please"});
  CHECK_FALSE(e.truncated);
  CHECK(tok.decode(e.ids) == "a sneaker <unk> <unk>");

  Tokenizer::Batch b = tok.encode_batch({"", std::string(200, 'a').insert(0, "a b c d e f g h i j k l m n o p q ")});
  CHECK(b.ids.shape() == Shape{2, 16});
  CHECK(b.mask.at({0, 0}) == 1.0);  // the empty prompt still has <bos>
  CHECK(b.mask.at({0, 1}) == 0.0);
  CHECK(b.mask.at({1, 15}) == 1.0);
  CHECK(b.truncated);

  Tokenizer back = Tokenizer::from_text(tok.to_text());
  CHECK(back.vocab() == tok.vocab());
  CHECK(back.max_length() == 16);
  CHECK_THROWS_WITH(Tokenizer::from_text("hello"), Catch::Contains("not a tinydiff tokenizer"));

  TokenizerOptions small;
  small.max_vocab = 5;
  CHECK(Tokenizer::build({"a photo of a sneaker", "an ankle boot"}, small).vocab_size() == 5);
}
