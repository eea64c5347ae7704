package dev.qat4j.train;

/**
 * Everything that decides a training run besides the model and the data. Defaults are the seed's
 * ({@code algorithms.md} A6): SGD momentum 0.9, weight decay 5e-4 on every parameter, cosine from lr to eta_min per
 * epoch, α² penalty 2e-4, no label smoothing, batch 128, augmentation on.
 */
public record TrainConfig(int epochs, int batchSize, float lr, float etaMin, int warmupEpochs, float momentum,
                          float weightDecay, boolean nesterov, boolean decayNormAndAlpha, float alphaPenalty,
                          float labelSmoothing, boolean augment, long seed) {
    public TrainConfig {
        if (epochs < 1) {
            throw new IllegalArgumentException("train: epochs must be >= 1, got " + epochs);
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("train: batch size must be >= 1, got " + batchSize);
        }
        if (!(labelSmoothing >= 0f && labelSmoothing < 1f)) {
            throw new IllegalArgumentException("train: label smoothing must be in [0, 1), got " + labelSmoothing);
        }
        new LearningRateSchedule(lr, etaMin, epochs, warmupEpochs); // validates lr, eta_min, warm-up
    }

    public static TrainConfig seedDefaults(int epochs, float lr, long seed) {
        return new TrainConfig(epochs, 128, lr, 0f, 0, 0.9f, 5e-4f, false, true, 2e-4f, 0f, true, seed);
    }

    public LearningRateSchedule schedule() {
        return new LearningRateSchedule(lr, etaMin, epochs, warmupEpochs);
    }

    public TrainConfig withBatchSize(int b) {
        return new TrainConfig(epochs, b, lr, etaMin, warmupEpochs, momentum, weightDecay, nesterov, decayNormAndAlpha,
                alphaPenalty, labelSmoothing, augment, seed);
    }
}
