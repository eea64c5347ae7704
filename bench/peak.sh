#!/usr/bin/env bash
# FP32 FMA and int8 VNNI peaks and the STREAM triad bandwidth of this host (bench/peak/peak.cpp), 1 thread and
# all threads, best of 5:
#   bench/peak.sh   ->  PEAK fp32_fma_gflops 1 ... / PEAK int8_vnni_gops 1 ... / ... <threads> ...
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$here/target"
g++ -O3 -fopenmp -ffp-contract=off -mavx512f -mavx512vnni "$here/peak/peak.cpp" -o "$here/target/peak"
grep -m1 'model name' /proc/cpuinfo | sed 's/^/cpu: /'
echo "cpu family/model: $(grep -m1 'cpu family' /proc/cpuinfo | awk '{print $NF}')/$(grep -m1 '^model\s*:' /proc/cpuinfo | awk '{print $NF}') (25/17 = Zen 4, 26/x = Zen 5)"
"$here/target/peak"
