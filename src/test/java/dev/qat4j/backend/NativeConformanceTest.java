package dev.qat4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Results.ActQuantGrads;
import dev.qat4j.backend.Results.BatchNormForward;
import dev.qat4j.backend.Results.BatchNormGrads;
import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The native kernels against the reference, bit for bit. Fake-quant is clamp, one multiply, round-half-even and
 * one divide in IEEE float32 on both sides (no FMA contraction natively), so results must be identical, including
 * the sign of zero and NaN propagation. Every ISA level the CPU has is run, not only the one dispatch picks.
 * The other ops are in {@link CpuConformanceTest}.
 */
class NativeConformanceTest {
    private static final RefBackend REF = RefBackend.INSTANCE;

    /** Sizes that break 16-lane tiles (1, odd, prime, 15/16/17) and one that crosses the OpenMP threshold. */
    private static final int[] SIZES = {1, 2, 7, 15, 16, 17, 31, 33, 97, 1000, 65536 + 17};

    static Stream<Arguments> quantizers() {
        List<Arguments> cases = new ArrayList<>();
        for (int bits : new int[] {1, 2, 3, 4, 5, 6, 7, 8, 12, 16}) {
            for (float alpha : new float[] {0.5f, 3f, 6f, 10f}) {
                cases.add(Arguments.of(ActQuantizer.pact(bits), alpha));
                if (bits >= 2) {
                    cases.add(Arguments.of(ActQuantizer.mpact(bits), alpha));
                }
            }
            cases.add(Arguments.of(ActQuantizer.mpact(Math.max(2, bits)), -2f));
            cases.add(Arguments.of(ActQuantizer.pact(bits), 0f));
            cases.add(Arguments.of(ActQuantizer.fixedClip(bits, 2f), 0f));
            cases.add(Arguments.of(ActQuantizer.fixedClip(bits, 6f), 0f));
            cases.add(Arguments.of(ActQuantizer.dorefa(bits), 0f));
        }
        cases.add(Arguments.of(ActQuantizer.mpact(32), 3f));
        return cases.stream();
    }

    /** Random values plus the hard ones: clip bounds, exact ties, beyond the clip, ±0, ±inf, NaN. */
    private static float[] inputs(SplittableRandom rnd, int n, ActQuantizer q, float alpha) {
        float[] x = new float[n];
        float lo = q.clipLow(alpha), hi = q.clipHigh(alpha);
        float step = q.isIdentity() ? 1f : q.step(alpha);
        float pre = q.kind() == ActQuantizer.Kind.DOREFA ? 10f : 1f;
        float[] special = {lo, hi, -hi, 2 * hi, 0f, -0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN,
            Math.nextUp(hi), Math.nextDown(lo)};
        for (int i = 0; i < n; i++) {
            int kind = rnd.nextInt(4);
            if (kind == 0) {
                x[i] = special[rnd.nextInt(special.length)];
            } else if (kind == 1) { // exact half-way points between levels
                x[i] = (rnd.nextInt(-40, 40) + 0.5f) * step * pre;
            } else {
                x[i] = (float) (rnd.nextGaussian() * 1.5 * Math.max(1f, Math.abs(hi)));
            }
        }
        return x;
    }

