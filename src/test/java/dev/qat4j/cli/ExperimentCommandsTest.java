package dev.qat4j.cli;

import static dev.qat4j.cli.MainTest.capture;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.qat4j.experiments.SeedExperiments;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code experiments}, {@code train --experiment} and {@code report} through the real main, on real CIFAR-10. */
class ExperimentCommandsTest {
    @TempDir
    Path dir;

    private List<Path> listing(Path d) throws Exception {
        try (Stream<Path> s = Files.walk(d)) {
            return s.sorted().toList();
        }
    }

    @Test
    void experimentsListsEveryRowWithTheSeedsAccuracy() throws Exception {
        int[] exit = new int[1];
        String text = capture(exit, "experiments");
        assertEquals(0, exit[0], text);
        JsonNode json = new ObjectMapper().readTree(capture(exit, "experiments", "--json"));
        assertEquals(0, exit[0]);
        assertEquals(SeedExperiments.all().size(), json.size());
        for (JsonNode row : json) {
            String id = row.get("id").asText();
            assertTrue(text.contains(id), id);
            assertTrue(row.get("recipe").has("batch_size") && row.has("seed_accuracy") && row.has("seed_row"), id);
            if (!row.get("seed_accuracy").isNull()) {
                assertTrue(text.contains(String.format(java.util.Locale.ROOT, "%.3f", row.get("seed_accuracy").asDouble())), id);
            }
        }
        assertTrue(text.contains("rn20-cfg1-star-no-branch-q") && text.contains("no branch-output quant"), text);
    }

    @Test
    void trainAnExperimentThenReportIt() throws Exception {
        Path archive = dev.qat4j.TestData.cifar10();
        Assumptions.assumeTrue(archive != null, "no CIFAR-10: set QAT4J_DATA");
        Path run = dir.resolve("run");
        int[] exit = new int[1];
        String out = capture(exit, "train", "--experiment", "rn20-mpact-int4", "--epochs", "1", "--batch-size", "32",
            "--limit-train", "64", "--limit-test", "32", "--data", archive.toString(), "--out", run.toString(), "--json");
        assertEquals(0, exit[0], out);
        JsonNode rec = new ObjectMapper().readTree(Files.readString(run.resolve("run.json")));
        assertEquals("rn20-mpact-int4", rec.get("experiment").asText());
        assertEquals("int4 mpact", rec.get("quantization").asText());
        assertEquals(1, rec.get("recipe").get("epochs").asInt());
        assertEquals(300, rec.get("experiment_recipe").get("epochs").asInt());
        assertEquals(0.01, rec.get("recipe").get("lr").asDouble(), 1e-9, "the experiment's lr, not resnet20's default");
        assertEquals(2, rec.get("overrides").size(), rec.toString());
        assertEquals("--epochs", rec.get("overrides").get(0).get("option").asText());
        assertEquals("--batch-size", rec.get("overrides").get(1).get("option").asText());
        assertEquals("32", rec.get("overrides").get(1).get("used").asText());

        String err = MainTest.captureErr(exit, "train", "--experiment", "rn20-pact-int4", "--resume", "--epochs", "1",
            "--limit-train", "64", "--limit-test", "32", "--data", archive.toString(), "--out", run.toString());
        assertEquals(2, exit[0], err);
        assertTrue(err.contains("holds a run of experiment rn20-mpact-int4, not of rn20-pact-int4"), err);

        String report = capture(exit, "report", run.toString());
        assertEquals(0, exit[0], report);
        assertTrue(report.contains("rn20-mpact-int4") && report.contains("90.850") && report.contains("1/300"), report);
        assertTrue(report.contains("--batch-size 32 instead of the recipe's 128"), report);
        Path png = dir.resolve("report.png");
        JsonNode rows = new ObjectMapper().readTree(capture(exit, "report", run.toString(), "--json", "--png", png.toString()));
        assertEquals(0, exit[0]);
        assertEquals(1, rows.size());
        JsonNode r = rows.get(0);
        double best = r.get("best_accuracy").asDouble();
        assertEquals(best - 90.85, r.get("difference").asDouble(), 1e-3);
        assertEquals(1, r.get("epochs_run").asInt());
        assertEquals(300, r.get("recipe_epochs").asInt());
        assertTrue(Files.size(png) > 1000, "chart written");
    }

