package dev.qat4j.train;

/**
 * Cosine annealing from {@code base} to {@code etaMin} over {@code epochs} (torch's CosineAnnealingLR with
 * T_max = epochs - warm-up, stepped per epoch as the seed does), after an optional linear warm-up: epoch e of the
 * warm-up uses {@code base * (e + 1) / (warmupEpochs + 1)}.
 */
public record LearningRateSchedule(float base, float etaMin, int epochs, int warmupEpochs) {
    public LearningRateSchedule {
        if (!(base > 0f) || !Float.isFinite(base)) {
            throw new IllegalArgumentException("schedule: learning rate must be positive and finite, got " + base);
        }
        if (!(etaMin >= 0f && etaMin <= base)) {
            throw new IllegalArgumentException("schedule: eta_min must be in [0, lr], got " + etaMin);
        }
        if (epochs < 1 || warmupEpochs < 0 || warmupEpochs >= epochs) {
            throw new IllegalArgumentException("schedule: need epochs >= 1 and 0 <= warm-up < epochs, got " + epochs
                    + " and " + warmupEpochs);
        }
    }

    /** The learning rate of epoch {@code e} (0-based). */
    public float at(int e) {
        if (e < warmupEpochs) {
            return base * (e + 1) / (warmupEpochs + 1);
        }
        int t = e - warmupEpochs, total = epochs - warmupEpochs;
        return (float) (etaMin + (base - etaMin) * (1 + Math.cos(Math.PI * t / total)) / 2);
    }
}
