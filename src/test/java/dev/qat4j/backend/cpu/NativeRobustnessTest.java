package dev.qat4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.ConvParams;
import dev.qat4j.backend.Op;
import dev.qat4j.backend.Results.BatchNormForward;
import dev.qat4j.backend.SgdParams;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The reproducers of the native-robustness issue, one test each: work buffers too large to have (Java
 * OutOfMemoryError, never a crash), closing a tensor while an op runs on it, grid marks after in-place writes, pooling
 * windows whose area overflows an int, extreme PACT alphas on the int8 grid conv, and the process-wide thread count.
 * The work-buffer cases lower the native limit ({@code qat4j_set_work_buffer_limit}) so the outcome does not depend on
 * the machine's memory or overcommit policy.
 */
class NativeRobustnessTest {
    private static final Backend REF = RefBackend.INSTANCE;
    private static final long SMALL_LIMIT = 32L << 20;

    private final CpuBackend cpu = CpuBackend.get();
    private long savedLimit;

    @BeforeEach
    void lowerWorkBufferLimit() {
        savedLimit = NativeKernels.qat4j_set_work_buffer_limit(SMALL_LIMIT);
    }

    @AfterEach
    void restoreWorkBufferLimit() {
        NativeKernels.qat4j_set_work_buffer_limit(savedLimit);
    }

