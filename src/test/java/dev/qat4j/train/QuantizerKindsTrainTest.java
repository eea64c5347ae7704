package dev.qat4j.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.data.Cifar10;
import dev.qat4j.data.Dataset;
import dev.qat4j.data.Split;
import dev.qat4j.experiments.Recipe;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.quant.ActQuantizer;
import java.util.Locale;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every activation quantizer kind trains on every model with the seed's recipe for the model, on 64 real CIFAR-10
 * images seen again and again (no augmentation): the loss stays finite, and it falls within 12-16 steps wherever it
 * does so quickly, i.e. for every kind on ResNet20 and for mPACT (the seed's kind) on ToyNet and MobileNetV2.
 *
 * <p>The unsigned kinds (DoReFa, PACT, fixed clip) on ToyNet and MobileNetV2 first make the loss rise: their non-negative
 * FC inputs push all of one class's raw FC weights the same way, and the seed's weight quantizer divides by the largest
 * |tanh(w)|, so early SGD steps at lr 0.01 turn whole rows to about ±1 (ToyNet initialises them at 0.001) and the
 * logits to hundreds. They recover over longer runs, which {@code bench/quantizer-kinds.sh} records (loss and held-out
 * accuracy); here they are run for finiteness only.
 */
class QuantizerKindsTrainTest {
    private static Dataset images;

    @BeforeAll
    static void load() {
        java.nio.file.Path a = dev.qat4j.TestData.cifar10();
        Assumptions.assumeTrue(a != null, "no CIFAR-10: set QAT4J_DATA to cifar-10-binary.tar.gz");
        images = Cifar10.load(a, Split.TRAIN).take(64);
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"toynet, cfg1-star", "mobilenetv2, cfg1-star", "resnet20, int8"})
    void everyKindTrains(String model, String preset) {
        Backend b = CpuBackend.get();
        Recipe r = Recipe.seedDefault(model);
        StringBuilder log = new StringBuilder(model);
        for (ActQuantizer.Kind kind : ActQuantizer.Kind.values()) {
            boolean fallsQuickly = model.equals(BitWidths.RESNET20) || kind == ActQuantizer.Kind.MPACT;
            // measured: 8 epochs (16 steps) bring every kind's loss down on ResNet20, 6 suffice for mPACT elsewhere
            int epochs = model.equals(BitWidths.RESNET20) ? 8 : fallsQuickly ? 6 : 2;
            BitWidths bits = BitWidths.preset(model, preset).withActivationKind(kind);
            TrainConfig cfg = TrainConfig.builder().epochs(epochs).batchSize(32).lr(r.lr()).etaMin(r.etaMin())
                    .momentum(r.momentum()).weightDecay(r.weightDecay()).alphaPenalty(r.alphaPenalty())
                    .augment(false).seed(7).build();
            double first = Double.NaN;
            double last = Double.NaN;
            try (QuantModel m = Models.build(model, bits, b, 7); Trainer t = new Trainer(m, b, cfg)) {
                for (int e = 0; e < epochs; e++) {
                    last = t.trainEpoch(images, e, null).loss();
                    assertTrue(Double.isFinite(last), model + " " + kind + ": loss " + last + " at epoch " + (e + 1));
                    if (e == 0) {
                        first = last;
                    }
                }
            }
            log.append(String.format(Locale.ROOT, "  %s %.4f -> %.4f", kind, first, last));
            if (fallsQuickly) {
                assertTrue(last < first, model + " " + kind + ": training loss did not fall (" + first + " -> " + last + ")");
            }
        }
        System.out.println(log);
    }
}
