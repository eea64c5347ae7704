package dev.qat4j.nn;

import dev.qat4j.backend.Backend;
import dev.qat4j.tensor.Tensor;

/**
 * A trainable tensor with its gradient. The kind lets optimizers treat groups differently (the seed applies weight
 * decay to everything; users may exclude BN and α) and lets summaries follow the seed's counting convention
 * (α is not counted as a parameter).
 */
public final class Parameter implements AutoCloseable {
    public enum Kind {
        /** Conv and linear weights. */
        WEIGHT,
        /** Linear biases. */
        BIAS,
        /** BatchNorm γ and β. */
        NORM,
        /** The learnable clip α of PACT / mPACT. */
        ALPHA
    }

    private final String name;
    private final Kind kind;
    private Tensor value;
    private Tensor grad;

    public Parameter(String name, Kind kind, Tensor value) {
        this.name = name;
        this.kind = kind;
        this.value = value;
    }

    public String name() {
        return name;
    }

    public Kind kind() {
        return kind;
    }

    public Tensor value() {
        return value;
    }

    /** The gradient of the last backward, or null before one. */
    public Tensor grad() {
        return grad;
    }

    /** Takes ownership of {@code g} as this parameter's gradient (the previous one is closed). */
    public void setGrad(Tensor g) {
        if (g != null && !java.util.Arrays.equals(g.shape(), value.shape())) {
            throw new IllegalArgumentException("parameter " + name + ": gradient shape " + java.util.Arrays.toString(g.shape())
                    + " differs from " + java.util.Arrays.toString(value.shape()));
        }
        if (grad != null && grad != g) {
            grad.close();
        }
        grad = g;
    }

    /** Replaces the value (the previous one is closed), e.g. after loading or moving to another backend. */
    public void setValue(Tensor v) {
        if (!java.util.Arrays.equals(v.shape(), value.shape())) {
            throw new IllegalArgumentException("parameter " + name + ": shape " + java.util.Arrays.toString(v.shape())
                    + " differs from " + java.util.Arrays.toString(value.shape()));
        }
        if (v != value) {
            value.close();
        }
        value = v;
    }

    /** Copies value (and gradient) into {@code backend}'s memory. */
    public void moveTo(Backend backend) {
        setValue(backend.copyFrom(value));
        if (grad != null) {
            setGrad(backend.copyFrom(grad));
        }
    }

    public int numel() {
        return value.numel();
    }

    @Override
    public void close() {
        value.close();
        if (grad != null) {
            grad.close();
        }
    }

    @Override
    public String toString() {
        return name + " " + kind + java.util.Arrays.toString(value.shape());
    }
}
