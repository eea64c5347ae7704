package dev.qat4j.integer.export;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qat4j.integer.IntLayer;
import dev.qat4j.integer.IntValue;
import dev.qat4j.integer.IntegerModel;
import dev.qat4j.nn.Module;
import dev.qat4j.quant.ActQuantizer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * Writes an {@link IntegerModel} as a folder that needs nothing of qat4j to read: {@code manifest.json} (the layer
 * graph, the values, the boundary quantizer, and for every array its blob file, dtype, shape, byte length and
 * SHA-256) plus one little-endian binary blob per array. The format is described in {@code docs/integer-export.md}.
 */
public final class BlobExport {
    /** The manifest's {@code format} field. */
    public static final String FORMAT = "qat4j-integer-blobs";
    public static final int FORMAT_VERSION = 1;
    public static final String MANIFEST = "manifest.json";

    private static final String WHAT = "blob export";

    private BlobExport() {
    }

    /** Writes the export; refuses a folder that exists and is not empty. */
    public static void write(IntegerModel model, Path folder) throws IOException {
        write(model, folder, false);
    }

    /** Writes the export atomically; {@code overwrite} replaces an existing non-empty folder as a whole. */
    public static void write(IntegerModel model, Path folder, boolean overwrite) throws IOException {
        if (model == null) {
            throw new IllegalArgumentException(WHAT + ": the integer model is null");
        }
        if (folder == null) {
            throw new IllegalArgumentException(WHAT + ": the output folder is null");
        }
        ExportPlan plan = ExportPlan.of(model);
        AtomicFolder.write(WHAT, folder, overwrite, tmp -> {
            Map<String, String> sha256ByFile = new HashMap<>();
            for (ExportPlan.Array a : plan.arrays) {
                byte[] bytes = littleEndian(a.data(), a.dtype());
                AtomicFolder.writeFile(tmp.resolve(a.file()), bytes);
                sha256ByFile.put(a.file(), sha256(bytes));
            }
            if (plan.inputCodeTable != null) {
                byte[] bytes = littleEndian(plan.inputCodeTable.data(), plan.inputCodeTable.dtype());
                AtomicFolder.writeFile(tmp.resolve(plan.inputCodeTable.file()), bytes);
                sha256ByFile.put(plan.inputCodeTable.file(), sha256(bytes));
            }
            ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
            AtomicFolder.writeFile(tmp.resolve(MANIFEST),
                    (json.writeValueAsString(manifest(plan, sha256ByFile)) + "\n").getBytes(StandardCharsets.UTF_8));
        });
    }

    private static ObjectNode manifest(ExportPlan plan, Map<String, String> sha256ByFile) {
        IntegerModel m = plan.model;
        ObjectNode root = new ObjectMapper().createObjectNode();
        root.put("format", FORMAT);
        root.put("formatVersion", FORMAT_VERSION);
        root.put("byteOrder", "little-endian");
        root.put("layout", "row-major; activations [C, H, W] per image, images one after another");
        root.put("model", m.model());
        root.put("requantFormat", m.format());
        if (m.bits() != null) {
            ObjectNode bits = root.putObject("bitWidths");
            bits.set("abit", ints(root, m.bits().abit()));
            bits.set("wbit", ints(root, m.bits().wbit()));
        }

        root.set("input", input(root, plan, sha256ByFile));

        ObjectNode prefix = root.putObject("prefix");
        prefix.put("description", "float modules run on the normalized image before the integer part; the "
                + "integer part starts at the boundary quantizer's codes (value 0)");
        ArrayNode modules = prefix.putArray("modules");
        for (Module p : m.prefix()) {
            modules.addObject().put("name", p.name()).put("type", p.getClass().getSimpleName());
        }

        ActQuantizer q = m.boundary();
        IntValue first = m.values().get(0);
        ObjectNode boundary = root.putObject("boundary");
        boundary.put("value", 0);
        boundary.put("name", first.name());
        boundary.put("kind", q.kind().name());
        boundary.put("codes", switch (q.kind()) { // ActQuantizer.code, float32, rint half to even
            case PACT -> "rint(clamp(x, 0, alpha) * ((float) maxCode / alpha))";
            case MPACT -> "rint(clamp(x, -|alpha|, |alpha|) * ((float) maxCode / |alpha|))";
            case FIXED_CLIP -> "rint(clamp(x, 0, fixedClip) / fixedClip * maxCode)";
            case DOREFA -> "rint(clamp(0.1f * x, 0, 1) * maxCode)";
        } + ", every operation in float32 rounded to nearest, rint half to even");
        boundary.put("bits", q.bits());
        boundary.put("alpha", m.boundaryAlpha());
        if (q.kind() == ActQuantizer.Kind.FIXED_CLIP) {
            boundary.put("fixedClip", q.fixedClip());
        }
        boundary.put("scale", first.scale());
        boundary.put("minCode", first.lo());
        boundary.put("maxCode", first.hi());

        root.put("logitScale", m.logitScale());
        root.put("outputsPerImage", m.values().get(m.values().size() - 1).numel());

        ArrayNode values = root.putArray("values");
        for (int v = 0; v < m.values().size(); v++) {
            IntValue val = m.values().get(v);
            values.addObject().put("index", v).put("name", val.name()).<ObjectNode>set("shape", ints(root, val.shape()))
                    .put("lo", val.lo()).put("hi", val.hi()).put("scale", val.scale());
        }

        ArrayNode layers = root.putArray("layers");
        for (int i = 0; i < m.layers().size(); i++) {
            layers.add(layer(root, plan, i, sha256ByFile));
        }
        return root;
    }

