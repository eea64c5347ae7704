package dev.qat4j.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.checkpoint.Checkpoint;
import dev.qat4j.checkpoint.CheckpointIO;
import dev.qat4j.nn.ActQuant;
import dev.qat4j.nn.Module;
import dev.qat4j.nn.Parameter;
import dev.qat4j.nn.Step;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ResNet20's tied residual clips ({@link BitWidths#withTiedResidualClips}, preset {@code int8-mpact-e2e-tied}): one
 * α parameter per stage shared by the residual stream's quantizers, its gradient the sum of theirs, checkpoints,
 * fine-tuning from an untied checkpoint, the file key and every refusal.
 */
class TiedResidualClipsTest {
    private static final Backend REF = RefBackend.INSTANCE;
    private static final String RN = "resnet20";
    private static final String TIED = "int8-mpact-e2e-tied";

    @TempDir
    Path dir;

    /** The quantizers of each stage's residual stream, by name. */
    private static final List<List<String>> STREAMS = List.of(
        List.of("stem.q", "s0.b0.out.q", "s0.b1.out.q", "s0.b2.out.q"),
        List.of("s1.b0.shortcut.q", "s1.b0.out.q", "s1.b1.out.q", "s1.b2.out.q"),
        List.of("s2.b0.shortcut.q", "s2.b0.out.q", "s2.b1.out.q", "s2.b2.out.q"));

    private static Map<String, ActQuant> quantizers(QuantModel m) {
        Map<String, ActQuant> out = new LinkedHashMap<>();
        collect(m.net(), out);
        return out;
    }

    private static void collect(Module mod, Map<String, ActQuant> out) {
        if (mod instanceof ActQuant q) {
            out.put(q.name(), q);
        }
        for (Module c : mod.children()) {
            collect(c, out);
        }
    }

    private static QuantModel build(String preset, long seed) {
        return Models.build(RN, BitWidths.preset(RN, preset), REF, seed);
    }

    private static IllegalArgumentException refused(Runnable r) {
        return assertThrows(IllegalArgumentException.class, r::run);
    }

    private static void assertContains(String message, String... parts) {
        for (String p : parts) {
            assertTrue(message.contains(p), "'" + p + "' missing from: " + message);
        }
    }

    @Test
    void eachStreamSharesOneParameterAndNothingElseDoes() {
        try (QuantModel m = build(TIED, 1); QuantModel untied = build("int8-mpact-e2e", 1)) {
            Map<String, ActQuant> q = quantizers(m);
            for (int s = 0; s < 3; s++) {
                Parameter shared = q.get(STREAMS.get(s).get(0)).alpha();
                assertEquals(Models.residualAlphaName(s), shared.name());
                assertEquals(10f, shared.value().toFloatArray()[0]);
                for (String name : STREAMS.get(s)) {
                    assertSame(shared, q.get(name).alpha(), name + " uses stage " + s + "'s α");
                    assertTrue(q.get(name).sharesAlpha(), name);
                }
                assertNotSame(shared, q.get("s" + s + ".b0.q1").alpha(), "the inner quantizer keeps its own α");
            }
            assertFalse(q.get("input_q").sharesAlpha());
            assertFalse(q.get("s1.b1.q1").sharesAlpha());
            // listed once each: 22 α untied (input, stem, 9 q1, 9 out, 2 shortcut), 13 tied (input, 9 q1, 3 streams)
            List<String> alphas = m.parameters().stream().filter(p -> p.kind() == Parameter.Kind.ALPHA)
                .map(Parameter::name).toList();
            assertEquals(13, alphas.size(), alphas.toString());
            assertEquals(alphas.size(), alphas.stream().distinct().count(), alphas.toString());
            assertEquals(22, untied.parameters().stream().filter(p -> p.kind() == Parameter.Kind.ALPHA).count());
            assertEquals(untied.paramCount(), m.paramCount(), "α are not counted, weights are the same");
            assertEquals(Map.of(Models.residualAlphaName(0), names(STREAMS.get(0)),
                Models.residualAlphaName(1), names(STREAMS.get(1)), Models.residualAlphaName(2), names(STREAMS.get(2))),
                ModelState.tiedAlphas(m));
            assertTrue(ModelState.tiedAlphas(untied).isEmpty());
        }
    }

    private static List<String> names(List<String> quantizers) {
        return quantizers.stream().map(n -> n + ".alpha").toList();
    }

