package dev.qat4j.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.backend.ref.RefKernels;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.quant.Rounding;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Tensor;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/** Integer inference ops and the fused fake-quant conv of the reference backend, against independent oracles. */
class IntegerOpsTest {
    private final Backend ref = RefBackend.INSTANCE;

    private static byte[] randomCodes(SplittableRandom rnd, int n, int lo, int hi) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) rnd.nextInt(lo, hi + 1);
        }
        return b;
    }

    private static float[] asFloats(byte[] b, boolean unsigned) {
        float[] f = new float[b.length];
        for (int i = 0; i < b.length; i++) {
            f[i] = unsigned ? b[i] & 0xFF : b[i];
        }
        return f;
    }

    /** Integer conv equals the float conv of the same codes: exact, since every partial sum is below 2^24. */
    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3, 4, 5, 6})
    void conv2dIntMatchesFloatConvOfCodes(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int groups = rnd.nextBoolean() ? 1 : 3;
        int cin = 3 * rnd.nextInt(1, 4), cout = groups * rnd.nextInt(1, 4);
        int k = rnd.nextInt(1, 4), stride = rnd.nextInt(1, 3), pad = rnd.nextInt(0, k);
        int h = rnd.nextInt(k, 12), w = rnd.nextInt(k, 12), n = rnd.nextInt(1, 3);
        boolean unsigned = rnd.nextBoolean();
        ConvParams p = ConvParams.of(stride, pad, groups);
        int[] xs = {n, cin, h, w}, ws = {cout, cin / groups, k, k};
        byte[] xb = unsigned ? randomCodes(rnd, n * cin * h * w, -128, 127) : randomCodes(rnd, n * cin * h * w, -128, 127);
        byte[] wb = randomCodes(rnd, cout * (cin / groups) * k * k, -128, 127);
        try (Tensor x = ref.fromBytes(xb, unsigned ? DType.UINT8 : DType.INT8, xs);
             Tensor wt = ref.fromBytes(wb, DType.INT8, ws);
             Tensor acc = ref.conv2dInt(x, wt, p)) {
            float[] expected = RefKernels.conv2d(asFloats(xb, unsigned), xs, asFloats(wb, false), ws, null, p);
            int[] got = acc.toIntArray();
            assertEquals(DType.INT32, acc.dtype());
            for (int i = 0; i < got.length; i++) {
                assertEquals((int) expected[i], got[i], "seed " + seed + " index " + i);
            }
        }
    }

    @Test
    void gemmIntExtremeCodes() {
        // a = [[-128, 127], [1, -1]], b = [[255, 0], [255, 1]] (UINT8)
        try (Tensor a = ref.fromBytes(new byte[] {-128, 127, 1, -1}, DType.INT8, 2, 2);
             Tensor b = ref.fromBytes(new byte[] {(byte) 255, 0, (byte) 255, 1}, DType.UINT8, 2, 2);
             Tensor c = ref.gemmInt(a, b)) {
            assertArrayEquals(new int[] {-128 * 255 + 127 * 255, 127, 255 - 255, -1}, c.toIntArray());
        }
    }

    /** The oracle of requantization: exact rational arithmetic with BigDecimal. */
    private static long oracle(long acc, long mult, int shift, long bias, Rounding r) {
        BigDecimal v = BigDecimal.valueOf(acc * mult + bias).divide(BigDecimal.valueOf(1L << shift));
        return switch (r) {
            case HALF_EVEN -> v.setScale(0, RoundingMode.HALF_EVEN).longValueExact();
            case HALF_AWAY_FROM_ZERO -> v.setScale(0, RoundingMode.HALF_UP).longValueExact();
            case HALF_UP -> v.add(new BigDecimal("0.5")).setScale(0, RoundingMode.FLOOR).longValueExact();
            case TOWARD_ZERO -> v.setScale(0, RoundingMode.DOWN).longValueExact();
            case FLOOR -> v.setScale(0, RoundingMode.FLOOR).longValueExact();
        };
    }

    @ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.EnumSource(Rounding.class)
    void requantizePerChannelMatchesExactArithmetic(Rounding rounding) {
        SplittableRandom rnd = new SplittableRandom(42 + rounding.ordinal());
        int n = 3, c = 5, hw = 7;
        int[] acc = new int[n * c * hw];
        for (int i = 0; i < acc.length; i++) {
            // Include extremes, ties (multiples of a half step) and ordinary values.
            acc[i] = switch (i % 4) {
                case 0 -> rnd.nextInt();
                case 1 -> rnd.nextInt(-5000, 5000);
                case 2 -> 8 * rnd.nextInt(-100, 100) + 4;
                default -> i % 8 == 3 ? Integer.MIN_VALUE : Integer.MAX_VALUE;
            };
        }
        int[] mult = new int[c], shift = new int[c], bias = new int[c];
        for (int ch = 0; ch < c; ch++) {
            mult[ch] = ch == 0 ? 1 : rnd.nextInt(1, Integer.MAX_VALUE);
            shift[ch] = ch == 0 ? 3 : rnd.nextInt(0, 63);
            bias[ch] = rnd.nextInt();
        }
        try (Tensor a = ref.fromInts(acc, n, c, hw);
             Tensor m = ref.fromInts(mult, c);
             Tensor s = ref.fromInts(shift, c);
             Tensor b = ref.fromInts(bias, c);
             Tensor y = ref.requantize(a, m, s, b, rounding, -127, 127, DType.INT8)) {
            byte[] got = y.toByteArray();
            for (int i = 0; i < acc.length; i++) {
                int ch = (i / hw) % c;
                long e = Math.max(-127, Math.min(127, oracle(acc[i], mult[ch], shift[ch], bias[ch], rounding)));
                assertEquals(e, got[i], "index " + i + " acc " + acc[i] + " channel " + ch);
            }
        }
    }

    @Test
    void requantizeUnsignedOutputAndPerTensorParams() {
        try (Tensor a = ref.fromInts(new int[] {-50, 0, 100, 1000, 3}, 5);
             Tensor m = ref.fromInts(new int[] {1}, 1);
             Tensor s = ref.fromInts(new int[] {1}, 1);
             Tensor y = ref.requantize(a, m, s, null, Rounding.HALF_EVEN, 0, 255, DType.UINT8)) {
            byte[] b = y.toByteArray();
            int[] u = new int[b.length];
            for (int i = 0; i < b.length; i++) {
                u[i] = b[i] & 0xFF;
            }
            assertArrayEquals(new int[] {0, 0, 50, 255, 2}, u, "1.5 -> 2 (half even), clamp to [0, 255]");
        }
    }

}
