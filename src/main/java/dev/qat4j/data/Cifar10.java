package dev.qat4j.data;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;

/**
 * The CIFAR-10 binary version: files {@code data_batch_1.bin} .. {@code data_batch_5.bin} (train) and
 * {@code test_batch.bin} (test), each a sequence of 3073-byte records: 1 label byte (0..9) then 3072 pixel bytes,
 * the 32x32 R plane, G plane and B plane, each row-major. That is already CHW, so a record's pixels are copied
 * into the {@link Dataset} unchanged.
 *
 * <p>{@link #load} reads either the extracted folder {@code cifar-10-batches-bin/} (given itself or its parent) or
 * the official {@code cifar-10-binary.tar.gz}, streamed (tar over gzip, nothing extracted to disk; a plain
 * {@code .tar} works too). Reading stops as soon as the split's files have been read.
 *
 * <p>Validation: every file's size must be a positive multiple of 3073 bytes (the official files hold exactly
 * 10,000 records, but smaller or larger multiples are accepted for user-made subsets) and every label must be in
 * 0..9. A truncated or corrupt file or archive, a wrong record size or a label out of range is a
 * {@link DataFormatException} naming the file (and archive entry) and the byte offset; data is never returned
 * partially. Missing files are a {@link DataNotFoundException} listing what was looked for.
 */
public final class Cifar10 {
    public static final int CHANNELS = 3;
    public static final int HEIGHT = 32;
    public static final int WIDTH = 32;
    public static final int CLASSES = 10;
    public static final int IMAGE_BYTES = CHANNELS * HEIGHT * WIDTH; // 3072
    public static final int RECORD_BYTES = 1 + IMAGE_BYTES; // 3073
    /** Records in each official file (not enforced: user subsets may hold any positive number). */
    public static final int OFFICIAL_RECORDS_PER_FILE = 10_000;
    /** Folder name inside the official archive. */
    public static final String FOLDER = "cifar-10-batches-bin";
    /** File name of the official archive. */
    public static final String ARCHIVE = "cifar-10-binary.tar.gz";
    /** Class names by label (the archive's {@code batches.meta.txt}). */
    public static final List<String> CLASS_NAMES = List.of("airplane", "automobile", "bird", "cat", "deer", "dog",
            "frog", "horse", "ship", "truck");

    private static final int MAX_RECORDS = Integer.MAX_VALUE / IMAGE_BYTES; // one byte[] holds all pixels
    private static final int CHUNK_RECORDS = 256;
    /** Initial capacity, in records, for an archive entry whose header size is not backed by the archive's size. */
    private static final int FIRST_RECORDS = 1024;

    private Cifar10() {
    }

    /** The file names of a split, in the order their records are concatenated. */
    public static List<String> fileNames(Split split) {
        return switch (Objects.requireNonNull(split, "split")) {
            case TRAIN -> List.of("data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                    "data_batch_5.bin");
            case TEST -> List.of("test_batch.bin");
        };
    }

    /**
     * Loads a split from {@code path}: the folder {@code cifar-10-batches-bin}, a folder containing it, a folder
     * containing {@code cifar-10-binary.tar.gz}, or the archive itself.
     *
     * @throws DataNotFoundException if the path or the split's files are not there (the message lists what was
     *                               looked for)
     * @throws DataFormatException   if a file or the archive is truncated or corrupt, or holds a label out of range
     * @throws UncheckedIOException  for an I/O error that is not about the data's format (e.g. permission denied)
     */
    public static Dataset load(Path path, Split split) {
        Objects.requireNonNull(path, "path");
        List<String> names = fileNames(split);
        String name = "cifar10-" + split.name().toLowerCase(java.util.Locale.ROOT);
        if (Files.isRegularFile(path)) {
            return loadArchive(path, names, name);
        }
        if (!Files.isDirectory(path)) {
            throw new DataNotFoundException("CIFAR-10: " + path + " does not exist (expected the folder " + FOLDER
                    + "/, a folder containing it, or " + ARCHIVE + ")");
        }
        List<Path> folders = new ArrayList<>();
        folders.add(path.resolve(FOLDER));
        folders.add(path);
        StringBuilder lookedFor = new StringBuilder();
        for (Path folder : folders) {
            List<Path> files = new ArrayList<>();
            List<Path> missing = new ArrayList<>();
            for (String n : names) {
                Path f = folder.resolve(n);
                files.add(f);
                if (!Files.isRegularFile(f)) {
                    missing.add(f);
                }
            }
            if (missing.isEmpty()) {
                return loadFiles(files, name);
            }
            for (Path m : missing) {
                lookedFor.append("\n  ").append(m);
            }
        }
        Path archive = path.resolve(ARCHIVE);
        if (Files.isRegularFile(archive)) {
            return loadArchive(archive, names, name);
        }
        lookedFor.append("\n  ").append(archive);
        throw new DataNotFoundException("CIFAR-10 " + split.name().toLowerCase(java.util.Locale.ROOT)
                + " split not found under " + path + "; looked for (missing):" + lookedFor);
    }

    /** Reads one CIFAR-10 binary file (any positive number of records) as a data set named after the file. */
    public static Dataset loadFile(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new DataNotFoundException("CIFAR-10: no such file: " + file);
        }
        return loadFiles(List.of(file), file.getFileName().toString());
    }

