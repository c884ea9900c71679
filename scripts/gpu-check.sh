#!/usr/bin/env bash
# The GPU path, checked as one command (well under 10 minutes) on a machine with an NVIDIA GPU,
# PyTorch 2.x (python3 -c 'import torch') and Node 20 (on the PATH, or NODE=/path/to/node):
#   bash scripts/gpu-check.sh
#   1. builds the addon against the libtorch inside that PyTorch (LIBTORCH=<torch package folder>),
#      with plain cmake and Node's own headers (no download: such machines are often offline);
#   2. runs the engine, model and device tests with every created tensor on cuda (SHARPEN_DEVICE=cuda);
#   3. times one RLHF-Sharpening step and the sampling of 16 images on cuda (fp32 and bf16 autocast)
#      against the same on the CPU (bench/distributed-gpu.ts).
# Everything it prints also goes to $OUT/gpu-check.log (OUT defaults to results/distributed/gpu);
# the timings are the JSON lines of $OUT/timings.jsonl. node_modules must be present (npm ci, or carried in).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/distributed/gpu}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-check.log") 2>&1
step() { echo; echo "== $* ($(date -u +%H:%M:%S))"; }

NODE=${NODE:-$(command -v node || true)}
[ -x "$NODE" ] || { echo "gpu-check: no node found (put Node 20 on the PATH or set NODE=/path/to/node)"; exit 2; }
[ -d node_modules ] || { echo "gpu-check: node_modules is missing (run npm ci, or carry it in)"; exit 2; }
LIBTORCH=${LIBTORCH:-$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')} || { echo "gpu-check: python3 cannot import torch"; exit 2; }
export LIBTORCH
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "gpu-check: nvidia-smi failed"
python3 -c 'import torch; print("pytorch", torch.__version__, "cuda", torch.version.cuda, "devices", torch.cuda.device_count())'

step "1. build the addon against $LIBTORCH"
NODE_INC=$(dirname "$(dirname "$NODE")")/include/node
[ -f "$NODE_INC/node_api.h" ] || { echo "gpu-check: $NODE_INC/node_api.h is missing (a Node install with its headers is needed)"; exit 2; }
# a CUDA libtorch's CMake config needs the CUDA toolkit (nvcc); without one, its headers and libraries are used directly
manual=OFF
command -v nvcc >/dev/null || manual=ON
abi=$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
rm -rf native/build
cmake -S native -B native/build -DCMAKE_BUILD_TYPE=Release -DCMAKE_JS_INC="$NODE_INC" \
  -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$PWD/native/build/Release" -DSHARPEN_TORCH_WITHOUT_CMAKE=$manual -DSHARPEN_CXX11_ABI="$abi" \
  && cmake --build native/build -j "$(nproc)" || { echo "gpu-check: the build failed"; exit 1; }
"$NODE" bin/sharpen.js info

step "2. engine, model and device tests with SHARPEN_DEVICE=cuda"
tests=$(ls test/torch/*.test.ts test/nn/*.test.ts test/models/*.test.ts test/distributed/device.test.ts 2>/dev/null)
SHARPEN_DEVICE=cuda timeout 240 "$NODE" --import tsx --test --test-reporter=spec $tests > "$OUT/tests-cuda.log" 2>&1
echo "tests on cuda: exit $? ($(grep -cE '^\s*✔' "$OUT/tests-cuda.log") passed, $(grep -cE '^\s*✖' "$OUT/tests-cuda.log") failed lines; $OUT/tests-cuda.log)"
grep -E '^\s*✖' "$OUT/tests-cuda.log" | head -40

step "3. a sharpening step and sampling: cuda against cpu"
: > "$OUT/timings.jsonl"
SHARPEN_DEVICE=cuda timeout 120 "$NODE" --import tsx bench/distributed-gpu.ts >> "$OUT/timings.jsonl" || echo "gpu-check: the cuda timing failed"
SHARPEN_DEVICE=cuda timeout 90 "$NODE" --import tsx bench/distributed-gpu.ts --bf16 >> "$OUT/timings.jsonl" || echo "gpu-check: the cuda bf16 timing failed"
OMP_NUM_THREADS=$(nproc) timeout 150 "$NODE" --import tsx bench/distributed-gpu.ts --steps 2 >> "$OUT/timings.jsonl" || echo "gpu-check: the cpu timing failed"
cat "$OUT/timings.jsonl"
step "done"