    /**
     * How an image becomes value 0: the image shape and classes, the normalisation, and for an end-to-end model the
     * input quantizer and the uint8 pixel -> code table, so that nothing outside the manifest is needed.
     */
    private static ObjectNode input(ObjectNode root, ExportPlan plan, Map<String, String> sha256ByFile) {
        IntegerModel m = plan.model;
        dev.qat4j.models.InputSpec spec = m.inputSpec();
        ObjectNode in = root.objectNode();
        in.put("endToEnd", m.isEndToEnd());
        if (!m.isEndToEnd()) {
            in.put("notEndToEnd", m.floatPrefixReason());
        }
        in.set("imageShape", ints(root, spec.shape()));
        in.put("pixels", "uint8 0..255 per channel, planes [C, H, W] (channel-major), channels in the training data's "
                + "order (CIFAR-10: R, G, B)");
        ObjectNode norm = in.putObject("normalization");
        ArrayNode mean = norm.putArray("mean"), std = norm.putArray("std");
        for (int c = 0; c < spec.channels(); c++) {
            mean.add(spec.normalization().mean()[c]);
            std.add(spec.normalization().std()[c]);
        }
        norm.put("formula", "x = ((float) v / 255f - mean[c]) / std[c], each operation in float32 rounded to nearest");
        ArrayNode classes = in.putArray("classNames");
        spec.classNames().forEach(classes::add);
        if (plan.inputCodeTable != null) {
            ActQuantizer q = m.boundary();
            in.put("codes", "value 0 = the input quantizer's codes of the normalised image (MPACT): code = "
                    + "rint(clamp(x, -|alpha|, |alpha|) * s) with s = float32(maxCode / |alpha|), the product rounded "
                    + "to float32 and rint half to even; "
                    + "codeTable[c][v] holds that code for every channel c and pixel value v, so a chip needs only "
                    + "the lookup");
            in.put("quantizer", q.kind().name());
            in.put("bits", q.bits());
            in.put("alpha", m.boundaryAlpha());
            in.set("codeTable", blob(root, plan.inputCodeTable, sha256ByFile));
        }
        return in;
    }

    private static ObjectNode layer(ObjectNode root, ExportPlan plan, int i, Map<String, String> sha256ByFile) {
        IntLayer l = plan.model.layers().get(i);
        List<IntValue> values = plan.model.values();
        ObjectNode n = root.objectNode();
        n.put("index", i);
        n.put("name", l.name());
        n.put("type", l.type().name());
        n.put("input", l.input());
        if (l.hasResidual()) {
            n.put("residual", l.residual());
        }
        n.put("output", i + 1);
        n.set("inputShape", ints(root, values.get(l.input()).shape()));
        n.set("outputShape", ints(root, values.get(i + 1).shape()));
        switch (l.type()) {
            case REQUANT -> {
                if (l.hasConv()) {
                    ObjectNode conv = n.putObject("conv");
                    conv.set("weightShape", ints(root, l.weightShape()));
                    conv.put("weightBits", l.weightBits());
                    conv.put("stride", l.stride());
                    conv.put("pad", l.pad());
                    conv.put("groups", l.groups());
                }
                n.put("accBound", l.accBound());
                n.put("int32Accumulator", plan.int32Accumulator[i]);
                n.put("rounding", l.rounding().name());
                n.put("qmin", l.qmin());
                n.put("qmax", l.qmax());
                n.put("requantFormat", l.format());
            }
            case SUM_POOL -> n.put("poolKernel", l.poolKernel());
            case LINEAR -> {
                n.set("weightShape", ints(root, l.weightShape()));
                n.put("weightBits", l.weightBits());
                n.put("fracBits", l.fracBits());
                n.put("accBound", l.accBound());
                n.put("int32Accumulator", plan.int32Accumulator[i]);
            }
        }
        ObjectNode arrays = n.putObject("arrays");
        for (ExportPlan.Array a : plan.arraysOf(i)) {
            arrays.set(a.role(), blob(root, a, sha256ByFile));
        }
        return n;
    }

    /** {file, dtype, shape, bytes, sha256} of one blob. */
    private static ObjectNode blob(ObjectNode root, ExportPlan.Array a, Map<String, String> sha256ByFile) {
        ObjectNode b = root.objectNode();
        b.put("file", a.file());
        b.put("dtype", a.dtype().jsonName);
        b.set("shape", ints(root, a.shape()));
        b.put("bytes", a.byteLength());
        b.put("sha256", sha256ByFile.get(a.file()));
        return b;
    }

    private static ArrayNode ints(ObjectNode root, int[] v) {
        ArrayNode a = root.arrayNode();
        for (int x : v) {
            a.add(x);
        }
        return a;
    }

    static byte[] littleEndian(long[] data, IntDtype dtype) {
        ByteBuffer buf = ByteBuffer.allocate(Math.multiplyExact(data.length, dtype.bytes)).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : data) {
            switch (dtype) {
                case INT8 -> buf.put((byte) v);
                case INT16 -> buf.putShort((short) v);
                case INT32 -> buf.putInt((int) v);
                case INT64 -> buf.putLong(v);
            }
        }
        return buf.array();
    }

    static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }
}
