package dev.qat4j.backend.ref;

import dev.qat4j.backend.ConvParams;
import dev.qat4j.backend.SgdParams;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.quant.Requantizer;
import dev.qat4j.quant.Rounding;
import dev.qat4j.quant.WeightQuantizer;

/**
 * The reference kernels: plain loops over Java arrays, written to be read, not to be fast. They are the oracle
 * every other backend is tested against, and they are callable on plain arrays by anyone (no tensors needed).
 * Float reductions accumulate in double so the oracle is more accurate than the kernels it judges.
 *
 * <p>These methods do not validate: {@link dev.qat4j.backend.Backend} does, before calling them.
 */
public final class RefKernels {
    private RefKernels() {
    }

    // ---------------------------------------------------------------- convolution

    /** y = conv(x, w) + bias; x [N,C,H,W], w [Co, C/g, kh, kw], bias [Co] or null. */
    public static float[] conv2d(float[] x, int[] xs, float[] w, int[] ws, float[] bias, ConvParams p) {
        int n = xs[0], c = xs[1], h = xs[2], wd = xs[3];
        int co = ws[0], cig = ws[1], kh = ws[2], kw = ws[3];
        int oh = p.outH(h, kh), ow = p.outW(wd, kw);
        int cog = co / p.groups();
        float[] y = new float[n * co * oh * ow];
        for (int b = 0; b < n; b++) {
            for (int oc = 0; oc < co; oc++) {
                int g = oc / cog;
                for (int oy = 0; oy < oh; oy++) {
                    for (int ox = 0; ox < ow; ox++) {
                        double acc = bias == null ? 0.0 : bias[oc];
                        for (int ic = 0; ic < cig; ic++) {
                            int xc = g * cig + ic;
                            for (int ky = 0; ky < kh; ky++) {
                                int iy = oy * p.strideH() - p.padH() + ky;
                                if (iy < 0 || iy >= h) {
                                    continue;
                                }
                                for (int kx = 0; kx < kw; kx++) {
                                    int ix = ox * p.strideW() - p.padW() + kx;
                                    if (ix < 0 || ix >= wd) {
                                        continue;
                                    }
                                    acc += (double) x[((b * c + xc) * h + iy) * wd + ix]
                                            * w[((oc * cig + ic) * kh + ky) * kw + kx];
                                }
                            }
                        }
                        y[((b * co + oc) * oh + oy) * ow + ox] = (float) acc;
                    }
                }
            }
        }
        return y;
    }

    /** dx of conv2d: scatters dy back through the same index map. */
    public static float[] conv2dBackwardData(float[] dy, float[] w, int[] ws, int[] xs, ConvParams p) {
        int n = xs[0], c = xs[1], h = xs[2], wd = xs[3];
        int co = ws[0], cig = ws[1], kh = ws[2], kw = ws[3];
        int oh = p.outH(h, kh), ow = p.outW(wd, kw);
        int cog = co / p.groups();
        double[] dx = new double[n * c * h * wd];
        for (int b = 0; b < n; b++) {
            for (int oc = 0; oc < co; oc++) {
                int g = oc / cog;
                for (int oy = 0; oy < oh; oy++) {
                    for (int ox = 0; ox < ow; ox++) {
                        double gy = dy[((b * co + oc) * oh + oy) * ow + ox];
                        for (int ic = 0; ic < cig; ic++) {
                            int xc = g * cig + ic;
                            for (int ky = 0; ky < kh; ky++) {
                                int iy = oy * p.strideH() - p.padH() + ky;
                                if (iy < 0 || iy >= h) {
                                    continue;
                                }
                                for (int kx = 0; kx < kw; kx++) {
                                    int ix = ox * p.strideW() - p.padW() + kx;
                                    if (ix < 0 || ix >= wd) {
                                        continue;
                                    }
                                    dx[((b * c + xc) * h + iy) * wd + ix] += gy * w[((oc * cig + ic) * kh + ky) * kw + kx];
                                }
                            }
                        }
                    }
                }
            }
        }
        return toFloat(dx);
    }

