package dev.qat4j.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Results.ActQuantGrads;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

/** The worked tables of the quantizers' Javadoc, checked through the Backend (so boundary and kernels agree). */
class QuantizerTablesTest {
    private final Backend ref = RefBackend.INSTANCE;

    private float[] fakeQuant(ActQuantizer q, float alpha, float... x) {
        try (Tensor xt = ref.fromFloats(x, x.length);
             Tensor a = q.hasAlpha() ? ref.fromFloats(new float[] {alpha}, 1) : null;
             Tensor y = ref.actQuant(xt, q, a)) {
            return y.toFloatArray();
        }
    }

    private float[] codes(ActQuantizer q, float alpha, float... x) {
        float[] c = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            c[i] = q.code(x[i], alpha);
        }
        return c;
    }

    /** dx and dα of the backward for an upstream gradient of ones; dα is the sum of dy/dα. */
    private float[][] grads(ActQuantizer q, float alpha, float... x) {
        float[] ones = new float[x.length];
        java.util.Arrays.fill(ones, 1f);
        float[] dAlphaEach = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            dAlphaEach[i] = q.gradAlpha(x[i], alpha);
        }
        try (Tensor xt = ref.fromFloats(x, x.length);
             Tensor dy = ref.fromFloats(ones, x.length);
             Tensor a = q.hasAlpha() ? ref.fromFloats(new float[] {alpha}, 1) : null;
             ActQuantGrads g = ref.actQuantBackward(dy, xt, q, a)) {
            float sum = 0;
            for (float v : dAlphaEach) {
                sum += v;
            }
            if (g.dalpha() != null) {
                assertEquals(sum, g.dalpha().toFloatArray()[0], 0f, "dα is the sum of the per-element derivatives");
            }
            return new float[][] {g.dx().toFloatArray(), dAlphaEach};
        }
    }

    @Test
    void pactTwoBitsAlphaThree() {
        ActQuantizer q = ActQuantizer.pact(2);
        float[] x = {-1f, 0f, 0.5f, 1.5f, 2.5f, 2.6f, 3f, 7f};
        assertArrayEquals(new float[] {0, 0, 0, 2, 2, 3, 3, 3}, codes(q, 3f, x), "codes (ties to even)");
        assertArrayEquals(new float[] {0, 0, 0, 2, 2, 3, 3, 3}, fakeQuant(q, 3f, x), "values (s = 1)");
        float[][] g = grads(q, 3f, x);
        assertArrayEquals(new float[] {0, 1, 1, 1, 1, 1, 1, 0}, g[0], "dy/dx");
        assertArrayEquals(new float[] {0, 0, 0, 0, 0, 0, 1, 1}, g[1], "dy/dα");
    }

    @Test
    void pactEightBitsLevelsAndScale() {
        ActQuantizer q = ActQuantizer.pact(8);
        assertEquals(255, q.maxCode());
        assertEquals(0, q.minCode());
        // α = 2.55: s = 100, so x = 0.015 lies exactly half-way (code 1.5 -> 2) within float rounding of 0.015*100.
        float[] y = fakeQuant(q, 2.55f, 10f, -1f, 2.55f);
        assertArrayEquals(new float[] {2.55f, 0f, 2.55f}, y, 1e-6f, "clip at α and at 0");
    }

    @Test
    void mpactThreeBitsAlphaThree() {
        ActQuantizer q = ActQuantizer.mpact(3);
        assertEquals(3, q.maxCode());
        assertEquals(-3, q.minCode());
        float[] x = {-4f, -3f, -2.5f, -0.5f, 0.5f, 1.5f, 3f, 3.5f};
        assertArrayEquals(new float[] {-3, -3, -2, -0f, 0, 2, 3, 3}, codes(q, 3f, x));
        float[] y = fakeQuant(q, 3f, x);
        assertArrayEquals(new float[] {-3, -3, -2, 0, 0, 2, 3, 3}, y, 0f);
        assertEquals(Float.floatToIntBits(-0f), Float.floatToIntBits(y[3]), "-0.5 rounds to -0.0, kept signed");
        float[][] g = grads(q, 3f, x);
        assertArrayEquals(new float[] {0, 1, 1, 1, 1, 1, 1, 0}, g[0], "dy/dx = 1[|x| <= α]");
        assertArrayEquals(new float[] {-1, -1, 0, 0, 0, 0, 1, 1}, g[1], "dy/dα = 1[x >= α] - 1[x <= -α]");
    }

    @Test
    void mpactNegativeAlphaUsesItsMagnitudeAndFlipsTheAlphaGradient() {
        ActQuantizer q = ActQuantizer.mpact(3);
        assertArrayEquals(fakeQuant(q, 3f, -4f, 1.5f, 5f), fakeQuant(q, -3f, -4f, 1.5f, 5f), 0f);
        float[][] g = grads(q, -3f, -4f, 0f, 5f);
        assertArrayEquals(new float[] {1, 0, -1}, g[1], "d|α|/dα = -1 for α < 0");
    }

    @Test
    void zeroAlphaGivesZerosNotNaN() {
        for (ActQuantizer q : new ActQuantizer[] {ActQuantizer.pact(4), ActQuantizer.mpact(4)}) {
            float[] y = fakeQuant(q, 0f, -2f, 0f, 3f);
            assertArrayEquals(new float[] {0, 0, 0}, y, 0f, q.kind() + " with α = 0");
            float[][] g = grads(q, 0f, -2f, 0f, 3f);
            assertArrayEquals(new float[] {0, 0, 0}, g[0], 0f);
            assertArrayEquals(new float[] {0, 0, 0}, g[1], 0f);
        }
    }

    @Test
    void fixedClipTwoBitsClipTwo() {
        ActQuantizer q = ActQuantizer.fixedClip(2, 2f); // n = 3, levels 0, 2/3, 4/3, 2
        float[] x = {-1f, 0.5f, 1f, 2f, 3f};
        // 0.5/2*3 = 0.75 -> 1; 1/2*3 = 1.5 (tie) -> 2; clip at 2 -> 3
        assertArrayEquals(new float[] {0, 1, 2, 3, 3}, codes(q, 0f, x));
        assertArrayEquals(new float[] {0f, 2f / 3f, 4f / 3f, 2f, 2f}, fakeQuant(q, 0f, x), 1e-6f);
        assertArrayEquals(new float[] {0, 1, 1, 1, 0}, grads(q, 0f, x)[0]);
    }

    @Test
    void dorefaActivationClipsAtTenAndIsNotRescaled() {
        ActQuantizer q = ActQuantizer.dorefa(2); // y = rint(clamp(0.1x, 0, 1) * 3) / 3
        float[] x = {-3f, 5f, 10f, 20f};
        // 0.1*5 = 0.5, *3 = 1.5 (tie) -> 2
        assertArrayEquals(new float[] {0, 2, 3, 3}, codes(q, 0f, x));
        assertArrayEquals(new float[] {0f, 2f / 3f, 1f, 1f}, fakeQuant(q, 0f, x), 1e-6f);
        assertArrayEquals(new float[] {0f, 0.1f, 0.1f, 0f}, grads(q, 0f, x)[0], 0f);
    }

    @Test
    void thirtyTwoBitsIsIdentity() {
        float[] x = {-7.25f, 0f, 3.1f, 1e6f};
        for (ActQuantizer q : new ActQuantizer[] {ActQuantizer.pact(32), ActQuantizer.mpact(32),
                ActQuantizer.fixedClip(32, 2f), ActQuantizer.dorefa(32)}) {
            assertArrayEquals(x, fakeQuant(q, 6f, x), 0f, q.toString());
            float[][] g = grads(q, 6f, x);
            assertArrayEquals(new float[] {1, 1, 1, 1}, g[0], 0f);
            assertArrayEquals(new float[] {0, 0, 0, 0}, g[1], 0f);
        }
        try (Tensor w = ref.fromFloats(x, 4); Tensor wq = ref.weightQuant(w, 32)) {
            assertArrayEquals(x, wq.toFloatArray(), 0f);
        }
    }

    // ---------------------------------------------------------------- weights

    private static float atanh(double t) {
        return (float) (0.5 * Math.log((1 + t) / (1 - t)));
    }

    private float[] weightQuant(int bits, float... w) {
        try (Tensor wt = ref.fromFloats(w, w.length); Tensor q = ref.weightQuant(wt, bits)) {
            return q.toFloatArray();
        }
    }

    @Test
    void weightTable() {
        float[] w = {atanh(0.8), atanh(-0.32), atanh(0.16), atanh(0.08), 0f};
        assertArrayEquals(new float[] {1f, -1f / 3, 1f / 3, 0f, 0f}, weightQuant(3, w), 1e-6f, "3 bits");
        assertArrayEquals(new float[] {1f, -3f / 7, 1f / 7, 1f / 7, 0f}, weightQuant(4, w), 1e-6f, "4 bits");
        assertArrayEquals(new float[] {1f, -1f, 1f, 1f, 1f}, weightQuant(2, w), 0f, "2 bits: the seed's sign");
        float scale = (1f + 0.4f + 0.2f + 0.1f + 0f) / 5;
        float[] one = weightQuant(1, w);
        assertArrayEquals(new float[] {scale, -scale, scale, scale, scale}, one, 1e-6f, "1 bit: sign * mean|w_n|");
    }

    @Test
    void weightCodesTieToEven() {
        // w_n = ±0.5 is the only exact tie (S odd): S/2 rounds to the even neighbour, which is always the upper one.
        assertEquals(2f, WeightQuantizer.code(0.5f, 3), "1.5 -> 2");
        assertEquals(-2f, WeightQuantizer.code(-0.5f, 3), "-1.5 -> -2");
        assertEquals(4f, WeightQuantizer.code(0.5f, 4), "3.5 -> 4");
        assertEquals(64f, WeightQuantizer.code(0.5f, 8), "63.5 -> 64");
        assertEquals(127f, WeightQuantizer.code(1f, 8));
        assertEquals(-127f, WeightQuantizer.code(-1f, 8), "narrow range: never -128");
    }

    @Test
    void binaryWeightsAreNeverNaN() {
        float[] oneBit = weightQuant(1, 0f, 0f, 0f);
        float[] twoBit = weightQuant(2, 0f, 0f, 0f);
        for (int i = 0; i < 3; i++) {
            assertFalse(Float.isNaN(oneBit[i]) || Float.isNaN(twoBit[i]), "the seed gave NaN here");
        }
        assertArrayEquals(new float[] {0, 0, 0}, oneBit, 0f, "all-zero weights stay zero");
        float[] w = weightQuant(1, 0.3f, -2f, 0.7f, 0f);
        for (float v : w) {
            assertTrue(Math.abs(Math.abs(v) - Math.abs(w[0])) == 0f && v != 0f, "1-bit weights are ±scale");
        }
    }

    // ---------------------------------------------------------------- fixed-point rounding

    @Test
    void roundingTable() {
        // v / 2^2 for v = 10, 14, -10, -11  <=>  2.5, 3.5, -2.5, -2.75
        long[] v = {10, 14, -10, -11};
        assertArrayEquals(new long[] {2, 4, -2, -3}, apply(Rounding.HALF_EVEN, v));
        assertArrayEquals(new long[] {3, 4, -2, -3}, apply(Rounding.HALF_UP, v));
        assertArrayEquals(new long[] {3, 4, -3, -3}, apply(Rounding.HALF_AWAY_FROM_ZERO, v));
        assertArrayEquals(new long[] {2, 3, -2, -2}, apply(Rounding.TOWARD_ZERO, v));
        assertArrayEquals(new long[] {2, 3, -3, -3}, apply(Rounding.FLOOR, v));
    }

    private static long[] apply(Rounding r, long[] v) {
        long[] out = new long[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = r.divPow2(v[i], 2);
        }
        return out;
    }

    @Test
    void requantizerSaturatesAndRoundsOnce() {
        // (1000 * 3 + 8) / 16 = 188 exactly
        assertEquals(188, Requantizer.requantize(1000, 3, 4, 8, Rounding.HALF_EVEN, -1000, 1000));
        assertEquals(127, Requantizer.requantize(1000, 3, 4, 8, Rounding.HALF_EVEN, -127, 127), "saturates");
        // (1000 * 3) / 16 = 187.5: ties
        assertEquals(188, Requantizer.requantize(1000, 3, 4, 0, Rounding.HALF_EVEN, -1000, 1000));
        assertEquals(187, Requantizer.requantize(1000, 3, 4, 0, Rounding.TOWARD_ZERO, -1000, 1000));
        // saturation at the fake-quant range, not at -2^(b-1)
        assertEquals(-127, Requantizer.requantize(-100000, 1, 0, 0, Rounding.HALF_EVEN, -127, 127));
        assertEquals(127, Requantizer.requantize(Integer.MAX_VALUE, Integer.MAX_VALUE, 0, 0, Rounding.FLOOR, -127, 127),
                "64-bit product does not wrap");
    }
}
