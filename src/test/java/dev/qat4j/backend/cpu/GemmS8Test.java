package dev.qat4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.IntPointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * qat4j_gemm_s8_s32 (C[M,N] int32 = A[M,K] int8 x B[K,N] uint8 or int8) against a plain Java triple loop, exactly,
 * on every ISA level the CPU has. Shapes break the register tiles (AVX-512 VNNI 4 x 64 in groups of 4 along K,
 * AVX2 4 x 16 in pairs along K); values include the extremes (A -128/127, unsigned B 0/255, signed B -128/127), where
 * a saturating or sign-confused kernel would differ. Seed: -Dqat4j.gemm.seed=N (printed on every failure).
 */
class GemmS8Test {
    private static final int[] MS = {1, 2, 7, 8, 9, 16, 17, 64};
    private static final int[] NS = {1, 3, 15, 16, 17, 31, 32, 33, 100};
    private static final int[] KS = {1, 2, 3, 4, 5, 27, 144, 145};
    private static final long SEED = Long.getLong("qat4j.gemm.seed", 20260101L);
    /** Shapes sampled from MS x NS x KS (every value of each list appears at least once). */
    private static final int SAMPLED_SHAPES = 96;

    /** How the operands are filled. */
    enum Fill { RANDOM, EXTREMES, MIXED }

    static Stream<Arguments> shapes() {
        SplittableRandom rnd = new SplittableRandom(SEED);
        List<Arguments> out = new ArrayList<>();
        for (int i = 0; i < SAMPLED_SHAPES; i++) {
            // The first max(len) shapes walk each list once; the rest are uniform samples.
            int m = i < 9 ? MS[i % MS.length] : MS[rnd.nextInt(MS.length)];
            int n = i < 9 ? NS[(i * 4) % NS.length] : NS[rnd.nextInt(NS.length)];
            int k = i < 9 ? KS[(i * 3) % KS.length] : KS[rnd.nextInt(KS.length)];
            out.add(Arguments.of(m, n, k, i % 2 == 1, Fill.values()[(i / 2) % 3]));
        }
        // Larger shapes take the multi-threaded paths: several column blocks, a partial last panel, and (N narrow,
        // M large) row chunks of A split across threads.
        out.add(Arguments.of(64, 33, 577, false, Fill.MIXED));
        out.add(Arguments.of(64, 33, 577, true, Fill.MIXED));
        out.add(Arguments.of(33, 1000, 145, true, Fill.RANDOM));
        out.add(Arguments.of(17, 4099, 288, false, Fill.RANDOM));
        out.add(Arguments.of(16, 9001, 27, true, Fill.EXTREMES));
        return out.stream();
    }

    private static byte[] fill(SplittableRandom rnd, int len, Fill fill, int lo, int hi) {
        byte[] b = new byte[len];
        for (int i = 0; i < len; i++) {
            boolean extreme = fill == Fill.EXTREMES || (fill == Fill.MIXED && rnd.nextInt(3) == 0);
            b[i] = (byte) (extreme ? (rnd.nextBoolean() ? lo : hi) : rnd.nextInt(lo, hi + 1));
        }
        return b;
    }

