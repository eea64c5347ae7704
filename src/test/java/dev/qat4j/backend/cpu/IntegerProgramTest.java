package dev.qat4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.qat4j.backend.IntegerProgram;
import dev.qat4j.backend.IntegerProgram.Conv;
import dev.qat4j.backend.IntegerProgram.Epilogue;
import dev.qat4j.backend.IntegerProgram.Linear;
import dev.qat4j.backend.IntegerProgram.Requant;
import dev.qat4j.backend.IntegerProgram.Step;
import dev.qat4j.backend.IntegerProgram.SumPool;
import dev.qat4j.backend.IntegerProgram.Value;
import dev.qat4j.quant.Rounding;
import dev.qat4j.tensor.DType;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * The compiled integer program (src/main/cpp/int_program.cpp) against its reference twin
 * {@link IntegerProgram#interpret}: seeded random programs (every conv shape the VNNI conv has edge cases for, every
 * value type, residuals, every rounding, sum pools and a final linear step) must give the same int64 outputs bit for
 * bit, on one thread (each image on its own) and on three (images shared out, or one image's convs split when the
 * batch is smaller than the thread count). Plus the program's refusals, thread safety and closing.
 */
class IntegerProgramTest {
    private static final CpuBackend CPU = CpuBackend.get();

    private static boolean hasVnni() {
        return NativeKernels.qat4j_cpu_active_isa() >= CpuBackend.ISA_AVX512VNNI;
    }

    @Test
    void randomProgramsMatchTheReferenceBitForBit() {
        assumeTrue(hasVnni(), "the compiled program needs AVX-512 VNNI");
        int before = CPU.threads();
        long splitBefore = NativeKernels.qat4j_int_program_split_min_macs(-1);
        try {
            for (int seed = 0; seed < 60; seed++) {
                // even seeds: a batch below the thread count splits each conv over the threads; odd: one per image
                NativeKernels.qat4j_int_program_split_min_macs(seed % 2 == 0 ? 0 : Long.MAX_VALUE);
                SplittableRandom r = new SplittableRandom(1000 + seed);
                IntegerProgram p = randomProgram(r);
                try (IntegerProgram.Compiled c = CPU.compileIntegerProgram(p)) {
                    assertNotNull(c, "seed " + seed + ": not compiled");
                    for (int n : new int[] {1, 2, 5}) {
                        byte[] codes = randomCodes(r, p.values().get(0), n);
                        long[] want = p.interpret(codes, n);
                        for (int threads : new int[] {1, 3}) {
                            CpuBackend.setThreads(threads);
                            assertArrayEquals(want, c.run(codes, n), "seed " + seed + ", batch " + n + ", "
                                    + threads + " threads: " + describe(p));
                        }
                        assertEquals(p.steps().size(), c.stepNanos(codes, n).length);
                    }
                }
            }
        } finally {
            CpuBackend.setThreads(before);
            NativeKernels.qat4j_int_program_split_min_macs(splitBefore);
        }
    }

    @Test
    void kernelsBelowVnniCompileNothing() {
        IntegerProgram p = randomProgram(new SplittableRandom(7));
        for (int level : CpuBackend.availableIsaLevels()) {
            try (IntegerProgram.Compiled c = CpuBackend.forIsa(level).compileIntegerProgram(p)) {
                if (level < CpuBackend.ISA_AVX512VNNI) {
                    assertNull(c, "level " + level);
                } else {
                    assertNotNull(c, "level " + level);
                }
            }
        }
    }

