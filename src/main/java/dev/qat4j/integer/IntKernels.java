package dev.qat4j.integer;

import dev.qat4j.quant.Requantizer;
import dev.qat4j.quant.Rounding;

/**
 * The integer model's kernels on plain arrays (NCHW, row-major), usable without any qat4j model class. Every
 * accumulation is exact in 64-bit integers; callers (the converter) guarantee {@code |acc * mult + res * resMult +
 * bias| < 2^62}, so no step can overflow. The int8 x int8 convolutions of the integer model run in the backends
 * ({@code Backend.conv2dInt}, VNNI on cpu) when their operands fit 8 bits; these kernels are their 64-bit twins for
 * wider operands and the reference the tests compare against.
 */
public final class IntKernels {
    private IntKernels() {
    }

    /**
     * {@code acc[n, co, oh, ow] = sum x[n, ci, oh*s - p + i, ow*s - p + j] * w[co, ci - g0, i, j]} (zero padding), with
     * {@code groups} groups; long accumulators.
     */
    public static long[] conv2d(int[] x, int n, int c, int h, int w, int[] wt, int co, int kh, int kw, int stride,
                                int pad, int groups) {
        int oh = (h + 2 * pad - kh) / stride + 1, ow = (w + 2 * pad - kw) / stride + 1;
        int cg = c / groups, og = co / groups;
        if (x.length != n * c * h * w || wt.length != co * cg * kh * kw || oh < 1 || ow < 1) {
            throw new IllegalArgumentException("IntKernels.conv2d: x has " + x.length + " values for [" + n + "," + c
                    + "," + h + "," + w + "], w " + wt.length + " for [" + co + "," + cg + "," + kh + "," + kw + "]");
        }
        long[] acc = new long[n * co * oh * ow];
        // one (image, output channel) plane per task: each sum is sequential, so the result does not depend on threads
        java.util.stream.IntStream.range(0, n * co).parallel().forEach(plane -> {
            int b = plane / co, o = plane % co;
            {
                int g = o / og;
                for (int y = 0; y < oh; y++) {
                    for (int xo = 0; xo < ow; xo++) {
                        long s = 0;
                        for (int ci = 0; ci < cg; ci++) {
                            int xc = ((b * c) + g * cg + ci) * h;
                            int wb = ((o * cg) + ci) * kh;
                            for (int i = 0; i < kh; i++) {
                                int iy = y * stride - pad + i;
                                if (iy < 0 || iy >= h) {
                                    continue;
                                }
                                int xr = (xc + iy) * w, wr = (wb + i) * kw;
                                for (int j = 0; j < kw; j++) {
                                    int ix = xo * stride - pad + j;
                                    if (ix >= 0 && ix < w) {
                                        s += (long) x[xr + ix] * wt[wr + j];
                                    }
                                }
                            }
                        }
                        acc[((b * co + o) * oh + y) * ow + xo] = s;
                    }
                }
            }
        });
        return acc;
    }

    /**
     * Per-channel requantization with an optional residual input (channels on axis 1, {@code spatial} values per
     * channel): {@code out = clamp(round((acc * mult[c] + res * resMult[c] + bias[c]) / 2^shift[c]), qmin, qmax)}.
     * {@code acc} is an {@code int[]} or {@code long[]}; {@code residual} and {@code resMult} may be null. Images run
     * in parallel (each output element depends on its own inputs only, so the result does not depend on threads).
     */
    public static int[] requantize(Object acc, int n, int channels, int spatial, int[] mult, int[] shift, long[] bias,
                                   int[] residual, int[] resMult, Rounding rounding, long qmin, long qmax) {
        int len = acc instanceof int[] a ? a.length : ((long[]) acc).length;
        if (len != (long) n * channels * spatial || mult.length != channels || shift.length != channels
                || bias.length != channels || (residual != null && (residual.length != len || resMult == null
                || resMult.length != channels))) {
            throw new IllegalArgumentException("IntKernels.requantize: sizes do not match [" + n + "," + channels + ","
                    + spatial + "]");
        }
        return Requantizer.requantizeResidual(acc, channels, spatial, mult, shift, bias, residual,
                resMult, rounding, qmin, qmax);
    }

    /** Sums over k x k windows with stride k (no padding); {@code k = 0} sums each whole channel (global pooling). */
    public static int[] sumPool(int[] x, int n, int c, int h, int w, int k) {
        if (x == null || n < 1 || c < 1 || h < 1 || w < 1 || k < 0 || (long) n * c * h * w != x.length
                || (k > 0 && (h % k != 0 || w % k != 0))) {
            throw new IllegalArgumentException("IntKernels.sumPool: " + (x == null ? "null" : x.length + " values")
                    + " for [" + n + "," + c + "," + h + "," + w + "] with window " + k + " (it must tile H and W)");
        }
        int kh = k == 0 ? h : k, kw = k == 0 ? w : k;
        int oh = h / kh, ow = w / kw;
        int[] out = new int[n * c * oh * ow];
        for (int p = 0; p < n * c; p++) {
            for (int y = 0; y < oh; y++) {
                for (int xo = 0; xo < ow; xo++) {
                    long s = 0;
                    for (int i = 0; i < kh; i++) {
                        int row = (p * h + y * kh + i) * w + xo * kw;
                        for (int j = 0; j < kw; j++) {
                            s += x[row + j];
                        }
                    }
                    out[(p * oh + y) * ow + xo] = Math.toIntExact(s);
                }
            }
        }
        return out;
    }

    /** {@code y[b, o] = (sum_i x[b, i] * w[o, i]) * 2^fracBits + bias[o]}, exact in longs. */
    public static long[] linear(int[] x, int n, int in, int[] w, int out, long[] bias, int fracBits) {
        if (x.length != n * in || w.length != out * in || bias.length != out) {
            throw new IllegalArgumentException("IntKernels.linear: sizes do not match [" + n + "," + in + "] x ["
                    + out + "," + in + "]");
        }
        long[] y = new long[n * out];
        for (int b = 0; b < n; b++) {
            for (int o = 0; o < out; o++) {
                long s = 0;
                for (int i = 0; i < in; i++) {
                    s += (long) x[b * in + i] * w[o * in + i];
                }
                y[b * out + o] = (s << fracBits) + bias[o];
            }
        }
        return y;
    }
}
