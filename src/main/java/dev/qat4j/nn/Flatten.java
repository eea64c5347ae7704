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
        int[] s = x.shape();
        if (step.training()) { // eval keeps no state in the module (concurrent evaluation, see Module#forward)
            xShape = s;
        }
        return step.keep(x.reshape(s[0], x.numel() / Math.max(1, s[0])));
    }

    @Override
    public Tensor backward(Step step, Tensor dy) {
        return step.keep(dy.reshape(cached(xShape)));
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