    private static Dataset loadFiles(List<Path> files, String name) {
        long total = 0;
        long[] sizes = new long[files.size()];
        for (int i = 0; i < files.size(); i++) {
            try {
                sizes[i] = Files.size(files.get(i));
            } catch (IOException e) {
                throw new UncheckedIOException("CIFAR-10: cannot read the size of " + files.get(i) + ": " + e, e);
            }
            total += checkSize(sizes[i], files.get(i).toString());
        }
        if (total > MAX_RECORDS) {
            throw new DataFormatException("CIFAR-10: " + files + " hold " + total + " records together; at most "
                    + MAX_RECORDS + " fit in one data set");
        }
        byte[] pixels = new byte[(int) total * IMAGE_BYTES];
        int[] labels = new int[(int) total];
        int at = 0;
        for (int i = 0; i < files.size(); i++) {
            Path f = files.get(i);
            try (InputStream in = Files.newInputStream(f)) {
                readRecords(in, sizes[i], f.toString(), pixels, labels, at, false);
                if (in.read() != -1) {
                    throw new DataFormatException("CIFAR-10: " + f + " grew while being read: more than "
                            + sizes[i] + " bytes (byte offset " + sizes[i] + ")");
                }
            } catch (IOException e) {
                throw new UncheckedIOException("CIFAR-10: cannot read " + f + ": " + e, e);
            }
            at += (int) (sizes[i] / RECORD_BYTES);
        }
        return Dataset.wrap(name, CHANNELS, HEIGHT, WIDTH, CLASSES, pixels, labels);
    }

    /** Validates a file's size before anything is allocated; returns its record count. */
    private static int checkSize(long size, String source) {
        if (size == 0) {
            throw new DataFormatException("CIFAR-10: " + source + " is empty (byte offset 0): no records");
        }
        if (size % RECORD_BYTES != 0) {
            long whole = size / RECORD_BYTES;
            throw new DataFormatException("CIFAR-10: " + source + ": truncated or wrong-sized record at byte offset "
                    + whole * RECORD_BYTES + ": the size " + size + " bytes is not a multiple of the "
                    + RECORD_BYTES + "-byte record (1 label byte + " + IMAGE_BYTES + " pixel bytes); " + whole
                    + " whole records and " + (size % RECORD_BYTES) + " bytes left over");
        }
        if (size / RECORD_BYTES > MAX_RECORDS) {
            throw new DataFormatException("CIFAR-10: " + source + " claims " + size / RECORD_BYTES
                    + " records; at most " + MAX_RECORDS + " fit in one data set");
        }
        return (int) (size / RECORD_BYTES);
    }

    /**
     * Reads {@code bytes / RECORD_BYTES} records from {@code in} into {@code pixels}/{@code labels} starting at
     * record {@code first}, checking every label. A stream that ends early is a truncation error.
     */
    private static void readRecords(InputStream in, long bytes, String source, byte[] pixels, int[] labels,
            int first, boolean inArchive) {
        readRecords(in, 0, (int) (bytes / RECORD_BYTES), bytes, source, pixels, labels, first, inArchive);
    }

