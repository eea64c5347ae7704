#!/usr/bin/env bash
# The seed's experiments at full budget on a GPU machine lent in short windows (issues 21 and 22): each run goes as far
# as the time allows, ends after a whole epoch with its checkpoints (`train --time-limit`), and the next window
# continues it (`--resume`), in this call, the next one, or the next session.
#
#   bench/gpu-experiments.sh OUTDIR MINUTES ID [ID...]     # e.g. ... "$OUT" 8 rn20-fp32 rn20-cfg1-star
#
# Runs live in target/gpu-runs/ID (kept between calls while the machine is warm). A run with no folder there starts
# from its committed state in bench/results/gpu-h200/runs/ID (run.json, metrics.jsonl, last.qck) when there is one,
# so a run survives the machine going back. MINUTES is shared by all the IDs, in order; an ID whose run is complete
# is skipped. At the end OUTDIR/runs.tar holds each run's run.json, metrics.jsonl, last.qck and best.qck and
# OUTDIR/progress.txt one line per run: unpack the tar over bench/results/gpu-h200/runs/ here and commit it.
# Needs the kit (bench/gpu-kit.sh: target/gpu-kit.tar.xz, target/classes) and target/cifar (bench/gpu-data.sh).
# Env: BACKEND (default cuda), EXTRA (more `train` options for every run, e.g. "--epochs 30" for a reduced budget;
# a run records them in run.json, and its folder name then gets the suffix SUFFIX, e.g. SUFFIX=-30ep).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:?usage: bench/gpu-experiments.sh OUTDIR MINUTES ID [ID...]}"
minutes="${2:?usage: bench/gpu-experiments.sh OUTDIR MINUTES ID [ID...]}"
shift 2
mkdir -p "$out" target/gpu-runs
source bench/gpu-env.sh
data=target/cifar/cifar-10-batches-bin
[ -d "$data" ] || { echo "gpu-experiments: no $data: bring CIFAR-10 first (bench/gpu-data.sh)"; exit 2; }
committed=bench/results/gpu-h200/runs
deadline=$(( $(date +%s) + $(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 }') ))
exec > >(tee -a "$out/gpu-experiments.log") 2>&1
echo "== $(date -u +%FT%TZ) gpu-experiments, ${minutes} min: $*"
runs=()
for id in "$@"; do
  name="$id${SUFFIX:-}"
  dir="target/gpu-runs/$name"
  runs+=("$name")
  if [ ! -f "$dir/last.qck" ] && [ -f "$committed/$name/last.qck" ]; then
    mkdir -p "$dir" && cp "$committed/$name"/{run.json,metrics.jsonl,last.qck} "$dir"/
    [ -f "$committed/$name/best.qck" ] && cp "$committed/$name/best.qck" "$dir"/
    echo "$name: continuing the committed run ($(wc -l < "$dir/metrics.jsonl") epochs done)"
  fi
  left_s=$(( deadline - $(date +%s) ))
  (( left_s < 30 )) && { echo "$name: no time left in this window"; continue; }
  left=$(awk -v s="$left_s" 'BEGIN { printf "%.2f", s / 60 }')
  resume=()
  [ -f "$dir/last.qck" ] && resume=(--resume)
  # shellcheck disable=SC2086
  "$java_bin" -Xmx16g -cp "$cp" dev.qat4j.cli.Main train --experiment "$id" --backend "${BACKEND:-cuda}" \
    --data "$data" --out "$dir" --time-limit "$left" "${resume[@]}" ${EXTRA:-} --json > "$dir.result.json"
  echo "$name: train exit code $? ($(cat "$dir.result.json" 2>/dev/null | head -c 400))"
done
: > "$out/progress.txt"
for name in "${runs[@]}"; do
  dir="target/gpu-runs/$name"
  [ -f "$dir/metrics.jsonl" ] || { echo "$name: no run yet" >> "$out/progress.txt"; continue; }
  echo "$name: $(wc -l < "$dir/metrics.jsonl") epochs; last: $(tail -1 "$dir/metrics.jsonl")" >> "$out/progress.txt"
done
cat "$out/progress.txt"
files=$(for name in "${runs[@]}"; do
  for f in run.json metrics.jsonl last.qck best.qck; do [ -f "target/gpu-runs/$name/$f" ] && echo "$name/$f"; done; done)
# shellcheck disable=SC2086
[ -n "$files" ] && tar -C target/gpu-runs -cf "$out/runs.tar" $files && ls -l "$out/runs.tar"
echo "== done $(date -u +%FT%TZ)"
