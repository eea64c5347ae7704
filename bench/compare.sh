#!/usr/bin/env bash
# Side by side on this machine (issue "CPU speed"): qat4j's ResNet20 INT8 QAT step and eval forward (cpu backend,
# StepTimer) against libtorch running the same network with the same fake-quant placement (LibtorchStepTimer,
# org.bytedeco:pytorch, bench only), back to back in separate JVMs so their thread pools never meet, on 1 and 2
# threads (or --threads N). Prints `RATIO <name> <threads> <qat4j ms> <peer ms> <qat4j/peer>` (medians).
#
#   bench/run.sh -h >/dev/null    # once: builds qat4j, installs it, builds bench/target/benchmarks.jar
#   bench/compare.sh [--threads N] [--steps S]
#
# Not yet compared: integer inference against ONNX Runtime (needs qat4j's ONNX export, the integer-export issue).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jar=bench/target/benchmarks.jar
[ -f "$jar" ] || { echo "compare: $jar missing: run bench/run.sh first" >&2; exit 2; }
threads=(1 2)
steps=5
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=("$2"); shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    *) echo "compare: unknown option $1" >&2; exit 2 ;;
  esac
done
median() { awk -v phase="$1" '$1 == "STEP" && $4 == phase { print $6 }'; }
for t in "${threads[@]}"; do
  q=$(QAT4J_THREADS=$t OMP_NUM_THREADS=$t java -cp "$jar" dev.qat4j.bench.StepTimer --backend cpu --model resnet20 \
        --bits int8 --steps "$steps" --warmup 2)
  p=$(OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=1 java -cp "$jar" dev.qat4j.bench.LibtorchStepTimer --threads "$t" \
        --steps "$steps" --warmup 2)
  for phase in train infer; do
    a=$(echo "$q" | median "$phase"); b=$(echo "$p" | median "$phase")
    name=$([ "$phase" = train ] && echo qat_step_resnet20_int8 || echo fakequant_infer_resnet20_int8)
    awk -v n="$name" -v t="$t" -v a="$a" -v b="$b" 'BEGIN { printf "RATIO %s %s %.1f %.1f %.2f\n", n, t, a, b, a / b }'
  done
done
