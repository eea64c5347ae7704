#!/usr/bin/env bash
# Builds qat4j, installs it locally, builds the JMH benchmarks and runs them.
#   bench/run.sh [JMH args...]     e.g. bench/run.sh ActQuant -p impl=avx512vnni
# Threads of the native kernels: OMP_NUM_THREADS=1 or 2.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
(cd "$here/.." && mvn -B install -DskipTests)
(cd "$here" && mvn -B package)
exec java -jar "$here/target/benchmarks.jar" "$@"
