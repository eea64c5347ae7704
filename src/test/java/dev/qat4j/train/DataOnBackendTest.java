package dev.qat4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.data.Dataset;
import dev.qat4j.models.QuantModel;
import dev.qat4j.tensor.Tensor;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Training with the data set kept on the backend (batches assembled by {@code Backend.augmentBatch}) is training with
 * host batches, bit for bit: the same epoch losses and accuracies, the same weights after two epochs, the same
 * evaluation; and a weight that turns non-finite still stops training, now found by {@code Backend.allFinite}.
 */
class DataOnBackendTest {

    static Stream<Backend> backends() {
        return Stream.of(RefBackend.INSTANCE, CpuBackend.get());
    }

    private static Dataset data(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        byte[] pixels = new byte[n * 3 * 32 * 32];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            labels[i] = r.nextInt(10);
            for (int p = 0; p < 3 * 32 * 32; p++) { // a class-dependent brightness, so the net has something to fit
                pixels[i * 3072 + p] = (byte) Math.min(255, r.nextInt(128) + 12 * labels[i]);
            }
        }
        return Dataset.ofBytes("synthetic", 3, 32, 32, 10, pixels, labels);
    }

    private record Outcome(List<Trainer.EpochStats> epochs, List<float[]> weights, double testAccuracy,
                           boolean onBackend) {
    }

    private static Outcome train(Backend b, boolean dataOnBackend, Dataset train, Dataset test) {
        TrainConfig cfg = TrainConfig.builder().epochs(2).batchSize(16).lr(0.05f).seed(3).build();
        try (QuantModel m = TrainerTest.smallNet(b, 4); Trainer t = new Trainer(m, b, cfg, dataOnBackend)) {
            List<Trainer.EpochStats> stats = List.of(t.trainEpoch(train, 0, null), t.trainEpoch(train, 1, null));
            List<float[]> weights = m.parameters().stream().map(p -> p.value().toFloatArray()).toList();
            return new Outcome(stats, weights, t.evaluate(test).accuracy(), t.keepsOnBackend(train));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void twoEpochsGiveTheHostPathsLossesAndWeightsBitForBit(Backend b) {
        Dataset train = data(70, 1), test = data(40, 2); // 70 = 4 full batches of 16 and one of 6
        Outcome host = train(b, false, train, test);
        Outcome device = train(b, true, train, test);
        assertFalse(host.onBackend());
        assertTrue(device.onBackend());
        try (QuantModel m = TrainerTest.smallNet(b, 4);
             Trainer t = new Trainer(m, b, TrainConfig.seedDefaults(1, 0.1f, 1))) {
            assertFalse(t.keepsOnBackend(train), "ref and cpu make batches on the host unless asked otherwise");
        }
        for (int e = 0; e < 2; e++) {
            Trainer.EpochStats h = host.epochs().get(e), d = device.epochs().get(e);
            assertEquals(h.loss(), d.loss(), 0.0, "epoch " + e + " loss");
            assertEquals(h.trainAccuracy(), d.trainAccuracy(), 0.0, "epoch " + e + " train accuracy");
            assertEquals(70, d.images());
        }
        assertTrue(host.epochs().get(1).loss() < host.epochs().get(0).loss(), "the synthetic task is learned");
        for (int i = 0; i < host.weights().size(); i++) {
            assertArrayEquals(host.weights().get(i), device.weights().get(i), 0f, "parameter " + i);
        }
        assertEquals(host.testAccuracy(), device.testAccuracy(), 0.0);
    }

    /**
     * What makes the GPU path fast, counted: a training step reads back once (the loss, the confusion counts, the
     * previous update's finiteness flag and every α together), an epoch once more (its last update's flag), an
     * evaluation once (its confusion counts), whatever the batch count; on cuda each read back is one wait for the
     * GPU. The data sets are uploaded before counting (by a first epoch).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void aStepReadsBackOnceAndAnEvaluationOnce(Backend b) {
        Dataset train = data(70, 1), test = data(40, 2);
        TrainConfig cfg = TrainConfig.builder().epochs(2).batchSize(16).lr(0.05f).seed(3).build();
        for (boolean onBackend : new boolean[] {true, false}) { // host batches: labels copied in keep their range
            try (QuantModel m = TrainerTest.smallNet(b, 4); Trainer t = new Trainer(m, b, cfg, onBackend)) {
                t.trainEpoch(train, 0, null);
                t.evaluate(test);
                long before = b.readBacks();
                t.trainEpoch(train, 1, null); // 5 steps
                long afterTraining = b.readBacks();
                t.evaluate(test); // 3 batches
                String where = ", data on the backend: " + onBackend;
                assertEquals(5 + 1, afterTraining - before, "read backs in an epoch of 5 steps" + where);
                assertEquals(1, b.readBacks() - afterTraining, "read backs in an evaluation" + where);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void countingOnTheBackendGivesTheConfusionMatrixOfTheLogits(Backend b) {
        Dataset test = data(45, 8);
        try (QuantModel m = TrainerTest.smallNet(b, 6)) {
            ConfusionMatrix counted = Trainer.evaluate(m, b, test, 16); // accumulateConfusion, read once
            int[] images = new int[1];
            ConfusionMatrix fromLogits = Trainer.evaluate(m, b, test, 16, null, // logits read per batch
                    (index, label, prediction, logits, offset, classes) -> images[0]++);
            assertEquals(45, images[0]);
            assertEquals(45, counted.total());
            for (int i = 0; i < 10; i++) {
                assertArrayEquals(fromLogits.counts()[i], counted.counts()[i], "row " + i);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void allFiniteFindsANonFiniteWeightAndTrainingStopsOnIt(Backend b) {
        try (Tensor ok = b.fromFloats(new float[] {1, 2, 3}, 3);
             Tensor nan = b.fromFloats(new float[] {0, Float.NaN}, 2);
             Tensor inf = b.fromFloats(new float[] {Float.NEGATIVE_INFINITY}, 1)) {
            assertTrue(b.allFinite(List.of(ok)));
            assertTrue(b.allFinite(List.of()));
            assertFalse(b.allFinite(List.of(ok, nan)));
            assertFalse(b.allFinite(List.of(inf, ok)));
        }
        // A learning rate so large that the first update overflows the weights: that step's loss is still finite,
        // so the update's flag (read with the next step's values) is what stops training, naming step 1's parameter.
        TrainConfig cfg = TrainConfig.builder().epochs(1).batchSize(16).lr(3e38f).seed(3).build();
        try (QuantModel m = TrainerTest.smallNet(b, 4); Trainer t = new Trainer(m, b, cfg)) {
            DivergenceException e = assertThrows(DivergenceException.class, () -> t.trainEpoch(data(32, 5), 0, null));
            assertTrue(e.getMessage().startsWith("training diverged at epoch 1, batch 1: parameter "), e.getMessage());
            assertTrue(e.getMessage().contains(" became "), e.getMessage());
        }
    }
}
