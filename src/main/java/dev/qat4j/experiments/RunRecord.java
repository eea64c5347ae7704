package dev.qat4j.experiments;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * What a training run was asked to do, kept as {@value #FILE} in its folder: the experiment it runs (or null), the
 * model and quantization, the recipe it used, the experiment's own recipe and every option that overrode it, the
 * seed and the data sizes. {@code qat4j report} reads it next to {@code metrics.jsonl}.
 *
 * @param experiment       the experiment id, or null for a run not started with {@code --experiment}
 * @param bits             the bit widths as given (a preset name or a file path)
 * @param quantization     what is quantized how, in words
 * @param experimentRecipe the experiment's recipe (null without an experiment)
 */
public record RunRecord(String experiment, String model, String bits, String quantization, Recipe recipe,
                        Recipe experimentRecipe, List<Overridden> overrides, long seed, int trainImages,
                        int testImages) {
    public static final String FILE = "run.json";
    private static final String FORMAT = "qat4j-run/1";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** An option given on the command line in place of the recipe's value. */
    public record Overridden(String option, String recipeValue, String usedValue) {
    }

    public RunRecord {
        overrides = List.copyOf(overrides);
    }

    public String toJson() {
        ObjectNode o = JSON.createObjectNode();
        o.put("format", FORMAT).put("experiment", experiment).put("model", model).put("bits", bits)
            .put("quantization", quantization);
        o.set("recipe", recipe.toJson());
        o.set("experiment_recipe", experimentRecipe == null ? null : experimentRecipe.toJson());
        ArrayNode ov = o.putArray("overrides");
        for (Overridden x : overrides) {
            ov.addObject().put("option", x.option()).put("recipe", x.recipeValue()).put("used", x.usedValue());
        }
        o.put("seed", seed).put("train_images", trainImages).put("test_images", testImages);
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(o) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Writes {@code dir/run.json} atomically (a temp file moved over it): a reader never sees half a record. */
    public void write(Path dir) throws IOException {
        Path tmp = Files.createTempFile(dir, ".run-", ".json.tmp");
        try {
            readableLikeOtherOutputs(tmp);
            Files.writeString(tmp, toJson(), StandardCharsets.UTF_8);
            try {
                Files.move(tmp, dir.resolve(FILE), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, dir.resolve(FILE), StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** A temp file is created owner-only (0600); the record is as readable as the run's other files (0644). */
    public static void readableLikeOtherOutputs(Path file) throws IOException {
        try {
            Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        } catch (UnsupportedOperationException e) { // not a POSIX file system: its defaults apply
        }
    }

    /** {@code dir/run.json}, or null when the folder has none. Anything unreadable is an IllegalArgumentException. */
    public static RunRecord readIfPresent(Path dir) {
        Path f = dir.resolve(FILE);
        JsonNode o;
        try {
            o = JSON.readTree(Files.readString(f, StandardCharsets.UTF_8));
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw new IllegalArgumentException(f + ": cannot be read: " + e.getMessage(), e);
        }
        if (o == null || !o.isObject() || !FORMAT.equals(o.path("format").asText())) {
            throw new IllegalArgumentException(f + ": not a qat4j run record (format " + FORMAT + ")");
        }
        try {
            List<Overridden> ov = new ArrayList<>();
            o.path("overrides").forEach(x -> ov.add(new Overridden(x.path("option").asText(), x.path("recipe").asText(),
                x.path("used").asText())));
            JsonNode er = o.get("experiment_recipe");
            return new RunRecord(o.path("experiment").isNull() ? null : o.path("experiment").asText(null),
                o.path("model").asText(), o.path("bits").asText(), o.path("quantization").asText(),
                Recipe.fromJson(o.get("recipe"), f.toString()),
                er == null || er.isNull() ? null : Recipe.fromJson(er, f + " experiment_recipe"), ov,
                o.path("seed").asLong(), o.path("train_images").asInt(), o.path("test_images").asInt());
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(f + ": malformed run record: " + e.getMessage(), e);
        }
    }
}
