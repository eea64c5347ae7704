package dev.qat4j.predict;

/** What a model file holds. */
public enum ModelKind {
    /** A training checkpoint ({@code .qck}): the fake-quantized float model. */
    FLOAT,
    /** An integer model ({@code .qim}, written by {@code qat4j convert}): bit-exact integer inference. */
    INTEGER;

    /** How messages name this kind: "a float model (training checkpoint, .qck)" or "an integer model (.qim)". */
    String description() {
        return this == FLOAT ? "a float model (training checkpoint, .qck)" : "an integer model (.qim)";
    }
}
