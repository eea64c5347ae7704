#!/usr/bin/env bash
# The accuracy runs of the training issue on a GPU machine through the cuda backend: ResNet20 FP32 for 30 epochs
# (lr 0.1 cosine to 0, batch 128, the anchor's recipe), then INT8 QAT fine-tuning from its best checkpoint for 10
# epochs (lr 0.01 cosine to 0) for each preset in QAT_BITS (default int8-mpact). Run folders (metrics.jsonl,
# best.qck, last.qck) go to OUTDIR. INIT=CKPT skips the FP32 run and fine-tunes from CKPT.
#
#   bench/gpu-train.sh OUTDIR [DATA]    # DATA: the extracted cifar-10-batches-bin/ (default target/cifar/...)
#
# Needs target/gpu-kit (bench/gpu-kit.sh) and target/classes; the data travels separately (it does not fit the
# 64 MiB a GPU call carries: see the README's accuracy section). Env: FP32_EPOCHS, INT8_EPOCHS, QAT_BITS, INIT, BACKEND, LIMIT.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:?usage: bench/gpu-train.sh OUTDIR [DATA]}"
data="${2:-target/cifar/cifar-10-batches-bin}"
mkdir -p "$out"
source bench/gpu-env.sh
limit=()
[ -n "${LIMIT:-}" ] && limit=(--limit-train "$LIMIT" --limit-test "$LIMIT")
qat4j() { "$java_bin" -Xmx8g -cp "$cp" dev.qat4j.cli.Main "$@"; }
exec > >(tee "$out/gpu-train.log") 2>&1
echo "== $(date -u +%FT%TZ) $(nvidia-smi -L 2>/dev/null | head -1)"
ls -la "$data"
init="${INIT:-}"
if [ -z "$init" ]; then
  qat4j train --backend "${BACKEND:-cuda}" --model resnet20 --bits fp32 --epochs "${FP32_EPOCHS:-30}" --batch-size 128 --lr 0.1 \
    --eta-min 0 --data "$data" --out "$out/resnet20-fp32" --json "${limit[@]}"
  echo "fp32 exit code $?"
  init="$out/resnet20-fp32/best.qck"
fi
# int8-mpact: value-preserving activations (the seed's mPACT column); the DoReFa `int8` preset rescales every
# activation by 0.1 and clips negatives, which an FP32 checkpoint cannot be fine-tuned into in 10 epochs.
for bits in ${QAT_BITS:-int8-mpact}; do
  qat4j train --backend "${BACKEND:-cuda}" --model resnet20 --bits "$bits" --epochs "${INT8_EPOCHS:-10}" --batch-size 128 --lr 0.01 \
    --eta-min 0 --init "$init" --data "$data" --out "$out/resnet20-$bits" --json "${limit[@]}"
  echo "$bits exit code $?"
done
echo "== done $(date -u +%FT%TZ)"
