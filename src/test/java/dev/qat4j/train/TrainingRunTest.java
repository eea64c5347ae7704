package dev.qat4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.checkpoint.CheckpointIO;
import dev.qat4j.data.Cifar10;
import dev.qat4j.data.Dataset;
import dev.qat4j.data.Split;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.Parameter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Train, save, load, resume and evaluate on real CIFAR-10 images, end to end. */
class TrainingRunTest {
    private static Dataset train;
    private static Dataset test;

    @BeforeAll
    static void load() {
        Path a = TrainerTest.archive();
        Assumptions.assumeTrue(a != null, "no CIFAR-10: set QAT4J_DATA to cifar-10-binary.tar.gz");
        train = Cifar10.load(a, Split.TRAIN).take(1000);
        test = Cifar10.load(a, Split.TEST).take(500);
    }

    private static List<float[]> weights(QuantModel m) {
        List<float[]> w = new ArrayList<>();
        for (Parameter p : m.parameters()) {
            w.add(p.value().toFloatArray());
        }
        return w;
    }

    @Test
    void resumingGivesTheUninterruptedRunAndCheckpointsEvaluateAsRecorded(@TempDir Path dir) throws Exception {
        Backend cpu = CpuBackend.get();
        TrainConfig three = TrainConfig.builder().epochs(3).batchSize(50).lr(0.05f).seed(9).build();
        List<String> log = new ArrayList<>();
        List<float[]> straight;
        TrainingRun.Result full;
        try (QuantModel m = TrainerTest.smallNet(cpu, 4)) {
            full = TrainingRun.run(m, cpu, three, train, test, dir.resolve("full"), false, null, log::add);
            straight = weights(m);
        }
        assertEquals(3, Files.readAllLines(full.metrics()).size(), "one metrics line per epoch");
        // The same run cut after epoch 2 (a 3-epoch schedule stopped early), then resumed from last.qck.
        Path cut = dir.resolve("cut");
        try (QuantModel m = TrainerTest.smallNet(cpu, 4)) {
            try (Trainer t = new Trainer(m, cpu, three)) {
                for (int e = 0; e < 2; e++) {
                    t.trainEpoch(train, e, null);
                }
                java.util.Map<String, String> meta = new java.util.LinkedHashMap<>();
                meta.put("epochs_done", "2");
                meta.put("best_accuracy", "0");
                meta.put("best_epoch", "0");
                Files.createDirectories(cut);
                RunCheckpoint.write(cut.resolve(TrainingRun.LAST), m, t.optimizer(), meta);
            }
        }
        try (QuantModel m = TrainerTest.smallNet(cpu, 77)) { // other initial weights: all must come from the file
            TrainingRun.Result resumed = TrainingRun.run(m, cpu, three, train, test, cut, true, null, log::add);
            assertEquals(1, resumed.epochs().size(), "only epoch 3 is left");
            assertEquals(3, resumed.epochs().get(0).epoch());
            List<float[]> after = weights(m);
            for (int i = 0; i < after.size(); i++) {
                float[] a = straight.get(i), b = after.get(i);
                for (int j = 0; j < a.length; j++) {
                    // Float reductions run in thread order that may vary (α's gradient sum): ~1e-6 differences,
                    // where a resume that lost the momentum or the epoch would differ by percent.
                    assertEquals(a[j], b[j], 1e-4f * (1 + Math.abs(a[j])), "parameter " + i + "[" + j + "]");
                }
            }
        }
        assertTrue(log.stream().anyMatch(l -> l.startsWith("resumed from")), log.toString());

        // A time limit ends the run after a whole epoch (the first always runs); resuming finishes it as one run.
        Path limited = dir.resolve("limited");
        try (QuantModel m = TrainerTest.smallNet(cpu, 4)) {
            TrainingRun.Result part = TrainingRun.run(m, cpu, three, train, test, limited, false, null, log::add,
                    java.time.Duration.ofMillis(1));
            assertTrue(part.stoppedByTimeLimit());
            assertEquals(1, part.epochsDone());
            assertEquals(1, part.epochs().size());
            assertEquals("1", CheckpointIO.read(part.lastCheckpoint()).metaString("epochs_done"));
            assertTrue(log.stream().anyMatch(l -> l.startsWith("stopped after epoch 1 of 3: another epoch (")),
                    log.toString());
        }
        try (QuantModel m = TrainerTest.smallNet(cpu, 77)) {
            TrainingRun.Result rest = TrainingRun.run(m, cpu, three, train, test, limited, true, null, log::add,
                    java.time.Duration.ofHours(1));
            assertFalse(rest.stoppedByTimeLimit());
            assertEquals(3, rest.epochsDone());
            assertEquals(3, Files.readAllLines(rest.metrics()).size(), "one metrics line per epoch over both calls");
            List<float[]> after = weights(m);
            for (int i = 0; i < after.size(); i++) {
                float[] a = straight.get(i), b = after.get(i);
                for (int j = 0; j < a.length; j++) {
                    assertEquals(a[j], b[j], 1e-4f * (1 + Math.abs(a[j])), "parameter " + i + "[" + j + "]");
                }
            }
        }

        // best.qck evaluates to the accuracy recorded for its epoch, in a fresh model.
        try (QuantModel m = TrainerTest.smallNet(cpu, 5)) {
            RunCheckpoint.restore(CheckpointIO.read(full.bestCheckpoint()), m, null);
            double acc = Trainer.evaluate(m, cpu, test, 100).accuracy();
            assertEquals(full.bestAccuracy(), acc, 0.0, "best checkpoint of epoch " + full.bestEpoch());
            assertTrue(acc > 0.15, "above chance after 3 short epochs: " + acc);
        }
    }

