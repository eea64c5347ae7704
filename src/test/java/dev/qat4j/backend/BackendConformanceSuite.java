package dev.qat4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.qat4j.backend.Results.ActQuantGrads;
import dev.qat4j.backend.Results.BatchNormForward;
import dev.qat4j.backend.Results.BatchNormGrads;
import dev.qat4j.backend.Results.Loss;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.quant.Rounding;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Tensor;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.LongStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every op of a fast backend against {@code ref}, seeded and randomized (the seed is in every message), over shapes
 * that break tiles and values that saturate. Integer results must be identical on every variant (ISA level, device).
 * Float results get the tolerance named next to each check, with the reason. Subclasses name the backend under test:
 * {@link CpuConformanceTest}, {@code CudaConformanceTest}.
 */
abstract class BackendConformanceSuite {
    private static final RefBackend REF = RefBackend.INSTANCE;
    private static final float U = 0x1p-24f; // float unit roundoff

    /** The backend under test for this seed (a subclass may alternate its variants by seed to cover them all). */
    protected abstract Backend underTest(long seed);

    /** Every variant of the backend whose integer results must equal {@code ref}'s. */
    protected abstract List<Backend> integerVariants();

    /** How messages name a variant. */
    protected String label(Backend b) {
        return b.description();
    }

    /** 12 seeds in the normal suite; {@code -Dqat4j.conformance.seeds=500} for a longer hunt. */
    static LongStream seeds() {
        return LongStream.rangeClosed(1, Long.getLong("qat4j.conformance.seeds", 12));
    }

