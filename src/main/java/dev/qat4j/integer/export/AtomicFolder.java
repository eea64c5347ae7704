package dev.qat4j.integer.export;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Writes an export folder all at once: the files go into a hidden temporary sibling, which is renamed onto the
 * target only when every file is written and synced. A failure removes the temporary folder, so readers see either
 * no export, the previous one, or the complete new one, never a half-written folder.
 */
final class AtomicFolder {
    private AtomicFolder() {
    }

    @FunctionalInterface
    interface Contents {
        void writeInto(Path tmp) throws IOException;
    }

    /**
     * Creates {@code folder} with {@code contents}. An existing empty folder is replaced; a non-empty one only when
     * {@code overwrite} (then as a whole: files not in the new export disappear).
     */
    static void write(String what, Path folder, boolean overwrite, Contents contents) throws IOException {
        if (folder == null) {
            throw new IllegalArgumentException(what + ": the output folder is null");
        }
        Path target = folder.toAbsolutePath().normalize();
        Path parent = target.getParent();
        if (parent == null) {
            throw new IllegalArgumentException(what + ": cannot export into the file-system root " + target);
        }
        if (Files.exists(target)) {
            if (!Files.isDirectory(target)) {
                throw new FileAlreadyExistsException(target.toString(), null, what + ": exists and is not a folder");
            }
            if (!overwrite && !isEmpty(target)) {
                throw new FileAlreadyExistsException(target.toString(), null, what
                        + ": the folder exists and is not empty; refusing to overwrite it (ask for overwrite to"
                        + " replace it as a whole)");
            }
        }
        Path tmp;
        try {
            Files.createDirectories(parent);
            tmp = Files.createTempDirectory(parent, "." + target.getFileName() + ".tmp-");
            readableByAll(tmp);
        } catch (IOException e) {
            throw new IOException(what + ": cannot write in " + parent + " (" + e + ")", e);
        }
        try {
            contents.writeInto(tmp);
            publish(what, tmp, target);
        } catch (IOException | RuntimeException | Error e) {
            deleteTree(tmp);
            throw e;
        }
    }

    /** Writes {@code bytes} to a new file and syncs it, so that the final rename publishes durable contents. */
    static void writeFile(Path file, byte[] bytes) throws IOException {
        writeFile(file, bytes, false);
    }

    /** As {@link #writeFile(Path, byte[])}; {@code exists} when the file was created already (a temporary file). */
    static void writeFile(Path file, byte[] bytes, boolean exists) throws IOException {
        try (FileChannel ch = exists ? FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)
                : FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ByteBuffer buf = ByteBuffer.wrap(bytes);
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            ch.force(true);
        }
    }

    private static void publish(String what, Path tmp, Path target) throws IOException {
        if (!Files.exists(target)) {
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                throw new IOException(what + ": cannot rename the finished export onto " + target + " (" + e + ")", e);
            }
            return;
        }
        // move the old folder aside first: a rename cannot replace a non-empty folder
        Path old = Files.createTempDirectory(target.getParent(), "." + target.getFileName() + ".old-");
        Files.delete(old);
        Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
        try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            Files.move(old, target, StandardCopyOption.ATOMIC_MOVE);
            throw new IOException(what + ": cannot rename the finished export onto " + target + " (" + e + ")", e);
        }
        deleteTree(old);
    }

    /**
     * A temporary folder or file is private (rwx------ / rw-------); the published export should be as readable as a
     * plain mkdir's or a plain file's (rwxr-xr-x / rw-r--r--).
     */
    static void readableByAll(Path path) throws IOException {
        if (Files.getFileStore(path).supportsFileAttributeView(PosixFileAttributeView.class)) {
            Files.setPosixFilePermissions(path, PosixFilePermissions.fromString(Files.isDirectory(path) ? "rwxr-xr-x"
                    : "rw-r--r--"));
        }
    }

    private static boolean isEmpty(Path dir) throws IOException {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            return !entries.iterator().hasNext();
        }
    }

    private static void deleteTree(Path root) {
        try (Stream<Path> walk = Files.walk(root)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | RuntimeException ignored) {
            // best effort: the original failure is what the caller must see
        }
    }
}
