#!/usr/bin/env bash
# Builds the native kernels (src/main/cpp/*.cpp) with AddressSanitizer and UndefinedBehaviorSanitizer and runs them:
#
#   bench/sanitize.sh [iterations] [seed]   C++ driver only (bench/sanitize/kernel_driver.cpp): the checks of every op of
#                                           qat4j_ops.inc (a switch with one case per op, -Werror=switch) on random
#                                           shapes, every ISA level of this CPU compared, no JVM
#   bench/sanitize.sh --jvm                 also runs CpuConformanceTest, GemmS8Test, ConvS8ImplicitGemmTest,
#                                           GridConvTest, RequantizeResidualBoundaryTest, NativeConformanceTest and
#                                           BoundaryFuzzTest against an ASan/UBSan build of the JNI library (after
#                                           `mvn -B package -DskipTests`), with libasan preloaded into the JVM
#
# Any sanitizer report aborts the run with a non-zero exit status (-fno-sanitize-recover=all). Outputs go to
# bench/target/sanitize/. Needs g++ (with libasan/libubsan), a JDK and the openblas artifact in ~/.m2 (any
# `mvn package` puts it there).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$here/bench/target/sanitize"
mkdir -p "$out"

jvm=0
if [ "${1:-}" = "--jvm" ]; then jvm=1; shift; fi
iters="${1:-300}"
seed="${2:-1}"

# OpenBLAS headers and library from the openblas preset jar (the same one the normal build links).
jar="$(ls "${HOME}"/.m2/repository/org/bytedeco/openblas/0.3.31-1.5.13/openblas-0.3.31-1.5.13-linux-x86_64.jar)"
blas="$out/openblas"
if [ ! -f "$blas/org/bytedeco/openblas/linux-x86_64/include/cblas.h" ]; then
  rm -rf "$blas" && mkdir -p "$blas"
  (cd "$blas" && jar xf "$jar" org/bytedeco/openblas/linux-x86_64)
fi
blasdir="$blas/org/bytedeco/openblas/linux-x86_64"
[ -e "$blasdir/libopenblas.so" ] || ln -sf libopenblas.so.0 "$blasdir/libopenblas.so"

san=(-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1)
common=(-std=c++17 -fopenmp -ffp-contract=off -Werror=switch -I"$here/src/main/cpp" -I"$blasdir/include")
# allocator_may_return_null: the out-of-memory checks ask for impossible sizes and expect QAT4J_ERR_NO_MEMORY back.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

echo "sanitize: building kernel_driver with ${san[*]}"
g++ "${san[@]}" "${common[@]}" "$here"/src/main/cpp/*.cpp "$here/bench/sanitize/kernel_driver.cpp" \
  -L"$blasdir" -Wl,-rpath,"$blasdir" -lopenblas -o "$out/kernel_driver"
"$out/kernel_driver" "$iters" "$seed"

if [ "$jvm" = 1 ]; then
  # The JNI library of the normal build, recompiled from the same generated JNI source with the sanitizers
  # (the generated jniNativeKernels.cpp includes the kernel sources itself, as in the normal build).
  gen="$out/jni"
  rm -rf "$gen" && mkdir -p "$gen"
  cp_main="$here/target/classes"
  [ -d "$cp_main/dev/qat4j/backend/cpu" ] || { echo "sanitize: run 'mvn -B package -DskipTests' first" >&2; exit 2; }
  (cd "$here" && mvn -B -o -q dependency:build-classpath -Dmdep.outputFile="$out/classpath.txt" -Dmdep.includeScope=test)
  cpath="$(cat "$out/classpath.txt")"
  javacpp="$(ls "${HOME}"/.m2/repository/org/bytedeco/javacpp/1.5.13/javacpp-1.5.13.jar)"
  # Let JavaCPP generate the JNI glue only (-nocompile), then compile it ourselves with the sanitizers.
  java -jar "$javacpp" -cp "$cp_main:$cpath" -d "$gen" -nocompile -properties linux-x86_64 \
    -Dplatform.includepath="$here/src/main/cpp:$blasdir/include" dev.qat4j.backend.cpu.NativeKernels > "$out/javacpp.log" 2>&1
  jdk="$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")"
  lib="$out/native/dev/qat4j/backend/cpu/linux-x86_64"
  mkdir -p "$lib"
  g++ "${san[@]}" "${common[@]}" -fPIC -shared -I"$jdk/include" -I"$jdk/include/linux" \
    "$gen"/*.cpp -L"$blasdir" -Wl,-rpath,"$blasdir" -lopenblas \
    -o "$lib/libjniNativeKernels.so"
  console="$(ls "${HOME}"/.m2/repository/org/junit/platform/junit-platform-console-standalone/1.14.4/*.jar 2>/dev/null || true)"
  if [ -z "$console" ]; then
    (cd "$here" && mvn -B -q dependency:get -Dartifact=org.junit.platform:junit-platform-console-standalone:1.14.4)
    console="$(ls "${HOME}"/.m2/repository/org/junit/platform/junit-platform-console-standalone/1.14.4/*.jar)"
  fi
  asan="$(g++ -print-file-name=libasan.so)"
  ubsan="$(g++ -print-file-name=libubsan.so)"
  echo "sanitize: running the cpu backend tests on the sanitized JNI library (LD_PRELOAD=$asan)"
  # The sanitized library comes first on the class path, so JavaCPP loads it instead of the normal one.
  # handle_segv=0: the JVM uses SIGSEGV itself (safepoints, implicit null checks).
  ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:handle_segv=0:abort_on_error=1:allow_user_segv_handler=1:use_sigaltstack=0" \
  LD_PRELOAD="$asan:$ubsan" QAT4J_LOG=warn \
    java -Xss4m -jar "$console" execute -cp "$out/native:$here/target/test-classes:$cp_main:$cpath" \
      --disable-banner --details=summary \
      --select-class dev.qat4j.backend.CpuConformanceTest --select-class dev.qat4j.backend.cpu.GemmS8Test \
      --select-class dev.qat4j.backend.cpu.ConvS8ImplicitGemmTest --select-class dev.qat4j.backend.cpu.GridConvTest \
      --select-class dev.qat4j.backend.RequantizeResidualBoundaryTest \
      --select-class dev.qat4j.backend.NativeConformanceTest --select-class dev.qat4j.backend.BoundaryFuzzTest \
      --select-class dev.qat4j.backend.cpu.NativeStatusTest
fi
echo "sanitize: clean"
