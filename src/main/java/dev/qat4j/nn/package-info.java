/**
 * Network parts with an explicit forward and backward ({@link dev.qat4j.nn.Module}): quantized convolution and linear
 * layers, BatchNorm, activation quantizers, pooling, residual blocks and {@link dev.qat4j.nn.Sequential}. A
 * {@link dev.qat4j.nn.Step} owns every intermediate tensor of one pass and frees them when it is closed.
 */
package dev.qat4j.nn;
