// Fashion-MNIST captions, the tokenizer vocabulary they give, and the training data sets.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "diffusion/data/captions.h"
#include "diffusion/data/dataset.h"
#include "diffusion/data/shapes.h"
#include "diffusion/models/tokenizer.h"

using namespace tinydiff;

TEST_CASE("fashion captions use the class words with correct articles", "[captions]") {
  CHECK(fashion_caption(7, 0, 0) == "a photo of a sneaker");
  CHECK(fashion_caption(9, 0, 0) == "a photo of an ankle boot");
  CHECK(fashion_caption(9, 2, 0) == "an ankle boot");
  CHECK(fashion_caption(1, 1, 1) == "trousers");
  CHECK(fashion_caption(1, 0, 1) == "a photo of trousers");  // plural: no article
  CHECK(fashion_caption(1, 0, 0) == "a photo of a trouser");
  CHECK(fashion_caption(0, 3, 1) == "an image of a t-shirt");
  CHECK(fashion_caption(4, 6, 0) == "a photo of the coat");
  CHECK(with_article({"ankle boot"}) == "an ankle boot");
  CHECK(with_article({"bag"}) == "a bag");
  CHECK(with_article({"trousers", true}) == "trousers");
  CHECK_THROWS_WITH(fashion_caption(10, 0, 0), Catch::Contains("label 10 is not a class 0..9"));
  CHECK_THROWS_WITH(fashion_caption(0, 7, 0), Catch::Contains("template 7 is not 0..6"));
  CHECK_THROWS_WITH(fashion_caption(2, 0, 1), Catch::Contains("word 1 is not 0..0 for class 2"));

  const std::vector<std::string> prompts = fashion_class_prompts();
  REQUIRE(prompts.size() == 10);
  CHECK(prompts[0] == "a photo of a t-shirt/top");
  CHECK(prompts[1] == "a photo of a trouser");
  CHECK(prompts[9] == "a photo of an ankle boot");
}

TEST_CASE("all_fashion_captions lists every caption once, and its vocabulary covers user prompts", "[captions]") {
  const std::vector<std::string> all = all_fashion_captions();
  // 7 templates for each of the 13 class words, less one for "trousers" ("{w}" == "{a}").
  CHECK(all.size() == 13 * 7 - 1);
  CHECK(std::set<std::string>(all.begin(), all.end()).size() == all.size());
  for (int64_t label = 0; label < 10; ++label)
    for (int t = 0; t < fashion_caption_template_count(); ++t)
      for (int w = 0; w < static_cast<int>(fashion_class_words(label).size()); ++w)
        CHECK(std::find(all.begin(), all.end(), fashion_caption(label, t, w)) != all.end());

  const Tokenizer tok = Tokenizer::build(all);
  CHECK(Tokenizer::build(all).vocab() == tok.vocab());  // deterministic
  CHECK(tok.vocab_size() < 256);                        // fits the tiny config's embedding table
  for (const std::string prompt :
       {"a photo of a sneaker", "an ankle boot", "trousers", "a t-shirt", "top", "a picture of a pullover",
        "a black and white photo of a dress", "a bag", "a photo of a t-shirt/top", "Sandal", "A SHIRT", "a coat"}) {
    INFO(prompt);
    CHECK(tok.encode(prompt).unknown.empty());
  }
  for (const auto& p : fashion_class_prompts()) CHECK(tok.encode(p).unknown.empty());
  CHECK(tok.encode("a zebra").unknown == std::vector<std::string>{"zebra"});
}

