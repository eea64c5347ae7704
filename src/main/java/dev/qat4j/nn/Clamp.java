package dev.qat4j.nn;

import dev.qat4j.tensor.Tensor;
import java.util.List;

/** ReLU or ReLU6. */
public final class Clamp extends Module {
    private final boolean six;
    private Tensor x;

    private Clamp(String name, boolean six) {
        super(name);
        this.six = six;
    }

    public static Clamp relu(String name) {
        return new Clamp(name, false);
    }

    public static Clamp relu6(String name) {
        return new Clamp(name, true);
    }

    /** True for ReLU6 (clip at 6), false for ReLU. */
    public boolean isRelu6() {
        return six;
    }

    @Override
    public Tensor forward(Step step, Tensor x) {
        if (step.training()) { // eval keeps no state in the module (concurrent evaluation, see Module#forward)
            this.x = x;
        }
        return step.keep(six ? step.backend().relu6(x) : step.backend().relu(x));
    }

    @Override
    public Tensor backward(Step step, Tensor dy) {
        return step.keep(six ? step.backend().relu6Backward(dy, cached(x)) : step.backend().reluBackward(dy, cached(x)));
    }

    @Override
    public int[] outputShape(int[] in) {
        return in.clone();
    }

    @Override
    public void describe(int[] in, List<LayerInfo> rows) {
        rows.add(new LayerInfo(name, six ? "relu6" : "relu", in.clone(), 0, 0, 0, 0));
    }
}
