#!/usr/bin/env bash
# Every activation quantizer kind on every model trains on real CIFAR-10: a short run each (the seed's recipe for
# the model, fewer epochs and images), then one line per run: train loss of the first and last epoch, test accuracy.
#   bench/quantizer-kinds.sh [EPOCHS] [TRAIN_IMAGES] [TEST_IMAGES]      (defaults 3 2560 1000)
#   MODELS="toynet mobilenetv2" KINDS="pact fixed-clip" bench/quantizer-kinds.sh 10    (a subset)
# Needs the built jar (mvn -B package -DskipTests; QAT4J_JAR=path for another copy) and QAT4J_DATA (or ../shared/datasets/cifar10 beside the repo).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
jar="${QAT4J_JAR:-$here/../target/qat4j.jar}"
epochs="${1:-3}" ntrain="${2:-2560}" ntest="${3:-1000}"
export QAT4J_DATA="${QAT4J_DATA:-$(cd "$here/../.." && pwd)/shared/datasets/cifar10/cifar-10-binary.tar.gz}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
printf '%-12s %-11s %12s %12s %9s %8s\n' model kind "loss ep1" "loss ep$epochs" "test %" seconds
for model in ${MODELS:-toynet mobilenetv2 resnet20}; do
  for kind in ${KINDS:-dorefa pact mpact fixed-clip}; do
    out="$work/$model-$kind"
    start=$(date +%s)
    java -jar "$jar" train --model "$model" --act "$kind" --epochs "$epochs" --limit-train "$ntrain" \
      --limit-test "$ntest" --out "$out" --json > "$out.json" 2> "$out.log" || { echo "$model $kind FAILED"; tail -3 "$out.log"; continue; }
    secs=$(( $(date +%s) - start ))
    python3 - "$out/metrics.jsonl" "$model" "$kind" "$secs" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
first, last = rows[0], rows[-1]
best = max(r["test_accuracy"] for r in rows)
print(f"{sys.argv[2]:<12} {sys.argv[3]:<11} {first['train_loss']:12.4f} {last['train_loss']:12.4f} {100*best:9.2f} {sys.argv[4]:>8}")
PY
  done
done
echo "($epochs epochs of the seed's recipe for each model on the first $ntrain training images; best test accuracy on the first $ntest test images; chance is 10%)"
