package dev.qat4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.data.Cifar10;
import dev.qat4j.checkpoint.Checkpoint;
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
 * an option is not given; the options given in its place are recorded in the run folder's {@code run.json}. Exit codes: 0 done, 1 a bug, 2 bad options, unreadable files or missing data,
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
        exitCodeList = {"0:done", "1:internal error (a bug; --verbose prints the stack trace)",
            "2:bad option, unreadable file, a run folder that holds a run, or missing data",
            "3:training diverged (the last good checkpoint is kept)"})
final class Train implements Callable<Integer> {
    @Option(names = "--experiment", paramLabel = "ID", description = "run a row of the seed's tables with its recipe "
            + "(ids: `qat4j experiments`) (default: none, the model's seed recipe)")
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
            + "(the seed's \"w/o branch_out quant\" row) (default: quantized)")
    boolean noBranchQuant;
    @Option(names = "--epochs", paramLabel = "N", description = "default 300 (the seed's, every model)")
    Integer epochs;
    @Option(names = "--batch-size", paramLabel = "N", description = "default 128 for toynet and mobilenetv2, 256 for resnet20")
    Integer batchSize;
    @Option(names = "--lr", description = "base learning rate (default 0.01 for toynet and mobilenetv2, 0.1 for resnet20)")
    Float lr;
    @Option(names = "--eta-min", description = "floor of the cosine schedule (default 0.001)")
    Float etaMin;
    @Option(names = "--warmup", paramLabel = "N", description = "linear warm-up epochs (default 0)")
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
    @Option(names = "--threads", paramLabel = "N", description = "native threads (default: all cores)")
    Integer threads;
    @Option(names = "--backend", description = "ref, cpu or cuda (default: QAT4J_BACKEND or the best available; cuda only on request)")
    String backend;
    @Option(names = "--limit-train", paramLabel = "N", description = "use only the first N training images (default: all 50,000)")
    Integer limitTrain;
    @Option(names = "--limit-test", paramLabel = "N", description = "use only the first N test images (default: all 10,000)")
    Integer limitTest;
    @picocli.CommandLine.Mixin
    DataOption data = new DataOption();
    @Option(names = "--out", paramLabel = "DIR", description = "run folder, new or empty (default runs/<experiment>, "
            + "else runs/<model>-<bits>)")
    Path out;
    @Option(names = "--resume", description = "continue the run in --out from its last.qck (default off)")
    boolean resume;
    @Option(names = "--time-limit", paramLabel = "MINUTES", description = "stop after the epoch after which another "
            + "would pass this many minutes (at the last epoch's pace), checkpoints written; continue with --resume "
            + "(default: none)")
    Float timeLimit;
    @Option(names = "--overwrite", description = "start again in a run folder that holds a run, replacing its "
            + "checkpoints, metrics, curves and run.json (default off: refused)")
    boolean overwrite;
    @Option(names = "--init", paramLabel = "FILE", description = "start from the weights of this checkpoint, e.g. FP32 "
            + "before QAT (default: fresh weights from --seed)")
    Path init;
    @Option(names = "--json", description = "print the result as one JSON object on stdout (default off)")
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
        Plan plan = plan();
        checkNumbers();
        if (resume && init != null) {
            throw new UserError("--resume continues the run in --out from its own last.qck; --init " + init
                    + " would be ignored: give one of them");
        }
        if (resume && overwrite) {
            throw new UserError("--resume continues the run in --out, --overwrite starts it again: give one of them");
        }
        Recipe r = plan.recipe();
        TrainConfig cfg = TrainConfig.builder().epochs(r.epochs()).batchSize(r.batchSize()).lr(r.lr())
                .etaMin(r.etaMin()).warmupEpochs(r.warmupEpochs()).momentum(r.momentum()).weightDecay(r.weightDecay())
                .nesterov(nesterov).decayNormAndAlpha(!noDecayNormAlpha).alphaPenalty(r.alphaPenalty())
                .labelSmoothing(labelSmoothing).augment(r.augment()).seed(seed).build();
        String modelName = plan.model();
        String label = plan.experiment() != null ? plan.experiment().id()
                : modelName + "-" + plan.bitsName().replaceAll("[^A-Za-z0-9_.-]", "_");
        Path dir = out != null ? out : Path.of("runs", label);
        checkRunFolder(dir);
        if (resume) {
            checkResumable(dir.resolve(TrainingRun.LAST), cfg.epochs());
        }
        Checkpoint initial = null;
        if (init != null) {
            initial = Checks.readCheckpoint("--init", init);
        }
        Backend b = Checks.backend(backend);
        if (threads != null) {
            Backends.setCpuThreads(b, threads); // the cpu backend's setting; the others have none
        }
        Path dataPath = data.locate(json);
        Dataset train = Cifar10.load(dataPath, Split.TRAIN);
        Dataset test = Cifar10.load(dataPath, Split.TEST);
        if (limitTrain != null) {
            train = train.take(limitTrain);
        }
        if (limitTest != null) {
            test = test.take(limitTest);
        }
        // a folder this command creates is removed again if it ends without a checkpoint in it
        Path created = firstMissing(dir.toAbsolutePath().normalize());
        boolean keep = false;
        try (QuantModel m = Models.build(plan.model(), plan.bits(), b, seed)) {
            RunRecord record = new RunRecord(plan.experiment() == null ? null : plan.experiment().id(), modelName,
                    plan.bitsName(), quantization(plan), plan.recipe(),
                    plan.experiment() == null ? null : plan.experiment().recipe(), plan.overrides(), seed, train.size(),
                    test.size());
            RunRecord previous = resume ? RunRecord.readIfPresent(dir) : null;
            if (previous != null && !Objects.equals(previous.experiment(), record.experiment())) {
                throw new UserError("--resume: " + dir + " holds a run of "
                        + (previous.experiment() == null ? "no experiment" : "experiment " + previous.experiment())
                        + ", not of " + (record.experiment() == null ? "no experiment" : record.experiment()));
            }
            if (initial != null) {
                List<String> fresh = ModelState.loadForFineTune(m, RunCheckpoint.modelPart(initial));
                System.err.println("initialised from " + init + (fresh.isEmpty() ? ""
                        : " (" + fresh.size() + " quantizer clips α it has no value for start at their initial value)"));
            }
            if (overwrite) {
                for (String f : RUN_FILES) {
                    Files.deleteIfExists(dir.resolve(f));
                }
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
            TrainingRun.Result result;
            try {
                result = TrainingRun.run(m, b, cfg, train, test, dir, resume, progress, progress::line,
                        timeLimit == null ? null : java.time.Duration.ofMillis(Math.round(timeLimit * 60_000)));
            } catch (DivergenceException e) {
                keep = Files.exists(dir.resolve(TrainingRun.LAST));
                System.err.println("\nqat4j train: " + e.getMessage() + (keep ? "" : "; no epoch finished, so "
                        + "nothing was kept"));
                return 3;
            }
            keep = true;
            report(plan, cfg, b, label, dir, record, result);
            return 0;
        } finally {
            if (!keep && created != null && !Files.exists(dir.resolve(TrainingRun.LAST))) {
                deleteTree(created);
            }
        }
    }

    /** What a run folder holds; --overwrite removes these before the new run starts. */
    private static final List<String> RUN_FILES = List.of(TrainingRun.LAST, TrainingRun.BEST, TrainingRun.METRICS,
            "curves.png", RunRecord.FILE);

    /** Every number given is one the run can use (checked before any data is read). */
    private void checkNumbers() {
        Checks.positive("--epochs", epochs);
        Checks.positive("--batch-size", batchSize);
        Checks.positive("--limit-train", limitTrain);
        Checks.positive("--limit-test", limitTest);
        Checks.positive("--threads", threads);
        if (warmup != null && warmup < 0) {
            throw new UserError("--warmup " + warmup + ": must be 0 or more epochs");
        }
        Checks.inRange("--lr", lr, Double.MIN_VALUE, Double.POSITIVE_INFINITY, "must be a number above 0");
        Checks.inRange("--eta-min", etaMin, 0, Double.POSITIVE_INFINITY, "must be a number of 0 or more");
        Checks.inRange("--momentum", momentum, 0, 1, "must be in [0, 1), e.g. 0.9");
        Checks.inRange("--weight-decay", weightDecay, 0, Double.POSITIVE_INFINITY, "must be a number of 0 or more");
        Checks.inRange("--alpha-penalty", alphaPenalty, 0, Double.POSITIVE_INFINITY, "must be a number of 0 or more");
        Checks.inRange("--label-smoothing", labelSmoothing, 0, 1, "must be in [0, 1)");
        Checks.inRange("--act-clip", actClip, Double.MIN_VALUE, Double.POSITIVE_INFINITY, "must be a number above 0");
        Checks.inRange("--time-limit", timeLimit, Double.MIN_VALUE, 1e9, "must be a number of minutes above 0");
    }

    /** --out is a folder this run may use: new or empty, or an earlier run with --resume or --overwrite. */
    private void checkRunFolder(Path dir) {
        String option = out != null ? "--out " + dir : "the run folder " + dir + " (default of --out)";
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new UserError(option + ": is a file, not a run folder");
        }
        if (resume) {
            if (!Files.isRegularFile(dir.resolve(TrainingRun.LAST))) {
                throw new UserError("--resume: " + dir + " holds no " + TrainingRun.LAST + " to resume from (leave out "
                        + "--resume to start a new run there)");
            }
            return;
        }
        if (Files.isDirectory(dir) && !Checks.isEmpty(dir) && !overwrite) {
            throw new UserError(option + ": holds a run already; add --resume to continue it, --overwrite to start it "
                    + "again, or choose another --out");
        }
    }

    /** The run's last.qck can be resumed with these --epochs (checked before run.json is rewritten). */
    private static void checkResumable(Path last, int epochs) throws java.io.IOException {
        Checkpoint c = Checks.readCheckpoint("--resume", last);
        int done;
        try {
            done = Integer.parseInt(c.metaString("epochs_done"));
        } catch (NumberFormatException e) { // also null: a checkpoint without the meta entry
            throw new UserError("--resume: " + last + " holds no training state (epochs_done); it was not written by "
                    + "a training run");
        }
        if (done > epochs) {
            throw new UserError("--resume: " + last + " is after epoch " + done + ", beyond --epochs " + epochs
                    + " (give --epochs " + done + " or more)");
        }
    }

    /** The outermost folder of {@code dir}'s path that does not exist yet (null: it exists). */
    private static Path firstMissing(Path dir) {
        Path missing = null;
        for (Path p = dir; p != null && !Files.exists(p); p = p.getParent()) {
            missing = p;
        }
        return missing;
    }

    private static void deleteTree(Path root) {
        try (java.util.stream.Stream<Path> walk = Files.walk(root)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (java.io.IOException | RuntimeException ignored) { // best effort: the run's own failure is what matters
        }
    }

    private void report(Plan plan, TrainConfig cfg, Backend b, String label, Path dir, RunRecord record,
                        TrainingRun.Result r) throws java.io.IOException {
        String modelName = plan.model();
        Path png = dir.resolve("curves.png");
        if (!r.epochs().isEmpty()) {
            try {
                CurvesPlot.write(png, label, CurvesPlot.readMetrics(r.metrics()));
            } catch (LinkageError | RuntimeException e) { // e.g. a runtime without java.desktop (AWT)
                System.err.println("curves not written (" + e + "); the metrics file has the same figures");
                png = null;
            }
        }
        if (r.stoppedByTimeLimit()) {
            System.err.printf(Locale.ROOT, "%nstopped by --time-limit after epoch %d of %d: continue with the same command "
                    + "and --resume%n", r.epochsDone(), cfg.epochs());
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
                    .put("run_record", dir.resolve(RunRecord.FILE).toString())
                    .put("epochs_done", r.epochsDone()).put("stopped_by_time_limit", r.stoppedByTimeLimit());
            if (!r.epochs().isEmpty()) {
                TrainingRun.EpochRecord last = r.epochs().get(r.epochs().size() - 1);
                o.put("final_accuracy", last.testAccuracy()).put("images_per_second", last.imagesPerSecond());
            }
            System.out.println(o);
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