    private static float[] filled(int n, float v) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, v);
        return a;
    }

    private static float[] random(SplittableRandom r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        }
        return a;
    }

    private static double sum(float[] a) {
        double s = 0;
        for (float v : a) {
            s += v;
        }
        return s;
    }

    /** The op either throws the cpu backend's OutOfMemoryError naming it, or returns what {@code check} accepts. */
    private static <T> void outOfMemoryOrRight(String op, Supplier<T> call, java.util.function.Consumer<T> check) {
        T result;
        try {
            result = call.get();
        } catch (OutOfMemoryError e) {
            assertTrue(e.getMessage().contains(op), "message names the op: " + e.getMessage());
            return;
        }
        check.accept(result);
    }

    // ---------------------------------------------------------------- 1-6: work buffers

    @Test
    void aConvWhosePaddingDwarfsItsInputIsComputedOnItsValidTaps() { // reproducer 1: a 137 GB padded copy
        ConvParams p = new ConvParams(1, 1, 524288, 16384, 1);
        for (int level : CpuBackend.availableIsaLevels()) {
            CpuBackend b = CpuBackend.forIsa(level);
            try (Tensor x = b.fromFloats(new float[] {1f}, 1, 1, 1, 1);
                 Tensor w = b.fromFloats(filled(1048577, 1f), 1, 1, 1048577, 1);
                 Tensor y = b.conv2d(x, w, null, p)) {
                float[] out = y.toFloatArray();
                assertEquals(32769, out.length);
                for (int i = 0; i < out.length; i++) { // only output column 16384 sees the pixel, through one tap
                    assertEquals(i == 16384 ? 1f : 0f, out[i], "output " + i + " at " + b.isaName());
                }
            }
        }
    }

    @Test
    void sameGeometryForTheBackwardsIsComputedOnItsValidTaps() { // reproducer 2
        ConvParams p = new ConvParams(1, 1, 524288, 16384, 1);
        for (int level : CpuBackend.availableIsaLevels()) {
            CpuBackend b = CpuBackend.forIsa(level);
            try (Tensor x = b.fromFloats(new float[] {1f}, 1, 1, 1, 1);
                 Tensor w = b.fromFloats(filled(1048577, 2f), 1, 1, 1048577, 1);
                 Tensor dy = b.fromFloats(filled(32769, 1f), 1, 1, 1, 32769);
                 Tensor dw = b.conv2dBackwardWeight(dy, x, new int[] {1, 1, 1048577, 1}, p);
                 Tensor dx = b.conv2dBackwardData(dy, w, new int[] {1, 1, 1, 1}, p)) {
                float[] g = dw.toFloatArray();
                for (int i = 0; i < g.length; i++) { // the pixel meets output 16384 through tap row 524288 only
                    if (g[i] != (i == 524288 ? 1f : 0f)) {
                        fail("dw[" + i + "] = " + g[i] + " at " + b.isaName());
                    }
                }
                assertArrayEquals(new float[] {2f}, dx.toFloatArray(), b.isaName());
            }
        }
    }

    @Test
    void hugeIm2colOfConv2dIntIsAnOutOfMemoryErrorOrExact() { // reproducer 3: a 200 GB im2col in the fallback
        SplittableRandom r = new SplittableRandom(3);
        byte[] wb = new byte[256 * 256];
        long wSum = 0;
        for (int i = 0; i < wb.length; i++) {
            wb[i] = (byte) (r.nextInt(255) - 127);
            wSum += wb[i];
        }
        long expected = 7 * wSum; // one pixel: each weight meets it in exactly one output position
        for (int level : CpuBackend.availableIsaLevels()) {
            CpuBackend b = CpuBackend.forIsa(level);
            try (Tensor x = b.fromBytes(new byte[] {7}, DType.UINT8, 1, 1, 1, 1);
                 Tensor w = b.fromBytes(wb, DType.INT8, 1, 1, 256, 256)) {
                outOfMemoryOrRight("conv2dInt", () -> b.conv2dInt(x, w, ConvParams.of(1, 1000)), acc -> {
                    try (acc) {
                        long s = 0;
                        for (int v : acc.toIntArray()) {
                            s += v;
                        }
                        assertEquals(expected, s, "sum of the accumulators at " + b.isaName());
                    }
                });
            }
        }
    }

    @Test
    void quantizedOperandsWhoseCodeBuffersCannotBeHadAreAnOutOfMemoryErrorOrRight() { // reproducers 4 and 5
        // The grid conv (conv2d of actQuant and weightQuant results) first turns both operands into byte codes, then
        // runs the int8 conv, then (out of memory) the float conv. Under a 1 MiB limit none of the three buffers fits.
        NativeKernels.qat4j_set_work_buffer_limit(1L << 20);
        SplittableRandom r = new SplittableRandom(5);
        float[] xv = random(r, 1024 * 1024, 2), wv = random(r, 4 * 9, 1);
        float[] want;
        try (Tensor alpha = REF.fromFloats(new float[] {1.5f}, 1);
             Tensor x0 = REF.fromFloats(xv, 1, 1, 1024, 1024);
             Tensor x = REF.actQuant(x0, ActQuantizer.pact(8), alpha);
             Tensor w0 = REF.fromFloats(wv, 4, 1, 3, 3);
             Tensor w = REF.weightQuant(w0, 8);
             Tensor y = REF.conv2d(x, w, null, ConvParams.of(1, 1))) {
            want = y.toFloatArray();
        }
        int refusals = 0;
        for (int level : CpuBackend.availableIsaLevels()) {
            CpuBackend b = CpuBackend.forIsa(level);
            try (Tensor alpha = b.fromFloats(new float[] {1.5f}, 1);
                 Tensor x0 = b.fromFloats(xv, 1, 1, 1024, 1024);
                 Tensor x = b.actQuant(x0, ActQuantizer.pact(8), alpha);
                 Tensor w0 = b.fromFloats(wv, 4, 1, 3, 3);
                 Tensor w = b.weightQuant(w0, 8)) {
                try (Tensor y = b.conv2d(x, w, null, ConvParams.of(1, 1))) {
                    float[] got = y.toFloatArray();
                    for (int i = 0; i < want.length; i++) {
                        assertEquals(want[i], got[i], 1e-4 * (1 + Math.abs(want[i])), "element " + i + " at " + b.isaName());
                    }
                } catch (OutOfMemoryError e) {
                    assertTrue(e.getMessage().contains("conv2d"), e.getMessage());
                    refusals++;
                }
            }
        }
        assertTrue(refusals > 0, "a 4 MiB image needs more than 1 MiB of work buffers on some ISA level");
    }

    @Test
    void weightPackingTooLargeIsAnOutOfMemoryErrorOrExact() { // reproducer 6: the VNNI packing used to abort()
        int cout = 1024, k = 256 * 256; // 64 MiB of weights: packing them needs more than the 32 MiB limit
        SplittableRandom r = new SplittableRandom(6);
        byte[] xb = new byte[k];
        byte[] wb = new byte[cout * k];
        r.nextBytes(xb);
        r.nextBytes(wb);
        long[] expected = new long[cout];
        for (int c = 0; c < cout; c++) {
            long s = 0;
            for (int i = 0; i < k; i++) {
                s += (xb[i] & 0xFF) * wb[c * k + i];
            }
            expected[c] = s;
        }
        for (int level : CpuBackend.availableIsaLevels()) {
            CpuBackend b = CpuBackend.forIsa(level);
            try (Tensor x = b.fromBytes(xb, DType.UINT8, 1, 1, 256, 256);
                 Tensor w = b.fromBytes(wb, DType.INT8, cout, 1, 256, 256)) {
                outOfMemoryOrRight("conv2dInt", () -> b.conv2dInt(x, w, ConvParams.of(1, 0)), acc -> {
                    try (acc) {
                        int[] got = acc.toIntArray();
                        for (int c = 0; c < cout; c++) {
                            assertEquals(expected[c], got[c], "channel " + c + " at " + b.isaName());
                        }
                    }
                });
            }
        }
    }

    @Test
    void theLimitItselfIsEnforcedAndRestorable() {
        assertEquals(SMALL_LIMIT, NativeKernels.qat4j_work_buffer_limit());
        assertEquals(SMALL_LIMIT, NativeKernels.qat4j_set_work_buffer_limit(0), "a limit < 1 keeps the current one");
        assertEquals(SMALL_LIMIT, NativeKernels.qat4j_work_buffer_limit());
        assertTrue(savedLimit > SMALL_LIMIT, "the default is the machine's memory: " + savedLimit);
    }

    // ---------------------------------------------------------------- 7: close during an op

    @Test
    void closingAnOperandWhileAnOpRunsNeitherCrashesNorCorrupts() throws Exception { // reproducer 7, relu
        int n = 16 << 20; // 64 MiB
        float[] values = random(new SplittableRandom(7), 4096, 3);
        float[] big = new float[n];
        for (int i = 0; i < n; i++) {
            big[i] = values[i & 4095];
        }
        for (int trial = 0; trial < 3; trial++) {
            Tensor x = cpu.fromFloats(big, n);
            AtomicReference<Object> outcome = new AtomicReference<>();
            CountDownLatch started = new CountDownLatch(1);
            Thread worker = new Thread(() -> {
                started.countDown();
                try (Tensor y = cpu.relu(x)) {
                    float[] out = y.toFloatArray();
                    for (int i = 0; i < n; i += 997) {
                        if (out[i] != Math.max(0f, big[i])) {
                            outcome.set("wrong value at " + i);
                            return;
                        }
                    }
                    outcome.set("computed");
                } catch (IllegalStateException e) {
                    outcome.set(e);
                }
            });
            worker.start();
            started.await();
            x.close();
            worker.join();
            Object o = outcome.get();
            if (o instanceof IllegalStateException e) {
                assertTrue(e.getMessage().contains("relu") && e.getMessage().contains("closed"), e.getMessage());
            } else {
                assertEquals("computed", o);
            }
            assertTrue(x.isClosed());
        }
    }

    @Test
    void anSgdStepWhoseTensorsAreClosedWritesIntoNoNewTensor() throws Exception { // reproducer 7, sgdStep
        int n = 4 << 20;
        SgdParams sgd = new SgdParams(0.1f, 0.9f, 1e-4f, false);
        for (int trial = 0; trial < 10; trial++) {
            Tensor param = cpu.fromFloats(filled(n, 1f), n);
            Tensor grad = cpu.fromFloats(filled(n, 2f), n);
            Tensor momentum = cpu.zeros(DType.FLOAT32, n);
            CountDownLatch started = new CountDownLatch(1);
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread worker = new Thread(() -> {
                started.countDown();
                for (int step = 0; step < 20; step++) {
                    try {
                        cpu.sgdStep(param, grad, momentum, sgd);
                    } catch (IllegalStateException e) { // closed before this step began: the documented refusal
                        return;
                    } catch (Throwable t) {
                        failure.set(t);
                        return;
                    }
                }
            });
            worker.start();
            started.await();
            param.close();
            momentum.close();
            grad.close();
            List<Tensor> fresh = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                fresh.add(cpu.fromFloats(filled(n, 7f), n));
            }
            worker.join();
            assertNull(failure.get());
            for (Tensor t : fresh) {
                try (t) {
                    float[] v = t.toFloatArray();
                    for (int i = 0; i < n; i += 101) {
                        if (v[i] != 7f) {
                            fail("trial " + trial + ": a closed tensor's in-flight sgdStep wrote " + v[i] + " into a new tensor at " + i);
                        }
                    }
                }
            }
        }
    }

    @Test
    void anOpStartedAfterCloseIsRefusedByName() {
        Tensor x = cpu.fromFloats(new float[] {1f, -1f}, 2);
        x.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> cpu.relu(x));
        assertTrue(e.getMessage().contains("relu") && e.getMessage().contains("closed"), e.getMessage());
    }

    // ---------------------------------------------------------------- 12: grid marks after in-place writes

    /** Every op that updates an operand in place stales the grid marks of what it wrote. */
    @Test
    void everyInPlaceOpClearsTheGridMarkOfWhatItWrites() {
        Set<Op> covered = EnumSet.noneOf(Op.class);
        SplittableRandom r = new SplittableRandom(12);
        { // the cpu backend: the reference marks no grids; cuda has its own tests
            Backend b = cpu;
            // sgdStep: param and momentum buffer
            try (Tensor p0 = b.fromFloats(random(r, 64, 1), 4, 1, 4, 4);
                 Tensor param = b.weightQuant(p0, 8);
                 Tensor g0 = b.fromFloats(random(r, 64, 1), 4, 1, 4, 4);
                 Tensor grad = b.weightQuant(g0, 8);
                 Tensor m0 = b.fromFloats(random(r, 64, 1), 4, 1, 4, 4);
                 Tensor momentum = b.weightQuant(m0, 8)) {
                assertNotNull(param.quantGrid(), "weightQuant marks its result on " + b.name());
                b.sgdStep(param, grad, momentum, new SgdParams(0.01f, 0.9f, 0f, false));
                assertNull(param.quantGrid(), "sgdStep wrote param on " + b.name());
                assertNull(momentum.quantGrid(), "sgdStep wrote the momentum buffer on " + b.name());
                assertNotNull(grad.quantGrid(), "sgdStep only reads grad");
                covered.add(Op.SGD_STEP);
            }
            // batchNorm2dTrain: the running statistics
            try (Tensor x = b.fromFloats(random(r, 2 * 4 * 9, 1), 2, 4, 3, 3);
                 Tensor gamma = b.fromFloats(filled(4, 1f), 4);
                 Tensor beta = b.zeros(DType.FLOAT32, 4);
                 Tensor mean0 = b.fromFloats(random(r, 4, 1), 4);
                 Tensor var0 = b.fromFloats(filled(4, 0.5f), 4);
                 Tensor mean = b.weightQuant(mean0, 8);
                 Tensor var = b.weightQuant(var0, 8);
                 BatchNormForward out = b.batchNorm2dTrain(x, gamma, beta, mean, var, 0.1f, 1e-5f)) {
                assertNull(mean.quantGrid(), "batchNorm2dTrain wrote the running mean on " + b.name());
                assertNull(var.quantGrid(), "batchNorm2dTrain wrote the running variance on " + b.name());
                covered.add(Op.BATCH_NORM2D_TRAIN);
            }
            // accumulateConfusion: the counts (a grid mark there would be odd, but it must not survive the write)
            try (Tensor logits = b.fromFloats(random(r, 20, 1), 2, 10);
                 Tensor labels = b.fromInts(new int[] {3, 7}, 2);
                 Tensor c0 = b.fromFloats(random(r, 100, 1), 10, 10);
                 Tensor counts = b.weightQuant(c0, 8)) {
                assertNotNull(counts.quantGrid(), "weightQuant marks its result on " + b.name());
                b.accumulateConfusion(logits, labels, counts);
                assertNull(counts.quantGrid(), "accumulateConfusion wrote the counts on " + b.name());
                covered.add(Op.ACCUMULATE_CONFUSION);
            }
            // sgdSteps: every param, every buffer and the flag
            try (Tensor p0 = b.fromFloats(random(r, 16, 1), 16);
                 Tensor param = b.weightQuant(p0, 8);
                 Tensor g0 = b.fromFloats(random(r, 16, 1), 16);
                 Tensor grad = b.weightQuant(g0, 8);
                 Tensor m0 = b.fromFloats(random(r, 16, 1), 16);
                 Tensor momentum = b.weightQuant(m0, 8);
                 Tensor f0 = b.fromFloats(new float[] {0.5f}, 1);
                 Tensor flag = b.weightQuant(f0, 8)) {
                b.sgdSteps(List.of(param), List.of(grad), List.of(momentum),
                        List.of(new SgdParams(0.01f, 0.9f, 0f, false)), flag);
                assertNull(param.quantGrid(), "sgdSteps wrote param on " + b.name());
                assertNull(momentum.quantGrid(), "sgdSteps wrote the momentum buffer on " + b.name());
                assertNull(flag.quantGrid(), "sgdSteps may write its flag on " + b.name());
                assertNotNull(grad.quantGrid(), "sgdSteps only reads grad");
                covered.add(Op.SGD_STEPS);
            }
        }
        for (Op op : Op.values()) {
            if (op.updatesOperandsInPlace()) {
                assertTrue(covered.contains(op), op + " updates in place but has no case here");
            }
        }
    }

    @Test
    void aConvOfAWeightUpdatedInPlaceUsesItsNewValues() { // reproducer 12 end to end, weight and activation
        SplittableRandom r = new SplittableRandom(1212);
        // The updates keep every value inside its grid's code range (x in [0.5, 2.5] under alpha 3, each weight shrinks
        // towards 0), so only a stale mark, not a range check, could send the conv down the int8 path.
        float[] xv = random(r, 2 * 8 * 36, 1), wv = random(r, 16 * 8 * 9, 1), gv = random(r, 16 * 8 * 9, 1);
        float[] gx = random(r, 2 * 8 * 36, 1);
        for (int i = 0; i < xv.length; i++) {
            xv[i] += 1.5f;
        }
        for (int level : CpuBackend.availableIsaLevels()) {
            CpuBackend b = CpuBackend.forIsa(level);
            try (Tensor alpha = b.fromFloats(new float[] {3f}, 1);
                 Tensor x0 = b.fromFloats(xv, 2, 8, 6, 6);
                 Tensor x = b.actQuant(x0, ActQuantizer.pact(8), alpha);
                 Tensor w0 = b.fromFloats(wv, 16, 8, 3, 3);
                 Tensor w = b.weightQuant(w0, 8);
                 Tensor grad = b.fromFloats(shrinking(w.toFloatArray(), gv), 16, 8, 3, 3);
                 Tensor mw = b.zeros(DType.FLOAT32, 16, 8, 3, 3);
                 Tensor gradX = b.fromFloats(gx, 2, 8, 6, 6);
                 Tensor mx = b.zeros(DType.FLOAT32, 2, 8, 6, 6)) {
                SgdParams sgd = new SgdParams(0.0137f, 0f, 0f, false);
                b.sgdStep(w, grad, mw, sgd);
                b.sgdStep(x, gradX, mx, sgd);
                try (Tensor xr = REF.fromFloats(x.toFloatArray(), x.shape());
                     Tensor wr = REF.fromFloats(w.toFloatArray(), w.shape());
                     Tensor want = REF.conv2d(xr, wr, null, ConvParams.of(1, 1));
                     Tensor got = b.conv2d(x, w, null, ConvParams.of(1, 1))) {
                    float[] e = want.toFloatArray(), g = got.toFloatArray();
                    for (int i = 0; i < e.length; i++) {
                        assertEquals(e[i], g[i], 1e-4 * (1 + Math.abs(e[i])), "element " + i + " at " + b.isaName());
                    }
                }
            }
        }
    }

    /** |g| with the sign of w: an SGD step along it moves every weight towards 0. */
    private static float[] shrinking(float[] w, float[] g) {
        float[] out = new float[g.length];
        for (int i = 0; i < g.length; i++) {
            out[i] = Math.copySign(Math.abs(g[i]), w[i]);
        }
        return out;
    }

    // ---------------------------------------------------------------- 9: pooling windows past 2^31

    @Test
    void averagePoolingWithAWindowAreaPastAnIntMatchesTheReference() { // reproducer 9: k = 46341
        int k = 46341, pad = k / 2;
        for (Backend b : List.of(cpu, REF)) {
            try (Tensor x = b.fromFloats(new float[] {3f}, 1, 1, 1, 1);
                 Tensor y = b.avgPool2d(x, k, 1, pad);
                 Tensor dy = b.fromFloats(new float[] {5f}, 1, 1, 1, 1);
                 Tensor dx = b.avgPool2dBackward(dy, new int[] {1, 1, 1, 1}, k, 1, pad)) {
                double area = (double) k * k;
                assertEquals(3.0 / area, y.toFloatArray()[0], 1e-6 * 3.0 / area, b.name());
                assertEquals(5.0 / area, dx.toFloatArray()[0], 1e-6 * 5.0 / area, b.name());
            }
        }
    }

    @Test
    void aPaddedPoolingInputPastAnIntIsRefused() {
        try (Tensor x = cpu.fromFloats(new float[] {1f, 2f, 3f, 4f}, 1, 1, 2, 2)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> cpu.avgPool2d(x, Integer.MAX_VALUE, 1, Integer.MAX_VALUE / 2));
            assertTrue(e.getMessage().contains("avgPool2d") && e.getMessage().contains("2^31"), e.getMessage());
        }
    }

    // ---------------------------------------------------------------- 10, 11: the grid conv at the edges

    @Test
    void aNanActivationGivesNanLikeTheFloatConv() { // reproducer 10
        for (int level : CpuBackend.availableIsaLevels()) {
            CpuBackend b = CpuBackend.forIsa(level);
            float[] xv = random(new SplittableRandom(10), 4 * 25, 1);
            xv[7] = Float.NaN;
            try (Tensor alpha = b.fromFloats(new float[] {2f}, 1);
                 Tensor x0 = b.fromFloats(xv, 1, 4, 5, 5);
                 Tensor x = b.actQuant(x0, ActQuantizer.pact(8), alpha);
                 Tensor w0 = b.fromFloats(random(new SplittableRandom(11), 8 * 4 * 9, 1), 8, 4, 3, 3);
                 Tensor w = b.weightQuant(w0, 8);
                 Tensor y = b.conv2d(x, w, null, ConvParams.of(1, 1))) {
                assertTrue(Float.isNaN(x.toFloatArray()[7]), "actQuant keeps NaN");
                float[] out = y.toFloatArray();
                // x[0,0,1,2] is NaN: every output whose 3x3 window covers it, in every output channel, is NaN
                for (int co = 0; co < 8; co++) {
                    for (int oy = 0; oy < 5; oy++) {
                        for (int ox = 0; ox < 5; ox++) {
                            boolean covers = Math.abs(oy - 1) <= 1 && Math.abs(ox - 2) <= 1;
                            assertEquals(covers, Float.isNaN(out[(co * 5 + oy) * 5 + ox]),
                                    "output " + co + "," + oy + "," + ox + " at " + b.isaName());
                        }
                    }
                }
            }
        }
    }

    @Test
    void extremePactAlphasAgreeWithTheReference() { // reproducer 11
        float[] xv = random(new SplittableRandom(111), 2 * 8 * 25, 1);
        float[] wv = random(new SplittableRandom(112), 8 * 8 * 9, 1);
        for (float alpha : new float[] {1e-36f, 1e-30f, 1e-20f, 1e20f, 1e30f, 1e36f}) {
            float[] xs = xv.clone();
            for (int i = 0; i < xs.length; i++) {
                xs[i] *= alpha;
            }
            float[] want;
            try (Tensor a = REF.fromFloats(new float[] {alpha}, 1);
                 Tensor x0 = REF.fromFloats(xs, 2, 8, 5, 5);
                 Tensor x = REF.actQuant(x0, ActQuantizer.pact(8), a);
                 Tensor w0 = REF.fromFloats(wv, 8, 8, 3, 3);
                 Tensor w = REF.weightQuant(w0, 8);
                 Tensor y = REF.conv2d(x, w, null, ConvParams.of(1, 1))) {
                want = y.toFloatArray();
            }
            double scale = 0;
            for (float v : want) {
                scale = Math.max(scale, Math.abs(v));
            }
            for (int level : CpuBackend.availableIsaLevels()) {
                CpuBackend b = CpuBackend.forIsa(level);
                try (Tensor a = b.fromFloats(new float[] {alpha}, 1);
                     Tensor x0 = b.fromFloats(xs, 2, 8, 5, 5);
                     Tensor x = b.actQuant(x0, ActQuantizer.pact(8), a);
                     Tensor w0 = b.fromFloats(wv, 8, 8, 3, 3);
                     Tensor w = b.weightQuant(w0, 8);
                     Tensor y = b.conv2d(x, w, null, ConvParams.of(1, 1))) {
                    float[] got = y.toFloatArray();
                    for (int i = 0; i < want.length; i++) {
                        if (Float.isInfinite(want[i]) || Float.isNaN(want[i])) {
                            assertEquals(want[i], got[i], "alpha " + alpha + ", element " + i + " at " + b.isaName());
                        } else {
                            // float sums in another order; subnormal products lose digits on both sides alike
                            assertEquals(want[i], got[i], 1e-5 * scale + 2 * Float.MIN_NORMAL,
                                    "alpha " + alpha + ", element " + i + " at " + b.isaName());
                        }
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- 14: thread count

    @Test
    void theThreadCountIsProcessWide() throws Exception {
        int before = cpu.threads();
        try {
            CpuBackend.setThreads(1);
            assertEquals(1, threadsSeenByAnOpOnANewThread());
            CpuBackend.setThreads(3);
            assertEquals(3, threadsSeenByAnOpOnANewThread());
            assertEquals(3, cpu.threads());
        } finally {
            CpuBackend.setThreads(before);
        }
    }

    /** OpenMP's thread count on a fresh thread after it ran one op. */
    private int threadsSeenByAnOpOnANewThread() throws Exception {
        int[] seen = {-1};
        Thread t = new Thread(() -> {
            try (Tensor x = cpu.fromFloats(new float[] {1f, -2f}, 2); Tensor y = cpu.relu(x)) {
                assertArrayEquals(new float[] {1f, 0f}, y.toFloatArray());
                seen[0] = NativeKernels.qat4j_num_threads();
            }
        });
        t.start();
        t.join();
        return seen[0];
    }
}
