package dev.qat4j.cli;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** The option checks every command runs before any work starts; each failure is a {@link UserError} naming the option. */
final class Checks {
    private Checks() {
    }

    /** The backend of {@code --backend} (null: the default choice); one that cannot load is the user's to fix. */
    static dev.qat4j.backend.Backend backend(String name) {
        try {
            return name != null ? dev.qat4j.backend.Backends.byName(name) : dev.qat4j.backend.Backends.get();
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new UserError((name != null ? "--backend " + name + ": " : "") + e.getMessage(), e);
        }
    }

    /** The checkpoint {@code option} names; a broken one is refused naming the option as well as the file. */
    static dev.qat4j.checkpoint.Checkpoint readCheckpoint(String option, Path file) throws IOException {
        inputFile(option, file);
        try {
            return dev.qat4j.checkpoint.CheckpointIO.read(file);
        } catch (dev.qat4j.checkpoint.CheckpointFormatException e) {
            throw new UserError(option + ": " + e.getMessage(), e);
        }
    }

    /** An optional count that must be at least 1 when given. */
    static void positive(String option, Integer value) {
        if (value != null && value < 1) {
            throw new UserError(option + " " + value + ": must be at least 1");
        }
    }

    /** A number in {@code [lo, hi)} (hi may be infinite) when given. */
    static void inRange(String option, Float value, double lo, double hi, String why) {
        if (value != null && !(value >= lo && value < hi)) {
            throw new UserError(option + " " + value + ": " + why);
        }
    }

    /** A file to read: it exists, is not a folder and can be read. */
    static Path inputFile(String option, Path file) {
        if (!Files.exists(file)) {
            throw new UserError(option + " " + file + ": no such file");
        }
        if (Files.isDirectory(file)) {
            throw new UserError(option + " " + file + ": is a folder, not a file");
        }
        if (!Files.isReadable(file)) {
            throw new UserError(option + " " + file + ": permission denied (cannot read it)");
        }
        return file;
    }

    /**
     * A file to write: its folder exists and is writable, and the file itself is absent unless {@code overwrite}.
     * {@code overwriteOption} names the option that allows replacing it.
     */
    static Path outputFile(String option, Path file, boolean overwrite, String overwriteOption) {
        if (Files.isDirectory(file)) {
            throw new UserError(option + " " + file + ": is a folder; give a file name");
        }
        if (Files.exists(file) && !overwrite) {
            throw new UserError(option + " " + file + ": exists (add " + overwriteOption + " to replace it)");
        }
        writableFolder(option, file);
        return file;
    }

    /** The folder {@code path} will be written in exists and is writable. */
    static void writableFolder(String option, Path path) {
        Path parent = path.toAbsolutePath().normalize().getParent();
        if (parent == null) {
            throw new UserError(option + " " + path + ": cannot write at the file-system root");
        }
        if (!Files.isDirectory(parent)) {
            throw new UserError(option + " " + path + ": folder " + parent + " does not exist (create it first)");
        }
        if (!Files.isWritable(parent)) {
            throw new UserError(option + " " + path + ": folder " + parent + " is not writable (permission denied)");
        }
    }

    /** An output folder: absent or empty, or replaceable with {@code overwrite}; its parent exists. */
    static Path outputFolder(String option, Path folder, boolean overwrite) {
        if (Files.exists(folder)) {
            if (!Files.isDirectory(folder)) {
                throw new UserError(option + " " + folder + ": exists and is a file, not a folder");
            }
            if (!overwrite && !isEmpty(folder)) {
                throw new UserError(option + " " + folder + ": folder exists and is not empty (add --overwrite to "
                        + "replace it as a whole)");
            }
        }
        writableFolder(option, folder);
        return folder;
    }

    static boolean isEmpty(Path dir) {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            return !entries.iterator().hasNext();
        } catch (IOException e) {
            throw new UserError(dir + ": cannot list the folder (" + e.getMessage() + ")", e);
        }
    }
}
