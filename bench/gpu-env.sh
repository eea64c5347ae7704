# Sourced by the GPU scripts (gpu-check.sh, gpu-train.sh) from the repository root: the Java runtime and classpath of
# the kit bench/gpu-kit.sh packs (a jlink'ed JRE when the GPU machine has no JDK). Sets kit, java_bin and cp.
kit=target/gpu-kit
# The kit travels as one xz archive (bench/gpu-kit.sh): unpack it once per machine.
if [ ! -x "$kit/jre/bin/java" ] && [ -f target/gpu-kit.tar.xz ]; then tar -C target -xJf target/gpu-kit.tar.xz; fi
java_bin="$kit/jre/bin/java"
[ -x "$java_bin" ] || java_bin="$(command -v java || true)"
[ -n "$java_bin" ] || { echo "no Java runtime: run bench/gpu-kit.sh and carry target/gpu-kit"; exit 2; }
cp="target/classes:$kit/classes:$(ls "$kit"/lib/*.jar | grep -v console-standalone | tr '\n' ':')"
