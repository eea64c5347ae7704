package dev.qat4j.data;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;
import java.util.zip.GZIPInputStream;

/**
 * The IDX format of MNIST and Fashion-MNIST: a big-endian header {@code 0x00 0x00 type ndims} ({@code type 0x08}
 * = unsigned byte), {@code ndims} big-endian int32 dimensions, then the data. Images are {@code 0x00000803}
 * ({@code n, rows, cols}), labels {@code 0x00000801} ({@code n}). A file may be gzip-compressed ({@code .gz} or
 * not: detected by the gzip magic {@code 1f 8b}, not by the name).
 *
 * <p>Validation, all before trusting the header with memory: magic and type, every dimension positive, the
 * dimension product fits one Java array and is no more than the file can hold (its exact size for a plain file;
 * for gzip, what deflate's maximum ratio allows), and the data is read in growing chunks so a header that lies
 * about a compressed file's size costs no more memory than the file really has. The data must end exactly where
 * the header says (no missing, no extra bytes), every label must be below {@code classes}, and the image and
 * label counts must match. Errors are {@link DataFormatException}s naming the file and byte offset (offsets in a
 * gzip file are in the uncompressed stream).
 */
public final class Idx {
    /** Magic of an IDX file of unsigned bytes with 3 dimensions (images). */
    public static final int IMAGES_MAGIC = 0x00000803;
    /** Magic of an IDX file of unsigned bytes with 1 dimension (labels). */
    public static final int LABELS_MAGIC = 0x00000801;
    /** The number of classes of MNIST and Fashion-MNIST, used by {@link #load(Path, Path)}. */
    public static final int DEFAULT_CLASSES = 10;

    private static final int MAX_ARRAY = Integer.MAX_VALUE - 8;
    /** Deflate cannot expand data by more than about 1032:1; a gzip file can never hold more than this per byte. */
    private static final long MAX_DEFLATE_RATIO = 1032;
    private static final int FIRST_CHUNK = 1 << 20;

    private Idx() {
    }

    /** Loads images and labels with {@value #DEFAULT_CLASSES} classes (MNIST, Fashion-MNIST). */
    public static Dataset load(Path images, Path labels) {
        return load(images, labels, DEFAULT_CLASSES);
    }

    /**
     * Loads an IDX image file ({@code n x rows x cols}, one channel) and its label file as a data set named after
     * the image file.
     *
     * @throws DataNotFoundException if a file does not exist
     * @throws DataFormatException   for any format problem (see the class comment)
     */
    public static Dataset load(Path images, Path labels, int classes) {
        if (classes <= 0 || classes > 256) {
            throw new IllegalArgumentException("classes must be in 1..256 (labels are bytes), got " + classes);
        }
        Array img = read(images, IMAGES_MAGIC, "images");
        Array lab = read(labels, LABELS_MAGIC, "labels");
        if (img.dims[0] != lab.dims[0]) {
            throw new DataFormatException("IDX: " + images + " holds " + img.dims[0] + " images but " + labels
                    + " holds " + lab.dims[0] + " labels");
        }
        int[] l = new int[lab.dims[0]];
        for (int i = 0; i < l.length; i++) {
            l[i] = lab.data[i] & 0xFF;
            if (l[i] >= classes) {
                throw new DataFormatException("IDX: " + labels + ": label " + l[i] + " of item " + i
                        + " at byte offset " + (lab.headerBytes + i) + " is outside 0.." + (classes - 1));
            }
        }
        String name = images.getFileName().toString().replaceFirst("(?i)\\.gz$", "");
        return Dataset.wrap(name, 1, img.dims[1], img.dims[2], classes, img.data, l);
    }

    /** The contents of one IDX file of unsigned bytes. */
    record Array(int[] dims, byte[] data, int headerBytes) {
    }

