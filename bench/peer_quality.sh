#!/usr/bin/env bash
# The PyTorch peer's side of the quality benchmarks, judged by tinydiff: trains the peer model
# (../shared/bench/torch_ref.py, the "tiny" architecture) with the issue's recipe for a fixed wall
# time (bench/torch_peer_quality.py), samples tinydiff's evaluation prompts with DDIM and
# guidance, and scores the images with `tinydiff eval --images` -- the same classifier (Fashion-
# MNIST) or attribute detector (Shapes), prompts and real reference images as bench/quality_run.sh
# uses for tinydiff's own checkpoints, so the two results can be put side by side.
#
#   bench/peer_quality.sh --dataset fashion|shapes [--minutes 20] [--samples 50] [--steps 50]
#                         [--guidance 3] [--seed 0] [--threads 2] [--out DIR] [--classifier FILE]
#                         [--build-dir DIR] [--peer-dir DIR] [--openblas-core auto|NAME]
#
# Needs Debian's python3-torch and python3-numpy (/usr/bin/python3). Results: DIR/eval.json; the
# peer's training log DIR/log.jsonl and steps done DIR/summary.json.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dataset=""
minutes=20
samples=50
steps=50
guidance=3
seed=0
threads=2
out=""
openblas_core="" # empty: leave OPENBLAS_CORETYPE as it is; "auto": unset it (OpenBLAS detects the CPU)
classifier=""
build_dir="$repo/build"
peer_dir="$repo/../shared/bench"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --dataset) dataset="$2"; shift 2 ;;
    --minutes) minutes="$2"; shift 2 ;;
    --samples) samples="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --guidance) guidance="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --openblas-core) openblas_core="$2"; shift 2 ;;
    --classifier) classifier="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --peer-dir) peer_dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "peer_quality.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$dataset" in
  fashion|shapes) ;;
  *) echo "peer_quality.sh: --dataset must be fashion or shapes, got '$dataset'" >&2; exit 2 ;;
esac
# Some environments pin OpenBLAS to older kernels (this machine exports OPENBLAS_CORETYPE=Haswell
# on an AVX-512 CPU, which makes tinydiff's GEMMs 1.2-1.3x slower; PyTorch's oneDNN convolutions
# ignore it). --openblas-core auto unsets it, as on a fresh Debian install.
if [[ "$openblas_core" == auto ]]; then unset OPENBLAS_CORETYPE; elif [[ -n "$openblas_core" ]]; then export OPENBLAS_CORETYPE="$openblas_core"; fi
echo "== environment: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}, OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-(unset)}, $(nproc) cores"
[[ -f "$peer_dir/torch_ref.py" ]] || { echo "peer_quality.sh: no torch_ref.py in '$peer_dir' (--peer-dir)" >&2; exit 2; }
/usr/bin/python3 -c "import torch, numpy" 2>/dev/null ||
  { echo "peer_quality.sh: needs python3-torch and python3-numpy (sudo apt-get install python3-torch python3-numpy)" >&2; exit 2; }
[[ -n "$out" ]] || out="$repo/runs/peer_${dataset}_$(date +%Y%m%d_%H%M%S)"
mkdir -p "$out"

cmake --build "$build_dir" -j"$(nproc)" --target tinydiff >/dev/null
td="$build_dir/tinydiff"
eval_args=(--dataset "$dataset" --samples "$samples" --seed "$seed")
"$td" eval "${eval_args[@]}" --print-prompts > "$out/prompts.txt"

echo "== peer: training ${minutes} min on $dataset, then DDIM $steps steps, guidance $guidance"
/usr/bin/python3 "$repo/bench/torch_peer_quality.py" --dataset "$dataset" --minutes "$minutes" \
  --prompts "$out/prompts.txt" --out "$out" --threads "$threads" --seed "$seed" --guidance "$guidance" \
  --steps "$steps" --peer-dir "$peer_dir"

[[ -z "$classifier" ]] || eval_args+=(--classifier "$classifier")
echo "== scoring the peer's images with tinydiff's judge"
"$td" eval --images "$out" "${eval_args[@]}" --guidance "$guidance" --out "$out/eval.json"
echo "== peer training steps: $(/usr/bin/python3 -c "import json; print(json.load(open('$out/summary.json'))['steps'])" )"
