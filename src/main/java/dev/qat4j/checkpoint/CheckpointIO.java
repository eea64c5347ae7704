package dev.qat4j.checkpoint;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;
import java.util.zip.CRC32C;

/**
 * Reads and writes qat4j checkpoint files: a documented, versioned binary format in the spirit of safetensors.
 * Loading a file only ever creates arrays, strings and numbers; it never runs code (no Java serialization, no
 * class names in the file), and it allocates nothing for tensor data before the whole tensor table has been
 * checked against the file's size.
 *
 * <h2>Byte layout, format version 1</h2>
 * All integers are little-endian; offsets are in bytes from the start of the file.
 * <pre>
 *   offset      size  content
 *   0           8     magic: the ASCII bytes "QAT4JCK" followed by one zero byte (51 41 54 34 4A 43 4B 00)
 *   8           4     u32 format version = 1
 *   12          8     u64 H = length of the JSON header in bytes; readers refuse H &gt; 16 MiB (16,777,216)
 *   20          H     the header: a UTF-8 JSON object (below). The writer pads it with ASCII spaces (valid JSON
 *                     whitespace) so that the data section starts at a multiple of 8; readers must not rely on it
 *   20+H        D     the data section: every tensor's elements, row-major, little-endian (FLOAT32 as IEEE-754
 *                     binary32 bits, INT32 two's complement, INT8 / UINT8 one byte each), in table order,
 *                     back to back, with no gaps
 *   20+H+D      4     u32 CRC-32C (Castagnoli, as {@link CRC32C}) of bytes [0, 20+H+D): everything before it
 * </pre>
 * So a file is exactly {@code 24 + H + D} bytes, and {@code D} is the sum of the tensors' lengths.
 *
 * <p>The header, with the keys in any order and nothing else allowed:
 * <pre>
 * {"format": 1,                          // = the u32 version
 *  "model": "toynet",                    // non-empty string
 *  "meta": {"epoch": 12, "lr": 0.05, "bits": "model: toynet\n..."},   // string -&gt; string | integer | number
 *  "tensors": [                          // in data order
 *    {"name": "stem.conv.weight", "dtype": "FLOAT32", "shape": [16, 3, 3, 3], "offset": 0, "length": 1728},
 *    {"name": "stem.bn.weight",   "dtype": "FLOAT32", "shape": [16],          "offset": 1728, "length": 64}]}
 * </pre>
 * {@code dtype} is one of {@code FLOAT32} (4 bytes), {@code INT8}, {@code UINT8} (1 byte), {@code INT32}
 * (4 bytes). {@code offset} is relative to the start of the data section: the first tensor starts at 0 and each
 * next one where the previous ends. {@code length} = product of {@code shape} x dtype size ({@code []} is a scalar
 * with one element; a 0 dimension gives 0 bytes). Each dimension is 0..2^31-1, the element count at most 2^31-1,
 * the rank at most {@link Checkpoint#MAX_RANK}. Integer metadata must fit in 64 bits, floating-point metadata
 * must be finite.
 *
 * <h2>What {@link #read} refuses</h2>
 * Every problem is a {@link CheckpointFormatException} naming the file and what is wrong: a wrong magic, another
 * version, a header length over 16 MiB, a file too short for what its preamble or header promises ("truncated"),
 * a header that is not UTF-8 or not JSON (with line and column), duplicate JSON keys, unknown, missing or
 * mistyped keys, an unknown dtype, a negative or overflowing shape, a length that does not match shape x dtype,
 * duplicate tensor names, a gap or overlap between tensors, a tensor that extends past the end of the file, bytes
 * left over between the last tensor and the checksum, and a checksum mismatch. The checks on the preamble and the
 * header come first, so a truncated file is reported as truncated rather than as a bad checksum; the checksum then
 * catches any change the structure does not reveal.
 *
 * <h2>What {@link #write} guarantees</h2>
 * The checkpoint is written to a new temporary file {@code .<name>.tmp-<16 hex digits>} in the target's
 * directory, forced to the storage device ({@link FileChannel#force(boolean) force(true)}), then renamed over the
 * target with {@link StandardCopyOption#ATOMIC_MOVE}, and finally the directory itself is forced (where the
 * platform allows opening a directory; elsewhere that step is skipped). Hence:
 * <ul>
 *   <li>at every instant the target path holds either the complete previous file or the complete new one, never
 *       a mix or a prefix: readers that open it concurrently see one or the other;</li>
 *   <li>if the write fails (an exception, a full disk), the previous file is untouched and the temporary file is
 *       deleted before the exception propagates; after a crash or power loss mid-write, the previous file is
 *       intact and at worst a stale {@code .<name>.tmp-*} file remains (safe to delete);</li>
 *   <li>once {@code write} returns, the new file's contents and its directory entry have been flushed to the
 *       device (on file systems that honour fsync), so the new checkpoint survives a power loss.</li>
 * </ul>
 * A file system that cannot rename atomically makes {@code write} fail (rather than fall back to a copy that
 * could leave a half-written target). The new file gets default permissions, and a symbolic link at the target
 * is replaced by the file, not followed.
 */
