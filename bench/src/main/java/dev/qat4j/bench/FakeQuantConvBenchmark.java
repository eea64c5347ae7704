package dev.qat4j.bench;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.ConvParams;
import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.tensor.Tensor;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Fused fake-quant conv forward (8-bit mPACT activations, 8-bit DoReFa weights, exact int8 GEMM) vs the same conv in
 * plain float (im2col + OpenBLAS sgemm) on the cpu backend, at ResNet20's three 3x3 layer shapes, batch 128.
 * GOPS = 2 * N * Cout * OH * OW * Cin * 9 / time.
 *
 * <p>Settings: 1 fork, 3 warm-up and 5 measured iterations of 2 s: each call takes 5-100 ms, so an iteration holds
 * tens of calls; the spread on this shared 2-core host dominates JIT effects.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@State(Scope.Thread)
public class FakeQuantConvBenchmark {
    /** Cin = Cout and H = W of the layer: 16@32x32, 32@16x16, 64@8x8. */
    @Param({"16x32", "32x16", "64x8"})
    public String layer;

    private final Backend cpu = CpuBackend.get();
    private final ConvParams p = ConvParams.of(1, 1);
    private final ActQuantizer xq = ActQuantizer.mpact(8);
    private Tensor x;
    private Tensor w;
    private Tensor alpha;

    @Setup(Level.Trial)
    public void setup() {
        String[] parts = layer.split("x");
        int c = Integer.parseInt(parts[0]), hw = Integer.parseInt(parts[1]);
        SplittableRandom r = new SplittableRandom(3);
        float[] xd = new float[128 * c * hw * hw], wd = new float[c * c * 9];
        for (int i = 0; i < xd.length; i++) {
            xd[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < wd.length; i++) {
            wd[i] = (float) r.nextGaussian() * 0.2f;
        }
        x = cpu.fromFloats(xd, 128, c, hw, hw);
        w = cpu.fromFloats(wd, c, c, 3, 3);
        alpha = cpu.fromFloats(new float[] {3f}, 1);
        // Check once before timing: the fused conv equals the reference's on a slice of the batch.
        float[] slice = java.util.Arrays.copyOf(xd, 2 * c * hw * hw);
        RefBackend ref = RefBackend.INSTANCE;
        try (Tensor xs = cpu.fromFloats(slice, 2, c, hw, hw);
             Tensor xr = ref.fromFloats(slice, 2, c, hw, hw);
             Tensor wr = ref.fromFloats(wd, c, c, 3, 3);
             Tensor ar = ref.fromFloats(new float[] {3f}, 1);
             Tensor yc = cpu.fakeQuantConv2d(xs, w, xq, alpha, 8, p);
             Tensor yr = ref.fakeQuantConv2d(xr, wr, xq, ar, 8, p)) {
            if (!java.util.Arrays.equals(yc.toFloatArray(), yr.toFloatArray())) {
                throw new IllegalStateException("fused fake-quant conv differs from the reference");
            }
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        x.close();
        w.close();
        alpha.close();
    }

    @Benchmark
    public Tensor fakeQuantConvInt8() {
        Tensor y = cpu.fakeQuantConv2d(x, w, xq, alpha, 8, p);
        y.close();
        return y;
    }

    @Benchmark
    public Tensor floatConv() {
        Tensor y = cpu.conv2d(x, w, null, p);
        y.close();
        return y;
    }
}