    @Test
    void resumeWithoutACheckpointIsAClearError(@TempDir Path dir) {
        Backend cpu = CpuBackend.get();
        try (QuantModel m = TrainerTest.smallNet(cpu, 1)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TrainingRun.run(m, cpu,
                    TrainConfig.seedDefaults(1, 0.1f, 1), train, test, dir, true, null, s -> { }));
            assertTrue(e.getMessage().contains("last.qck"), e.getMessage());
        }
    }

    @Test
    void resumeFromACheckpointWithoutTrainingStateIsAClearError(@TempDir Path dir) throws Exception {
        Backend cpu = CpuBackend.get();
        try (QuantModel m = TrainerTest.smallNet(cpu, 1)) {
            RunCheckpoint.write(dir.resolve(TrainingRun.LAST), m, null, java.util.Map.of());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TrainingRun.run(m, cpu,
                    TrainConfig.seedDefaults(1, 0.1f, 1), train, test, dir, true, null, s -> { }));
            assertTrue(e.getMessage().contains("no training state"), e.getMessage());
        }
    }
    /**
     * A NaN injected into a weight in the middle of epoch 2 stops the run with a message naming the epoch, the
     * batch and the NaN loss; last.qck and best.qck are still the complete files of epoch 1 (byte for byte), they
     * load into a fresh model with finite weights, no temporary file is left, and the run resumes from them.
     */
    @Test
    void aNaNMidRunStopsClearlyAndTheLastGoodCheckpointIsIntactAndResumable(@TempDir Path dir) throws Exception {
        Backend cpu = CpuBackend.get();
        TrainConfig cfg = TrainConfig.builder().epochs(3).batchSize(50).lr(0.05f).seed(9).build();
        Path last = dir.resolve(TrainingRun.LAST);
        Path best = dir.resolve(TrainingRun.BEST);
        byte[][] afterEpoch1 = new byte[2][];
        try (QuantModel m = TrainerTest.smallNet(cpu, 4)) {
            Parameter bias = m.parameters().stream().filter(p -> p.name().equals("fc.bias")).findFirst().orElseThrow();
            Trainer.Listener inject = (epoch, batch, batches, loss, acc, ips) -> {
                if (epoch == 1 && batch == 1) { // epoch 2 has started: epoch 1's checkpoints are on disk
                    try {
                        afterEpoch1[0] = Files.readAllBytes(last);
                        afterEpoch1[1] = Files.readAllBytes(best);
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }
                if (epoch == 1 && batch == 5) {
                    float[] nan = new float[10];
                    java.util.Arrays.fill(nan, Float.NaN);
                    bias.setValue(cpu.fromFloats(nan, 10));
                }
            };
            DivergenceException e = assertThrows(DivergenceException.class,
                    () -> TrainingRun.run(m, cpu, cfg, train, test, dir, false, inject, s -> { }));
            assertTrue(e.getMessage().contains("epoch 2, batch 6") && e.getMessage().contains("loss is NaN")
                    && e.getMessage().contains("not applied"), e.getMessage());
        }
        assertTrue(afterEpoch1[0] != null && afterEpoch1[1] != null, "epoch 1 wrote last.qck and best.qck");
        assertTrue(java.util.Arrays.equals(afterEpoch1[0], Files.readAllBytes(last)), "last.qck is epoch 1's file");
        assertTrue(java.util.Arrays.equals(afterEpoch1[1], Files.readAllBytes(best)), "best.qck is epoch 1's file");
        try (java.util.stream.Stream<Path> files = Files.list(dir)) {
            List<String> names = files.map(p -> p.getFileName().toString()).sorted().toList();
            assertEquals(List.of(TrainingRun.BEST, TrainingRun.LAST, TrainingRun.METRICS), names,
                    "no temporary file left");
        }
        for (Path p : List.of(last, best)) {
            dev.qat4j.checkpoint.Checkpoint c = CheckpointIO.read(p); // verifies the structure and the CRC
            assertEquals("1", c.metaString("epochs_done"), p.toString());
            try (QuantModel fresh = TrainerTest.smallNet(cpu, 99)) {
                RunCheckpoint.restore(c, fresh, null);
                for (float[] w : weights(fresh)) {
                    for (float v : w) {
                        assertTrue(Float.isFinite(v), p + " holds a non-finite weight");
                    }
                }
            }
        }
        try (QuantModel m = TrainerTest.smallNet(cpu, 5)) {
            TrainingRun.Result r = TrainingRun.run(m, cpu, cfg, train, test, dir, true, null, s -> { });
            assertEquals(List.of(2, 3), r.epochs().stream().map(TrainingRun.EpochRecord::epoch).toList(),
                    "resumed after epoch 1");
        }
    }
}
