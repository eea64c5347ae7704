package dev.qat4j.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.qat4j.tensor.DType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The file format: round trips, the byte layout, and every way a file can be wrong. */
class CheckpointIOTest {
    @TempDir
    Path dir;

    /** A small checkpoint with all four dtypes, a scalar, an empty tensor and every kind of metadata value. */
    static Checkpoint small() {
        return Checkpoint.builder("tiny")
            .meta("epoch", 3L)
            .meta("lr", 0.1)
            .meta("note", "ünïcode \"quoted\"\nnewline")
            .addFloats("w", new float[] {1.5f, -0f, Float.intBitsToFloat(0x7fc00123), Float.NEGATIVE_INFINITY,
                Float.MIN_VALUE, -3.25f}, 2, 3)
            .addBytes("q", DType.INT8, new byte[] {-128, 0, 127}, 3)
            .addBytes("u", DType.UINT8, new byte[] {(byte) 255, 1}, 2)
            .addInts("acc", new int[] {Integer.MIN_VALUE, -1, Integer.MAX_VALUE}, 1, 3)
            .addFloats("scalar", new float[] {42f})
            .addFloats("empty", new float[0], 0, 5)
            .addFloats("last", new float[] {7f, 8f}, 2)
            .build();
    }

    private Path write(String name, Checkpoint c) throws IOException {
        Path p = dir.resolve(name);
        CheckpointIO.write(p, c);
        return p;
    }

    /** Runs {@code r}, which must throw exactly a CheckpointFormatException; returns its message. */
    static String formatError(ThrowingRunnable r) {
        try {
            r.run();
        } catch (Throwable t) {
            assertSame(CheckpointFormatException.class, t.getClass(), () -> "expected a CheckpointFormatException, got " + t);
            return t.getMessage();
        }
        fail("no exception: the corruption went unnoticed");
        return null;
    }

    interface ThrowingRunnable {
        void run() throws Throwable;
    }

    // ---- round trip and layout --------------------------------------------------------------------------------

    @Test
    void roundTripKeepsEveryBitAndEveryMetadataType() throws IOException {
        Checkpoint c = small();
        Checkpoint back = CheckpointIO.read(write("a.ckpt", c));
        assertEquals(c, back);
        assertEquals(List.copyOf(c.tensors().keySet()), List.copyOf(back.tensors().keySet()), "tensor order");
        assertEquals(0x7fc00123, Float.floatToRawIntBits(back.tensor("w").floats()[2]), "NaN payload kept");
        assertEquals(0x80000000, Float.floatToRawIntBits(back.tensor("w").floats()[1]), "-0 kept");
        assertEquals(DType.UINT8, back.tensor("u").dtype());
        assertEquals(255, back.tensor("u").bytes()[0] & 0xFF);
        assertArrayEquals(new int[0], back.tensor("scalar").shape());
        assertArrayEquals(new int[] {0, 5}, back.tensor("empty").shape());
        assertEquals(3L, back.meta().get("epoch"));
        assertEquals(0.1, back.meta().get("lr"));
        assertEquals("ünïcode \"quoted\"\nnewline", back.meta().get("note"));
        assertEquals("3", back.metaString("epoch"));
    }

    @Test
    void extremeMetadataNumbersRoundTrip() throws IOException {
        Checkpoint c = Checkpoint.builder("m").meta("min", Long.MIN_VALUE).meta("max", Long.MAX_VALUE)
            .meta("tiny", Double.MIN_VALUE).meta("big", -Double.MAX_VALUE).meta("third", 1.0 / 3).meta("int", 7)
            .meta("one", 1.0).build();
        Checkpoint back = CheckpointIO.read(write("m.ckpt", c));
        assertEquals(c.meta(), back.meta());
        assertEquals(Long.MIN_VALUE, back.meta().get("min"));
        assertEquals(7L, back.meta().get("int"), "Integer is stored as Long");
        assertEquals(Double.class, back.meta().get("one").getClass(), "1.0 stays a double");
        assertEquals(Double.doubleToRawLongBits(1.0 / 3), Double.doubleToRawLongBits((Double) back.meta().get("third")));
    }

