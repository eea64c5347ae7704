package dev.qat4j.predict;

import dev.qat4j.backend.Backend;
import dev.qat4j.checkpoint.Checkpoint;
import dev.qat4j.checkpoint.CheckpointFormatException;
import dev.qat4j.integer.IntegerModel;
import dev.qat4j.integer.IntegerModelIO;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.InputSpec;
import dev.qat4j.models.ModelState;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.train.RunCheckpoint;
import java.util.Objects;

/**
 * The one path from a checkpoint container, already read with {@link dev.qat4j.checkpoint.CheckpointIO}, to a
 * model: {@link Predictor} and the command line both load through here, so a file is accepted or refused the same
 * way everywhere. Every refusal is a {@link CheckpointFormatException} whose message starts with
 * {@code checkpoint <source>:} and says what was expected and what the file holds.
 */
public final class ModelFiles {
    private ModelFiles() {
    }

    /** What {@code c} holds: an integer model when its meta {@code kind} says so, else a float training checkpoint. */
    public static ModelKind kindOf(Checkpoint c) {
        return IntegerModelIO.KIND.equals(Objects.requireNonNull(c, "checkpoint").metaString("kind"))
                ? ModelKind.INTEGER : ModelKind.FLOAT;
    }

    /**
     * Refuses {@code c} unless it holds {@code expected}, naming both kinds.
     *
     * @throws CheckpointFormatException when the container holds the other kind of model
     */
    public static void requireKind(Checkpoint c, ModelKind expected, String source) throws CheckpointFormatException {
        ModelKind actual = kindOf(c);
        if (actual != expected) {
            String hint = actual == ModelKind.FLOAT ? " (`qat4j convert` turns it into one)" : "";
            throw new CheckpointFormatException(source, "expected " + expected.description() + ", but it is "
                    + actual.description() + hint);
        }
    }

    /**
     * The input shape, normalisation and class names {@code c} records ({@link InputSpec#of}; CIFAR-10 for files
     * from before they were recorded).
     *
     * @throws CheckpointFormatException when the recorded spec is malformed
     */
    public static InputSpec inputSpec(Checkpoint c, String source) throws CheckpointFormatException {
        try {
            return InputSpec.of(c, "checkpoint " + source);
        } catch (IllegalArgumentException e) {
            throw new CheckpointFormatException(source, e.getMessage(), e);
        }
    }

    /**
     * The float (fake-quant) model of a training checkpoint with its weights, its parameters on {@code backend};
     * optimizer state in a run checkpoint ({@code last.qck}) is skipped. The caller closes the model.
     *
     * @throws CheckpointFormatException for an integer model, a checkpoint without bit widths, an unknown model or
     *     weights that do not fit it
     */
    public static QuantModel loadFloat(Checkpoint c, String source, Backend backend) throws CheckpointFormatException {
        Objects.requireNonNull(backend, "backend");
        requireKind(c, ModelKind.FLOAT, source);
        String yaml = c.metaString(ModelState.BITS_KEY);
        if (yaml == null) {
            throw new CheckpointFormatException(source, "no bit widths (meta '" + ModelState.BITS_KEY
                    + "'): not a checkpoint written by qat4j train");
        }
        QuantModel m;
        try {
            m = Models.build(c.model(), BitWidths.fromYaml(yaml, c.model(), "checkpoint " + source),
                    inputSpec(c, source), backend, 0); // the shape, channels and classes the file records
        } catch (IllegalArgumentException e) {
            throw new CheckpointFormatException(source, "not a qat4j model checkpoint: " + e.getMessage(), e);
        }
        try {
            RunCheckpoint.restore(c, m, null);
        } catch (IllegalArgumentException e) {
            m.close();
            throw new CheckpointFormatException(source, e.getMessage(), e);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
        return m;
    }

    /**
     * The integer model of a {@code .qim} container, its float prefix on {@code backend}. The caller closes it.
     *
     * @throws CheckpointFormatException for a training checkpoint, or a container that is not a consistent
     *     integer model
     */
    public static IntegerModel loadInteger(Checkpoint c, String source, Backend backend)
            throws CheckpointFormatException {
        Objects.requireNonNull(backend, "backend");
        requireKind(c, ModelKind.INTEGER, source);
        return IntegerModelIO.read(c, source, backend);
    }
}
