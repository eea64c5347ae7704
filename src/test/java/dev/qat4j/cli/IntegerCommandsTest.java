package dev.qat4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.qat4j.TestData;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** convert -> export -> eval of the integer model, int-eval --json, and the refusals, through Main as a user runs them. */
class IntegerCommandsTest {
    static final String RESNET = "bench/results/gpu-h200/train/checkpoints/resnet20-int8-mpact.qck";

    private static String capture(int[] exit, String... args) {
        return MainTest.capture(exit, args);
    }

    @Test
    void convertExportAndEvaluateTheIntegerModel(@TempDir Path dir) throws Exception {
        Path data = TestData.cifar10();
        Assumptions.assumeTrue(data != null, "no CIFAR-10: set QAT4J_DATA");
        int[] exit = new int[1];
        Path qim = dir.resolve("r.qim");
        String out = capture(exit, "convert", "--checkpoint", RESNET, "--out", qim.toString(), "--model", "resnet20");
        assertEquals(0, exit[0], out);
        assertTrue(out.contains("float prefix: stem.conv, stem.bn, stem.relu, s0.b0") && out.contains("s2.b2.out.q"), out);
        out = capture(exit, "export", "--model", qim.toString(), "--blobs", dir.resolve("blobs").toString(), "--c",
                dir.resolve("c").toString(), "--onnx", dir.resolve("r.onnx").toString());
        assertEquals(0, exit[0], out);
        assertTrue(Files.size(dir.resolve("r.onnx")) > 100_000, "the ONNX file holds the weights");
        assertTrue(Files.exists(dir.resolve("blobs/manifest.json")) && Files.exists(dir.resolve("c/qat4j_model.c")));
        // exporting again into the same folders is refused: nothing the user saved is replaced silently
        assertEquals(2, Main.run("export", "--model", qim.toString(), "--blobs", dir.resolve("blobs").toString()));
        // the .qim and the on-the-fly conversion evaluate identically
        JsonNode a = new ObjectMapper().readTree(capture(exit, "eval", "--checkpoint", qim.toString(), "--limit-test",
                "100", "--data", data.toString(), "--json"));
        JsonNode b = new ObjectMapper().readTree(capture(exit, "eval", "--checkpoint", RESNET, "--integer",
                "--limit-test", "100", "--data", data.toString(), "--json"));
        assertEquals(100, a.get("images").asInt());
        assertEquals(a.get("confusion_matrix"), b.get("confusion_matrix"));
        assertTrue(a.get("accuracy").asDouble() > 0.8, a.toString());
    }

    @Test
    void intEvalJsonHasTheComparisonTheHardwareReportAndTheSweep(@TempDir Path dir) throws Exception {
        Path data = TestData.cifar10();
        Assumptions.assumeTrue(data != null, "no CIFAR-10: set QAT4J_DATA");
        int[] exit = new int[1];
        String out = capture(exit, "int-eval", "--checkpoint", RESNET, "--limit-test", "100", "--data", data.toString(),
                "--sweep", "dyadic16,ap_fixed<16,8>,ap_fixed<8,1>", "--json");
        assertEquals(0, exit[0], out);
        JsonNode j = new ObjectMapper().readTree(out);
        assertEquals(100, j.get("images").asInt());
        assertTrue(j.get("top1_agreement").asDouble() >= 0.97, out);
        assertEquals(20, j.get("layers").size());
        JsonNode fc = j.get("layers").get(19);
        assertEquals("fc", fc.get("name").asText());
        assertTrue(fc.get("int32_can_overflow").asBoolean(), "16-bit FC weights x pooled sums need int64");
        assertEquals(3, j.get("sweep").size());
        assertTrue(j.get("sweep").get(0).has("integer_accuracy"));
        assertTrue(j.get("sweep").get(2).get("error").asText().contains("integer bits"), "ap_fixed<8,1> cannot hold "
                + "the residual rescale: " + j.get("sweep").get(2));
    }

    @Test
    void badInputIsRefusedWithExitCode2(@TempDir Path dir) throws Exception {
        Path qim = dir.resolve("x.qim");
        // a checkpoint of another model than the one asked for
        assertEquals(2, Main.run("convert", "--checkpoint", RESNET, "--out", qim.toString(), "--model", "toynet"));
        // a format with too few integer bits for a multiplier
        assertEquals(2, Main.run("convert", "--checkpoint", RESNET, "--out", qim.toString(), "--format", "ap_fixed<8,1>"));
        assertEquals(2, Main.run("convert", "--checkpoint", RESNET, "--out", qim.toString(), "--format", "dyadic99"));
        assertTrue(!Files.exists(qim), "nothing written when conversion fails");
        assertEquals(0, Main.run("convert", "--checkpoint", RESNET, "--out", qim.toString()));
        // an integer model where a training checkpoint is expected, and the other way round
        assertEquals(2, Main.run("convert", "--checkpoint", qim.toString(), "--out", dir.resolve("y.qim").toString()));
        assertEquals(2, Main.run("export", "--model", RESNET, "--blobs", dir.resolve("b").toString()));
        assertEquals(2, Main.run("export", "--model", qim.toString()));
    }
}