    @ParameterizedTest(name = "{0} alpha={1}")
    @MethodSource("quantizers")
    void actQuantMatchesReferenceOnEveryIsa(ActQuantizer q, float alpha) {
        long seed = 1000L * q.bits() + q.kind().ordinal() * 7L + Float.floatToIntBits(alpha);
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int n : SIZES) {
            float[] x = inputs(rnd, n, q, alpha);
            float[] expected;
            try (Tensor xr = REF.fromFloats(x, n);
                 Tensor ar = q.hasAlpha() ? REF.fromFloats(new float[] {alpha}, 1) : null;
                 Tensor yr = REF.actQuant(xr, q, ar)) {
                expected = yr.toFloatArray();
            }
            for (int isa : CpuBackend.availableIsaLevels()) {
                CpuBackend cpu = CpuBackend.forIsa(isa);
                try (Tensor xc = cpu.fromFloats(x, n);
                     Tensor ac = q.hasAlpha() ? cpu.fromFloats(new float[] {alpha}, 1) : null;
                     Tensor yc = cpu.actQuant(xc, q, ac)) {
                    float[] got = yc.toFloatArray();
                    for (int i = 0; i < n; i++) {
                        if (Float.floatToIntBits(expected[i]) != Float.floatToIntBits(got[i])) {
                            throw new AssertionError("seed " + seed + ", " + q + " alpha " + alpha + ", ISA "
                                    + CpuBackend.isaName(isa) + ", n " + n + ", index " + i + ": x=" + x[i]
                                    + " ref=" + expected[i] + " cpu=" + got[i]);
                        }
                    }
                }
            }
        }
    }

    private static void assertSameBits(float[] expected, float[] got, String what) {
        assertEquals(expected.length, got.length, what);
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToIntBits(expected[i]) != Float.floatToIntBits(got[i])) {
                throw new AssertionError(what + ", index " + i + ": ref=" + expected[i] + " cpu=" + got[i]);
            }
        }
    }

    /** |ref - cpu| <= rel * (|ref| + scale), and NaN exactly where the reference has NaN. */
    private static void assertClose(float[] expected, float[] got, float rel, float scale, String what) {
        assertEquals(expected.length, got.length, what);
        for (int i = 0; i < expected.length; i++) {
            boolean ok = Float.isNaN(expected[i]) ? Float.isNaN(got[i])
                    : expected[i] == got[i] || Math.abs(expected[i] - got[i]) <= rel * (Math.abs(expected[i]) + scale);
            if (!ok) {
                throw new AssertionError(what + ", index " + i + ": ref=" + expected[i] + " cpu=" + got[i]);
            }
        }
    }

    /**
     * Activation-quantizer and clamp (relu, relu6) backward on every ISA level: dx bit for bit (a select and one
     * float multiply on both sides), for special x and dy too (NaN, inf, ±0, the clip bounds), so NaN propagation and
     * the sign of zero are checked; dalpha (a double sum in another order) to a float rounding of sum|dy|.
     */
    @ParameterizedTest(name = "{0} alpha={1}")
    @MethodSource("quantizers")
    void quantizerAndClampBackwardMatchReferenceOnEveryIsa(ActQuantizer q, float alpha) {
        long seed = 7000L * q.bits() + q.kind().ordinal() * 13L + Float.floatToIntBits(alpha);
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] special = {0f, -0f, 6f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, 1e-40f};
        for (int n : SIZES) {
            float[] x = inputs(rnd, n, q, alpha);
            float[] dy = new float[n];
            for (int i = 0; i < n; i++) {
                dy[i] = rnd.nextInt(8) == 0 ? special[rnd.nextInt(special.length)] : (float) rnd.nextGaussian();
            }
            float sumAbs = 0;
            boolean finite = true;
            for (float v : dy) {
                sumAbs += Math.abs(v);
                finite &= Float.isFinite(v);
            }
            String ctx = "seed " + seed + ", " + q + " alpha " + alpha + ", n " + n;
            try (TensorScope s = new TensorScope()) {
                Tensor xr = s.track(REF.fromFloats(x, n)), dyr = s.track(REF.fromFloats(dy, n));
                Tensor ar = q.hasAlpha() ? s.track(REF.fromFloats(new float[] {alpha}, 1)) : null;
                ActQuantGrads gr = s.track(REF.actQuantBackward(dyr, xr, q, ar));
                float[] relu = s.track(REF.reluBackward(dyr, xr)).toFloatArray();
                float[] relu6 = s.track(REF.relu6Backward(dyr, xr)).toFloatArray();
                for (int isa : CpuBackend.availableIsaLevels()) {
                    CpuBackend cpu = CpuBackend.forIsa(isa);
                    String at = ctx + ", ISA " + CpuBackend.isaName(isa);
                    Tensor xc = s.track(cpu.fromFloats(x, n)), dyc = s.track(cpu.fromFloats(dy, n));
                    Tensor ac = q.hasAlpha() ? s.track(cpu.fromFloats(new float[] {alpha}, 1)) : null;
                    ActQuantGrads gc = s.track(cpu.actQuantBackward(dyc, xc, q, ac));
                    assertSameBits(gr.dx().toFloatArray(), gc.dx().toFloatArray(), "actQuantBackward dx " + at);
                    // An identity quantizer (32 bits) never calls the kernel on cpu: its dalpha is 0, where the
                    // reference sums dy * 0 and gets NaN from an inf or NaN dy. Not compared then.
                    if (q.hasAlpha() && (finite || !q.isIdentity())) {
                        float e = gr.dalpha().toFloatArray()[0], a = gc.dalpha().toFloatArray()[0];
                        // with an inf or NaN dy, the sum is the same inf or NaN on both sides
                        boolean ok = finite ? Math.abs(e - a) <= 2 * 0x1p-24f * sumAbs + 1e-30f
                                : Float.floatToIntBits(e) == Float.floatToIntBits(a) || Float.isNaN(e) && Float.isNaN(a);
                        assertTrue(ok, "actQuantBackward dalpha " + at + ": ref=" + e + " cpu=" + a);
                    }
                    assertSameBits(relu, s.track(cpu.reluBackward(dyc, xc)).toFloatArray(), "reluBackward " + at);
                    assertSameBits(relu6, s.track(cpu.relu6Backward(dyc, xc)).toFloatArray(), "relu6Backward " + at);
                }
            }
        }
    }

    /**
     * Training batch norm and its backward on every ISA level, with planes that fill 16-lane vectors, break them
     * and are shorter than one (hw 1024, 17, 1), means far from zero (the one-pass statistics are shifted), and NaN
     * or inf inputs (the reference's NaN must come out as NaN). Tolerances as in {@code BackendConformanceSuite}.
     */
    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3, 4, 5, 6})
    void batchNormMatchesReferenceOnEveryIsa(long seed) {
        final float u = 0x1p-24f;
        SplittableRandom rnd = new SplittableRandom(seed * 31);
        int[][] shapes = {{3, 5, 32, 32}, {2, 3, 1, 17}, {7, 2, 1, 1}, {1, 1, 1, 2}, {2, 17, 4, 4}, {1, 2, 5, 7}};
        int[] xs = shapes[(int) (seed - 1) % shapes.length];
        int n = xs[0], c = xs[1], hw = xs[2] * xs[3], len = n * c * hw;
        float offset = seed % 2 == 0 ? 1000f : 0f;
        float[] x = new float[len], dy = new float[len];
        for (int i = 0; i < len; i++) {
            x[i] = offset + (float) (rnd.nextGaussian() * 2);
            dy[i] = (float) rnd.nextGaussian();
        }
        if (seed == 5) { // special values in two channels: NaN in one, +inf in another (the reference's NaN and inf)
            x[rnd.nextInt(hw)] = Float.NaN;
            x[hw + rnd.nextInt(hw)] = Float.POSITIVE_INFINITY;
            dy[2 * hw] = Float.NaN;
        }
        float[] gamma = new float[c], beta = new float[c];
        for (int ch = 0; ch < c; ch++) {
            gamma[ch] = (float) rnd.nextGaussian();
            beta[ch] = (float) rnd.nextGaussian();
        }
        String ctx = "seed " + seed + " x" + java.util.Arrays.toString(xs);
        try (TensorScope s = new TensorScope()) {
            Tensor rmR = s.track(REF.zeros(dev.qat4j.tensor.DType.FLOAT32, c));
            Tensor rvR = s.track(REF.fromFloats(new float[c], c));
            BatchNormForward fr = s.track(REF.batchNorm2dTrain(s.track(REF.fromFloats(x, xs)),
                    s.track(REF.fromFloats(gamma, c)), s.track(REF.fromFloats(beta, c)), rmR, rvR, 0.1f, 1e-5f));
            BatchNormGrads gr = s.track(REF.batchNorm2dBackward(s.track(REF.fromFloats(dy, xs)),
                    s.track(REF.fromFloats(x, xs)), s.track(REF.fromFloats(gamma, c)), fr.mean(), fr.invStd()));
            float[] is = fr.invStd().toFloatArray();
            for (int isa : CpuBackend.availableIsaLevels()) {
                CpuBackend cpu = CpuBackend.forIsa(isa);
                String at = ctx + ", ISA " + CpuBackend.isaName(isa);
                Tensor rmC = s.track(cpu.fromFloats(new float[c], c)), rvC = s.track(cpu.fromFloats(new float[c], c));
                Tensor xc = s.track(cpu.fromFloats(x, xs)), gc = s.track(cpu.fromFloats(gamma, c));
                BatchNormForward fc = s.track(cpu.batchNorm2dTrain(xc, gc, s.track(cpu.fromFloats(beta, c)), rmC, rvC,
                        0.1f, 1e-5f));
                assertClose(fr.mean().toFloatArray(), fc.mean().toFloatArray(), 4 * u, 1e-6f, "bn mean " + at);
                assertClose(is, fc.invStd().toFloatArray(), 4 * u, 0, "bn invStd " + at);
                assertClose(rmR.toFloatArray(), rmC.toFloatArray(), 4 * u, 1e-6f, "bn running mean " + at);
                assertClose(rvR.toFloatArray(), rvC.toFloatArray(), 4 * u, 0, "bn running var " + at);
                // y folded into x * scale + shift in float: within 8u of the size of its terms (the suite's bound)
                float[] yr = fr.y().toFloatArray(), yc = fc.y().toFloatArray();
                for (int i = 0; i < len; i++) {
                    int ch = (i / hw) % c;
                    float bound = 8 * u * (Math.abs(yr[i]) + 2 * Math.abs(x[i] * is[ch] * gamma[ch]) + Math.abs(beta[ch])
                            + 1e-3f);
                    boolean ok = Float.isNaN(yr[i]) ? Float.isNaN(yc[i]) : Math.abs(yr[i] - yc[i]) <= bound;
                    assertTrue(ok, "bn train y " + at + ", index " + i + ": ref=" + yr[i] + " cpu=" + yc[i]);
                }
                BatchNormGrads gcd = s.track(cpu.batchNorm2dBackward(s.track(cpu.fromFloats(dy, xs)), xc, gc,
                        fc.mean(), fc.invStd()));
                float scale = 0;
                for (int ch = 0; ch < c; ch++) {
                    scale = Math.max(scale, Float.isNaN(is[ch]) ? 0 : Math.abs(gamma[ch] * is[ch]) * 8);
                }
                assertClose(gr.dx().toFloatArray(), gcd.dx().toFloatArray(), 64 * u, scale, "bn backward dx " + at);
                assertClose(gr.dgamma().toFloatArray(), gcd.dgamma().toFloatArray(), 64 * u, n * hw, "bn dgamma " + at);
                assertClose(gr.dbeta().toFloatArray(), gcd.dbeta().toFloatArray(), 64 * u, n * hw, "bn dbeta " + at);
            }
        }
    }

    @Test
    void dispatchUsesTheWidestIsaAndEveryLevelIsTested() {
        CpuBackend cpu = CpuBackend.get();
        int[] levels = CpuBackend.availableIsaLevels();
        assertEquals(0, levels[0], "scalar is always available");
        assertEquals(CpuBackend.isaName(levels[levels.length - 1]), cpu.isaName(),
                "without QAT4J_ISA, dispatch picks the widest level");
        assertTrue(cpu.threads() >= 1);
    }
}
