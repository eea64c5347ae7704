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
 * A quantized classification network: images [N, C, H, W] to logits [N, classes], its input and output described by
 * its {@link InputSpec} (CIFAR-10's 3 x 32 x 32 and ten classes unless built for another). Built by {@link Models}
 * from one of the seed's presets, or by users from nn parts ({@code new QuantModel("mine", null, net, spec)}: a
 * custom network carries its bit widths in its layers, so {@code bits} may be null); runs on any backend its
 * parameters live on.
 */
public final class QuantModel implements AutoCloseable {
    private final String name;
    private final BitWidths bits;
    private final Module net;
    private final InputSpec spec;
    /** The step of the latest training forward: one open training pass per model at a time. */
    private final AtomicReference<Step> trainingStep = new AtomicReference<>();

    /** A model of CIFAR-10 images: {@code new QuantModel(name, bits, net, InputSpec.CIFAR10)}. */
    public QuantModel(String name, BitWidths bits, Module net) {
        this(name, bits, net, InputSpec.CIFAR10);
    }

    /**
     * A model taking images of {@code spec}'s shape to {@code spec.classes()} logits.
     *
     * @throws IllegalArgumentException when the parts do not fit together for that shape (naming the layer), or
     *                                  the network's output is not one logit per class
     */
    public QuantModel(String name, BitWidths bits, Module net, InputSpec spec) {
        this.name = name;
        this.bits = bits;
        this.net = java.util.Objects.requireNonNull(net, "net");
        this.spec = java.util.Objects.requireNonNull(spec, "input spec");
        int[] out = net.outputShape(spec.shape()); // fails now, with the layer's name, if the parts do not fit
        if (out.length != 1 || out[0] != spec.classes()) {
            throw new IllegalArgumentException("model " + name + ": for input " + shapeString(spec.shape())
                    + " the network gives " + java.util.Arrays.toString(out) + " per image, but the input spec has "
                    + spec.classes() + " classes");
        }
    }

    /** What the model takes and gives: image shape, normalisation and class names. */
    public InputSpec inputSpec() {
        return spec;
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
        checkImages(images);
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

    /** Refuses a batch that is not [N, C, H, W] of this model's spec, naming both shapes. */
    private void checkImages(Tensor images) {
        int[] s = images.shape();
        if (s.length != 4 || s[1] != spec.channels() || s[2] != spec.height() || s[3] != spec.width()) {
            throw new IllegalArgumentException("model " + name + ": expects images [N, " + spec.channels() + ", "
                    + spec.height() + ", " + spec.width() + "] (" + shapeString(spec.shape()) + " per image), got "
                    + java.util.Arrays.toString(s));
        }
    }

    /** {@code C x H x W}. */
    static String shapeString(int[] chw) {
        return chw[0] + " x " + chw[1] + " x " + chw[2];
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
        net.describe(spec.shape(), rows);
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
