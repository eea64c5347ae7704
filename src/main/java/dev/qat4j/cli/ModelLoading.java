package dev.qat4j.cli;

import dev.qat4j.backend.Backend;
import dev.qat4j.checkpoint.Checkpoint;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.ModelState;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.quant.RequantFormat;
import dev.qat4j.integer.IntegerConverter;
import dev.qat4j.integer.SeedPath;
import dev.qat4j.train.RunCheckpoint;
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
        return load(Checks.readCheckpoint("--checkpoint", checkpoint), checkpoint, expectedModel, b);
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

    /** The fake-quant model of a training checkpoint ({@code best.qck} or {@code last.qck}), for evaluation. */
    static QuantModel loadForEval(Checkpoint c, Path checkpoint, Backend b) {
        QuantModel m;
        try {
            m = Models.build(c.model(), BitWidths.fromYaml(c.metaString(ModelState.BITS_KEY), c.model(),
                    "checkpoint " + checkpoint), b, 0);
        } catch (IllegalArgumentException e) {
            throw new UserError("checkpoint " + checkpoint + " is not a qat4j model checkpoint: " + e.getMessage(), e);
        }
        try {
            RunCheckpoint.restore(c, m, null);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
        return m;
    }

    /**
     * The conversion options of {@code --format} / {@code --seed-compatible}: a {@code seed...} format is the seed's
     * path (implies --seed-compatible); with --seed-compatible an {@code ap_fixed<W,I>} format is the seed's
     * middle-layer format; otherwise the format as given (default dyadic32, exact).
     */
    static IntegerConverter.Options options(String format, boolean seedCompatible) {
        if (SeedPath.looksLikeSeed(format)) {
            return IntegerConverter.Options.seed(SeedPath.parse(format));
        }
        if (seedCompatible) {
            if (format == null) {
                return IntegerConverter.Options.seed();
            }
            RequantFormat f = RequantFormat.parse(format);
            if (!(f instanceof RequantFormat.ApFixed ap) || format.contains("/")) {
                throw new IllegalArgumentException("--seed-compatible takes an ap_fixed<W,I> middle-layer format "
                        + "without rounding (the seed truncates), not '" + format + "'");
            }
            return IntegerConverter.Options.seed(SeedPath.seed(ap.totalBits(), ap.intBits()));
        }
        return format == null ? IntegerConverter.Options.exact()
                : IntegerConverter.Options.of(RequantFormat.parse(format));
    }

    /** One sweep entry: a seed path ({@code seed}, {@code seed<W,I>...}) or a requantization format. */
    static IntegerConverter.Options sweepEntry(String entry) {
        return SeedPath.looksLikeSeed(entry) ? IntegerConverter.Options.seed(SeedPath.parse(entry))
                : IntegerConverter.Options.of(RequantFormat.parse(entry));
    }
}
