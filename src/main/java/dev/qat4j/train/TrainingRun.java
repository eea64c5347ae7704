package dev.qat4j.train;

import dev.qat4j.backend.Backend;
import dev.qat4j.checkpoint.Checkpoint;
import dev.qat4j.checkpoint.CheckpointIO;
import dev.qat4j.data.Dataset;
import dev.qat4j.models.QuantModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A training run in an output folder: epochs of {@link Trainer}, evaluation on the test set after each, one JSON line
 * of metrics per epoch in {@code metrics.jsonl}, and two checkpoints written atomically after each good epoch:
 * {@code last.qck} (to resume) and {@code best.qck} (highest test accuracy). With {@code resume}, the run continues
 * from {@code last.qck}: weights, optimizer momentum, epoch and best accuracy. A diverging epoch throws
 * {@link DivergenceException} and leaves both checkpoints as they were.
 */
public final class TrainingRun {
    public static final String LAST = "last.qck";
    public static final String BEST = "best.qck";
    public static final String METRICS = "metrics.jsonl";

    /** One epoch's figures. */
    public record EpochRecord(int epoch, float lr, double trainLoss, double trainAccuracy, double testAccuracy,
                              double imagesPerSecond, double seconds) {
        String json() {
            return String.format(Locale.ROOT, "{\"epoch\":%d,\"lr\":%.6g,\"train_loss\":%.6f,\"train_accuracy\":%.6f,"
                    + "\"test_accuracy\":%.6f,\"images_per_second\":%.1f,\"seconds\":%.2f}", epoch, lr, trainLoss,
                    trainAccuracy, testAccuracy, imagesPerSecond, seconds);
        }
    }

    /**
     * What a run did: the epochs of this call, the best test accuracy so far (resumed runs included) and where the
     * files are. {@code epochsDone} counts every finished epoch of the run, {@code stoppedByTimeLimit} says the call
     * ended before the last epoch because the next would have passed its time limit (continue with resume).
     */
    public record Result(List<EpochRecord> epochs, double bestAccuracy, int bestEpoch, Path lastCheckpoint,
                         Path bestCheckpoint, Path metrics, int epochsDone, boolean stoppedByTimeLimit) {
    }

    private TrainingRun() {
    }

    public static Result run(QuantModel model, Backend backend, TrainConfig cfg, Dataset train, Dataset test, Path out,
                             boolean resume, Trainer.Listener progress, Consumer<String> log) throws IOException {
        return run(model, backend, cfg, train, test, out, resume, progress, log, null);
    }

    /**
     * As {@link #run(QuantModel, Backend, TrainConfig, Dataset, Dataset, Path, boolean, Trainer.Listener, Consumer)},
     * ending early, after a whole epoch and its checkpoints, when the next epoch would pass {@code timeLimit} (null:
     * none) at the pace of the last one (training and evaluation): for machines lent in short windows, where a run
     * continues with {@code resume} in the next. The first epoch of a call always runs.
     */
    public static Result run(QuantModel model, Backend backend, TrainConfig cfg, Dataset train, Dataset test, Path out,
                             boolean resume, Trainer.Listener progress, Consumer<String> log, Duration timeLimit)
            throws IOException {
        long started = System.nanoTime();
        Files.createDirectories(out);
        Path last = out.resolve(LAST), best = out.resolve(BEST), metrics = out.resolve(METRICS);
        try (Trainer trainer = new Trainer(model, backend, cfg)) {
            int start = 0;
            double bestAcc = -1;
            int bestEpoch = -1;
            List<EpochRecord> records = new ArrayList<>();
            if (resume) {
                if (!Files.exists(last)) {
                    throw new IllegalArgumentException("--resume: no " + last + " to resume from");
                }
                Checkpoint c = CheckpointIO.read(last);
                try {
                    start = Integer.parseInt(c.metaString("epochs_done"));
                    bestAcc = Double.parseDouble(c.metaString("best_accuracy"));
                    bestEpoch = Integer.parseInt(c.metaString("best_epoch"));
                } catch (NumberFormatException | NullPointerException e) {
                    throw new IllegalArgumentException("--resume: " + last + " holds no training state (epochs_done, "
                            + "best_accuracy, best_epoch); it was not written by a training run");
                }
                if (start > cfg.epochs()) {
                    throw new IllegalArgumentException("--resume: " + last + " is after epoch " + start + ", beyond --epochs "
                            + cfg.epochs());
                }
                RunCheckpoint.restore(c, model, trainer.optimizer());
                keepFirstLines(metrics, start);
                log.accept("resumed from " + last + " after epoch " + start);
            } else {
                Files.deleteIfExists(metrics);
            }
            long lastEpochNanos = 0;
            boolean stopped = false;
            int e = start;
            for (; e < cfg.epochs(); e++) {
                long now = System.nanoTime();
                if (timeLimit != null && e > start && now - started + lastEpochNanos > timeLimit.toNanos()) {
                    stopped = true;
                    log.accept(String.format(Locale.ROOT, "stopped after epoch %d of %d: another epoch (%.1f s) would "
                            + "pass the time limit of %.1f min; continue with --resume", e, cfg.epochs(),
                            lastEpochNanos / 1e9, timeLimit.toMillis() / 60000.0));
                    break;
                }
                Trainer.EpochStats s = trainer.trainEpoch(train, e, progress);
                double acc = trainer.evaluate(test).accuracy();
                EpochRecord r = new EpochRecord(e + 1, s.lr(), s.loss(), s.trainAccuracy(), acc, s.imagesPerSecond(),
                        s.seconds());
                records.add(r);
                Files.writeString(metrics, r.json() + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                        StandardOpenOption.APPEND);
                boolean isBest = acc > bestAcc;
                if (isBest) {
                    bestAcc = acc;
                    bestEpoch = e + 1;
                }
                Map<String, String> meta = meta(cfg, e + 1, bestAcc, bestEpoch, acc);
                if (isBest) {
                    RunCheckpoint.write(best, model, null, meta);
                }
                RunCheckpoint.write(last, model, trainer.optimizer(), meta);
                log.accept(String.format(Locale.ROOT, "epoch %d/%d  lr %.4g  loss %.4f  train %.2f%%  test %.2f%%%s  "
                        + "%.0f img/s  %.1f s", e + 1, cfg.epochs(), s.lr(), s.loss(), 100 * s.trainAccuracy(),
                        100 * acc, isBest ? " (best)" : "", s.imagesPerSecond(), s.seconds()));
                lastEpochNanos = System.nanoTime() - now;
            }
            return new Result(records, bestAcc, bestEpoch, last, best, metrics, e, stopped);
        }
    }

    private static Map<String, String> meta(TrainConfig cfg, int epochsDone, double bestAcc, int bestEpoch, double acc) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("epochs_done", Integer.toString(epochsDone));
        m.put("test_accuracy", Double.toString(acc));
        m.put("best_accuracy", Double.toString(bestAcc));
        m.put("best_epoch", Integer.toString(bestEpoch));
        m.put("config", cfg.toString());
        return m;
    }

    /** Drops metric lines of epochs after {@code n} (written by a run that was cut off before its checkpoint). */
    private static void keepFirstLines(Path metrics, int n) {
        try {
            if (Files.exists(metrics)) {
                List<String> lines = Files.readAllLines(metrics, StandardCharsets.UTF_8);
                Files.write(metrics, lines.subList(0, Math.min(n, lines.size())), StandardCharsets.UTF_8);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
