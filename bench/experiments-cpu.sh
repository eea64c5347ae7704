#!/usr/bin/env bash
# Runs rows of the seed's tables at a reduced budget on this machine's CPU through `qat4j train --experiment`, then
# `qat4j report` over every run kept under bench/results/experiments/cpu-runs/ (run.json, metrics.jsonl, curves.png;
# checkpoints are left out of the repository).
#   bench/experiments-cpu.sh EPOCHS ID [ID...]        e.g. bench/experiments-cpu.sh 3 toynet-cfg1-star rn20-cfg1-star
# Needs the built jar (mvn -B package -DskipTests; QAT4J_JAR=path for another copy) and QAT4J_DATA (or
# ../shared/datasets/cifar10 beside the repository).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
jar="${QAT4J_JAR:-$here/../target/qat4j.jar}"
export QAT4J_DATA="${QAT4J_DATA:-$(cd "$here/../.." && pwd)/shared/datasets/cifar10/cifar-10-binary.tar.gz}"
epochs="$1"; shift
runs="$here/results/experiments/cpu-runs"
mkdir -p "$runs"
for id in "$@"; do
  out="$runs/$id-${epochs}ep"
  if [ -f "$out/last.qck" ]; then resume=(--resume); else resume=(); fi
  java -jar "$jar" train --experiment "$id" --epochs "$epochs" --out "$out" "${resume[@]}" 2> "$out.log" || {
    echo "$id: train failed, see $out.log"; continue; }
  tail -4 "$out.log"
done
results="$here/results/experiments"
java -jar "$jar" report "$runs"/*/ --png "$results/report.png" --overwrite | tee "$results/report.txt"
java -jar "$jar" report "$runs"/*/ --json > "$results/report.json"
