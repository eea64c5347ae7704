package dev.qat4j.cli;

import dev.qat4j.backend.Backend;
import dev.qat4j.checkpoint.Checkpoint;
import dev.qat4j.models.QuantModel;
import dev.qat4j.predict.ModelFiles;
import dev.qat4j.predict.ModelKind;
import dev.qat4j.quant.RequantFormat;
import dev.qat4j.integer.IntegerConverter;
import dev.qat4j.integer.IntegerModel;
import dev.qat4j.integer.SeedPath;
import java.io.IOException;
import java.nio.file.Path;

/** Loading a training checkpoint into its model, and the conversion options, as the integer commands share them. */
final class ModelLoading {
    private ModelLoading() {
    }

    /**
     * The model a {@code .qck} describes, with its weights, loaded by the library's one loading path
     * ({@link ModelFiles#loadFloat}); {@code expectedModel} (may be null) must match. Bad files and mismatches are
     * IllegalArgumentExceptions or IOExceptions naming the file.
     */
    static QuantModel load(Path checkpoint, String expectedModel, Backend b) throws IOException {
        return load(Checks.readCheckpoint("--checkpoint", checkpoint), checkpoint, expectedModel, b);
    }

    /** {@link #load(Path, String, Backend)} of a checkpoint already read from {@code checkpoint}. */
    static QuantModel load(Checkpoint c, Path checkpoint, String expectedModel, Backend b) throws IOException {
        ModelFiles.requireKind(c, ModelKind.FLOAT, checkpoint.toString()); // before the model check: says more
        if (expectedModel != null && !expectedModel.equals(c.model())) {
            throw new IllegalArgumentException("checkpoint " + checkpoint + " is of model '" + c.model() + "', not '"
                    + expectedModel + "'");
        }
        return ModelFiles.loadFloat(c, checkpoint.toString(), b);
    }

    /** The integer model of a {@code .qim} already read from {@code file}, by the library's one loading path. */
    static IntegerModel loadInteger(Checkpoint c, Path file, Backend b) throws IOException {
        return ModelFiles.loadInteger(c, file.toString(), b);
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
