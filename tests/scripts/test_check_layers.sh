#!/usr/bin/env bash
# CTest check_layers: scripts/check-layers passes on the project's own tree, passes on a small tree
# whose includes follow the layer order, and fails on that tree with includes planted against the
# order, naming each file, line and rule (and nothing else).
#
#   tests/scripts/test_check_layers.sh SOURCE_DIR
set -euo pipefail
src=${1:?usage: test_check_layers.sh SOURCE_DIR}
check="$src/scripts/check-layers"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_layers.$$.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
# put FILE LINE...: writes the lines into $tmp/tree/FILE.
put() {
  mkdir -p "$tmp/tree/$(dirname "$1")"
  printf '%s\n' "${@:2}" >"$tmp/tree/$1"
}

# 1. The project itself.
bash "$check" "$src" || fail "the project's includes go against the layer order (listed above)"

# 2. A small tree in order: each layer includes its own and lower ones, directly or by a relative path.
put tensor/tensor.h '#pragma once' '#include <vector>' '#include "tensor/storage.h"'
put tensor/storage.h '#pragma once'
put autograd/variable.h '#pragma once' '#include "tensor/tensor.h"'
put nn/module.h '#pragma once' '#include "autograd/variable.h"' '#include "../tensor/tensor.h"'
put diffusion/process/schedule.h '#pragma once' '#include "tensor/tensor.h"'
put diffusion/sampling/ddim.h '#pragma once' '#include "diffusion/process/schedule.h"'
put diffusion/models/unet.h '#pragma once' '#include "nn/module.h"' '#include "diffusion/sampling/ddim.h"'
put diffusion/data/shapes.h '#pragma once' '#include "tensor/tensor.h"'
put diffusion/training/trainer.h '#pragma once' '#include "diffusion/models/unet.h"' '#include "diffusion/data/shapes.h"'
put diffusion/evaluation/evaluate.h '#pragma once' '#include "diffusion/models/unet.h"'
put apps/main.cpp '#include "diffusion/training/trainer.h"' '#include "diffusion/evaluation/evaluate.h"'
put tests/nn/test_module.cpp '#include "nn/module.h"' '#include "test_util.h"' '#include "fuzz/fuzz_model.h"'
put fuzz/fuzz_model.h '#pragma once' '#include "nn/module.h"'
out=$(bash "$check" "$tmp/tree" 2>&1) || fail "a tree in layer order was refused: $out"

# 3. Includes against the order, planted into that tree.
put tensor/reduce.cpp '// A kernel that reaches up into nn/.' '#include "tensor/tensor.h"' '#include "nn/module.h"'
put autograd/ops.cpp '#include "../diffusion/process/schedule.h"'
put diffusion/process/objective.h '#pragma once' '#include "diffusion/process/schedule.h"' '#include "diffusion/sampling/ddim.h"'
put diffusion/models/text_encoder.h '#pragma once' '#include "diffusion/training/trainer.h"'
put diffusion/loose.h '#pragma once'
if out=$(bash "$check" "$tmp/tree" 2>&1); then
  fail "planted upward includes were not found: $out"
fi
printf '%s\n' "$out"
expect() {
  grep -qF -- "$1" <<<"$out" || fail "the report does not say: $1"
}
expect 'tensor/reduce.cpp:3: #include "nn/module.h" goes up the layers: tensor/ (layer 1) must not include nn/ (layer 3)'
expect 'autograd/ops.cpp:1: #include "../diffusion/process/schedule.h" goes up the layers: autograd/ (layer 2) must not include diffusion/process/ (layer 4)'
expect 'diffusion/process/objective.h:3: #include "diffusion/sampling/ddim.h" goes up the layers: diffusion/process/ (layer 4) must not include diffusion/sampling/ (layer 5)'
expect 'diffusion/models/text_encoder.h:2: #include "diffusion/training/trainer.h" goes up the layers'
expect 'diffusion/loose.h:1: this file is in no layer'
expect 'check-layers: 5 problems; the layer order, lowest first: tensor < autograd < nn < diffusion/process'
[ "$(grep -c '^[a-z].*:[0-9]*: ' <<<"$out")" = 5 ] || fail "expected exactly 5 reported lines"
echo "check_layers: the project passes, a tree in order passes, 5 planted problems are each named"
