package dev.qat4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
    /** The same network fine-tuned into its end-to-end preset: integer from the image codes on, so ONNX int8 works. */
    static final String RESNET_E2E = "bench/results/integer/e2e/resnet20-int8-mpact-e2e.qck";

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
                dir.resolve("c").toString());
        assertEquals(0, exit[0], out);
        // its float prefix has no int8 ONNX form: refused, naming the layer, nothing written
        String err = MainTest.captureErr(exit, "export", "--model", qim.toString(), "--onnx",
                dir.resolve("r.onnx").toString());
        assertEquals(2, exit[0], err);
        assertTrue(err.contains("not integer end to end") && err.contains("stem.conv"), err);
        assertTrue(!Files.exists(dir.resolve("r.onnx")));
        Path e2e = dir.resolve("e2e.qim");
        out = capture(exit, "convert", "--checkpoint", RESNET_E2E, "--out", e2e.toString());
        assertEquals(0, exit[0], out);
        assertTrue(out.contains("integer from input to logits"), out);
        out = capture(exit, "export", "--model", e2e.toString(), "--onnx", dir.resolve("r.onnx").toString());
        assertEquals(0, exit[0], out);
        assertTrue(Files.size(dir.resolve("r.onnx")) > 100_000, "the ONNX file holds the weights");
        assertTrue(out.contains("note: 1 residual layer(s) weigh the residual by a non-integer number of output codes "
                + "(s0.b0.out.q)"), out);
        assertTrue(out.contains("note: the int8 form rounds each conv bias to whole accumulator units (here by up to "),
                out);
        // converted with biases in accumulator units: ONNX Runtime computes exactly that model's biases, no bias note
        Path accBias = dir.resolve("e2e-accbias.qim");
        assertEquals(0, Main.run("convert", "--checkpoint", RESNET_E2E, "--out", accBias.toString(),
                "--accumulator-bias"));
        out = capture(exit, "export", "--model", accBias.toString(), "--onnx", dir.resolve("r2.onnx").toString());
        assertEquals(0, exit[0], out);
        assertFalse(out.contains("rounds each conv bias"), out);
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
    void evalWritesEachImagesPredictionAndLogits(@TempDir Path dir) throws Exception {
        Path data = TestData.cifar10();
        Assumptions.assumeTrue(data != null, "no CIFAR-10: set QAT4J_DATA");
        int[] exit = new int[1];
        Path qim = dir.resolve("r.qim"), intCsv = dir.resolve("int.csv"), floatCsv = dir.resolve("float.csv");
        assertEquals(0, Main.run("convert", "--checkpoint", RESNET, "--out", qim.toString()));
        for (Path[] run : new Path[][] {{qim, intCsv}, {Path.of(RESNET), floatCsv}}) {
            JsonNode r = new ObjectMapper().readTree(capture(exit, "eval", "--checkpoint", run[0].toString(),
                    "--limit-test", "60", "--data", data.toString(), "--json", "--predictions", run[1].toString()));
            assertEquals(0, exit[0]);
            java.util.List<String> lines = Files.readAllLines(run[1]);
            assertEquals(61, lines.size(), "a header and one line per image");
            assertEquals("image,label,prediction,logit_0,logit_1,logit_2,logit_3,logit_4,logit_5,logit_6,logit_7,"
                    + "logit_8,logit_9", lines.get(0));
            int hits = 0;
            for (int i = 1; i < lines.size(); i++) {
                String[] f = lines.get(i).split(",");
                assertEquals(13, f.length, lines.get(i));
                assertEquals(i - 1, Integer.parseInt(f[0]));
                int best = 0;
                for (int k = 1; k < 10; k++) {
                    best = Double.parseDouble(f[3 + k]) > Double.parseDouble(f[3 + best]) ? k : best;
                    if (run[0] == qim) {
                        Long.parseLong(f[3 + k]); // an integer model's logits are its exact int64 outputs
                    }
                }
                assertEquals(best, Integer.parseInt(f[2]), "the prediction is the largest logit: " + lines.get(i));
                hits += f[1].equals(f[2]) ? 1 : 0;
            }
            assertEquals(r.get("accuracy").asDouble() * 60, hits, 1e-9, "the file agrees with the reported accuracy");
        }
        // an existing file is not replaced without --overwrite; --overwrite alone is refused
        String before = Files.readString(intCsv);
        assertEquals(2, Main.run("eval", "--checkpoint", qim.toString(), "--limit-test", "5", "--data",
                data.toString(), "--predictions", intCsv.toString()));
        assertEquals(before, Files.readString(intCsv));
        assertEquals(2, Main.run("eval", "--checkpoint", qim.toString(), "--overwrite"));
        assertEquals(0, Main.run("eval", "--checkpoint", qim.toString(), "--limit-test", "5", "--data",
                data.toString(), "--predictions", intCsv.toString(), "--overwrite"));
        assertEquals(6, Files.readAllLines(intCsv).size());
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
    void convertSaysWhetherTheModelIsIntegerEndToEndAndEndToEndRefusesOneThatIsNot(@TempDir Path dir) {
        int[] exit = new int[1];
        Path qim = dir.resolve("r.qim");
        String out = capture(exit, "convert", "--checkpoint", RESNET, "--out", qim.toString());
        assertEquals(0, exit[0], out);
        String why = "not integer end to end: stem.conv runs in float (32-bit weights); the preset int8-mpact-e2e makes "
                + "resnet20 integer from input to logits (train or fine-tune into it: qat4j train --model resnet20 --bits "
                + "int8-mpact-e2e --init CHECKPOINT)";
        assertTrue(out.contains(why), out);

        Path strict = dir.resolve("strict.qim");
        String err = MainTest.captureErr(exit, "convert", "--checkpoint", RESNET, "--out", strict.toString(),
                "--end-to-end");
        assertEquals(2, exit[0], err);
        assertTrue(err.contains("is not integer end to end: stem.conv runs in float (32-bit weights); the preset "
                + "int8-mpact-e2e makes resnet20 integer from input to logits"), err);
        assertTrue(err.strip().lines().count() == 1 && err.contains("nothing written"), err);
        assertTrue(!Files.exists(strict), "nothing written");
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

    @Test
    void badSweepEntriesAndSeedFormatsAreOneLineNamingTheValue() {
        String toynet = "bench/results/cpu/toynet-cfg1-star.qck";
        for (String[] c : new String[][] {
            {"--sweep", "seed<16,8>-rounding", "seed<16,8>-rounding"},
            {"--sweep", "dyadic32,seed<16,8>x", "seed<16,8>x"},
            {"--sweep", "ap_fixed<16>", "ap_fixed<16>"},
            {"--format", "seed<99,8>", "seed<99,8>"}}) {
            java.io.PrintStream old = System.err;
            java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
            System.setErr(new java.io.PrintStream(buf, true, java.nio.charset.StandardCharsets.UTF_8));
            int exit;
            try {
                exit = Main.run("int-eval", "--checkpoint", toynet, "--data", "/nonexistent-but-not-read", c[0], c[1]);
            } finally {
                System.setErr(old);
            }
            String err = buf.toString(java.nio.charset.StandardCharsets.UTF_8);
            assertEquals(2, exit, err);
            assertTrue(err.startsWith("qat4j int-eval: ") && err.contains("'" + c[2] + "'")
                    && err.strip().lines().count() == 1, err);
        }
    }

    @Test
    void intEvalHelpDocumentsTheSeedSweepSyntax() {
        int[] exit = new int[1];
        String out = capture(exit, "int-eval", "--help");
        assertEquals(0, exit[0], out);
        assertTrue(out.contains("seed<W,I>-DEV / +DEV") && out.contains("trunc, lowclamp, fixm, fixb, f32, stem, pool, bnconv,")
                && out.contains("seed<32,10>, seed<16,8>, seed<16,6>"), out);
    }
}
