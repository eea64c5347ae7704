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
