/**
 * The quantizers as the seed defines them, with worked tables in their Javadoc: the DoReFa weight quantizer
 * ({@link dev.qat4j.quant.WeightQuantizer}), the activation quantizers PACT, mPACT, fixed clip and DoReFa
 * ({@link dev.qat4j.quant.ActQuantizer}), and the integer path's fixed-point requantization
 * ({@link dev.qat4j.quant.Requantizer}, {@link dev.qat4j.quant.RequantFormat}, {@link dev.qat4j.quant.Rounding}).
 */
package dev.qat4j.quant;
