package dev.qat4j.checkpoint;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A file that is not a valid qat4j checkpoint: wrong magic, unsupported version, truncated, a malformed or
 * inconsistent header, a tensor that does not fit the file, or a checksum mismatch. The message starts with
 * {@code checkpoint <path>:} and says what is wrong and, where it helps, at which byte offset or header
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

    public CheckpointFormatException(Path file, String what) {
        super("checkpoint " + file + ": " + what);
        this.file = file;
    }

    public CheckpointFormatException(Path file, String what, Throwable cause) {
        super("checkpoint " + file + ": " + what, cause);
        this.file = file;
    }

    /** The file that was being read. */
    public Path file() {
        return file;
    }
}