    @Test
    void reportRefusesWhatItCannotCompareAndWritesNothing() throws Exception {
        Path archive = dev.qat4j.TestData.cifar10();
        Assumptions.assumeTrue(archive != null, "no CIFAR-10: set QAT4J_DATA");
        int[] exit = new int[1];
        // a plain run (no --experiment)
        Path plain = dir.resolve("plain");
        assertEquals(0, Main.run("train", "--model", "toynet", "--epochs", "1", "--batch-size", "32", "--limit-train",
            "32", "--limit-test", "16", "--data", archive.toString(), "--out", plain.toString()));
        // an unfinished experiment run: the record says 3 epochs, metrics hold 1
        Path unfinished = dir.resolve("unfinished");
        assertEquals(0, Main.run("train", "--experiment", "toynet-cfg3", "--epochs", "1", "--batch-size", "32",
            "--limit-train", "32", "--limit-test", "16", "--data", archive.toString(), "--out", unfinished.toString()));
        Path record = unfinished.resolve("run.json");
        Files.writeString(record, Files.readString(record).replaceFirst("\"epochs\" : 1", "\"epochs\" : 3"));
        // a run of an experiment whose definition has changed since
        Path changed = dir.resolve("changed");
        assertEquals(0, Main.run("train", "--experiment", "toynet-cfg3", "--epochs", "1", "--batch-size", "32",
            "--limit-train", "32", "--limit-test", "16", "--data", archive.toString(), "--out", changed.toString()));
        Path rec2 = changed.resolve("run.json");
        Files.writeString(rec2, Files.readString(rec2).replace("\"batch_size\" : 128", "\"batch_size\" : 64"));

        Path png = dir.resolve("chart.png");
        List<Path> before = listing(dir);
        Object[][] cases = {
            {plain, "was not started with --experiment"},
            {unfinished, "unfinished run, 1 of 3 epochs"},
            {changed, "differs from today's"},
            {dir.resolve("missing"), "does not exist"},
            {dir.resolve("plain/metrics.jsonl"), "not a directory"},
        };
        for (Object[] c : cases) {
            String err = MainTest.captureErr(exit, "report", c[0].toString(), "--png", png.toString());
            assertEquals(2, exit[0], err);
            assertTrue(err.contains(c[0].toString()) && err.contains((String) c[1]), err);
            assertFalse(err.contains("\tat "), "no stack trace: " + err);
        }
        assertEquals(before, listing(dir), "nothing written");
    }

    @Test
    void trainRefusesContradictionsBeforeReadingData() throws Exception {
        int[] exit = new int[1];
        Path nowhere = dir.resolve("no-data");
        Object[][] cases = {
            {new String[] {"--experiment", "toynet-cfg9"}, "unknown experiment 'toynet-cfg9'"},
            {new String[] {"--experiment", "toynet-cfg3", "--model", "resnet20"}, "contradicts --experiment toynet-cfg3"},
            {new String[] {"--model", "resnet20", "--act", "lsq"}, "unknown activation quantizer 'lsq'"},
            {new String[] {"--model", "toynet", "--no-branch-quant"}, "only resnet20"},
            {new String[] {"--model", "toynet", "--act-clip", "4"}, "--act-clip 4.0 is only for --act fixed-clip"},
            {new String[] {"--model", "resnet20", "--act", "mpact", "--bits",
                write("one.yaml", "model: resnet20\nabit: {2: 1}\n").toString()}, "abit[2] = 1"},
        };
        for (Object[] c : cases) {
            String[] args = Stream.concat(Stream.of("train", "--data", nowhere.toString(), "--out",
                dir.resolve("out").toString()), Stream.of((String[]) c[0])).toArray(String[]::new);
            String err = MainTest.captureErr(exit, args);
            assertEquals(2, exit[0], err);
            assertTrue(err.contains((String) c[1]), err);
        }
        assertFalse(Files.exists(dir.resolve("out")), "no run folder for a refused command");
    }

    private Path write(String name, String text) throws Exception {
        Path p = dir.resolve(name);
        Files.writeString(p, text);
        return p;
    }
}
