package dev.qat4j.bench;

import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.backend.cpu.NativeKernels;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.openblas.global.openblas;
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
 * The exact int8 GEMM (qat4j_gemm_s8_s32: C[M,N] int32 = W[M,K] int8 x col[K,N] uint8) at each ISA level, against
 * OpenBLAS sgemm on the same M, N, K in float, at the six ResNet20 im2col shapes of a batch of 128
 * (N = 128 * OH * OW): the stem (16, 27, 131072) and the 3x3 convs of the three stages (K = 9 * Cin). A plain Java
 * loop runs on the smallest shape only ({@link #javaLoop}). GOPS = 2 * M * N * K / time (one multiply-add = 2 ops).
 *
 * <p>Settings: 1 fork, 3 warm-up and 5 measured iterations of 1 s (the README's runs use the same on the command
 * line: {@code -f 1 -wi 3 -i 5}). A call takes 0.3-50 ms (the Java loop ~100 ms), so an iteration holds from ten to
 * thousands of calls; on this shared, noisy 2-core host the spread between iterations dominates any JIT effect, and
 * quoting the mean of 5 iterations with ratios taken within one run is what is meaningful. Native threads:
 * OMP_NUM_THREADS (1 or 2), for the OpenMP kernels and, set explicitly in setup, for OpenBLAS too. Every result is
 * checked once in setup, on sampled entries against Java dot products, before anything is timed.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class GemmS8Benchmark {

    /** Operands of one shape in Java arrays, with an exact dot product for the checks. */
    static final class Operands {
        final int m, k, n;
        final byte[] a; // int8 weights [M,K]
        final byte[] b; // uint8 codes [K,N]

        Operands(String shape) {
            String[] p = shape.split("x");
            m = Integer.parseInt(p[0]);
            k = Integer.parseInt(p[1]);
            n = Integer.parseInt(p[2]);
            SplittableRandom r = new SplittableRandom(7);
            a = new byte[m * k];
            b = new byte[k * n];
            for (int i = 0; i < a.length; i++) {
                a[i] = (byte) r.nextInt(-128, 128);
            }
            for (int i = 0; i < b.length; i++) {
                b[i] = (byte) r.nextInt(0, 256);
            }
        }

        long dot(int row, int col) {
            long s = 0;
            for (int p = 0; p < k; p++) {
                s += (long) a[row * k + p] * (b[p * n + col] & 0xFF);
            }
            return s;
        }

        /** Sampled entries (corners, the last row and column, random ones) against {@link #dot}. */
        void check(String impl, java.util.function.IntBinaryOperator got) {
            SplittableRandom r = new SplittableRandom(11);
            for (int i = 0; i < 4096; i++) {
                int row = i < 64 ? (i % 2 == 0 ? m - 1 : i % m) : r.nextInt(m);
                int col = i < 64 ? (i % 2 == 0 ? i % n : n - 1 - i) : r.nextInt(n);
                long want = dot(row, col);
                int have = got.applyAsInt(row, col);
                if (have != want) {
                    throw new IllegalStateException(impl + " " + m + "x" + k + "x" + n + ": C[" + row + "," + col
                            + "] = " + have + ", expected " + want);
                }
            }
        }
    }

    @State(Scope.Thread)
    public static class Gemm {
        /** M x K x N. */
        @Param({"16x27x131072", "16x144x131072", "32x144x32768", "32x288x32768", "64x288x8192", "64x576x8192"})
        public String shape;

        /** An ISA level of qat4j_gemm_s8_s32 (scalar, avx2, avx512vnni; avx512f runs the avx2 GEMM), or OpenBLAS sgemm. */
        @Param({"scalar", "avx2", "avx512vnni", "sgemm"})
        public String impl;

        int m, k, n, isa = -1;
        BytePointer a, b;
        IntPointer c;
        FloatPointer af, bf, cf;

        @Setup(Level.Trial)
        public void setup() {
            CpuBackend.get(); // sets OpenMP's thread count from OMP_NUM_THREADS / QAT4J_THREADS
            Operands ops = new Operands(shape);
            m = ops.m;
            k = ops.k;
            n = ops.n;
            if (impl.equals("sgemm")) {
                float[] fa = new float[ops.a.length], fb = new float[ops.b.length];
                for (int i = 0; i < fa.length; i++) {
                    fa[i] = ops.a[i];
                }
                for (int i = 0; i < fb.length; i++) {
                    fb[i] = ops.b[i] & 0xFF;
                }
                // sgemm gets as many threads as the int8 kernels, whatever the backend's own OpenBLAS policy is.
                openblas.blas_set_num_threads(NativeKernels.qat4j_num_threads());
                af = new FloatPointer(fa);
                bf = new FloatPointer(fb);
                cf = new FloatPointer((long) m * n);
                run();
                // Integer-valued products and partial sums far below 2^24 here: sgemm is exact on these operands.
                ops.check("sgemm", (row, col) -> (int) cf.get((long) row * n + col));
                return;
            }
            for (int level : CpuBackend.availableIsaLevels()) {
                if (CpuBackend.isaName(level).equals(impl)) {
                    isa = level;
                }
            }
            if (isa < 0) {
                throw new IllegalStateException("ISA " + impl + " is not available on this CPU");
            }
            a = new BytePointer(ops.a);
            b = new BytePointer(ops.b);
            c = new IntPointer((long) m * n);
            run();
            ops.check(impl, (row, col) -> c.get((long) row * n + col));
        }

        void run() {
            if (isa >= 0) {
                int status = NativeKernels.qat4j_gemm_s8_s32(m, n, k, a, b, 0, c, isa);
                if (status != 0) {
                    throw new IllegalStateException("qat4j_gemm_s8_s32 returned status " + status);
                }
            } else {
                openblas.cblas_sgemm(openblas.CblasRowMajor, openblas.CblasNoTrans, openblas.CblasNoTrans, m, n, k,
                        1f, af, k, bf, n, 0f, cf, n);
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            for (org.bytedeco.javacpp.Pointer p : new org.bytedeco.javacpp.Pointer[] {a, b, c, af, bf, cf}) {
                if (p != null) {
                    p.close();
                }
            }
        }
    }

    /** The plain Java loop, on the smallest shape only (M=16, K=27, N=131072): ~100x slower than the kernels. */
    @State(Scope.Thread)
    public static class JavaLoop {
        Operands ops;
        int[] c;

        @Setup(Level.Trial)
        public void setup() {
            ops = new Operands("16x27x131072");
            c = new int[ops.m * ops.n];
            run();
            ops.check("java", (row, col) -> c[row * ops.n + col]);
        }

        /** i-k-j order: the inner loop runs along a row of B and of C (the JIT vectorises it). */
        void run() {
            final int m = ops.m, k = ops.k, n = ops.n;
            final byte[] a = ops.a, b = ops.b;
            java.util.Arrays.fill(c, 0);
            for (int i = 0; i < m; i++) {
                final int ci = i * n;
                for (int p = 0; p < k; p++) {
                    final int av = a[i * k + p];
                    final int bp = p * n;
                    for (int j = 0; j < n; j++) {
                        c[ci + j] += av * (b[bp + j] & 0xFF);
                    }
                }
            }
        }
    }

    @Benchmark
    public void gemm(Gemm s) {
        s.run();
    }

    @Benchmark
    public int[] javaLoop(JavaLoop s) {
        s.run();
        return s.c;
    }
}
