package dev.qat4j.tensor;

/**
 * Memory that holds a tensor's elements, owned by the backend that made it. Only that backend knows
 * the concrete type (Java arrays for {@code ref}, native memory for {@code cpu}).
 */
public interface Storage {
    /** Frees the memory now; called once, by {@link Tensor#close()}. */
    void free();

    /** Bytes this storage can hold: a tensor on it may not address more. */
    long capacityBytes();

    /** Whether {@link #free()} has run: every tensor on this storage is then closed, views and rewraps included. */
    boolean isFreed();
}
