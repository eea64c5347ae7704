package dev.qat4j.cli;

/**
 * A mistake the user can fix (a bad option value, a missing or unreadable file, an output that exists, options that
 * contradict each other): the command ends with exit code 2 and this one-line message, never a stack trace.
 */
final class UserError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    UserError(String message) {
        super(message);
    }

    UserError(String message, Throwable cause) {
        super(message, cause);
    }
}
