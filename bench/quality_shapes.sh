#!/usr/bin/env bash
# Quality benchmark of the Shapes issue: the tiny config with 3 channels trained for 20 minutes
# of wall time on this machine, then 50 prompts per (shape, colour) pair in the main caption
# template (18 seen pairs: 900 samples; 3 held-out pairs: 150 samples; DDIM 50 steps, guidance 3)
# scored by the exact attribute detector. The bar: on seen pairs each attribute >= 0.85 and all
# four correct >= 0.7; on held-out pairs all four correct >= 0.6.
#
#   bench/quality_shapes.sh [--minutes 20] [--samples 50] [--guidance 3] [--out DIR] ...
#
# Every option of bench/quality_run.sh is accepted (see its --help).
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/quality_run.sh" --dataset shapes "$@"
