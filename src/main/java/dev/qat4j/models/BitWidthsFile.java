package dev.qat4j.models;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.qat4j.quant.ActQuantizer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Reads bit-width files for {@link BitWidths#load(Path, String)}. One format, in YAML ({@code .yaml}, {@code .yml})
 * or JSON ({@code .json}), read through Jackson's tree model:
 * <pre>
 *   key     required  value
 *   model   yes       toynet | mobilenetv2 | resnet20; must be the model asked for
 *   base    no        a preset of that model (default fp32) that sparse overrides apply to
 *   abit    no        a full list of abit entries, or a sparse map {index: bits} over base's abit
 *   wbit    no        the same for wbit
 *   act     no        dorefa | pact | mpact | fixed-clip: every activation quantizer of that kind, at the seed's
 *                     placements (all but the DoReFa on the raw image; default: the base preset's, else the
 *                     seed's kinds)
 *   act_clip no       the clip c of fixed-clip PACT (default 2, the seed's); only with act: fixed-clip
 *   branch_out_quant no  resnet20: false drops the quantizer on the shortcut branch output (default true)
 *   input_act no      dorefa | mpact: the kind of the quantizer on the normalised image (default: the base
 *                     preset's, else dorefa as the seed); mpact keeps its sign, as an integer model's input needs
 *   tie_residual_alpha no  resnet20: true makes each stage's residual-stream quantizers share one α (default: the
 *                     base preset's, else false; see {@link BitWidths#withTiedResidualClips})
 * </pre>
 * For example, cfg3 of ToyNet with block 3's input and block 2's output at 4 bits:
 * <pre>
 *   model: toynet
 *   base: cfg3
 *   abit: {3: 4}
 * </pre>
 * Refused, each with an IllegalArgumentException that starts with {@code bit widths file <path>}: an unknown key,
 * a duplicate key, a missing or different {@code model}, a value that is not an integer, an index the model does
 * not have, a bit width its quantizer does not take (the {@link BitWidths} checks, with the index meanings),
 * a file larger than {@link #MAX_BYTES} (checked before parsing: a config is a few hundred bytes, so anything
 * bigger is the wrong file), an extension other than the three, a missing, unreadable or empty file, and a
 * syntax error (with Jackson's line and column). Trailing content after the first document is an error too, so
 * that a second YAML document ({@code ---}) cannot be silently ignored.
 */
final class BitWidthsFile {
    /** Largest accepted file: 1 MiB. */
    static final int MAX_BYTES = 1 << 20;

    private static final List<String> KEYS = List.of("model", "base", "abit", "wbit", "act", "act_clip",
        "branch_out_quant", "input_act", "tie_residual_alpha");
    private static final Pattern INDEX = Pattern.compile("-?[0-9]{1,9}");

    private static final ObjectMapper JSON = JsonMapper.builder()
        .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
        .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
        .build();
    private static final ObjectMapper YAML = YAMLMapper.builder()
        .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
        .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
        .build();

    private BitWidthsFile() {
    }

    /** "YAML" or "JSON" from a file name's extension (any case), or null for anything else. */
    static String formatOf(String fileName) {
        String n = fileName.toLowerCase(Locale.ROOT);
        if (n.endsWith(".yaml") || n.endsWith(".yml")) {
            return "YAML";
        }
        if (n.endsWith(".json")) {
            return "JSON";
        }
        return null;
    }

    static BitWidths load(Path file, String model) {
        BitLayout layout = BitLayout.of(model);
        if (file == null) {
            throw new IllegalArgumentException(model + ": bit widths file path is null");
        }
        String where = "bit widths file " + file;
        Path name = file.getFileName();
        String format = name == null ? null : formatOf(name.toString());
        if (format == null) {
            throw new IllegalArgumentException(where + ": unknown extension (expected .yaml, .yml or .json)");
        }
        byte[] bytes = read(file, where);
        JsonNode root = parse(bytes, format, where);
        try {
            return interpret(root, layout);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
        }
    }

    /** Bit widths from YAML text (as {@link BitWidths#toYaml()} writes it), e.g. a checkpoint's metadata. */
    static BitWidths fromYaml(String yaml, String model, String where) {
        BitLayout layout = BitLayout.of(model);
        byte[] bytes = yaml.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        if (bytes.length > MAX_BYTES) {
            throw tooLarge(where, bytes.length + " bytes");
        }
        try {
            return interpret(parse(bytes, "YAML", where), layout);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
        }
    }

    private static byte[] read(Path file, String where) {
        if (Files.isDirectory(file)) {
            throw new IllegalArgumentException(where + " is a directory, not a file");
        }
        try {
            long size = Files.size(file);
            if (size > MAX_BYTES) {
                throw tooLarge(where, size + " bytes");
            }
            // the size can lie (a pipe, a file still growing): never read more than the limit plus one byte
            try (InputStream in = Files.newInputStream(file)) {
                byte[] bytes = in.readNBytes(MAX_BYTES + 1);
                if (bytes.length > MAX_BYTES) {
                    throw tooLarge(where, "more than " + MAX_BYTES + " bytes");
                }
                return bytes;
            }
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(where + " does not exist", e);
        } catch (AccessDeniedException e) {
            throw new IllegalArgumentException(where + " cannot be read (access denied)", e);
        } catch (IOException e) {
            throw new IllegalArgumentException(where + " cannot be read: " + e, e);
        }
    }

    private static IllegalArgumentException tooLarge(String where, String size) {
        return new IllegalArgumentException(where + " is " + size + ", over the " + MAX_BYTES
            + "-byte (1 MiB) limit for a bit-width config; refusing to parse it");
    }

    private static JsonNode parse(byte[] bytes, String format, String where) {
        try {
            return (format.equals("YAML") ? YAML : JSON).readTree(bytes);
        } catch (JsonProcessingException e) {
            JsonLocation loc = e.getLocation();
            String at = loc != null && loc.getLineNr() > 0
                ? " at line " + loc.getLineNr() + ", column " + loc.getColumnNr() : "";
            throw new IllegalArgumentException(where + ": malformed " + format + at + ": " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new IllegalArgumentException(where + " cannot be parsed as " + format + ": " + e.getMessage(), e);
        }
    }

    private static String kind(JsonNode n) {
        return n.getNodeType().toString().toLowerCase(Locale.ROOT);
    }

    private static BitWidths interpret(JsonNode root, BitLayout layout) {
        String model = layout.model;
        if (root == null || root.isMissingNode() || root.isNull()) {
            throw new IllegalArgumentException("is empty; expected a mapping with keys " + String.join(", ", KEYS));
        }
        if (!root.isObject()) {
            throw new IllegalArgumentException("must be a mapping with keys " + String.join(", ", KEYS) + ", not a "
                + kind(root));
        }
        List<String> problems = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            String key = e.getKey();
            if (!KEYS.contains(key)) {
                problems.add("unknown key " + BitLayout.quote(key) + " (allowed: " + String.join(", ", KEYS) + ")");
            }
        }
        JsonNode m = root.get("model");
        if (m == null) {
            problems.add("missing key 'model' (this file is read for " + model + ": write 'model: " + model + "')");
        } else if (!m.isTextual()) {
            problems.add("'model' must be a model name, not a " + kind(m));
        } else if (!m.asText().equals(model)) {
            problems.add("is for model " + BitLayout.quote(m.asText()) + " but " + model
                + " bit widths were asked for (models: " + String.join(", ", BitLayout.modelNames()) + ")");
        }
        BitWidths.throwIfAny(layout, problems);

        BitWidths base = BitWidths.preset(model, "fp32");
        JsonNode b = root.get("base");
        if (b != null) {
            if (!b.isTextual()) {
                throw new IllegalArgumentException("'base' must be a " + model + " preset name ("
                    + String.join(", ", BitWidths.presetNames(model)) + "), not a " + kind(b));
            }
            try {
                base = BitWidths.preset(model, b.asText());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("base: " + e.getMessage(), e);
            }
        }

        Map<Integer, Integer> aOverrides = new LinkedHashMap<>();
        Map<Integer, Integer> wOverrides = new LinkedHashMap<>();
        int[] a = entries(layout, true, root.get("abit"), base.abit(), aOverrides, problems);
        int[] w = entries(layout, false, root.get("wbit"), base.wbit(), wOverrides, problems);
        ActQuantizer.Kind act = base.activationOverride();
        JsonNode actNode = root.get("act");
        if (actNode != null) {
            try {
                act = BitWidths.parseKind(actNode.isTextual() ? actNode.asText() : null);
            } catch (IllegalArgumentException e) {
                problems.add("'act' must be one of " + String.join(", ", BitWidths.KIND_NAMES) + ", not "
                    + (actNode.isTextual() ? BitLayout.quote(actNode.asText()) : "a " + kind(actNode)));
            }
        }
        float clip = base.activationClip() > 0 ? base.activationClip() : BitWidths.DEFAULT_FIXED_CLIP;
        JsonNode clipNode = root.get("act_clip");
        if (clipNode != null) {
            if (!clipNode.isNumber() || !(clipNode.floatValue() > 0f) || !Float.isFinite(clipNode.floatValue())) {
                problems.add("'act_clip' must be a positive number (the fixed clip c), not " + clipNode);
            } else if (act != ActQuantizer.Kind.FIXED_CLIP) {
                problems.add("'act_clip' is only for act: fixed-clip (act is " + BitWidths.kindName(act) + ")");
            } else {
                clip = clipNode.floatValue();
            }
        }
        boolean branch = base.branchOutputQuant();
        JsonNode branchNode = root.get("branch_out_quant");
        if (branchNode != null) {
            if (!branchNode.isBoolean()) {
                problems.add("'branch_out_quant' must be true or false, not " + branchNode);
            } else {
                branch = branchNode.booleanValue();
            }
        }
        ActQuantizer.Kind inputAct = base.inputActivation();
        JsonNode inputNode = root.get("input_act");
        if (inputNode != null) {
            String text = inputNode.isTextual() ? inputNode.asText().trim().toLowerCase(java.util.Locale.ROOT) : "";
            if (text.equals("mpact")) {
                inputAct = ActQuantizer.Kind.MPACT;
            } else if (text.equals("dorefa")) {
                inputAct = null;
            } else {
                problems.add("'input_act' (the network input's quantizer) must be dorefa or mpact, not "
                    + (inputNode.isTextual() ? BitLayout.quote(inputNode.asText()) : "a " + kind(inputNode)));
            }
        }
        boolean tie = base.tiedResidualClips();
        JsonNode tieNode = root.get("tie_residual_alpha");
        if (tieNode != null) {
            if (!tieNode.isBoolean()) {
                problems.add("'tie_residual_alpha' must be true or false, not " + tieNode);
            } else {
                tie = tieNode.booleanValue();
            }
        }
        BitWidths.throwIfAny(layout, problems);
        return BitWidths.fromParts(model, a, w, aOverrides, wOverrides, act, clip, branch, inputAct, tie);
    }

    /**
     * The full array for one key: its list, or {@code fallback} when the key is absent or a sparse map (whose
     * entries then go to {@code overrides}). Non-integer values and keys are added to {@code problems}.
     */
    private static int[] entries(BitLayout layout, boolean activation, JsonNode node, int[] fallback,
                                 Map<Integer, Integer> overrides, List<String> problems) {
        String name = BitLayout.arrayName(activation);
        int n = layout.length(activation);
        if (node == null) {
            return fallback;
        }
        if (node.isArray()) {
            int[] out = new int[node.size()];
            for (int i = 0; i < node.size(); i++) {
                Integer v = bits(layout, activation, i, node.get(i), problems);
                out[i] = v == null ? BitWidths.FP : v;
            }
            return out;
        }
        if (node.isObject()) {
            for (Map.Entry<String, JsonNode> e : node.properties()) {
                String key = e.getKey().trim();
                if (!INDEX.matcher(key).matches()) {
                    problems.add(layout.model + " " + name + " override key " + BitLayout.quote(e.getKey())
                        + " is not an index: " + layout.model + " " + name + " has " + n + " entries, indices 0.."
                        + (n - 1) + " (" + layout.compactMapping(activation) + ")");
                    continue;
                }
                int index = Integer.parseInt(key);
                Integer v = bits(layout, activation, index, e.getValue(), problems);
                if (v != null) {
                    overrides.put(index, v);
                }
            }
            return fallback;
        }
        problems.add(layout.model + " " + name + " must be a list of " + n + " bit widths or a map {index: bits}, not a "
            + kind(node) + " (" + layout.compactMapping(activation) + ")");
        return fallback;
    }

    /** An integer value, or null after adding a problem (indices are checked later, with the lengths). */
    private static Integer bits(BitLayout layout, boolean activation, int index, JsonNode v, List<String> problems) {
        boolean known = index >= 0 && index < layout.length(activation);
        String label = BitLayout.arrayName(activation) + "[" + index + "]";
        if (v.isIntegralNumber() && v.canConvertToInt()) {
            return v.intValue();
        }
        if (v.isIntegralNumber() && known) {
            problems.add(BitWidths.badBits(layout, activation, index, Long.MAX_VALUE, v.asText()));
            return null;
        }
        problems.add(layout.model + " " + label + " must be an integer bit width, not " + v
            + (known ? " [" + layout.describe(activation, index) + "]" : ""));
        return null;
    }
}
