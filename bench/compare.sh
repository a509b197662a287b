#!/usr/bin/env bash
# tinydiff vs the PyTorch peer, side by side: the same model (the "tiny" config, 1,292,001
# parameters at 1 channel), the same shapes and the same thread count, run alternately
# (tinydiff, PyTorch, tinydiff, PyTorch, ...) so that both see the same machine load. Prints,
# per case, the median over rounds of each side's median step time, the ratio tinydiff / PyTorch,
# and both peak resident set sizes.
#
#   bench/compare.sh [--threads N] [--rounds N] [--cases "train_b64 train_b8 sample_cfg_b64"]
#                    [--build-dir DIR] [--peer-dir DIR] [--no-build]
#                    [--wait-policy passive|active] [--openblas-core auto|NAME] [--cpu-time]
#
# Defaults: 2 threads, 3 rounds, every case, build dir ./build, peer dir ../shared/bench
# relative to the repository (torch_ref.py and torch_sample_ref.py, run with /usr/bin/python3,
# Debian's python3-torch). The peer's peak RSS is read with getrusage in a small wrapper that
# runs the peer script in-process; tinydiff-bench reports its own (one process per case).
#
# On a machine shared with other work: --wait-policy passive sets OMP_WAIT_POLICY for both
# (OpenMP threads that spin while waiting steal the time slices of the threads they wait for);
# --cpu-time compares process CPU time per step instead of wall time (meaningful with
# --threads 1: the work a step takes, whatever the load). --openblas-core auto unsets
# OPENBLAS_CORETYPE for both (OpenBLAS then picks the kernels for this CPU).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
threads=2
rounds=3
cases="train_b64 train_b8 sample_cfg_b64"
build_dir="$repo/build"
peer_dir="$repo/../shared/bench"
build=1
python=/usr/bin/python3
wait_policy=""   # empty: leave OMP_WAIT_POLICY as it is (unset: tinydiff-bench makes it passive, PyTorch not)
openblas_core="" # empty: leave OPENBLAS_CORETYPE as it is; "auto": unset it (OpenBLAS detects the CPU)
cpu_time=0

while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --cases) cases="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --peer-dir) peer_dir="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --wait-policy) wait_policy="$2"; shift 2 ;;
    --openblas-core) openblas_core="$2"; shift 2 ;;
    --cpu-time) cpu_time=1; shift ;;
    -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

for f in torch_ref.py torch_sample_ref.py; do
  if [[ ! -f "$peer_dir/$f" ]]; then
    echo "compare.sh: the PyTorch peer $peer_dir/$f is missing; pass --peer-dir DIR" >&2
    exit 1
  fi
done
if ! "$python" -c "import torch" 2>/dev/null; then
  echo "compare.sh: $python cannot import torch (apt-get install python3-torch)" >&2
  exit 1
fi

# Both peers run in the same environment; these two settings change it for both alike.
if [[ -n "$wait_policy" ]]; then export OMP_WAIT_POLICY="$wait_policy"; fi
if [[ "$openblas_core" == auto ]]; then unset OPENBLAS_CORETYPE; elif [[ -n "$openblas_core" ]]; then export OPENBLAS_CORETYPE="$openblas_core"; fi

bench="$build_dir/tinydiff-bench"
if [[ $build -eq 1 ]]; then
  if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
    cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  cmake --build "$build_dir" -j"$(nproc)" --target tinydiff_bench >/dev/null
fi
[[ -x "$bench" ]] || { echo "compare.sh: $bench not found (build it or drop --no-build)" >&2; exit 1; }

# Runs a peer script in this Python process with the thread count forced, then prints one JSON
# line: the step time (seconds), the parameter count and the peak RSS (MB).
peer_wrapper='
import json, os, resource, runpy, sys, io, contextlib, time, torch
threads, script = int(sys.argv[1]), sys.argv[2]
sys.argv = [script] + sys.argv[3:]
if os.environ.get("COMPARE_CPU_TIME") == "1":
    time.perf_counter = time.process_time   # the peers time steps with perf_counter