    /** dw of conv2d. */
    public static float[] conv2dBackwardWeight(float[] dy, float[] x, int[] xs, int[] ws, ConvParams p) {
        int n = xs[0], c = xs[1], h = xs[2], wd = xs[3];
        int co = ws[0], cig = ws[1], kh = ws[2], kw = ws[3];
        int oh = p.outH(h, kh), ow = p.outW(wd, kw);
        int cog = co / p.groups();
        double[] dw = new double[co * cig * kh * kw];
        for (int b = 0; b < n; b++) {
            for (int oc = 0; oc < co; oc++) {
                int g = oc / cog;
                for (int oy = 0; oy < oh; oy++) {
                    for (int ox = 0; ox < ow; ox++) {
                        double gy = dy[((b * co + oc) * oh + oy) * ow + ox];
                        for (int ic = 0; ic < cig; ic++) {
                            int xc = g * cig + ic;
                            for (int ky = 0; ky < kh; ky++) {
                                int iy = oy * p.strideH() - p.padH() + ky;
                                if (iy < 0 || iy >= h) {
                                    continue;
                                }
                                for (int kx = 0; kx < kw; kx++) {
                                    int ix = ox * p.strideW() - p.padW() + kx;
                                    if (ix < 0 || ix >= wd) {
                                        continue;
                                    }
                                    dw[((oc * cig + ic) * kh + ky) * kw + kx] += gy * x[((b * c + xc) * h + iy) * wd + ix];
                                }
                            }
                        }
                    }
                }
            }
        }
        return toFloat(dw);
    }

    /** Sum over every axis except axis 1. */
    public static float[] biasBackward(float[] dy, int[] s) {
        int n = s[0], c = s[1];
        int inner = 1;
        for (int i = 2; i < s.length; i++) {
            inner *= s[i];
        }
        float[] db = new float[c];
        for (int ch = 0; ch < c; ch++) {
            double sum = 0;
            for (int b = 0; b < n; b++) {
                int base = (b * c + ch) * inner;
                for (int i = 0; i < inner; i++) {
                    sum += dy[base + i];
                }
            }
            db[ch] = (float) sum;
        }
        return db;
    }

    // ---------------------------------------------------------------- linear

    public static float[] linear(float[] x, int n, int in, float[] w, int out, float[] bias) {
        float[] y = new float[n * out];
        for (int b = 0; b < n; b++) {
            for (int o = 0; o < out; o++) {
                double acc = bias == null ? 0.0 : bias[o];
                for (int i = 0; i < in; i++) {
                    acc += (double) x[b * in + i] * w[o * in + i];
                }
                y[b * out + o] = (float) acc;
            }
        }
        return y;
    }

    public static float[] linearBackwardData(float[] dy, int n, int out, float[] w, int in) {
        float[] dx = new float[n * in];
        for (int b = 0; b < n; b++) {
            for (int i = 0; i < in; i++) {
                double acc = 0;
                for (int o = 0; o < out; o++) {
                    acc += (double) dy[b * out + o] * w[o * in + i];
                }
                dx[b * in + i] = (float) acc;
            }
        }
        return dx;
    }

