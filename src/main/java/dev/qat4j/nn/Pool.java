package dev.qat4j.nn;

import dev.qat4j.tensor.Tensor;
import java.util.List;

/**
 * Average pooling to 1x1 (global) or with a square window, and the seed's three ways of counting its MADDs (thop):
 * {@code nn.AdaptiveAvgPool2d} (k^2 + 1 per output), {@code nn.AvgPool2d} (1 per output), {@code F.avg_pool2d} (0).
 */
public final class Pool extends Module {
    public enum Counting {
        ADAPTIVE_MODULE,
        AVGPOOL_MODULE,
        FUNCTIONAL
    }

    private final int kernel; // 0 = adaptive to 1x1
    private final Counting counting;
    private int[] xShape;

    private Pool(String name, int kernel, Counting counting) {
        super(name);
        this.kernel = kernel;
        this.counting = counting;
    }

    /** Adaptive average pooling to 1x1 ({@code nn.AdaptiveAvgPool2d(1)}). */
    public static Pool global(String name) {
        return new Pool(name, 0, Counting.ADAPTIVE_MODULE);
    }

    /** {@code kernel}x{@code kernel} average pooling with stride = kernel, counted as a module or as a function call. */
    public static Pool avg(String name, int kernel, Counting counting) {
        return new Pool(name, kernel, counting);
    }

    /** The square window (stride = window, no padding); 0 for adaptive pooling to 1x1. */
    public int kernel() {
        return kernel;
    }

    @Override
    public Tensor forward(Step step, Tensor x) {
        if (step.training()) { // eval keeps no state in the module (concurrent evaluation, see Module#forward)
            xShape = x.shape();
        }
        return step.keep(kernel == 0 ? step.backend().adaptiveAvgPool2d(x, 1, 1)
                : step.backend().avgPool2d(x, kernel, kernel, 0));
    }

    @Override
    public Tensor backward(Step step, Tensor dy) {
        return step.keep(kernel == 0 ? step.backend().adaptiveAvgPool2dBackward(dy, cached(xShape))
                : step.backend().avgPool2dBackward(dy, cached(xShape), kernel, kernel, 0));
    }

    @Override
    public int[] outputShape(int[] in) {
        if (kernel == 0) {
            return new int[] {in[0], 1, 1};
        }
        if (in[1] < kernel || in[2] < kernel) {
            throw new IllegalArgumentException("pool " + name + ": window " + kernel + " larger than "
                    + java.util.Arrays.toString(in));
        }
        return new int[] {in[0], (in[1] - kernel) / kernel + 1, (in[2] - kernel) / kernel + 1};
    }

    @Override
    public void describe(int[] in, List<LayerInfo> rows) {
        int[] out = outputShape(in);
        long outputs = (long) out[0] * out[1] * out[2];
        long window = kernel == 0 ? (long) in[1] * in[2] : (long) kernel * kernel;
        long madds = switch (counting) {
            case ADAPTIVE_MODULE -> (window + 1) * outputs;
            case AVGPOOL_MODULE -> outputs;
            case FUNCTIONAL -> 0;
        };
        rows.add(new LayerInfo(name, kernel == 0 ? "adaptive avgpool" : "avgpool " + kernel, out, 0, madds, 0, 0));
    }
}
