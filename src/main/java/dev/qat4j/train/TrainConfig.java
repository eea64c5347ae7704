package dev.qat4j.train;

import dev.qat4j.data.Augmentation;
import java.util.Objects;

/**
 * Everything that decides a training run besides the model and the data. Defaults are the seed's
 * ({@code algorithms.md} A6): SGD momentum 0.9, weight decay 5e-4 on every parameter, cosine from lr to eta_min per
 * epoch, α² penalty 2e-4, no label smoothing, batch 128, augmentation on (random crop with 4 pixels of zero padding
 * and horizontal flip, {@link Augmentation#CIFAR10}). Make one with {@link #builder()} (or
 * {@link #seedDefaults(int, float, long)}); the normalisation comes from the model's
 * {@link dev.qat4j.models.InputSpec}, not from here.
 *
 * @param epochs            epochs to train, at least 1
 * @param batchSize         images per batch, at least 1
 * @param lr                peak learning rate
 * @param etaMin            learning rate at the end of the cosine
 * @param warmupEpochs      epochs of linear warm-up before the cosine
 * @param momentum          SGD momentum
 * @param weightDecay       L2 weight decay
 * @param nesterov          Nesterov momentum
 * @param decayNormAndAlpha whether BN parameters and quantizer clips are decayed too (the seed decays everything)
 * @param alphaPenalty      coefficient of the α² penalty of PACT/mPACT clips
 * @param labelSmoothing    label smoothing in [0, 1)
 * @param augmentation      the training images' crop and flip ({@link Augmentation#NONE}: off)
 * @param seed              seeds the data order and the augmentation
 */
public record TrainConfig(int epochs, int batchSize, float lr, float etaMin, int warmupEpochs, float momentum,
                          float weightDecay, boolean nesterov, boolean decayNormAndAlpha, float alphaPenalty,
                          float labelSmoothing, Augmentation augmentation, long seed) {
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
        if (!(momentum >= 0f && momentum < 1f)) {
            throw new IllegalArgumentException("train: momentum must be in [0, 1), got " + momentum);
        }
        if (!(weightDecay >= 0f) || !Float.isFinite(weightDecay)) {
            throw new IllegalArgumentException("train: weight decay must be finite and >= 0, got " + weightDecay);
        }
        if (!(alphaPenalty >= 0f) || !Float.isFinite(alphaPenalty)) {
            throw new IllegalArgumentException("train: alpha penalty must be finite and >= 0, got " + alphaPenalty);
        }
        Objects.requireNonNull(augmentation, "train: augmentation (Augmentation.NONE to turn it off)");
        new LearningRateSchedule(lr, etaMin, epochs, warmupEpochs); // validates lr, eta_min, warm-up
    }

    /** The seed's defaults for {@code epochs} epochs at peak learning rate {@code lr}, seeded by {@code seed}. */
    public static TrainConfig seedDefaults(int epochs, float lr, long seed) {
        return builder().epochs(epochs).lr(lr).seed(seed).build();
    }

    /** A builder holding the seed's defaults (1 epoch at lr 0.1, seed 0 unless set). */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding this configuration's values, to change some of them. */
    public Builder toBuilder() {
        return new Builder().epochs(epochs).batchSize(batchSize).lr(lr).etaMin(etaMin).warmupEpochs(warmupEpochs)
                .momentum(momentum).weightDecay(weightDecay).nesterov(nesterov).decayNormAndAlpha(decayNormAndAlpha)
                .alphaPenalty(alphaPenalty).labelSmoothing(labelSmoothing).augmentation(augmentation).seed(seed);
    }

    /** Whether training images are augmented at all. */
    public boolean augment() {
        return augmentation.enabled();
    }

    public LearningRateSchedule schedule() {
        return new LearningRateSchedule(lr, etaMin, epochs, warmupEpochs);
    }

    /** This configuration with batch size {@code b}. */
    public TrainConfig withBatchSize(int b) {
        return toBuilder().batchSize(b).build();
    }

    /**
     * Named options with the seed's defaults; {@link #build()} checks them all and names the option that is wrong.
     */
    public static final class Builder {
        private int epochs = 1;
        private int batchSize = 128;
        private float lr = 0.1f;
        private float etaMin = 0f;
        private int warmupEpochs = 0;
        private float momentum = 0.9f;
        private float weightDecay = 5e-4f;
        private boolean nesterov = false;
        private boolean decayNormAndAlpha = true;
        private float alphaPenalty = 2e-4f;
        private float labelSmoothing = 0f;
        private Augmentation augmentation = Augmentation.CIFAR10;
        private long seed = 0;

        private Builder() {
        }

        /** Epochs to train (default 1). */
        public Builder epochs(int v) {
            epochs = v;
            return this;
        }

        /** Images per batch (default 128). */
        public Builder batchSize(int v) {
            batchSize = v;
            return this;
        }

        /** Peak learning rate (default 0.1). */
        public Builder lr(float v) {
            lr = v;
            return this;
        }

        /** Learning rate at the end of the cosine (default 0). */
        public Builder etaMin(float v) {
            etaMin = v;
            return this;
        }

        /** Epochs of linear warm-up (default 0). */
        public Builder warmupEpochs(int v) {
            warmupEpochs = v;
            return this;
        }

        /** SGD momentum (default 0.9). */
        public Builder momentum(float v) {
            momentum = v;
            return this;
        }

        /** L2 weight decay (default 5e-4). */
        public Builder weightDecay(float v) {
            weightDecay = v;
            return this;
        }

        /** Nesterov momentum (default off). */
        public Builder nesterov(boolean v) {
            nesterov = v;
            return this;
        }

        /** Decay BN parameters and quantizer clips too (default on, as the seed). */
        public Builder decayNormAndAlpha(boolean v) {
            decayNormAndAlpha = v;
            return this;
        }

        /** Coefficient of the α² penalty (default 2e-4). */
        public Builder alphaPenalty(float v) {
            alphaPenalty = v;
            return this;
        }

        /** Label smoothing in [0, 1) (default 0). */
        public Builder labelSmoothing(float v) {
            labelSmoothing = v;
            return this;
        }

        /** The training augmentation (default {@link Augmentation#CIFAR10}: pad 4, crop, flip). */
        public Builder augmentation(Augmentation v) {
            augmentation = v;
            return this;
        }

        /** {@code true}: the default crop and flip ({@link Augmentation#CIFAR10}); {@code false}: none. */
        public Builder augment(boolean v) {
            augmentation = v ? Augmentation.CIFAR10 : Augmentation.NONE;
            return this;
        }

        /** Seeds the data order and augmentation (default 0). */
        public Builder seed(long v) {
            seed = v;
            return this;
        }

        /**
         * The configuration.
         *
         * @throws IllegalArgumentException naming the first option out of range
         */
        public TrainConfig build() {
            return new TrainConfig(epochs, batchSize, lr, etaMin, warmupEpochs, momentum, weightDecay, nesterov,
                    decayNormAndAlpha, alphaPenalty, labelSmoothing, augmentation, seed);
        }
    }
}