set_threads = torch.set_num_threads
torch.set_num_threads = lambda n: set_threads(threads)   # torch_sample_ref.py asks for 2
out = io.StringIO()
with contextlib.redirect_stdout(out):
    g = runpy.run_path(script, run_name="__main__")
text = out.getvalue()
sec, params = None, None
for line in text.splitlines():
    w = line.split()
    if w and w[0] in ("median_step_s", "median_eval_s"): sec = float(w[1])
    if w and w[0] == "params": params = int(w[1])
if params is None and "te" in g and "unet" in g:
    params = sum(p.numel() for m in (g["te"], g["unet"]) for p in m.parameters())
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps({"seconds": sec, "params": params, "peak_rss_mb": rss, "threads": torch.get_num_threads()}))
'

field() {  # field JSON_LINE NAME -> value
  "$python" -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"
}

export COMPARE_CPU_TIME=$cpu_time
td_field=median_ms
[[ $cpu_time -eq 1 ]] && td_field=cpu_ms

run_torch() {  # run_torch CASE -> JSON line
  case "$1" in
    train_b64) OMP_NUM_THREADS=$threads "$python" -c "$peer_wrapper" "$threads" "$peer_dir/torch_ref.py" \
                 --batch 64 --threads "$threads" --steps 10 --warmup 3 ;;
    train_b8) OMP_NUM_THREADS=$threads "$python" -c "$peer_wrapper" "$threads" "$peer_dir/torch_ref.py" \
                --batch 8 --threads "$threads" --steps 40 --warmup 3 ;;
    sample_cfg_b64) OMP_NUM_THREADS=$threads "$python" -c "$peer_wrapper" "$threads" \
                      "$peer_dir/torch_sample_ref.py" ;;
  esac
}

echo "tinydiff vs PyTorch $("$python" -c 'import torch; print(torch.__version__)'), $threads threads, $rounds rounds," \
     "$([[ $cpu_time -eq 1 ]] && echo "process CPU time" || echo "wall time") per step, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg);" \
     "OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-(unset)}, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}"
echo "tinydiff $(OMP_NUM_THREADS=$threads "$bench" --threads "$threads" --info)"
declare -A td_ms td_rss td_params th_ms th_rss th_params
for ((r = 1; r <= rounds; ++r)); do
  for c in $cases; do
    line=$(OMP_NUM_THREADS=$threads "$bench" --case "$c" --threads "$threads" --json | tail -n 1)
    td_ms[$c]+="$(field "$line" $td_field) "
    td_rss[$c]+="$(field "$line" peak_rss_mb) "
    td_params[$c]=$(field "$line" params)
    line=$(run_torch "$c" | tail -n 1)
    th_ms[$c]+="$("$python" -c 'import json,sys; print(1000 * json.loads(sys.argv[1])["seconds"])' "$line") "
    th_rss[$c]+="$(field "$line" peak_rss_mb) "
    th_params[$c]=$(field "$line" params)
    echo "  round $r $c: tinydiff $(echo "${td_ms[$c]}" | awk '{printf "%.1f", $NF}') ms," \
         "torch $(echo "${th_ms[$c]}" | awk '{printf "%.1f", $NF}') ms"
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
maxof() { tr ' ' '\n' | grep -v '^$' | sort -g | tail -n 1; }

echo
printf "%-16s %10s %10s %8s %12s %12s %20s\n" case tinydiff_ms torch_ms ratio tinydiff_MB torch_MB "params (td / torch)"
for c in $cases; do
  a=$(echo "${td_ms[$c]}" | median)
  b=$(echo "${th_ms[$c]}" | median)
  printf "%-16s %10.1f %10.1f %8.3f %12.1f %12.1f %20s\n" "$c" "$a" "$b" "$(echo "$a $b" | awk '{print $1 / $2}')" \
    "$(echo "${td_rss[$c]}" | maxof)" "$(echo "${th_rss[$c]}" | maxof)" "${td_params[$c]} / ${th_params[$c]}"
done