    @Test
    void concurrentRunsShareOneProgramAndClosingStopsIt() throws Exception {
        assumeTrue(hasVnni(), "the compiled program needs AVX-512 VNNI");
        SplittableRandom r = new SplittableRandom(11);
        IntegerProgram p = randomProgram(r);
        IntegerProgram.Compiled c = CPU.compileIntegerProgram(p);
        byte[][] codes = new byte[4][];
        long[][] want = new long[4][];
        for (int i = 0; i < 4; i++) {
            codes[i] = randomCodes(r, p.values().get(0), 3);
            want[i] = p.interpret(codes[i], 3);
        }
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<long[]>> got = new ArrayList<>();
            for (int round = 0; round < 5; round++) {
                for (int i = 0; i < 4; i++) {
                    byte[] x = codes[i];
                    got.add(pool.submit(() -> c.run(x, 3)));
                }
            }
            for (int k = 0; k < got.size(); k++) {
                assertArrayEquals(want[k % 4], got.get(k).get(), "run " + k);
            }
        } finally {
            pool.shutdown();
        }
        c.close();
        c.close(); // twice is fine
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> c.run(codes[0], 3));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
    }

    @Test
    void badInputIsRefusedBeforeNativeCode() {
        assumeTrue(hasVnni(), "the compiled program needs AVX-512 VNNI");
        Value in = new Value(DType.UINT8, new int[] {2, 4, 4}, 0, 15);
        Value out = new Value(DType.INT8, new int[] {3, 4, 4}, -128, 127);
        Epilogue e = epilogue(3, -1, -128, 127);
        IntegerProgram p = new IntegerProgram(List.of(in, out),
                List.of(new Conv(0, new byte[3 * 2 * 9], new int[] {3, 2, 3, 3}, 1, 1, 1, e)));
        try (IntegerProgram.Compiled c = CPU.compileIntegerProgram(p)) {
            IllegalArgumentException wrongSize = assertThrows(IllegalArgumentException.class,
                    () -> c.run(new byte[31], 1));
            assertTrue(wrongSize.getMessage().contains("32"), wrongSize.getMessage());
            byte[] codes = new byte[32];
            codes[5] = 16; // outside the input's range [0, 15]
            IllegalArgumentException range = assertThrows(IllegalArgumentException.class, () -> c.run(codes, 1));
            assertTrue(range.getMessage().contains("offset 5"), range.getMessage());
        }
        // the description itself: each refusal names the step and what is wrong
        String shape = assertThrows(IllegalArgumentException.class, () -> new IntegerProgram(List.of(in,
                new Value(DType.INT8, new int[] {3, 5, 5}, -128, 127)),
                List.of(new Conv(0, new byte[3 * 2 * 9], new int[] {3, 2, 3, 3}, 1, 1, 1, e))))
                .getMessage();
        assertTrue(shape.contains("step 0") && shape.contains("[3, 4, 4]"), shape);
        String clamp = assertThrows(IllegalArgumentException.class, () -> new IntegerProgram(List.of(in, out),
                List.of(new Conv(0, new byte[3 * 2 * 9], new int[] {3, 2, 3, 3}, 1, 1, 1,
                        epilogue(3, -1, -128, 300))))).getMessage();
        assertTrue(clamp.contains("clamp"), clamp);
        String headroom = assertThrows(IllegalArgumentException.class, () -> new IntegerProgram(List.of(in, out),
                List.of(new Conv(0, new byte[3 * 2 * 9], new int[] {3, 2, 3, 3}, 1, 1, 1,
                        new Epilogue(-1, new int[] {Integer.MAX_VALUE, 1, 1}, new int[] {3, 3, 3},
                                new long[] {Long.MAX_VALUE / 2, 0, 0}, null, Rounding.HALF_EVEN, -128, 127)))))
                .getMessage();
        assertTrue(headroom.contains("2^62"), headroom);
        String input = assertThrows(IllegalArgumentException.class, () -> new IntegerProgram(
                List.of(new Value(DType.INT32, new int[] {2, 4, 4}, 0, 15), out),
                List.of(new Conv(0, new byte[3 * 2 * 9], new int[] {3, 2, 3, 3}, 1, 1, 1, e))))
                .getMessage();
        assertTrue(input.contains("value 0"), input);
        String later = assertThrows(IllegalArgumentException.class, () -> new IntegerProgram(List.of(in, out),
                List.of(new Conv(1, new byte[3 * 2 * 9], new int[] {3, 2, 3, 3}, 1, 1, 1, e)))).getMessage();
        assertTrue(later.contains("earlier value"), later);
    }

    // ---------------------------------------------------------------- random programs

    private static Epilogue epilogue(int co, int residual, int qmin, int qmax) {
        int[] m = new int[co];
        int[] s = new int[co];
        java.util.Arrays.fill(m, 1 << 12);
        java.util.Arrays.fill(s, 14);
        return new Epilogue(residual, m, s, new long[co], residual >= 0 ? new int[co] : null, Rounding.HALF_EVEN,
                qmin, qmax);
    }

    private static Epilogue randomEpilogue(SplittableRandom r, int co, int residual, Value out, int accShift) {
        int[] m = new int[co];
        int[] s = new int[co];
        long[] b = new long[co];
        int[] rm = residual >= 0 ? new int[co] : null;
        for (int c = 0; c < co; c++) {
            s[c] = 8 + r.nextInt(12) + accShift;
            m[c] = (r.nextInt(1 << 10) - (1 << 8)) << Math.max(0, s[c] - accShift - 10);
            b[c] = r.nextLong(-(1L << (s[c] + 6)), 1L << (s[c] + 6));
            if (rm != null) {
                rm[c] = r.nextInt(1 << 10) << Math.max(0, s[c] - 10);
            }
        }
        Rounding rounding = r.nextInt(3) == 0 ? Rounding.values()[r.nextInt(Rounding.values().length)]
                : Rounding.HALF_EVEN;
        return new Epilogue(residual, m, s, b, rm, rounding, (int) out.lo(), (int) out.hi());
    }

    private static Value randomCodesValue(SplittableRandom r, int[] shape, boolean allowInt32) {
        return switch (r.nextInt(allowInt32 ? 4 : 3)) {
            case 0 -> new Value(DType.INT8, shape, -128, 127);
            case 1 -> new Value(DType.UINT8, shape, 0, 255);
            case 2 -> new Value(DType.UINT8, shape, 0, 15);
            default -> new Value(DType.INT32, shape, -100000, 100000);
        };
    }

    /** A chain of convs and requantizations with residuals, optionally closed by a sum pool and a linear step. */
    static IntegerProgram randomProgram(SplittableRandom r) {
        List<Value> values = new ArrayList<>();
        List<Step> steps = new ArrayList<>();
        int c = 1 + r.nextInt(9), h = 1 + r.nextInt(20), w = 1 + r.nextInt(20);
        values.add(randomCodesValue(r, new int[] {c, h, w}, false));
        int layers = 1 + r.nextInt(5);
        for (int i = 0; i < layers; i++) {
            Value in = values.get(values.size() - 1);
            int[] s = in.shape();
            boolean byteIn = in.dtype().isByte();
            if (!byteIn || r.nextInt(5) == 0) { // a requantization back to bytes (or a rescale)
                Value out = randomCodesValue(r, s, false);
                int res = residualOf(r, values, s);
                steps.add(new Requant(values.size() - 1, randomEpilogue(r, s[0], res, out, byteIn ? 0 : 10)));
                values.add(out);
                continue;
            }
            int k = new int[] {1, 3, 3, 5}[r.nextInt(4)];
            int stride = 1 + (r.nextInt(3) == 0 ? 1 + r.nextInt(2) : 0);
            int pad = r.nextInt(k / 2 + 2);
            if (k > s[1] + 2 * pad || k > s[2] + 2 * pad) {
                k = 1;
            }
            int groups = r.nextInt(4) == 0 ? s[0] : r.nextInt(3) == 0 && s[0] % 2 == 0 ? 2 : 1;
            int co = groups * (1 + r.nextInt(groups == s[0] ? 2 : 11));
            int oh = (s[1] + 2 * pad - k) / stride + 1, ow = (s[2] + 2 * pad - k) / stride + 1;
            int[] os = {co, oh, ow};
            byte[] wt = new byte[co * (s[0] / groups) * k * k];
            for (int j = 0; j < wt.length; j++) {
                wt[j] = (byte) r.nextInt(256);
            }
            Value out = randomCodesValue(r, os, true);
            int res = residualOf(r, values, os);
            steps.add(new Conv(values.size() - 1, wt, new int[] {co, s[0] / groups, k, k}, stride, pad, groups,
                    randomEpilogue(r, co, res, out, 6)));
            values.add(out);
        }
        if (r.nextBoolean()) {
            Value in = values.get(values.size() - 1);
            int[] s = in.shape();
            int k = r.nextBoolean() ? 0 : s[1] % 2 == 0 && s[2] % 2 == 0 ? 2 : 1;
            int kh = k == 0 ? s[1] : k, kw = k == 0 ? s[2] : k;
            long win = (long) kh * kw;
            steps.add(new SumPool(values.size() - 1, k));
            values.add(new Value(DType.INT32, new int[] {s[0], s[1] / kh, s[2] / kw}, win * Math.min(0, in.lo()),
                    win * Math.max(0, in.hi())));
            Value pooled = values.get(values.size() - 1);
            int outs = 1 + r.nextInt(10);
            int[] lw = new int[(int) pooled.numel() * outs];
            for (int j = 0; j < lw.length; j++) {
                lw[j] = r.nextInt(1 << 16) - (1 << 15);
            }
            long[] bias = new long[outs];
            for (int j = 0; j < outs; j++) {
                bias[j] = r.nextLong(-(1L << 40), 1L << 40);
            }
            steps.add(new Linear(values.size() - 1, lw, outs, bias, r.nextInt(4)));
            values.add(new Value(DType.INT32, new int[] {outs}, 0, 0));
        }
        return new IntegerProgram(values, steps);
    }

    /** An earlier value of shape {@code s} to add as a residual (sometimes), or -1. */
    private static int residualOf(SplittableRandom r, List<Value> values, int[] s) {
        for (int v = values.size() - 1; v >= 0; v--) {
            if (java.util.Arrays.equals(values.get(v).shape(), s) && r.nextInt(3) > 0) {
                return v;
            }
        }
        return -1;
    }

    private static byte[] randomCodes(SplittableRandom r, Value in, int n) {
        byte[] codes = new byte[(int) (n * in.numel())];
        for (int i = 0; i < codes.length; i++) {
            codes[i] = (byte) r.nextLong(in.lo(), in.hi() + 1);
        }
        return codes;
    }

    private static String describe(IntegerProgram p) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < p.steps().size(); i++) {
            Step s = p.steps().get(i);
            b.append(s.getClass().getSimpleName()).append(java.util.Arrays.toString(p.values().get(i + 1).shape()));
            if (s instanceof Conv c) {
                b.append(" w").append(java.util.Arrays.toString(c.weightShape())).append(" s").append(c.stride())
                        .append(" p").append(c.pad()).append(" g").append(c.groups());
            }
            b.append("; ");
        }
        return b.toString();
    }
}
