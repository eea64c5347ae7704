package dev.qat4j.nn;

import dev.qat4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/** Modules applied in order; the backward runs them in reverse. */
public class Sequential extends Module {
    private final List<Module> modules;

    public Sequential(String name, List<Module> modules) {
        super(name);
        this.modules = List.copyOf(modules);
    }

    @Override
    public Tensor forward(Step step, Tensor x) {
        for (Module m : modules) {
            x = m.forward(step, x);
        }
        return x;
    }

    @Override
    public Tensor backward(Step step, Tensor dy) {
        for (int i = modules.size() - 1; i >= 0; i--) {
            dy = modules.get(i).backward(step, dy);
        }
        return dy;
    }

    @Override
    public int[] outputShape(int[] in) {
        for (Module m : modules) {
            in = m.outputShape(in);
        }
        return in;
    }

    @Override
    public void describe(int[] in, List<LayerInfo> rows) {
        for (Module m : modules) {
            m.describe(in, rows);
            in = m.outputShape(in);
        }
    }

    @Override
    public List<Module> children() {
        return modules;
    }

    /** Builder-style helper for model code. */
    public static List<Module> list(Module... ms) {
        return new ArrayList<>(List.of(ms));
    }
}
