#!/usr/bin/env bash
# Packs what bench/gpu-check.sh needs on a GPU machine that may have no JDK and no Maven: a jlink'ed Java runtime,
# the few jars the CUDA tests and the step timer load, and the compiled timer, into target/gpu-kit (~45 MB with
# target/classes and target/test-classes, which travel beside it). Run after `mvn -B package -DskipTests` (or
# `mvn -B test-compile` + `package`) on a machine with nvcc, so target/classes holds the CUDA library.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
kit=target/gpu-kit
m2="${M2_REPO:-$HOME/.m2/repository}"
[ -f target/classes/dev/qat4j/backend/cuda/linux-x86_64/libqat4j_cuda.so ] \
  || { echo "gpu-kit: target/classes has no CUDA library: build with nvcc installed first" >&2; exit 1; }
rm -rf "$kit" && mkdir -p "$kit/lib" "$kit/classes"
jlink --add-modules java.base,jdk.unsupported,java.management,java.logging,java.xml --strip-debug --no-header-files \
  --no-man-pages --compress=2 --output "$kit/jre"
jar_of() { local f="$m2/$1"; [ -f "$f" ] || { echo "gpu-kit: missing $f (run mvn once online)" >&2; exit 1; }; cp "$f" "$kit/lib/"; }
jar_of org/bytedeco/javacpp/1.5.13/javacpp-1.5.13.jar
jar_of org/bytedeco/javacpp/1.5.13/javacpp-1.5.13-linux-x86_64.jar
jar_of org/junit/platform/junit-platform-console-standalone/1.14.4/junit-platform-console-standalone-1.14.4.jar
for j in core/jackson-core core/jackson-databind core/jackson-annotations dataformat/jackson-dataformat-yaml; do
  d="$m2/com/fasterxml/jackson/$j"; v=$(ls "$d" | sort -V | tail -1); cp "$d/$v/"*"-$v.jar" "$kit/lib/" 2>/dev/null || true
done
javac -d "$kit/classes" -cp target/classes bench/src/main/java/dev/qat4j/bench/StepTimer.java
du -sh "$kit" target/classes target/test-classes
