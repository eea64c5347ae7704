package dev.qat4j.integer.export;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.integer.IntLayer;
import dev.qat4j.integer.IntValue;
import dev.qat4j.integer.IntegerModel;
import dev.qat4j.models.QuantModel;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The blob export read back with plain java.nio and Jackson's tree model (none of the exporter's code): every array
 * equals the model's, every SHA-256 and length matches, the graph is the model's; and the folder rules.
 */
class BlobExportTest {
    @TempDir
    Path dir;

    @Test
    void resnet20BlobsEqualTheModelsArrays() throws Exception {
        Backend b = Backends.byName("cpu");
        try (QuantModel m = ExportFixtures.resnet20(b); IntegerModel im = ExportFixtures.integer(m)) {
            JsonNode manifest = exportAndCheck(im, dir.resolve("resnet20"));
            assertEquals("resnet20", manifest.get("model").asText());
            assertEquals("MPACT", manifest.get("boundary").get("kind").asText());
            assertEquals(8, manifest.get("boundary").get("bits").asInt());
            // the int8 model's conv weights take one byte each
            assertEquals("int8", manifest.get("layers").get(0).get("arrays").get("weights").get("dtype").asText());
        }
    }

    @Test
    void toyNetBlobsEqualTheModelsArrays() throws Exception {
        Backend b = Backends.byName("cpu");
        try (QuantModel m = ExportFixtures.toyNet(b, 11); IntegerModel im = ExportFixtures.integer(m)) {
            JsonNode manifest = exportAndCheck(im, dir.resolve("toynet"));
            boolean int64Acc = false;
            for (JsonNode l : manifest.get("layers")) {
                int64Acc |= l.has("int32Accumulator") && !l.get("int32Accumulator").asBoolean();
            }
            assertTrue(int64Acc, "ToyNet has accumulators that need int64");
        }
    }

    @Test
    void anEndToEndModelCarriesItsInputFormatAndPixelCodeTable() throws Exception {
        Backend b = Backends.byName("cpu");
        try (QuantModel m = ExportFixtures.endToEndPreset("resnet20", b, 4);
             IntegerModel im = ExportFixtures.integer(m)) {
            JsonNode manifest = exportAndCheck(im, dir.resolve("e2e"));
            assertTrue(manifest.get("input").get("endToEnd").asBoolean());
            assertEquals("MPACT", manifest.get("input").get("quantizer").asText());
        }
    }

    @Test
    void refusesANonEmptyFolderUnlessAskedToOverwrite() throws Exception {
        Backend b = Backends.byName("cpu");
        try (QuantModel m = ExportFixtures.toyNet(b, 3); IntegerModel im = ExportFixtures.integer(m)) {
            Path out = Files.createDirectories(dir.resolve("out"));
            Files.writeString(out.resolve("notes.txt"), "mine");
            FileAlreadyExistsException e = assertThrows(FileAlreadyExistsException.class,
                    () -> BlobExport.write(im, out));
            assertTrue(e.getMessage().contains(out.toAbsolutePath().toString()), e.getMessage());
            assertTrue(e.getMessage().contains("not empty"), e.getMessage());
            assertEquals(List.of("notes.txt"), names(out));
            assertEquals(List.of("out"), names(dir), "no temporary folder left behind");

            BlobExport.write(im, out, true);
            assertTrue(Files.exists(out.resolve(BlobExport.MANIFEST)));
            assertFalse(Files.exists(out.resolve("notes.txt")), "overwrite replaces the folder as a whole");
            assertEquals(List.of("out"), names(dir), "no temporary or old folder left behind");

            Path empty = Files.createDirectories(dir.resolve("empty"));
            BlobExport.write(im, empty); // an existing empty folder is fine
            assertTrue(Files.exists(empty.resolve(BlobExport.MANIFEST)));
        }
    }

