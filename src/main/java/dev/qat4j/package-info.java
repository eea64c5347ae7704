/**
 * qat4j: quantization-aware training and bit-exact integer inference of small CNNs. The packages below it, from the
 * bottom up: {@code tensor} and {@code backend} (numerical work), {@code quant} (the quantizers), {@code nn} and
 * {@code models} (networks), {@code data}, {@code train}, {@code checkpoint} (the file format), {@code integer} (the
 * integer model and its exports), {@code experiments} and {@code cli}. This package holds only
 * {@link dev.qat4j.Version}. The overview page shows the three main uses: training, conversion with its check, export.
 */
package dev.qat4j;
