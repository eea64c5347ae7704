package dev.qat4j.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.nn.ActQuant;
import dev.qat4j.nn.Module;
import dev.qat4j.quant.ActQuantizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The activation quantizer kind chosen for a whole model (DoReFa, PACT, mPACT, fixed-clip PACT), ResNet20's
 * branch-output switch and its stem-output index: what the bit widths say, what the built network contains, and that
 * files and checkpoint YAML keep the choice.
 */
class QuantizerChoiceTest {
    @TempDir
    Path dir;

    private static final String[][] MODEL_PRESETS = {
        {BitWidths.TOYNET, "cfg1-star"}, {BitWidths.MOBILENETV2, "cfg1-star"}, {BitWidths.RESNET20, "int8"}};

    private static List<ActQuant> quantizers(Module m) {
        List<ActQuant> out = new ArrayList<>();
        if (m instanceof ActQuant q) {
            out.add(q);
        }
        for (Module c : m.children()) {
            out.addAll(quantizers(c));
        }
        return out;
    }

    private Path write(String name, String text) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, text, StandardCharsets.UTF_8);
        return p;
    }

    @Test
    void everyKindGoesToEverySeedPlacementButTheRawImage() {
        RefBackend ref = RefBackend.INSTANCE;
        for (String[] mp : MODEL_PRESETS) {
            BitWidths seed = BitWidths.preset(mp[0], mp[1]);
            int seedCount;
            try (QuantModel m = Models.build(mp[0], seed, ref, 1)) {
                seedCount = quantizers(m.net()).size();
            }
            for (ActQuantizer.Kind kind : ActQuantizer.Kind.values()) {
                BitWidths b = seed.withActivation(kind, 4f);
                // the network input: toynet's and mobilenetv2's abit[0], resnet20's abit[10] (beyond the seed)
                int input = mp[0].equals(BitWidths.RESNET20) ? BitWidths.RESNET20_INPUT : 0;
                assertEquals(input, b.networkInputIndex(), mp[0]);
                for (int i = 0; i < b.abit().length; i++) {
                    boolean rawImage = i == input;
                    assertEquals(rawImage ? ActQuantizer.Kind.DOREFA : kind, b.activationKind(i), mp[0] + " abit " + i);
                    assertEquals(b.abit(i), b.quantizer(i).bits());
                }
                try (QuantModel m = Models.build(mp[0], b, ref, 1)) {
                    List<ActQuant> qs = quantizers(m.net());
                    assertEquals(seedCount, qs.size(), mp[0] + " " + kind + ": same placements as the seed's");
                    for (ActQuant q : qs) {
                        if (q.name().equals("input_q")) {
                            assertEquals(ActQuantizer.Kind.DOREFA, q.quantizer().kind());
                            continue;
                        }
                        assertEquals(kind, q.quantizer().kind(), mp[0] + " " + q.name());
                        assertEquals(kind == ActQuantizer.Kind.FIXED_CLIP ? 4f : 0f, q.quantizer().fixedClip());
                        boolean learnsClip = kind == ActQuantizer.Kind.PACT || kind == ActQuantizer.Kind.MPACT;
                        assertEquals(learnsClip && !q.quantizer().isIdentity(), q.alpha() != null, q.name());
                    }
                }
            }
        }
    }

    @Test
    void theChoiceSurvivesYamlAndFiles() throws IOException {
        BitWidths b = BitWidths.preset(BitWidths.MOBILENETV2, "int4").withActivation(ActQuantizer.Kind.FIXED_CLIP, 6f);
        String yaml = b.toYaml();
        assertTrue(yaml.contains("act: fixed-clip") && yaml.contains("act_clip: 6.0"), yaml);
        assertEquals(b, BitWidths.fromYaml(yaml, BitWidths.MOBILENETV2, "checkpoint"));
        assertEquals(b, BitWidths.load(write("f.yaml", "model: mobilenetv2\nbase: int4\nact: fixed-clip\nact_clip: 6\n"),
            BitWidths.MOBILENETV2));
        BitWidths pact = BitWidths.load(write("p.json", "{\"model\":\"toynet\",\"base\":\"cfg2\",\"act\":\"PACT\"}"),
            BitWidths.TOYNET);
        assertEquals(BitWidths.preset(BitWidths.TOYNET, "cfg2").withActivationKind(ActQuantizer.Kind.PACT), pact);
        assertEquals(BitWidths.DEFAULT_FIXED_CLIP, BitWidths.preset(BitWidths.TOYNET, "cfg1")
            .withActivationKind(ActQuantizer.Kind.FIXED_CLIP).activationClip(), "the seed's default clip c = 2");
    }

    @Test
    void everyPresetTakesAKindSuffix() {
        assertEquals(BitWidths.preset(BitWidths.TOYNET, "cfg2").withActivationKind(ActQuantizer.Kind.PACT),
            BitWidths.preset(BitWidths.TOYNET, "cfg2-pact"));
        assertEquals(BitWidths.preset(BitWidths.MOBILENETV2, "int4").withActivation(ActQuantizer.Kind.FIXED_CLIP, 2f),
            BitWidths.resolve(BitWidths.MOBILENETV2, "int4-fixed-clip"));
        assertEquals(BitWidths.preset(BitWidths.RESNET20, "int8"), BitWidths.preset(BitWidths.RESNET20, "int8-dorefa"),
            "DoReFa is ResNet20's own kind");
        assertEquals(BitWidths.preset(BitWidths.TOYNET, "cfg1-star"), BitWidths.preset(BitWidths.TOYNET, "cfg1-star-mpact"));
        String m = assertThrows(IllegalArgumentException.class, () -> BitWidths.preset(BitWidths.TOYNET, "cfg9-pact"))
            .getMessage();
        assertTrue(m.contains("'cfg9-pact'") && m.contains("NAME-KIND"), m);
    }

    @Test
    void bitWidthsAreCheckedAgainstTheChosenKind() throws IOException {
        // 1 bit where the seed has mPACT: fine once DoReFa reads it, refused for mPACT
        BitWidths one = BitWidths.load(write("d.yaml", "model: toynet\nbase: cfg1\nact: dorefa\nabit: {4: 1}\n"),
            BitWidths.TOYNET);
        assertEquals(1, one.abit(4));
        String m = assertThrows(IllegalArgumentException.class, () -> one.withActivationKind(ActQuantizer.Kind.MPACT))
            .getMessage();
        assertTrue(m.contains("cannot all be mpact") && m.contains("abit[4] = 1") && m.contains("mPACT, which takes 2..16"), m);
        m = assertThrows(IllegalArgumentException.class, () -> BitWidths.preset(BitWidths.RESNET20, "int4")
            .withOverrides(java.util.Map.of(3, 1), java.util.Map.of()).withActivationKind(ActQuantizer.Kind.MPACT))
            .getMessage();
        assertTrue(m.contains("resnet20 abit[3] = 1"), m);
    }

    @Test
    void badChoicesAreRefusedWithTheValue() throws IOException {
        for (String[] bad : new String[][] {
            {"model: toynet\nact: relu\n", "'act' must be one of dorefa, pact, mpact, fixed-clip, not 'relu'"},
            {"model: toynet\nact: pact\nact_clip: 4\n", "'act_clip' is only for act: fixed-clip (act is pact)"},
            {"model: toynet\nact: fixed-clip\nact_clip: -1\n", "'act_clip' must be a positive number"},
            {"model: toynet\nbranch_out_quant: false\n", "only resnet20 can switch off its branch-output quantizer"},
            {"model: resnet20\nbranch_out_quant: maybe\n", "'branch_out_quant' must be true or false"}}) {
            Path p = write("bad.yaml", bad[0]);
            String model = bad[0].substring(7, bad[0].indexOf('\n'));
            String m = assertThrows(IllegalArgumentException.class, () -> BitWidths.load(p, model)).getMessage();
            assertTrue(m.contains(bad[1]) && m.contains(p.toString()), m);
        }
        assertThrows(IllegalArgumentException.class, () -> BitWidths.preset(BitWidths.TOYNET, "cfg1")
            .withActivation(ActQuantizer.Kind.FIXED_CLIP, Float.NaN));
        String m = assertThrows(IllegalArgumentException.class, () -> BitWidths.parseKind("lsq")).getMessage();
        assertTrue(m.contains("'lsq'") && m.contains("fixed-clip"), m);
    }

    @Test
    void resnet20BranchOutputQuantizerCanBeSwitchedOff() throws IOException {
        RefBackend ref = RefBackend.INSTANCE;
        BitWidths on = BitWidths.preset(BitWidths.RESNET20, "int8");
        BitWidths off = on.withBranchOutputQuant(false);
        assertTrue(on.branchOutputQuant());
        assertFalse(off.branchOutputQuant());
        assertEquals(off, BitWidths.fromYaml(off.toYaml(), BitWidths.RESNET20, "checkpoint"));
        assertEquals(off, BitWidths.load(write("n.yaml", "model: resnet20\nbase: int8\nbranch_out_quant: false\n"),
            BitWidths.RESNET20));
        try (QuantModel a = Models.build(BitWidths.RESNET20, on, ref, 1);
             QuantModel b = Models.build(BitWidths.RESNET20, off, ref, 1)) {
            List<String> withBranch = quantizers(a.net()).stream().map(Module::name).toList();
            List<String> without = quantizers(b.net()).stream().map(Module::name).toList();
            assertEquals(List.of("s1.b0.shortcut.q", "s2.b0.shortcut.q"),
                withBranch.stream().filter(n -> n.contains("shortcut")).toList());
            assertTrue(without.stream().noneMatch(n -> n.contains("shortcut")), without.toString());
            assertEquals(withBranch.size() - 2, without.size());
            assertEquals(a.paramCount(), b.paramCount(), "DoReFa has no α: the same parameters");
        }
    }

    @Test
    void resnet20StemOutputHasIndexNineOffByDefault() throws IOException {
        RefBackend ref = RefBackend.INSTANCE;
        BitWidths seed = BitWidths.preset(BitWidths.RESNET20, "int8-mpact");
        assertEquals(32, seed.abit(BitWidths.RESNET20_STEM_OUTPUT));
        assertTrue(seed.describeIndex(true, 9).contains("stem output"), seed.describeIndex(true, 9));
        BitWidths stem = seed.withOverrides(java.util.Map.of(9, 8), java.util.Map.of());
        try (QuantModel a = Models.build(BitWidths.RESNET20, seed, ref, 1);
             QuantModel b = Models.build(BitWidths.RESNET20, stem, ref, 1)) {
            assertTrue(quantizers(a.net()).stream().noneMatch(q -> q.name().equals("stem.q")));
            ActQuant q = quantizers(b.net()).stream().filter(x -> x.name().equals("stem.q")).findFirst().orElseThrow();
            assertEquals(ActQuantizer.Kind.MPACT, q.quantizer().kind());
            assertEquals(8, q.quantizer().bits());
        }
        // a file or checkpoint written before index 9 existed (9 abit entries) reads with the stem output off, and
        // with the later indices (abit[10] network input, wbit[9] stem weights) off too
        BitWidths legacy = BitWidths.load(write("old.json",
            "{\"model\":\"resnet20\",\"abit\":[8,8,8,8,8,8,8,8,8],\"wbit\":[8,8,8,8,8,8,8,8,8]}"), BitWidths.RESNET20);
        assertEquals(BitWidths.preset(BitWidths.RESNET20, "int8"), legacy);
        assertArrayEquals(new int[] {8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 32}, legacy.abit());
        assertArrayEquals(new int[] {8, 8, 8, 8, 8, 8, 8, 8, 8, 32}, legacy.wbit());
    }

    @Test
    void endToEndPresetsBuildAnMpactInputQuantizerAndTheAppendedQuantizers() {
        RefBackend ref = RefBackend.INSTANCE;
        String[][] expected = {
            {BitWidths.TOYNET, "s1.b0.down.bn.q"}, {BitWidths.MOBILENETV2, "head.q"}, {BitWidths.RESNET20, "stem.q"}};
        for (String[] e : expected) {
            BitWidths b = BitWidths.preset(e[0], BitWidths.endToEndPreset(e[0]));
            try (QuantModel m = Models.build(e[0], b, ref, 1)) {
                List<ActQuant> qs = quantizers(m.net());
                ActQuant in = qs.stream().filter(q -> q.name().equals("input_q")).findFirst().orElseThrow();
                assertEquals(ActQuantizer.Kind.MPACT, in.quantizer().kind(), e[0]);
                assertEquals(8, in.quantizer().bits(), e[0]);
                ActQuant appended = qs.stream().filter(q -> q.name().equals(e[1])).findFirst()
                    .orElseThrow(() -> new AssertionError(e[0] + ": no " + e[1] + " in " + qs.stream().map(Module::name).toList()));
                assertEquals(ActQuantizer.Kind.MPACT, appended.quantizer().kind(), e[1]);
                assertEquals(8, appended.quantizer().bits(), e[1]);
            }
            // the same arrays without input_act: the seed's DoReFa on the image (resnet20: the chosen mPACT does not
            // reach the input)
            try (QuantModel m = Models.build(e[0], b.withInputActivation(null), ref, 1)) {
                ActQuant in = quantizers(m.net()).stream().filter(q -> q.name().equals("input_q")).findFirst().orElseThrow();
                assertEquals(ActQuantizer.Kind.DOREFA, in.quantizer().kind(), e[0]);
            }
        }
    }
}
