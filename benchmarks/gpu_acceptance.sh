#!/usr/bin/env bash
# GPU acceptance: run on one machine with an NVIDIA GPU; finishes in under 8 minutes.
#   1. install gpubench (no dependency changes: torch with CUDA must already be there)
#   2. the gpu-marked tests
#   3. a sweep of bigram and GPT at two batch sizes, reference and fast, on cpu and cuda:0
#   4. the op model's prediction for this GPU, made from the run's CPU cells
#   5. everything under reports/<gpu-name>/ (commit it: every GPU run checks the model)
#
#   bash benchmarks/gpu_acceptance.sh [GPU_KEY]     GPU_KEY from `gpubench gpus` (default: matched by name)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
DATA="${GPUBENCH_DATA:-../shared/data/tinyshakespeare/input.txt}"
[ -f "$DATA" ] || DATA=synthetic

"$PYTHON" -m pip install --no-deps --no-build-isolation -q .
"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU visible to torch')"

GPU_NAME=$("$PYTHON" -c "import torch; print(torch.cuda.get_device_name(0))")
SLUG=$(echo "$GPU_NAME" | tr '[:upper:]' '[:lower:]' | sed -e 's/nvidia //' -e 's/[^a-z0-9]\+/-/g' -e 's/-$//')
# The table entry whose chip, form factor and memory match the driver's name; a GPU the
# table lacks is predicted as an A100 SXM4 80GB, said on stderr.
GPU_KEY="${1:-$("$PYTHON" - "$GPU_NAME" <<'EOF'
import sys
from gpubench.report.predicted import gpu_spec_for
spec = gpu_spec_for(sys.argv[1])
if spec is None:
    print(f"no GPU table entry fits {sys.argv[1]!r}; predicting as a100-sxm4-80gb "
          "(pass a key from `gpubench gpus` to choose)", file=sys.stderr)
print(spec.key if spec else "a100-sxm4-80gb")
EOF
)}"
OUT="reports/$SLUG"
echo "GPU: $GPU_NAME -> $OUT (predicting as $GPU_KEY)"
mkdir -p reports

timeout 120 "$PYTHON" -m pytest -q -m gpu tests || echo "gpu-marked tests failed (see above)"

# Two batch sizes each; the GPT reduced (2 layers) so the CPU cells fit the budget.
timeout 330 "$PYTHON" -m gpubench run --models bigram,gpt --devices cpu,cuda:0 \
  --batch-sizes 32,64 --variant reference,fast --iters 500,3000 --budget 240 \
  --set n_layer=2 --data "$DATA" --out reports --name "$SLUG"

{
  echo "# Op-model prediction for $GPU_KEY from this run's CPU cells (predicted)"
  echo
  "$PYTHON" -m gpubench predict "$OUT" --gpu "$GPU_KEY" --profile-now --data "$DATA" || true
} > "$OUT/prediction.md"
"$PYTHON" -m gpubench predict "$OUT" --gpu "$GPU_KEY" --profile-now --data "$DATA" --json \
  > "$OUT/prediction.json" || true
"$PYTHON" -m gpubench report "$OUT" --format markdown > "$OUT/report.md"
echo "done: $OUT (report.md, prediction.md beside the measured GPU cells)"
