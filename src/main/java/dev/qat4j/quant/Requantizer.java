package dev.qat4j.quant;

import java.util.stream.IntStream;

/**
 * Fixed-point requantization of one int32 accumulator, the integer path's replacement for a float rescale:
 * {@code y = clamp(round((acc * multiplier + bias) / 2^shift), qmin, qmax)} computed in 64-bit integers, so
 * nothing is lost before the single rounding. This is the scalar definition every backend must reproduce.
 */
public final class Requantizer {
    private Requantizer() {
    }

    public static int requantize(int acc, int multiplier, int shift, int bias, Rounding rounding, int qmin, int qmax) {
        long scaled = (long) acc * multiplier + bias; // |acc*mult| < 2^62: exact
        long y = rounding.divPow2(scaled, shift);
        return (int) Math.max(qmin, Math.min(qmax, y));
    }

    /**
     * Per-channel requantization with an optional residual: {@code out = clamp(round((acc * mult[c] + res * resMult[c]
     * + bias[c]) / 2^shift[c]), qmin, qmax)}, channel {@code c = (i / inner) % channels}; {@code acc} is an int[] or a
     * long[], {@code residual}/{@code resMult} may be null. The caller guarantees |sum| &lt; 2^62. Planes run in parallel
     * (each output depends only on its own inputs).
     */
    public static int[] requantizeResidual(Object acc, int channels, int inner, int[] mult, int[] shift, long[] bias,
                                           int[] residual, int[] resMult, Rounding rounding, long qmin, long qmax) {
        int[] ai = acc instanceof int[] a ? a : null;
        long[] al = ai == null ? (long[]) acc : null;
        int len = ai != null ? ai.length : al.length;
        int[] out = new int[len];
        IntStream.range(0, len / Math.max(inner, 1)).parallel().forEach(plane -> {
            int ch = plane % channels;
            long m = mult[ch], bi = bias[ch], rm = residual == null ? 0 : resMult[ch];
            int s = shift[ch];
            boolean halfEven = rounding == Rounding.HALF_EVEN && s > 0;
            long half = s > 0 ? (1L << (s - 1)) - 1 : 0;
            for (int i = plane * inner, end = i + inner; i < end; i++) {
                long v = (ai != null ? ai[i] : al[i]) * m + bi;
                if (residual != null) {
                    v += residual[i] * rm;
                }
                // half to even inline: (v + 2^(s-1) - 1 + lsb(v >> s)) >> s equals Rounding.divPow2 for |v| < 2^62
                long y = halfEven ? (v + half + ((v >> s) & 1)) >> s : rounding.divPow2(v, s);
                out[i] = (int) (y < qmin ? qmin : (y > qmax ? qmax : y));
            }
        });
        return out;
    }
}
