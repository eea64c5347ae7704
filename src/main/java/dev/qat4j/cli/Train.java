package dev.qat4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.checkpoint.CheckpointIO;
import dev.qat4j.checkpoint.ModelState;
import dev.qat4j.data.Cifar10;
import dev.qat4j.data.DataNotFoundException;
import dev.qat4j.data.Dataset;
import dev.qat4j.data.Split;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.train.DivergenceException;
import dev.qat4j.train.RunCheckpoint;
import dev.qat4j.train.TrainConfig;
import dev.qat4j.train.TrainingRun;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code qat4j train}: QAT on CIFAR-10. Exit codes: 0 done, 1 unexpected error, 2 bad arguments or missing data,
 * 3 training diverged (the last good checkpoint is kept).
 */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train a model on CIFAR-10 (checkpoints, metrics and curves go to --out).",
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:done", "1:unexpected error", "2:bad arguments or missing data",
            "3:training diverged (the last good checkpoint is kept)"})
final class Train implements Callable<Integer> {
    @Option(names = "--model", defaultValue = "toynet", description = "toynet, mobilenetv2 or resnet20 (default ${DEFAULT-VALUE})")
    String model;
    @Option(names = "--bits", description = "bit-width preset or YAML/JSON file (default: cfg1-star, fp32 for resnet20)")
    String bits;
    @Option(names = "--epochs", defaultValue = "300", description = "default ${DEFAULT-VALUE} (the seed's)")
    int epochs;
    @Option(names = "--batch-size", defaultValue = "128")
    int batchSize;
    @Option(names = "--lr", defaultValue = "0.01", description = "base learning rate (default ${DEFAULT-VALUE})")
    float lr;
    @Option(names = "--eta-min", defaultValue = "0.001", description = "cosine floor (default ${DEFAULT-VALUE})")
    float etaMin;
    @Option(names = "--warmup", defaultValue = "0", description = "linear warm-up epochs")
    int warmup;
    @Option(names = "--momentum", defaultValue = "0.9")
    float momentum;
    @Option(names = "--weight-decay", defaultValue = "5e-4")
    float weightDecay;
    @Option(names = "--nesterov", description = "Nesterov momentum")
    boolean nesterov;
    @Option(names = "--no-decay-norm-alpha", description = "no weight decay on BN parameters and α")
    boolean noDecayNormAlpha;
    @Option(names = "--alpha-penalty", defaultValue = "2e-4", description = "λ of the mPACT penalty λΣα²")
    float alphaPenalty;
    @Option(names = "--label-smoothing", defaultValue = "0")
    float labelSmoothing;
    @Option(names = "--no-augment", description = "no random crop / flip")
    boolean noAugment;
    @Option(names = "--seed", defaultValue = "1")
    long seed;
    @Option(names = "--threads", description = "native threads (default: all cores)")
    Integer threads;
    @Option(names = "--backend", description = "ref, cpu or cuda (default: QAT4J_BACKEND or the best available; cuda only on request)")
    String backend;
    @Option(names = "--data", description = "CIFAR-10 folder or cifar-10-binary.tar.gz (default: QAT4J_DATA, then ~/.cache/qat4j/cifar10)")
    String data;
    @Option(names = "--limit-train", description = "use only the first N training images")
    Integer limitTrain;
    @Option(names = "--limit-test", description = "use only the first N test images")
    Integer limitTest;
    @Option(names = "--out", description = "run folder (default runs/<model>-<bits>)")
    Path out;
    @Option(names = "--init", description = "start from the weights of this checkpoint (e.g. FP32 before QAT)")
    Path init;
    @Option(names = "--resume", description = "continue the run in --out from its last.qck")
    boolean resume;
    @Option(names = "--download", description = "fetch the official CIFAR-10 archive (MD5 checked) if it is not found")
    boolean download;
    @Option(names = "--json", description = "print the result as one JSON object on stdout")
    boolean json;

