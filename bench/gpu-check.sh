#!/usr/bin/env bash
# One prepared GPU check (issues 8 and 20), in one call that finishes in under 8 minutes: the GPU and a Java runtime,
# the CUDA conformance and whole-model tests against ref, then qat4j vs PyTorch on the same card: training steps of
# ResNet20 INT8, ToyNet cfg1-star and MobileNetV2 cfg1-star at batch 128 and a whole ResNet20 epoch (50,000 images,
# crop + flip, then 10,000 evaluated), PyTorch both eager and torch.compile'd (bench/torch_qat_twins.py), medians and
# ratios against the faster PyTorch variant that finished. Figures go to OUTDIR (given as the argument).
#
#   bench/gpu-kit.sh                 # on the build machine: jlink'ed JRE + jars into target/gpu-kit
#   bench/gpu-check.sh OUTDIR        # on the GPU machine, in the repository root, with target/ carried
#
# Output lines a script can read: `RATIO <name> <device> <qat4j ms> <peer ms> <qat4j/peer>` (also OUTDIR/ratios.txt).
# Time: every command has a timeout; the PyTorch part gets what is left of TOTAL_S (default 450 s) and splits it
# between its variants (each compile under a limit; one that does not finish is reported and the ratio uses the
# other variant). COMPILE_MODE (default max-autotune) picks torch.compile's mode. The epoch uses CIFAR-10 when
# target/cifar/cifar-10-batches-bin is there, random uint8 images of its size otherwise.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:?usage: bench/gpu-check.sh OUTDIR}"
mkdir -p "$out"
steps="${STEPS:-30}"
total_s="${TOTAL_S:-450}"
compile_mode="${COMPILE_MODE:-max-autotune}"
cifar=target/cifar/cifar-10-batches-bin
exec > >(tee "$out/gpu-check.log") 2>&1

echo "== $(date -u +%FT%TZ) gpu-check"
timeout 10 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || { echo "no nvidia-smi: not a GPU machine"; exit 2; }
source bench/gpu-env.sh
timeout 10 "$java_bin" -version 2>&1 | head -1

echo "== conformance: CUDA vs ref (CudaConformanceTest, CudaTrainingTest, CudaDataOpsTest)"
timeout 110 "$java_bin" -Dqat4j.conformance.seeds="${SEEDS:-12}" -jar "$kit"/lib/junit-platform-console-standalone-*.jar \
  execute --class-path "$cp:target/test-classes" --select-class dev.qat4j.backend.CudaConformanceTest \
  --select-class dev.qat4j.backend.CudaTrainingTest --select-class dev.qat4j.backend.CudaDataOpsTest --details=tree --disable-banner --reports-dir "$out/junit"
tests_rc=$?
echo "conformance exit code: $tests_rc"

echo "== qat4j step timer (cuda)"
timeout 35 "$java_bin" -cp "$cp" dev.qat4j.bench.StepTimer --backend cuda --model resnet20 --bits int8 \
  --steps "$steps" --warmup 5 --json "$out/qat4j-resnet20-int8.json" --profile
timeout 20 "$java_bin" -cp "$cp" dev.qat4j.bench.StepTimer --backend cuda --model toynet --bits cfg1-star \
  --steps "$steps" --warmup 5 --json "$out/qat4j-toynet-cfg1-star.json"
timeout 30 "$java_bin" -cp "$cp" dev.qat4j.bench.StepTimer --backend cuda --model mobilenetv2 --bits cfg1-star \
  --steps "$steps" --warmup 5 --json "$out/qat4j-mobilenetv2-cfg1-star.json"

echo "== convolutions: float vs fused fake-quant int8 vs int8 (cuda)"
timeout 20 "$java_bin" -cp "$cp" dev.qat4j.bench.ConvTimer --backend cuda | tee "$out/qat4j-convs.txt"

echo "== qat4j epoch timer (cuda): ResNet20 int8, 2 epochs of train + evaluation"
data_args=()
[ -d "$cifar" ] && data_args=(--data "$cifar")
timeout 45 "$java_bin" -cp "$cp" dev.qat4j.bench.EpochTimer --backend cuda --model resnet20 --bits int8 --epochs 2 \
  --batch-size 128 ${data_args[@]+"${data_args[@]}"} --json "$out/qat4j-epoch-resnet20-int8.json"

# what is left of total_s, less 15 s for the ratios and the end (at least 60 s, at most 400)
torch_s=$(( total_s - SECONDS - 15 ))
(( torch_s < 60 )) && torch_s=60
(( torch_s > 400 )) && torch_s=400
echo "== PyTorch twins, eager and torch.compile(mode=$compile_mode), same card (budget ${torch_s} s)"
timeout $(( torch_s + 5 )) python3 bench/torch_qat_twins.py --device cuda --models resnet20,toynet,mobilenetv2 \
  --variants eager,compiled --compile-mode "$compile_mode" --steps "$steps" --warmup 5 --infer resnet20 \
  --epoch --epochs 2 ${data_args[@]+"${data_args[@]}"} --budget "$torch_s" --eager-timeout 90 --compile-timeout 170 \
  --json "$out/torch-twins.json"

echo "== ratios (qat4j / the faster PyTorch variant that finished; < 1 means qat4j is faster)"
timeout 10 python3 bench/torch_qat_twins.py ratios "$out"
echo "== done $(date -u +%FT%TZ)"
exit $tests_rc
