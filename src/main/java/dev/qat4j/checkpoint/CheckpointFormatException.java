package dev.qat4j.checkpoint;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A file (or stream, or byte array) that is not a valid qat4j checkpoint: wrong magic, unsupported version, truncated, a malformed or
 * inconsistent header, a tensor that does not fit the file, or a checksum mismatch. The message starts with
 * {@code checkpoint <path>:} (or the name given to the stream or array) and says what is wrong and, where it helps, at which byte offset or header
 * line/column.
 *
 * <p>An {@link IOException} rather than an {@link IllegalArgumentException}: the bytes come from storage, not from
 * the caller, and a corrupt or half-copied file is the same kind of event as a failed read. A trainer resuming
 * from the latest checkpoint handles "missing", "unreadable" and "corrupt" in one {@code catch (IOException e)}
 * (and falls back to an older checkpoint), and the checked type makes callers decide what to do; like
 * {@link java.util.zip.ZipException}. Programming errors (a null argument, a checkpoint that does not fit the model
 * it is loaded into) stay {@link IllegalArgumentException}s.
 */
public class CheckpointFormatException extends IOException {
    private static final long serialVersionUID = 1L;

    private final transient Path file;
    private final String source;

    /** A problem with {@code file}: the message is {@code checkpoint <file>: <what>}. */
    public CheckpointFormatException(Path file, String what) {
        this(file, String.valueOf(file), what, null);
    }

    /** As {@link #CheckpointFormatException(Path, String)}, with the exception that revealed the problem. */
    public CheckpointFormatException(Path file, String what, Throwable cause) {
        this(file, String.valueOf(file), what, cause);
    }

    /** A problem with checkpoint bytes that came from no file: {@code source} names them (a stream, a resource). */
    public CheckpointFormatException(String source, String what) {
        this(null, source, what, null);
    }

    /** As {@link #CheckpointFormatException(String, String)}, with the exception that revealed the problem. */
    public CheckpointFormatException(String source, String what, Throwable cause) {
        this(null, source, what, cause);
    }

    private CheckpointFormatException(Path file, String source, String what, Throwable cause) {
        super("checkpoint " + source + ": " + what, cause);
        this.file = file;
        this.source = source;
    }

    /** The file that was being read, or null when the bytes came from a stream or an array. */
    public Path file() {
        return file;
    }

    /** What was being read: the file's path, or the name given to the stream or array. */
    public String source() {
        return source;
    }
}
