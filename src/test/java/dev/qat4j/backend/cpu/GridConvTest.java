package dev.qat4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.ConvParams;
import dev.qat4j.backend.TensorScope;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.QuantGrid;
import dev.qat4j.tensor.Tensor;
import dev.qat4j.tensor.internal.TensorInternals;
import java.util.SplittableRandom;
import java.util.stream.LongStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The cpu forward conv of two quantized tensors (actQuant output x weightQuant output) runs on their codes: an exact
 * int8 conv scaled once. Checked three ways on random geometries: (1) bit-exact against the exact integer conv of
 * the codes (the reference's conv2dInt) times step_x * step_w plus bias, which the float path would not match;
 * (2) within the float error bound of the reference's float conv of the same values; (3) a NaN among the values
 * takes the float path and comes out as NaN, as in the reference.
 */
class GridConvTest {
    private static final RefBackend REF = RefBackend.INSTANCE;
    private static final float U = 0x1p-24f;

    static LongStream seeds() {
        return LongStream.range(0, 24);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void quantizedOperandsConvolveExactlyOnTheirCodes(long seed) {
        CpuBackend cpu = CpuBackend.get();
        assumeTrue(cpu.isaName().equals("avx512vnni"), "the grid conv runs with VNNI only");
        SplittableRandom r = new SplittableRandom(seed);
        ActQuantizer q = switch ((int) (seed % 3)) {
            case 0 -> ActQuantizer.pact(8);
            case 1 -> ActQuantizer.mpact(8);
            default -> ActQuantizer.pact(4);
        };
        int wbits = seed % 4 == 3 ? 4 : 8;
        int groups = seed % 5 == 4 ? 2 : 1, k = new int[] {1, 3, 5}[r.nextInt(3)];
        int cin = groups * (1 + r.nextInt(17)), cout = groups * (1 + r.nextInt(20));
        int n = 1 + r.nextInt(5), h = k + r.nextInt(12), w = k + r.nextInt(12);
        ConvParams p = new ConvParams(1 + r.nextInt(2), 1 + r.nextInt(2), r.nextInt(3), r.nextInt(3), groups);
        int[] xs = {n, cin, h, w}, ws = {cout, cin / groups, k, k};
        float[] x = new float[n * cin * h * w], wt = new float[ws[0] * ws[1] * k * k], bias = new float[cout];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (r.nextGaussian() * 2);
        }
        for (int i = 0; i < wt.length; i++) {
            wt[i] = (float) (r.nextGaussian() * 0.3);
        }
        for (int i = 0; i < bias.length; i++) {
            bias[i] = (float) r.nextGaussian();
        }
        String ctx = "seed " + seed + " " + q + " w" + wbits + " x" + java.util.Arrays.toString(xs) + " w"
                + java.util.Arrays.toString(ws) + " " + p;
        try (TensorScope s = new TensorScope()) {
            Tensor alpha = s.track(cpu.fromFloats(new float[] {2.5f}, 1));
            Tensor xq = s.track(cpu.actQuant(s.track(cpu.fromFloats(x, xs)), q, alpha));
            Tensor wq = s.track(cpu.weightQuant(s.track(cpu.fromFloats(wt, ws)), wbits));
            QuantGrid gx = xq.quantGrid(), gw = wq.quantGrid();
            assertNotNull(gx, "actQuant marks its grid");
            assertNotNull(gw, "weightQuant marks its grid");
            float[] xv = xq.toFloatArray(), wv = wq.toFloatArray();
            float[] y = s.track(cpu.conv2d(xq, wq, s.track(cpu.fromFloats(bias, cout)), p)).toFloatArray();

            // (1) exact: the integer conv of the codes, one float multiply, one float add
            byte[] xc = codes(xv, gx.step()), wc = codes(wv, gw.step());
            int[] acc = s.track(REF.conv2dInt(s.track(REF.fromBytes(xc, gx.fitsUint8() ? DType.UINT8 : DType.INT8, xs)),
                    s.track(REF.fromBytes(wc, DType.INT8, ws)), p)).toIntArray();
            int plane = y.length / (n * cout);
            float scale = gx.step() * gw.step();
            for (int i = 0; i < y.length; i++) {
                float want = (float) acc[i] * scale + bias[i / plane % cout];
                assertEquals(want, y[i], 0f, ctx + " at " + i);
            }
            // (2) the reference's float conv of the same values, within the bound of a float sum of k terms plus the
            // few ulp by which each value differs from code * step
            float[] yr = s.track(REF.conv2d(s.track(REF.fromFloats(xv, xs)), s.track(REF.fromFloats(wv, ws)),
                    s.track(REF.fromFloats(bias, cout)), p)).toFloatArray();
            float[] mag = s.track(REF.conv2d(s.track(REF.fromFloats(abs(xv), xs)), s.track(REF.fromFloats(abs(wv), ws)),
                    null, p)).toFloatArray();
            long terms = (long) ws[1] * k * k + 1;
            for (int i = 0; i < y.length; i++) {
                float bound = (terms + 8) * U * (mag[i] + Math.abs(bias[i / plane % cout])) + Float.MIN_NORMAL;
                assertTrue(Math.abs(y[i] - yr[i]) <= bound, ctx + " at " + i + ": " + y[i] + " vs " + yr[i]);
            }
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void aValueOffItsGridTakesTheFloatPath(long seed) {
        CpuBackend cpu = CpuBackend.get();
        SplittableRandom r = new SplittableRandom(seed);
        int[] xs = {2, 3, 6, 6}, ws = {4, 3, 3, 3};
        float[] x = new float[2 * 3 * 36], wt = new float[4 * 27];
        for (int i = 0; i < x.length; i++) {
            x[i] = r.nextInt(0, 256) * 0.01f;
        }
        for (int i = 0; i < wt.length; i++) {
            wt[i] = r.nextInt(-127, 128) / 127f;
        }
        int poisoned = r.nextInt(x.length);
        x[poisoned] = seed % 2 == 0 ? Float.NaN : Float.POSITIVE_INFINITY;
        ConvParams p = ConvParams.of(1, 1);
        try (TensorScope s = new TensorScope()) {
            Tensor xt = s.track(cpu.fromFloats(x, xs)), wt8 = s.track(cpu.fromFloats(wt, ws));
            TensorInternals.markQuantGrid(xt, new QuantGrid(0.01f, 0, 255));
            TensorInternals.markQuantGrid(wt8, new QuantGrid(1f / 127, -127, 127));
            float[] y = s.track(cpu.conv2d(xt, wt8, null, p)).toFloatArray();
            float[] yr = s.track(REF.conv2d(s.track(REF.fromFloats(x, xs)), s.track(REF.fromFloats(wt, ws)), null, p))
                    .toFloatArray();
            for (int i = 0; i < y.length; i++) {
                assertEquals(Float.isNaN(yr[i]), Float.isNaN(y[i]), "NaN pattern at " + i);
                assertEquals(Float.isInfinite(yr[i]), Float.isInfinite(y[i]), "inf pattern at " + i);
            }
            assertNull(s.track(xt.reshape(2, 3 * 36)).quantGrid(), "views do not inherit the grid");
        }
    }

    private static byte[] codes(float[] v, float step) {
        byte[] c = new byte[v.length];
        for (int i = 0; i < v.length; i++) {
            c[i] = (byte) Math.rint(v[i] / (double) step);
        }
        return c;
    }

    private static float[] abs(float[] v) {
        float[] a = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            a[i] = Math.abs(v[i]);
        }
        return a;
    }
}
