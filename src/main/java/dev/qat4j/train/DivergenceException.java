package dev.qat4j.train;

/** Training produced a NaN or infinite loss or weight; the step was not applied and earlier checkpoints stand. */
public final class DivergenceException extends RuntimeException {
    public DivergenceException(String message) {
        super(message);
    }
}
