#!/usr/bin/env bash
# Packs what bench/gpu-check.sh needs on a GPU machine that may have no JDK and no Maven: a jlink'ed Java runtime,
# the few jars the CUDA tests and the timers load, and the compiled timers (StepTimer, ConvTimer, EpochTimer), into
# target/gpu-kit and one archive of it, target/gpu-kit.tar.xz (31 MB; with target/classes, target/test-classes and the
# tracked tree a call carries about 51 MB of its 64 MiB). Run after `mvn -B -Pcuda package -DskipTests` (or
# `mvn -B -Pcuda test-compile`) on a machine with nvcc, so target/classes holds the CUDA library.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
kit=target/gpu-kit
m2="${M2_REPO:-$HOME/.m2/repository}"
[ -f target/classes/dev/qat4j/backend/cuda/linux-x86_64/libqat4j_cuda.so ] \
  || { echo "gpu-kit: target/classes has no CUDA library: build with mvn -B -Pcuda package (nvcc installed) first" >&2; exit 1; }
rm -rf "$kit" && mkdir -p "$kit/lib" "$kit/classes"
# No java.desktop (13 MB): `qat4j train` there writes everything but the PNG curves, and says so.
jlink --add-modules java.base,jdk.unsupported,java.management,java.logging,java.xml --strip-debug \
  --no-header-files --no-man-pages --compress=2 --output "$kit/jre"
# The library's runtime jars except OpenBLAS (only the cpu backend needs it; 20 MB the GPU run does without).
# Offline first; a fresh ~/.m2 needs the dependency plugin's own dependencies from Maven Central once.
mvn -B -o -q dependency:build-classpath -Dmdep.includeScope=runtime -Dmdep.outputFile="$kit/runtime-classpath.txt" \
  >/dev/null 2>&1 || mvn -B -q dependency:build-classpath -Dmdep.includeScope=runtime \
  -Dmdep.outputFile="$kit/runtime-classpath.txt" >/dev/null
# No ONNX Runtime either (75 MB: only `export --onnx` checks and the int8 benchmark load it).
tr ':' '\n' < "$kit/runtime-classpath.txt" | grep -v -e '/openblas/' -e '/onnxruntime/' -e '/junit/' -e opentest4j -e apiguardian | while read -r j; do cp "$j" "$kit/lib/"; done
console="$m2/org/junit/platform/junit-platform-console-standalone/1.14.4/junit-platform-console-standalone-1.14.4.jar"
[ -f "$console" ] || mvn -B -q dependency:get -Dartifact=org.junit.platform:junit-platform-console-standalone:1.14.4 >/dev/null
cp "$console" "$kit/lib/"
# OpTimes: StepTimer's --ops helper, which it references (javac finds no source for it without it here).
javac -d "$kit/classes" -cp target/classes bench/src/main/java/dev/qat4j/bench/StepTimer.java \
  bench/src/main/java/dev/qat4j/bench/OpTimes.java bench/src/main/java/dev/qat4j/bench/ConvTimer.java \
  bench/src/main/java/dev/qat4j/bench/EpochTimer.java
# One xz archive of the kit (the JRE halves under xz): what a GPU call carries, with target/classes and
# target/test-classes; bench/gpu-env.sh unpacks it there. A call carries 64 MiB in all, the tracked tree included.
tar -C target -cf - gpu-kit | xz -9 -T0 > target/gpu-kit.tar.xz
du -sh "$kit" target/gpu-kit.tar.xz target/classes target/test-classes
echo "carry: target/gpu-kit.tar.xz target/classes target/test-classes (+ the tracked tree, $(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1) bytes)"