    @Test
    void byteLayoutIsAsDocumented() throws IOException {
        Checkpoint c = Checkpoint.builder("toy").meta("epoch", 3L).addInts("acc", new int[] {1, -2}, 2)
            .addBytes("q", DType.INT8, new byte[] {5}, 1).build();
        byte[] f = Files.readAllBytes(write("layout.ckpt", c));
        ByteBuffer b = ByteBuffer.wrap(f).order(ByteOrder.LITTLE_ENDIAN);
        assertArrayEquals(new byte[] {'Q', 'A', 'T', '4', 'J', 'C', 'K', 0}, Arrays.copyOfRange(f, 0, 8));
        assertEquals(1, b.getInt(8), "u32 LE version at offset 8");
        long h = b.getLong(12);
        assertEquals(0, (20 + h) % 8, "the writer pads the header so the data starts at a multiple of 8");
        assertEquals(20 + h + 8 + 1 + 4, f.length, "24 + H + D bytes");

        JsonNode header = new ObjectMapper().readTree(new String(f, 20, (int) h, StandardCharsets.UTF_8));
        assertEquals(1, header.get("format").asInt());
        assertEquals("toy", header.get("model").asText());
        assertEquals(3, header.get("meta").get("epoch").asInt());
        JsonNode t0 = header.get("tensors").get(0);
        assertEquals("acc", t0.get("name").asText());
        assertEquals("INT32", t0.get("dtype").asText());
        assertEquals(2, t0.get("shape").get(0).asInt());
        assertEquals(0, t0.get("offset").asLong());
        assertEquals(8, t0.get("length").asLong());
        JsonNode t1 = header.get("tensors").get(1);
        assertEquals(8, t1.get("offset").asLong());
        assertEquals(1, t1.get("length").asLong());

        int data = (int) (20 + h);
        assertArrayEquals(new byte[] {1, 0, 0, 0, (byte) 0xFE, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 5},
            Arrays.copyOfRange(f, data, data + 9), "little-endian data right after the header");
        CRC32C crc = new CRC32C();
        crc.update(f, 0, f.length - 4);
        assertEquals((int) crc.getValue(), b.getInt(f.length - 4), "CRC-32C of everything before it, LE");

        CheckpointHeader hd = CheckpointIO.readHeader(dir.resolve("layout.ckpt"));
        assertEquals(h, hd.headerLength());
        assertEquals(data, hd.dataOffset());
        assertEquals(9, hd.dataLength());
        assertEquals(f.length, hd.fileSize());
        assertEquals("toy", hd.model());
        assertEquals(List.of("acc", "q"), hd.tensors().stream().map(CheckpointHeader.TensorInfo::name).toList());
        assertEquals(8, hd.tensors().get(1).offset());
    }

    @Test
    void readHeaderDoesNotReadTheData() throws IOException {
        Path p = write("h.ckpt", small());
        byte[] f = Files.readAllBytes(p);
        CheckpointHeader h = CheckpointIO.readHeader(p);
        f[(int) h.dataOffset() + 1] ^= 0x40; // a data byte: only the checksum can tell
        Files.write(p, f);
        CheckpointHeader again = CheckpointIO.readHeader(p);
        assertEquals(h.tensors().size(), again.tensors().size());
        assertEquals(small().meta(), again.meta());
        assertTrue(formatError(() -> CheckpointIO.read(p)).contains("checksum mismatch"));
    }

    @Test
    void aMissingFileIsAnIoErrorNotAFormatError() {
        assertThrows(NoSuchFileException.class, () -> CheckpointIO.read(dir.resolve("nope.ckpt")));
        assertThrows(NoSuchFileException.class, () -> CheckpointIO.readHeader(dir.resolve("nope.ckpt")));
    }

    // ---- corruption -------------------------------------------------------------------------------------------

    @Test
    void everyTruncationIsRefusedAsTruncated() throws IOException {
        byte[] full = Files.readAllBytes(write("full.ckpt", small()));
        Path p = dir.resolve("cut.ckpt");
        for (int len = 0; len < full.length; len++) {
            Files.write(p, Arrays.copyOf(full, len));
            int n = len;
            String m = formatError(() -> CheckpointIO.read(p));
            assertTrue(m.contains("truncated"), n + " bytes: " + m);
            assertTrue(m.startsWith("checkpoint " + p + ": "), m);
            String mh = formatError(() -> CheckpointIO.readHeader(p));
            assertTrue(mh.contains("truncated"), n + " bytes (header only): " + mh);
        }
        Files.write(p, full);
        assertEquals(small(), CheckpointIO.read(p), "and the whole file still reads");
    }

