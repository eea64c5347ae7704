package dev.qat4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class MainTest {
    /** Runs {@code qat4j args} in this JVM; returns stdout, the exit code goes to exit[0]. */
    static String capture(int[] exit, String... args) {
        return capture(false, exit, args);
    }

    /** As {@link #capture(int[], String...)}, returning stderr instead. */
    static String captureErr(int[] exit, String... args) {
        return capture(true, exit, args);
    }

    private static String capture(boolean stderr, int[] exit, String... args) {
        PrintStream old = stderr ? System.err : System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        PrintStream to = new PrintStream(buf, true, StandardCharsets.UTF_8);
        if (stderr) {
            System.setErr(to);
        } else {
            System.setOut(to);
        }
        try {
            exit[0] = Main.run(args);
        } finally {
            if (stderr) {
                System.setErr(old);
            } else {
                System.setOut(old);
            }
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    @Test
    void infoPrintsVersionBackendFeaturesAndThreads() {
        int[] exit = new int[1];
        String out = capture(exit, "info");
        assertEquals(0, exit[0], out);
        assertTrue(out.startsWith("qat4j "), out);
        assertTrue(out.contains("backend:    ref") || out.contains("backend:    cpu"), out);
        assertTrue(out.contains("int8 ISA:   avx512vnni") || out.contains("int8 ISA:   avx2")
                || out.contains("int8 ISA:   scalar"), out);
        assertTrue(out.matches("(?s).*threads:\\s+\\d+ \\(native kernels\\).*"), out);
    }

    @Test
    void versionFlag() {
        int[] exit = new int[1];
        String out = capture(exit, "--version");
        assertEquals(0, exit[0]);
        assertTrue(out.trim().matches("qat4j \\d+\\.\\d+\\.\\d+.*"), out);
    }

    @Test
    void unknownCommandIsAUsageError() {
        assertEquals(2, Main.run("no-such-command"));
    }

    @Test
    void summaryPrintsTheSeedsExactTotals() {
        int[] exit = new int[1];
        String out = capture(exit, "summary", "--model", "toynet", "--bits", "cfg1");
        assertEquals(0, exit[0], out);
        assertTrue(out.contains("total: 203,626 parameters") && out.contains("25,601,536 MADDs"), out);
        assertTrue(out.contains("s1.b0.down.conv") && out.contains("conv2x2/2 16->32"), out);
        out = capture(exit, "summary", "--model", "resnet20", "--bits", "int8");
        assertTrue(out.contains("total: 272,474 parameters") && out.contains("41,214,656 MADDs"), out);
        out = capture(exit, "summary", "--model", "mobilenetv2");
        assertTrue(out.contains("total: 2,383,050 parameters") && out.contains("98,645,504 MADDs"), out);
    }

    @Test
    void summaryJsonHasTheTotalsAndEveryLayer() throws Exception {
        int[] exit = new int[1];
        String out = capture(exit, "summary", "--model", "resnet20", "--bits", "int4", "--json");
        assertEquals(0, exit[0], out);
        com.fasterxml.jackson.databind.JsonNode j = new com.fasterxml.jackson.databind.ObjectMapper().readTree(out);
        assertEquals(272_474, j.get("params").asLong());
        assertEquals(41_214_656, j.get("madds").asLong());
        long sum = 0;
        for (com.fasterxml.jackson.databind.JsonNode l : j.get("layers")) {
            sum += l.get("params").asLong();
        }
        assertEquals(272_474, sum, "the layers add up to the total");
        assertEquals(4, j.get("wbit").get(0).asInt());
    }

    @Test
    void summaryRefusesUnknownPresetsWithExitCode2() {
        assertEquals(2, Main.run("summary", "--model", "toynet", "--bits", "cfg9"));
        assertEquals(2, Main.run("summary", "--model", "vgg16"));
    }

    /** train -> files in --out -> eval of the best checkpoint gives the accuracy train recorded; --json parses. */
    @Test
    void trainThenEvalOnRealCifar(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path archive = dev.qat4j.TestData.cifar10();
        org.junit.jupiter.api.Assumptions.assumeTrue(archive != null, "no CIFAR-10: set QAT4J_DATA");
        int[] exit = new int[1];
        String out = capture(exit, "train", "--model", "toynet", "--bits", "cfg3", "--epochs", "1", "--batch-size", "32",
                "--limit-train", "128", "--limit-test", "64", "--data", archive.toString(), "--out", dir.toString(),
                "--json");
        assertEquals(0, exit[0], out);
        com.fasterxml.jackson.databind.JsonNode train = new com.fasterxml.jackson.databind.ObjectMapper().readTree(out);
        for (String f : new String[] {"best.qck", "last.qck", "metrics.jsonl", "curves.png"}) {
            assertTrue(java.nio.file.Files.size(dir.resolve(f)) > 0, f + " written");
        }
        assertEquals(dir.resolve("best.qck").toString(), train.get("best_checkpoint").asText());
        out = capture(exit, "eval", "--checkpoint", dir.resolve("best.qck").toString(), "--limit-test", "64",
                "--data", archive.toString(), "--json");
        assertEquals(0, exit[0], out);
        com.fasterxml.jackson.databind.JsonNode eval = new com.fasterxml.jackson.databind.ObjectMapper().readTree(out);
        assertEquals(64, eval.get("images").asInt());
        assertEquals(train.get("best_accuracy").asDouble(), eval.get("accuracy").asDouble(), 0.0,
                "the saved model evaluates exactly as during training");
        assertEquals(10, eval.get("confusion_matrix").size());
    }

    @Test
    void trainAndEvalRefuseBadInputWithExitCode2(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        assertEquals(2, Main.run("train", "--data", dir.resolve("nothing-here").toString(), "--epochs", "1"));
        java.nio.file.Path junk = dir.resolve("junk.qck");
        java.nio.file.Files.writeString(junk, "not a checkpoint");
        java.nio.file.Path archive = dev.qat4j.TestData.cifar10();
        org.junit.jupiter.api.Assumptions.assumeTrue(archive != null, "no CIFAR-10: set QAT4J_DATA");
        assertEquals(2, Main.run("eval", "--checkpoint", junk.toString(), "--data", archive.toString()));
        assertEquals(2, Main.run("train", "--model", "vgg", "--data", archive.toString(), "--epochs", "1"));
    }
}
