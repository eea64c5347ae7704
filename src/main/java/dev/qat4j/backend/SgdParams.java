package dev.qat4j.backend;

/**
 * One SGD update as torch.optim.SGD does it (dampening 0): {@code g = grad + weightDecay*p;
 * buf = momentum*buf + g; g = nesterov ? g + momentum*buf : buf; p -= lr*g}.
 */
public record SgdParams(float lr, float momentum, float weightDecay, boolean nesterov) {
    public SgdParams {
        if (!(lr >= 0f) || !Float.isFinite(lr)) {
            throw new IllegalArgumentException("SgdParams: learning rate must be finite and >= 0, got " + lr);
        }
        if (!(momentum >= 0f && momentum < 1f)) {
            throw new IllegalArgumentException("SgdParams: momentum must be in [0, 1), got " + momentum);
        }
        if (!(weightDecay >= 0f) || !Float.isFinite(weightDecay)) {
            throw new IllegalArgumentException("SgdParams: weight decay must be finite and >= 0, got " + weightDecay);
        }
        if (nesterov && momentum == 0f) {
            throw new IllegalArgumentException("SgdParams: Nesterov needs a momentum > 0");
        }
    }
}
