package dev.qat4j.experiments;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.qat4j.models.BitWidths;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every row of the seed's CIFAR-10 tables as data: {@code dev/qat4j/experiments/seed-experiments.json} on the
 * classpath (the ToyNet, MobileNetV2 and ResNet20 tables, and the DoReFa / PACT / mPACT x INT4 / INT6 / INT8 tables of
 * ResNet20 and MobileNetV2), read and validated once. {@code qat4j experiments} lists them and
 * {@code qat4j train --experiment ID} runs one.
 */
public final class SeedExperiments {
    /** The classpath resource holding the rows. */
    public static final String RESOURCE = "/dev/qat4j/experiments/seed-experiments.json";

    private static final List<String> KEYS = List.of("id", "table", "model", "bits", "act", "branch_out_quant",
        "recipe", "seed_accuracy", "seed_integer_accuracy", "seed_row", "choice", "note");

    private static final Map<String, Experiment> BY_ID = load();

    private SeedExperiments() {
    }

    /** Every experiment, in the order of the seed's tables. */
    public static List<Experiment> all() {
        return List.copyOf(BY_ID.values());
    }

    /** The experiment {@code id}; an unknown id is refused, naming it and listing the ids of the same model prefix. */
    public static Experiment byId(String id) {
        Experiment e = BY_ID.get(id);
        if (e == null) {
            String prefix = id == null || id.indexOf('-') < 0 ? "" : id.substring(0, id.indexOf('-') + 1);
            List<String> near = BY_ID.keySet().stream().filter(k -> !prefix.isEmpty() && k.startsWith(prefix)).toList();
            throw new IllegalArgumentException("unknown experiment " + (id == null ? "null" : "'" + id + "'")
                + (near.isEmpty() ? " (ids start with toynet-, mbv2- or rn20-)" : " (" + String.join(", ", near) + ")")
                + "; `qat4j experiments` lists them all");
        }
        return e;
    }

    private static Map<String, Experiment> load() {
        JsonNode root;
        try (InputStream in = SeedExperiments.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("the experiment list " + RESOURCE + " is missing from the classpath");
            }
            root = new ObjectMapper().readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + RESOURCE, e);
        }
        Map<String, Experiment> out = new LinkedHashMap<>();
        List<JsonNode> rows = new ArrayList<>();
        root.path("experiments").forEach(rows::add);
        for (JsonNode r : rows) {
            Experiment e = parse(r);
            if (out.put(e.id(), e) != null) {
                throw new IllegalStateException(RESOURCE + ": experiment id '" + e.id() + "' appears twice");
            }
        }
        return Collections.unmodifiableMap(out);
    }

    /** One row; the list ships inside the jar, so a bad row is a build defect (IllegalStateException). */
    static Experiment parse(JsonNode r) {
        String id = r.path("id").asText(null);
        String where = RESOURCE + " experiment " + id;
        try {
            r.fieldNames().forEachRemaining(k -> {
                if (!KEYS.contains(k)) {
                    throw new IllegalArgumentException("unknown key '" + k + "'");
                }
            });
            String act = r.path("act").isNull() || r.path("act").isMissingNode() ? null : r.get("act").asText();
            Experiment e = new Experiment(id, r.path("table").asText(), r.path("model").asText(), r.path("bits").asText(),
                act == null ? null : BitWidths.parseKind(act), r.path("branch_out_quant").asBoolean(true),
                Recipe.fromJson(r.get("recipe"), where), number(r, "seed_accuracy"), number(r, "seed_integer_accuracy"),
                r.path("seed_row").asText(), text(r, "choice"), text(r, "note"));
            e.bitWidths(); // model, preset, kind and switch must make a network
            if (id == null || !id.matches("[a-z0-9][a-z0-9-]*")) {
                throw new IllegalArgumentException("id must be lowercase letters, digits and '-'");
            }
            return e;
        } catch (IllegalArgumentException ex) {
            throw new IllegalStateException(where + ": " + ex.getMessage(), ex);
        }
    }

    private static Double number(JsonNode r, String key) {
        JsonNode v = r.get(key);
        return v == null || v.isNull() ? null : v.asDouble();
    }

    private static String text(JsonNode r, String key) {
        JsonNode v = r.get(key);
        return v == null || v.isNull() ? null : v.asText();
    }
}