    /** Reads and validates one IDX file whose magic must be {@code expectedMagic}. */
    static Array read(Path file, int expectedMagic, String what) {
        Objects.requireNonNull(file, what);
        if (!Files.isRegularFile(file)) {
            throw new DataNotFoundException("IDX: the " + what + " file " + file + " does not exist");
        }
        boolean gzip = Cifar10.isGzip(file);
        long fileSize;
        try {
            fileSize = Files.size(file);
        } catch (IOException e) {
            throw new UncheckedIOException("IDX: cannot read the size of " + file + ": " + e, e);
        }
        String source = file + (gzip ? " (gzip)" : "");
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
                InputStream in = gzip ? new GZIPInputStream(raw, 1 << 16) : raw) {
            byte[] head = new byte[4];
            int got = in.readNBytes(head, 0, 4);
            if (got < 4) {
                throw new DataFormatException("IDX: " + source + ": truncated header: the file ends at byte offset "
                        + got + ", the magic needs 4 bytes");
            }
            int magic = be(head, 0);
            if (magic != expectedMagic) {
                throw new DataFormatException(String.format("IDX: %s: bad magic 0x%08X at byte offset 0, expected "
                        + "0x%08X for an IDX %s file (unsigned bytes, %d dimension%s)", source, magic, expectedMagic,
                        what, expectedMagic & 0xFF, (expectedMagic & 0xFF) == 1 ? "" : "s"));
            }
            int ndims = expectedMagic & 0xFF;
            int headerBytes = 4 + 4 * ndims;
            byte[] dimBytes = new byte[4 * ndims];
            got = in.readNBytes(dimBytes, 0, dimBytes.length);
            if (got < dimBytes.length) {
                throw new DataFormatException("IDX: " + source + ": truncated header: the file ends at byte offset "
                        + (4 + got) + ", the " + ndims + " dimensions need " + headerBytes + " header bytes");
            }
            int[] dims = new int[ndims];
            long product = 1;
            for (int d = 0; d < ndims; d++) {
                dims[d] = be(dimBytes, 4 * d);
                if (dims[d] <= 0) {
                    throw new DataFormatException("IDX: " + source + ": dimension " + d + " at byte offset "
                            + (4 + 4 * d) + " is " + Integer.toUnsignedString(dims[d])
                            + (dims[d] < 0 ? " (" + dims[d] + " as a signed int32)" : "")
                            + "; every dimension must be positive");
                }
                product *= dims[d]; // at most 3 factors below 2^31: no long overflow before the check below
                if (product > MAX_ARRAY) {
                    throw new DataFormatException("IDX: " + source + ": the header's dimensions "
                            + Arrays.toString(Arrays.copyOf(dims, d + 1)) + " need more than " + MAX_ARRAY
                            + " bytes of data, more than one array (and any real file) can hold");
                }
            }
            long available = gzip ? (fileSize * MAX_DEFLATE_RATIO) : fileSize - headerBytes;
            if (product > available) {
                throw new DataFormatException("IDX: " + source + ": the header's dimensions "
                        + Arrays.toString(dims) + " need " + product + " data bytes after the " + headerBytes
                        + "-byte header, but the " + fileSize + "-byte file "
                        + (gzip ? "cannot hold more than " + available + " bytes even at deflate's maximum ratio"
                                : "holds only " + available + ": truncated at byte offset " + fileSize));
            }
            if (!gzip && product < available) {
                throw new DataFormatException("IDX: " + source + ": the header's dimensions "
                        + Arrays.toString(dims) + " need " + product + " data bytes, but the file has "
                        + (available - product) + " extra bytes after byte offset " + (headerBytes + product));
            }
            byte[] data = readExactly(in, (int) product, source, headerBytes);
            if (in.read() != -1) {
                throw new DataFormatException("IDX: " + source + ": extra data after byte offset "
                        + (headerBytes + product) + " where the header's dimensions " + Arrays.toString(dims)
                        + " end");
            }
            return new Array(dims, data, headerBytes);
        } catch (DataFormatException e) {
            throw e;
        } catch (java.util.zip.ZipException | java.io.EOFException e) {
            throw new DataFormatException("IDX: " + source + ": corrupt or truncated gzip data: " + e, e);
        } catch (IOException e) {
            throw new UncheckedIOException("IDX: cannot read " + file + ": " + e, e);
        }
    }

    /**
     * Reads exactly {@code n} bytes, growing the buffer as data really arrives (so a header claiming more than
     * the file holds cannot make us allocate the claimed size up front).
     */
    private static byte[] readExactly(InputStream in, int n, String source, int headerBytes) throws IOException {
        byte[] buf = new byte[Math.min(n, FIRST_CHUNK)];
        int have = 0;
        while (have < n) {
            if (have == buf.length) {
                buf = Arrays.copyOf(buf, (int) Math.min(n, 2L * buf.length));
            }
            int r = in.read(buf, have, buf.length - have);
            if (r < 0) {
                throw new DataFormatException("IDX: " + source + ": truncated: the data ends at byte offset "
                        + (headerBytes + (long) have) + ", the header's dimensions need " + n
                        + " data bytes (up to byte offset " + (headerBytes + (long) n) + ")");
            }
            have += r;
        }
        return buf;
    }

    private static int be(byte[] b, int off) {
        return (b[off] & 0xFF) << 24 | (b[off + 1] & 0xFF) << 16 | (b[off + 2] & 0xFF) << 8 | (b[off + 3] & 0xFF);
    }
}
