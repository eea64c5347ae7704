package dev.qat4j.integer;

import dev.qat4j.quant.Rounding;

/**
 * One op of an {@link IntegerModel}. It reads value {@code input} (and {@code residual}, or -1) and writes the next
 * value. Three kinds:
 * <ul>
 *   <li>{@link Type#REQUANT}: an optional convolution of the input with integer weight codes (int32 or int64
 *       accumulators, as {@code accBound} requires), then per output channel
 *       {@code clamp(round((acc * multiplier + residual * residualMultiplier + bias) / 2^shift), qmin, qmax)}; without
 *       a convolution {@code acc} is the input itself (a BN or a rescale between two quantizers).</li>
 *   <li>{@link Type#SUM_POOL}: sums over {@code poolKernel}-square windows (0 = whole channel); the averaging
 *       division is folded into the consumer's scale.</li>
 *   <li>{@link Type#LINEAR}: logits {@code (x . w) * 2^fracBits + bias} in int64; {@code outputScale} turns them
 *       into the fake-quant model's logits.</li>
 * </ul>
 * Arrays are owned by the layer and must not be modified.
 */
public record IntLayer(
        String name,
        Type type,
        int input,
        int residual,
        int[] weights,
        int[] weightShape,
        int weightBits,
        int stride,
        int pad,
        int groups,
        int[] multiplier,
        int[] shift,
        long[] bias,
        int[] residualMultiplier,
        Rounding rounding,
        long qmin,
        long qmax,
        int fracBits,
        int poolKernel,
        long accBound,
        String format) {

    public enum Type { REQUANT, SUM_POOL, LINEAR }

    public boolean hasConv() {
        return type == Type.REQUANT && weights != null;
    }

    public boolean hasResidual() {
        return residual >= 0;
    }

    /** Multiply-accumulates per image for an output of {@code outShape}. */
    public long macs(int[] outShape) {
        if (weights == null) {
            return 0;
        }
        if (type == Type.LINEAR) {
            return weights.length;
        }
        long perOut = (long) weightShape[1] * weightShape[2] * weightShape[3];
        return perOut * outShape[0] * outShape[1] * outShape[2];
    }

    /** Bits of a register holding every value of [lo, hi] (two's complement, or unsigned when lo >= 0). */
    public static int bitsFor(long lo, long hi) {
        if (lo >= 0) {
            return Math.max(1, 64 - Long.numberOfLeadingZeros(hi));
        }
        long m = Math.max(-(lo + 1), hi);
        return 65 - Long.numberOfLeadingZeros(m);
    }

    /** Widest signed register (bits) any entry of {@code v} needs. */
    public static int signedBits(int[] v) {
        long m = 0;
        if (v != null) {
            for (int x : v) {
                m = Math.max(m, x < 0 ? -(long) x - 1 : x);
            }
        }
        return 65 - Long.numberOfLeadingZeros(m);
    }

    public static int signedBits(long[] v) {
        long m = 0;
        if (v != null) {
            for (long x : v) {
                m = Math.max(m, x < 0 ? -(x + 1) : x);
            }
        }
        return 65 - Long.numberOfLeadingZeros(m);
    }
}
