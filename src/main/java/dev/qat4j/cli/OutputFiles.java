package dev.qat4j.cli;

import dev.qat4j.experiments.RunRecord;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Writing one output file whole or not at all: it is drawn into a temporary file beside its place, made as readable as
 * every other output (a temporary file is private), and renamed onto it. Whether an existing file may be replaced
 * is decided before, by {@link Checks#outputFile}.
 */
final class OutputFiles {
    private OutputFiles() {
    }

    interface Writer {
        void writeTo(Path tmp) throws IOException;
    }

    static void replace(Path file, Writer writer) {
        Path dir = file.toAbsolutePath().getParent();
        Path tmp = null;
        try {
            tmp = Files.createTempFile(dir, "." + file.getFileName(), ".tmp");
            writer.writeTo(tmp);
            RunRecord.readableLikeOtherOutputs(tmp);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UserError("cannot write " + file + ": " + e.getMessage(), e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) { // the write's own failure is what the user must see
                }
            }
        }
    }
}
