#!/usr/bin/env bash
# Packs what bench/gpu-check.sh needs on a GPU machine that may have no JDK and no Maven: a jlink'ed Java runtime,
# the few jars the CUDA tests and the timers load, and the compiled timers (StepTimer, ConvTimer, EpochTimer), into target/gpu-kit (~57 MB with
# target/classes and target/test-classes, which travel beside it). Run after `mvn -B package -DskipTests` (or
# `mvn -B -Pcuda test-compile` + `package`) on a machine with nvcc, so target/classes holds the CUDA library.
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
mvn -B -o -q dependency:build-classpath -Dmdep.includeScope=runtime -Dmdep.outputFile="$kit/runtime-classpath.txt" \
  >/dev/null
tr ':' '\n' < "$kit/runtime-classpath.txt" | grep -v -e '/openblas/' -e '/junit/' -e opentest4j -e apiguardian | while read -r j; do cp "$j" "$kit/lib/"; done
console="$m2/org/junit/platform/junit-platform-console-standalone/1.14.4/junit-platform-console-standalone-1.14.4.jar"
[ -f "$console" ] || mvn -B -q dependency:get -Dartifact=org.junit.platform:junit-platform-console-standalone:1.14.4 >/dev/null
cp "$console" "$kit/lib/"
# OpTimes: StepTimer's --ops helper, which it references (javac finds no source for it without it here).
javac -d "$kit/classes" -cp target/classes bench/src/main/java/dev/qat4j/bench/StepTimer.java \
  bench/src/main/java/dev/qat4j/bench/OpTimes.java bench/src/main/java/dev/qat4j/bench/ConvTimer.java \
  bench/src/main/java/dev/qat4j/bench/EpochTimer.java
du -sh "$kit" target/classes target/test-classes
