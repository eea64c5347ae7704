package dev.qat4j.cli;

import dev.qat4j.checkpoint.CheckpointFormatException;
import dev.qat4j.data.DataFormatException;
import dev.qat4j.data.DataNotFoundException;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.util.Arrays;
import picocli.CommandLine;

/**
 * The one error policy of every command. A user's mistake or an unreadable file (bad option, missing or broken file,
 * an output that exists, missing data) ends with exit code {@value #USAGE} and one line {@code qat4j CMD: what is
 * wrong}; anything else is a bug: exit code {@value #BUG}, one line, and the stack trace only with
 * {@code --verbose}. Commands throw; only this class prints errors (train reports a divergence, exit 3, itself).
 * IllegalArgumentException counts as the user's: it is how the library refuses a value it was given (a bit-width file,
 * a format, a checkpoint of another model), with a message that names it.
 */
final class ErrorPolicy implements CommandLine.IExecutionExceptionHandler, CommandLine.IParameterExceptionHandler {
    static final int BUG = 1;
    static final int USAGE = 2;
    static final String VERBOSE = "--verbose";

    @Override
    public int handleParseException(CommandLine.ParameterException ex, String[] args) {
        CommandLine cl = ex.getCommandLine();
        String name = cl.getCommandSpec().qualifiedName();
        String message = ex.getMessage();
        if (ex instanceof CommandLine.UnmatchedArgumentException u && !u.getSuggestions().isEmpty()) {
            message += " (did you mean " + String.join(" or ", u.getSuggestions()) + "?)";
        }
        System.err.println(name + ": " + message + " (`" + name + " --help` lists the options)");
        if (Arrays.asList(args).contains(VERBOSE)) {
            ex.printStackTrace(System.err);
        }
        return USAGE;
    }

    @Override
    public int handleExecutionException(Exception ex, CommandLine cl, CommandLine.ParseResult parsed) {
        return report(ex, cl.getCommandSpec().qualifiedName(), verbose(parsed));
    }

    /** Prints {@code t} by the policy and returns the exit code. */
    static int report(Throwable t, String command, boolean verbose) {
        PrintStream err = System.err;
        String user = userMessage(t);
        if (user != null) {
            err.println(command + ": " + user);
            if (verbose) {
                t.printStackTrace(err);
            }
            return USAGE;
        }
        if (t instanceof OutOfMemoryError) {
            err.println(command + ": out of memory (" + t.getMessage() + "); lower --batch-size, or raise the native "
                    + "memory cap with java -D" + Main.NATIVE_MEMORY_CAP + "=SIZE (now "
                    + System.getProperty(Main.NATIVE_MEMORY_CAP, "the Java heap's maximum") + " bytes)");
        } else {
            err.println(command + ": internal error, a bug in qat4j: " + t
                    + (verbose ? "" : " (rerun with " + VERBOSE + " for the stack trace)"));
        }
        if (verbose) {
            t.printStackTrace(err);
        }
        return BUG;
    }

    /** The one-line message of a user's mistake or an unreadable file, or null for a bug. */
    static String userMessage(Throwable t) {
        if (t instanceof UncheckedIOException u && u.getCause() != null) {
            return userMessage(u.getCause());
        }
        if (t instanceof UserError || t instanceof DataNotFoundException || t instanceof DataFormatException
                || t instanceof CheckpointFormatException || t instanceof IllegalArgumentException) {
            return t.getMessage() != null ? t.getMessage() : t.toString();
        }
        if (t instanceof NoSuchFileException e) {
            return e.getFile() + ": no such file or folder";
        }
        if (t instanceof AccessDeniedException e) {
            return e.getFile() + ": permission denied";
        }
        if (t instanceof FileAlreadyExistsException e) {
            return e.getFile() + ": exists" + (e.getReason() == null ? "" : " (" + e.getReason() + ")");
        }
        if (t instanceof NotDirectoryException e) {
            return e.getFile() + ": not a folder";
        }
        if (t instanceof FileSystemException e) {
            return (e.getFile() == null ? "" : e.getFile() + ": ") + (e.getReason() != null ? e.getReason()
                    : e.getMessage());
        }
        if (t instanceof IOException) {
            return t.getMessage() != null ? t.getMessage() : t.toString();
        }
        return null;
    }

    private static boolean verbose(CommandLine.ParseResult parsed) {
        for (CommandLine.ParseResult p = parsed; p != null; p = p.subcommand()) {
            if (p.hasMatchedOption(VERBOSE)) {
                return true;
            }
        }
        return false;
    }
}