    @Test
    void badInputNamesWhatIsWrong() throws Exception {
        Backend b = Backends.byName("cpu");
        try (QuantModel m = ExportFixtures.toyNet(b, 3); IntegerModel im = ExportFixtures.integer(m)) {
            assertThrows(IllegalArgumentException.class, () -> BlobExport.write(null, dir.resolve("x")));
            assertThrows(IllegalArgumentException.class, () -> BlobExport.write(im, null));
            Path file = Files.writeString(dir.resolve("file"), "a file, not a folder");
            IOException e = assertThrows(IOException.class, () -> BlobExport.write(im, file.resolve("sub")));
            assertTrue(e.getMessage().contains(file.toAbsolutePath().toString()), e.getMessage());
            FileAlreadyExistsException f = assertThrows(FileAlreadyExistsException.class,
                    () -> BlobExport.write(im, file));
            assertTrue(f.getMessage().contains(file.toAbsolutePath().toString()), f.getMessage());
            assertEquals(List.of("file"), names(dir));
        }
    }

    // ---------------------------------------------------------------- reading the export back independently

    private static JsonNode exportAndCheck(IntegerModel im, Path out) throws Exception {
        BlobExport.write(im, out);
        JsonNode manifest = new ObjectMapper().readTree(out.resolve("manifest.json").toFile());
        assertEquals("qat4j-integer-blobs", manifest.get("format").asText());
        assertEquals("little-endian", manifest.get("byteOrder").asText());
        assertEquals(im.format(), manifest.get("requantFormat").asText());
        assertEquals(im.boundaryAlpha(), (float) manifest.get("boundary").get("alpha").asDouble());
        assertEquals(im.prefix().size(), manifest.get("prefix").get("modules").size());

        JsonNode values = manifest.get("values");
        assertEquals(im.values().size(), values.size());
        for (int v = 0; v < values.size(); v++) {
            IntValue want = im.values().get(v);
            JsonNode got = values.get(v);
            assertEquals(want.name(), got.get("name").asText());
            assertArrayEquals(want.shape(), ints(got.get("shape")));
            assertEquals(want.lo(), got.get("lo").asLong());
            assertEquals(want.hi(), got.get("hi").asLong());
            assertEquals(want.scale(), got.get("scale").asDouble());
        }

        TreeSet<String> files = new TreeSet<>();
        JsonNode layers = manifest.get("layers");
        assertEquals(im.layers().size(), layers.size());
        for (int i = 0; i < layers.size(); i++) {
            IntLayer want = im.layers().get(i);
            JsonNode got = layers.get(i);
            assertEquals(want.name(), got.get("name").asText());
            assertEquals(want.type().name(), got.get("type").asText());
            assertEquals(want.input(), got.get("input").asInt());
            assertEquals(want.residual(), got.has("residual") ? got.get("residual").asInt() : -1);
            if (want.type() == IntLayer.Type.REQUANT) {
                assertEquals(want.rounding().name(), got.get("rounding").asText());
                assertEquals(want.qmin(), got.get("qmin").asLong());
                assertEquals(want.qmax(), got.get("qmax").asLong());
                assertEquals(want.accBound(), got.get("accBound").asLong());
                assertEquals(want.accBound() <= Integer.MAX_VALUE, got.get("int32Accumulator").asBoolean());
            }
            Map<String, long[]> expected = new java.util.TreeMap<>();
            if (want.weights() != null) {
                expected.put("weights", widen(want.weights()));
            }
            if (want.multiplier() != null) {
                expected.put("multiplier", widen(want.multiplier()));
                expected.put("shift", widen(want.shift()));
            }
            if (want.bias() != null) {
                expected.put("bias", want.bias());
            }
            if (want.hasResidual()) {
                expected.put("residual_multiplier", widen(want.residualMultiplier()));
            }
            JsonNode arrays = got.get("arrays");
            TreeSet<String> roles = new TreeSet<>();
            for (Iterator<String> it = arrays.fieldNames(); it.hasNext(); ) {
                roles.add(it.next());
            }
            assertEquals(expected.keySet(), roles, "arrays of layer " + i);
            for (Map.Entry<String, long[]> e : expected.entrySet()) {
                JsonNode blob = arrays.get(e.getKey());
                byte[] bytes = Files.readAllBytes(out.resolve(blob.get("file").asText()));
                files.add(blob.get("file").asText());
                String where = "layer " + i + " " + e.getKey();
                assertEquals(blob.get("bytes").asLong(), bytes.length, where);
                assertEquals(blob.get("sha256").asText(),
                        HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes)), where);
                long numel = 1;
                for (int d : ints(blob.get("shape"))) {
                    numel *= d;
                }
                assertEquals(e.getValue().length, numel, where);
                assertArrayEquals(e.getValue(), decode(bytes, blob.get("dtype").asText()), where);
                assertEquals(narrowest(e.getValue()), blob.get("dtype").asText(), where + " dtype");
            }
        }
        JsonNode input = manifest.get("input");
        assertEquals(im.isEndToEnd(), input.get("endToEnd").asBoolean());
        assertArrayEquals(im.inputSpec().shape(), ints(input.get("imageShape")));
        for (int c = 0; c < im.inputSpec().channels(); c++) {
            assertEquals(im.inputSpec().normalization().mean()[c], (float) input.get("normalization").get("mean").get(c).asDouble());
            assertEquals(im.inputSpec().normalization().std()[c], (float) input.get("normalization").get("std").get(c).asDouble());
        }
        assertEquals(im.inputSpec().classNames().size(), input.get("classNames").size());
        if (im.isEndToEnd()) {
            JsonNode blob = input.get("codeTable");
            byte[] bytes = Files.readAllBytes(out.resolve(blob.get("file").asText()));
            files.add(blob.get("file").asText());
            assertEquals(blob.get("sha256").asText(), HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes)));
            assertArrayEquals(new int[] {im.inputSpec().channels(), 256}, ints(blob.get("shape")));
            assertEquals("int8", blob.get("dtype").asText());
            assertArrayEquals(widen(im.inputCodeTable()), decode(bytes, "int8"), "the pixel -> code table");
            assertEquals(im.boundaryAlpha(), (float) input.get("alpha").asDouble());
        } else {
            assertEquals(im.floatPrefixReason(), input.get("notEndToEnd").asText());
            assertTrue(!input.has("codeTable"));
        }
        files.add("manifest.json");
        assertEquals(List.copyOf(files), names(out), "the folder holds the manifest and its blobs, nothing else");
        return manifest;
    }

    private static long[] decode(byte[] bytes, String dtype) {
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int size = switch (dtype) {
            case "int8" -> 1;
            case "int16" -> 2;
            case "int32" -> 4;
            case "int64" -> 8;
            default -> throw new AssertionError("unknown dtype " + dtype);
        };
        assertEquals(0, bytes.length % size);
        long[] out = new long[bytes.length / size];
        for (int i = 0; i < out.length; i++) {
            out[i] = switch (size) {
                case 1 -> buf.get();
                case 2 -> buf.getShort();
                case 4 -> buf.getInt();
                default -> buf.getLong();
            };
        }
        return out;
    }

    private static String narrowest(long[] v) {
        long lo = 0, hi = 0;
        for (long x : v) {
            lo = Math.min(lo, x);
            hi = Math.max(hi, x);
        }
        if (lo >= Byte.MIN_VALUE && hi <= Byte.MAX_VALUE) {
            return "int8";
        }
        if (lo >= Short.MIN_VALUE && hi <= Short.MAX_VALUE) {
            return "int16";
        }
        return lo >= Integer.MIN_VALUE && hi <= Integer.MAX_VALUE ? "int32" : "int64";
    }

    private static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }

    private static long[] widen(int[] v) {
        long[] out = new long[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = v[i];
        }
        return out;
    }

    private static List<String> names(Path folder) throws IOException {
        try (Stream<Path> s = Files.list(folder)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
