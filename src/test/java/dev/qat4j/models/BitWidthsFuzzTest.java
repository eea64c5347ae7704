package dev.qat4j.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.fuzz.Fuzz;
import dev.qat4j.fuzz.Mutation;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fuzzes the bit-width config reader ({@link BitWidths#load}, YAML and JSON): valid configs (full arrays from
 * {@link BitWidths#toYaml()}, sparse overrides, JSON forms) with byte mutations and inserted YAML/JSON tokens
 * (anchors, aliases, tags, documents, flow collections, deep nesting, numbers past int range). Every input must
 * give bit widths that read back equal from their own YAML, or an {@link IllegalArgumentException} whose message
 * starts with {@code bit widths file <path>}; nothing else.
 */
class BitWidthsFuzzTest {
    @TempDir
    Path dir;

    private static final List<String> YAML_SEEDS = List.of(
        BitWidths.preset("toynet", "cfg1").toYaml(),
        "model: toynet\nbase: cfg3\nabit: {3: 4}\nwbit: {2: 6, 3: 6}\n",
        "model: resnet20\nbase: int8\nwbit:\n  0: 4\n  5: 32\n",
        "# comment\nmodel: mobilenetv2\nbase: cfg1-star\n",
        BitWidths.preset("resnet20", "int4-mpact").toYaml(),
        "model: resnet20\nbase: int8\nact: mpact\nabit: {1: 4}\n");
    private static final List<String> JSON_SEEDS = List.of(
        "{\"model\": \"toynet\", \"base\": \"cfg1\", \"abit\": {\"3\": 4}, \"wbit\": {\"2\": 6}}",
        "{\"model\": \"resnet20\", \"base\": \"int4\"}",
        "{\"model\": \"resnet20\", \"base\": \"int6-mpact\", \"act\": \"pact\"}",
        "{\"model\":\"toynet\",\"abit\":" + java.util.Arrays.toString(BitWidths.preset("toynet", "cfg2").abit())
            + ",\"wbit\":" + java.util.Arrays.toString(BitWidths.preset("toynet", "cfg2").wbit()) + "}");
    private static final List<String> TOKENS = List.of("&a ", "*a", "!!binary ", "!!java.lang.Object ", "---\n",
        "...\n", "? ", "- ", "{", "}", "[", "]", ": ", ",", "\"", "'", "\t", "\n", "<<: *a\n", "%YAML 1.1\n",
        "1e999", "0x10", "0o17", ".inf", "~", "null", "2147483648", "-2147483649", "99999999999999999999", "-0",
        "\u0000", "\uFEFF", "[".repeat(3000), "{a: ".repeat(1000), "model: toynet\n", "abit: ", "wbit: ",
        "base: fp32\n", "abit: {-1: 4}\n", "wbit: [8, 8]\n", "act: ", "mpact", "dorefa", "act: fixed\n");

    private static byte[] insert(byte[] in, String token, int at) {
        byte[] t = token.getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[in.length + t.length];
        System.arraycopy(in, 0, out, 0, at);
        System.arraycopy(t, 0, out, at, t.length);
        System.arraycopy(in, at, out, at + t.length, in.length - at);
        return out;
    }

    @Test
    void yamlAndJson() {
        Fuzz.Report r = Fuzz.run("bit-widths", 3000, in -> {
            boolean json = in.chance(0.4);
            String seedText = in.pick(json ? JSON_SEEDS : YAML_SEEDS);
            in.note((json ? "json: " : "yaml: ") + seedText.lines().findFirst().orElse(""));
            byte[] b = seedText.getBytes(StandardCharsets.UTF_8);
            int tokens = in.random.nextInt(3);
            for (int k = 0; k < tokens; k++) {
                String tok = in.pick(TOKENS);
                int at = in.random.nextInt(b.length + 1);
                in.note("insert " + (tok.length() > 12 ? tok.substring(0, 12) + "...x" + tok.length() : tok)
                    + " at " + at);
                b = insert(b, tok, at);
            }
            if (tokens == 0 || in.chance(0.5)) {
                b = Mutation.applyAll(b, in.mutations(3));
            }
            String model = in.chance(0.9) ? modelOf(seedText) : "resnet20";
            Path file = dir.resolve(json ? "bits.json" : "bits.yaml");
            Files.write(file, b);
            long before = Fuzz.allocatedBytes();
            String outcome;
            try {
                BitWidths w = BitWidths.load(file, model);
                outcome = "valid";
                assertEquals(model, w.model());
                assertEquals(w, BitWidths.fromYaml(w.toYaml(), model, "round trip"));
            } catch (Throwable t) {
                assertSame(IllegalArgumentException.class, t.getClass(), () -> "not a clear config error: " + t);
                assertTrue(t.getMessage().startsWith("bit widths file " + file), t.getMessage());
                outcome = "IllegalArgumentException";
            }
            Fuzz.assertAllocationBounded(before, 64L * b.length, "bit widths");
            return outcome;
        });
        assertTrue(r.count("valid") > 0 && r.invalid() > 0, r.toString());
    }

    /** Alias expansion ("billion laughs") and deep nesting end in a clear error, not in memory or stack use. */
    @Test
    void aliasBombsAndDeepNestingAreClearErrors() throws Exception {
        StringBuilder bomb = new StringBuilder("model: toynet\nx0: &x0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n");
        for (int i = 1; i < 10; i++) {
            bomb.append("x").append(i).append(": &x").append(i).append(" [");
            for (int k = 0; k < 10; k++) {
                bomb.append(k == 0 ? "" : ", ").append("*x").append(i - 1);
            }
            bomb.append("]\n");
        }
        bomb.append("abit: *x9\n");
        List<String> inputs = List.of(bomb.toString(), "model: toynet\nabit: " + "[".repeat(100_000),
            "model: toynet\nabit: " + "{a: ".repeat(50_000));
        for (String text : inputs) {
            Path file = dir.resolve("bomb.yaml");
            Files.writeString(file, text);
            long before = Fuzz.allocatedBytes();
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> BitWidths.load(file, "toynet"));
            assertTrue(e.getMessage().startsWith("bit widths file " + file), e.getMessage());
            Fuzz.assertAllocationBounded(before, 64L * text.length(), "bit widths");
        }
    }

    private static String modelOf(String seed) {
        for (String m : List.of("toynet", "resnet20", "mobilenetv2")) {
            if (seed.contains(m)) {
                return m;
            }
        }
        throw new AssertionError(seed);
    }
}
