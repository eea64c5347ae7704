package dev.qat4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.checkpoint.CheckpointIO;
import dev.qat4j.data.Cifar10;
import dev.qat4j.data.DataNotFoundException;
import dev.qat4j.data.Dataset;
import dev.qat4j.data.Split;
import dev.qat4j.experiments.Experiment;
import dev.qat4j.experiments.Recipe;
import dev.qat4j.experiments.RunRecord;
import dev.qat4j.experiments.SeedExperiments;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.ModelState;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.train.DivergenceException;
import dev.qat4j.train.RunCheckpoint;
import dev.qat4j.train.TrainConfig;
import dev.qat4j.train.TrainingRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code qat4j train}: QAT on CIFAR-10, with the seed's recipe for the model (or for {@code --experiment ID}) wherever
 * an option is not given; the options given in its place are recorded in the run folder's {@code run.json}. Exit codes: 0 done, 1 unexpected error, 2 bad arguments or missing data,
 * 3 training diverged (the last good checkpoint is kept).
 */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train a model on CIFAR-10 (checkpoints, metrics, curves and run.json go to --out).",
            "Every option not given takes the seed's recipe for the model, or the experiment's with --experiment "
                + "(`qat4j experiments` lists them); options given override it and run.json records each override.",
            "Seed defaults: 300 epochs, lr cosine to 0.001, momentum 0.9, weight decay 5e-4, α penalty 2e-4, "
                + "crop+flip; toynet and mobilenetv2 batch 128 at lr 0.01 (bits cfg1-star), resnet20 batch 256 at "
                + "lr 0.1 (bits int8, DoReFa)."},
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:done", "1:unexpected error", "2:bad arguments or missing data",
            "3:training diverged (the last good checkpoint is kept)"})
final class Train implements Callable<Integer> {
    @Option(names = "--experiment", paramLabel = "ID",
            description = "run a row of the seed's tables with its recipe (ids: `qat4j experiments`)")
    String experiment;
    @Option(names = "--model", description = "toynet, mobilenetv2 or resnet20 (default: the experiment's, else toynet)")
    String model;
    @Option(names = "--bits", description = "bit-width preset or YAML/JSON file (default: the experiment's, else "
            + "cfg1-star for toynet and mobilenetv2, int8 for resnet20)")
    String bits;
    @Option(names = "--act", paramLabel = "KIND", description = "activation quantizer for the whole model: dorefa, pact, "
            + "mpact or fixed-clip (default: the bits' own, i.e. the seed's kinds: mPACT in toynet and mobilenetv2, "
            + "DoReFa in resnet20)")
    String act;
    @Option(names = "--act-clip", paramLabel = "C", description = "the fixed clip of --act fixed-clip (default 2, the seed's)")
    Float actClip;
    @Option(names = "--no-branch-quant", description = "resnet20: no quantizer on the shortcut branch output "
            + "(the seed's \"w/o branch_out quant\" row)")
    boolean noBranchQuant;
    @Option(names = "--epochs", description = "default 300 (the seed's, every model)")
    Integer epochs;
    @Option(names = "--batch-size", description = "default 128 for toynet and mobilenetv2, 256 for resnet20")
    Integer batchSize;
    @Option(names = "--lr", description = "base learning rate (default 0.01 for toynet and mobilenetv2, 0.1 for resnet20)")
    Float lr;
    @Option(names = "--eta-min", description = "floor of the cosine schedule (default 0.001)")
    Float etaMin;
    @Option(names = "--warmup", description = "linear warm-up epochs (default 0)")
    Integer warmup;
    @Option(names = "--momentum", description = "SGD momentum (default 0.9)")
    Float momentum;
    @Option(names = "--weight-decay", description = "on every parameter, α and BN included (default 5e-4)")
    Float weightDecay;
    @Option(names = "--alpha-penalty", description = "λ of the PACT/mPACT penalty λΣα² (default 2e-4)")
    Float alphaPenalty;
    @Option(names = "--no-augment", description = "no random crop (pad 4) / horizontal flip (default: both, the seed's)")
    boolean noAugment;
    @Option(names = "--nesterov", description = "Nesterov momentum (default off, as the seed)")
    boolean nesterov;
    @Option(names = "--no-decay-norm-alpha", description = "no weight decay on BN parameters and α (default: decayed, as the seed)")
    boolean noDecayNormAlpha;
    @Option(names = "--label-smoothing", defaultValue = "0", description = "default ${DEFAULT-VALUE} (the seed uses none)")
    float labelSmoothing;
    @Option(names = "--seed", defaultValue = "1", description = "weights, data order and augmentation (default ${DEFAULT-VALUE})")
    long seed;
    @Option(names = "--threads", description = "native threads (default: all cores)")
    Integer threads;
    @Option(names = "--backend", description = "ref, cpu or cuda (default: QAT4J_BACKEND or the best available; cuda only on request)")
    String backend;
    @Option(names = "--data", description = "CIFAR-10 folder or cifar-10-binary.tar.gz (default: QAT4J_DATA, then ~/.cache/qat4j/cifar10)")
    String data;
    @Option(names = "--limit-train", description = "use only the first N training images (default: all 50,000)")
    Integer limitTrain;
    @Option(names = "--limit-test", description = "use only the first N test images (default: all 10,000)")
    Integer limitTest;
    @Option(names = "--out", description = "run folder (default runs/<experiment>, else runs/<model>-<bits>)")
    Path out;
    @Option(names = "--init", description = "start from the weights of this checkpoint (e.g. FP32 before QAT)")
    Path init;
    @Option(names = "--resume", description = "continue the run in --out from its last.qck")
    boolean resume;
    @Option(names = "--download", description = "fetch the official CIFAR-10 archive (MD5 checked) if it is not found")
    boolean download;
    @Option(names = "--json", description = "print the result as one JSON object on stdout")
    boolean json;

