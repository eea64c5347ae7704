package dev.qat4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qat4j.backend.Backend;
import dev.qat4j.checkpoint.Checkpoint;
import dev.qat4j.data.Cifar10;
import dev.qat4j.data.Dataset;
import dev.qat4j.data.Split;
import dev.qat4j.models.QuantModel;
import dev.qat4j.predict.ModelFiles;
import dev.qat4j.predict.ModelKind;
import dev.qat4j.integer.IntegerConverter;
import dev.qat4j.integer.IntegerEval;
import dev.qat4j.integer.IntegerModel;
import dev.qat4j.train.ConfusionMatrix;
import dev.qat4j.train.Trainer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code qat4j eval --checkpoint CKPT}: test accuracy, per-class accuracy and the confusion matrix. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Evaluate a training checkpoint (.qck) or an integer model (.qim) on the CIFAR-10 test set.",
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:done", "1:internal error (a bug; --verbose prints the stack trace)",
            "2:bad option, unreadable checkpoint or missing data"})
final class Eval implements Callable<Integer> {
    @Option(names = "--checkpoint", required = true, paramLabel = "FILE", description = "a .qck written by qat4j "
            + "train, or a .qim written by qat4j convert (required)")
    Path checkpoint;
    @Option(names = "--integer", description = "evaluate the integer model (exact dyadic32 conversion, or --format) "
            + "instead of the fake-quant one; a .qim is always evaluated as the integer model it is (default off)")
    boolean integer;
    @Option(names = "--format", paramLabel = "F", description = "with --integer: the requantization format, e.g. "
            + "dyadic16 (default dyadic32, exact)")
    String format;
    @Option(names = "--limit-test", paramLabel = "N", description = "only the first N test images (default: all 10,000)")
    Integer limitTest;
    @Option(names = "--batch-size", paramLabel = "N", defaultValue = "256", description = "images per batch "
            + "(default ${DEFAULT-VALUE})")
    int batchSize;
    @Option(names = "--backend", description = "ref, cpu or cuda (default: QAT4J_BACKEND or the best available)")
    String backend;
    @picocli.CommandLine.Mixin
    DataOption data = new DataOption();
    @Option(names = "--json", description = "print the result as one JSON object on stdout (default off)")
    boolean json;
    @Option(names = "--predictions", paramLabel = "FILE", description = "also write each image's prediction to a CSV "
            + "file: image,label,prediction,logit_0,...; an integer model's logits are its exact int64 outputs, so a "
            + "re-implementation can be compared image by image (default: none)")
    Path predictions;
    @Option(names = "--overwrite", description = "replace an existing --predictions file (default off: refused)")
    boolean overwrite;

    @Override
    public Integer call() throws IOException {
        Checks.positive("--batch-size", batchSize);
        Checks.positive("--limit-test", limitTest);
        Checks.inputFile("--checkpoint", checkpoint);
        if (predictions != null) {
            Checks.outputFile("--predictions", predictions, overwrite, "--overwrite");
        } else if (overwrite) {
            throw new UserError("--overwrite replaces an existing --predictions file: give --predictions FILE");
        }
        IntegerConverter.Options conversion = format != null ? ModelLoading.options(format, false) : null;
        Backend b = Checks.backend(backend);
        Checkpoint c = Checks.readCheckpoint("--checkpoint", checkpoint);
        boolean isIntegerModel = ModelFiles.kindOf(c) == ModelKind.INTEGER;
        if (isIntegerModel && format != null) {
            throw new UserError("--format " + format + ": " + checkpoint + " is already an integer model (convert "
                    + "its training checkpoint again to change the format)");
        }
        if (!isIntegerModel && format != null && !integer) {
            throw new UserError("--format " + format + " applies to the integer model: add --integer (" + checkpoint
                    + " is a training checkpoint, evaluated as the fake-quant model without it)");
        }
        Dataset test = Cifar10.load(data.locate(json), Split.TEST);
        if (limitTest != null) {
            test = test.take(limitTest);
        }
        TaskProgress progress = TaskProgress.of("eval", "images", json);
        int total = test.size();
        PredictionRows rows = predictions == null ? null : new PredictionRows(total);
        int exit;
        try {
            if (isIntegerModel || integer) {
                exit = evaluateInteger(c, b, test, conversion, done -> progress.update(done, total), rows);
            } else {
                try (QuantModel m = ModelLoading.load(c, checkpoint, null, b)) {
                    exit = report(c.model(), Trainer.evaluate(m, b, test, batchSize,
                            done -> progress.update(done, total), rows == null ? null : rows::add));
                }
            }
        } finally {
            progress.finish();
        }
        if (rows != null) {
            OutputFiles.replace(predictions, tmp -> java.nio.file.Files.writeString(tmp, rows.csv()));
        }
        return exit;
    }

