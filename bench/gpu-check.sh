#!/usr/bin/env bash
# One prepared GPU check (issue 8), well under 10 minutes: the GPU and a Java runtime, the CUDA conformance and
# whole-model tests against ref, then qat4j vs PyTorch eager on the same card (ResNet20 INT8 QAT, batch 128: the
# training step and inference), medians and ratios. Figures go to OUTDIR (given as the argument).
#
#   bench/gpu-kit.sh                 # on the build machine: jlink'ed JRE + jars into target/gpu-kit
#   bench/gpu-check.sh OUTDIR        # on the GPU machine, in the repository root, with target/ carried
#
# Output lines a script can read: `RATIO <name> <device> <qat4j ms> <peer ms> <qat4j/peer>`.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:?usage: bench/gpu-check.sh OUTDIR}"
mkdir -p "$out"
steps="${STEPS:-30}"
exec > >(tee "$out/gpu-check.log") 2>&1

echo "== $(date -u +%FT%TZ) gpu-check"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || { echo "no nvidia-smi: not a GPU machine"; exit 2; }
source bench/gpu-env.sh
"$java_bin" -version 2>&1 | head -1

echo "== conformance: CUDA vs ref (CudaConformanceTest, CudaTrainingTest)"
timeout 300 "$java_bin" -Dqat4j.conformance.seeds="${SEEDS:-12}" -jar "$kit"/lib/junit-platform-console-standalone-*.jar \
  execute --class-path "$cp:target/test-classes" --select-class dev.qat4j.backend.CudaConformanceTest \
  --select-class dev.qat4j.backend.CudaTrainingTest --details=tree --disable-banner --reports-dir "$out/junit"
tests_rc=$?
echo "conformance exit code: $tests_rc"

echo "== qat4j step timer (cuda)"
timeout 150 "$java_bin" -cp "$cp" dev.qat4j.bench.StepTimer --backend cuda --model resnet20 --bits int8 \
  --steps "$steps" --warmup 5 --json "$out/qat4j-resnet20-int8.json" --profile
timeout 60 "$java_bin" -cp "$cp" dev.qat4j.bench.StepTimer --backend cuda --model toynet --bits cfg1-star \
  --steps 10 --warmup 3 --json "$out/qat4j-toynet-cfg1-star.json"

echo "== convolutions: float vs fused fake-quant int8 vs int8 (cuda)"
timeout 60 "$java_bin" -cp "$cp" dev.qat4j.bench.ConvTimer --backend cuda | tee "$out/qat4j-convs.txt"

echo "== PyTorch eager (same card)"
timeout 150 python3 bench/torch_resnet20_qat.py --device cuda --steps "$steps" --warmup 5 --json "$out/torch-resnet20-int8.json"

echo "== ratios (qat4j / PyTorch; < 1 means qat4j is faster)"
python3 - "$out" <<'PY'
import json, sys, os
d = sys.argv[1]
try:
    q = json.load(open(os.path.join(d, "qat4j-resnet20-int8.json")))
    t = json.load(open(os.path.join(d, "torch-resnet20-int8.json")))
except Exception as e:
    print("no ratios:", e); sys.exit(0)
lines = []
for variant, r in t["variants"].items():
    for phase in ("train", "infer"):
        a, b = q["phases"][phase]["median_ms"], r[phase]["median_ms"]
        lines.append(f"RATIO resnet20-int8-{phase}-vs-torch-{variant} cuda {a:.3f} {b:.3f} {a / b:.3f}")
open(os.path.join(d, "ratios.txt"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
print("device:", t["device"], "| torch", t["torch"])
PY
echo "== done $(date -u +%FT%TZ)"
exit $tests_rc