public final class CheckpointIO {
    /** "QAT4JCK\0". */
    static final byte[] MAGIC = {'Q', 'A', 'T', '4', 'J', 'C', 'K', 0};
    /** The format version this class writes and the only one it reads. */
    public static final int VERSION = 1;
    /** Largest accepted header length H: 16 MiB. */
    public static final long MAX_HEADER_BYTES = 16L << 20;
    /** Magic (8) + version (4) + header length (8). */
    static final int PREAMBLE_BYTES = 20;
    static final int CRC_BYTES = 4;

    private static final int CHUNK = 1 << 16;

    private CheckpointIO() {
    }

    // ---- writing ----------------------------------------------------------------------------------------------

    /**
     * The file-system steps of {@link #write}, replaceable by tests to inject a failure at any point (a writer
     * that fails after N bytes, a failing force or rename). Package-private: not an extension point.
     */
    interface FileOps {
        FileOps DEFAULT = new FileOps() {
        };

        default void write(FileChannel ch, ByteBuffer buf) throws IOException {
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
        }

        default void force(FileChannel ch) throws IOException {
            ch.force(true);
        }

        default void move(Path from, Path to) throws IOException {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /**
     * Writes {@code c} to {@code file} atomically (see the class comment): the file is replaced only once the new
     * one is complete and on the device. The file's directory must exist.
     *
     * @throws IllegalArgumentException when the header would exceed {@link #MAX_HEADER_BYTES} (nothing written)
     * @throws IOException when the file system fails; the previous file is then untouched and no temporary file
     *     is left behind
     */
    public static void write(Path file, Checkpoint c) throws IOException {
        write(file, c, FileOps.DEFAULT);
    }

    static void write(Path file, Checkpoint c, FileOps ops) throws IOException {
        Objects.requireNonNull(file, "checkpoint path");
        Objects.requireNonNull(c, "checkpoint");
        byte[] header = HeaderJson.encode(c, VERSION);
        if (header.length > MAX_HEADER_BYTES) {
            throw new IllegalArgumentException("checkpoint " + file + ": the header would be " + header.length
                + " bytes, over the " + MAX_HEADER_BYTES + "-byte limit (too many tensors or too much metadata)");
        }
        Path target = file.toAbsolutePath();
        Path dir = target.getParent();
        if (dir == null || target.getFileName() == null) {
            throw new IllegalArgumentException("checkpoint path " + file + " names no file");
        }
        Path tmp = dir.resolve("." + target.getFileName() + ".tmp-"
            + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong()));
        boolean created = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                created = true;
                encode(ch, header, c, ops);
                ops.force(ch);
            }
            try {
                ops.move(tmp, target);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("checkpoint " + file + ": the file system cannot rename " + tmp.getFileName()
                    + " over it atomically, so the checkpoint is not written (a copy could leave a half-written file)", e);
            }
            created = false; // it is the target now
        } catch (Throwable t) {
            if (created) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException | RuntimeException e) {
                    t.addSuppressed(e);
                }
            }
            throw t;
        }
        forceDirectory(dir);
    }

    /** Makes the rename durable; platforms that cannot open a directory (Windows) skip it. */
    private static void forceDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException e) {
            // not supported here: the data itself is already on the device
        }
    }

    /** Streams the preamble, header, data and CRC into {@code ch} through a 64 KiB buffer. */
    private static void encode(FileChannel ch, byte[] header, Checkpoint c, FileOps ops) throws IOException {
        Sink out = new Sink(ch, ops);
        out.buf.put(MAGIC).putInt(VERSION).putLong(header.length);
        out.put(header);
        for (Checkpoint.TensorData t : c.tensors().values()) {
            switch (t.dtype()) {
                case FLOAT32 -> {
                    for (float f : t.rawFloats()) {
                        out.room(4).putFloat(f);
                    }
                }
                case INT8, UINT8 -> out.put(t.rawBytes());
                case INT32 -> {
                    for (int v : t.rawInts()) {
                        out.room(4).putInt(v);
                    }
                }
            }
        }
        out.flush();
        ByteBuffer crc = ByteBuffer.allocate(CRC_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        crc.putInt((int) out.crc.getValue()).flip();
        ops.write(ch, crc);
    }

    private static final class Sink {
        final FileChannel ch;
        final FileOps ops;
        final ByteBuffer buf = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
        final CRC32C crc = new CRC32C();

        Sink(FileChannel ch, FileOps ops) {
            this.ch = ch;
            this.ops = ops;
        }

        ByteBuffer room(int n) throws IOException {
            if (buf.remaining() < n) {
                flush();
            }
            return buf;
        }

        void put(byte[] b) throws IOException {
            int off = 0;
            while (off < b.length) {
                int n = Math.min(room(1).remaining(), b.length - off);
                buf.put(b, off, n);
                off += n;
            }
        }

        void flush() throws IOException {
            buf.flip();
            crc.update(buf.array(), 0, buf.limit());
            ops.write(ch, buf);
            buf.clear();
        }
    }

    // ---- reading ----------------------------------------------------------------------------------------------

    /** Where the bytes being read come from: a file, or a named stream or array; it builds the errors. */
    record Origin(Path file, String name) {
        CheckpointFormatException error(String what) {
            return error(what, null);
        }

        CheckpointFormatException error(String what, Throwable cause) {
            return file != null ? new CheckpointFormatException(file, what, cause)
                : new CheckpointFormatException(name, what, cause);
        }
    }

    /** Positional reads over a file or an array, so that one reader checks both the same way. */
    private interface Bytes {
        long size() throws IOException;

        /** Reads into {@code buf} from {@code pos}; -1 at the end. */
        int read(ByteBuffer buf, long pos) throws IOException;

        static Bytes of(FileChannel ch) {
            return new Bytes() {
                @Override
                public long size() throws IOException {
                    return ch.size();
                }

                @Override
                public int read(ByteBuffer buf, long pos) throws IOException {
                    return ch.read(buf, pos);
                }
            };
        }

        static Bytes of(byte[] array) {
            return new Bytes() {
                @Override
                public long size() {
                    return array.length;
                }

                @Override
                public int read(ByteBuffer buf, long pos) {
                    if (pos >= array.length) {
                        return -1;
                    }
                    int n = (int) Math.min(buf.remaining(), array.length - pos);
                    buf.put(array, (int) pos, n);
                    return n;
                }
            };
        }
    }

    /**
     * Reads and fully verifies a checkpoint (structure, sizes and checksum; see the class comment).
     *
     * @throws CheckpointFormatException when the file is not a valid checkpoint
     * @throws IOException when it cannot be read ({@link java.nio.file.NoSuchFileException}, ...)
     */
    public static Checkpoint read(Path file) throws IOException {
        Objects.requireNonNull(file, "checkpoint path");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return read(new Origin(file, file.toString()), Bytes.of(ch));
        }
    }

    /**
     * Reads and fully verifies a checkpoint held in {@code bytes}, with the same checks and messages as
     * {@link #read(Path)}; {@code source} names the bytes in errors (e.g. a resource name). The array is only read.
     *
     * @throws CheckpointFormatException when the bytes are not a valid checkpoint (a cut-off copy is "truncated")
     */
    public static Checkpoint read(byte[] bytes, String source) throws CheckpointFormatException {
        Objects.requireNonNull(bytes, "checkpoint bytes");
        Objects.requireNonNull(source, "checkpoint source name");
        try {
            return read(new Origin(null, source), Bytes.of(bytes));
        } catch (CheckpointFormatException e) {
            throw e;
        } catch (IOException e) {
            throw new IllegalStateException("reading an array cannot fail with an I/O error", e); // Bytes.of(array)
        }
    }

    /**
     * Reads {@code in} to its end, then verifies it as {@link #read(byte[], String)} does; the stream is left open
     * (its owner closes it). The whole checkpoint is held in memory while it is checked: a stream that ends early
     * is refused as "truncated", never half-loaded.
     *
     * @throws CheckpointFormatException when the stream does not hold a valid checkpoint
     * @throws IOException when reading the stream fails
     */
    public static Checkpoint read(java.io.InputStream in, String source) throws IOException {
        Objects.requireNonNull(in, "checkpoint stream");
        return read(in.readAllBytes(), source);
    }

    private static Checkpoint read(Origin file, Bytes ch) throws IOException {
        CRC32C crc = new CRC32C();
        CheckpointHeader h = header(file, ch, crc);
        Checkpoint.Builder b = Checkpoint.builder(h.model()).meta(h.meta());
        ByteBuffer buf = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
        long pos = h.dataOffset();
        // allocations below are bounded by the input's size: header() checked every length against it
        for (CheckpointHeader.TensorInfo t : h.tensors()) {
            Object data = switch (t.dtype()) {
                case FLOAT32 -> new float[t.numel()];
                case INT8, UINT8 -> new byte[t.numel()];
                case INT32 -> new int[t.numel()];
            };
            int done = 0;
            int size = t.dtype().byteSize();
            while (done < t.numel()) {
                int n = Math.min(t.numel() - done, CHUNK / size);
                buf.clear().limit(n * size);
                readFully(file, ch, buf, pos);
                crc.update(buf.array(), 0, buf.limit());
                pos += buf.limit();
                buf.flip();
                switch (t.dtype()) {
                    case FLOAT32 -> buf.asFloatBuffer().get((float[]) data, done, n);
                    case INT8, UINT8 -> buf.get((byte[]) data, done, n);
                    case INT32 -> buf.asIntBuffer().get((int[]) data, done, n);
                }
                done += n;
            }
            b.add(t.name(), new Checkpoint.TensorData(t.dtype(), t.shape(), data));
        }
        buf.clear().limit(CRC_BYTES);
        readFully(file, ch, buf, pos);
        buf.flip();
        int stored = buf.getInt();
        int computed = (int) crc.getValue();
        if (stored != computed) {
            throw file.error(String.format(Locale.ROOT,
                "checksum mismatch: the file stores CRC-32C 0x%08x at offset %d, its contents give 0x%08x "
                    + "(the file is corrupt)", stored, pos, computed));
        }
        return b.build();
    }

    /**
     * Reads only the preamble and the header (cheap even for a large file), checked as far as possible without
     * the data: the tensor table must fit the file's size exactly. The checksum is not verified.
     */
    public static CheckpointHeader readHeader(Path file) throws IOException {
        Objects.requireNonNull(file, "checkpoint path");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return header(new Origin(file, file.toString()), Bytes.of(ch), new CRC32C());
        }
    }

    /** Reads and checks preamble and header; {@code crc} has consumed them afterwards. */
    private static CheckpointHeader header(Origin file, Bytes ch, CRC32C crc) throws IOException {
        long size = ch.size();
        ByteBuffer pre = ByteBuffer.allocate(PREAMBLE_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        pre.limit((int) Math.min(size, PREAMBLE_BYTES));
        readFully(file, ch, pre, 0);
        pre.flip();
        int m = Math.min(pre.limit(), MAGIC.length);
        for (int i = 0; i < m; i++) {
            if (pre.get(i) != MAGIC[i]) {
                byte[] got = new byte[m];
                pre.get(0, got);
                throw file.error("bad magic: starts with " + HexFormat.ofDelimiter(" ")
                    .formatHex(got) + ", a qat4j checkpoint starts with \"QAT4JCK\\0\" ("
                    + HexFormat.ofDelimiter(" ").formatHex(MAGIC) + ")");
            }
        }
        if (size < PREAMBLE_BYTES + CRC_BYTES) {
            throw file.error("truncated at offset " + size + ": the file is " + size
                + " bytes, shorter than the " + (PREAMBLE_BYTES + CRC_BYTES) + " bytes of preamble and checksum");
        }
        int version = pre.getInt(8);
        if (version != VERSION) {
            throw file.error("unsupported format version " + Integer.toUnsignedString(version)
                + " (this qat4j reads version " + VERSION + ")");
        }
        long h = pre.getLong(12);
        if (h < 0 || h > MAX_HEADER_BYTES) {
            throw file.error("header length " + Long.toUnsignedString(h)
                + " (at offset 12) is over the " + MAX_HEADER_BYTES + "-byte limit: corrupt, or not a checkpoint");
        }
        if (h > size - PREAMBLE_BYTES - CRC_BYTES) {
            throw file.error("truncated at offset " + size + ": the header claims " + h
                + " bytes, so the file needs at least " + (PREAMBLE_BYTES + h + CRC_BYTES) + " bytes, but it has "
                + size);
        }
        crc.update(pre.array(), 0, PREAMBLE_BYTES);
        ByteBuffer hb = ByteBuffer.allocate((int) h);
        readFully(file, ch, hb, PREAMBLE_BYTES);
        crc.update(hb.array(), 0, (int) h);
        HeaderJson.Parsed parsed = HeaderJson.parse(file, hb.array());
        if (parsed.format() != version) {
            throw file.error("the header's format " + parsed.format()
                + " differs from the file's version " + version);
        }
        long dataOffset = PREAMBLE_BYTES + h;
        long dataLength = size - dataOffset - CRC_BYTES;
        List<CheckpointHeader.TensorInfo> infos = new ArrayList<>(parsed.tensors().size());
        long expected = 0;
        for (HeaderJson.Entry e : parsed.tensors()) {
            if (e.offset() != expected) {
                throw file.error("tensor '" + e.name() + "' starts at data offset "
                    + e.offset() + ", but " + (infos.isEmpty() ? "the first tensor must start at 0"
                    : "the previous tensor ends at " + expected) + " (tensors must be contiguous, in table order, "
                    + "without gaps or overlaps)");
            }
            if (e.length() > dataLength - expected) {
                throw file.error("tensor '" + e.name() + "' (" + e.dtype()
                    + Arrays.toString(e.shape()) + ", file bytes [" + (dataOffset + e.offset()) + ", "
                    + (dataOffset + e.offset() + e.length()) + ")) extends past the end of the file: the file is "
                    + size + " bytes, so its data section ends at offset " + (dataOffset + dataLength)
                    + ", before the 4-byte checksum (truncated file, or corrupt header)");
            }
            expected += e.length();
            infos.add(new CheckpointHeader.TensorInfo(e.name(), e.dtype(), e.shape(), e.numel(), e.offset(),
                e.length()));
        }
        if (expected != dataLength) {
            throw file.error((dataLength - expected) + " unexplained bytes at offset "
                + (dataOffset + expected) + ", after the last tensor: the table covers " + expected
                + " bytes of data, the file holds " + dataLength);
        }
        return new CheckpointHeader(version, parsed.model(), parsed.meta(), infos, h, size);
    }

    /** Fills {@code buf} from {@code pos}; end of file first is a truncation. */
    private static void readFully(Origin file, Bytes ch, ByteBuffer buf, long pos) throws IOException {
        long p = pos;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, p);
            if (n < 0) {
                throw file.error("truncated at offset " + p + " (the file ended while "
                    + "reading; it may have been cut or changed during the read)");
            }
            p += n;
        }
    }
}
