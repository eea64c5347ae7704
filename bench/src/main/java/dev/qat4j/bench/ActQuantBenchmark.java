package dev.qat4j.bench;

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
 * Fake-quant forward on a [128,16,32,32] float tensor (8 MiB in, 8 MiB out), the shape of {@code anchors.md}
 * where libtorch's fake_quantize_per_tensor_affine takes 6.2 ms on one thread. GB/s = 16.78 MB / time. And the two
 * backward passes of a quantized step over the same tensor: {@code actQuantBackward} (x and dy in, dx out, plus the
 * α-gradient sum) and {@code clampBackward} (ReLU6's: x and dy in, dx out): GB/s = 25.17 MB / time.
 *
 * <p>Settings: 1 fork (the kernel is deterministic; variance here comes from the shared host, not the JIT),
 * 5 warm-up and 10 measured iterations of 1 s, each several hundred calls: enough for a stable median on a
 * noisy 2-core machine. Threads of the native kernels: OMP_NUM_THREADS (1 or 2 in the README's runs).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 10, time = 1)
@Fork(1)
@State(Scope.Thread)
public class ActQuantBenchmark {
    static final int[] SHAPE = {128, 16, 32, 32};

    /** Which implementation: the Java reference, or a native ISA level (scalar, avx2, avx512f, avx512vnni). */
    @Param({"ref", "scalar", "avx512vnni"})
    public String impl;

    @Param({"PACT", "MPACT"})
    public String kind;

    private final ActQuantizer q8(String k) {
        return new ActQuantizer(ActQuantizer.Kind.valueOf(k), 8, 0f);
    }

    private ActQuantizer quantizer;
    private Tensor x;
    private Tensor dy;
    private Tensor alpha;
    private int isaLevel = -1;

    @Setup(Level.Trial)
    public void setup() {
        quantizer = q8(kind);
        int n = 128 * 16 * 32 * 32;
        float[] data = new float[n];
        SplittableRandom rnd = new SplittableRandom(1);
        for (int i = 0; i < n; i++) {
            data[i] = (float) rnd.nextGaussian() * 3f;
        }
        float[] grad = new float[n];
        for (int i = 0; i < n; i++) {
            grad[i] = (float) rnd.nextGaussian();
        }
        if (impl.equals("ref")) {
            x = RefBackend.INSTANCE.fromFloats(data, SHAPE);
            dy = RefBackend.INSTANCE.fromFloats(grad, SHAPE);
            alpha = RefBackend.INSTANCE.fromFloats(new float[] {6f}, 1);
            return;
        }
        for (int level : CpuBackend.availableIsaLevels()) {
            if (CpuBackend.isaName(level).equals(impl)) {
                isaLevel = level;
            }
        }
        if (isaLevel < 0) {
            throw new IllegalStateException("ISA " + impl + " is not available on this CPU");
        }
        CpuBackend cpu = CpuBackend.forIsa(isaLevel);
        x = cpu.fromFloats(data, SHAPE);
        dy = cpu.fromFloats(grad, SHAPE);
        alpha = cpu.fromFloats(new float[] {6f}, 1);
        // Check the result once before timing: bit-identical to the reference.
        try (Tensor xr = RefBackend.INSTANCE.fromFloats(data, SHAPE);
             Tensor ar = RefBackend.INSTANCE.fromFloats(new float[] {6f}, 1);
             Tensor yr = RefBackend.INSTANCE.actQuant(xr, quantizer, ar);
             Tensor yc = cpu.actQuant(x, quantizer, alpha)) {
            if (!java.util.Arrays.equals(yr.toFloatArray(), yc.toFloatArray())) {
                throw new IllegalStateException("native actQuant differs from the reference");
            }
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        x.close();
        dy.close();
        alpha.close();
    }

    @Benchmark
    public Tensor actQuant() {
        Tensor y = isaLevel < 0
                ? RefBackend.INSTANCE.actQuant(x, quantizer, alpha)
                : CpuBackend.forIsa(isaLevel).actQuant(x, quantizer, alpha);
        y.close(); // free native memory now; the benchmark includes allocation, as a real op call does
        return y;
    }

    @Benchmark
    public float actQuantBackward() {
        var g = isaLevel < 0
                ? RefBackend.INSTANCE.actQuantBackward(dy, x, quantizer, alpha)
                : CpuBackend.forIsa(isaLevel).actQuantBackward(dy, x, quantizer, alpha);
        try (g) {
            return g.dalpha() == null ? 0f : 1f;
        }
    }

    @Benchmark
    public Tensor clampBackward() {
        Tensor dx = isaLevel < 0
                ? RefBackend.INSTANCE.relu6Backward(dy, x)
                : CpuBackend.forIsa(isaLevel).relu6Backward(dy, x);
        dx.close();
        return dx;
    }
}
