package dev.qat4j.data;

/**
 * A data file that is not what its format says: truncated, wrong record size, bad magic, header dimensions the
 * file cannot hold, a label out of range, a corrupt archive. The message names the file (and archive entry) and
 * the byte offset where the problem was found. Never thrown for a file that is merely absent
 * ({@link DataNotFoundException}).
 */
public class DataFormatException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public DataFormatException(String message) {
        super(message);
    }

    public DataFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
