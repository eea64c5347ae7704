package dev.qat4j.train;

import dev.qat4j.checkpoint.Checkpoint;
import dev.qat4j.checkpoint.CheckpointIO;
import dev.qat4j.models.ModelState;
import dev.qat4j.models.QuantModel;
import dev.qat4j.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * A training checkpoint: the model's parameters and buffers (as {@link ModelState} writes them) plus the optimizer's
 * momentum buffers under {@value #MOMENTUM_PREFIX}{@code <parameter>} and the run's metadata (epochs done, best
 * accuracy, the configuration). Everything needed to resume exactly: the data order and augmentation are pure
 * functions of (seed, epoch), so the epoch count is the whole RNG state.
 */
public final class RunCheckpoint {
    public static final String MOMENTUM_PREFIX = "optimizer.momentum.";

    private RunCheckpoint() {
    }

    /** Writes model, optimizer and {@code meta} to {@code file} atomically (the previous file survives any failure). */
    public static void write(Path file, QuantModel model, Optimizer optimizer, Map<String, String> meta)
            throws IOException {
        Checkpoint base = ModelState.save(model, meta);
        Checkpoint.Builder b = Checkpoint.builder(base.model()).meta(base.meta());
        base.tensors().forEach(b::add);
        if (optimizer != null) {
            for (Map.Entry<String, Tensor> e : optimizer.momentumBuffers().entrySet()) {
                b.add(MOMENTUM_PREFIX + e.getKey(), e.getValue());
            }
        }
        CheckpointIO.write(file, b.build());
    }

    /** The model part of a run checkpoint (the optimizer's tensors left out), for loading weights only. */
    public static Checkpoint modelPart(Checkpoint c) {
        Checkpoint.Builder b = Checkpoint.builder(c.model()).meta(c.meta());
        c.tensors().forEach((name, t) -> {
            if (!name.startsWith(MOMENTUM_PREFIX)) {
                b.add(name, t);
            }
        });
        return b.build();
    }

    /** Loads weights into {@code model} and momentum into {@code optimizer} (when not null). */
    public static void restore(Checkpoint c, QuantModel model, Optimizer optimizer) {
        ModelState.load(model, modelPart(c));
        if (optimizer != null) {
            c.tensors().forEach((name, t) -> {
                if (name.startsWith(MOMENTUM_PREFIX)) {
                    optimizer.setMomentum(name.substring(MOMENTUM_PREFIX.length()), t.floats());
                }
            });
        }
    }
}
