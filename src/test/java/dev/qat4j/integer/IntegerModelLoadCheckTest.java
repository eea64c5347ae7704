package dev.qat4j.integer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.checkpoint.Checkpoint;
import dev.qat4j.checkpoint.CheckpointFormatException;
import dev.qat4j.checkpoint.CheckpointIO;
import dev.qat4j.integer.export.BlobExport;
import dev.qat4j.integer.export.CGoldenExport;
import dev.qat4j.integer.export.OnnxExport;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.ActQuant;
import dev.qat4j.quant.Rounding;
import dev.qat4j.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 19, findings 8 and 13: {@code .qim} files that loaded but should not (a pad whose output-size arithmetic
 * overflows int; a boundary α, kind, bit width or bit-width preset that disagrees with the float prefix), each made by
 * editing a valid saved ToyNet cfg1-star model and re-writing it with a valid checksum; and NaN / infinite pixels,
 * which the integer model used to turn into code 0 and finite logits.
 */
class IntegerModelLoadCheckTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** ToyNet's first integer layer, s0.b0.dw.q: a depthwise 3x3 conv, pad 1, 8-bit weights. */
    private static final int CONV_LAYER = 0;

    @TempDir
    static Path dir;
    static Path valid;

    @BeforeAll
    static void saveValidModel() throws Exception {
        valid = dir.resolve("toynet.qim");
        try (QuantModel m = Models.build("toynet", BitWidths.preset("toynet", "cfg1-star"), RefBackend.INSTANCE, 3)) {
            IntegerModelIO.write(valid, IntegerConverter.convert(m, IntegerConverter.Options.exact()));
        }
        try (IntegerModel im = IntegerModelIO.read(valid, RefBackend.INSTANCE)) {
            assertEquals("MPACT", im.boundary().kind().name(), "the edits below assume ToyNet's mPACT boundary");
            assertEquals(6f, im.boundaryAlpha());
        }
    }

    // ---------------------------------------------------------------- layer geometry

    @Test
    void aPadNearIntMaxIsRefusedOnLoadNamingLayerAndField() throws Exception {
        Path f = editLayer("pad.qim", CONV_LAYER, l -> l.put("pad", 2147483645));
        assertRefused(f, "layer 0 (s0.b0.dw.q)", "pad 2147483645");
    }

    @Test
    void aPadNearIntMaxWithNineBitWeightsIsRefusedOnLoad() throws Exception {
        // 9-bit weights take the 64-bit Java kernel (IntKernels) instead of the backend's int8 conv
        Path f = editLayer("pad-9bit.qim", CONV_LAYER, l -> l.put("pad", 2147483645).put("weight_bits", 9));
        assertRefused(f, "layer 0 (s0.b0.dw.q)", "pad 2147483645");
    }

    @Test
    void aPadWhoseIntArithmeticWrapsToTheStoredShapeIsRefused() {
        // input 4x4, a 1x1 conv with stride 4 gives 1x1; with pad 2147483645, int arithmetic gives
        // (4 + 2 * pad - 1) / 4 + 1 = (4 - 6 - 1) / 4 + 1 = 1 as well, so the stored shape matched and IntKernels
        // then read only padding (all-zero accumulators) instead of the pixel
        List<IntValue> values = List.of(new IntValue("in", new int[] {1, 4, 4}, -255, 255, 1.0),
                new IntValue("out", new int[] {1, 1, 1}, -100_000, 100_000, 1.0));
        IntLayer conv = new IntLayer("conv", IntLayer.Type.REQUANT, 0, -1, new int[] {200}, new int[] {1, 1, 1, 1}, 9,
                4, 2147483645, 1, new int[] {1}, new int[] {0}, new long[] {0}, null, Rounding.HALF_EVEN, -100_000,
                100_000, 0, 0, 255L * 200, "dyadic32/half_even");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> IntegerModelCheck.check(values, List.of(conv), "wrap"));
        assertTrue(e.getMessage().contains("layer 0 (conv)") && e.getMessage().contains("pad 2147483645"),
                e.getMessage());
    }

    // ---------------------------------------------------------------- boundary quantizer against the prefix

    @Test
    void aNaNBoundaryAlphaIsRefused() throws Exception {
        assertRefused(editBoundary("alpha-nan.qim", q -> q.put("alpha", Float.NaN)), "boundary alpha NaN");
    }

    @Test
    void aHugeBoundaryAlphaIsRefused() throws Exception {
        assertRefused(editBoundary("alpha-1e30.qim", q -> q.put("alpha", 1e30f)), "boundary alpha 1.0E30",
                "alpha 6.0 of the prefix's stem.q");
    }

    @Test
    void aBoundaryAlphaOtherThanThePrefixsIsRefused() throws Exception {
        assertRefused(editBoundary("alpha-5.qim", q -> q.put("alpha", 5.5f)), "boundary alpha 5.5",
                "alpha 6.0 of the prefix's stem.q");
    }

    @Test
    void aPrefixAlphaTensorOtherThanTheBoundaryAlphaIsRefused() throws Exception {
        Path f = dir.resolve("prefix-alpha.qim");
        Checkpoint c = CheckpointIO.read(valid);
        Checkpoint.Builder b = Checkpoint.builder(c.model()).meta(c.meta());
        c.tensors().forEach((name, t) -> b.add(name, name.equals("prefix/stem.q.alpha")
                ? Checkpoint.TensorData.ofFloats(new float[] {5.5f}, t.shape()) : t));
        assertTrue(c.tensors().containsKey("prefix/stem.q.alpha"), c.tensors().keySet().toString());
        CheckpointIO.write(f, b.build());
        assertRefused(f, "boundary alpha 6.0", "alpha 5.5 of the prefix's stem.q");
    }

    @Test
    void aBoundaryKindOtherThanThePrefixsIsRefused() throws Exception {
        assertRefused(editBoundary("kind.qim", q -> q.put("kind", "PACT")), "boundary quantizer PACT 8 bits",
                "prefix's stem.q (MPACT 8 bits)");
    }

    @Test
    void boundaryBitsOtherThanThePrefixsAreRefused() throws Exception {
        assertRefused(editBoundary("bits.qim", q -> q.put("bits", 7)), "boundary quantizer MPACT 7 bits",
                "prefix's stem.q (MPACT 8 bits)");
    }

    @Test
    void anotherPresetIsRefused() throws Exception {
        // cfg1 keeps the stem's weights float (wbit[0] = 32): same tensors, same boundary, other prefix arithmetic
        Path f = editMeta("preset.qim", "bits", old -> BitWidths.preset("toynet", "cfg1").toYaml());
        assertRefused(f, "meta 'bits'", "stem.conv: weights 32 bits", "stem.conv: weights 8 bits");
    }

    @Test
    void aFileWithoutItsPrefixQuantizersIsRefused() throws Exception {
        Path f = editMeta("no-record.qim", "prefix_quantizers", old -> null);
        assertRefused(f, "meta 'prefix_quantizers' is missing");
    }

    @Test
    void exportsRecheckTheBoundaryAlphaOfTheSharedPrefix() throws Exception {
        try (QuantModel m = Models.build("toynet", BitWidths.preset("toynet", "cfg1-star"), RefBackend.INSTANCE, 3)) {
            IntegerModel im = IntegerConverter.convert(m, IntegerConverter.Options.exact());
            // training on after conversion moves the prefix's α, which the integer layers were derived from
            ActQuant q = IntegerConverter.finalQuantizer(im.prefix().get(im.prefix().size() - 1));
            q.alpha().setValue(RefBackend.INSTANCE.fromFloats(new float[] {4f}, 1));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> BlobExport.write(im, dir.resolve("blobs")));
            assertTrue(e.getMessage().contains("alpha 4.0 of the prefix's stem.q"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> CGoldenExport.write(im, dir.resolve("c"), "toy"));
            assertTrue(e.getMessage().contains("alpha 4.0 of the prefix's stem.q"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> OnnxExport.write(im, RefBackend.INSTANCE, dir.resolve("m.onnx")));
            assertTrue(e.getMessage().contains("alpha 4.0 of the prefix's stem.q"), e.getMessage());
            assertTrue(!Files.exists(dir.resolve("blobs")) && !Files.exists(dir.resolve("c"))
                    && !Files.exists(dir.resolve("m.onnx")));
        }
    }

    // ---------------------------------------------------------------- non-finite pixels

    @Test
    void nonFinitePixelsAreRefusedNamingImageElementAndValue() throws Exception {
        Backend cpu = Backends.byName("cpu");
        try (IntegerModel im = IntegerModelIO.read(valid, cpu)) {
            for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
                float[] pixels = new float[2 * 3 * 32 * 32];
                pixels[3072 + (2 * 32 + 5) * 32 + 7] = bad; // image 1, channel 2, row 5, column 7
                try (Tensor x = cpu.fromFloats(pixels, 2, 3, 32, 32)) {
                    for (Runnable entry : List.<Runnable>of(() -> im.logits(cpu, x), () -> im.boundaryCodes(cpu, x))) {
                        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, entry::run);
                        assertTrue(e.getMessage().contains("image 1 has pixel " + bad + " at channel 2, row 5, column 7"),
                                e.getMessage());
                    }
                }
            }
            // the same images with the pixel finite run, and both images give the all-zero image's logits
            try (Tensor x = cpu.fromFloats(new float[2 * 3072], 2, 3, 32, 32)) {
                long[] logits = im.logits(cpu, x);
                int k = im.numClasses();
                assertArrayEquals(java.util.Arrays.copyOfRange(logits, 0, k),
                        java.util.Arrays.copyOfRange(logits, k, 2 * k));
            }
        }
    }

    @Test
    void aNaNMadeInsideTheFloatPrefixIsRefusedNamingTheBoundaryValue() {
        // finite pixels near the float maximum overflow in ResNet20's float stem and block 0: the fake-quant model
        // returns NaN logits, and the integer model would have coded the NaNs as 0
        try (QuantModel m = Models.build("resnet20", BitWidths.preset("resnet20", "int8"), RefBackend.INSTANCE, 1)) {
            IntegerModel im = IntegerConverter.convert(m, IntegerConverter.Options.exact());
            float[] pixels = new float[3072];
            java.util.Arrays.fill(pixels, 3e38f);
            try (Tensor x = RefBackend.INSTANCE.fromFloats(pixels, 1, 3, 32, 32)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> im.logits(RefBackend.INSTANCE, x));
                assertTrue(e.getMessage().contains("image 0 has float prefix output (s0.b0.out.q) NaN at channel 0, "
                        + "row 0, column 0"), e.getMessage());
            }
        }
    }

    // ---------------------------------------------------------------- helpers

    private static void assertRefused(Path f, String... parts) {
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class,
                () -> IntegerModelIO.read(f, RefBackend.INSTANCE).close());
        assertTrue(e.getMessage().startsWith("checkpoint " + f + ":"), e.getMessage());
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), () -> "'" + p + "' not in: " + e.getMessage());
        }
    }

    /** The valid file with meta {@code key} replaced by {@code change(old)} (removed when that is null). */
    private static Path editMeta(String name, String key, UnaryOperator<String> change) throws Exception {
        Checkpoint c = CheckpointIO.read(valid);
        Map<String, Object> meta = new LinkedHashMap<>(c.meta());
        String v = change.apply(c.metaString(key));
        if (v == null) {
            meta.remove(key);
        } else {
            meta.put(key, v);
        }
        Checkpoint.Builder b = Checkpoint.builder(c.model()).meta(meta);
        c.tensors().forEach(b::add);
        Path f = dir.resolve(name);
        CheckpointIO.write(f, b.build());
        return f;
    }

    private static Path editBoundary(String name, UnaryOperator<ObjectNode> change) throws Exception {
        return editMeta(name, "boundary", old -> json(change.apply(read(old))));
    }

    private static Path editLayer(String name, int layer, UnaryOperator<ObjectNode> change) throws Exception {
        return editMeta(name, "graph", old -> {
            ObjectNode g = read(old);
            change.apply((ObjectNode) g.get("layers").get(layer));
            return json(g);
        });
    }

    private static ObjectNode read(String json) {
        try {
            return (ObjectNode) JSON.readTree(json);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static String json(ObjectNode n) {
        return n.toString();
    }
}
