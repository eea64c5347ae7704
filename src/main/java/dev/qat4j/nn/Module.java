package dev.qat4j.nn;

import dev.qat4j.backend.Backend;
import dev.qat4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * A layer or block with an explicit forward and backward. {@link #forward} caches what {@link #backward} needs (as
 * references owned by the {@link Step}); {@link #backward} takes dL/dy, sets the gradients of this module's
 * parameters and returns dL/dx. Shapes are NCHW without the batch handled specially: {@link #outputShape} and
 * {@link #describe} take a per-image shape [C, H, W] (or [F] after flattening).
 */
public abstract class Module implements AutoCloseable {
    protected final String name;

    protected Module(String name) {
        this.name = name;
    }

    public String name() {
        return name;
    }

    /**
     * The output for {@code x}. Only a training-mode step ({@link Step#training()}) caches what the backward needs
     * in the module: an eval-mode forward writes no module state, so one model may be evaluated from several
     * threads at once (each with its own eval-mode {@link Step}) as long as nothing changes its parameters
     * meanwhile. Training (forward + backward) uses the module's caches: one pass at a time per model.
     */
    public abstract Tensor forward(Step step, Tensor x);

    public abstract Tensor backward(Step step, Tensor dy);

    /** A value cached by a training-mode forward, or a clear error when there was none. */
    protected final <T> T cached(T value) {
        if (value == null) {
            throw new IllegalStateException(getClass().getSimpleName() + " " + name
                + ": backward needs a training-mode forward (new Step(backend, true)) first");
        }
        return value;
    }

    /** Output shape per image for an input shape per image. */
    public abstract int[] outputShape(int[] in);

    /** Appends this module's summary rows for an input of shape {@code in} (per image). */
    public abstract void describe(int[] in, List<LayerInfo> rows);

    /** Direct children, in forward order (empty for leaf layers). */
    public List<Module> children() {
        return List.of();
    }

    /** This module's own parameters (not its children's). */
    protected List<Parameter> ownParameters() {
        return List.of();
    }

    /** Non-trainable state that a checkpoint must keep (BN running statistics), own only. */
    protected List<Parameter> ownBuffers() {
        return List.of();
    }

    /**
     * Every parameter of this module and its descendants, in a stable order, each once: a parameter that several
     * modules share (tied quantizer clips) is listed where it first occurs.
     */
    public final List<Parameter> parameters() {
        java.util.Set<Parameter> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        List<Parameter> out = new ArrayList<>();
        collectParameters(seen, out);
        return out;
    }

    private void collectParameters(java.util.Set<Parameter> seen, List<Parameter> out) {
        for (Parameter p : ownParameters()) {
            if (seen.add(p)) {
                out.add(p);
            }
        }
        for (Module c : children()) {
            c.collectParameters(seen, out);
        }
    }

    public final List<Parameter> buffers() {
        List<Parameter> out = new ArrayList<>(ownBuffers());
        for (Module c : children()) {
            out.addAll(c.buffers());
        }
        return out;
    }

    /** Moves every parameter and buffer to {@code backend} (a copy; the old memory is freed). */
    public void moveTo(Backend backend) {
        for (Parameter p : parameters()) {
            p.moveTo(backend);
        }
        for (Parameter b : buffers()) {
            b.moveTo(backend);
        }
    }

    @Override
    public void close() {
        for (Parameter p : parameters()) {
            p.close();
        }
        for (Parameter b : buffers()) {
            b.close();
        }
    }
}
