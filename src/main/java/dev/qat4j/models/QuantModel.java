package dev.qat4j.models;

import dev.qat4j.backend.Backend;
import dev.qat4j.nn.LayerInfo;
import dev.qat4j.nn.Module;
import dev.qat4j.nn.Parameter;
import dev.qat4j.nn.Step;
import dev.qat4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A quantized classification network: images [N, 3, 32, 32] to logits [N, classes]. Built by {@link Models} from
 * one of the seed's presets, or by users from nn parts ({@code new QuantModel("mine", null, net)}: a custom network
 * carries its bit widths in its layers, so {@code bits} may be null); runs on any backend its parameters live on.
 */
public final class QuantModel implements AutoCloseable {
    private static final int[] INPUT_SHAPE = {3, 32, 32};

    private final String name;
    private final BitWidths bits;
    private final Module net;
    /** The step of the latest training forward: one open training pass per model at a time. */
    private final AtomicReference<Step> trainingStep = new AtomicReference<>();

    /** The shape of one input image, {@code [3, 32, 32]} (CHW): a fresh array on every call. */
    public static int[] inputShape() {
        return INPUT_SHAPE.clone();
    }

    public QuantModel(String name, BitWidths bits, Module net) {
        this.name = name;
        this.bits = bits;
        this.net = net;
        net.outputShape(inputShape()); // fails now, with the layer's name, if the parts do not fit together
    }

    public String name() {
        return name;
    }

    public BitWidths bits() {
        return bits;
    }

    public Module net() {
        return net;
    }

    /**
     * Logits for a batch of images; the step owns every intermediate tensor. Eval-mode passes ({@code new
     * Step(backend, false)}) may run from several threads at once, one step each, while nothing trains or loads
     * into the model. A training pass (a forward and its backward on one training-mode step) keeps its inputs in
     * the layers (see {@link Module#forward}), so training passes run one at a time per model: a training forward
     * while another training step of this model is still open (not closed) is an IllegalStateException.
     */
    public Tensor forward(Step step, Tensor images) {
        if (step.training()) {
            claimTraining(step);
        }
        return net.forward(step, images);
    }

    /**
     * Sets every parameter's gradient from dL/dlogits; returns dL/dimages. Must run on the open step of this
     * model's latest training forward (IllegalStateException otherwise).
     */
    public Tensor backward(Step step, Tensor dlogits) {
        if (step == null || trainingStep.get() != step || step.isClosed()) {
            throw new IllegalStateException("model " + name + ": backward needs a training-mode forward on the same, "
                + "still open Step first (new Step(backend, true); forward, then backward, then close)");
        }
        return net.backward(step, dlogits);
    }

    private void claimTraining(Step step) {
        while (true) {
            Step current = trainingStep.get();
            if (current != null && current != step && !current.isClosed()) {
                throw new IllegalStateException("model " + name + ": a training pass is already in progress on another "
                    + "open Step (the layers keep its inputs for the backward); training passes run one at a time per "
                    + "model, so close that Step first. Eval-mode passes (new Step(backend, false)) may run concurrently.");
            }
            if (trainingStep.compareAndSet(current, step)) {
                return;
            }
        }
    }

    public List<Parameter> parameters() {
        return net.parameters();
    }

    public List<Parameter> buffers() {
        return net.buffers();
    }

    public void moveTo(Backend backend) {
        net.moveTo(backend);
    }

    /** Summary rows, one per layer, in forward order. */
    public List<LayerInfo> summary() {
        List<LayerInfo> rows = new ArrayList<>();
        net.describe(inputShape(), rows);
        return rows;
    }

    /** Parameters by the seed's convention (α excluded). */
    public long paramCount() {
        return summary().stream().mapToLong(LayerInfo::params).sum();
    }

    public long maddCount() {
        return summary().stream().mapToLong(LayerInfo::madds).sum();
    }

    @Override
    public void close() {
        net.close();
    }
}
