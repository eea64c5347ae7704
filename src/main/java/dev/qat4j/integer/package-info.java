/**
 * The integer model a chip runs: {@link dev.qat4j.integer.IntegerConverter} turns a trained fake-quant model into an
 * {@link dev.qat4j.integer.IntegerModel} (int8 codes, int32 accumulators, per-channel fixed-point requantization),
 * {@link dev.qat4j.integer.IntegerModelCheck} proves it free of overflow, {@link dev.qat4j.integer.IntegerEval}
 * compares it with its fake-quant model on the same images, {@link dev.qat4j.integer.HardwareReport} sizes it for
 * hardware and {@link dev.qat4j.integer.IntegerModelIO} saves it as a {@code .qim} file. Its kernels work on plain
 * arrays too ({@link dev.qat4j.integer.IntKernels}). Exports are in the sub-package {@code export}.
 */
package dev.qat4j.integer;
