package dev.qat4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.checkpoint.Checkpoint;
import dev.qat4j.checkpoint.CheckpointIO;
import dev.qat4j.data.Cifar10;
import dev.qat4j.data.DataNotFoundException;
import dev.qat4j.data.Dataset;
import dev.qat4j.data.Split;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.ModelState;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.integer.IntegerConverter;
import dev.qat4j.integer.IntegerEval;
import dev.qat4j.integer.IntegerModel;
import dev.qat4j.integer.IntegerModelIO;
import dev.qat4j.train.ConfusionMatrix;
import dev.qat4j.train.RunCheckpoint;
import dev.qat4j.train.Trainer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code qat4j eval --checkpoint CKPT}: test accuracy, per-class accuracy and the confusion matrix. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Evaluate a checkpoint on the CIFAR-10 test set.",
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:done", "1:unexpected error", "2:bad arguments, unreadable checkpoint or missing data"})
final class Eval implements Callable<Integer> {
    @Option(names = "--checkpoint", required = true, description = "a .qck file written by qat4j train")
    Path checkpoint;
    @Option(names = "--data", description = "CIFAR-10 folder or archive (default: QAT4J_DATA, then ~/.cache/qat4j/cifar10)")
    String data;
    @Option(names = "--limit-test", description = "only the first N test images")
    Integer limitTest;
    @Option(names = "--batch-size", defaultValue = "256")
    int batchSize;
    @Option(names = "--backend", description = "ref, cpu or cuda")
    String backend;
    @Option(names = "--download", description = "fetch the official CIFAR-10 archive (MD5 checked) if it is not found")
    boolean download;
    @Option(names = "--json", description = "print the result as one JSON object on stdout")
    boolean json;
    @Option(names = "--integer", description = "evaluate the integer model (exact dyadic32 conversion, or --format) "
            + "instead of the fake-quant one; a .qim file is always evaluated as the integer model it is")
    boolean integer;
    @Option(names = "--format", description = "with --integer: the requantization format (e.g. dyadic16)")
    String format;

    @Override
    public Integer call() {
        Checkpoint c;
        Dataset test;
        Backend b;
        try {
            b = backend != null ? Backends.byName(backend) : Backends.get();
            c = CheckpointIO.read(checkpoint);
            test = Cifar10.load(DataOption.locate(data, download), Split.TEST);
            if (limitTest != null) {
                test = test.take(limitTest);
            }
        } catch (IOException | DataNotFoundException | IllegalArgumentException | IllegalStateException e) {
            System.err.println("qat4j eval: " + e.getMessage());
            return 2;
        }
        if (IntegerModelIO.KIND.equals(c.metaString("kind")) || integer) {
            return evaluateInteger(c, b, test);
        }
        String modelName = c.model();
        String bitsYaml = c.metaString(ModelState.BITS_KEY);
        QuantModel m;
        try {
            m = Models.build(modelName, BitWidths.fromYaml(bitsYaml, modelName, "checkpoint " + checkpoint), b, 0);
        } catch (IllegalArgumentException e) {
            System.err.println("qat4j eval: checkpoint " + checkpoint + " is not a qat4j model checkpoint: "
                    + e.getMessage());
            return 2;
        }
        try (m) {
            RunCheckpoint.restore(c, m, null);
            return report(modelName, Trainer.evaluate(m, b, test, batchSize));
        }
    }

    /** The integer model's accuracy: a .qim as it is, or a training checkpoint converted now. */
    private int evaluateInteger(Checkpoint c, Backend b, Dataset test) {
        IntegerModel im;
        QuantModel source = null;
        try {
            if (IntegerModelIO.KIND.equals(c.metaString("kind"))) {
                if (format != null) {
                    System.err.println("qat4j eval: --format applies when converting a training checkpoint; "
                            + checkpoint + " is already an integer model (" + "convert it again to change the format)");
                    return 2;
                }
                im = IntegerModelIO.fromCheckpoint(c, checkpoint, b);
            } else {
                source = ModelLoading.load(c, checkpoint, null, b);
                im = IntegerConverter.convert(source, ModelLoading.options(format, false));
            }
        } catch (IOException | IllegalArgumentException | IllegalStateException e) {
            System.err.println("qat4j eval: " + e.getMessage());
            if (source != null) {
                source.close();
            }
            return 2;
        }
        try (im) {
            return report(im.model() + " integer (" + im.format() + ")", IntegerEval.evaluate(im, b, test, batchSize));
        } finally {
            if (source != null) {
                source.close();
            }
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