    /** Default bit widths per model: the seed's configuration of each (cfg-1*; ResNet20's is DoReFa INT8 per block). */
    static String defaultBits(String model) {
        return BitWidths.RESNET20.equals(model) ? "int8" : "cfg1-star";
    }

    /** What the options and the experiment decide, before any data is read. */
    private record Plan(Experiment experiment, String model, String bitsName, BitWidths bits, Recipe recipe,
                        List<RunRecord.Overridden> overrides) {
    }

    /** Resolves model, bits and recipe: an option given wins over the experiment, which wins over the model's defaults. */
    private Plan plan() {
        Experiment exp = experiment != null ? SeedExperiments.byId(experiment) : null;
        String m = exp != null ? exp.model() : (model != null ? model : BitWidths.TOYNET);
        if (exp != null && model != null && !model.equals(exp.model())) {
            throw new IllegalArgumentException("--model " + model + " contradicts --experiment " + exp.id()
                + ", which trains " + exp.model());
        }
        List<RunRecord.Overridden> ov = new ArrayList<>();
        Recipe base = exp != null ? exp.recipe() : Recipe.seedDefault(m);
        Recipe r = new Recipe(
            pick("--epochs", epochs, base.epochs(), ov), pick("--batch-size", batchSize, base.batchSize(), ov),
            pick("--lr", lr, base.lr(), ov), pick("--eta-min", etaMin, base.etaMin(), ov),
            pick("--warmup", warmup, base.warmupEpochs(), ov), pick("--momentum", momentum, base.momentum(), ov),
            pick("--weight-decay", weightDecay, base.weightDecay(), ov),
            pick("--alpha-penalty", alphaPenalty, base.alphaPenalty(), ov),
            pick("--no-augment", noAugment ? Boolean.FALSE : null, base.augment(), ov));
        BitWidths b;
        String name;
        if (bits != null) {
            b = BitWidths.resolve(m, bits);
            name = bits;
            if (exp != null) {
                ov.add(new RunRecord.Overridden("--bits", exp.quantization(), bits));
            }
        } else if (exp != null) {
            b = exp.bitWidths();
            name = exp.bits();
        } else {
            name = defaultBits(m);
            b = BitWidths.resolve(m, name);
        }
        if (act != null) {
            ActQuantizer.Kind kind = BitWidths.parseKind(act);
            float clip = actClip != null ? actClip : BitWidths.DEFAULT_FIXED_CLIP;
            String was = BitWidths.kindName(b.activationOverride());
            b = b.withActivation(kind, clip);
            if (exp != null) {
                ov.add(new RunRecord.Overridden("--act", was, BitWidths.kindName(kind)
                    + (kind == ActQuantizer.Kind.FIXED_CLIP ? " clip " + clip : "")));
            }
        } else if (actClip != null) {
            if (b.activationOverride() != ActQuantizer.Kind.FIXED_CLIP) {
                throw new IllegalArgumentException("--act-clip " + actClip + " is only for --act fixed-clip (the "
                    + "activation quantizers are " + BitWidths.kindName(b.activationOverride()) + ")");
            }
            b = b.withActivation(ActQuantizer.Kind.FIXED_CLIP, actClip);
        }
        if (noBranchQuant) {
            if (exp != null && b.branchOutputQuant()) {
                ov.add(new RunRecord.Overridden("--no-branch-quant", "branch output quantized", "not quantized"));
            }
            b = b.withBranchOutputQuant(false);
        }
        if (exp != null) {
            if (nesterov) {
                ov.add(new RunRecord.Overridden("--nesterov", "off", "on"));
            }
            if (noDecayNormAlpha) {
                ov.add(new RunRecord.Overridden("--no-decay-norm-alpha", "decayed", "not decayed"));
            }
            if (labelSmoothing != 0f) {
                ov.add(new RunRecord.Overridden("--label-smoothing", "0", Float.toString(labelSmoothing)));
            }
        }
        return new Plan(exp, m, name, b, r, ov);
    }

