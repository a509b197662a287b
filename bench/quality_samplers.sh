#!/usr/bin/env bash
# Sampler benchmark of the samplers issue: one trained checkpoint (the 20-minute Fashion-MNIST model of
# bench/quality_fashion.sh, or any Fashion-MNIST or Shapes checkpoint), scored by `tinydiff eval` with each
# sampler at each budget of model evaluations (NFE). Quality per NFE, not per second: the machine's load
# does not change the numbers, only how long they take.
#
#   bench/quality_samplers.sh --checkpoint RUN/checkpoint.safetensors [--out DIR] [--samples 50]
#                             [--guidance 3] [--nfe "5 10 20 50"] [--samplers "ddim euler heun dpmpp_2m"]
#                             [--build-dir DIR]
#
# NFE: one guided evaluation of the U-Net (a batch of conditional and unconditional rows) is one model
# evaluation. ddim, euler, euler_a and dpmpp_2m take one per step; heun two per step but the last, so it
# runs ceil((NFE + 1) / 2) steps = 2 steps - 1 evaluations (5 -> 3 steps = 5, 10 -> 6 steps = 11,
# 20 -> 11 steps = 21, 50 -> 26 steps = 51), the nearest odd budget at or above the others'. The σ-grid
# samplers use Karras sigmas (the default). Every run samples from the same noise (--seed 0).
# Writes DIR/<sampler>_<nfe>.json (eval's report), DIR/samplers.tsv, DIR/samplers.md (a Markdown table)
# and DIR/samplers.png (prompt accuracy and Fréchet distance against NFE, gnuplot).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
checkpoint=""
out=""
samples=50
guidance=3
nfes="5 10 20 50"
samplers="ddim euler heun dpmpp_2m"
build_dir="$repo/build"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --checkpoint) checkpoint="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --samples) samples="$2"; shift 2 ;;
    --guidance) guidance="$2"; shift 2 ;;
    --nfe) nfes="$2"; shift 2 ;;
    --samplers) samplers="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "quality_samplers.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [[ -z "$checkpoint" ]]; then
  echo "quality_samplers.sh: --checkpoint is required (see --help)" >&2
  exit 2
fi
[[ -n "$out" ]] || out="$(dirname "$checkpoint")/samplers"
td="$build_dir/tinydiff"
if [[ ! -x "$td" ]]; then
  echo "quality_samplers.sh: $td is not built; run ./scripts/setup and cmake --build $build_dir --target tinydiff" >&2
  exit 2
fi
mkdir -p "$out"

start_all=$(date +%s)
for sampler in $samplers; do
  for nfe in $nfes; do
    steps=$nfe
    [[ "$sampler" == heun ]] && steps=$(( (nfe + 2) / 2 ))
    json="$out/${sampler}_${nfe}.json"
    if [[ -s "$json" ]]; then
      echo "== $sampler at $nfe evaluations: $json exists, kept"
      continue
    fi
    cmd=("$td" eval --checkpoint "$checkpoint" --samples "$samples" --guidance "$guidance" --sampler "$sampler"
         --steps "$steps" --seed 0 --baseline-images 0 --out "$json")
    echo "== $sampler at $nfe evaluations: ${cmd[*]}"
    start=$(date +%s)
    "${cmd[@]}" > "$out/${sampler}_${nfe}.log"
    echo "   $(( $(date +%s) - start )) s"
  done
done
echo "all runs: $(( $(date +%s) - start_all )) s"

python3 - "$out" "$samplers" "$nfes" <<'EOF'
import json, os, sys
out, samplers, nfes = sys.argv[1], sys.argv[2].split(), [int(n) for n in sys.argv[3].split()]
def evals(sampler, nfe):
    return 2 * ((nfe + 2) // 2) - 1 if sampler == "heun" else nfe
rows = []
for s in samplers:
    for n in nfes:
        r = json.load(open(os.path.join(out, f"{s}_{n}.json")))
        row = r["results"][0]
        rows.append((s, n, evals(s, n), row.get("prompt_accuracy"), row.get("frechet"), r["dataset"]))
with open(os.path.join(out, "samplers.tsv"), "w") as f:
    f.write("sampler\tnfe_budget\tnfe\tprompt_accuracy\tfrechet\n")
    for s, n, e, acc, fd, _ in rows:
        f.write(f"{s}\t{n}\t{e}\t{acc:.4f}\t{fd:.3f}\n")
lines = ["| sampler | " + " | ".join(f"{n} NFE" for n in nfes) + " |",
         "|---|" + "---|" * len(nfes)]
for s in samplers:
    cells = []
    for n in nfes:
        _, _, e, acc, fd, _ = next(r for r in rows if r[0] == s and r[1] == n)
        cells.append(f"{acc:.3f} / {fd:.1f}" + (f" ({e})" if e != n else ""))
    lines.append(f"| {s} | " + " | ".join(cells) + " |")
table = "\n".join(lines) + "\n"
open(os.path.join(out, "samplers.md"), "w").write(
    "Each cell: prompt accuracy / Fréchet distance (heun: its evaluations in brackets).\n\n" + table)
print(table)
EOF

if command -v gnuplot >/dev/null; then
  gnuplot <<EOF
set terminal pngcairo size 900,360 font "sans,10" noenhanced
set output "$out/samplers.png"
set datafile separator "\t"
set multiplot layout 1,2
set logscale x
set xlabel "model evaluations (NFE)"
set key bottom right
set grid
set xtics (5, 10, 20, 50)
set xrange [4:60]
set title "prompt accuracy (higher is better)"
plot for [s in "$samplers"] "< awk -F'\t' -v s=".s." '\$1 == s' $out/samplers.tsv" using 3:4 with linespoints title s
set title "Fréchet distance (lower is better; log scale)"
set key top right
set logscale y
plot for [s in "$samplers"] "< awk -F'\t' -v s=".s." '\$1 == s' $out/samplers.tsv" using 3:5 with linespoints title s
unset multiplot
EOF
  echo "plot: $out/samplers.png"
fi
echo "table: $out/samplers.md"
