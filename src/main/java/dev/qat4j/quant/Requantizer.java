package dev.qat4j.quant;

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
}
