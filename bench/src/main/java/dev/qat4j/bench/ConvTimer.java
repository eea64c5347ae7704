package dev.qat4j.bench;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.backend.ConvParams;
import dev.qat4j.backend.cuda.CudaBackend;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Tensor;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * Wall-clock timer of ResNet20's 3x3 convolutions at batch 128 on one backend: float conv2d and its two backward
 * convs (data, weights), the forward conv of quantized operands as a training step runs it (actQuant output x
 * weightQuant output: on the cpu backend an int8 conv of their codes, see CpuBackend), the fused fake-quant conv
 * (8-bit mPACT activations and DoReFa weights, codes multiplied exactly in int8) and the plain int8 conv of codes
 * (uint8 x int8 -> int32). Medians of 30 calls after 5, synchronised per call on cuda.
 *
 * <pre>java -cp ... dev.qat4j.bench.ConvTimer [--backend cuda]</pre>
 * Output: {@code CONV <C>@<H> <backend> <op> median_ms <m> gops <2*MACs/time>}.
 */
public final class ConvTimer {
    private ConvTimer() {
    }

    public static void main(String[] args) {
        Backend b = Backends.byName(args.length >= 2 && args[0].equals("--backend") ? args[1] : "cuda");
        System.out.println("backend " + b.name() + ": " + b.description());
        SplittableRandom r = new SplittableRandom(3);
        int n = 128;
        for (int[] layer : new int[][] {{16, 32}, {32, 16}, {64, 8}}) {
            int c = layer[0], hw = layer[1];
            int[] xs = {n, c, hw, hw}, ws = {c, c, 3, 3};
            ConvParams p = new ConvParams(1, 1, 1, 1, 1);
            double macs = (double) n * c * c * 9 * hw * hw;
            float[] x = new float[n * c * hw * hw], w = new float[c * c * 9];
            byte[] xb = new byte[x.length], wb = new byte[w.length];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextGaussian();
                xb[i] = (byte) r.nextInt(256);
            }
            for (int i = 0; i < w.length; i++) {
                w[i] = (float) (r.nextGaussian() * 0.1);
                wb[i] = (byte) r.nextInt(-127, 128);
            }
            try (Tensor xt = b.fromFloats(x, xs); Tensor wt = b.fromFloats(w, ws);
                 Tensor xq = b.fromBytes(xb, DType.UINT8, xs); Tensor wq = b.fromBytes(wb, DType.INT8, ws);
                 Tensor alpha = b.fromFloats(new float[] {3f}, 1);
                 Tensor xa = b.actQuant(xt, ActQuantizer.pact(8), alpha); Tensor wa = b.weightQuant(wt, 8);
                 Tensor dy = b.conv2d(xt, wt, null, p)) {
                String tag = c + "@" + hw;
                time(b, tag, "conv2d_f32", macs, () -> b.conv2d(xt, wt, null, p));
                time(b, tag, "conv2d_bwd_data_f32", macs, () -> b.conv2dBackwardData(dy, wt, xs, p));
                time(b, tag, "conv2d_bwd_weight_f32", macs, () -> b.conv2dBackwardWeight(dy, xt, ws, p));
                time(b, tag, "conv2d_quantized_operands", macs, () -> b.conv2d(xa, wa, null, p));

                time(b, tag, "conv2d_int8", macs, () -> b.conv2dInt(xq, wq, p));
            }
        }
    }

    private static void time(Backend b, String tag, String op, double macs, Supplier<Tensor> call) {
        double[] ms = new double[30];
        for (int i = -5; i < ms.length; i++) {
            long t0 = System.nanoTime();
            try (Tensor y = call.get()) {
                if (b instanceof CudaBackend c) {
                    c.synchronize();
                }
            }
            if (i >= 0) {
                ms[i] = (System.nanoTime() - t0) / 1e6;
            }
        }
        Arrays.sort(ms);
        double med = ms[ms.length / 2];
        System.out.printf(Locale.ROOT, "CONV %s %s %s median_ms %.3f gops %.0f%n", tag, b.name(), op, med,
                2 * macs / (med * 1e6));
    }
}
