package dev.qat4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

/**
 * The native kernels against the reference, bit for bit. Fake-quant is clamp, one multiply, round-half-even and
 * one divide in IEEE float32 on both sides (no FMA contraction natively), so results must be identical, including
 * the sign of zero and NaN propagation. Every ISA level the CPU has is run, not only the one dispatch picks.
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
        CpuBackend cpu = CpuBackend.get();
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
                try (Tensor xc = cpu.fromFloats(x, n);
                     Tensor ac = q.hasAlpha() ? cpu.fromFloats(new float[] {alpha}, 1) : null;
                     Tensor yc = cpu.actQuantWithIsa(xc, q, ac, isa)) {
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

    @Test
    void dispatchUsesTheWidestIsaAndEveryLevelIsTested() {
        CpuBackend cpu = CpuBackend.get();
        int[] levels = CpuBackend.availableIsaLevels();
        assertEquals(0, levels[0], "scalar is always available");
        assertEquals(CpuBackend.isaName(levels[levels.length - 1]), cpu.isaName(),
                "without QAT4J_ISA, dispatch picks the widest level");
        assertTrue(cpu.threads() >= 1);
    }

    /** Until each op is native, cpu runs it on reference kernels: the results must still be exactly ref's. */
    @Test
    void everyOpOfTheCpuBackendMatchesTheReference() {
        CpuBackend cpu = CpuBackend.get();
        SplittableRandom rnd = new SplittableRandom(7);
        float[] x = new float[2 * 4 * 6 * 6], w = new float[4 * 2 * 3 * 3];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) rnd.nextGaussian();
        }
        ConvParams p = ConvParams.of(1, 1, 2);
        for (Backend b : new Backend[] {cpu}) {
            try (TensorScope s = new TensorScope()) {
                Tensor xr = s.track(REF.fromFloats(x, 2, 4, 6, 6)), wr = s.track(REF.fromFloats(w, 4, 2, 3, 3));
                Tensor xc = s.track(b.fromFloats(x, 2, 4, 6, 6)), wc = s.track(b.fromFloats(w, 4, 2, 3, 3));
                assertSame(s.track(REF.conv2d(xr, wr, null, p)), s.track(b.conv2d(xc, wc, null, p)), "conv2d");
                assertSame(s.track(REF.relu6(xr)), s.track(b.relu6(xc)), "relu6");
                assertSame(s.track(REF.weightQuant(wr, 4)), s.track(b.weightQuant(wc, 4)), "weightQuant");
                assertSame(s.track(REF.adaptiveAvgPool2d(xr, 1, 1)), s.track(b.adaptiveAvgPool2d(xc, 1, 1)), "pool");
                assertSame(s.track(REF.add(xr, xr)), s.track(b.add(xc, xc)), "add");
                Tensor a1 = s.track(REF.fromFloats(new float[] {2f}, 1)), a2 = s.track(b.fromFloats(new float[] {2f}, 1));
                assertSame(s.track(REF.fakeQuantConv2d(xr, wr, ActQuantizer.mpact(4), a1, 4, p)),
                        s.track(b.fakeQuantConv2d(xc, wc, ActQuantizer.mpact(4), a2, 4, p)), "fakeQuantConv2d");
                // In-place ops write back into native memory.
                float[] ones = new float[4];
                java.util.Arrays.fill(ones, 1f);
                Tensor rmR = s.track(REF.zeros(dev.qat4j.tensor.DType.FLOAT32, 4));
                Tensor rvR = s.track(REF.fromFloats(ones, 4));
                Tensor rmC = s.track(b.zeros(dev.qat4j.tensor.DType.FLOAT32, 4));
                Tensor rvC = s.track(b.fromFloats(ones, 4));
                Tensor g1 = s.track(REF.fromFloats(ones, 4)), b1 = s.track(REF.zeros(dev.qat4j.tensor.DType.FLOAT32, 4));
                Tensor g2 = s.track(b.fromFloats(ones, 4)), b2 = s.track(b.zeros(dev.qat4j.tensor.DType.FLOAT32, 4));
                Results.BatchNormForward fr = s.track(REF.batchNorm2dTrain(xr, g1, b1, rmR, rvR, 0.1f, 1e-5f));
                Results.BatchNormForward fc = s.track(b.batchNorm2dTrain(xc, g2, b2, rmC, rvC, 0.1f, 1e-5f));
                assertSame(fr.y(), fc.y(), "batchNorm2dTrain");
                assertSame(rmR, rmC, "running mean updated in place");
                assertSame(rvR, rvC, "running var updated in place");
                Tensor bufR = s.track(REF.zeros(dev.qat4j.tensor.DType.FLOAT32, 2, 4, 6, 6));
                Tensor bufC = s.track(b.zeros(dev.qat4j.tensor.DType.FLOAT32, 2, 4, 6, 6));
                Tensor pR = s.track(REF.fromFloats(x, 2, 4, 6, 6)), pC = s.track(b.fromFloats(x, 2, 4, 6, 6));
                SgdParams sp = new SgdParams(0.1f, 0.9f, 5e-4f, true);
                REF.sgdStep(pR, xr, bufR, sp);
                b.sgdStep(pC, xc, bufC, sp);
                assertSame(pR, pC, "sgdStep param");
                assertSame(bufR, bufC, "sgdStep momentum");
            }
        }
    }

    private static void assertSame(Tensor expected, Tensor actual, String what) {
        float[] e = expected.toFloatArray(), a = actual.toFloatArray();
        assertEquals(e.length, a.length, what);
        for (int i = 0; i < e.length; i++) {
            assertEquals(Float.floatToIntBits(e[i]), Float.floatToIntBits(a[i]), what + " index " + i);
        }
    }
}