    @Test
    void everySingleByteChangeIsDetected() throws IOException {
        byte[] full = Files.readAllBytes(write("full.ckpt", small()));
        Path p = dir.resolve("flip.ckpt");
        Random r = new Random(20240601L);
        int byChecksum = 0;
        int byFormat = 0;
        for (int trial = 0; trial < 1500; trial++) {
            byte[] f = full.clone();
            int pos = trial < full.length ? trial : r.nextInt(full.length); // every position once, then random
            f[pos] ^= (byte) (1 + r.nextInt(255));
            Files.write(p, f);
            String m = formatError(() -> CheckpointIO.read(p));
            if (m.contains("checksum mismatch")) {
                byChecksum++;
            } else {
                byFormat++;
            }
        }
        assertTrue(byChecksum > 0 && byFormat > 0, "both defences were exercised: checksum " + byChecksum
            + ", format " + byFormat);
    }

    @Test
    void randomMultiByteDamageIsDetected() throws IOException {
        byte[] full = Files.readAllBytes(write("full.ckpt", small()));
        Path p = dir.resolve("damage.ckpt");
        Random r = new Random(7);
        for (int trial = 0; trial < 300; trial++) {
            byte[] f = full.clone();
            int start = r.nextInt(full.length);
            int n = 1 + r.nextInt(Math.min(64, full.length - start));
            for (int i = start; i < start + n; i++) {
                f[i] = (byte) r.nextInt(256);
            }
            if (Arrays.equals(f, full)) {
                continue;
            }
            Files.write(p, f);
            formatError(() -> CheckpointIO.read(p));
        }
    }

    @Test
    void hugeHeaderLengthsAreRefusedBeforeAllocating() throws IOException {
        byte[] full = Files.readAllBytes(write("full.ckpt", small()));
        Path p = dir.resolve("huge.ckpt");
        for (long h : new long[] {-1L, Long.MAX_VALUE, Long.MIN_VALUE, (1L << 32) + 16, CheckpointIO.MAX_HEADER_BYTES + 1}) {
            byte[] f = full.clone();
            ByteBuffer.wrap(f).order(ByteOrder.LITTLE_ENDIAN).putLong(12, h);
            Files.write(p, f);
            String m = formatError(() -> CheckpointIO.read(p));
            assertTrue(m.contains("header length " + Long.toUnsignedString(h)) && m.contains("limit"), m);
        }
        // exactly at the limit, but the file is small: truncated, not an attempt to read 16 MiB
        byte[] f = full.clone();
        ByteBuffer.wrap(f).order(ByteOrder.LITTLE_ENDIAN).putLong(12, CheckpointIO.MAX_HEADER_BYTES);
        Files.write(p, f);
        String m = formatError(() -> CheckpointIO.read(p));
        assertTrue(m.contains("truncated") && m.contains("header claims 16777216 bytes"), m);
    }

    /** A file with the given version, header text and data, and a correct checksum: only format checks can fail. */
    static byte[] rawFile(int version, String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return rawFile(version, h, data);
    }

    static byte[] rawFile(int version, byte[] h, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(24 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(CheckpointIO.MAGIC).putInt(version).putLong(h.length).put(h).put(data);
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue());
        return b.array();
    }

    private static String hdr(String tensors) {
        return "{\"format\":1,\"model\":\"m\",\"meta\":{},\"tensors\":[" + tensors + "]}";
    }

    private static String t(String name, String dtype, String shape, long offset, long length) {
        return "{\"name\":\"" + name + "\",\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"offset\":" + offset
            + ",\"length\":" + length + "}";
    }