    /**
     * Reads records {@code from .. from + count - 1} of a source of {@code bytes} bytes (the next ones in
     * {@code in}) into {@code pixels}/{@code labels} at record {@code first}; offsets in messages are the source's.
     */
    private static void readRecords(InputStream in, int from, int count, long bytes, String source, byte[] pixels,
            int[] labels, int first, boolean inArchive) {
        int n = from + count;
        byte[] buf = new byte[RECORD_BYTES * Math.min(CHUNK_RECORDS, count)];
        long offset = (long) from * RECORD_BYTES;
        int rec = from;
        first -= from;
        while (rec < n) {
            int k = Math.min(CHUNK_RECORDS, n - rec);
            int want = k * RECORD_BYTES;
            int got = 0;
            try {
                while (got < want) {
                    int r = in.read(buf, got, want - got);
                    if (r < 0) {
                        break;
                    }
                    got += r;
                }
            } catch (IOException e) {
                if (inArchive) { // the gzip or tar decoder failed: the archive is corrupt or truncated
                    throw new DataFormatException("CIFAR-10: " + source + ": corrupt or truncated archive data "
                            + "at or after byte offset " + (offset + got) + " of the entry (" + e + ")", e);
                }
                throw new UncheckedIOException("CIFAR-10: cannot read " + source + " at byte offset "
                        + (offset + got) + ": " + e, e);
            }
            if (got < want) {
                throw new DataFormatException("CIFAR-10: " + source + ": truncated: the data ends at byte offset "
                        + (offset + got) + " inside record " + (rec + got / RECORD_BYTES) + " (record offset "
                        + (offset + (long) (got / RECORD_BYTES) * RECORD_BYTES) + "), but " + bytes
                        + " bytes were expected");
            }
            for (int j = 0; j < k; j++) {
                int label = buf[j * RECORD_BYTES] & 0xFF;
                if (label >= CLASSES) {
                    throw new DataFormatException("CIFAR-10: " + source + ": label " + label + " of record "
                            + (rec + j) + " at byte offset " + (offset + (long) j * RECORD_BYTES)
                            + " is outside 0.." + (CLASSES - 1) + " (wrong file or wrong record layout?)");
                }
                labels[first + rec + j] = label;
                System.arraycopy(buf, j * RECORD_BYTES + 1, pixels, (first + rec + j) * IMAGE_BYTES, IMAGE_BYTES);
            }
            offset += want;
            rec += k;
        }
    }

    private record Part(byte[] pixels, int[] labels) {
    }