    public static float[] linearBackwardWeight(float[] dy, int n, int out, float[] x, int in) {
        float[] dw = new float[out * in];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                double acc = 0;
                for (int b = 0; b < n; b++) {
                    acc += (double) dy[b * out + o] * x[b * in + i];
                }
                dw[o * in + i] = (float) acc;
            }
        }
        return dw;
    }

    // ---------------------------------------------------------------- batch norm

    /**
     * Training batch norm. Writes y, the batch mean and 1/sqrt(var+eps) (biased var), and updates the running
     * statistics in place with the unbiased variance.
     */
    public static void batchNorm2dTrain(float[] x, int[] s, float[] gamma, float[] beta, float[] runningMean,
                                        float[] runningVar, float momentum, float eps,
                                        float[] y, float[] meanOut, float[] invStdOut) {
        int n = s[0], c = s[1], hw = s[2] * s[3];
        long count = (long) n * hw;
        for (int ch = 0; ch < c; ch++) {
            double sum = 0;
            for (int b = 0; b < n; b++) {
                int base = (b * c + ch) * hw;
                for (int i = 0; i < hw; i++) {
                    sum += x[base + i];
                }
            }
            double mean = sum / count;
            double sq = 0;
            for (int b = 0; b < n; b++) {
                int base = (b * c + ch) * hw;
                for (int i = 0; i < hw; i++) {
                    double d = x[base + i] - mean;
                    sq += d * d;
                }
            }
            double var = sq / count;
            double invStd = 1.0 / Math.sqrt(var + eps);
            for (int b = 0; b < n; b++) {
                int base = (b * c + ch) * hw;
                for (int i = 0; i < hw; i++) {
                    y[base + i] = (float) ((x[base + i] - mean) * invStd * gamma[ch] + beta[ch]);
                }
            }
            meanOut[ch] = (float) mean;
            invStdOut[ch] = (float) invStd;
            double unbiased = sq / (count - 1);
            runningMean[ch] = (float) ((1.0 - momentum) * runningMean[ch] + momentum * mean);
            runningVar[ch] = (float) ((1.0 - momentum) * runningVar[ch] + momentum * unbiased);
        }
    }

    public static float[] batchNorm2dEval(float[] x, int[] s, float[] gamma, float[] beta, float[] runningMean,
                                          float[] runningVar, float eps) {
        int n = s[0], c = s[1], hw = s[2] * s[3];
        float[] y = new float[x.length];
        for (int ch = 0; ch < c; ch++) {
            double invStd = 1.0 / Math.sqrt((double) runningVar[ch] + eps);
            for (int b = 0; b < n; b++) {
                int base = (b * c + ch) * hw;
                for (int i = 0; i < hw; i++) {
                    y[base + i] = (float) ((x[base + i] - runningMean[ch]) * invStd * gamma[ch] + beta[ch]);
                }
            }
        }
        return y;
    }

    /**
     * Batch-norm backward with batch statistics: with xh = (x-mean)*invStd,
     * dx = gamma*invStd/M * (M*dy - sum(dy) - xh*sum(dy*xh)), dgamma = sum(dy*xh), dbeta = sum(dy).
     */
    public static void batchNorm2dBackward(float[] dy, float[] x, int[] s, float[] gamma, float[] mean,
                                           float[] invStd, float[] dx, float[] dgamma, float[] dbeta) {
        int n = s[0], c = s[1], hw = s[2] * s[3];
        double m = (double) n * hw;
        for (int ch = 0; ch < c; ch++) {
            double sumDy = 0, sumDyXh = 0;
            for (int b = 0; b < n; b++) {
                int base = (b * c + ch) * hw;
                for (int i = 0; i < hw; i++) {
                    double xh = (x[base + i] - mean[ch]) * (double) invStd[ch];
                    sumDy += dy[base + i];
                    sumDyXh += dy[base + i] * xh;
                }
            }
            double k = gamma[ch] * (double) invStd[ch] / m;
            for (int b = 0; b < n; b++) {
                int base = (b * c + ch) * hw;
                for (int i = 0; i < hw; i++) {
                    double xh = (x[base + i] - mean[ch]) * (double) invStd[ch];
                    dx[base + i] = (float) (k * (m * dy[base + i] - sumDy - xh * sumDyXh));
                }
            }
            dgamma[ch] = (float) sumDyXh;
            dbeta[ch] = (float) sumDy;
        }
    }

    // ---------------------------------------------------------------- elementwise and pooling

    public static float[] clamp(float[] x, float lo, float hi) {
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = Math.min(Math.max(x[i], lo), hi);
        }
        return y;
    }

    /** dy where lo &lt; x &lt; hi (open interval, torch's relu/hardtanh convention). */
    public static float[] clampBackward(float[] dy, float[] x, float lo, float hi) {
        float[] dx = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            dx[i] = (x[i] > lo && x[i] < hi) ? dy[i] : 0f;
        }
        return dx;
    }

    public static float[] add(float[] a, float[] b) {
        float[] y = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            y[i] = a[i] + b[i];
        }
        return y;
    }

    public static float[] avgPool2d(float[] x, int[] s, int k, int stride, int pad) {
        int n = s[0], c = s[1], h = s[2], w = s[3];
        int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
        float[] y = new float[n * c * oh * ow];
        for (int nc = 0; nc < n * c; nc++) {
            for (int oy = 0; oy < oh; oy++) {
                for (int ox = 0; ox < ow; ox++) {
                    double sum = 0;
                    for (int ky = 0; ky < k; ky++) {
                        int iy = oy * stride - pad + ky;
                        if (iy < 0 || iy >= h) {
                            continue; // a padding row: nothing to add (and k may be huge)
                        }
                        for (int kx = 0; kx < k; kx++) {
                            int ix = ox * stride - pad + kx;
                            if (ix >= 0 && ix < w) {
                                sum += x[(nc * h + iy) * w + ix];
                            }
                        }
                    }
                    y[(nc * oh + oy) * ow + ox] = (float) (sum / ((double) k * k));
                }
            }
        }
        return y;
    }

    public static float[] avgPool2dBackward(float[] dy, int[] s, int k, int stride, int pad) {
        int n = s[0], c = s[1], h = s[2], w = s[3];
        int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
        double[] dx = new double[n * c * h * w];
        for (int nc = 0; nc < n * c; nc++) {
            for (int oy = 0; oy < oh; oy++) {
                for (int ox = 0; ox < ow; ox++) {
                    double g = dy[(nc * oh + oy) * ow + ox] / ((double) k * k);
                    for (int ky = 0; ky < k; ky++) {
                        int iy = oy * stride - pad + ky;
                        if (iy < 0 || iy >= h) {
                            continue; // a padding row: nothing to add (and k may be huge)
                        }
                        for (int kx = 0; kx < k; kx++) {
                            int ix = ox * stride - pad + kx;
                            if (ix >= 0 && ix < w) {
                                dx[(nc * h + iy) * w + ix] += g;
                            }
                        }
                    }
                }
            }
        }
        return toFloat(dx);
    }

    /** Start of adaptive pooling cell i of {@code out} over {@code in}: floor(i*in/out). */
    public static int adaptiveStart(int i, int in, int out) {
        return (int) ((long) i * in / out);
    }

    /** End (exclusive) of adaptive pooling cell i: ceil((i+1)*in/out). */
    public static int adaptiveEnd(int i, int in, int out) {
        return (int) (((long) (i + 1) * in + out - 1) / out);
    }

    public static float[] adaptiveAvgPool2d(float[] x, int[] s, int oh, int ow) {
        int n = s[0], c = s[1], h = s[2], w = s[3];
        float[] y = new float[n * c * oh * ow];
        for (int nc = 0; nc < n * c; nc++) {
            for (int oy = 0; oy < oh; oy++) {
                int y0 = adaptiveStart(oy, h, oh), y1 = adaptiveEnd(oy, h, oh);
                for (int ox = 0; ox < ow; ox++) {
                    int x0 = adaptiveStart(ox, w, ow), x1 = adaptiveEnd(ox, w, ow);
                    double sum = 0;
                    for (int iy = y0; iy < y1; iy++) {
                        for (int ix = x0; ix < x1; ix++) {
                            sum += x[(nc * h + iy) * w + ix];
                        }
                    }
                    y[(nc * oh + oy) * ow + ox] = (float) (sum / ((y1 - y0) * (x1 - x0)));
                }
            }
        }
        return y;
    }

    public static float[] adaptiveAvgPool2dBackward(float[] dy, int[] s, int oh, int ow) {
        int n = s[0], c = s[1], h = s[2], w = s[3];
        double[] dx = new double[n * c * h * w];
        for (int nc = 0; nc < n * c; nc++) {
            for (int oy = 0; oy < oh; oy++) {
                int y0 = adaptiveStart(oy, h, oh), y1 = adaptiveEnd(oy, h, oh);
                for (int ox = 0; ox < ow; ox++) {
                    int x0 = adaptiveStart(ox, w, ow), x1 = adaptiveEnd(ox, w, ow);
                    double g = dy[(nc * oh + oy) * ow + ox] / ((y1 - y0) * (x1 - x0));
                    for (int iy = y0; iy < y1; iy++) {
                        for (int ix = x0; ix < x1; ix++) {
                            dx[(nc * h + iy) * w + ix] += g;
                        }
                    }
                }
            }
        }
        return toFloat(dx);
    }

    // ---------------------------------------------------------------- loss and optimizer

    /** Writes dlogits (gradient of the mean loss) and returns the mean loss. */
    public static float softmaxCrossEntropy(float[] logits, int n, int k, int[] labels, float smoothing,
                                            float[] dlogits) {
        double total = 0;
        for (int b = 0; b < n; b++) {
            int base = b * k;
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < k; j++) {
                max = Math.max(max, logits[base + j]);
            }
            double sumExp = 0;
            for (int j = 0; j < k; j++) {
                sumExp += Math.exp(logits[base + j] - max);
            }
            double logSum = Math.log(sumExp) + max;
            for (int j = 0; j < k; j++) {
                double target = (j == labels[b] ? 1.0 - smoothing : 0.0) + (double) smoothing / k;
                double logP = logits[base + j] - logSum;
                total -= target * logP;
                dlogits[base + j] = (float) ((Math.exp(logP) - target) / n);
            }
        }
        return (float) (total / n);
    }

    public static void sgdStep(float[] param, float[] grad, float[] buf, SgdParams p) {
        for (int i = 0; i < param.length; i++) {
            float g = grad[i] + p.weightDecay() * param[i];
            buf[i] = p.momentum() * buf[i] + g;
            float step = p.nesterov() ? g + p.momentum() * buf[i] : buf[i];
            param[i] -= p.lr() * step;
        }
    }

    // ---------------------------------------------------------------- quantizers

    public static float[] actQuant(float[] x, ActQuantizer q, float alpha) {
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = q.fakeQuant(x[i], alpha);
        }
        return y;
    }

    /**
     * Writes dx and returns dα (0 for kinds without α). An identity quantizer (32 bits) passes dy through and its α
     * gets no gradient at all: 0 even where dy is NaN or infinite (not 0 x dy), as the native backends give it.
     */
    public static float actQuantBackward(float[] dy, float[] x, ActQuantizer q, float alpha, float[] dx) {
        if (q.isIdentity()) {
            System.arraycopy(dy, 0, dx, 0, x.length);
            return 0f;
        }
        double dAlpha = 0;
        for (int i = 0; i < x.length; i++) {
            dx[i] = dy[i] * q.gradX(x[i], alpha);
            dAlpha += (double) dy[i] * q.gradAlpha(x[i], alpha);
        }
        return (float) dAlpha;
    }

    /** max|tanh(w)| over the whole tensor. */
    public static float maxAbsTanh(float[] w) {
        float m = 0f;
        for (float v : w) {
            m = Math.max(m, Math.abs((float) Math.tanh(v)));
        }
        return m;
    }

    /** w_n = tanh(w) / max|tanh(w)|; all zeros when w is all zeros. */
    public static float[] normalizedWeights(float[] w) {
        float m = maxAbsTanh(w);
        float[] wn = new float[w.length];
        for (int i = 0; i < w.length; i++) {
            wn[i] = m == 0f ? 0f : (float) Math.tanh(w[i]) / m;
        }
        return wn;
    }

    /** mean|w_n|: the step of 1-bit weights. */
    public static float meanAbs(float[] v) {
        double s = 0;
        for (float f : v) {
            s += Math.abs(f);
        }
        return v.length == 0 ? 0f : (float) (s / v.length);
    }

    /** Integer codes of the DoReFa weight quantizer (bits &lt;= 16). */
    public static int[] weightCodes(float[] w, int bits) {
        int[] codes = new int[w.length];
        if (maxAbsTanh(w) == 0f) {
            return codes;
        }
        float[] wn = normalizedWeights(w);
        for (int i = 0; i < w.length; i++) {
            codes[i] = (int) WeightQuantizer.code(wn[i], bits);
        }
        return codes;
    }

    /** value(code) = code * weightStep for the DoReFa weight quantizer. */
    public static float weightStep(float[] w, int bits) {
        return switch (bits) {
            case 1 -> meanAbs(normalizedWeights(w));
            case 2 -> 1f;
            default -> 1f / WeightQuantizer.maxCode(bits);
        };
    }

    public static float[] weightQuant(float[] w, int bits) {
        if (bits == 32) {
            return w.clone();
        }
        float[] wq = new float[w.length];
        if (maxAbsTanh(w) == 0f) {
            return wq; // all-zero weights stay zero at every width
        }
        float[] wn = normalizedWeights(w);
        float scale = bits == 1 ? meanAbs(wn) : 0f;
        for (int i = 0; i < w.length; i++) {
            wq[i] = WeightQuantizer.value(WeightQuantizer.code(wn[i], bits), bits, scale);
        }
        return wq;
    }

    /** Straight-through for the rounding, exact through tanh and the per-tensor max (see WeightQuantizer). */
    public static float[] weightQuantBackward(float[] g, float[] w, int bits) {
        if (bits == 32) {
            return g.clone();
        }
        int len = w.length;
        double[] t = new double[len];
        double m = 0;
        for (int i = 0; i < len; i++) {
            t[i] = Math.tanh(w[i]);
            m = Math.max(m, Math.abs(t[i]));
        }
        float[] dw = new float[len];
        if (m == 0) {
            return dw; // w_n is defined as 0: no gradient flows
        }
        double sumGT = 0;
        int ties = 0;
        for (int i = 0; i < len; i++) {
            sumGT += g[i] * t[i];
            if (Math.abs(t[i]) == m) {
                ties++;
            }
        }
        for (int i = 0; i < len; i++) {
            double dt = g[i] / m;
            if (Math.abs(t[i]) == m) {
                dt -= Math.signum(t[i]) * sumGT / (m * m) / ties;
            }
            dw[i] = (float) (dt * (1 - t[i] * t[i]));
        }
        return dw;
    }

    // ---------------------------------------------------------------- integer inference

    /** Integer convolution of codes (zero padding), exact int32 accumulation. */
    public static int[] conv2dInt(int[] x, int[] xs, int[] w, int[] ws, ConvParams p) {
        int n = xs[0], c = xs[1], h = xs[2], wd = xs[3];
        int co = ws[0], cig = ws[1], kh = ws[2], kw = ws[3];
        int oh = p.outH(h, kh), ow = p.outW(wd, kw);
        int cog = co / p.groups();
        int[] y = new int[n * co * oh * ow];
        for (int b = 0; b < n; b++) {
            for (int oc = 0; oc < co; oc++) {
                int g = oc / cog;
                for (int oy = 0; oy < oh; oy++) {
                    for (int ox = 0; ox < ow; ox++) {
                        int acc = 0;
                        for (int ic = 0; ic < cig; ic++) {
                            int xc = g * cig + ic;
                            for (int ky = 0; ky < kh; ky++) {
                                int iy = oy * p.strideH() - p.padH() + ky;
                                if (iy < 0 || iy >= h) {
                                    continue;
                                }
                                for (int kx = 0; kx < kw; kx++) {
                                    int ix = ox * p.strideW() - p.padW() + kx;
                                    if (ix < 0 || ix >= wd) {
                                        continue;
                                    }
                                    acc += x[((b * c + xc) * h + iy) * wd + ix] * w[((oc * cig + ic) * kh + ky) * kw + kx];
                                }
                            }
                        }
                        y[((b * co + oc) * oh + oy) * ow + ox] = acc;
                    }
                }
            }
        }
        return y;
    }

    /** c[M,N] = a[M,K] b[K,N] on integer codes. */
    public static int[] gemmInt(int[] a, int[] b, int m, int k, int n) {
        int[] c = new int[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                int acc = 0;
                for (int l = 0; l < k; l++) {
                    acc += a[i * k + l] * b[l * n + j];
                }
                c[i * n + j] = acc;
            }
        }
        return c;
    }

    /** Per-channel requantization; channel of element i is (i / inner) % channels; one-element params broadcast. */
    public static int[] requantize(int[] acc, int channels, int inner, int[] mult, int[] shift, int[] bias,
                                   Rounding rounding, int qmin, int qmax) {
        int[] y = new int[acc.length];
        for (int i = 0; i < acc.length; i++) {
            int ch = mult.length == 1 ? 0 : (i / inner) % channels;
            y[i] = Requantizer.requantize(acc[i], mult[ch], shift[ch], bias == null ? 0 : bias[ch], rounding, qmin, qmax);
        }
        return y;
    }

    private static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }

    /**
     * {@code Backend.augmentBatch} on plain arrays: images UINT8 [N,c,h,w] as bytes, table [c,256]; writes
     * {@code index.length} normalised images [c,h,w] to {@code out} and their labels to {@code outLabels}.
     */
    public static void augmentBatch(byte[] images, int[] labels, int c, int h, int w, int[] index, int[] top,
                                    int[] left, boolean[] flip, int padding, float[] table, float[] out,
                                    int[] outLabels) {
        int image = c * h * w;
        for (int i = 0; i < index.length; i++) {
            int src = index[i] * image;
            int dst = i * image;
            outLabels[i] = labels[index[i]];
            for (int ch = 0; ch < c; ch++) {
                for (int y = 0; y < h; y++) {
                    int sy = y + top[i] - padding;
                    for (int x = 0; x < w; x++) {
                        int sx = (flip[i] ? w - 1 - x : x) + left[i] - padding;
                        boolean inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
                        int v = inside ? images[src + (ch * h + sy) * w + sx] & 0xFF : 0;
                        out[dst + (ch * h + y) * w + x] = table[ch * 256 + v];
                    }
                }
            }
        }
    }

    /**
     * {@code Backend.accumulateConfusion} on plain arrays: counts[labels[i] * k + argmax(row i)] += 1, the first
     * largest logit winning and a NaN never.
     */
    public static void accumulateConfusion(float[] logits, int n, int k, int[] labels, float[] counts) {
        for (int i = 0; i < n; i++) {
            int best = 0;
            for (int j = 1; j < k; j++) {
                float v = logits[i * k + j], b = logits[i * k + best];
                if (v > b || Float.isNaN(b) && !Float.isNaN(v)) {
                    best = j;
                }
            }
            counts[labels[i] * k + best] += 1f;
        }
    }
}
