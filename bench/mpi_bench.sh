#!/usr/bin/env bash
# Data-parallel training on one machine: the same two cores used as 1 rank x 2 threads
# (OpenMP inside one process) and as 2 ranks x 1 thread (mpirun, MPI_Allreduce of the
# gradients), training the tiny config on Fashion-MNIST with a global batch of 64. Prints, per
# layout and round, the median step time (steps/s), and for 2 ranks the median time per step
# inside the gradient MPI_Allreduce (as the trainer reports it), then the median over rounds
# and the bytes each rank sends per step. The layouts alternate round by round so both see the
# same machine load.
#
#   bench/mpi_bench.sh [--steps N] [--rounds N] [--batch N] [--build-dir DIR] [--no-build]
#
# Defaults: 30 steps (the first 5 are left out of the medians: warm-up), 3 rounds, batch 64,
# build dir ./build-mpi (configured with -DTINYDIFF_MPI=ON; the script configures it when
# missing). Needs openmpi-bin and libopenmpi-dev (scripts/setup installs them) and
# dataset-fashion-mnist. Runs as root too (sets OMPI_ALLOW_RUN_AS_ROOT*). mpirun gets
# --bind-to none so neither layout is pinned to cores on a machine shared with other work.
#
# Scaling to several machines: every step each rank all-reduces one float32 buffer of the
# gradients, 4 bytes x P parameters. A ring all-reduce sends (and receives) 2 (N-1)/N of it per
# rank, about 2 x 4P bytes for large N: for the tiny config (P = 1,292,001) 10.3 MB per rank per
# step. At 1 Gbit/s (~117 MB/s) that is ~90 ms a step, small next to a step of about a second
# on one core at batch 32; at 10 Gbit/s ~9 ms.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
steps=30
rounds=3
batch=64
build_dir="$repo/build-mpi"
build=1
skip=5

while [[ $# -gt 0 ]]; do
  case "$1" in
    --steps) steps="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "mpi_bench: unknown option '$1' (see --help)" >&2; exit 1 ;;
  esac
done
if ((steps <= skip)); then
  echo "mpi_bench: --steps must be more than $skip (the warm-up steps left out)" >&2
  exit 1
fi

if ((build)); then
  if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DTINYDIFF_MPI=ON >/dev/null
  fi
  cmake --build "$build_dir" -j"$(nproc)" --target tinydiff >/dev/null
fi
binary="$build_dir/tinydiff"
grep -q "TINYDIFF_MPI:BOOL=ON" "$build_dir/CMakeCache.txt" ||
  { echo "mpi_bench: $build_dir is not configured with -DTINYDIFF_MPI=ON" >&2; exit 1; }

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=passive
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The median of the numbers on stdin.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Median step time (s) of a run's log.jsonl: differences of "elapsed" (training time), after the warm-up.
step_median() {
  sed -n 's/.*"elapsed":\([0-9.e+-]*\).*/\1/p' "$1" | awk -v skip="$skip" 'NR > 1 { if (NR > skip) print $1 - prev } { prev = $1 }' | median
}

# (The checkpoint and sample grid at the end come after the timed steps.)
args=(train --dataset fashion --config tiny --batch "$batch" --steps "$steps" --seed 1 --warmup 10
      --checkpoint-every 0 --sample-every 0 --progress lines)

declare -a one_times two_times reduce_times
params=""
for ((r = 1; r <= rounds; ++r)); do
  rm -rf "$work/one" "$work/two"
  "$binary" "${args[@]}" --threads 2 --out "$work/one" >"$work/one.out" 2>&1 ||
    { cat "$work/one.out" >&2; exit 1; }
  mpirun --oversubscribe --bind-to none -np 2 "$binary" "${args[@]}" --threads 1 --out "$work/two" \
    >"$work/two.out" 2>&1 || { cat "$work/two.out" >&2; exit 1; }
  t1=$(step_median "$work/one/log.jsonl")
  t2=$(step_median "$work/two/log.jsonl")
  ar=$(sed -n 's/^all-reduce: median \([0-9.]*\) ms per step.*/\1/p' "$work/two.out")
  [ -n "$params" ] || params=$(sed -n "s/^tinydiff: config 'tiny', \([0-9,]*\) parameters.*/\1/p" "$work/one.out" | tr -d ,)
  one_times+=("$t1"); two_times+=("$t2"); reduce_times+=("$ar")
  awk -v r="$r" -v t1="$t1" -v t2="$t2" -v ar="$ar" 'BEGIN {
    printf "round %d: 1 rank x 2 threads %.3f steps/s (%.0f ms/step) | 2 ranks x 1 thread %.3f steps/s (%.0f ms/step), all-reduce %.2f ms/step\n",
      r, 1 / t1, 1e3 * t1, 1 / t2, 1e3 * t2, ar }'
done

m1=$(printf '%s\n' "${one_times[@]}" | median)
m2=$(printf '%s\n' "${two_times[@]}" | median)
mar=$(printf '%s\n' "${reduce_times[@]}" | median)
echo
echo "tiny config, batch $batch, $steps steps per run (medians over steps $((skip + 1))..$steps, then over $rounds rounds):"
awk -v m1="$m1" -v m2="$m2" -v mar="$mar" -v p="$params" 'BEGIN {
  printf "  1 rank  x 2 threads: %.3f steps/s\n", 1 / m1
  printf "  2 ranks x 1 thread : %.3f steps/s (%.2fx), all-reduce %.2f ms per step (%.1f%% of a step)\n",
    1 / m2, m1 / m2, mar, 100 * mar / (1e3 * m2)
  printf "  gradient buffer: %d parameters x 4 bytes = %.2f MB; a ring all-reduce sends and receives 2(N-1)/N of it per rank per step:\n", p, 4 * p / 1e6
  printf "    N = 2: %.2f MB, N = 8: %.2f MB, large N: %.2f MB per rank per step (at 1 Gbit/s ~%.0f ms, at 10 Gbit/s ~%.0f ms)\n",
    4 * p / 1e6, 2 * 7 / 8 * 4 * p / 1e6, 8 * p / 1e6, 8 * p / 117e6 * 1e3, 8 * p / 1170e6 * 1e3 }'
echo "(a shared, busy machine: the numbers are noisy)"
