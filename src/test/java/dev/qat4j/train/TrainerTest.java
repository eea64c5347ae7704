package dev.qat4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.data.Cifar10;
import dev.qat4j.data.Dataset;
import dev.qat4j.data.Split;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.ActQuant;
import dev.qat4j.nn.BatchNorm2d;
import dev.qat4j.nn.Clamp;
import dev.qat4j.nn.Flatten;
import dev.qat4j.nn.Init;
import dev.qat4j.nn.Module;
import dev.qat4j.nn.Parameter;
import dev.qat4j.nn.Pool;
import dev.qat4j.nn.QConv2d;
import dev.qat4j.nn.QLinear;
import dev.qat4j.nn.Sequential;
import dev.qat4j.quant.ActQuantizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Training on real CIFAR-10 images: a small quantized CNN learns well above chance within seconds. */
class TrainerTest {
    private static Dataset train;
    private static Dataset test;

    static Path archive() {
        return dev.qat4j.TestData.cifar10();
    }

    @BeforeAll
    static void load() {
        Path a = archive();
        Assumptions.assumeTrue(a != null, "no CIFAR-10: set QAT4J_DATA to cifar-10-binary.tar.gz");
        train = Cifar10.load(a, Split.TRAIN).take(2000);
        test = Cifar10.load(a, Split.TEST).take(1000);
    }

    /** A small quantized CNN (PACT 8-bit activations, 8-bit weights): 3 convs, pooling, FC. */
    static QuantModel smallNet(Backend b, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Init k = Init.KAIMING_UNIFORM;
        Module net = new Sequential("small", List.of(
                new QConv2d("c1", b, r, k, 3, 16, 3, 1, 1, 1, 8), new BatchNorm2d("bn1", b, 16), Clamp.relu("r1"),
                new ActQuant("q1", b, ActQuantizer.pact(8), 6f),
                new QConv2d("c2", b, r, k, 16, 32, 3, 2, 1, 1, 8), new BatchNorm2d("bn2", b, 32), Clamp.relu("r2"),
                new ActQuant("q2", b, ActQuantizer.pact(8), 6f),
                new QConv2d("c3", b, r, k, 32, 64, 3, 2, 1, 1, 8), new BatchNorm2d("bn3", b, 64), Clamp.relu("r3"),
                Pool.global("pool"), new Flatten("flat"),
                new QLinear("fc", b, r, Init.TORCH_DEFAULT, false, 64, 10, 8)));
        return new QuantModel("small", null, net);
    }

    @Test
    void aQuantizedNetLearnsRealCifarWellAboveChance() {
        Backend cpu = CpuBackend.get();
        TrainConfig cfg = TrainConfig.builder().epochs(5).batchSize(64).lr(0.05f).seed(42).build();
        try (QuantModel m = smallNet(cpu, 1); Trainer t = new Trainer(m, cpu, cfg)) {
            double before = t.evaluate(test).accuracy();
            List<Trainer.EpochStats> stats = new ArrayList<>();
            int[] calls = new int[1];
            for (int e = 0; e < cfg.epochs(); e++) {
                stats.add(t.trainEpoch(train, e, (ep, batch, batches, loss, acc, ips) -> calls[0]++));
            }
            ConfusionMatrix cm = t.evaluate(test);
            assertEquals(1000, cm.total(), "every test image counted once");
            assertEquals(cfg.epochs() * 32, calls[0], "one progress call per batch (2000 / 64 = 32 batches)");
            assertTrue(stats.get(cfg.epochs() - 1).loss() < stats.get(0).loss(), "loss falls: " + stats);
            // Five short epochs on 2,000 images: twice chance is a clear signal (measured ~0.25-0.3).
            assertTrue(cm.accuracy() > 0.2, "test accuracy " + cm.accuracy() + " (chance 0.10, before " + before + ")");
            assertTrue(stats.get(0).lr() > stats.get(cfg.epochs() - 1).lr(), "cosine schedule");
        }
    }

    @Test
    void aNonFiniteLossStopsBeforeTheUpdate() {
        Backend cpu = CpuBackend.get();
        TrainConfig cfg = TrainConfig.builder().epochs(1).batchSize(64).lr(0.1f).weightDecay(0f)
                .alphaPenalty(0f).augment(false).seed(1).build();
        try (QuantModel m = smallNet(cpu, 2); Trainer t = new Trainer(m, cpu, cfg)) {
            Parameter bias = m.parameters().stream().filter(p -> p.name().equals("fc.bias")).findFirst().orElseThrow();
            float[] nan = new float[10];
            java.util.Arrays.fill(nan, Float.NaN);
            bias.setValue(cpu.fromFloats(nan, 10));
            float[] w1 = m.parameters().get(0).value().toFloatArray();
            DivergenceException e = assertThrows(DivergenceException.class, () -> t.trainEpoch(train, 0, null));
            assertTrue(e.getMessage().contains("epoch 1, batch 1") && e.getMessage().contains("loss is NaN"), e.getMessage());
            assertTrue(java.util.Arrays.equals(w1, m.parameters().get(0).value().toFloatArray()), "no update applied");
        }
    }

    @Test
    void aWeightThatOverflowsStopsTraining() {
        Backend cpu = CpuBackend.get();
        TrainConfig cfg = TrainConfig.builder().epochs(1).batchSize(64).lr(3e38f).weightDecay(0f)
                .alphaPenalty(0f).augment(false).seed(1).build();
        try (QuantModel m = smallNet(cpu, 2); Trainer t = new Trainer(m, cpu, cfg)) {
            DivergenceException e = assertThrows(DivergenceException.class, () -> t.trainEpoch(train, 0, null));
            assertTrue(e.getMessage().contains("became") && e.getMessage().contains("lower learning rate"), e.getMessage());
        }
    }

    @Test
    void parametersOnAnotherBackendAreRefused() {
        try (QuantModel m = smallNet(dev.qat4j.backend.ref.RefBackend.INSTANCE, 1)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new Trainer(m, CpuBackend.get(), TrainConfig.seedDefaults(1, 0.1f, 1)));
            assertTrue(e.getMessage().contains("moveTo"), e.getMessage());
        }
    }
}
