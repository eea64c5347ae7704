#!/usr/bin/env bash
# Side by side on this machine (issue "CPU speed"): qat4j's ResNet20 INT8 QAT step and eval forward (cpu backend,
# StepTimer) against libtorch running the same network with the same fake-quant placement (LibtorchStepTimer,
# org.bytedeco:pytorch, bench only), back to back in separate JVMs so their thread pools never meet, on 1 and 2
# threads (or --threads N); then qat4j's integer inference of the end-to-end ResNet20 (bench/results/integer/e2e,
# IntegerModel.logitsOfCodes: the whole forward in one native call) against ONNX Runtime (Java, CPU) running its int8
# ONNX export, which it fuses to QLinearConv / QLinearAdd (OrtInferTimer, onnxruntime, bench only), both from the same
# int8 image codes, at batch 128 and batch 1, each engine in R alternating runs (--rounds, default 3).
# Prints `RATIO <name> <threads> <qat4j ms> <peer ms> <qat4j/peer>` (medians).
# --models picks the QAT networks (default resnet20), each with its preset: resnet20 -> int8, toynet and
# mobilenetv2 -> cfg1-star (rows qat_step_<model>_<preset>, fakequant_infer_<model>_<preset>). MobileNetV2 runs at
# most 3 steps after 1 warm-up (a qat4j step takes seconds; libtorch peaks near 9 GB RSS at batch 128).
#
#   bench/run.sh -h >/dev/null    # once: builds qat4j, installs it, builds bench/target/benchmarks.jar
#   bench/compare.sh [--threads N] [--steps S] [--warmup W] [--infer-steps S] [--infer-warmup W] [--rounds R]
#                    [--only qat|int8]
#                    [--models "resnet20 toynet mobilenetv2"]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jar=bench/target/benchmarks.jar
[ -f "$jar" ] || { echo "compare: $jar missing: run bench/run.sh first" >&2; exit 2; }
threads=(1 2)
steps=5
warmup=2
infer_steps=10
infer_warmup=10   # the JIT compiles qat4j's Java loops (input codes, FC) only after a few forwards
infer_rounds=3
only=
models=(resnet20)
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=("$2"); shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --models) read -r -a models <<< "$2"; shift 2 ;;
    --infer-steps) infer_steps="$2"; shift 2 ;;
    --infer-warmup) infer_warmup="$2"; shift 2 ;;
    --rounds) infer_rounds="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    *) echo "compare: unknown option $1" >&2; exit 2 ;;
  esac
done
median() { awk -v phase="$1" '$1 == "STEP" && $4 == phase { print $6 }'; }
median_of() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v n="$1" -v t="$2" -v a="$3" -v b="$4" 'BEGIN { printf "RATIO %s %s %.3f %.3f %.2f\n", n, t, a, b, a / b }'; }
for t in "${threads[@]}"; do
  if [ "$only" != int8 ]; then
    for model in "${models[@]}"; do
      jvm=(); s=$steps; w=$warmup
      case "$model" in
        resnet20) bits=int8 ;;
        toynet) bits=cfg1-star ;;
        mobilenetv2) bits=cfg1-star; jvm=(-Dorg.bytedeco.javacpp.maxBytes=16g)
          s=$((s < 3 ? s : 3)); w=$((w < 1 ? w : 1)) ;;
        *) echo "compare: unknown model $model (resnet20, toynet, mobilenetv2)" >&2; exit 2 ;;
      esac
      q=$(QAT4J_THREADS=$t OMP_NUM_THREADS=$t java "${jvm[@]}" -cp "$jar" dev.qat4j.bench.StepTimer --backend cpu \
            --model "$model" --bits "$bits" --steps "$s" --warmup "$w")
      p=$(OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=1 java -cp "$jar" dev.qat4j.bench.LibtorchStepTimer --threads "$t" \
            --model "$model" --bits "$bits" --steps "$s" --warmup "$w")
      for phase in train infer; do
        a=$(echo "$q" | median "$phase"); b=$(echo "$p" | median "$phase")
        name=$([ "$phase" = train ] && echo "qat_step_${model}_${bits}" || echo "fakequant_infer_${model}_${bits}")
        ratio "$name" "$t" "$a" "$b"
      done
    done
  fi
  if [ "$only" != qat ]; then
    # batch 128 (throughput) and batch 1 (latency; 10x the steps, each is short)
    for batch in 128 1; do
      n=$([ "$batch" = 1 ] && echo $((infer_steps * 10)) || echo "$infer_steps")
      w=$([ "$batch" = 1 ] && echo $((infer_warmup * 10)) || echo "$infer_warmup")
      # --rounds alternating pairs of runs, the median of their medians: a burst of load from another tenant lands
      # on one run of one engine, not on the whole comparison
      q= p=
      for ((round = 0; round < infer_rounds; round++)); do
        q+=$(QAT4J_THREADS=$t OMP_NUM_THREADS=$t java -cp "$jar" dev.qat4j.bench.OrtInferTimer --engine qat4j \
              --batch "$batch" --steps "$n" --warmup "$w")$'\n'
        p+=$(OMP_NUM_THREADS=$t java -cp "$jar" dev.qat4j.bench.OrtInferTimer --engine ort --threads "$t" \
              --batch "$batch" --steps "$n" --warmup "$w")$'\n'
      done
      name=$([ "$batch" = 1 ] && echo int8_infer_resnet20_batch1 || echo int8_infer_resnet20)
      ratio "$name" "$t" "$(echo "$q" | median int8_infer | median_of)" "$(echo "$p" | median int8_infer | median_of)"
    done
  fi
done
