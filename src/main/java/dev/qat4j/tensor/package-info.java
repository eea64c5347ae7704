/**
 * Tensors: dense row-major arrays of one {@link dev.qat4j.tensor.DType} living in the memory of one backend
 * ({@link dev.qat4j.tensor.Tensor}, {@link dev.qat4j.tensor.Storage}), shape helpers, and the quantization-grid mark
 * ({@link dev.qat4j.tensor.QuantGrid}) that lets a backend run a convolution of quantized operands on their integer
 * codes. Tensors own native or GPU memory: close them (or the scope that tracks them).
 */
package dev.qat4j.tensor;
