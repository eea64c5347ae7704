package dev.qat4j.data;

/**
 * The data could not be found: the message lists every place that was looked at and how to point qat4j at the
 * data. Distinct from {@link DataFormatException} (the data is there but broken).
 */
public class DataNotFoundException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public DataNotFoundException(String message) {
        super(message);
    }
}