    /**
     * The same weights tied and untied, every stream α at one small value so that values clip: the forward is the
     * same and the tied α's gradient is the sum of the untied ones' (and nonzero).
     */
    @Test
    void theSharedGradientIsTheSumOfTheQuantizersGradients() {
        float clip = 0.6f;
        try (QuantModel tied = build(TIED, 3); QuantModel untied = build("int8-mpact-e2e", 3)) {
            Map<String, ActQuant> qt = quantizers(tied), qu = quantizers(untied);
            for (List<String> stream : STREAMS) {
                for (String n : stream) {
                    setAlpha(qt.get(n).alpha(), clip);
                    setAlpha(qu.get(n).alpha(), clip);
                }
            }
            SplittableRandom rnd = new SplittableRandom(5);
            int n = 2;
            float[] img = new float[n * 3 * 32 * 32];
            for (int i = 0; i < img.length; i++) {
                img[i] = (float) (rnd.nextDouble() * 4 - 2);
            }
            float[] dl = new float[n * 10];
            for (int i = 0; i < dl.length; i++) {
                dl[i] = (float) (rnd.nextDouble() - 0.5);
            }
            float[] logitsT = backward(tied, img, dl, n);
            float[] logitsU = backward(untied, img, dl, n);
            assertEquals(java.util.Arrays.toString(logitsU), java.util.Arrays.toString(logitsT),
                "tied and untied compute the same forward with equal clips");
            for (int s = 0; s < 3; s++) {
                double sum = 0;
                int nonzero = 0;
                for (String name : STREAMS.get(s)) {
                    float gi = qu.get(name).alpha().grad().toFloatArray()[0];
                    sum += gi;
                    nonzero += gi != 0f ? 1 : 0;
                }
                assertTrue(nonzero >= 2, "stage " + s + ": several quantizers contribute (" + nonzero + ")");
                float got = qt.get(STREAMS.get(s).get(0)).alpha().grad().toFloatArray()[0];
                assertTrue(Math.abs(sum) > 1e-3, "stage " + s + ": the stream's quantizers clip, so α has a gradient");
                assertEquals(sum, got, 1e-4 * Math.max(1, Math.abs(sum)), "stage " + s);
            }
            // a second pass starts the sum afresh (not added to the first pass's)
            float before = qt.get("stem.q").alpha().grad().toFloatArray()[0];
            backward(tied, img, dl, n);
            assertEquals(before, qt.get("stem.q").alpha().grad().toFloatArray()[0], 1e-4 * Math.max(1, Math.abs(before)));
            // the optimizer updates the shared α once per step, with the summed gradient (plain SGD: α - lr g)
            Parameter shared = qt.get("stem.q").alpha();
            float g = shared.grad().toFloatArray()[0];
            try (dev.qat4j.train.Optimizer sgd = new dev.qat4j.train.Optimizer(tied.parameters(), 0f, 0f, false, true,
                    0f)) {
                sgd.step(0.5f);
            }
            assertEquals(clip - 0.5f * g, shared.value().toFloatArray()[0], 1e-6f);
            assertSame(shared, qt.get("s0.b2.out.q").alpha());
        }
    }

    private static void setAlpha(Parameter p, float v) {
        p.setValue(p.value().backend().fromFloats(new float[] {v}, 1));
    }

    private static float[] backward(QuantModel m, float[] img, float[] dl, int n) {
        try (Step step = new Step(REF, true)) {
            Tensor x = step.keep(REF.fromFloats(img, n, 3, 32, 32));
            float[] logits = m.forward(step, x).toFloatArray();
            m.backward(step, step.keep(REF.fromFloats(dl, n, 10)));
            return logits;
        }
    }

