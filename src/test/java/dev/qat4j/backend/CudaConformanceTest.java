package dev.qat4j.backend;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.qat4j.backend.cuda.CudaBackend;
import dev.qat4j.backend.ref.RefBackend;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;

/**
 * The conformance suite on the {@code cuda} backend (GPU 0). Skips, with the reason, where there is no GPU or the
 * library was not built (no nvcc); {@code bench/gpu-check.sh} runs it on a GPU machine.
 */
class CudaConformanceTest extends BackendConformanceSuite {
    @BeforeAll
    static void needsGpu() {
        assumeTrue(CudaBackend.isAvailable(), () -> "cuda backend unavailable: " + CudaBackend.unavailableReason());
    }

    /**
     * ResNet20-sized integer convolutions (K up to 576, many 32-wide k tiles of the dp4a kernel, 64 channels, stride 2,
     * groups, signed and unsigned codes at the extremes): identical to {@code ref}.
     */
    @org.junit.jupiter.api.Test
    void resnetSizedIntegerConvsAreExact() {
        java.util.SplittableRandom r = new java.util.SplittableRandom(99);
        int[][] shapes = {{8, 16, 32, 32, 16, 3, 1, 1}, {8, 32, 16, 16, 64, 3, 2, 1}, {4, 64, 8, 8, 64, 3, 1, 1},
            {4, 64, 8, 8, 48, 1, 1, 2}, {2, 27, 9, 9, 5, 3, 1, 1}};
        Backend cuda = CudaBackend.get();
        for (int[] sh : shapes) {
            int n = sh[0], c = sh[1], h = sh[2], w = sh[3], co = sh[4], k = sh[5], stride = sh[6], groups = sh[7];
            ConvParams p = new ConvParams(stride, stride, k / 2, k / 2, groups);
            int[] xs = {n, c, h, w}, ws = {co, c / groups, k, k};
            for (dev.qat4j.tensor.DType xt : new dev.qat4j.tensor.DType[] {dev.qat4j.tensor.DType.UINT8,
                dev.qat4j.tensor.DType.INT8}) {
                byte[] xb = new byte[n * c * h * w], wb = new byte[ws[0] * ws[1] * k * k];
                for (int i = 0; i < xb.length; i++) {
                    xb[i] = (byte) (i % 7 == 0 ? (xt == dev.qat4j.tensor.DType.INT8 ? -128 : 255) : r.nextInt(256));
                }
                for (int i = 0; i < wb.length; i++) {
                    wb[i] = (byte) (i % 5 == 0 ? -127 : r.nextInt(-127, 128));
                }
                try (TensorScope s = new TensorScope()) {
                    int[] expected = s.track(RefBackend.INSTANCE.conv2dInt(s.track(RefBackend.INSTANCE.fromBytes(xb, xt, xs)),
                        s.track(RefBackend.INSTANCE.fromBytes(wb, dev.qat4j.tensor.DType.INT8, ws)), p)).toIntArray();
                    int[] actual = s.track(cuda.conv2dInt(s.track(cuda.fromBytes(xb, xt, xs)),
                        s.track(cuda.fromBytes(wb, dev.qat4j.tensor.DType.INT8, ws)), p)).toIntArray();
                    org.junit.jupiter.api.Assertions.assertArrayEquals(expected, actual,
                        "conv2dInt " + xt + " x" + java.util.Arrays.toString(xs) + " w" + java.util.Arrays.toString(ws) + " " + p);
                }
            }
        }
    }

    @Override
    protected Backend underTest(long seed) {
        return CudaBackend.get();
    }

    @Override
    protected List<Backend> integerVariants() {
        return List.of(CudaBackend.get());
    }
}
