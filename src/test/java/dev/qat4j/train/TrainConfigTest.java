package dev.qat4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.data.Augmentation;
import org.junit.jupiter.api.Test;

/** The builder: the seed's defaults, named setters, and errors naming the option. */
class TrainConfigTest {
    @Test
    void theBuilderHoldsTheSeedDefaults() {
        TrainConfig c = TrainConfig.builder().epochs(300).lr(0.01f).seed(7).build();
        assertEquals(new TrainConfig(300, 128, 0.01f, 0f, 0, 0.9f, 5e-4f, false, true, 2e-4f, 0f,
                Augmentation.CIFAR10, 7), c);
        assertEquals(c, TrainConfig.seedDefaults(300, 0.01f, 7));
        assertEquals(c, c.toBuilder().build());
        assertEquals(64, c.withBatchSize(64).batchSize());
        assertFalse(c.toBuilder().augment(false).build().augment());
        assertEquals(new Augmentation(3, false),
                c.toBuilder().augmentation(new Augmentation(3, false)).build().augmentation());
    }

    @Test
    void buildNamesTheOptionThatIsWrong() {
        assertMessage("epochs", TrainConfig.builder().epochs(0));
        assertMessage("batch size", TrainConfig.builder().batchSize(0));
        assertMessage("learning rate", TrainConfig.builder().lr(0f));
        assertMessage("eta_min", TrainConfig.builder().etaMin(1f));
        assertMessage("warm-up", TrainConfig.builder().warmupEpochs(1));
        assertMessage("momentum", TrainConfig.builder().momentum(1.5f));
        assertMessage("weight decay", TrainConfig.builder().weightDecay(-1f));
        assertMessage("alpha penalty", TrainConfig.builder().alphaPenalty(Float.NaN));
        assertMessage("label smoothing", TrainConfig.builder().labelSmoothing(1f));
        assertThrows(NullPointerException.class, () -> TrainConfig.builder().augmentation(null).build());
    }

    private static void assertMessage(String option, TrainConfig.Builder b) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, b::build);
        assertTrue(e.getMessage().contains(option), e.getMessage());
    }
}
