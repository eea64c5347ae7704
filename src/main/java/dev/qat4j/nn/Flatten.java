package dev.qat4j.nn;

import dev.qat4j.tensor.Tensor;
import java.util.List;

/** [N, C, H, W] to [N, C*H*W] (a view). */
public final class Flatten extends Module {
    private int[] xShape;

    public Flatten(String name) {
        super(name);
    }

    @Override
    public Tensor forward(Step step, Tensor x) {
        xShape = x.shape();
        return step.keep(x.reshape(xShape[0], x.numel() / Math.max(1, xShape[0])));
    }

    @Override
    public Tensor backward(Step step, Tensor dy) {
        return step.keep(dy.reshape(xShape));
    }

    @Override
    public int[] outputShape(int[] in) {
        int f = 1;
        for (int d : in) {
            f *= d;
        }
        return new int[] {f};
    }

    @Override
    public void describe(int[] in, List<LayerInfo> rows) {
        // Shape bookkeeping only: no row of its own.
    }
}
