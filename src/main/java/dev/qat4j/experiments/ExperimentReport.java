package dev.qat4j.experiments;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * qat4j's results next to the seed's: one row per finished experiment run (its {@link RunRecord} and
 * {@code metrics.jsonl}). The accuracy compared is the best test accuracy over the run's epochs, what the seed's
 * {@code train.py} reports; the final epoch's is shown beside it. A run folder that is not an experiment run, whose
 * experiment is not (or no longer) in the table as it was run, or that has not finished its epochs is refused with
 * its path, before anything is printed.
 */
public final class ExperimentReport {
    /**
     * One run. {@code bestAccuracy} and {@code finalAccuracy} in percent; {@code difference} = best - seed, null
     * where the seed reports no accuracy.
     */
    public record Row(Path run, Experiment experiment, double bestAccuracy, int bestEpoch, double finalAccuracy,
                      int epochsRun, int testImages, List<RunRecord.Overridden> overrides) {
        public Double difference() {
            Double s = experiment.seedAccuracy();
            return s == null ? null : bestAccuracy - s;
        }
    }

    private final List<Row> rows;

    private ExperimentReport(List<Row> rows) {
        this.rows = List.copyOf(rows);
    }

    public List<Row> rows() {
        return rows;
    }

    /** The report over {@code runDirs}, rows in the order of the seed's tables (then by run folder). */
    public static ExperimentReport of(List<Path> runDirs) {
        if (runDirs == null || runDirs.isEmpty()) {
            throw new IllegalArgumentException("report: no run folders given");
        }
        List<String> order = SeedExperiments.all().stream().map(Experiment::id).toList();
        List<Row> rows = new ArrayList<>();
        for (Path dir : runDirs) {
            rows.add(row(dir));
        }
        rows.sort(Comparator.comparingInt((Row r) -> order.indexOf(r.experiment().id()))
            .thenComparing(r -> r.run().toString()));
        return new ExperimentReport(rows);
    }

    private static Row row(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException(dir + ": not a run folder (" + (Files.exists(dir) ? "not a directory"
                : "does not exist") + ")");
        }
        RunRecord rec = RunRecord.readIfPresent(dir);
        if (rec == null) {
            throw new IllegalArgumentException(dir + ": not a training run folder (no " + RunRecord.FILE + ")");
        }
        if (rec.experiment() == null) {
            throw new IllegalArgumentException(dir + ": this run was not started with --experiment, so it has no seed "
                + "figure to compare with");
        }
        Experiment e;
        try {
            e = SeedExperiments.byId(rec.experiment());
        } catch (IllegalArgumentException ex) {
            throw new IllegalArgumentException(dir + ": " + ex.getMessage(), ex);
        }
        if (!e.recipe().equals(rec.experimentRecipe()) || !e.model().equals(rec.model())) {
            throw new IllegalArgumentException(dir + ": ran experiment " + e.id() + " as it was defined then ("
                + rec.model() + ", " + (rec.experimentRecipe() == null ? "no recipe" : rec.experimentRecipe().describe())
                + "), which differs from today's (" + e.model() + ", " + e.recipe().describe() + ")");
        }
        List<JsonNode> epochs = metrics(dir);
        int planned = rec.recipe().epochs();
        if (epochs.size() < planned) {
            throw new IllegalArgumentException(dir + ": unfinished run, " + epochs.size() + " of " + planned
                + " epochs in metrics.jsonl (continue it with: qat4j train --experiment " + e.id() + " --out " + dir
                + " --resume" + (planned != e.recipe().epochs() ? " --epochs " + planned : "") + ")");
        }
        double best = -1;
        int bestEpoch = 0;
        for (JsonNode m : epochs) {
            double acc = m.path("test_accuracy").asDouble(Double.NaN);
            if (acc > best) {
                best = acc;
                bestEpoch = m.path("epoch").asInt();
            }
        }
        double last = epochs.get(epochs.size() - 1).path("test_accuracy").asDouble(Double.NaN);
        return new Row(dir, e, 100 * best, bestEpoch, 100 * last, epochs.size(), rec.testImages(), rec.overrides());
    }

    private static List<JsonNode> metrics(Path dir) {
        Path f = dir.resolve("metrics.jsonl");
        List<String> lines;
        try {
            lines = Files.readAllLines(f, StandardCharsets.UTF_8);
        } catch (NoSuchFileException ex) {
            throw new IllegalArgumentException(dir + ": unfinished run, no metrics.jsonl (no epoch has finished)", ex);
        } catch (IOException ex) {
            throw new IllegalArgumentException(f + ": cannot be read: " + ex.getMessage(), ex);
        }
        ObjectMapper json = new ObjectMapper();
        List<JsonNode> out = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).isBlank()) {
                continue;
            }
            try {
                JsonNode n = json.readTree(lines.get(i));
                if (!n.has("test_accuracy")) {
                    throw new IOException("no test_accuracy");
                }
                out.add(n);
            } catch (IOException ex) {
                throw new IllegalArgumentException(f + ": line " + (i + 1) + " is not an epoch record: " + ex.getMessage(), ex);
            }
        }
        return out;
    }

    /** The comparison as a text table, one run a line, with a footnote per overridden option. */
    public String toText() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-28s %-12s %-36s %7s %7s %7s %7s %9s %6s%n", "experiment", "model",
            "quantization", "seed %", "qat4j %", "final %", "diff", "epochs", "test"));
        for (Row r : rows) {
            Experiment e = r.experiment();
            sb.append(String.format(Locale.ROOT, "%-28s %-12s %-36s %7s %7.2f %7.2f %7s %9s %6d%n", e.id(), e.model(),
                e.quantization(), e.seedAccuracy() == null ? "n/a" : String.format(Locale.ROOT, "%.3f", e.seedAccuracy()),
                r.bestAccuracy(), r.finalAccuracy(), r.difference() == null ? "n/a"
                    : String.format(Locale.ROOT, "%+.2f", r.difference()),
                r.epochsRun() + "/" + e.recipe().epochs(), r.testImages()));
        }
        for (Row r : rows) {
            for (RunRecord.Overridden o : r.overrides()) {
                if (!o.option().equals("--epochs")) {
                    sb.append("  ").append(r.experiment().id()).append(": ").append(o.option()).append(' ')
                        .append(o.usedValue()).append(" instead of the recipe's ").append(o.recipeValue()).append('\n');
                }
            }
            if (r.testImages() < 10000) {
                sb.append("  ").append(r.experiment().id()).append(": evaluated on ").append(r.testImages())
                    .append(" test images, not all 10,000\n");
            }
        }
        return sb.toString();
    }

    public ArrayNode toJson() {
        ArrayNode a = JsonNodeFactory.instance.arrayNode();
        for (Row r : rows) {
            ObjectNode o = a.addObject();
            Experiment e = r.experiment();
            o.put("experiment", e.id()).put("model", e.model()).put("quantization", e.quantization())
                .put("seed_accuracy", e.seedAccuracy()).put("best_accuracy", round(r.bestAccuracy()))
                .put("best_epoch", r.bestEpoch()).put("final_accuracy", round(r.finalAccuracy()))
                .put("difference", r.difference() == null ? null : round(r.difference()))
                .put("epochs_run", r.epochsRun()).put("recipe_epochs", e.recipe().epochs())
                .put("test_images", r.testImages()).put("run", r.run().toString());
            ArrayNode ov = o.putArray("overrides");
            for (RunRecord.Overridden x : r.overrides()) {
                ov.addObject().put("option", x.option()).put("recipe", x.recipeValue()).put("used", x.usedValue());
            }
        }
        return a;
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }
}