    /** The oracle: a plain triple loop in long arithmetic. */
    private static int[] reference(int m, int n, int k, byte[] a, byte[] b, boolean bSigned) {
        int[] c = new int[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                long acc = 0;
                for (int p = 0; p < k; p++) {
                    int bv = bSigned ? b[p * n + j] : b[p * n + j] & 0xFF;
                    acc += (long) a[i * k + p] * bv;
                }
                c[i * n + j] = Math.toIntExact(acc);
            }
        }
        return c;
    }

    private static int[] nativeGemm(int m, int n, int k, byte[] a, byte[] b, boolean bSigned, int isa) {
        try (BytePointer pa = new BytePointer(Math.max(1, a.length));
             BytePointer pb = new BytePointer(Math.max(1, b.length));
             IntPointer pc = new IntPointer((long) m * n)) {
            pa.put(a);
            pb.put(b);
            int[] poison = new int[m * n];
            java.util.Arrays.fill(poison, 0x5A5A5A5A); // every element must be overwritten
            pc.put(poison);
            NativeKernels.qat4j_gemm_s8_s32(m, n, k, pa, pb, bSigned ? 1 : 0, pc, isa);
            int[] c = new int[m * n];
            pc.get(c);
            return c;
        }
    }

    private static void assertSame(int[] expected, int[] got, String what) {
        assertEquals(expected.length, got.length, what);
        for (int i = 0; i < expected.length; i++) {
            if (expected[i] != got[i]) {
                throw new AssertionError(what + ": index " + i + " expected " + expected[i] + " got " + got[i]);
            }
        }
    }

    @ParameterizedTest(name = "M={0} N={1} K={2} bSigned={3} {4}")
    @MethodSource("shapes")
    void matchesTripleLoopOnEveryIsa(int m, int n, int k, boolean bSigned, Fill fill) {
        long seed = SEED ^ (m * 1_000_003L + n * 10_007L + k * 101L + (bSigned ? 1 : 0) + fill.ordinal() * 7L);
        SplittableRandom rnd = new SplittableRandom(seed);
        byte[] a = fill(rnd, m * k, fill, -128, 127);
        byte[] b = bSigned ? fill(rnd, k * n, fill, -128, 127) : fill(rnd, k * n, fill, 0, 255);
        int[] expected = reference(m, n, k, a, b, bSigned);
        for (int isa = 0; isa <= NativeKernels.qat4j_cpu_max_isa(); isa++) {
            int[] got = nativeGemm(m, n, k, a, b, bSigned, isa);
            assertSame(expected, got, "seed " + SEED + " (case seed " + seed + "), ISA "
                    + NativeKernels.qat4j_isa_name(isa) + ", M=" + m + " N=" + n + " K=" + k + " bSigned=" + bSigned
                    + " " + fill);
        }
    }

    /** All operands at one extreme: the largest |sums|, every product the same sign. */
    @Test
    void uniformExtremesOnEveryIsa() {
        int m = 9, n = 33, k = 145;
        byte[][] aValues = {{-128}, {127}};
        int[][] bValues = {{0, 0}, {255, 0}, {-128, 1}, {127, 1}}; // {value, signed}
        for (byte[] av : aValues) {
            for (int[] bv : bValues) {
                byte[] a = new byte[m * k];
                byte[] b = new byte[k * n];
                java.util.Arrays.fill(a, av[0]);
                java.util.Arrays.fill(b, (byte) bv[0]);
                boolean bSigned = bv[1] == 1;
                int[] expected = reference(m, n, k, a, b, bSigned);
                assertEquals((long) av[0] * bv[0] * k, expected[0]);
                for (int isa = 0; isa <= NativeKernels.qat4j_cpu_max_isa(); isa++) {
                    assertSame(expected, nativeGemm(m, n, k, a, b, bSigned, isa), "A=" + av[0] + " B=" + bv[0]
                            + " bSigned=" + bSigned + " ISA " + NativeKernels.qat4j_isa_name(isa));
                }
            }
        }
    }

    /** QAT4J_ISA_AUTO (-1) runs the active level; K = 0 gives zeros; M or N = 0 touches nothing. */
    @Test
    void autoIsaAndEmptyShapes() {
        SplittableRandom rnd = new SplittableRandom(SEED + 1);
        int m = 17, n = 100, k = 145;
        byte[] a = fill(rnd, m * k, Fill.MIXED, -128, 127);
        byte[] b = fill(rnd, k * n, Fill.MIXED, 0, 255);
        assertSame(reference(m, n, k, a, b, false), nativeGemm(m, n, k, a, b, false, -1), "seed " + SEED + " AUTO");

        int[] zeros = nativeGemm(3, 5, 0, new byte[0], new byte[0], false, -1);
        for (int v : zeros) {
            assertEquals(0, v, "K = 0 is an empty sum");
        }
        try (BytePointer pa = new BytePointer(1); BytePointer pb = new BytePointer(1); IntPointer pc = new IntPointer(1)) {
            pc.put(0, 42);
            NativeKernels.qat4j_gemm_s8_s32(0, 5, 3, pa, pb, 0, pc, -1);
            NativeKernels.qat4j_gemm_s8_s32(5, 0, 3, pa, pb, 1, pc, -1);
            assertEquals(42, pc.get(0), "an empty C is not written");
        }
        assertTrue(NativeKernels.qat4j_cpu_max_isa() >= 0);
    }
}
