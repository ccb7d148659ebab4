#!/usr/bin/env bash
# One pass over everything that needs a CUDA GPU, sized for well under 8 minutes on an H100/H200:
# the library tests with CUDA enabled (including the per-batch synchronisation check of `fit`),
# then the three benchmarks. Logs and JSON figures go to $OUT (default .gpu-out/).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-.gpu-out}
mkdir -p "$OUT"
PY=${GPU_PYTHON:-python3}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 MPLBACKEND=Agg PYTHONHASHSEED=0

# Packages the GPU machine lacks travel as wheels in .whl/ (see `make gpu-wheels`).
if compgen -G ".whl/*.whl" >/dev/null; then
    $PY -m pip install --quiet --no-index --no-deps --no-compile --target /tmp/dlparallel-site .whl/*.whl \
        && export PYTHONPATH=/tmp/dlparallel-site:$PYTHONPATH \
        || echo "warning: could not install the carried wheels"
fi

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
$PY -c "import torch, dlparallel; assert torch.cuda.is_available(), 'no CUDA'; print(dlparallel.describe_hardware())" \
    | tee -a "$OUT/gpu.txt" || exit 1
date -u +%F >> "$OUT/gpu.txt"

failed=()
step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to $OUT/NAME.log
    local name=$1 limit=$2; shift 2
    echo "== $name"
    timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || failed+=("$name")
}
# GPU_CHECK_STEPS picks steps for a shorter run, e.g. GPU_CHECK_STEPS="tests lessons".
wanted() { [[ " ${GPU_CHECK_STEPS:-tests lessons train_throughput latency matmul} " == *" $1 "* ]]; }
# The grading pipeline needs nbgrader, which the GPU machine lacks; everything else runs.
# The grading host's tests need nbgrader, JupyterLab and a browser, which the GPU machine lacks;
# they say nothing about CUDA. Everything else runs.
HOST_ONLY=(test_grading test_sandbox test_shortcuts test_transcription test_student_edition test_browser)
wanted tests && step tests 200 $PY -m pytest -p no:cacheprovider -q -o timeout=200 tests \
    $(printf -- "--ignore=tests/%s.py " "${HOST_ONLY[@]}") --doctest-modules dlparallel --ignore=dlparallel/grading
# Lessons on CUDA: they must run without errors; their stored outputs are the CPU's (lax mode).
wanted lessons && step lessons 300 env -u MPLBACKEND $PY -m pytest -p no:cacheprovider -q --nbval-lax \
    --nbval-current-env lessons
wanted train_throughput && step train_throughput 150 $PY benchmarks/train_throughput.py --json "$OUT/train_throughput.json"
wanted latency && step latency 60 $PY benchmarks/latency.py --json "$OUT/latency.json"
wanted matmul && step matmul 90 $PY benchmarks/matmul.py --json "$OUT/matmul.json"

echo "== summary"
for name in train_throughput latency matmul; do [ -f "$OUT/$name.log" ] && tail -n 1 "$OUT/$name.log"; done
if [ ${#failed[@]} -gt 0 ]; then echo "FAILED: ${failed[*]}"; exit 1; fi
echo "gpu-check passed"