    /** Each image's label, prediction and logits, in data-set order, as the CSV of {@code --predictions}. */
    static final class PredictionRows {
        private final StringBuilder csv = new StringBuilder();
        private int next;
        private final int total;

        PredictionRows(int total) {
            this.total = total;
        }

        void add(int index, int label, int prediction, float[] logits, int offset, int classes) {
            start(index, label, prediction, classes);
            for (int k = 0; k < classes; k++) {
                csv.append(',').append(logits[offset + k]); // Float.toString: reads back to the same float
            }
            csv.append('\n');
        }

        void add(int index, int label, int prediction, long[] logits, int offset, int classes) {
            start(index, label, prediction, classes);
            for (int k = 0; k < classes; k++) {
                csv.append(',').append(logits[offset + k]);
            }
            csv.append('\n');
        }

        /** The header before the first image, then this image's index, label and prediction. */
        private void start(int index, int label, int prediction, int classes) {
            if (index != next) {
                throw new IllegalStateException("--predictions: image " + index + " arrived where " + next
                        + " was expected");
            }
            next++;
            if (csv.length() == 0) {
                csv.append("image,label,prediction");
                for (int k = 0; k < classes; k++) {
                    csv.append(",logit_").append(k);
                }
                csv.append('\n');
            }
            csv.append(index).append(',').append(label).append(',').append(prediction);
        }

        String csv() {
            if (next != total) {
                throw new IllegalStateException("--predictions: " + next + " of " + total + " images were evaluated");
            }
            return csv.toString();
        }
    }

    /** The integer model's accuracy: a .qim as it is, or a training checkpoint converted now. */
    private int evaluateInteger(Checkpoint c, Backend b, Dataset test, IntegerConverter.Options conversion,
                                java.util.function.IntConsumer progress, PredictionRows rows) throws IOException {
        IntegerEval.ImageLogits perImage = rows == null ? null : rows::add;
        if (ModelFiles.kindOf(c) == ModelKind.INTEGER) {
            try (IntegerModel im = ModelLoading.loadInteger(c, checkpoint, b)) {
                return report(im.model() + " integer (" + im.format() + ")",
                        IntegerEval.evaluate(im, b, test, batchSize, progress, perImage));
            }
        }
        try (QuantModel source = ModelLoading.load(c, checkpoint, null, b);
             IntegerModel im = IntegerConverter.convert(source, conversion != null ? conversion
                     : IntegerConverter.Options.exact())) {
            return report(im.model() + " integer (" + im.format() + ")",
                    IntegerEval.evaluate(im, b, test, batchSize, progress, perImage));
        }
    }

    private int report(String modelName, ConfusionMatrix cm) {
        {
            double[] perClass = cm.perClassAccuracy();
            long[][] counts = cm.counts();
            if (json) {
                ObjectMapper om = new ObjectMapper();
                ObjectNode o = om.createObjectNode();
                o.put("checkpoint", checkpoint.toString()).put("model", modelName).put("images", cm.total())
                        .put("accuracy", cm.accuracy());
                ObjectNode pc = o.putObject("per_class_accuracy");
                for (int i = 0; i < perClass.length; i++) {
                    pc.put(Cifar10.CLASS_NAMES.get(i), perClass[i]);
                }
                ArrayNode rows = o.putArray("confusion_matrix");
                for (long[] row : counts) {
                    ArrayNode r = rows.addArray();
                    for (long v : row) {
                        r.add(v);
                    }
                }
                System.out.println(o);
                return 0;
            }
            System.out.printf(Locale.ROOT, "%s (%s): test accuracy %.2f%% on %d images%n%n", checkpoint, modelName,
                    100 * cm.accuracy(), cm.total());
            System.out.printf("%-12s %8s   confusion (rows: true class, columns: predicted)%n", "class", "acc %");
            for (int i = 0; i < perClass.length; i++) {
                StringBuilder row = new StringBuilder();
                for (long v : counts[i]) {
                    row.append(String.format("%6d", v));
                }
                System.out.printf(Locale.ROOT, "%-12s %8.2f %s%n", Cifar10.CLASS_NAMES.get(i), 100 * perClass[i], row);
            }
            return 0;
        }
    }
}