    private static Dataset loadArchive(Path archive, List<String> names, String name) {
        Part[] parts = new Part[names.size()];
        String[] entryNames = new String[names.size()];
        int found = 0;
        boolean gzip = isGzip(archive);
        long archiveSize;
        try {
            archiveSize = Files.size(archive);
        } catch (IOException ex) {
            throw new UncheckedIOException("CIFAR-10: cannot read the size of " + archive + ": " + ex, ex);
        }
        String current = null; // entry being read, for error messages
        TarArchiveInputStream tar = null;
        GzipCompressorInputStream gz = null;
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(archive), 1 << 16)) {
            InputStream in = raw;
            if (gzip) {
                gz = GzipCompressorInputStream.builder().setInputStream(raw).setDecompressConcatenated(true).get();
                in = gz;
            }
            tar = new TarArchiveInputStream(in);
            TarArchiveEntry e;
            while (found < names.size() && (e = tar.getNextEntry()) != null) {
                current = null;
                if (!e.isFile()) {
                    continue;
                }
                int idx = names.indexOf(baseName(e.getName()));
                if (idx < 0) {
                    continue;
                }
                String source = archive + " entry '" + e.getName() + "'";
                if (parts[idx] != null) {
                    throw new DataFormatException("CIFAR-10: " + source + ": a second entry named " + names.get(idx)
                            + " (the first was '" + entryNames[idx] + "'); the archive is ambiguous");
                }
                current = e.getName();
                int n = checkSize(e.getSize(), source);
                parts[idx] = readEntry(tar, n, e.getSize(), source, archiveSize);
                entryNames[idx] = e.getName();
                found++;
                current = null;
            }
        } catch (DataFormatException ex) {
            throw ex;
        } catch (java.nio.file.NoSuchFileException | java.nio.file.AccessDeniedException ex) {
            throw new UncheckedIOException("CIFAR-10: cannot open " + archive + ": " + ex, ex);
        } catch (IOException | RuntimeException ex) {
            // Anything the gzip or tar decoder reports while reading a local file is a format problem.
            StringBuilder where = new StringBuilder();
            if (current != null) {
                where.append(" while reading entry '").append(current).append("'");
            }
            if (tar != null) {
                where.append(" at tar byte offset ").append(tar.getBytesRead());
            }
            if (gz != null) {
                where.append(" (compressed byte offset ").append(gz.getCompressedCount()).append(')');
            }
            throw new DataFormatException("CIFAR-10: " + archive + " is not a valid " + (gzip ? "tar.gz" : "tar")
                    + " archive or is truncated" + where + ": " + ex, ex);
        }
        if (found < names.size()) {
            StringBuilder missing = new StringBuilder();
            for (int i = 0; i < names.size(); i++) {
                if (parts[i] == null) {
                    missing.append("\n  ").append(FOLDER).append('/').append(names.get(i));
                }
            }
            throw new DataNotFoundException("CIFAR-10: the archive " + archive + " has no entries named "
                    + "(in any folder):" + missing);
        }
        return concat(parts, name);
    }

    /**
     * Reads an archive entry of {@code n} records. The size comes from a tar header, which a corrupt or hostile
     * archive can set to anything up to 2 GB whatever its real content: unless the archive itself is that large,
     * the arrays start at {@value #FIRST_RECORDS} records and grow as records really arrive (a lying header then
     * costs at most about twice the data actually present, and ends in a truncation error).
     */
    private static Part readEntry(InputStream tar, int n, long bytes, String source, long archiveSize) {
        int cap = (int) Math.min(n, Math.max(FIRST_RECORDS, archiveSize / RECORD_BYTES + 1));
        byte[] pixels = new byte[cap * IMAGE_BYTES];
        int[] labels = new int[cap];
        int done = 0;
        while (done < n) {
            if (done == cap) {
                cap = (int) Math.min(n, 2L * cap);
                pixels = java.util.Arrays.copyOf(pixels, cap * IMAGE_BYTES);
                labels = java.util.Arrays.copyOf(labels, cap);
            }
            int k = cap - done;
            readRecords(tar, done, k, bytes, source, pixels, labels, done, true);
            done += k;
        }
        return new Part(pixels, labels);
    }

    private static Dataset concat(Part[] parts, String name) {
        if (parts.length == 1) {
            return Dataset.wrap(name, CHANNELS, HEIGHT, WIDTH, CLASSES, parts[0].pixels, parts[0].labels);
        }
        long total = 0;
        for (Part p : parts) {
            total += p.labels.length;
        }
        if (total > MAX_RECORDS) {
            throw new DataFormatException("CIFAR-10: the split holds " + total + " records; at most " + MAX_RECORDS
                    + " fit in one data set");
        }
        byte[] pixels = new byte[(int) total * IMAGE_BYTES];
        int[] labels = new int[(int) total];
        int at = 0;
        for (int i = 0; i < parts.length; i++) {
            Part p = parts[i];
            System.arraycopy(p.pixels, 0, pixels, at * IMAGE_BYTES, p.pixels.length);
            System.arraycopy(p.labels, 0, labels, at, p.labels.length);
            at += p.labels.length;
            parts[i] = null; // let the part go before the next copy
        }
        return Dataset.wrap(name, CHANNELS, HEIGHT, WIDTH, CLASSES, pixels, labels);
    }

    private static String baseName(String entryName) {
        String n = entryName;
        while (n.endsWith("/")) {
            n = n.substring(0, n.length() - 1);
        }
        int slash = n.lastIndexOf('/');
        return slash < 0 ? n : n.substring(slash + 1);
    }

    static boolean isGzip(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            return in.read() == 0x1f && in.read() == 0x8b;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e, e);
        }
    }
}
