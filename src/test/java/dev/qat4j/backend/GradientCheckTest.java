package dev.qat4j.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.qat4j.backend.Results.ActQuantGrads;
import dev.qat4j.backend.Results.BatchNormForward;
import dev.qat4j.backend.Results.BatchNormGrads;
import dev.qat4j.backend.Results.Loss;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.backend.ref.RefKernels;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.quant.WeightQuantizer;
import dev.qat4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.ToDoubleFunction;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every backward op of the reference backend against central finite differences.
 *
 * <p>Method: random inputs x and a random upstream tensor r of the output's shape define the scalar
 * {@code L(x) = sum(r * op(x))}, evaluated in double from the op's float outputs. The analytic gradient is the
 * backward op applied to r; it must match {@code (L(x + h e_i) - L(x - h e_i)) / (2h)} at every coordinate (the
 * tensors are a few hundred elements). Inputs are kept more than h away from every kink (relu, clips, the weight
 * quantizer's max) so the difference quotient never straddles one.
 *
 * <p>Quantizers round, so their forward is piecewise constant and has no useful derivative; their
 * straight-through (STE) gradients are checked against finite differences of a surrogate forward in which the
 * rounding is replaced by the identity (see {@link #actSurrogate} and {@link #weightSurrogate}).
 *
 * <p>Every test is seeded, and every assertion message carries the seed, so a failure replays exactly.
 */
class GradientCheckTest {
    private static final Backend B = RefBackend.INSTANCE;

    /**
     * Finite-difference step. The ops under test are either linear in the perturbed input (conv, linear, pooling,
     * add, relu and clips away from their kinks: there the central difference is exact up to rounding) or smooth
     * with modest third derivatives (batch norm, softmax, tanh), where the truncation error is about
     * h^2/6 * |f'''| ~ 2e-5. A large step keeps the rounding error small: the perturbed float outputs carry about
     * 6e-8 relative error each, divided by 2h = 0.02 that is ~1e-5 on the quotient. The step actually taken is
     * {@code (float)(x+h) - (float)(x-h)}, so rounding of x +- h itself costs nothing.
     */
    private static final double H = 1e-2;

    /** Inputs stay at least this far from a kink (relu 0, relu6 6, clip points): well over H, so x +- H never crosses. */
    private static final double KINK_MARGIN = 5 * H;

    /**
     * Gradient agreement: {@code |analytic - fd| <= ABS_TOL + REL_TOL * max(|analytic|, |fd|)}. The finite
     * differences are good to about 1e-4 relative (see {@link #H}): the worst disagreement measured over every
     * check here is 3.3e-4 absolute (the fused fake-quant conv's dw, gradients up to ~8, tanh truncation) and
     * 2.7e-4 relative, i.e. at most 1.5% of this tolerance. The analytic gradients are float32 results of double
     * accumulations, so they add nothing visible. The tolerance is still tight enough that a 1% error in any
     * gradient of size 0.2 or more fails, and a real bug (a missing term, a wrong mask, an off-by-one window, a
     * wrong divisor) is off by far more.
     */
    private static final double ABS_TOL = 1e-3;
    private static final double REL_TOL = 5e-3;

    /**
     * A gradient check is vacuous if every coordinate is (near) zero: each checked gradient must have some
     * coordinate above this, or the test fails as mis-built.
     */
    private static final double MIN_SIGNAL = 1e-2;

    /**
     * Forward agreement of the fused fake-quant conv with the unfused float conv of the fake-quantized operands,
     * relative to the sum of |products| of each output (the scale the rounding errors live on, even when the
     * output itself cancels to near zero). Both sides multiply the same codes: each product carries a few float
     * roundings (~6e-8 each) from the scales {@code alpha / maxCode} and {@code 1/S}, hence 1e-5 (~80 float ulps)
     * is generous, yet four orders of magnitude below one quantization step, which a wrong scale or code would cost.
     */
    private static final double FWD_REL_TOL = 1e-5;

    // ================================================================ convolution

    static Stream<Arguments> convCases() {
        return Stream.of(
                Arguments.of("3x3 stride 1 pad 1", new int[] {2, 3, 5, 5}, new int[] {4, 3, 3, 3},
                        ConvParams.of(1, 1), false, 101L),
                Arguments.of("3x3 stride 1 pad 1 with bias", new int[] {2, 3, 5, 5}, new int[] {4, 3, 3, 3},
                        ConvParams.of(1, 1), true, 102L),
                Arguments.of("3x3 stride 2 pad 1", new int[] {2, 3, 7, 7}, new int[] {4, 3, 3, 3},
                        ConvParams.of(2, 1), false, 103L),
                Arguments.of("3x3 stride 2 pad 0, last row and column unused", new int[] {1, 2, 8, 8},
                        new int[] {3, 2, 3, 3}, ConvParams.of(2, 0), true, 104L),
                Arguments.of("1x1", new int[] {2, 4, 4, 4}, new int[] {3, 4, 1, 1}, ConvParams.of(1, 0), true, 105L),
                Arguments.of("2x2 stride 2", new int[] {2, 3, 6, 6}, new int[] {4, 3, 2, 2}, ConvParams.of(2, 0),
                        false, 106L),
                Arguments.of("depthwise 3x3 (groups = C)", new int[] {2, 4, 5, 5}, new int[] {4, 1, 3, 3},
                        ConvParams.of(1, 1, 4), true, 107L),
                Arguments.of("depthwise 3x3 stride 2, channel multiplier 2", new int[] {1, 3, 6, 6},
                        new int[] {6, 1, 3, 3}, ConvParams.of(2, 1, 3), false, 108L),
                Arguments.of("grouped (groups = 2)", new int[] {2, 4, 5, 5}, new int[] {6, 2, 3, 3},
                        ConvParams.of(1, 1, 2), true, 109L),
                Arguments.of("3x2 kernel, stride 2x1, pad 1x0, odd 7x5 input", new int[] {1, 3, 7, 5},
                        new int[] {2, 3, 3, 2}, new ConvParams(2, 1, 1, 0, 1), true, 110L),
                Arguments.of("1x3 kernel, stride 1x2, pad 0x1, groups 2, 3x7 input", new int[] {2, 4, 3, 7},
                        new int[] {4, 2, 1, 3}, new ConvParams(1, 2, 0, 1, 2), false, 111L));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("convCases")
    void conv2dBackwardMatchesFiniteDifferences(String name, int[] xs, int[] ws, ConvParams p, boolean withBias,
                                                long seed) {
        String ctx = "conv2d[" + name + "] seed=" + seed;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = uniform(rnd, numel(xs), -1, 1);
        float[] w = uniform(rnd, numel(ws), -1, 1);
        float[] bias = withBias ? uniform(rnd, ws[0], -1, 1) : null;
        int[] ys = Backend.convOutShape(xs, ws, p);
        float[] r = uniform(rnd, numel(ys), -1, 1);

        ToDoubleFunction<float[]> lossX = v -> dot(r, conv(v, xs, w, ws, bias, p));
        ToDoubleFunction<float[]> lossW = v -> dot(r, conv(x, xs, v, ws, bias, p));
        try (Tensor rt = B.fromFloats(r, ys); Tensor wt = B.fromFloats(w, ws); Tensor xt = B.fromFloats(x, xs)) {
            assertEquals(r.length, conv(x, xs, w, ws, bias, p).length, ctx + ": output size");
            checkGradient(ctx, "x", x, read(B.conv2dBackwardData(rt, wt, xs, p)), lossX, true);
            checkGradient(ctx, "w", w, read(B.conv2dBackwardWeight(rt, xt, ws, p)), lossW, true);
            if (withBias) {
                ToDoubleFunction<float[]> lossB = v -> dot(r, conv(x, xs, w, ws, v, p));
                checkGradient(ctx, "bias", bias, read(B.biasBackward(rt)), lossB, true);
            }
        }
    }

    /** The zero-gradient region of a strided conv is real: inputs no window reads get exactly 0, as FD says. */
    @Test
    void conv2dBackwardDataIsZeroWhereNoWindowReads() {
        long seed = 112L;
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] xs = {1, 2, 8, 8}, ws = {3, 2, 3, 3};
        ConvParams p = ConvParams.of(2, 0); // windows cover rows/cols 0..6: row and column 7 are never read
        float[] w = uniform(rnd, numel(ws), -1, 1);
        float[] r = uniform(rnd, numel(Backend.convOutShape(xs, ws, p)), -1, 1);
        float[] dx;
        try (Tensor rt = B.fromFloats(r, Backend.convOutShape(xs, ws, p)); Tensor wt = B.fromFloats(w, ws)) {
            dx = read(B.conv2dBackwardData(rt, wt, xs, p));
        }
        for (int c = 0; c < 2; c++) {
            for (int i = 0; i < 8; i++) {
                assertEquals(0f, dx[(c * 8 + 7) * 8 + i], "seed=" + seed + ": unread row 7, channel " + c);
                assertEquals(0f, dx[(c * 8 + i) * 8 + 7], "seed=" + seed + ": unread column 7, channel " + c);
            }
            assertTrue(dx[c * 64] != 0f, "seed=" + seed + ": the read corner must get a gradient");
        }
    }

    // ================================================================ linear

    @ParameterizedTest(name = "N={0} in={1} out={2}")
    @MethodSource("linearCases")
    void linearBackwardMatchesFiniteDifferences(int n, int in, int out, long seed) {
        String ctx = "linear[" + n + "x" + in + " -> " + out + "] seed=" + seed;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = uniform(rnd, n * in, -1, 1);
        float[] w = uniform(rnd, out * in, -1, 1);
        float[] bias = uniform(rnd, out, -1, 1);
        float[] r = uniform(rnd, n * out, -1, 1);
        ToDoubleFunction<float[]> lossX = v -> dot(r, linear(v, n, in, w, out, bias));
        ToDoubleFunction<float[]> lossW = v -> dot(r, linear(x, n, in, v, out, bias));
        ToDoubleFunction<float[]> lossB = v -> dot(r, linear(x, n, in, w, out, v));
        try (Tensor rt = B.fromFloats(r, n, out); Tensor wt = B.fromFloats(w, out, in);
             Tensor xt = B.fromFloats(x, n, in)) {
            checkGradient(ctx, "x", x, read(B.linearBackwardData(rt, wt)), lossX, true);
            checkGradient(ctx, "w", w, read(B.linearBackwardWeight(rt, xt)), lossW, true);
            checkGradient(ctx, "bias", bias, read(B.biasBackward(rt)), lossB, true);
        }
    }

    static Stream<Arguments> linearCases() {
        return Stream.of(Arguments.of(5, 7, 4, 201L), Arguments.of(1, 10, 3, 202L), Arguments.of(6, 3, 9, 203L));
    }

    // ================================================================ batch norm

    static Stream<Arguments> batchNormCases() {
        return Stream.of(Arguments.of(new int[] {2, 3, 4, 4}, 301L), Arguments.of(new int[] {3, 2, 3, 5}, 302L),
                Arguments.of(new int[] {4, 2, 1, 1}, 303L));
    }

    @ParameterizedTest(name = "x {0}")
    @MethodSource("batchNormCases")
    void batchNormBackwardMatchesFiniteDifferences(int[] xs, long seed) {
        String ctx = "batchNorm2d" + Arrays.toString(xs) + " seed=" + seed;
        SplittableRandom rnd = new SplittableRandom(seed);
        int c = xs[1], hw = xs[2] * xs[3];
        float eps = 1e-5f;
        // Each channel its own mean and spread (spread >= 0.5 keeps invStd, hence the curvature, moderate).
        float[] x = new float[numel(xs)];
        for (int ch = 0; ch < c; ch++) {
            double mu = uniform(rnd, -2, 2), sigma = uniform(rnd, 0.5, 2);
            for (int b = 0; b < xs[0]; b++) {
                for (int i = 0; i < hw; i++) {
                    x[(b * c + ch) * hw + i] = (float) (mu + sigma * uniform(rnd, -1.7, 1.7));
                }
            }
        }
        float[] gamma = uniform(rnd, c, 0.5, 1.5);
        gamma[0] = -gamma[0]; // a negative scale must flow through dx with its sign
        float[] beta = uniform(rnd, c, -1, 1);
        float[] r = uniform(rnd, x.length, -1, 1);

        ToDoubleFunction<float[]> lossX = v -> dot(r, batchNormY(v, xs, gamma, beta, eps));
        ToDoubleFunction<float[]> lossG = v -> dot(r, batchNormY(x, xs, v, beta, eps));
        ToDoubleFunction<float[]> lossB = v -> dot(r, batchNormY(x, xs, gamma, v, eps));
        try (Tensor xt = B.fromFloats(x, xs); Tensor gt = B.fromFloats(gamma, c); Tensor bt = B.fromFloats(beta, c);
             Tensor rm = B.fromFloats(new float[c], c); Tensor rv = B.fromFloats(filled(c, 1f), c);
             BatchNormForward f = B.batchNorm2dTrain(xt, gt, bt, rm, rv, 0.1f, eps);
             Tensor rt = B.fromFloats(r, xs);
             BatchNormGrads g = B.batchNorm2dBackward(rt, xt, gt, f.mean(), f.invStd())) {
            checkGradient(ctx, "x", x, g.dx().toFloatArray(), lossX, true);
            checkGradient(ctx, "gamma", gamma, g.dgamma().toFloatArray(), lossG, true);
            checkGradient(ctx, "beta", beta, g.dbeta().toFloatArray(), lossB, true);
        }
    }

    // ================================================================ relu, relu6

    @Test
    void reluBackwardMatchesFiniteDifferences() {
        long seed = 401L;
        String ctx = "relu seed=" + seed;
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] s = {3, 4, 5};
        float[] x = uniformAwayFrom(rnd, numel(s), -3, 3, 0);
        float[] r = uniform(rnd, x.length, -1, 1);
        try (Tensor xt = B.fromFloats(x, s); Tensor rt = B.fromFloats(r, s)) {
            float[] dx = read(B.reluBackward(rt, xt));
            assertMaskMixed(ctx, dx);
            checkGradient(ctx, "x", x, dx, v -> dot(r, unary(v, s, false)), true);
        }
    }

    @Test
    void relu6BackwardMatchesFiniteDifferences() {
        long seed = 402L;
        String ctx = "relu6 seed=" + seed;
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] s = {2, 3, 4, 5};
        float[] x = uniformAwayFrom(rnd, numel(s), -2, 8, 0, 6);
        x[0] = -1f; // below 0, inside, above 6: all three regions present whatever the seed
        x[1] = 3f;
        x[2] = 7f;
        float[] r = uniform(rnd, x.length, -1, 1);
        try (Tensor xt = B.fromFloats(x, s); Tensor rt = B.fromFloats(r, s)) {
            float[] dx = read(B.relu6Backward(rt, xt));
            assertEquals(0f, dx[0], ctx + ": below 0");
            assertEquals(r[1], dx[1], ctx + ": inside (0, 6)");
            assertEquals(0f, dx[2], ctx + ": above 6");
            checkGradient(ctx, "x", x, dx, v -> dot(r, unary(v, s, true)), true);
        }
    }

    // ================================================================ pooling

    static Stream<Arguments> avgPoolCases() {
        return Stream.of(
                Arguments.of("k2 s2 p0", new int[] {2, 3, 6, 6}, 2, 2, 0, 501L),
                Arguments.of("k3 s2 p0 (last row/col unused)", new int[] {1, 2, 8, 8}, 3, 2, 0, 502L),
                Arguments.of("k3 s2 p1", new int[] {2, 2, 7, 7}, 3, 2, 1, 503L),
                Arguments.of("k3 s1 p1", new int[] {1, 3, 5, 5}, 3, 1, 1, 504L),
                Arguments.of("k2 s1 p1 non-square input", new int[] {2, 2, 4, 5}, 2, 1, 1, 505L),
                Arguments.of("k4 s3 p2", new int[] {1, 2, 9, 7}, 4, 3, 2, 506L));
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("avgPoolCases")
    void avgPool2dBackwardMatchesFiniteDifferences(String name, int[] xs, int k, int stride, int pad, long seed) {
        String ctx = "avgPool2d[" + name + " on " + Arrays.toString(xs) + "] seed=" + seed;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = uniform(rnd, numel(xs), -1, 1);
        int[] ys;
        try (Tensor xt = B.fromFloats(x, xs); Tensor y = B.avgPool2d(xt, k, stride, pad)) {
            ys = y.shape();
        }
        float[] r = uniform(rnd, numel(ys), -1, 1);
        ToDoubleFunction<float[]> loss = v -> {
            try (Tensor vt = B.fromFloats(v, xs)) {
                return dot(r, read(B.avgPool2d(vt, k, stride, pad)));
            }
        };
        try (Tensor rt = B.fromFloats(r, ys)) {
            checkGradient(ctx, "x", x, read(B.avgPool2dBackward(rt, xs, k, stride, pad)), loss, true);
        }
    }

    static Stream<Arguments> adaptivePoolCases() {
        return Stream.of(
                Arguments.of(new int[] {2, 3, 5, 5}, 3, 3, 511L),
                Arguments.of(new int[] {2, 3, 7, 7}, 1, 1, 512L),
                Arguments.of(new int[] {1, 2, 6, 4}, 4, 3, 513L),
                Arguments.of(new int[] {1, 2, 5, 7}, 2, 3, 514L),
                Arguments.of(new int[] {1, 2, 4, 4}, 2, 2, 515L),
                Arguments.of(new int[] {1, 2, 3, 3}, 3, 3, 516L));
    }

    @ParameterizedTest(name = "{0} -> {1}x{2}")
    @MethodSource("adaptivePoolCases")
    void adaptiveAvgPool2dBackwardMatchesFiniteDifferences(int[] xs, int oh, int ow, long seed) {
        String ctx = "adaptiveAvgPool2d[" + Arrays.toString(xs) + " -> " + oh + "x" + ow + "] seed=" + seed;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = uniform(rnd, numel(xs), -1, 1);
        int[] ys = {xs[0], xs[1], oh, ow};
        float[] r = uniform(rnd, numel(ys), -1, 1);
        ToDoubleFunction<float[]> loss = v -> {
            try (Tensor vt = B.fromFloats(v, xs)) {
                return dot(r, read(B.adaptiveAvgPool2d(vt, oh, ow)));
            }
        };
        try (Tensor rt = B.fromFloats(r, ys)) {
            checkGradient(ctx, "x", x, read(B.adaptiveAvgPool2dBackward(rt, xs)), loss, true);
        }
    }

    // ================================================================ add

    /** add has no backward op: its gradient is the upstream tensor itself, to both operands. FD must agree. */
    @Test
    void addGradientIsIdentityToBothOperands() {
        long seed = 601L;
        String ctx = "add seed=" + seed;
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] s = {2, 3, 4, 5};
        float[] a = uniform(rnd, numel(s), -2, 2);
        float[] b = uniform(rnd, numel(s), -2, 2);
        float[] r = uniform(rnd, numel(s), -1, 1);
        ToDoubleFunction<float[]> lossA = v -> dot(r, add(v, b, s));
        ToDoubleFunction<float[]> lossB = v -> dot(r, add(a, v, s));
        checkGradient(ctx, "a", a, r.clone(), lossA, true);
        checkGradient(ctx, "b", b, r.clone(), lossB, true);
    }

    // ================================================================ softmax cross-entropy

    static Stream<Arguments> crossEntropyCases() {
        return Stream.of(Arguments.of(0f, 3, 5, 701L), Arguments.of(0.1f, 3, 5, 702L), Arguments.of(0.1f, 1, 7, 703L),
                Arguments.of(0f, 4, 2, 704L));
    }

    @ParameterizedTest(name = "smoothing {0}, N={1}, K={2}")
    @MethodSource("crossEntropyCases")
    void softmaxCrossEntropyGradientMatchesFiniteDifferences(float smoothing, int n, int k, long seed) {
        String ctx = "softmaxCrossEntropy[smoothing " + smoothing + ", " + n + "x" + k + "] seed=" + seed;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] logits = uniform(rnd, n * k, -3, 3);
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            labels[i] = rnd.nextInt(k);
        }
        try (Tensor lab = B.fromInts(labels, n); Tensor lt = B.fromFloats(logits, n, k);
             Loss l = B.softmaxCrossEntropy(lt, lab, smoothing)) {
            ToDoubleFunction<float[]> loss = v -> {
                try (Tensor vt = B.fromFloats(v, n, k); Loss lv = B.softmaxCrossEntropy(vt, lab, smoothing)) {
                    return lv.loss().toFloatArray()[0];
                }
            };
            // The loss itself, in double: the FD target is the op's own loss, so pin that too.
            double expected = 0;
            for (int b = 0; b < n; b++) {
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int j = 0; j < k; j++) {
                    max = Math.max(max, logits[b * k + j]);
                }
                for (int j = 0; j < k; j++) {
                    sum += Math.exp(logits[b * k + j] - max);
                }
                for (int j = 0; j < k; j++) {
                    double target = (j == labels[b] ? 1 - smoothing : 0) + (double) smoothing / k;
                    expected -= target * (logits[b * k + j] - max - Math.log(sum)) / n;
                }
            }
            assertEquals(expected, l.loss().toFloatArray()[0], 1e-5 * Math.max(1, expected), ctx + ": loss value");
            checkGradient(ctx, "logits", logits, l.dlogits().toFloatArray(), loss, true);
        }
    }

    // ================================================================ activation quantizers (STE)

    static Stream<Arguments> actQuantCases() {
        return Stream.of(
                Arguments.of("PACT 4 bits alpha=2.5", ActQuantizer.pact(4), 2.5f, 801L),
                Arguments.of("PACT 2 bits alpha=1", ActQuantizer.pact(2), 1f, 802L),
                Arguments.of("mPACT 4 bits alpha=1.5", ActQuantizer.mpact(4), 1.5f, 803L),
                Arguments.of("mPACT 3 bits alpha=-1.2 (d|alpha|/dalpha = -1)", ActQuantizer.mpact(3), -1.2f, 804L),
                Arguments.of("mPACT 8 bits alpha=0.75", ActQuantizer.mpact(8), 0.75f, 805L),
                Arguments.of("fixed clip 3 bits c=2", ActQuantizer.fixedClip(3, 2f), null, 806L),
                Arguments.of("DoReFa 4 bits", ActQuantizer.dorefa(4), null, 807L),
                Arguments.of("DoReFa 8 bits", ActQuantizer.dorefa(8), null, 808L),
                Arguments.of("PACT 32 bits (identity)", ActQuantizer.pact(32), 2f, 809L),
                Arguments.of("fixed clip 32 bits (identity)", ActQuantizer.fixedClip(32, 1f), null, 810L));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("actQuantCases")
    void actQuantBackwardMatchesSurrogate(String name, ActQuantizer q, Float alphaBoxed, long seed) {
        String ctx = "actQuant[" + name + "] seed=" + seed;
        SplittableRandom rnd = new SplittableRandom(seed);
        float alpha = alphaBoxed == null ? 0f : alphaBoxed;
        int[] s = {2, 3, 4, 5};
        float[] x = clipTestInputs(rnd, numel(s), q, alpha);
        float[] r = uniform(rnd, x.length, -1, 1);
        ToDoubleFunction<float[]> lossX = v -> {
            double sum = 0;
            for (int i = 0; i < v.length; i++) {
                sum += r[i] * actSurrogate(q, v[i], alpha);
            }
            return sum;
        };
        try (Tensor xt = B.fromFloats(x, s); Tensor rt = B.fromFloats(r, s);
             Tensor at = alphaBoxed == null ? null : B.fromFloats(new float[] {alpha}, 1);
             Tensor fq = B.actQuant(xt, q, at);
             ActQuantGrads g = B.actQuantBackward(rt, xt, q, at)) {
            // 1. The surrogate is the right one: the forward is it, rounded to the grid of step(alpha).
            float[] y = fq.toFloatArray();
            if (q.isIdentity()) {
                assertArrayEquals(x, y, ctx + ": 32 bits must be the identity");
            } else {
                double step = q.step(alpha);
                double slack = 8 * Math.ulp((float) Math.max(1, Math.max(Math.abs(q.clipLow(alpha)),
                        Math.abs(q.clipHigh(alpha)))));
                double maxDev = 0;
                for (int i = 0; i < x.length; i++) {
                    double dev = Math.abs(y[i] - actSurrogate(q, x[i], alpha));
                    assertTrue(dev <= 0.5 * step + slack, ctx + ": forward " + y[i] + " at x=" + x[i] + " is " + dev
                            + " from the surrogate, more than half a step " + step);
                    maxDev = Math.max(maxDev, dev);
                }
                // ...and it really rounds at that step (deviations of 120 random inputs fill [0, step/2]).
                assertTrue(maxDev > 0.25 * step, ctx + ": forward deviates at most " + maxDev
                        + " from the surrogate: not a grid of step " + step);
            }
            // 2. dx against FD of the surrogate.
            checkGradient(ctx, "x", x, g.dx().toFloatArray(), lossX, true);
            // 3. dalpha against FD of the surrogate in alpha.
            if (q.hasAlpha()) {
                assertNotNull(g.dalpha(), ctx + ": " + q.kind() + " must return dalpha");
                assertEquals(1, g.dalpha().numel(), ctx + ": dalpha shape");
                float[] av = {alpha};
                ToDoubleFunction<float[]> lossA = v -> {
                    double sum = 0;
                    for (int i = 0; i < x.length; i++) {
                        sum += r[i] * actSurrogate(q, x[i], v[0]);
                    }
                    return sum;
                };
                checkGradient(ctx, "alpha", av, g.dalpha().toFloatArray(), lossA, !q.isIdentity());
                if (q.isIdentity()) {
                    assertEquals(0f, g.dalpha().toFloatArray()[0], ctx + ": identity has no alpha gradient");
                }
            } else {
                assertNull(g.dalpha(), ctx + ": " + q.kind() + " has no alpha");
            }
        }
    }

    // ================================================================ weight quantizer (STE)

    @ParameterizedTest(name = "{0} bits")
    @ValueSource(ints = {1, 2, 3, 4, 8})
    void weightQuantBackwardMatchesSurrogate(int bits) {
        long seed = 900L + bits;
        String ctx = "weightQuant[" + bits + " bits] seed=" + seed;
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] s = {4, 3, 3, 3};
        float[] w = weightsWithUniqueMax(rnd, numel(s), ctx);
        int argmax = argmaxAbs(w);
        float[] r = uniform(rnd, w.length, -1, 1);
        try (Tensor wt = B.fromFloats(w, s); Tensor rt = B.fromFloats(r, s); Tensor wq = B.weightQuant(wt, bits)) {
            // The surrogate is the right one: the forward is w_n rounded (or its sign for 1 and 2 bits).
            double[] wn = weightSurrogate(w, bits);
            float[] q = wq.toFloatArray();
            double meanAbs = Arrays.stream(wn).map(Math::abs).average().orElseThrow();
            for (int i = 0; i < w.length; i++) {
                String at = ctx + ": forward at w[" + i + "]=" + w[i] + " (w_n=" + wn[i] + ") is " + q[i];
                if (bits >= 3) {
                    assertTrue(Math.abs(q[i] - wn[i]) <= 0.5 / WeightQuantizer.maxCode(bits) + 1e-6, at);
                } else {
                    double mag = bits == 2 ? 1 : meanAbs;
                    assertEquals(Math.copySign(mag, wn[i]), q[i], 1e-6, at);
                }
            }
            assertEquals(1.0, Math.abs(wn[argmax]), 1e-12, ctx + ": the argmax normalises to +-1");
            float[] dw = read(B.weightQuantBackward(rt, wt, bits));
            checkGradient(ctx, "w", w, dw, v -> dot(r, weightSurrogate(v, bits)), true);
            // The argmax carries the extra -sign(t) sum(g t)/m^2 term: it is checked above (every coordinate is),
            // and here pinned apart from the plain g/m (1-t^2) a kernel without that term would return.
            double t = Math.tanh(w[argmax]), m = Math.abs(t);
            double plain = r[argmax] / m * (1 - t * t);
            assertTrue(Math.abs(dw[argmax] - plain) > 10 * ABS_TOL, ctx + ": dw at the argmax " + argmax + " = "
                    + dw[argmax] + " lacks the max's term (plain STE would give " + plain + ")");
        }
    }

    @Test
    void weightQuant32BitsIsIdentityBothWays() {
        long seed = 932L;
        String ctx = "weightQuant[32 bits] seed=" + seed;
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] s = {3, 2, 3, 3};
        float[] w = uniform(rnd, numel(s), -2, 2);
        float[] r = uniform(rnd, w.length, -1, 1);
        try (Tensor wt = B.fromFloats(w, s); Tensor rt = B.fromFloats(r, s)) {
            assertArrayEquals(w, read(B.weightQuant(wt, 32)), ctx + ": forward");
            float[] dw = read(B.weightQuantBackward(rt, wt, 32));
            assertArrayEquals(r, dw, ctx + ": backward must pass the gradient unchanged");
            checkGradient(ctx, "w", w, dw, v -> {
                try (Tensor vt = B.fromFloats(v, s)) {
                    return dot(r, read(B.weightQuant(vt, 32)));
                }
            }, true);
        }
    }

    // ================================================================ fused fake-quant convolution (STE)

    // ================================================================ the checker

    /**
     * Compares {@code analytic} with central differences of {@code loss} in every coordinate of {@code v}
     * ({@code v} is perturbed in place and restored). Fails listing the first offending coordinates; with
     * {@code expectSignal}, also fails if the gradient is zero everywhere (a vacuous check).
     */
    private static void checkGradient(String ctx, String wrt, float[] v, float[] analytic,
                                      ToDoubleFunction<float[]> loss, boolean expectSignal) {
        assertEquals(v.length, analytic.length, ctx + ": d" + wrt + " has the wrong number of elements");
        List<String> failures = new ArrayList<>();
        double signal = 0;
        for (int i = 0; i < v.length; i++) {
            float orig = v[i];
            float plus = (float) (orig + H), minus = (float) (orig - H);
            v[i] = plus;
            double lp = loss.applyAsDouble(v);
            v[i] = minus;
            double lm = loss.applyAsDouble(v);
            v[i] = orig;
            double fd = (lp - lm) / ((double) plus - (double) minus);
            double a = analytic[i];
            double err = Math.abs(a - fd);
            double tol = ABS_TOL + REL_TOL * Math.max(Math.abs(a), Math.abs(fd));
            if (!(err <= tol)) {
                failures.add(String.format("[%d] %s=%s: analytic %.6g, finite difference %.6g, |diff| %.3g > %.3g",
                        i, wrt, orig, a, fd, err, tol));
            }
            signal = Math.max(signal, Math.max(Math.abs(a), Math.abs(fd)));
        }
        if (!failures.isEmpty()) {
            fail(ctx + ": d" + wrt + " disagrees with central differences (h=" + H + ") at " + failures.size()
                    + " of " + v.length + " coordinates; first: " + String.join("; ",
                    failures.subList(0, Math.min(5, failures.size()))));
        }
        if (expectSignal) {
            assertTrue(signal > MIN_SIGNAL, ctx + ": d" + wrt + " is zero everywhere (max " + signal
                    + "): the check is vacuous, fix the test's inputs");
        }
    }

    // ================================================================ forwards for the losses

    private static float[] conv(float[] x, int[] xs, float[] w, int[] ws, float[] bias, ConvParams p) {
        try (Tensor xt = B.fromFloats(x, xs); Tensor wt = B.fromFloats(w, ws);
             Tensor bt = bias == null ? null : B.fromFloats(bias, ws[0])) {
            return read(B.conv2d(xt, wt, bt, p));
        }
    }

    private static float[] linear(float[] x, int n, int in, float[] w, int out, float[] bias) {
        try (Tensor xt = B.fromFloats(x, n, in); Tensor wt = B.fromFloats(w, out, in);
             Tensor bt = B.fromFloats(bias, out)) {
            return read(B.linear(xt, wt, bt));
        }
    }

    /** y of training batch norm, with fresh scratch running statistics (the forward updates them in place). */
    private static float[] batchNormY(float[] x, int[] xs, float[] gamma, float[] beta, float eps) {
        int c = xs[1];
        try (Tensor xt = B.fromFloats(x, xs); Tensor gt = B.fromFloats(gamma, c); Tensor bt = B.fromFloats(beta, c);
             Tensor rm = B.fromFloats(new float[c], c); Tensor rv = B.fromFloats(filled(c, 1f), c);
             BatchNormForward f = B.batchNorm2dTrain(xt, gt, bt, rm, rv, 0.1f, eps)) {
            return f.y().toFloatArray();
        }
    }

    private static float[] unary(float[] x, int[] s, boolean six) {
        try (Tensor xt = B.fromFloats(x, s)) {
            return read(six ? B.relu6(xt) : B.relu(xt));
        }
    }

    private static float[] add(float[] a, float[] b, int[] s) {
        try (Tensor at = B.fromFloats(a, s); Tensor bt = B.fromFloats(b, s)) {
            return read(B.add(at, bt));
        }
    }

    // ================================================================ quantizer surrogates (rounding -> identity)

    /** The activation quantizer with its rounding replaced by the identity: the clip alone. */
    private static double actSurrogate(ActQuantizer q, double x, double alpha) {
        if (q.isIdentity()) {
            return x;
        }
        return switch (q.kind()) {
            case PACT -> clamp(x, 0, alpha);
            case MPACT -> clamp(x, -Math.abs(alpha), Math.abs(alpha));
            case FIXED_CLIP -> clamp(x, 0, q.fixedClip());
            case DOREFA -> clamp(0.1 * x, 0, 1);
        };
    }

    private static double[] actSurrogate(ActQuantizer q, float[] x, double alpha, double[] residual) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = actSurrogate(q, x[i], alpha) + residual[i];
        }
        return y;
    }

    /** The DoReFa weight quantizer with its rounding replaced by the identity: w_n = tanh(w) / max|tanh(w)|. */
    private static double[] weightSurrogate(float[] w, int bits) {
        double[] t = new double[w.length];
        if (bits == 32) {
            for (int i = 0; i < w.length; i++) {
                t[i] = w[i];
            }
            return t;
        }
        double m = 0;
        for (int i = 0; i < w.length; i++) {
            t[i] = Math.tanh(w[i]);
            m = Math.max(m, Math.abs(t[i]));
        }
        for (int i = 0; i < w.length; i++) {
            t[i] /= m;
        }
        return t;
    }

    /**
     * Inputs for a clip: most inside the clip range, some beyond it on each side (so dalpha is nonzero), none
     * within {@link #KINK_MARGIN} of a clip point (so x +- H, and alpha +- H, never cross one).
     */
    private static float[] clipTestInputs(SplittableRandom rnd, int n, ActQuantizer q, float alpha) {
        double lo = q.clipLow(alpha), hi = q.clipHigh(alpha), span = hi - lo;
        float[] x = uniformAwayFrom(rnd, n, lo - 0.3 * span, hi + 0.3 * span, lo, hi);
        x[0] = (float) (lo - uniform(rnd, 0.1, 0.3) * span); // both sides present whatever the seed
        x[1] = (float) (hi + uniform(rnd, 0.1, 0.3) * span);
        return x;
    }

    /**
     * Weights in [-1.2, 1.2] but one at +-1.8: max|tanh| is unique and ahead of the runner-up by ~0.11, far more
     * than a step of H can close, so central differences across the max stay on one branch of it.
     */
    private static float[] weightsWithUniqueMax(SplittableRandom rnd, int n, String ctx) {
        float[] w = uniform(rnd, n, -1.2, 1.2);
        int k = rnd.nextInt(n);
        w[k] = rnd.nextBoolean() ? 1.8f : -1.8f;
        double first = 0, second = 0;
        for (float v : w) {
            double t = Math.abs(Math.tanh(v));
            if (t > first) {
                second = first;
                first = t;
            } else if (t > second) {
                second = t;
            }
        }
        assertTrue(first - second > 4 * H, ctx + ": test setup: the max |tanh(w)| must be well separated");
        assertEquals(k, argmaxAbs(w), ctx + ": test setup: argmax");
        return w;
    }

    private static int argmaxAbs(float[] w) {
        int k = 0;
        for (int i = 1; i < w.length; i++) {
            if (Math.abs(w[i]) > Math.abs(w[k])) {
                k = i;
            }
        }
        return k;
    }

    // ================================================================ small helpers

    /** Double-precision conv (no bias), for the quantizer surrogates. */
    private static double[] convD(double[] x, int[] xs, double[] w, int[] ws, ConvParams p) {
        int n = xs[0], c = xs[1], h = xs[2], wd = xs[3];
        int co = ws[0], cig = ws[1], kh = ws[2], kw = ws[3];
        int oh = p.outH(h, kh), ow = p.outW(wd, kw), cog = co / p.groups();
        double[] y = new double[n * co * oh * ow];
        for (int b = 0; b < n; b++) {
            for (int oc = 0; oc < co; oc++) {
                int g = oc / cog;
                for (int oy = 0; oy < oh; oy++) {
                    for (int ox = 0; ox < ow; ox++) {
                        double acc = 0;
                        for (int ic = 0; ic < cig; ic++) {
                            for (int ky = 0; ky < kh; ky++) {
                                int iy = oy * p.strideH() - p.padH() + ky;
                                for (int kx = 0; kx < kw; kx++) {
                                    int ix = ox * p.strideW() - p.padW() + kx;
                                    if (iy >= 0 && iy < h && ix >= 0 && ix < wd) {
                                        acc += x[((b * c + g * cig + ic) * h + iy) * wd + ix]
                                                * w[((oc * cig + ic) * kh + ky) * kw + kx];
                                    }
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

    private static float[] read(Tensor t) {
        try (t) {
            return t.toFloatArray();
        }
    }

    private static double dot(float[] r, float[] y) {
        if (r.length != y.length) {
            throw new IllegalArgumentException("upstream has " + r.length + " elements, output " + y.length);
        }
        double s = 0;
        for (int i = 0; i < r.length; i++) {
            s += (double) r[i] * y[i];
        }
        return s;
    }

    private static double dot(float[] r, double[] y) {
        if (r.length != y.length) {
            throw new IllegalArgumentException("upstream has " + r.length + " elements, output " + y.length);
        }
        double s = 0;
        for (int i = 0; i < r.length; i++) {
            s += r[i] * y[i];
        }
        return s;
    }

    private static double[] add(double[] a, double[] b) {
        double[] c = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            c[i] = a[i] + b[i];
        }
        return c;
    }

    private static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }

    private static double[] abs(double[] a) {
        return Arrays.stream(a).map(Math::abs).toArray();
    }

    private static double clamp(double v, double lo, double hi) {
        return Math.min(Math.max(v, lo), hi);
    }

    private static int numel(int... shape) {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    private static float[] filled(int n, float v) {
        float[] a = new float[n];
        Arrays.fill(a, v);
        return a;
    }

    private static double uniform(SplittableRandom rnd, double lo, double hi) {
        return lo + (hi - lo) * rnd.nextDouble();
    }

    private static float[] uniform(SplittableRandom rnd, int n, double lo, double hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) uniform(rnd, lo, hi);
        }
        return a;
    }

    /** Uniform in [lo, hi), redrawn while within {@link #KINK_MARGIN} of any kink. */
    private static float[] uniformAwayFrom(SplittableRandom rnd, int n, double lo, double hi, double... kinks) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            float v;
            boolean near;
            do {
                v = (float) uniform(rnd, lo, hi);
                near = false;
                for (double k : kinks) {
                    near |= Math.abs(v - k) <= KINK_MARGIN;
                }
            } while (near);
            a[i] = v;
        }
        return a;
    }

    /** A relu-style gradient must be the upstream on some coordinates and exactly 0 on others. */
    private static void assertMaskMixed(String ctx, float[] dx) {
        long zeros = 0;
        for (float v : dx) {
            if (v == 0f) {
                zeros++;
            }
        }
        assertTrue(zeros > 0 && zeros < dx.length, ctx + ": expected both passed and blocked coordinates, got "
                + zeros + " zeros of " + dx.length);
    }
}
