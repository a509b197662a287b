#!/usr/bin/env bash
# Quality benchmark of the text-to-image issue on Fashion-MNIST: the tiny config trained for 20
# minutes of wall time on this machine, then 50 samples per class prompt "a photo of a {class}"
# (DDIM 50 steps, guidance 3) scored by the framework's own classifier: prompt accuracy and the
# Frechet distance to 2,000 real test images in its feature space (plus the real-vs-real
# baseline of 500 training images). The bar: prompt accuracy >= 0.95 and a distance no worse
# than the PyTorch peer's 20.5.
#
#   bench/quality_fashion.sh [--minutes 20] [--samples 50] [--guidance 3] [--out DIR] ...
#
# Every option of bench/quality_run.sh is accepted (see its --help).
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/quality_run.sh" --dataset fashion "$@"
