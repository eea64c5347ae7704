#!/usr/bin/env bash
# Native builds and toolchain checks that Maven cannot do by itself.
#
#   ./cppbuild.sh                 check the toolchains and build whatever can be built (default: all)
#   ./cppbuild.sh check           report g++, JDK, Maven, nvcc and the CPU features, change nothing
#   ./cppbuild.sh link-prep DIR   write the `libopenblas.so` linker script the javacpp plugin links
#                                 against (the openblas jar ships only libopenblas.so.0); Maven runs this
#   ./cppbuild.sh cuda [DIR [required]]
#                                 build the CUDA library with nvcc into DIR (default target/cuda; rebuilt only when a
#                                 source is newer). Without nvcc: skipped with a message, or an error with `required`,
#                                 which Maven's cuda profile (mvn -Pcuda) passes
#
# The C++ kernels of the cpu backend are built by the javacpp Maven plugin during `mvn package`;
# this script never has to run for them.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

say()  { printf 'cppbuild: %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

check() {
  local missing=0
  if have g++; then say "g++        $(g++ -dumpfullversion)"; else say "MISSING g++ (apt-get install g++): the cpu backend cannot be built"; missing=1; fi
  if have javac; then say "javac      $(javac -version 2>&1 | awk '{print $2}')"; else say "MISSING javac (JDK 17): nothing can be built"; missing=1; fi
  if have mvn; then say "maven      $(mvn -v 2>/dev/null | head -1 | sed 's/\x1b\[[0-9;]*m//g' | awk '{print $3}')"; else say "MISSING mvn (apt-get install maven)"; missing=1; fi
  local nvcc_bin="${NVCC:-}"
  [ -z "$nvcc_bin" ] && { have nvcc && nvcc_bin=nvcc || { [ -x /usr/local/cuda/bin/nvcc ] && nvcc_bin=/usr/local/cuda/bin/nvcc; }; }
  if [ -n "$nvcc_bin" ]; then say "nvcc       $("$nvcc_bin" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"; else say "nvcc       not found: the cuda backend will be skipped (everything else builds)"; fi
  if [ -r /proc/cpuinfo ]; then
    local flags; flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
    local isa=scalar
    [[ $flags == *" avx2 "* ]] && isa=avx2
    [[ $flags == *" avx512_vnni "* && $flags == *" avx512bw "* ]] && isa=avx512vnni
    say "cpu        $(nproc) threads, widest int8 ISA: $isa"
  fi
  return $missing
}

link_prep() {
  local dir="${1:?link-prep needs a directory}"
  mkdir -p "$dir"
  # GNU ld reads a text file named libX.so as a linker script: -lopenblas then resolves to the
  # soname the openblas preset jar really contains (toolchain.md pitfall 2).
  printf 'INPUT(libopenblas.so.0)\n' > "$dir/libopenblas.so"
}

cuda() {
  local nvcc_bin="${NVCC:-}"
  [ -z "$nvcc_bin" ] && { have nvcc && nvcc_bin=nvcc || { [ -x /usr/local/cuda/bin/nvcc ] && nvcc_bin=/usr/local/cuda/bin/nvcc; }; }
  if [ -z "$nvcc_bin" ] && [ "${2:-}" = required ]; then
    say "ERROR: the cuda profile (-Pcuda) needs nvcc: set NVCC or install the CUDA toolkit, or build without -Pcuda"
    return 1
  fi
  if [ -z "$nvcc_bin" ]; then say "skipping CUDA: nvcc not found (set NVCC or install the CUDA toolkit); the cuda backend will be unavailable"; return 0; fi
  local out="${1:-$here/target/cuda}"
  local lib="$out/libqat4j_cuda.so"
  local deps=("$here"/src/main/cuda/*.cu "$here"/src/main/cuda/*.h "$here"/src/main/cuda/*.cuh
              "$here"/src/main/cpp/quant_common.h "$here"/src/main/cpp/qat4j_kernels.h "$here"/src/main/cpp/qat4j_ops.inc
              "$here/cppbuild.sh")
  if [ -f "$lib" ]; then
    local stale=0 f
    for f in "${deps[@]}"; do [ "$f" -nt "$lib" ] && stale=1; done
    if [ $stale -eq 0 ]; then say "CUDA library up to date: $lib"; return 0; fi
  fi
  mkdir -p "$out/obj"
  # sm_80 (A100) and sm_90 (H100/H200) machine code, plus PTX for newer GPUs to JIT. cudart is static, so the
  # library needs only the driver's libcuda.so.1 at run time and still loads (and reports "no driver") without one.
  local arch=(-gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90)
  local common=(-O3 -std=c++17 -Xcompiler -fPIC -Xcompiler -Wall -Xcompiler -Wno-unknown-pragmas "${arch[@]}")
  local src obj pids=() objs=()
  for src in "$here"/src/main/cuda/*.cu; do
    obj="$out/obj/$(basename "${src%.cu}").o"
    objs+=("$obj")
    local extra=()
    # Kernels that must match the Java reference bit for bit never fuse a multiply into an add: a source whose first
    # line is "// nvcc: --fmad=false" is built so.
    [ "$(head -n1 "$src")" = "// nvcc: --fmad=false (cppbuild.sh reads this line)" ] && extra=(--fmad=false)
    "$nvcc_bin" "${common[@]}" "${extra[@]}" -c "$src" -o "$obj" &
    pids+=($!)
  done
  local p; for p in "${pids[@]}"; do wait "$p"; done
  "$nvcc_bin" -shared -cudart static "${arch[@]}" -o "$lib.tmp" "${objs[@]}"
  mv -f "$lib.tmp" "$lib"
  say "built $lib"
}

case "${1:-all}" in
  check)     check ;;
  link-prep) link_prep "${2:-$here/target/native-link}" ;;
  cuda)      cuda "${2:-}" "${3:-}" ;;
  all)       check && link_prep "$here/target/native-link" && cuda ;;
  *)         say "unknown target '$1' (use: check, link-prep DIR, cuda, all)"; exit 2 ;;
esac