    @Test
    void aTiedCheckpointRoundTripsAndKeepsTheTie() throws IOException {
        Path file = dir.resolve("tied.qck");
        try (QuantModel m = build(TIED, 4)) {
            Map<String, ActQuant> q = quantizers(m);
            setAlpha(q.get("stem.q").alpha(), 7.25f);
            setAlpha(q.get("s2.b2.out.q").alpha(), 6.5f);
            CheckpointIO.write(file, ModelState.save(m, Map.of()));
        }
        Checkpoint c = CheckpointIO.read(file);
        assertTrue(c.tensors().containsKey("s0.residual.alpha"));
        assertFalse(c.tensors().containsKey("s0.b0.out.q.alpha"), "a tied quantizer has no α of its own");
        assertFalse(c.tensors().containsKey("stem.q.alpha"));
        BitWidths bits = BitWidths.fromYaml(c.metaString(ModelState.BITS_KEY), RN, "checkpoint");
        assertEquals(BitWidths.preset(RN, TIED), bits);
        try (QuantModel back = Models.build(RN, bits, REF, 9)) {
            ModelState.load(back, c);
            Map<String, ActQuant> q = quantizers(back);
            assertEquals(7.25f, q.get("s0.b2.out.q").alpha().value().toFloatArray()[0]);
            assertEquals(6.5f, q.get("s2.b0.shortcut.q").alpha().value().toFloatArray()[0]);
            assertSame(q.get("stem.q").alpha(), q.get("s0.b1.out.q").alpha(), "still one parameter after loading");
        }
        // strict loading of a tied checkpoint into an untied model names what does not match
        try (QuantModel untied = build("int8-mpact-e2e", 9)) {
            String msg = refused(() -> ModelState.load(untied, c)).getMessage();
            assertContains(msg, "'s0.b0.out.q.alpha'", "missing from the checkpoint", "'s0.residual.alpha'",
                "is not in model");
        }
    }

    /**
     * Fine-tuning a tied model from an untied checkpoint of the same network ({@code train --init}): each shared α
     * starts at the mean of its quantizers' α, every other tensor loads as it is; strict loading refuses.
     */
    @Test
    void fineTuningFromAnUntiedCheckpointTakesTheMeanOfTheStream() throws IOException {
        Path file = dir.resolve("untied.qck");
        Map<String, Float> values = new LinkedHashMap<>();
        try (QuantModel m = build("int8-mpact-e2e", 6)) {
            Map<String, ActQuant> q = quantizers(m);
            float v = 6f;
            for (List<String> stream : STREAMS) {
                for (String n : stream) {
                    setAlpha(q.get(n).alpha(), v);
                    values.put(n, v);
                    v += 0.5f;
                }
            }
            setAlpha(q.get("s1.b1.q1").alpha(), 3.5f);
            CheckpointIO.write(file, ModelState.save(m, Map.of()));
        }
        Checkpoint c = CheckpointIO.read(file);
        try (QuantModel tied = build(TIED, 7)) {
            String msg = refused(() -> ModelState.load(tied, c)).getMessage();
            assertContains(msg, "'s0.residual.alpha'", "missing from the checkpoint", "'stem.q.alpha'");
            List<String> fresh = ModelState.loadForFineTune(tied, c);
            assertEquals(List.of(), fresh, "every α has a value from the checkpoint");
            Map<String, ActQuant> q = quantizers(tied);
            for (List<String> stream : STREAMS) {
                double mean = stream.stream().mapToDouble(values::get).average().orElseThrow();
                assertEquals((float) mean, q.get(stream.get(0)).alpha().value().toFloatArray()[0], stream.toString());
            }
            assertEquals(3.5f, q.get("s1.b1.q1").alpha().value().toFloatArray()[0]);
            assertSame(q.get("s1.b0.shortcut.q").alpha(), q.get("s1.b2.out.q").alpha());
        }
        // a checkpoint without any α (an FP32 one, say): the shared α keep their initial value and are reported
        try (QuantModel fp = build("fp32", 6); QuantModel tied = build(TIED, 7)) {
            List<String> fresh = ModelState.loadForFineTune(tied, ModelState.save(fp, Map.of()));
            assertTrue(fresh.containsAll(List.of("s0.residual.alpha", "s1.residual.alpha", "s2.residual.alpha")),
                fresh.toString());
            assertEquals(10f, quantizers(tied).get("stem.q").alpha().value().toFloatArray()[0]);
        }
    }

