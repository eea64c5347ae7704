package dev.qat4j.integer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qat4j.backend.Backend;
import dev.qat4j.checkpoint.Checkpoint;
import dev.qat4j.checkpoint.CheckpointFormatException;
import dev.qat4j.checkpoint.CheckpointIO;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.InputSpec;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.Module;
import dev.qat4j.nn.Parameter;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.quant.Rounding;
import dev.qat4j.tensor.DType;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Saves and loads an {@link IntegerModel} as a {@code .qim} file: the checkpoint container ({@link CheckpointIO}:
 * JSON header, raw little-endian tensors, CRC32C, atomic write) with
 * <ul>
 *   <li>meta {@code kind = qat4j-integer-model}, {@code bits} (the model's bit-width YAML), {@code format},
 *       {@code boundary} (quantizer kind, bits, α, clip), {@code prefix} (top-level module names),
 *       {@code prefix_quantizers} (each quantizer of the prefix with its kind and bits) and {@code graph} (values
 *       and layers without their arrays), each a JSON string;</li>
 *   <li>tensors {@code prefix/<parameter>} (float) and {@code layer<i>.<array>}; int64 arrays (biases) are stored as
 *       INT32 [n, 2] (low word, high word), which is exactly their little-endian byte layout.</li>
 * </ul>
 * Loading rebuilds the float prefix from the library's model ({@link Models#build}), so it needs nothing but qat4j;
 * every structural fact (shapes in 64 bits) and the int64 headroom of every requant are re-checked, and the
 * boundary quantizer, its α and the prefix's quantizers against the rebuilt prefix ({@link IntegerModelCheck}),
 * before the model is handed out, so a damaged or hand-edited file is refused with a message naming the layer or
 * field.
 */
public final class IntegerModelIO {
    public static final String KIND = "qat4j-integer-model";
    /** Meta key: the prefix's quantizers as written ({@link IntegerModelCheck#prefixQuantizers}). */
    static final String PREFIX_QUANTIZERS = "prefix_quantizers";
    private static final ObjectMapper JSON = new ObjectMapper();

    private IntegerModelIO() {
    }

    public static void write(Path file, IntegerModel m) throws IOException {
        if (m == null || file == null) {
            throw new IllegalArgumentException("integer model write: model and file must not be null");
        }
        if (m.model() == null || m.bits() == null) {
            throw new IllegalArgumentException("integer model write: only models built by qat4j's Models can be saved "
                    + "with their float prefix (this one has none recorded)");
        }
        if (m.hasSeedStem()) {
            throw new IllegalArgumentException("integer model write: the seed-compatible model's stem is a float32 "
                    + "convolution truncated to integers, which a .qim cannot hold; use int-eval for it, or convert "
                    + "with --format seed<W,I>-stem (float stem)");
        }
        Checkpoint.Builder b = Checkpoint.builder(m.model());
        b.meta("kind", KIND);
        b.meta("bits", m.bits().toYaml());
        b.meta("format", m.format());
        b.meta(InputSpec.META_KEY, m.inputSpec().toJson());
        ObjectNode q = JSON.createObjectNode();
        q.put("kind", m.boundary().kind().name()).put("bits", m.boundary().bits())
                .put("alpha", m.boundaryAlpha()).put("fixed_clip", m.boundary().fixedClip());
        b.meta("boundary", q.toString());
        ArrayNode prefix = JSON.createArrayNode();
        for (Module p : m.prefix()) {
            prefix.add(p.name());
        }
        b.meta("prefix", prefix.toString());
        ArrayNode quantizers = JSON.createArrayNode();
        IntegerModelCheck.prefixQuantizers(m.prefix()).forEach(quantizers::add);
        b.meta(PREFIX_QUANTIZERS, quantizers.toString());
        b.meta("graph", graphJson(m).toString());
        for (Module p : m.prefix()) {
            List<Parameter> all = new ArrayList<>(p.parameters());
            all.addAll(p.buffers());
            for (Parameter par : all) {
                b.add("prefix/" + par.name(), par.value());
            }
        }
        for (int i = 0; i < m.layers().size(); i++) {
            IntLayer l = m.layers().get(i);
            String n = "layer" + i + ".";
            if (l.weights() != null) {
                b.addInts(n + "weights", l.weights(), l.weightShape());
            }
            if (l.multiplier() != null) {
                b.addInts(n + "multiplier", l.multiplier(), l.multiplier().length);
                b.addInts(n + "shift", l.shift(), l.shift().length);
            }
            if (l.residualMultiplier() != null) {
                b.addInts(n + "residual_multiplier", l.residualMultiplier(), l.residualMultiplier().length);
            }
            if (l.bias() != null) {
                b.addInts(n + "bias", longsToPairs(l.bias()), l.bias().length, 2);
            }
        }
        CheckpointIO.write(file, b.build());
    }

    /** Reads a {@code .qim}; its float prefix lives on {@code backend}. */
    public static IntegerModel read(Path file, Backend backend) throws IOException {
        return fromCheckpoint(CheckpointIO.read(file), file, backend);
    }

    /** The integer model in an already read {@code .qim} container ({@code file} names it in errors). */
    public static IntegerModel fromCheckpoint(Checkpoint c, Path file, Backend backend) throws IOException {
        return read(c, file, String.valueOf(file), backend);
    }

    /**
     * The integer model in an already read {@code .qim} container whose bytes came from {@code source} (a file name,
     * a resource, a stream: it names them in errors); its float prefix lives on {@code backend}. A training
     * checkpoint, or a container that does not hold a consistent integer model, is a
     * {@link CheckpointFormatException} saying what is wrong.
     */
    public static IntegerModel read(Checkpoint c, String source, Backend backend) throws CheckpointFormatException {
        return read(c, null, source, backend);
    }

    private static IntegerModel read(Checkpoint c, Path file, String source, Backend backend)
            throws CheckpointFormatException {
        String where = "integer model " + source;
        if (!KIND.equals(c.metaString("kind"))) {
            throw formatError(file, source, "not a qat4j integer model (meta kind is "
                    + c.metaString("kind") + "; a training checkpoint? convert it with `qat4j convert`)", null);
        }
        try {
            BitWidths bits = BitWidths.fromYaml(need(c, "bits"), c.model(), where);
            JsonNode q = JSON.readTree(need(c, "boundary"));
            ActQuantizer boundary = new ActQuantizer(ActQuantizer.Kind.valueOf(q.path("kind").asText()),
                    q.path("bits").asInt(), (float) q.path("fixed_clip").asDouble());
            float alpha = (float) q.path("alpha").asDouble();
            JsonNode prefixNames = JSON.readTree(need(c, "prefix"));
            if (c.metaString(PREFIX_QUANTIZERS) == null) {
                throw new IllegalArgumentException("meta '" + PREFIX_QUANTIZERS + "' is missing, so its bit widths "
                        + "cannot be checked against the float prefix (written by an older qat4j? convert again)");
            }
            List<String> recordedQuantizers = new ArrayList<>();
            JSON.readTree(c.metaString(PREFIX_QUANTIZERS)).forEach(n -> recordedQuantizers.add(n.asText()));
            JsonNode graph = JSON.readTree(need(c, "graph"));
            List<IntValue> values = new ArrayList<>();
            for (JsonNode v : graph.path("values")) {
                values.add(new IntValue(v.path("name").asText(), ints(v.path("shape")), v.path("lo").asLong(),
                        v.path("hi").asLong(), v.path("scale").asDouble()));
            }
            List<IntLayer> layers = new ArrayList<>();
            int i = 0;
            for (JsonNode l : graph.path("layers")) {
                String n = "layer" + i + ".";
                Checkpoint.TensorData w = c.tensor(n + "weights");
                Checkpoint.TensorData bias = c.tensor(n + "bias");
                String rounding = l.path("rounding").asText(null);
                layers.add(new IntLayer(l.path("name").asText(), IntLayer.Type.valueOf(l.path("type").asText()),
                        l.path("input").asInt(), l.path("residual").asInt(-1),
                        w == null ? null : w.ints(), w == null ? null : w.shape(), l.path("weight_bits").asInt(),
                        l.path("stride").asInt(1), l.path("pad").asInt(0), l.path("groups").asInt(1),
                        intsOrNull(c, n + "multiplier"), intsOrNull(c, n + "shift"),
                        bias == null ? null : pairsToLongs(bias.ints()), intsOrNull(c, n + "residual_multiplier"),
                        rounding == null || rounding.equals("null") ? null : Rounding.valueOf(rounding),
                        l.path("qmin").asLong(), l.path("qmax").asLong(), l.path("frac_bits").asInt(),
                        l.path("pool_kernel").asInt(), l.path("acc_bound").asLong(), l.path("format").asText()));
                i++;
            }
            IntegerModelCheck.check(values, layers, where);
            QuantModel host = Models.build(c.model(), bits, InputSpec.of(c, where), backend, 0);
            try {
                List<Module> prefix = loadPrefix(host, prefixNames, c, source);
                IntegerModelCheck.prefixMatchesRecord(prefix, recordedQuantizers, where);
                return new IntegerModel(c.model(), bits, prefix, boundary, alpha, values, layers,
                        need(c, "format"), host.inputSpec(), host);
            } catch (RuntimeException e) {
                host.close();
                throw e;
            }
        } catch (IllegalArgumentException | NullPointerException | ClassCastException
                 | com.fasterxml.jackson.core.JsonProcessingException e) {
            throw formatError(file, source, e.getMessage(), e);
        }
    }

    private static CheckpointFormatException formatError(Path file, String source, String what, Throwable cause) {
        return file != null ? new CheckpointFormatException(file, what, cause)
                : new CheckpointFormatException(source, what, cause);
    }

    private static List<Module> loadPrefix(QuantModel host, JsonNode names, Checkpoint c, String source) {
        List<Module> top = host.net().children();
        List<Module> prefix = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            if (i >= top.size() || !top.get(i).name().equals(names.get(i).asText())) {
                throw new IllegalArgumentException("prefix module " + i + " is '" + names.get(i).asText() + "' but "
                        + host.name() + " has '" + (i < top.size() ? top.get(i).name() : "nothing") + "' there");
            }
            Module m = top.get(i);
            List<Parameter> all = new ArrayList<>(m.parameters());
            all.addAll(m.buffers());
            for (Parameter p : all) {
                Checkpoint.TensorData t = c.tensor("prefix/" + p.name());
                if (t == null || t.dtype() != DType.FLOAT32 || !Arrays.equals(t.shape(), p.value().shape())) {
                    throw new IllegalArgumentException("prefix tensor '" + p.name() + "' is missing or has the wrong "
                            + "shape in " + source + " (expected FLOAT32" + Arrays.toString(p.value().shape()) + ")");
                }
                p.setValue(p.value().backend().fromFloats(t.floats(), t.shape()));
            }
            prefix.add(m);
        }
        if (prefix.isEmpty()) {
            throw new IllegalArgumentException("no float prefix recorded");
        }
        return prefix;
    }

    /** The values and layers without their arrays (the JSON meta {@code graph}); the exporters reuse it. */
    public static ObjectNode graphJson(IntegerModel m) {
        ObjectNode g = JSON.createObjectNode();
        ArrayNode vs = g.putArray("values");
        for (IntValue v : m.values()) {
            ObjectNode o = vs.addObject();
            o.put("name", v.name()).put("lo", v.lo()).put("hi", v.hi()).put("scale", v.scale());
            ArrayNode s = o.putArray("shape");
            for (int d : v.shape()) {
                s.add(d);
            }
        }
        ArrayNode ls = g.putArray("layers");
        for (IntLayer l : m.layers()) {
            ObjectNode o = ls.addObject();
            o.put("name", l.name()).put("type", l.type().name()).put("input", l.input()).put("residual", l.residual())
                    .put("weight_bits", l.weightBits()).put("stride", l.stride()).put("pad", l.pad())
                    .put("groups", l.groups()).put("rounding", String.valueOf(l.rounding())).put("qmin", l.qmin())
                    .put("qmax", l.qmax()).put("frac_bits", l.fracBits()).put("pool_kernel", l.poolKernel())
                    .put("acc_bound", l.accBound()).put("format", l.format());
        }
        return g;
    }

    private static String need(Checkpoint c, String key) {
        String v = c.metaString(key);
        if (v == null) {
            throw new IllegalArgumentException("meta '" + key + "' is missing");
        }
        return v;
    }

    private static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }

    private static int[] intsOrNull(Checkpoint c, String name) {
        Checkpoint.TensorData t = c.tensor(name);
        if (t == null) {
            return null;
        }
        if (t.dtype() != DType.INT32) {
            throw new IllegalArgumentException("tensor '" + name + "' must be INT32, is " + t.dtype());
        }
        return t.ints();
    }

    static int[] longsToPairs(long[] v) {
        int[] out = new int[v.length * 2];
        for (int i = 0; i < v.length; i++) {
            out[2 * i] = (int) v[i];
            out[2 * i + 1] = (int) (v[i] >>> 32);
        }
        return out;
    }

    static long[] pairsToLongs(int[] p) {
        long[] out = new long[p.length / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = (p[2 * i] & 0xffffffffL) | ((long) p[2 * i + 1] << 32);
        }
        return out;
    }
}
