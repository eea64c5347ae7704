#!/usr/bin/env bash
# CIFAR-10 to a GPU machine in parts: the archive (170 MB) does not fit the 64 MiB one device call carries, so it
# travels in four calls to one warm machine, whose ignored files stay between calls while it is warm.
#
#   bench/gpu-data.sh split [ARCHIVE]   # here: target/gpu-data/part-1..4 + SHA256SUMS (default: QAT4J_DATA or
#                                       # ../shared/datasets/cifar10/cifar-10-binary.tar.gz)
#   bench/gpu-data.sh join              # there, once all four parts came: checks the sum, extracts target/cifar/
#
# part-1 is 14 MiB so that it fits beside the kit (bench/gpu-kit.sh, ~51 MB with the tree) in the first call; parts 2-4
# are 50 MiB each, one call each (with the ~11 MB tree). Carry in every call: target/gpu-data/SHA256SUMS and that
# call's part (target/gpu-data/part-K); end each call with `bench/gpu-data.sh join || true` (it waits for all parts).
# Afterwards target/cifar/cifar-10-batches-bin is what `qat4j train --data` and bench/gpu-experiments.sh read.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir=target/gpu-data
case "${1:-}" in
  split)
    archive="${2:-${QAT4J_DATA:-../shared/datasets/cifar10/cifar-10-binary.tar.gz}}"
    [ -f "$archive" ] || { echo "gpu-data: no archive at $archive" >&2; exit 2; }
    rm -rf "$dir" && mkdir -p "$dir"
    head -c $((14 << 20)) "$archive" > "$dir/part-1"
    tail -c +$(((14 << 20) + 1)) "$archive" | split -b 50M -d -a 1 - "$dir/rest-"
    for f in "$dir"/rest-*; do mv "$f" "$dir/part-$(( ${f##*-} + 2 ))"; done
    sha256sum < "$archive" | cut -d' ' -f1 > "$dir/SHA256SUMS"
    ls -l "$dir"
    ;;
  join)
    [ -d target/cifar/cifar-10-batches-bin ] && { echo "gpu-data: target/cifar already extracted"; exit 0; }
    for k in 1 2 3 4; do
      [ -f "$dir/part-$k" ] || { echo "gpu-data: part-$k not here yet (have: $(ls "$dir" 2>/dev/null | tr '\n' ' '))"; exit 1; }
    done
    [ ! -f "$dir/part-5" ] || { echo "gpu-data: unexpected part-5" >&2; exit 2; }
    cat "$dir"/part-1 "$dir"/part-2 "$dir"/part-3 "$dir"/part-4 > "$dir/cifar-10-binary.tar.gz"
    want="$(cat "$dir/SHA256SUMS")"
    got="$(sha256sum < "$dir/cifar-10-binary.tar.gz" | cut -d' ' -f1)"
    [ "$want" = "$got" ] || { echo "gpu-data: sha256 $got, expected $want: a part is damaged" >&2; exit 2; }
    mkdir -p target/cifar && tar -xzf "$dir/cifar-10-binary.tar.gz" -C target/cifar
    rm -f "$dir/cifar-10-binary.tar.gz"
    ls -l target/cifar/cifar-10-batches-bin
    ;;
  *) echo "usage: bench/gpu-data.sh split [ARCHIVE] | join" >&2; exit 2 ;;
esac
