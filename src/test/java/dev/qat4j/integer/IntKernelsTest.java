package dev.qat4j.integer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.qat4j.quant.Requantizer;
import dev.qat4j.quant.Rounding;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The plain-array kernels against their definitions (the scalar Requantizer / Rounding.divPow2, naive loops). */
class IntKernelsTest {
    @Test
    void requantizeMatchesTheScalarDefinitionInEveryRoundingIncludingTies() {
        SplittableRandom r = new SplittableRandom(41);
        for (Rounding mode : Rounding.values()) {
            for (int trial = 0; trial < 40; trial++) {
                int n = 2, ch = 3, sp = 50;
                int[] acc = new int[n * ch * sp], res = new int[acc.length];
                int[] mult = new int[ch], shift = new int[ch], resMult = new int[ch];
                long[] bias = new long[ch];
                for (int c = 0; c < ch; c++) {
                    shift[c] = r.nextInt(0, 40);
                    mult[c] = r.nextInt();
                    resMult[c] = r.nextInt(-1 << 20, 1 << 20);
                    bias[c] = r.nextLong(-(1L << 50), 1L << 50);
                }
                for (int i = 0; i < acc.length; i++) {
                    // small values make exact ties (v = k * 2^s + 2^(s-1)) common
                    acc[i] = trial % 2 == 0 ? r.nextInt(-1 << 20, 1 << 20) : r.nextInt(-4, 5);
                    res[i] = r.nextInt(-128, 128);
                }
                if (trial % 2 == 1) {
                    for (int c = 0; c < ch; c++) {
                        mult[c] = 1 << Math.max(0, shift[c] - 1); // acc * 2^(s-1): every odd acc is a tie
                        resMult[c] = 0;
                        bias[c] = 0;
                    }
                }
                int[] got = IntKernels.requantize(acc, n, ch, sp, mult, shift, bias, res, resMult, mode, -200, 200);
                int[] want = new int[acc.length];
                for (int i = 0; i < acc.length; i++) {
                    int c = (i / sp) % ch;
                    long v = (long) acc[i] * mult[c] + bias[c] + (long) res[i] * resMult[c];
                    long y = mode.divPow2(v, shift[c]);
                    want[i] = (int) Math.max(-200, Math.min(200, y));
                }
                assertArrayEquals(want, got, mode + " trial " + trial);
                long[] wide = new long[acc.length];
                for (int i = 0; i < acc.length; i++) {
                    wide[i] = acc[i];
                }
                assertArrayEquals(want, IntKernels.requantize(wide, n, ch, sp, mult, shift, bias, res, resMult, mode,
                        -200, 200), "long accumulators");
            }
        }
        // and the single-input case against the Requantizer every backend implements
        int[] acc = {-7, -6, -5, 5, 6, 7, 1000, -1000};
        int[] out = IntKernels.requantize(acc, 1, 1, acc.length, new int[] {3}, new int[] {2}, new long[] {1}, null,
                null, Rounding.HALF_EVEN, -128, 127);
        for (int i = 0; i < acc.length; i++) {
            assertArrayEquals(new int[] {Requantizer.requantize(acc[i], 3, 2, 1, Rounding.HALF_EVEN, -128, 127)},
                    new int[] {out[i]});
        }
    }

    @Test
    void conv2dMatchesANaiveSumWithPaddingStrideAndGroups() {
        SplittableRandom r = new SplittableRandom(5);
        int n = 2, c = 4, h = 5, w = 6, co = 6, k = 3, stride = 2, pad = 1, groups = 2;
        int[] x = new int[n * c * h * w], wt = new int[co * (c / groups) * k * k];
        for (int i = 0; i < x.length; i++) {
            x[i] = r.nextInt(-(1 << 24), 1 << 24);
        }
        for (int i = 0; i < wt.length; i++) {
            wt[i] = r.nextInt(-127, 128);
        }
        long[] got = IntKernels.conv2d(x, n, c, h, w, wt, co, k, k, stride, pad, groups);
        int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
        long[] want = new long[n * co * oh * ow];
        for (int b = 0; b < n; b++) {
            for (int o = 0; o < co; o++) {
                int g = o / (co / groups);
                for (int y = 0; y < oh; y++) {
                    for (int xo = 0; xo < ow; xo++) {
                        java.math.BigInteger s = java.math.BigInteger.ZERO;
                        for (int ci = 0; ci < c / groups; ci++) {
                            for (int i = 0; i < k; i++) {
                                for (int j = 0; j < k; j++) {
                                    int iy = y * stride - pad + i, ix = xo * stride - pad + j;
                                    if (iy >= 0 && iy < h && ix >= 0 && ix < w) {
                                        long xv = x[((b * c + g * (c / groups) + ci) * h + iy) * w + ix];
                                        long wv = wt[((o * (c / groups) + ci) * k + i) * k + j];
                                        s = s.add(java.math.BigInteger.valueOf(xv * wv));
                                    }
                                }
                            }
                        }
                        want[((b * co + o) * oh + y) * ow + xo] = s.longValueExact();
                    }
                }
            }
        }
        assertArrayEquals(want, got);
    }
}