    /** The option's value when given (recorded when it differs from the recipe's), else the recipe's. */
    private static <T> T pick(String option, T given, T recipe, List<RunRecord.Overridden> overrides) {
        if (given == null) {
            return recipe;
        }
        if (!Objects.equals(given, recipe)) {
            overrides.add(new RunRecord.Overridden(option, String.valueOf(recipe), String.valueOf(given)));
        }
        return given;
    }

    @Override
    public Integer call() throws Exception {
        Backend b;
        Dataset train, test;
        QuantModel m;
        TrainConfig cfg;
        Plan plan;
        try {
            plan = plan();
            Recipe r = plan.recipe();
            cfg = new TrainConfig(r.epochs(), r.batchSize(), r.lr(), r.etaMin(), r.warmupEpochs(), r.momentum(),
                    r.weightDecay(), nesterov, !noDecayNormAlpha, r.alphaPenalty(), labelSmoothing, r.augment(), seed);
            b = backend != null ? Backends.byName(backend) : Backends.get();
            if (threads != null) {
                Backends.setCpuThreads(b, threads); // the cpu backend's setting; the others have none
            }
            Path dataPath = DataOption.locate(data, download);
            train = Cifar10.load(dataPath, Split.TRAIN);
            test = Cifar10.load(dataPath, Split.TEST);
            if (limitTrain != null) {
                train = train.take(limitTrain);
            }
            if (limitTest != null) {
                test = test.take(limitTest);
            }
            m = Models.build(plan.model(), plan.bits(), b, seed);
        } catch (DataNotFoundException | IllegalArgumentException | IllegalStateException e) {
            System.err.println("qat4j train: " + e.getMessage());
            return 2;
        }
        String modelName = plan.model();
        String label = plan.experiment() != null ? plan.experiment().id()
                : modelName + "-" + plan.bitsName().replaceAll("[^A-Za-z0-9_.-]", "_");
        Path dir = out != null ? out : Path.of("runs", label);
        try (m) {
            RunRecord record = new RunRecord(plan.experiment() == null ? null : plan.experiment().id(), modelName,
                    plan.bitsName(), quantization(plan), plan.recipe(),
                    plan.experiment() == null ? null : plan.experiment().recipe(), plan.overrides(), seed, train.size(),
                    test.size());
            RunRecord previous = resume ? RunRecord.readIfPresent(dir) : null;
            if (previous != null && !Objects.equals(previous.experiment(), record.experiment())) {
                throw new IllegalArgumentException("--resume: " + dir + " holds a run of "
                        + (previous.experiment() == null ? "no experiment" : "experiment " + previous.experiment())
                        + ", not of " + (record.experiment() == null ? "no experiment" : record.experiment()));
            }
            if (init != null) {
                List<String> fresh = ModelState.loadForFineTune(m, RunCheckpoint.modelPart(CheckpointIO.read(init)));
                System.err.println("initialised from " + init + (fresh.isEmpty() ? ""
                        : " (" + fresh.size() + " quantizer clips α it has no value for start at their initial value)"));
            }
            Files.createDirectories(dir);
            record.write(dir);
            System.err.printf(Locale.ROOT, "training %s (%s) on %s: %d train / %d test images, %s%n",
                    plan.experiment() != null ? "experiment " + plan.experiment().id() + ": " + modelName : modelName,
                    record.quantization(), b.description(), train.size(), test.size(), plan.recipe().describe());
            for (RunRecord.Overridden o : plan.overrides()) {
                System.err.println("  " + o.option() + " " + o.usedValue() + " instead of the experiment's " + o.recipeValue());
            }
            ProgressLine progress = new ProgressLine(cfg.epochs());
            TrainingRun.Result r = TrainingRun.run(m, b, cfg, train, test, dir, resume, progress, progress::line);
            Path png = dir.resolve("curves.png");
            if (!r.epochs().isEmpty()) {
                try {
                    CurvesPlot.write(png, label, CurvesPlot.readMetrics(r.metrics()));
                } catch (LinkageError | RuntimeException e) { // e.g. a runtime without java.desktop (AWT)
                    System.err.println("curves not written (" + e + "); the metrics file has the same figures");
                    png = null;
                }
            }
            System.err.printf(Locale.ROOT, "%nbest test accuracy %.2f%% (epoch %d)%s%n  checkpoints %s, %s%n  metrics %s"
                    + "%n  curves %s%n", 100 * r.bestAccuracy(), r.bestEpoch(),
                    plan.experiment() != null && plan.experiment().seedAccuracy() != null
                        ? String.format(Locale.ROOT, "; the seed reports %.3f%% after %d epochs",
                            plan.experiment().seedAccuracy(), plan.experiment().recipe().epochs()) : "",
                    r.bestCheckpoint(), r.lastCheckpoint(), r.metrics(), png);
            if (json) {
                ObjectNode o = new ObjectMapper().createObjectNode();
                o.put("experiment", plan.experiment() == null ? null : plan.experiment().id())
                        .put("model", modelName).put("bits", plan.bitsName()).put("quantization", record.quantization())
                        .put("backend", b.name()).put("epochs", cfg.epochs())
                        .put("best_accuracy", r.bestAccuracy()).put("best_epoch", r.bestEpoch())
                        .put("best_checkpoint", r.bestCheckpoint().toString())
                        .put("last_checkpoint", r.lastCheckpoint().toString())
                        .put("metrics", r.metrics().toString()).put("curves", png == null ? null : png.toString())
                        .put("run_record", dir.resolve(RunRecord.FILE).toString());
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
        } catch (OutOfMemoryError e) {
            System.err.println("\nqat4j train: out of memory at batch " + cfg.batchSize() + " (" + e.getMessage() + "); "
                    + "lower --batch-size, or raise the native memory cap with java -D" + Main.NATIVE_MEMORY_CAP
                    + "=SIZE (now " + System.getProperty(Main.NATIVE_MEMORY_CAP, "the Java heap's maximum") + " bytes)");
            return 1;
        } catch (IllegalArgumentException e) {
            System.err.println("\nqat4j train: " + e.getMessage());
            return 2;
        }
    }

    /** The quantization in words: preset or file, the activation kind and the switches. */
    private static String quantization(Plan plan) {
        BitWidths b = plan.bits();
        return plan.bitsName() + (b.activationOverride() == null ? "" : " " + BitWidths.kindName(b.activationOverride())
                + (b.activationOverride() == ActQuantizer.Kind.FIXED_CLIP ? " clip " + b.activationClip() : ""))
                + (b.branchOutputQuant() ? "" : ", no branch-output quant");
    }
}
