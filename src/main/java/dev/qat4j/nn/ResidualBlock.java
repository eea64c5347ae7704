package dev.qat4j.nn;

import dev.qat4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The residual pattern shared by the seed's three blocks: {@code out = post(main(pre(x)) + shortcut(pre(x)))}.
 * Any part may be absent: {@code pre} (ToyNet's BN -> strided conv -> quant downsample), {@code shortcut} (null =
 * identity, else e.g. a 1x1 conv + BN + quant), {@code post} (the quantizer after the add). The backward sends the
 * gradient of the sum to both branches and adds what comes back.
 */
public final class ResidualBlock extends Module {
    private final Module pre;
    private final Module main;
    private final Module shortcut;
    private final Module post;

    public ResidualBlock(String name, Module pre, Module main, Module shortcut, Module post) {
        super(name);
        if (main == null) {
            throw new IllegalArgumentException("block " + name + ": the main branch is required");
        }
        this.pre = pre;
        this.main = main;
        this.shortcut = shortcut;
        this.post = post;
    }

    /** The downsample applied before both branches, or null. */
    public Module pre() {
        return pre;
    }

    public Module main() {
        return main;
    }

    /** The shortcut branch, or null for the identity. */
    public Module shortcut() {
        return shortcut;
    }

    /** The module after the add (the block's output quantizer), or null. */
    public Module post() {
        return post;
    }

    @Override
    public Tensor forward(Step step, Tensor x) {
        Tensor in = pre == null ? x : pre.forward(step, x);
        Tensor h = main.forward(step, in);
        Tensor id = shortcut == null ? in : shortcut.forward(step, in);
        Tensor sum = step.keep(step.backend().add(h, id));
        return post == null ? sum : post.forward(step, sum);
    }

    @Override
    public Tensor backward(Step step, Tensor dy) {
        Tensor dsum = post == null ? dy : post.backward(step, dy);
        Tensor din = main.backward(step, dsum);
        Tensor dId = shortcut == null ? dsum : shortcut.backward(step, dsum);
        Tensor d = step.keep(step.backend().add(din, dId));
        return pre == null ? d : pre.backward(step, d);
    }

    @Override
    public int[] outputShape(int[] in) {
        int[] s = pre == null ? in : pre.outputShape(in);
        int[] h = main.outputShape(s);
        int[] id = shortcut == null ? s : shortcut.outputShape(s);
        if (!java.util.Arrays.equals(h, id)) {
            throw new IllegalArgumentException("block " + name + ": branch shapes differ, main "
                    + java.util.Arrays.toString(h) + " vs shortcut " + java.util.Arrays.toString(id));
        }
        return post == null ? h : post.outputShape(h);
    }

    @Override
    public void describe(int[] in, List<LayerInfo> rows) {
        int[] s = in;
        if (pre != null) {
            pre.describe(s, rows);
            s = pre.outputShape(s);
        }
        main.describe(s, rows);
        if (shortcut != null) {
            shortcut.describe(s, rows);
        }
        if (post != null) {
            post.describe(main.outputShape(s), rows);
        }
    }

    @Override
    public List<Module> children() {
        List<Module> c = new ArrayList<>();
        for (Module m : new Module[] {pre, main, shortcut, post}) {
            if (m != null) {
                c.add(m);
            }
        }
        return c;
    }
}
