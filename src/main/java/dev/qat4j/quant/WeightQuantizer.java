package dev.qat4j.quant;

/**
 * The seed's symmetric DoReFa weight quantizer ({@code algorithms.md} A1), per tensor:
 * {@code t = tanh(w)}, {@code w_n = t / max|t|} (max over the whole tensor), then
 * <pre>
 *   bits      value w_q                         codes                 note
 *   32        w (identity)                      -                     not quantized
 *   3..16     rint(w_n * S) / S, S = 2^(b-1)-1  ±S (2^b - 1 levels)   narrow symmetric, exact zero
 *   2         sign(w_n)                         ±1                    the seed's binary case
 *   1         sign(w_n) * mean|w_n|             ±1, step mean|w_n|    the seed divided by zero here (NaN)
 * </pre>
 * {@code sign(0)} is +1 so 1- and 2-bit weights are always binary (torch.sign would give 0 for w = 0 exactly).
 * The backward is straight-through for the rounding (and sign), then exact through the normalisation:
 * {@code dL/dt_i = g_i / m - [i is an argmax] sign(t_i) * sum_j g_j t_j / m^2 / (#argmax)} and
 * {@code dL/dw_i = dL/dt_i * (1 - t_i^2)}; ties for the max share its gradient evenly, as torch's amax does.
 *
 * An all-zero tensor has no direction to normalise by: it quantizes to all zeros at every bit width.
 *
 * <p>Worked table (mirrored by {@code QuantizerTablesTest}), tensor w = atanh of [0.8, -0.32, 0.16, 0.08, 0]
 * (so t = tanh(w) = those values, m = 0.8, w_n = [1, -0.4, 0.2, 0.1, 0]):
 * <pre>
 *   bits  w_n*S                      codes             values
 *   3     [3, -1.2, 0.6, 0.3, 0]     [3, -1, 1, 0, 0]  codes / 3
 *   4     [7, -2.8, 1.4, 0.7, 0]     [7, -3, 1, 1, 0]  codes / 7
 *   2     -                          [1, -1, 1, 1, 1]  ±1
 *   1     -                          [1, -1, 1, 1, 1]  ±0.34 (mean|w_n| = 1.7/5)
 * </pre>
 * Ties round to even: the only exact ties are w_n = ±0.5 (S is odd), e.g. 1.5 -> 2, -1.5 -> -2, 63.5 -> 64.
 */
public final class WeightQuantizer {
    private WeightQuantizer() {
    }

    public static void checkBits(String op, int bits) {
        if (!(bits >= 1 && bits <= 16) && bits != 32) {
            throw new IllegalArgumentException(op + ": weight bit width " + bits + " is outside 1..16 and not 32");
        }
    }

    /** S = 2^(b-1) - 1, the largest code for b >= 3; 1 for the binary widths. */
    public static int maxCode(int bits) {
        return bits <= 2 ? 1 : (1 << (bits - 1)) - 1;
    }

    /** The code of a normalised weight w_n in [-1, 1]. */
    public static float code(float wn, int bits) {
        if (bits <= 2) {
            return wn >= 0f ? 1f : -1f;
        }
        return (float) Math.rint(wn * (float) maxCode(bits));
    }

    /** The value of a code; {@code binaryScale} is mean|w_n| for 1 bit and ignored otherwise. */
    public static float value(float code, int bits, float binaryScale) {
        if (bits == 1) {
            return code * binaryScale;
        }
        if (bits == 2) {
            return code;
        }
        return code / (float) maxCode(bits);
    }
}