TEST_CASE("fashion batches: shapes, range, captions matching their images, exact replay", "[dataset]") {
  DataOptions options;
  options.fashion_limit = 200;  // the first 200 training images: quick to load
  const auto data = make_training_data("fashion", options);
  CHECK(data->name() == "fashion");
  CHECK(data->image_channels() == 1);
  CHECK(data->image_size() == 32);
  const FashionMnist reference = load_fashion_mnist(FashionSplit::Train, kFashionMnistDir, 200);

  Generator gen(5);
  const Generator::State start = gen.state();
  const TrainingBatch b = data->next_batch(gen, 16);
  REQUIRE(b.images.shape() == Shape{16, 1, 32, 32});
  REQUIRE(b.captions.size() == 16);
  CHECK(min(b.images).item() >= -1.0);
  CHECK(max(b.images).item() <= 1.0);

  // The first draw of the batch is the image indices: replay it to find each image's label,
  // then check the caption names that class (the caption is one of that class's captions).
  Generator replay;
  replay.set_state(start);
  const Tensor index = replay.randint(0, 200, {16});
  for (int64_t i = 0; i < 16; ++i) {
    const int64_t idx = static_cast<int64_t>(index.at({i}));
    CHECK(max_abs_diff(b.images.slice(0, i, i + 1), reference.images.slice(0, idx, idx + 1)) == 0.0);
    const int64_t label = static_cast<int64_t>(reference.labels.at({idx}));
    bool found = false;
    for (int t = 0; t < fashion_caption_template_count(); ++t)
      for (int w = 0; w < static_cast<int>(fashion_class_words(label).size()); ++w)
        found = found || fashion_caption(label, t, w) == b.captions[static_cast<size_t>(i)];
    INFO("caption '" << b.captions[static_cast<size_t>(i)] << "' for label " << label);
    CHECK(found);
  }

  // Same generator state, same batch; the generator moved on.
  Generator again;
  again.set_state(start);
  const TrainingBatch b2 = data->next_batch(again, 16);
  CHECK(max_abs_diff(b.images, b2.images) == 0.0);
  CHECK(b.captions == b2.captions);
  CHECK(again.state().offset == gen.state().offset);
  CHECK(data->preview_prompts() == fashion_class_prompts());
  CHECK_THROWS_WITH(data->next_batch(gen, 0), Catch::Contains("batch must be positive"));
}

TEST_CASE("flip_horizontal_where mirrors only the chosen images", "[dataset]") {
  Generator gen(2);
  const Tensor x = gen.normal({3, 2, 4, 5});
  const Tensor flip = Tensor::from_vector({1, 0, 1}, {3});
  const Tensor y = flip_horizontal_where(x, flip);
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t h = 0; h < 4; ++h)
        for (int64_t w = 0; w < 5; ++w) {
          const int64_t src = b == 1 ? w : 4 - w;
          REQUIRE(y.at({b, c, h, w}) == x.at({b, c, h, src}));
        }
  CHECK_THROWS_WITH(flip_horizontal_where(x, Tensor::ones({2})), Catch::Contains("expected flip (B) with B = 3"));

  DataOptions options;
  options.fashion_limit = 50;
  options.flip = true;
  const auto data = make_training_data("fashion", options);
  Generator g(9);
  const TrainingBatch b = data->next_batch(g, 64);
  CHECK(b.images.shape() == Shape{64, 1, 32, 32});
}

TEST_CASE("shapes batches are RGB, never show held-out pairs, and the vocabulary covers every caption", "[dataset]") {
  const auto data = make_training_data("shapes");
  CHECK(data->image_channels() == 3);
  Generator gen(3);
  const TrainingBatch b = data->next_batch(gen, 64);
  CHECK(b.images.shape() == Shape{64, 3, 32, 32});
  const auto has = [](const std::string& s, const std::string& w) { return s.find(w) != std::string::npos; };
  for (const auto& c : b.captions) {
    INFO(c);
    CHECK_FALSE((has(c, "green") && has(c, "triangle")));
    CHECK_FALSE((has(c, "yellow") && has(c, "circle")));
    CHECK_FALSE((has(c, "magenta") && has(c, "square")));
  }
  const Tokenizer tok = Tokenizer::build(data->vocabulary_captions());
  for (const auto& c : b.captions) CHECK(tok.encode(c).unknown.empty());
  const auto previews = data->preview_prompts();
  CHECK(previews.size() == 8);
  CHECK(previews.back() == "a large magenta square in the center");  // held out: compositional test
  for (const auto& p : previews) CHECK(tok.encode(p).unknown.empty());
  CHECK_THROWS_WITH(make_training_data("mnist"), Catch::Contains("choose one of: fashion, shapes"));
  CHECK_THROWS_WITH(make_training_data("fashion", {.fashion_dir = "/nonexistent"}),
                    Catch::Contains("dataset-fashion-mnist"));
}