    @Override
    public Integer call() throws Exception {
        String bitsName = bits != null ? bits : (model.equals("resnet20") ? "fp32" : "cfg1-star");
        Backend b;
        Dataset train, test;
        QuantModel m;
        TrainConfig cfg;
        try {
            b = backend != null ? Backends.byName(backend) : Backends.get();
            if (threads != null && b instanceof CpuBackend) {
                CpuBackend.setThreads(threads);
            }
            cfg = new TrainConfig(epochs, batchSize, lr, etaMin, warmup, momentum, weightDecay, nesterov,
                    !noDecayNormAlpha, alphaPenalty, labelSmoothing, !noAugment, seed);
            Path dataPath = DataOption.locate(data, download);
            train = Cifar10.load(dataPath, Split.TRAIN);
            test = Cifar10.load(dataPath, Split.TEST);
            if (limitTrain != null) {
                train = train.take(limitTrain);
            }
            if (limitTest != null) {
                test = test.take(limitTest);
            }
            m = Models.build(model, BitWidths.resolve(model, bitsName), b, seed);
        } catch (DataNotFoundException | IllegalArgumentException | IllegalStateException e) {
            System.err.println("qat4j train: " + e.getMessage());
            return 2;
        }
        Path dir = out != null ? out : Path.of("runs", model + "-" + bitsName.replaceAll("[^A-Za-z0-9_.-]", "_"));
        try (m) {
            if (init != null) {
                List<String> fresh = ModelState.loadForFineTune(m, RunCheckpoint.modelPart(CheckpointIO.read(init)));
                System.err.println("initialised from " + init + (fresh.isEmpty() ? ""
                        : " (" + fresh.size() + " quantizer clips α it has no value for start at their initial value)"));
            }
            System.err.printf(Locale.ROOT, "training %s (%s) on %s: %d train / %d test images, %d epochs, batch %d%n",
                    model, bitsName, b.description(), train.size(), test.size(), epochs, batchSize);
            ProgressLine progress = new ProgressLine(epochs);
            TrainingRun.Result r = TrainingRun.run(m, b, cfg, train, test, dir, resume, progress, progress::line);
            Path png = dir.resolve("curves.png");
            if (!r.epochs().isEmpty()) {
                try {
                    CurvesPlot.write(png, model + " " + bitsName, CurvesPlot.readMetrics(r.metrics()));
                } catch (LinkageError | RuntimeException e) { // e.g. a runtime without java.desktop (AWT)
                    System.err.println("curves not written (" + e + "); the metrics file has the same figures");
                    png = null;
                }
            }
            System.err.printf(Locale.ROOT, "%nbest test accuracy %.2f%% (epoch %d)%n  checkpoints %s, %s%n  metrics %s"
                    + "%n  curves %s%n", 100 * r.bestAccuracy(), r.bestEpoch(), r.bestCheckpoint(), r.lastCheckpoint(),
                    r.metrics(), png);
            if (json) {
                ObjectNode o = new ObjectMapper().createObjectNode();
                o.put("model", model).put("bits", bitsName).put("backend", b.name()).put("epochs", epochs)
                        .put("best_accuracy", r.bestAccuracy()).put("best_epoch", r.bestEpoch())
                        .put("best_checkpoint", r.bestCheckpoint().toString())
                        .put("last_checkpoint", r.lastCheckpoint().toString())
                        .put("metrics", r.metrics().toString()).put("curves", png == null ? null : png.toString());
                if (!r.epochs().isEmpty()) {
                    TrainingRun.EpochRecord last = r.epochs().get(r.epochs().size() - 1);
                    o.put("final_accuracy", last.testAccuracy()).put("images_per_second", last.imagesPerSecond());
                }
                System.out.println(o);
            }
            return 0;
        } catch (DivergenceException e) {
            System.err.println("\nqat4j train: " + e.getMessage());
            return 3;
        } catch (IllegalArgumentException e) {
            System.err.println("\nqat4j train: " + e.getMessage());
            return 2;
        }
    }
}