    static Stream<Arguments> malformedFiles() {
        byte[] d16 = new byte[16];
        String w = t("w", "FLOAT32", "[4]", 0, 16);
        return Stream.of(
            Arguments.of("a sane file reads", rawFile(1, hdr(w), d16), null),
            Arguments.of("tensor past the end", rawFile(1, hdr(t("w", "FLOAT32", "[1000]", 0, 4000)), d16),
                "tensor 'w' (FLOAT32[1000], file bytes [137, 4137)) extends past the end of the file"),
            Arguments.of("second tensor past the end", rawFile(1, hdr(w + "," + t("v", "INT32", "[2]", 16, 8)), d16),
                "tensor 'v' (INT32[2]"),
            Arguments.of("negative dimension", rawFile(1, hdr(t("w", "FLOAT32", "[-1,4]", 0, 16)), d16),
                "tensors[0] ('w'): shape[0] = -1 is negative"),
            Arguments.of("element count overflow", rawFile(1, hdr(t("w", "FLOAT32", "[65536,65536]", 0, 16)), d16),
                "has more than 2^31-1 elements"),
            Arguments.of("byte length overflow", rawFile(1, hdr(t("w", "FLOAT32", "[1073741824]", 0, 16)), d16),
                "does not match shape [1073741824] x FLOAT32 = 4294967296 bytes"),
            Arguments.of("dimension beyond int", rawFile(1, hdr(t("w", "FLOAT32", "[4294967296]", 0, 16)), d16),
                "is outside the int range"),
            Arguments.of("length does not match shape", rawFile(1, hdr(t("w", "FLOAT32", "[4]", 0, 15)), d16),
                "length 15 does not match"),
            Arguments.of("duplicate tensor names", rawFile(1, hdr(t("w", "INT32", "[2]", 0, 8) + ","
                + t("w", "INT32", "[2]", 8, 8)), d16), "duplicate tensor name 'w'"),
            Arguments.of("unknown dtype", rawFile(1, hdr(t("w", "FLOAT64", "[2]", 0, 16)), d16),
                "unknown dtype \"FLOAT64\""),
            Arguments.of("lower-case dtype", rawFile(1, hdr(t("w", "float32", "[4]", 0, 16)), d16),
                "unknown dtype \"float32\""),
            Arguments.of("gap between tensors", rawFile(1, hdr(t("a", "INT32", "[1]", 0, 4) + ","
                + t("b", "INT32", "[1]", 8, 4)), new byte[12]), "tensor 'b' starts at data offset 8"),
            Arguments.of("overlapping tensors", rawFile(1, hdr(t("a", "INT32", "[2]", 0, 8) + ","
                + t("b", "INT32", "[2]", 4, 8)), d16), "tensor 'b' starts at data offset 4"),
            Arguments.of("first tensor not at 0", rawFile(1, hdr(t("w", "INT32", "[3]", 4, 12)), d16),
                "tensor 'w' starts at data offset 4, but the first tensor must start at 0"),
            Arguments.of("bytes after the last tensor", rawFile(1, hdr(t("w", "INT32", "[3]", 0, 12)), d16),
                "4 unexplained bytes"),
            Arguments.of("negative offset", rawFile(1, hdr(t("w", "INT32", "[4]", -16, 16)), d16),
                "offset = -16 is negative"),
            Arguments.of("offset beyond 64 bits", rawFile(1, hdr(w.replace("\"offset\":0", "\"offset\":18446744073709551616")), d16),
                "outside the 64-bit range"),
            Arguments.of("fractional length", rawFile(1, hdr(w.replace("\"length\":16", "\"length\":16.0")), d16),
                "length must be an integer"),
            Arguments.of("missing length", rawFile(1, hdr(w.replace(",\"length\":16", "")), d16), "lacks length"),
            Arguments.of("unknown entry key", rawFile(1, hdr(w.replace("}", ",\"pickle\":1}")), d16),
                "unknown key 'pickle'"),
            Arguments.of("rank over the limit", rawFile(1, hdr(t("w", "FLOAT32", "[" + "1,".repeat(33) + "4]", 0, 16)), d16),
                "more than 32 dimensions"),
            Arguments.of("unknown top-level key", rawFile(1, "{\"format\":1,\"model\":\"m\",\"meta\":{},\"tensors\":[],"
                + "\"class\":\"java.lang.Runtime\"}", new byte[0]), "unknown key 'class'"),
            Arguments.of("missing model", rawFile(1, "{\"format\":1,\"meta\":{},\"tensors\":[]}", new byte[0]),
                "header lacks model"),
            Arguments.of("empty model", rawFile(1, "{\"format\":1,\"model\":\"\",\"meta\":{},\"tensors\":[]}", new byte[0]),
                "model must not be empty"),
            Arguments.of("duplicate JSON key", rawFile(1, "{\"format\":1,\"model\":\"m\",\"model\":\"n\",\"meta\":{},"
                + "\"tensors\":[]}", new byte[0]), "header JSON error at line 1, column"),
            Arguments.of("JSON syntax error with its line", rawFile(1, "{\"format\": 1,\n\"model\": \"m\",\n\"meta\": {,},\n"
                + "\"tensors\": []}", new byte[0]), "header JSON error at line 3, column 10"),
            Arguments.of("header is an array", rawFile(1, "[1,2]", new byte[0]), "must be a JSON object, got an array"),
            Arguments.of("two JSON documents", rawFile(1, "{\"format\":1,\"model\":\"m\",\"meta\":{},\"tensors\":[]} {}",
                new byte[0]), "content after the header object"),
            Arguments.of("header cut short", rawFile(1, "{\"format\":1,\"model\":\"m\",\"meta\":{},\"tensors\":[", new byte[0]),
                "header JSON error"),
            Arguments.of("meta holds an object", rawFile(1, "{\"format\":1,\"model\":\"m\",\"meta\":{\"x\":{\"@class\":1}},"
                + "\"tensors\":[]}", new byte[0]), "meta 'x' must be a string or a number, got an object"),
            Arguments.of("meta holds a boolean", rawFile(1, "{\"format\":1,\"model\":\"m\",\"meta\":{\"x\":true},"
                + "\"tensors\":[]}", new byte[0]), "meta 'x' must be a string or a number, got true"),
            Arguments.of("meta integer beyond 64 bits", rawFile(1, "{\"format\":1,\"model\":\"m\",\"meta\":{\"x\":"
                + "99999999999999999999},\"tensors\":[]}", new byte[0]), "outside the 64-bit integer range"),
            Arguments.of("meta infinite double", rawFile(1, "{\"format\":1,\"model\":\"m\",\"meta\":{\"x\":1e999},"
                + "\"tensors\":[]}", new byte[0]), "is not a finite double"),
            Arguments.of("header format differs from the version", rawFile(1, "{\"format\":2,\"model\":\"m\",\"meta\":{},"
                + "\"tensors\":[]}", new byte[0]), "the header's format 2 differs from the file's version 1"),
            Arguments.of("unsupported version", rawFile(2, hdr(w), d16), "unsupported format version 2"),
            Arguments.of("version with the high bit", rawFile(-1, hdr(w), d16), "unsupported format version 4294967295"),
            Arguments.of("header not UTF-8", rawFile(1, new byte[] {'{', '"', (byte) 0xC3, '"', '}'}, new byte[0]),
                "header is not valid UTF-8 at file offset 22"),
            Arguments.of("empty header", rawFile(1, "", new byte[0]), "the header is empty, but it must be a JSON object"),
            Arguments.of("bad magic", withMagic(rawFile(1, hdr(w), d16), "PK\3\4xxxx"), "bad magic: starts with 50 4b 03 04"),
            Arguments.of("java serialization stream", withMagic(rawFile(1, hdr(w), d16), "\u00ac\u00ed\0\5sr\0\1"),
                "bad magic: starts with ac ed 00 05"));
    }

