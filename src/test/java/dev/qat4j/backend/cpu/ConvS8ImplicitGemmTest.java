package dev.qat4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.ConvParams;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.backend.ref.RefKernels;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The int8 conv of codes (conv2dInt, and the fused fake-quant conv built on it) against RefKernels.conv2dInt, exactly,
 * on every ISA level the CPU has. Geometries target the edge cases of the AVX-512 VNNI implicit GEMM (conv_s8.cpp):
 * strides 1..3 (phase split, sh != sw), kernels 1x1/3x3/5x5 and kh != kw, pads 0..2, input channels not multiples
 * of 4, output channels not multiples of its 4-row tile, output rows not multiples of 16 and wide rows spanning
 * several 64-column tiles, groups, signed and unsigned codes, extreme codes, batch 1 (output-channel chunks across
 * threads), batches of at least 2 x threads (images across threads), a stride past the image and pads that
 * make the padded copy far larger than the image (the im2col fallback). Seed: -Dqat4j.convs8.seed=N.
 */
class ConvS8ImplicitGemmTest {
    private static final long SEED = Long.getLong("qat4j.convs8.seed", 20261126L);
    private static final int CASES = 64;
    private static final int[] CHANNELS = {1, 3, 5, 8, 17, 64};
    private static final int[] KERNELS = {1, 3, 5};
    private static final Backend REF = RefBackend.INSTANCE;

    static Stream<Arguments> geometries() {
        SplittableRandom rnd = new SplittableRandom(SEED);
        int threads = Math.max(1, NativeKernels.qat4j_num_threads());
        List<Arguments> out = new ArrayList<>();
        // ResNet20's layers (3x3 s1, 3x3 s2, 1x1 s2 shortcut), at a small batch.
        out.add(Arguments.of(new int[] {2 * threads, 16, 32, 32, 16, 3, 3, 1, 1, 1, 1, 1}, false));
        out.add(Arguments.of(new int[] {2 * threads + 1, 16, 32, 32, 32, 3, 3, 2, 2, 1, 1, 1}, true));
        out.add(Arguments.of(new int[] {1, 32, 16, 16, 64, 1, 1, 2, 2, 0, 0, 1}, false));
        out.add(Arguments.of(new int[] {1, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1, 1}, true));
        // A stride past the image (only the kernel rows' phases are packed), and pads that make the padded copy far
        // larger than the image (the im2col fallback).
        out.add(Arguments.of(new int[] {2 * threads, 5, 7, 9, 6, 3, 3, Integer.MAX_VALUE, 2, 1, 1, 1}, true));
        out.add(Arguments.of(new int[] {1, 3, 2, 2, 4, 1, 1, 1, 1, 150, 150, 1}, false));
        for (int i = 0; i < CASES; i++) {
            int groups = rnd.nextInt(4) == 0 ? rnd.nextInt(2, 4) : 1;
            int cig = CHANNELS[rnd.nextInt(CHANNELS.length)], cog = CHANNELS[rnd.nextInt(CHANNELS.length)];
            if (groups > 1) {
                cig = Math.min(cig, 17);
                cog = Math.min(cog, 17);
            }
            int n = i % 2 == 0 ? 1 : 2 * threads + rnd.nextInt(3);
            int h = rnd.nextInt(1, 21), w = rnd.nextInt(1, 41);
            int ph = rnd.nextInt(3), pw = rnd.nextInt(3);
            int kh = KERNELS[rnd.nextInt(3)], kw = rnd.nextInt(3) == 0 ? KERNELS[rnd.nextInt(3)] : kh;
            kh = kh > h + 2 * ph ? 1 : kh;
            kw = kw > w + 2 * pw ? 1 : kw;
            int sh = rnd.nextInt(1, 3), sw = rnd.nextInt(4) == 0 ? rnd.nextInt(1, 4) : sh;
            out.add(Arguments.of(new int[] {n, groups * cig, h, w, groups * cog, kh, kw, sh, sw, ph, pw, groups},
                    rnd.nextBoolean()));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{index}: {0} signed {1}")
    @MethodSource("geometries")
    void conv2dIntIsExactOnEveryIsa(int[] g, boolean signed) {
        int n = g[0], c = g[1], h = g[2], w = g[3], co = g[4], kh = g[5], kw = g[6], groups = g[11];
        ConvParams p = new ConvParams(g[7], g[8], g[9], g[10], groups);
        int[] xs = {n, c, h, w}, ws = {co, c / groups, kh, kw};
        SplittableRandom rnd = new SplittableRandom(SEED ^ Arrays.hashCode(g) ^ (signed ? 1 : 0));
        byte[] xb = new byte[n * c * h * w], wb = new byte[co * (c / groups) * kh * kw];
        boolean extremes = rnd.nextInt(4) == 0;  // every code at -128/127 (or 0/255): the largest exact sums
        for (int i = 0; i < xb.length; i++) {
            xb[i] = (byte) (extremes ? (rnd.nextBoolean() ? -128 : 127) : rnd.nextInt(256));
        }
        for (int i = 0; i < wb.length; i++) {
            wb[i] = (byte) (extremes ? (rnd.nextBoolean() ? -128 : 127) : rnd.nextInt(-128, 128));
        }
        int[] xc = new int[xb.length], wc = new int[wb.length];
        for (int i = 0; i < xb.length; i++) {
            xc[i] = signed ? xb[i] : xb[i] & 0xFF;
        }
        for (int i = 0; i < wb.length; i++) {
            wc[i] = wb[i];
        }
        int[] want = RefKernels.conv2dInt(xc, xs, wc, ws, p);
        for (int isa : CpuBackend.availableIsaLevels()) {
            Backend cpu = CpuBackend.forIsa(isa);
            try (Tensor x = cpu.fromBytes(xb, signed ? DType.INT8 : DType.UINT8, xs);
                 Tensor wt = cpu.fromBytes(wb, DType.INT8, ws);
                 Tensor acc = cpu.conv2dInt(x, wt, p)) {
                assertArrayEquals(want, acc.toIntArray(), "ISA " + CpuBackend.isaName(isa) + " x" + Arrays.toString(xs)
                        + " w" + Arrays.toString(ws) + " " + p + " signed " + signed);
            }
        }
    }

}