    /** The end-to-end checkpoint of the repository (written before the tie existed) still loads, untied. */
    @Test
    void theCommittedUntiedCheckpointStillLoads() throws IOException {
        Path file = Path.of("bench/results/integer/e2e/resnet20-int8-mpact-e2e.qck");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(file), "no checkpoint " + file);
        Checkpoint c = CheckpointIO.read(file);
        BitWidths bits = BitWidths.fromYaml(c.metaString(ModelState.BITS_KEY), RN, file.toString());
        assertFalse(bits.tiedResidualClips());
        assertEquals(BitWidths.preset(RN, "int8-mpact-e2e"), bits);
        try (QuantModel m = Models.build(RN, bits, REF, 0)) {
            ModelState.load(m, c);
            assertTrue(ModelState.tiedAlphas(m).isEmpty());
            assertEquals(c.tensor("stem.q.alpha").floats()[0],
                quantizers(m).get("stem.q").alpha().value().toFloatArray()[0]);
        }
        try (QuantModel tied = build(TIED, 0)) {
            ModelState.loadForFineTune(tied, c);
            float expected = (float) ((c.tensor("stem.q.alpha").floats()[0] + c.tensor("s0.b0.out.q.alpha").floats()[0]
                + c.tensor("s0.b1.out.q.alpha").floats()[0] + c.tensor("s0.b2.out.q.alpha").floats()[0]) / 4.0);
            assertEquals(expected, quantizers(tied).get("s0.b0.out.q").alpha().value().toFloatArray()[0], 1e-6f);
        }
    }

    // ---- bit widths -------------------------------------------------------------------------------------------

    @Test
    void thePresetIsTheEndToEndPresetWithTheTie() {
        BitWidths t = BitWidths.preset(RN, TIED);
        BitWidths e = BitWidths.preset(RN, "int8-mpact-e2e");
        assertTrue(t.tiedResidualClips());
        assertFalse(e.tiedResidualClips());
        assertNotEquals(e, t);
        assertEquals(e.withTiedResidualClips(true), t);
        assertEquals(e, t.withTiedResidualClips(false));
        assertEquals(e.withTiedResidualClips(true).hashCode(), t.hashCode());
        assertTrue(BitWidths.presetNames(RN).contains(TIED));
        assertTrue(t.toString().contains("tie_residual_alpha"), t.toString());
        // a kind suffix keeps the tie where the kind has α
        assertTrue(BitWidths.preset(RN, TIED + "-pact").tiedResidualClips());
        assertEquals(ActQuantizer.Kind.PACT, BitWidths.preset(RN, TIED + "-pact").activationOverride());
    }

    @Test
    void theFileKeyReadsAndWrites() throws IOException {
        BitWidths t = BitWidths.preset(RN, TIED);
        String yaml = t.toYaml();
        assertTrue(yaml.contains("\ntie_residual_alpha: true"), yaml);
        assertFalse(BitWidths.preset(RN, "int8-mpact-e2e").toYaml().contains("tie_residual_alpha"));
        assertEquals(t, BitWidths.fromYaml(yaml, RN, "yaml"));
        assertEquals(t, BitWidths.load(write("a.yaml", "model: resnet20\nbase: int8-mpact-e2e\ntie_residual_alpha: true\n"),
            RN));
        assertEquals(t, BitWidths.load(write("b.json",
            "{\"model\": \"resnet20\", \"base\": \"int8-mpact-e2e\", \"tie_residual_alpha\": true}"), RN));
        assertEquals(BitWidths.preset(RN, "int8-mpact-e2e"),
            BitWidths.load(write("c.yaml", "model: resnet20\nbase: int8-mpact-e2e-tied\ntie_residual_alpha: false\n"), RN));
        assertEquals(t, BitWidths.load(write("d.yaml", "model: resnet20\nbase: int8-mpact-e2e-tied\n"), RN),
            "the base preset's tie is the default");
        Path notBoolean = write("e.yaml", "model: resnet20\nbase: int8-mpact-e2e\ntie_residual_alpha: yes please\n");
        String msg = refused(() -> BitWidths.load(notBoolean, RN)).getMessage();
        assertContains(msg, "'tie_residual_alpha' must be true or false");
        Path dorefa = write("f.yaml", "model: resnet20\nbase: int8\ntie_residual_alpha: true\n");
        msg = refused(() -> BitWidths.load(dorefa, RN)).getMessage();
        assertContains(msg, "tie_residual_alpha", "dorefa", "no α to tie");
    }

    private Path write(String name, String text) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, text);
        return p;
    }

    @Test
    void misuseIsRefusedWithTheReason() {
        BitWidths e2e = BitWidths.preset(RN, "int8-mpact-e2e");
        assertContains(refused(() -> BitWidths.preset("toynet", "cfg1-star-e2e").withTiedResidualClips(true))
            .getMessage(), "toynet", "resnet20 only");
        assertContains(refused(() -> BitWidths.preset(RN, "int8").withTiedResidualClips(true)).getMessage(),
            "abit[0, 1, 2, 3, 4, 5, 6, 7, 8] are quantized by dorefa, which has no α to tie", "act: pact or mpact");
        assertFalse(refused(() -> BitWidths.preset(RN, "int8").withTiedResidualClips(true)).getMessage().contains("\n"),
            "one line for one kind");
        assertContains(refused(() -> BitWidths.preset(RN, TIED + "-dorefa")).getMessage(), "no α to tie");
        assertContains(refused(() -> e2e.withActivation(ActQuantizer.Kind.FIXED_CLIP, 2f).withTiedResidualClips(true))
            .getMessage(), "fixed-clip", "no α to tie");
        assertContains(refused(() -> BitWidths.preset(RN, TIED).withBranchOutputQuant(false)).getMessage(),
            "branch_out_quant: true", "s1.b0 and s2.b0");
        assertContains(refused(() -> e2e.withBranchOutputQuant(false).withTiedResidualClips(true)).getMessage(),
            "branch_out_quant");
        // one stream at two bit widths: the stem output at 6 bits, block 0's output at 8
        assertContains(refused(() -> BitWidths.preset(RN, TIED).withOverrides(Map.of(9, 6), Map.of())).getMessage(),
            "abit[0] = 8 and abit[9] = 6", "one bit width");
        // an override inside one stage that moves the whole stage is fine (abit[3..5] one stream, all at 6)
        assertTrue(BitWidths.preset(RN, TIED).withOverrides(Map.of(3, 6, 4, 6, 5, 6), Map.of()).tiedResidualClips());
        assertContains(refused(() -> BitWidths.preset(RN, TIED).withOverrides(Map.of(4, 6), Map.of())).getMessage(),
            "abit[4] = 6 and abit[3] = 8");
        // nothing to tie: every stream quantizer at 32 bits
        Map<Integer, Integer> off = new LinkedHashMap<>();
        for (int i = 0; i <= 9; i++) {
            off.put(i, 32);
        }
        assertContains(refused(() -> BitWidths.preset(RN, TIED).withOverrides(off, Map.of())).getMessage(),
            "nothing to tie");
        // a quantizer without α cannot take a shared one
        Parameter p = new Parameter("x.alpha", Parameter.Kind.ALPHA, REF.fromFloats(new float[] {1f}, 1));
        assertContains(assertThrows(IllegalArgumentException.class,
            () -> new ActQuant("q", new ActQuantizer(ActQuantizer.Kind.DOREFA, 8, 0f), p)).getMessage(),
            "only a PACT or mPACT quantizer");
        Parameter w = new Parameter("w", Parameter.Kind.WEIGHT, REF.fromFloats(new float[] {1f}, 1));
        assertContains(assertThrows(IllegalArgumentException.class,
            () -> new ActQuant("q", new ActQuantizer(ActQuantizer.Kind.MPACT, 8, 0f), w)).getMessage(),
            "one ALPHA parameter");
        p.close();
        w.close();
    }

    @Test
    void theStreamsTableMatchesTheBuiltModel() {
        // every stream index of BitWidths is read by exactly the quantizers that share that stage's α
        List<List<Integer>> streams = new ArrayList<>();
        for (int[] s : BitWidths.RESNET20_RESIDUAL_STREAMS) {
            streams.add(java.util.Arrays.stream(s).boxed().toList());
        }
        assertEquals(List.of(List.of(9, 0, 1, 2), List.of(3, 4, 5), List.of(6, 7, 8)), streams);
        // a stage whose stream is off entirely builds no shared α for it; the others still share
        Map<Integer, Integer> off = new LinkedHashMap<>();
        for (int i : new int[] {6, 7, 8}) {
            off.put(i, 32);
        }
        try (QuantModel m = Models.build(RN, BitWidths.preset(RN, TIED).withOverrides(off, Map.of()), REF, 1)) {
            assertEquals(List.of("s0.residual.alpha", "s1.residual.alpha"),
                List.copyOf(ModelState.tiedAlphas(m).keySet()));
            assertFalse(quantizers(m).get("s2.b0.out.q").sharesAlpha());
            assertEquals(null, quantizers(m).get("s2.b0.out.q").alpha(), "32 bits: no α");
        }
    }
}
