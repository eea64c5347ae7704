package dev.qat4j.nn;

/**
 * One row of a model summary, counted with the seed's convention ({@code algorithms.md} A5): params are conv, BN
 * (2 per channel) and FC weights and biases, not α; MADDs are conv/FC multiply-accumulates, 2 per BN element and
 * the pooling cost of the pooling kind. Bits are 32 where nothing is quantized, 0 where not applicable.
 */
public record LayerInfo(String name, String type, int[] outShape, long params, long madds, int weightBits,
                        int activationBits) {
}
