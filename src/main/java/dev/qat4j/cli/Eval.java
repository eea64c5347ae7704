package dev.qat4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.checkpoint.Checkpoint;
import dev.qat4j.checkpoint.CheckpointIO;
import dev.qat4j.checkpoint.ModelState;
import dev.qat4j.data.Cifar10;
import dev.qat4j.data.DataNotFoundException;
import dev.qat4j.data.Dataset;
import dev.qat4j.data.Split;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
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
            ConfusionMatrix cm = Trainer.evaluate(m, b, test, batchSize);
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