    private static float[] gaussian(SplittableRandom r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextGaussian() * scale);
        }
        return a;
    }

    private static float[] abs(float[] a) {
        float[] b = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            b[i] = Math.abs(a[i]);
        }
        return b;
    }

    private static int pick(SplittableRandom r, int... options) {
        return options[r.nextInt(options.length)];
    }

    /** Exact equality of float bits (identical ops in identical order). */
    private static void assertBits(Tensor expected, Tensor actual, String what) {
        float[] e = expected.toFloatArray(), a = actual.toFloatArray();
        assertEquals(e.length, a.length, what);
        for (int i = 0; i < e.length; i++) {
            if (Float.floatToIntBits(e[i]) != Float.floatToIntBits(a[i])) {
                throw new AssertionError(what + ": index " + i + " ref " + e[i] + " got " + a[i]);
            }
        }
    }

    /** |cpu - ref| <= bound[i] elementwise. */
    private static void assertWithin(float[] e, float[] a, float[] bound, String what) {
        assertEquals(e.length, a.length, what);
        for (int i = 0; i < e.length; i++) {
            if (!(Math.abs(e[i] - a[i]) <= bound[i])) {
                throw new AssertionError(what + ": index " + i + " ref " + e[i] + " got " + a[i] + " bound " + bound[i]);
            }
        }
    }

    /**
     * GEMM tolerance: a float dot product of length K has error at most about K*u*sum|a_i b_i| (u = 2^-24) whatever the
     * summation order; the double-accumulated reference is within u*|result| of exact. {@code absProducts} is that sum
     * of absolute products, computed by the reference on |inputs|.
     */
    private static float[] gemmBound(float[] absProducts, long k) {
        float[] b = new float[absProducts.length];
        for (int i = 0; i < b.length; i++) {
            b[i] = (k + 2) * U * absProducts[i] + Float.MIN_NORMAL;
        }
        return b;
    }

    /** Relative-to-magnitude tolerance for reductions done in a different order: rel * (|ref| + scale). */
    private static float[] relBound(float[] e, float rel, float scale) {
        float[] b = new float[e.length];
        for (int i = 0; i < e.length; i++) {
            b[i] = rel * (Math.abs(e[i]) + scale);
        }
        return b;
    }

    /**
     * The integer model's epilogue, exact: every rounding, residual of each dtype (or none), every output dtype, with
     * ties forced (multiplier 2^(s-1) makes every odd accumulator a tie) and multipliers near the headroom limit.
     */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void requantizeWithResidual(long seed) {
        SplittableRandom r = new SplittableRandom(seed * 977);
        for (int trial = 0; trial < 8; trial++) {
            int n = pick(r, 1, 3), c = pick(r, 1, 5, 16), sp = pick(r, 1, 7, 64);
            int[] acc = new int[n * c * sp];
            boolean ties = r.nextBoolean();
            for (int i = 0; i < acc.length; i++) {
                acc[i] = ties ? r.nextInt(-9, 10) : (r.nextInt(6) == 0 ? pick(r, Integer.MIN_VALUE, Integer.MAX_VALUE)
                        : r.nextInt(-(1 << 24), 1 << 24));
            }
            DType resType = new DType[] {null, DType.INT8, DType.UINT8, DType.INT32}[r.nextInt(4)];
            int[] mult = new int[c], shift = new int[c], resMult = resType == null ? null : new int[c];
            long[] bias = new long[c];
            for (int ch = 0; ch < c; ch++) {
                shift[ch] = ties ? r.nextInt(0, 31) : r.nextInt(0, 48);
                mult[ch] = ties ? 1 << Math.max(0, shift[ch] - 1) : r.nextInt(-(1 << 30), 1 << 30);
                bias[ch] = ties ? 0 : r.nextLong(-(1L << 40), 1L << 40);
                if (resMult != null) {
                    resMult[ch] = resType == DType.INT32 ? r.nextInt(-(1 << 20), 1 << 20) : r.nextInt();
                }
            }
            Rounding rounding = Rounding.values()[r.nextInt(Rounding.values().length)];
            DType out = new DType[] {DType.INT8, DType.UINT8, DType.INT32}[r.nextInt(3)];
            int qmin = out == DType.UINT8 ? 0 : out == DType.INT8 ? -127 : -100_000, qmax = out == DType.INT8 ? 127
                    : out == DType.UINT8 ? 255 : 100_000;
            byte[] resBytes = new byte[acc.length];
            int[] resInts = new int[acc.length];
            for (int i = 0; i < acc.length; i++) {
                resBytes[i] = (byte) r.nextInt(256);
                resInts[i] = r.nextInt(-(1 << 20), 1 << 20);
            }
            String where = "seed " + seed + " trial " + trial + " " + rounding + " residual " + resType + " -> " + out;
            try (TensorScope s = new TensorScope()) {
                String expected = null;
                for (Backend b : java.util.stream.Stream.concat(java.util.stream.Stream.of((Backend) REF),
                        integerVariants().stream()).toList()) {
                    Tensor res = resType == null ? null : resType == DType.INT32
                            ? s.track(b.fromInts(resInts, n, c, sp)) : s.track(b.fromBytes(resBytes, resType, n, c, sp));
                    Tensor y = s.track(b.requantizeResidual(s.track(b.fromInts(acc, n, c, sp)), res, mult, shift, bias,
                            resMult, rounding, qmin, qmax, out));
                    String got = out == DType.INT32 ? Arrays.toString(y.toIntArray()) : Arrays.toString(y.toByteArray());
                    if (expected == null) {
                        expected = got;
                    } else {
                        assertEquals(expected, got, "requantizeResidual on " + label(b) + " " + where);
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void convolutionsForwardAndBackward(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Backend cpu = underTest(seed);
        int n = pick(r, 1, 2, 3), k = pick(r, 1, 2, 3, 5), stride = pick(r, 1, 2), pad = r.nextInt(0, (k + 1) / 2 + 1);
        int mode = r.nextInt(3); // dense, grouped, depthwise
        int cin = pick(r, 1, 3, 16, 17), groups = 1;
        int cout = pick(r, 1, 5, 16, 17);
        if (mode == 1) {
            groups = 2;
            cin = 2 * pick(r, 1, 3, 8);
            cout = 2 * pick(r, 1, 4, 9);
        } else if (mode == 2) {
            cin = pick(r, 1, 7, 16, 32);
            groups = cin;
            cout = cin;
        }
        int h = Math.max(k, pick(r, 1, 5, 7, 8, 9, 16)), w = Math.max(k, pick(r, 1, 6, 8, 11));
        ConvParams p = new ConvParams(stride, stride, pad, pad, groups);
        checkConvolution(cpu, r, seed, new int[] {n, cin, h, w}, new int[] {cout, cin / groups, k, k}, p);
    }

    /**
     * The cpu convs are implicit GEMMs over padded, stride-phase-split copies of each image: kernels taller than
     * wide, strides that differ per axis or exceed the kernel, pads larger than the kernel, and batches that give
     * every thread several images are where their index arithmetic could go wrong.
     */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void convolutionsWithUnequalAxesAndLargerBatches(long seed) {
        SplittableRandom r = new SplittableRandom(seed ^ 0x5eed);
        Backend cpu = underTest(seed);
        int groups = pick(r, 1, 1, 2), kh = pick(r, 1, 2, 3, 5), kw = pick(r, 1, 3, 4);
        int cin = groups * pick(r, 1, 3, 8, 16), cout = groups * pick(r, 1, 7, 16);
        ConvParams p = new ConvParams(pick(r, 1, 2, 3), pick(r, 1, 2), r.nextInt(0, 4), r.nextInt(0, 3), groups);
        int h = Math.max(kh, pick(r, 2, 8, 13, 32)), w = Math.max(kw, pick(r, 3, 8, 17, 32));
        checkConvolution(cpu, r, seed, new int[] {pick(r, 4, 7), cin, h, w}, new int[] {cout, cin / groups, kh, kw}, p);
    }

    /** conv2d, both backward convs and biasBackward of cpu against the reference, within the float error bound. */
    private void checkConvolution(Backend cpu, SplittableRandom r, long seed, int[] xs, int[] ws, ConvParams p) {
        int n = xs[0], cin = xs[1], h = xs[2], w = xs[3], cout = ws[0];
        int[] ys = Backend.convOutShape(xs, ws, p);
        float[] x = gaussian(r, n * cin * h * w, 1), wt = gaussian(r, ws[0] * ws[1] * ws[2] * ws[3], 0.5);
        float[] bias = gaussian(r, cout, 1), dy = gaussian(r, ys[0] * ys[1] * ys[2] * ys[3], 1);
        String ctx = "seed " + seed + " on " + label(cpu) + " x" + Arrays.toString(xs) + " w" + Arrays.toString(ws)
                + " " + p;
        try (TensorScope s = new TensorScope()) {
            Tensor xr = s.track(REF.fromFloats(x, xs)), wr = s.track(REF.fromFloats(wt, ws));
            Tensor br = s.track(REF.fromFloats(bias, cout)), dyr = s.track(REF.fromFloats(dy, ys));
            Tensor xc = s.track(cpu.fromFloats(x, xs)), wc = s.track(cpu.fromFloats(wt, ws));
            Tensor bc = s.track(cpu.fromFloats(bias, cout)), dyc = s.track(cpu.fromFloats(dy, ys));
            Tensor axr = s.track(REF.fromFloats(abs(x), xs)), awr = s.track(REF.fromFloats(abs(wt), ws));
            Tensor adyr = s.track(REF.fromFloats(abs(dy), ys));

            float[] absFwd = s.track(REF.conv2d(axr, awr, null, p)).toFloatArray();
            for (int i = 0; i < absFwd.length; i++) {
                absFwd[i] += Math.abs(bias[i / (ys[2] * ys[3]) % cout]);
            }
            assertWithin(s.track(REF.conv2d(xr, wr, br, p)).toFloatArray(),
                    s.track(cpu.conv2d(xc, wc, bc, p)).toFloatArray(), gemmBound(absFwd, (long) ws[1] * ws[2] * ws[3] + 1),
                    "conv2d " + ctx);
            assertWithin(s.track(REF.conv2dBackwardData(dyr, wr, xs, p)).toFloatArray(),
                    s.track(cpu.conv2dBackwardData(dyc, wc, xs, p)).toFloatArray(),
                    gemmBound(s.track(REF.conv2dBackwardData(adyr, awr, xs, p)).toFloatArray(), (long) cout * ws[2] * ws[3]),
                    "conv2dBackwardData " + ctx);
            assertWithin(s.track(REF.conv2dBackwardWeight(dyr, xr, ws, p)).toFloatArray(),
                    s.track(cpu.conv2dBackwardWeight(dyc, xc, ws, p)).toFloatArray(),
                    gemmBound(s.track(REF.conv2dBackwardWeight(adyr, axr, ws, p)).toFloatArray(),
                            (long) n * ys[2] * ys[3]),
                    "conv2dBackwardWeight " + ctx);
            float[] absBias = s.track(REF.biasBackward(adyr)).toFloatArray();
            assertWithin(s.track(REF.biasBackward(dyr)).toFloatArray(), s.track(cpu.biasBackward(dyc)).toFloatArray(),
                    gemmBound(absBias, (long) n * ys[2] * ys[3]), "biasBackward " + ctx);
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void linearForwardAndBackward(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Backend cpu = underTest(seed);
        int n = pick(r, 1, 2, 7, 16, 17), in = pick(r, 1, 3, 64, 65), out = pick(r, 1, 10, 16, 33);
        float[] x = gaussian(r, n * in, 1), w = gaussian(r, out * in, 0.3), b = gaussian(r, out, 1);
        float[] dy = gaussian(r, n * out, 1);
        String ctx = "seed " + seed + " n " + n + " in " + in + " out " + out;
        try (TensorScope s = new TensorScope()) {
            Tensor xr = s.track(REF.fromFloats(x, n, in)), wr = s.track(REF.fromFloats(w, out, in));
            Tensor br = s.track(REF.fromFloats(b, out)), dyr = s.track(REF.fromFloats(dy, n, out));
            Tensor xc = s.track(cpu.fromFloats(x, n, in)), wc = s.track(cpu.fromFloats(w, out, in));
            Tensor bc = s.track(cpu.fromFloats(b, out)), dyc = s.track(cpu.fromFloats(dy, n, out));
            Tensor axr = s.track(REF.fromFloats(abs(x), n, in)), awr = s.track(REF.fromFloats(abs(w), out, in));
            Tensor abr = s.track(REF.fromFloats(abs(b), out)), adyr = s.track(REF.fromFloats(abs(dy), n, out));
            assertWithin(s.track(REF.linear(xr, wr, br)).toFloatArray(), s.track(cpu.linear(xc, wc, bc)).toFloatArray(),
                    gemmBound(s.track(REF.linear(axr, awr, abr)).toFloatArray(), in + 1), "linear " + ctx);
            assertWithin(s.track(REF.linearBackwardData(dyr, wr)).toFloatArray(),
                    s.track(cpu.linearBackwardData(dyc, wc)).toFloatArray(),
                    gemmBound(s.track(REF.linearBackwardData(adyr, awr)).toFloatArray(), out), "linearBackwardData " + ctx);
            assertWithin(s.track(REF.linearBackwardWeight(dyr, xr)).toFloatArray(),
                    s.track(cpu.linearBackwardWeight(dyc, xc)).toFloatArray(),
                    gemmBound(s.track(REF.linearBackwardWeight(adyr, axr)).toFloatArray(), n),
                    "linearBackwardWeight " + ctx);
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void batchNormPoolingElementwiseLossAndSgd(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Backend cpu = underTest(seed);
        int n = pick(r, 1, 2, 5), c = pick(r, 1, 3, 16, 17), h = pick(r, 1, 4, 7, 8), w = pick(r, 2, 5, 8, 9);
        int[] xs = {n, c, h, w};
        int len = n * c * h * w;
        float[] x = gaussian(r, len, 2), dy = gaussian(r, len, 1);
        for (int i = 0; i < len; i += 7) {
            x[i] = pick(r, 0, 6); // exactly on the relu/relu6 break points
        }
        float[] gamma = gaussian(r, c, 1), beta = gaussian(r, c, 1), rm = gaussian(r, c, 1), rv = abs(gaussian(r, c, 1));
        String ctx = "seed " + seed + " x" + Arrays.toString(xs);
        try (TensorScope s = new TensorScope()) {
            Tensor xr = s.track(REF.fromFloats(x, xs)), dyr = s.track(REF.fromFloats(dy, xs));
            Tensor xc = s.track(cpu.fromFloats(x, xs)), dyc = s.track(cpu.fromFloats(dy, xs));
            // Elementwise ops are the same float operation on both sides: identical bits.
            assertBits(s.track(REF.relu(xr)), s.track(cpu.relu(xc)), "relu " + ctx);
            assertBits(s.track(REF.relu6(xr)), s.track(cpu.relu6(xc)), "relu6 " + ctx);
            assertBits(s.track(REF.reluBackward(dyr, xr)), s.track(cpu.reluBackward(dyc, xc)), "reluBackward " + ctx);
            assertBits(s.track(REF.relu6Backward(dyr, xr)), s.track(cpu.relu6Backward(dyc, xc)), "relu6Backward " + ctx);
            assertBits(s.track(REF.add(xr, dyr)), s.track(cpu.add(xc, dyc)), "add " + ctx);

            if (n * h * w > 1) {
                Tensor[] vr = {REF.fromFloats(gamma, c), REF.fromFloats(beta, c), REF.fromFloats(rm, c), REF.fromFloats(rv, c)};
                Tensor[] vc = {cpu.fromFloats(gamma, c), cpu.fromFloats(beta, c), cpu.fromFloats(rm, c), cpu.fromFloats(rv, c)};
                for (int i = 0; i < 4; i++) {
                    s.track(vr[i]);
                    s.track(vc[i]);
                }
                BatchNormForward fr = s.track(REF.batchNorm2dTrain(xr, vr[0], vr[1], vr[2], vr[3], 0.1f, 1e-5f));
                BatchNormForward fc = s.track(cpu.batchNorm2dTrain(xc, vc[0], vc[1], vc[2], vc[3], 0.1f, 1e-5f));
                // Batch statistics are double sums in both, in a different order: a few float ulps at most.
                assertWithin(fr.mean().toFloatArray(), fc.mean().toFloatArray(), relBound(fr.mean().toFloatArray(), 4 * U, 1e-6f), "bn mean " + ctx);
                assertWithin(fr.invStd().toFloatArray(), fc.invStd().toFloatArray(), relBound(fr.invStd().toFloatArray(), 4 * U, 0), "bn invStd " + ctx);
                assertWithin(vr[2].toFloatArray(), vc[2].toFloatArray(), relBound(vr[2].toFloatArray(), 4 * U, 1e-6f), "bn running mean " + ctx);
                assertWithin(vr[3].toFloatArray(), vc[3].toFloatArray(), relBound(vr[3].toFloatArray(), 4 * U, 0), "bn running var " + ctx);
                // cpu folds BN into y = x*scale + shift in float (2 roundings, plus the rounding of scale and shift);
                // the reference evaluates in double. Error <= 8u * (|x*scale| + |shift|) ~ 8u * (|y| + |x*scale|*2 + |beta|).
                float[] yr = fr.y().toFloatArray(), bound = new float[yr.length];
                float[] is = fr.invStd().toFloatArray();
                for (int i = 0; i < yr.length; i++) {
                    int ch = (i / (h * w)) % c;
                    float xsc = Math.abs(x[i] * is[ch] * gamma[ch]);
                    bound[i] = 8 * U * (Math.abs(yr[i]) + 2 * xsc + Math.abs(beta[ch]) + 1e-3f);
                }
                assertWithin(yr, fc.y().toFloatArray(), bound, "bn train y " + ctx);
                assertWithin(s.track(REF.batchNorm2dEval(xr, vr[0], vr[1], vr[2], vr[3], 1e-5f)).toFloatArray(),
                        s.track(cpu.batchNorm2dEval(xc, vc[0], vc[1], vc[2], vc[3], 1e-5f)).toFloatArray(),
                        relBound(yr, 64 * U, 8f), "bn eval " + ctx);
                BatchNormGrads gr = s.track(REF.batchNorm2dBackward(dyr, xr, vr[0], fr.mean(), fr.invStd()));
                BatchNormGrads gc = s.track(cpu.batchNorm2dBackward(dyc, xc, vc[0], fc.mean(), fc.invStd()));
                // dx = a*dy - b - xh*c in float from double sums: relative to the size of the terms (|dy|, |c| ~ O(1) * |gamma*invStd|).
                float scale = 0;
                for (int ch = 0; ch < c; ch++) {
                    scale = Math.max(scale, Math.abs(gamma[ch] * is[ch]) * 8);
                }
                assertWithin(gr.dx().toFloatArray(), gc.dx().toFloatArray(), relBound(gr.dx().toFloatArray(), 64 * U, scale),
                        "bn backward dx " + ctx);
                assertWithin(gr.dgamma().toFloatArray(), gc.dgamma().toFloatArray(),
                        relBound(gr.dgamma().toFloatArray(), 64 * U, n * h * w), "bn dgamma " + ctx);
                assertWithin(gr.dbeta().toFloatArray(), gc.dbeta().toFloatArray(),
                        relBound(gr.dbeta().toFloatArray(), 64 * U, n * h * w), "bn dbeta " + ctx);
            }

            // Pooling: cpu sums k*k floats, the reference sums in double: k*k ulps of the window's |sum|.
            int k = Math.min(pick(r, 1, 2, 3), Math.min(h, w)), stride = pick(r, 1, 2), pad = r.nextInt(0, k / 2 + 1);
            Tensor pr = s.track(REF.avgPool2d(xr, k, stride, pad)), pc = s.track(cpu.avgPool2d(xc, k, stride, pad));
            float[] apr = s.track(REF.avgPool2d(s.track(REF.fromFloats(abs(x), xs)), k, stride, pad)).toFloatArray();
            float[] bound = new float[apr.length];
            for (int i = 0; i < bound.length; i++) {
                bound[i] = (k * k + 2) * U * apr[i] + Float.MIN_NORMAL;
            }
            assertWithin(pr.toFloatArray(), pc.toFloatArray(), bound, "avgPool2d " + ctx);
            float[] pdy = gaussian(r, pr.numel(), 1);
            Tensor pdyr = s.track(REF.fromFloats(pdy, pr.shape())), pdyc = s.track(cpu.fromFloats(pdy, pr.shape()));
            float[] pbr = s.track(REF.avgPool2dBackward(pdyr, xs, k, stride, pad)).toFloatArray();
            assertWithin(pbr, s.track(cpu.avgPool2dBackward(pdyc, xs, k, stride, pad)).toFloatArray(),
                    relBound(pbr, 16 * U, 4f / (k * k)), "avgPool2dBackward " + ctx);
            int oh = pick(r, 1, Math.max(1, h / 2), h), ow = pick(r, 1, Math.max(1, (w + 1) / 2), w);
            // Adaptive pooling: both sum in double in the same order and divide: identical.
            Tensor ar = s.track(REF.adaptiveAvgPool2d(xr, oh, ow)), ac = s.track(cpu.adaptiveAvgPool2d(xc, oh, ow));
            assertBits(ar, ac, "adaptiveAvgPool2d " + ctx);
            float[] ady = gaussian(r, ar.numel(), 1);
            float[] abr = s.track(REF.adaptiveAvgPool2dBackward(s.track(REF.fromFloats(ady, ar.shape())), xs)).toFloatArray();
            float[] abc = s.track(cpu.adaptiveAvgPool2dBackward(s.track(cpu.fromFloats(ady, ar.shape())), xs)).toFloatArray();
            assertWithin(abr, abc, relBound(abr, 16 * U, 4f), "adaptiveAvgPool2dBackward " + ctx);

            // Loss: identical per-row double arithmetic; exp/log of two libms may differ in the last double bit.
            int classes = pick(r, 1, 2, 10, 17), rows = pick(r, 1, 3, 128);
            float[] logits = gaussian(r, rows * classes, 3);
            int[] labels = new int[rows];
            for (int i = 0; i < rows; i++) {
                labels[i] = r.nextInt(classes);
            }
            float smoothing = pick(r, 0, 1) * 0.1f;
            Loss lr = s.track(REF.softmaxCrossEntropy(s.track(REF.fromFloats(logits, rows, classes)),
                    s.track(REF.fromInts(labels, rows)), smoothing));
            Loss lc = s.track(cpu.softmaxCrossEntropy(s.track(cpu.fromFloats(logits, rows, classes)),
                    s.track(cpu.fromInts(labels, rows)), smoothing));
            assertWithin(lr.loss().toFloatArray(), lc.loss().toFloatArray(), relBound(lr.loss().toFloatArray(), 4 * U, 0),
                    "softmaxCrossEntropy loss " + ctx);
            assertWithin(lr.dlogits().toFloatArray(), lc.dlogits().toFloatArray(),
                    relBound(lr.dlogits().toFloatArray(), 4 * U, 1e-9f), "softmaxCrossEntropy dlogits " + ctx);

            // SGD: the same float operations in the same order: identical.
            SgdParams sp = new SgdParams(0.05f, pick(r, 0, 1) * 0.9f, 5e-4f, false);
            Tensor pR = s.track(REF.fromFloats(x, xs)), pC = s.track(cpu.fromFloats(x, xs));
            Tensor mR = s.track(REF.fromFloats(dy, xs)), mC = s.track(cpu.fromFloats(dy, xs));
            for (int step = 0; step < 3; step++) {
                REF.sgdStep(pR, dyr, mR, sp);
                cpu.sgdStep(pC, dyc, mC, sp);
            }
            assertBits(pR, pC, "sgdStep param " + ctx);
            assertBits(mR, mC, "sgdStep momentum " + ctx);
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void quantizerBackwardAndWeightQuantizer(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Backend cpu = underTest(seed);
        int len = pick(r, 1, 15, 16, 17, 1000, 40000);
        float alpha = pick(r, 1, 3, 6);
        ActQuantizer q = switch (r.nextInt(4)) {
            case 0 -> ActQuantizer.pact(pick(r, 2, 4, 8));
            case 1 -> ActQuantizer.mpact(pick(r, 2, 4, 8));
            case 2 -> ActQuantizer.fixedClip(pick(r, 2, 8), 2f);
            default -> ActQuantizer.dorefa(pick(r, 2, 8));
        };
        float[] x = gaussian(r, len, 4), dy = gaussian(r, len, 1);
        for (int i = 0; i < len; i += 5) {
            x[i] = pick(r, -1, 1) * q.clipHigh(alpha); // exactly at the clip bounds
        }
        String ctx = "seed " + seed + " " + q + " alpha " + alpha + " len " + len;
        try (TensorScope s = new TensorScope()) {
            Tensor xr = s.track(REF.fromFloats(x, len)), dyr = s.track(REF.fromFloats(dy, len));
            Tensor xc = s.track(cpu.fromFloats(x, len)), dyc = s.track(cpu.fromFloats(dy, len));
            Tensor ar = q.hasAlpha() ? s.track(REF.fromFloats(new float[] {alpha}, 1)) : null;
            Tensor ac = q.hasAlpha() ? s.track(cpu.fromFloats(new float[] {alpha}, 1)) : null;
            ActQuantGrads gr = s.track(REF.actQuantBackward(dyr, xr, q, ar));
            ActQuantGrads gc = s.track(cpu.actQuantBackward(dyc, xc, q, ac));
            assertBits(gr.dx(), gc.dx(), "actQuantBackward dx " + ctx);
            if (q.hasAlpha()) {
                // A double sum of the same terms in another order (threads): rounding of the final float only.
                float sumAbs = 0;
                for (float v : dy) {
                    sumAbs += Math.abs(v);
                }
                assertWithin(gr.dalpha().toFloatArray(), gc.dalpha().toFloatArray(), new float[] {2 * U * sumAbs + 1e-30f},
                        "actQuantBackward dalpha " + ctx);
            }
            float[] w = gaussian(r, len, 0.5);
            Tensor wr = s.track(REF.fromFloats(w, len)), wc = s.track(cpu.fromFloats(w, len));
            for (int bits : new int[] {1, 2, 3, 4, 8, 16, 32}) {
                // tanh in double (Java vs libm) rounded to float: identical unless both land across a float rounding
                // boundary, which these seeds never hit.
                assertBits(s.track(REF.weightQuant(wr, bits)), s.track(cpu.weightQuant(wc, bits)), "weightQuant " + bits + " " + ctx);
                float[] e = s.track(REF.weightQuantBackward(dyr, wr, bits)).toFloatArray();
                float[] a = s.track(cpu.weightQuantBackward(dyc, wc, bits)).toFloatArray();
                // The argmax term is a double sum over the tensor in the same order; elementwise terms are identical.
                assertWithin(e, a, relBound(e, 4 * U, 1e-7f), "weightQuantBackward " + bits + " " + ctx);
            }
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void integerOpsAndFusedConvAreIdenticalOnEveryIsa(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int m = pick(r, 1, 2, 7, 15, 16, 17, 64), kk = pick(r, 1, 3, 4, 5, 27, 64, 144, 145);
        int nn = pick(r, 1, 3, 15, 16, 17, 31, 32, 33, 97);
        boolean signed = r.nextBoolean();
        byte[] a = new byte[m * kk], b = new byte[kk * nn];
        for (int i = 0; i < a.length; i++) {
            a[i] = (byte) (r.nextInt(4) == 0 ? pick(r, -128, 127) : r.nextInt(-128, 128));
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) (r.nextInt(4) == 0 ? pick(r, 0, 255, -128, 127) : r.nextInt(0, 256));
        }
        int n = pick(r, 1, 2, 5, 9), c = pick(r, 1, 3, 16), h = pick(r, 3, 5, 8), w = pick(r, 3, 7); // n >= 4: the per-image path
        int groups = r.nextInt(3) == 0 ? c : 1;
        int cout = groups == c ? c : pick(r, 1, 4, 17), k = pick(r, 1, 2, 3), stride = pick(r, 1, 2), pad = k / 2;
        ConvParams p = new ConvParams(stride, stride, pad, pad, groups);
        int[] xs = {n, c, h, w}, ws = {cout, c / groups, k, k};
        byte[] xb = new byte[n * c * h * w], wb = new byte[ws[0] * ws[1] * k * k];
        for (int i = 0; i < xb.length; i++) {
            xb[i] = (byte) r.nextInt(-128, 128);
        }
        for (int i = 0; i < wb.length; i++) {
            wb[i] = (byte) r.nextInt(-127, 128);
        }
        int[] acc = new int[2 * c * 3];
        for (int i = 0; i < acc.length; i++) {
            acc[i] = r.nextInt();
        }
        int[] mult = new int[c], shift = new int[c], bias = new int[c];
        for (int i = 0; i < c; i++) {
            mult[i] = r.nextInt(1, Integer.MAX_VALUE);
            shift[i] = r.nextInt(0, 63);
            bias[i] = r.nextInt();
        }
        Rounding rounding = Rounding.values()[r.nextInt(Rounding.values().length)];
        String ctx = "seed " + seed;
        try (TensorScope s = new TensorScope()) {
            DType bt = signed ? DType.INT8 : DType.UINT8;
            int[] gemmRef = s.track(REF.gemmInt(s.track(REF.fromBytes(a, DType.INT8, m, kk)), s.track(REF.fromBytes(b, bt, kk, nn)))).toIntArray();
            DType xt = signed ? DType.INT8 : DType.UINT8;
            int[] convRef = s.track(REF.conv2dInt(s.track(REF.fromBytes(xb, xt, xs)), s.track(REF.fromBytes(wb, DType.INT8, ws)), p)).toIntArray();
            byte[] rqRef = s.track(REF.requantize(s.track(REF.fromInts(acc, 2, c, 3)), s.track(REF.fromInts(mult, c)),
                    s.track(REF.fromInts(shift, c)), s.track(REF.fromInts(bias, c)), rounding, -127, 127, DType.INT8)).toByteArray();
            for (Backend cpu : integerVariants()) {
                String where = ctx + " on " + label(cpu);
                int[] gemm = s.track(cpu.gemmInt(s.track(cpu.fromBytes(a, DType.INT8, m, kk)), s.track(cpu.fromBytes(b, bt, kk, nn)))).toIntArray();
                assertEquals(Arrays.toString(gemmRef), Arrays.toString(gemm), "gemmInt M" + m + " K" + kk + " N" + nn + " " + bt + " " + where);
                int[] conv = s.track(cpu.conv2dInt(s.track(cpu.fromBytes(xb, xt, xs)), s.track(cpu.fromBytes(wb, DType.INT8, ws)), p)).toIntArray();
                assertEquals(Arrays.toString(convRef), Arrays.toString(conv), "conv2dInt " + Arrays.toString(xs) + Arrays.toString(ws) + p + " " + where);
                byte[] rq = s.track(cpu.requantize(s.track(cpu.fromInts(acc, 2, c, 3)), s.track(cpu.fromInts(mult, c)),
                        s.track(cpu.fromInts(shift, c)), s.track(cpu.fromInts(bias, c)), rounding, -127, 127, DType.INT8)).toByteArray();
                assertEquals(Arrays.toString(rqRef), Arrays.toString(rq), "requantize " + rounding + " " + where);
            }
        }
    }

    /** Empty batches and empty reductions: outputs are written (zeros where the sum is empty), never left as garbage. */
    @org.junit.jupiter.api.Test
    void emptyShapesGiveTheReferenceResult() {
        Backend cpu = underTest(0);
        try (TensorScope s = new TensorScope()) {
            float[] b = {1f, 2f, 3f};
            Tensor yr = s.track(REF.linear(s.track(REF.zeros(DType.FLOAT32, 2, 0)), s.track(REF.zeros(DType.FLOAT32, 3, 0)),
                    s.track(REF.fromFloats(b, 3))));
            Tensor yc = s.track(cpu.linear(s.track(cpu.zeros(DType.FLOAT32, 2, 0)), s.track(cpu.zeros(DType.FLOAT32, 3, 0)),
                    s.track(cpu.fromFloats(b, 3))));
            assertBits(yr, yc, "linear with 0 input features is the bias");
            Tensor dwr = s.track(REF.linearBackwardWeight(s.track(REF.zeros(DType.FLOAT32, 0, 3)), s.track(REF.zeros(DType.FLOAT32, 0, 4))));
            Tensor dwc = s.track(cpu.linearBackwardWeight(s.track(cpu.zeros(DType.FLOAT32, 0, 3)), s.track(cpu.zeros(DType.FLOAT32, 0, 4))));
            assertBits(dwr, dwc, "linear weight gradient of an empty batch is zero");
            ConvParams p = ConvParams.of(1, 1);
            Tensor cr = s.track(REF.conv2dBackwardWeight(s.track(REF.zeros(DType.FLOAT32, 0, 2, 4, 4)),
                    s.track(REF.zeros(DType.FLOAT32, 0, 3, 4, 4)), new int[] {2, 3, 3, 3}, p));
            Tensor cc = s.track(cpu.conv2dBackwardWeight(s.track(cpu.zeros(DType.FLOAT32, 0, 2, 4, 4)),
                    s.track(cpu.zeros(DType.FLOAT32, 0, 3, 4, 4)), new int[] {2, 3, 3, 3}, p));
            assertBits(cr, cc, "conv weight gradient of an empty batch is zero");
            int[] g = s.track(cpu.gemmInt(s.track(cpu.zeros(DType.INT8, 2, 0)), s.track(cpu.zeros(DType.UINT8, 0, 3)))).toIntArray();
            assertEquals("[0, 0, 0, 0, 0, 0]", Arrays.toString(g), "int GEMM with K = 0");
        }
    }
}