    private static byte[] withMagic(byte[] f, String magic) {
        for (int i = 0; i < 8; i++) {
            f[i] = (byte) magic.charAt(i);
        }
        return f;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformedFiles")
    void malformedFilesAreRefusedByTheFormatChecks(String what, byte[] file, String expected) throws IOException {
        Path p = dir.resolve("bad.ckpt");
        Files.write(p, file);
        if (expected == null) {
            assertEquals(16, CheckpointIO.read(p).tensor("w").byteLength());
            return;
        }
        String m = formatError(() -> CheckpointIO.read(p));
        assertTrue(m.startsWith("checkpoint " + p + ": "), m);
        assertTrue(m.contains(expected), "expected '" + expected + "' in: " + m);
        assertFalse(m.contains("checksum mismatch"), "the checksum is right: a format check must catch it: " + m);
        String mh = formatError(() -> CheckpointIO.readHeader(p));
        assertEquals(m, mh, "readHeader applies the same checks");
    }

    @Test
    void checksumMismatchIsReportedWithBothValues() throws IOException {
        byte[] f = rawFile(1, hdr(t("w", "FLOAT32", "[4]", 0, 16)), new byte[16]);
        f[f.length - 5] = 1; // last data byte
        Path p = dir.resolve("crc.ckpt");
        Files.write(p, f);
        String m = formatError(() -> CheckpointIO.read(p));
        assertTrue(m.matches("(?s).*checksum mismatch: the file stores CRC-32C 0x[0-9a-f]{8} at offset \\d+, its contents "
            + "give 0x[0-9a-f]{8}.*"), m);
    }

    // ---- builder and immutability -----------------------------------------------------------------------------

    @Test
    void theBuilderRefusesBadInputAtOnce() {
        Checkpoint.Builder b = Checkpoint.builder("m").addFloats("w", new float[] {1}, 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.addInts("w", new int[] {1}, 1));
        assertTrue(e.getMessage().contains("duplicate tensor name 'w'"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> b.addFloats("", new float[] {1}, 1));
        assertThrows(IllegalArgumentException.class, () -> b.addFloats("x", new float[] {1, 2}, 3));
        assertThrows(IllegalArgumentException.class, () -> b.addFloats("x", new float[] {1}, -1, -1));
        assertThrows(IllegalArgumentException.class, () -> b.addBytes("x", DType.INT32, new byte[] {1}, 1));
        assertThrows(IllegalArgumentException.class, () -> b.meta("nan", Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> b.meta("list", List.of(1)));
        assertThrows(IllegalArgumentException.class, () -> b.meta("", "x"));
        b.meta("k", "v");
        assertThrows(IllegalArgumentException.class, () -> b.meta("k", "again"));
        assertThrows(IllegalArgumentException.class, () -> Checkpoint.builder(""));
        assertEquals(1, b.build().tensors().size());
    }

    @Test
    void aCheckpointIsImmutable() {
        float[] src = {1, 2, 3};
        Checkpoint c = Checkpoint.builder("m").addFloats("w", src, 3).meta("k", "v").build();
        src[0] = 99;
        assertEquals(1f, c.tensor("w").floats()[0], "the builder copied the array");
        c.tensor("w").floats()[1] = 99;
        assertEquals(2f, c.tensor("w").floats()[1], "floats() returns a copy");
        assertThrows(UnsupportedOperationException.class, () -> c.meta().put("x", "y"));
        assertThrows(UnsupportedOperationException.class, () -> c.tensors().remove("w"));
        assertThrows(IllegalStateException.class, () -> c.tensor("w").ints());
        assertNotEquals(c, Checkpoint.builder("m").addFloats("w", new float[] {1, 2, 4}, 3).meta("k", "v").build());
    }

    @Test
    void anOversizedHeaderIsRefusedBeforeWriting() {
        Checkpoint c = Checkpoint.builder("m").meta("blob", "x".repeat((int) CheckpointIO.MAX_HEADER_BYTES)).build();
        Path p = dir.resolve("big.ckpt");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CheckpointIO.write(p, c));
        assertTrue(e.getMessage().contains("over the 16777216-byte limit"), e.getMessage());
        assertFalse(Files.exists(p));
    }

    @Test
    void largeTensorsCrossChunkBoundaries() throws IOException {
        Random r = new Random(3);
        float[] f = new float[70_007];
        int[] ints = new int[33_333];
        byte[] bytes = new byte[200_003];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < ints.length; i++) {
            ints[i] = r.nextInt();
        }
        r.nextBytes(bytes);
        Checkpoint c = Checkpoint.builder("big").addBytes("b", DType.UINT8, bytes, bytes.length)
            .addFloats("f", f, 7, 10_001).addInts("i", ints, ints.length).build();
        assertEquals(c, CheckpointIO.read(write("big.ckpt", c)));
    }
}
