package dev.qat4j.cli;

import dev.qat4j.backend.Backend;
import dev.qat4j.checkpoint.Checkpoint;
import dev.qat4j.checkpoint.CheckpointIO;
import dev.qat4j.checkpoint.ModelState;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.quant.RequantFormat;
import dev.qat4j.integer.IntegerConverter;
import java.io.IOException;
import java.nio.file.Path;

/** Loading a training checkpoint into its model, and the conversion options, as the integer commands share them. */
final class ModelLoading {
    private ModelLoading() {
    }

    /**
     * The model a {@code .qck} describes, with its weights; {@code expectedModel} (may be null) must match. Bad files
     * and mismatches are IllegalArgumentExceptions or IOExceptions naming the file.
     */
    static QuantModel load(Path checkpoint, String expectedModel, Backend b) throws IOException {
        return load(CheckpointIO.read(checkpoint), checkpoint, expectedModel, b);
    }

    /** {@link #load(Path, String, Backend)} of a checkpoint already read from {@code checkpoint}. */
    static QuantModel load(Checkpoint c, Path checkpoint, String expectedModel, Backend b) {
        if ("qat4j-integer-model".equals(c.metaString("kind"))) {
            throw new IllegalArgumentException(checkpoint + " is an integer model (.qim), not a training checkpoint");
        }
        if (expectedModel != null && !expectedModel.equals(c.model())) {
            throw new IllegalArgumentException("checkpoint " + checkpoint + " is of model '" + c.model() + "', not '"
                    + expectedModel + "'");
        }
        String yaml = c.metaString(ModelState.BITS_KEY);
        if (yaml == null) {
            throw new IllegalArgumentException("checkpoint " + checkpoint + " has no bit widths (meta 'bits')");
        }
        QuantModel m = Models.build(c.model(), BitWidths.fromYaml(yaml, c.model(), "checkpoint " + checkpoint), b, 0);
        try {
            ModelState.load(m, c);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
        return m;
    }

    static IntegerConverter.Options options(String format, boolean seedCompatible) {
        if (seedCompatible) {
            return format == null ? IntegerConverter.Options.seed()
                    : new IntegerConverter.Options(RequantFormat.parse(format), true);
        }
        return format == null ? IntegerConverter.Options.exact()
                : IntegerConverter.Options.of(RequantFormat.parse(format));
    }
}
