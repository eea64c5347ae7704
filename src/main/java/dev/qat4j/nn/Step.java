package dev.qat4j.nn;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.TensorScope;
import dev.qat4j.tensor.Tensor;

/**
 * One forward (and backward) pass: the backend, whether the model trains, and the scope that owns every
 * intermediate tensor of the pass. Modules cache references to their inputs for the backward; closing the step
 * frees them all at once, so nothing leaks and nothing is freed while the backward still needs it.
 */
public final class Step implements AutoCloseable {
    private final Backend backend;
    private final boolean training;
    private final TensorScope scope = new TensorScope();
    private volatile boolean closed;
    private QuantizerObserver observer;

    /** Sees the input of every activation quantizer of a pass (the integer model's reports compare against it). */
    @FunctionalInterface
    public interface QuantizerObserver {
        void quantizerInput(ActQuant quantizer, Tensor x);
    }

    public Step(Backend backend, boolean training) {
        if (backend == null) {
            throw new IllegalArgumentException("Step: backend is null");
        }
        this.backend = backend;
        this.training = training;
    }

    public Backend backend() {
        return backend;
    }

    public boolean training() {
        return training;
    }

    /** Calls {@code o} with each activation quantizer's input during this step's forward; returns this. */
    public Step observeQuantizers(QuantizerObserver o) {
        this.observer = o;
        return this;
    }

    void quantizerInput(ActQuant q, Tensor x) {
        if (observer != null) {
            observer.quantizerInput(q, x);
        }
    }

    /**
     * Whether {@code p} receives its first gradient of this pass (true once per parameter and step): a parameter
     * shared by several modules (tied quantizer clips) takes the first module's gradient and adds the others'.
     */
    boolean firstGradient(Parameter p) {
        return gradientsSet.add(p);
    }

    private final java.util.Set<Parameter> gradientsSet =
        java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());

    /** Registers an intermediate tensor to be freed with the step; returns it. */
    public Tensor keep(Tensor t) {
        return t == null ? null : scope.track(t);
    }

    /** Whether {@link #close} has run (its tensors are freed). */
    public boolean isClosed() {
        return closed;
    }

    @Override
    public void close() {
        closed = true;
        scope.close();
    }
}
