package dev.qat4j.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.quant.ActQuantizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Presets against the seed's arrays (written out literally), the index mapping, validation and the file format. */
class BitWidthsTest {
    private static final String TOY = BitWidths.TOYNET;
    private static final String MB = BitWidths.MOBILENETV2;
    private static final String RN = BitWidths.RESNET20;

    @TempDir
    Path dir;

    private static void assertContainsAll(String message, String... parts) {
        for (String p : parts) {
            assertTrue(message.contains(p), () -> "expected \"" + p + "\" in: " + message);
        }
    }

    private static IllegalArgumentException refused(Runnable r) {
        return assertThrows(IllegalArgumentException.class, r::run);
    }

    private Path write(String name, String text) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, text, StandardCharsets.UTF_8);
        return p;
    }

    private static int[] filled(int n, int v) {
        int[] a = new int[n];
        Arrays.fill(a, v);
        return a;
    }

    /** ResNet20's abit with every block at {@code v} and the stem output (index 9) and network input (10) off, as the seed. */
    private static int[] rnAbit(int v) {
        int[] a = filled(11, v);
        a[9] = 32;
        a[10] = 32;
        return a;
    }

    /** ResNet20's wbit with every block at {@code v} and the stem weights (index 9) float, as the seed. */
    private static int[] rnWbit(int v) {
        int[] w = filled(10, v);
        w[9] = 32;
        return w;
    }

    // ---- presets, literally from algorithms.md A3 / the seed README ---------------------------------------------

    private static void assertPreset(String model, String name, int[] abit, int[] wbit) {
        BitWidths b = BitWidths.preset(model, name);
        assertEquals(model, b.model());
        assertArrayEquals(abit, b.abit(), model + " " + name + " abit");
        assertArrayEquals(wbit, b.wbit(), model + " " + name + " wbit");
    }

    @Test
    void toynetPresetsAreTheSeedArrays() {
        // abit[13] (the downsample BN output, beyond the seed) is off in every seed preset
        assertPreset(TOY, "cfg1",
            new int[] {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 32, 32},
            new int[] {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 16, 16});
        assertPreset(TOY, "cfg1-star",
            new int[] {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 16, 32},
            new int[] {8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8});
        assertPreset(TOY, "cfg2",
            new int[] {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 32, 32},
            new int[] {32, 8, 6, 6, 6, 6, 6, 6, 8, 8, 8, 16, 16});
        assertPreset(TOY, "cfg3",
            new int[] {32, 8, 6, 6, 6, 6, 6, 6, 6, 6, 6, 32, 32, 32},
            new int[] {32, 8, 6, 6, 6, 6, 6, 6, 6, 6, 6, 16, 16});
        assertPreset(TOY, "fp32",
            new int[] {32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32},
            new int[] {32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32});
        for (String name : List.of("fp32", "cfg1", "cfg1-star", "cfg2", "cfg3")) {
            assertEquals(null, BitWidths.preset(TOY, name).inputActivation(), name + ": the seed's DoReFa input");
        }
    }

    @Test
    void mobilenetv2PresetsAreTheSeedArrays() {
        // abit[20] (the head output, beyond the seed) is off in every seed preset
        assertPreset(MB, "cfg1-star",
            new int[] {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 32, 32},
            new int[] {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 16, 16});
        assertPreset(MB, "int4",
            new int[] {32, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 32, 32, 32},
            new int[] {32, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 16, 16});
        assertPreset(MB, "fp32",
            new int[] {32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32},
            new int[] {32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32});
    }

    @Test
    void resnet20PresetsAreUniformPerBlock() {
        // abit[9] stem output, abit[10] network input and wbit[9] stem weights are off in every seed preset
        assertPreset(RN, "int8", new int[] {8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 32},
            new int[] {8, 8, 8, 8, 8, 8, 8, 8, 8, 32});
        assertPreset(RN, "int6", new int[] {6, 6, 6, 6, 6, 6, 6, 6, 6, 32, 32},
            new int[] {6, 6, 6, 6, 6, 6, 6, 6, 6, 32});
        assertPreset(RN, "int4", new int[] {4, 4, 4, 4, 4, 4, 4, 4, 4, 32, 32},
            new int[] {4, 4, 4, 4, 4, 4, 4, 4, 4, 32});
        assertPreset(RN, "fp32", new int[] {32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32},
            new int[] {32, 32, 32, 32, 32, 32, 32, 32, 32, 32});
        assertEquals(ActQuantizer.Kind.PACT, BitWidths.preset(RN, "int4-pact").activationKind(0));
        assertArrayEquals(rnAbit(4), BitWidths.preset(RN, "int4-pact").abit());
        assertArrayEquals(rnWbit(4), BitWidths.preset(RN, "int4-pact").wbit());
    }

    @Test
    void resnet20MpactPresetsChooseTheActivationKindAndKeepItThroughFiles() throws IOException {
        BitWidths m8 = BitWidths.preset(RN, "int8-mpact");
        assertArrayEquals(BitWidths.preset(RN, "int8").abit(), m8.abit());
        assertEquals(ActQuantizer.Kind.MPACT, m8.activationOverride());
        for (int i = 0; i < 9; i++) {
            assertEquals(ActQuantizer.Kind.MPACT, m8.activationKind(i));
            assertEquals(ActQuantizer.Kind.DOREFA, BitWidths.preset(RN, "int8").activationKind(i));
        }
        assertNotEquals(BitWidths.preset(RN, "int8"), m8);
        String yaml = m8.toYaml();
        assertContainsAll(yaml, "act: mpact");
        assertEquals(m8, BitWidths.fromYaml(yaml, RN, "checkpoint"));
        assertEquals(m8, BitWidths.load(write("a.yaml", "model: resnet20\nbase: int8\nact: mpact\n"), RN));
        // a base that chose a kind passes it on; `act` overrides it
        assertEquals(m8, BitWidths.load(write("b.yaml", "model: resnet20\nbase: int8-mpact\n"), RN));
        assertEquals(ActQuantizer.Kind.PACT,
            BitWidths.load(write("c.yaml", "model: resnet20\nbase: int8-mpact\nact: pact\n"), RN).activationKind(3));
        assertContainsAll(refused(() -> {
            try {
                BitWidths.load(write("d.yaml", "model: resnet20\nact: relu\n"), RN);
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }).getMessage(), "'act' must be one of dorefa, pact, mpact, fixed-clip", "relu");
    }

    @Test
    void presetNamesAreExactlyThese() {
        assertEquals(List.of("fp32", "cfg1", "cfg1-star", "cfg2", "cfg3", "cfg1-star-e2e"), BitWidths.presetNames(TOY));
        assertEquals(List.of("fp32", "cfg1-star", "int8", "int6", "int4", "int8-e2e"), BitWidths.presetNames(MB));
        assertEquals(List.of("fp32", "int8", "int6", "int4", "int8-pact", "int6-pact", "int4-pact", "int8-mpact",
            "int6-mpact", "int4-mpact", "int8-mpact-e2e", "int8-mpact-e2e-tied"), BitWidths.presetNames(RN));
        assertEquals(List.of("toynet", "mobilenetv2", "resnet20"), BitWidths.models());
    }

    @Test
    void unknownPresetOrModelListsTheValidNames() {
        String m = refused(() -> BitWidths.preset(TOY, "cfg4")).getMessage();
        assertContainsAll(m, "toynet", "'cfg4'", "fp32, cfg1, cfg1-star, cfg2, cfg3, cfg1-star-e2e");
        m = refused(() -> BitWidths.preset(RN, "cfg1")).getMessage();
        assertContainsAll(m, "resnet20", "'cfg1'", "fp32, int8, int6, int4", "int8-mpact-e2e");
        m = refused(() -> BitWidths.preset("vgg16", "fp32")).getMessage();
        assertContainsAll(m, "'vgg16'", "toynet, mobilenetv2, resnet20");
        m = refused(() -> BitWidths.presetNames("ToyNet")).getMessage();
        assertContainsAll(m, "'ToyNet'", "toynet, mobilenetv2, resnet20");
        m = refused(() -> BitWidths.preset(TOY, null)).getMessage();
        assertContainsAll(m, "toynet", "null", "cfg1-star");
    }

    // ---- the index mapping ------------------------------------------------------------------------------------

    @Test
    void expectedLengths() {
        assertEquals(14, BitWidths.expectedLength(TOY, true));
        assertEquals(13, BitWidths.expectedLength(TOY, false));
        assertEquals(21, BitWidths.expectedLength(MB, true));
        assertEquals(20, BitWidths.expectedLength(MB, false));
        assertEquals(11, BitWidths.expectedLength(RN, true));
        assertEquals(10, BitWidths.expectedLength(RN, false));
    }

    @Test
    void toynetIndexMeanings() {
        BitWidths b = BitWidths.preset(TOY, "cfg1");
        assertEquals("abit[0]: network input (DoReFa on the image, before the stem; mPACT with input_act: mpact)", b.describeIndex(true, 0));
        assertEquals("abit[1]: stem output (stem ConvNorm, mPACT) / block 1 input (s0.b0 ain)", b.describeIndex(true, 1));
        assertEquals("abit[2]: block 2 input (s1.b0 ain) / block 1 output", b.describeIndex(true, 2));
        assertEquals("abit[3]: block 3 input (s1.b1 ain) / block 2 output", b.describeIndex(true, 3));
        assertEquals("abit[5]: block 5 input (s2.b0 ain) / block 4 output", b.describeIndex(true, 5));
        assertEquals("abit[10]: block 10 input (s3.b2 ain) / block 9 output", b.describeIndex(true, 10));
        assertEquals("abit[11]: block 10 output (s3.b2 aout) / header input", b.describeIndex(true, 11));
        assertEquals("abit[12]: header output (header ConvNorm, mPACT) and the mPACT after the pool (FC input)",
            b.describeIndex(true, 12));
        assertContainsAll(b.describeIndex(true, 13), "abit[13]: downsample BN output",
            "2x2 stride-2 conv in s1.b0, s3.b0", "32 = off");
        assertEquals("wbit[0]: stem conv3x3 3->16", b.describeIndex(false, 0));
        assertEquals("wbit[1]: block 1 (s0.b0, 16->16): DW3x3 16, 1x1 16->64, 1x1 64->16", b.describeIndex(false, 1));
        assertEquals("wbit[2]: block 2 (s1.b0, 16->32, stride 2): BN + conv2x2/2 16->32, DW3x3 32, 1x1 32->128, "
            + "1x1 128->32", b.describeIndex(false, 2));
        assertEquals("wbit[5]: block 5 (s2.b0, 32->32): DW3x3 32, 1x1 32->128, 1x1 128->32", b.describeIndex(false, 5));
        assertEquals("wbit[8]: block 8 (s3.b0, 32->64, stride 2): BN + conv2x2/2 32->64, DW3x3 64, 1x1 64->256, "
            + "1x1 256->64", b.describeIndex(false, 8));
        assertEquals("wbit[11]: header conv1x1 64->512", b.describeIndex(false, 11));
        assertEquals("wbit[12]: FC 512->10", b.describeIndex(false, 12));
    }

    @Test
    void mobilenetv2IndexMeanings() {
        assertEquals("abit[0]: network input (DoReFa on the image, before the stem; the seed's actq_input; mPACT with input_act: mpact)",
            BitWidths.describeIndex(MB, true, 0));
        assertEquals("abit[1]: stem output (after stem BN + ReLU, mPACT) / block 1 input (s0.b0 ain)",
            BitWidths.describeIndex(MB, true, 1));
        assertEquals("abit[4]: block 4 input (s2.b0 ain) / block 3 output", BitWidths.describeIndex(MB, true, 4));
        assertEquals("abit[17]: block 17 input (s6.b0 ain) / block 16 output", BitWidths.describeIndex(MB, true, 17));
        assertEquals("abit[18]: block 17 output (s6.b0 aout) / head conv input (and its shortcut branch output)",
            BitWidths.describeIndex(MB, true, 18));
        assertEquals("abit[19]: FC input (DoReFa after avg_pool(4); the seed's actq_last)",
            BitWidths.describeIndex(MB, true, 19));
        assertContainsAll(BitWidths.describeIndex(MB, true, 20), "abit[20]: head output", "before avg_pool",
            "32 = off");
        assertEquals("wbit[0]: stem conv3x3 3->32", BitWidths.describeIndex(MB, false, 0));
        assertEquals("wbit[1]: block 1 (s0.b0, 32->16, expand 1): 1x1 32->32, DW3x3 32, 1x1 32->16, shortcut 1x1 32->16",
            BitWidths.describeIndex(MB, false, 1));
        assertEquals("wbit[4]: block 4 (s2.b0, 24->32, expand 6, stride 2): 1x1 24->144, DW3x3 144, 1x1 144->32",
            BitWidths.describeIndex(MB, false, 4));
        assertEquals("wbit[17]: block 17 (s6.b0, 160->320, expand 6): 1x1 160->960, DW3x3 960, 1x1 960->320, "
            + "shortcut 1x1 160->320", BitWidths.describeIndex(MB, false, 17));
        assertEquals("wbit[18]: head conv1x1 320->1280", BitWidths.describeIndex(MB, false, 18));
        assertEquals("wbit[19]: FC 1280->10", BitWidths.describeIndex(MB, false, 19));
    }

    @Test
    void resnet20IndexMeanings() {
        assertEquals("abit[0]: stage1.unit1 (16->16): conv1 output after ReLU, block output after the add (DoReFa)",
            BitWidths.describeIndex(RN, true, 0));
        assertEquals("abit[3]: stage2.unit1 (16->32, stride 2): conv1 output after ReLU, shortcut branch output, "
            + "block output after the add (DoReFa)", BitWidths.describeIndex(RN, true, 3));
        assertEquals("wbit[6]: stage3.unit1 (32->64, stride 2): conv3x3 32->64, conv3x3 64->64, shortcut 1x1 32->64",
            BitWidths.describeIndex(RN, false, 6));
        assertEquals("wbit[8]: stage3.unit3 (64->64): conv3x3 64->64, conv3x3 64->64",
            BitWidths.describeIndex(RN, false, 8));
        assertContainsAll(BitWidths.describeIndex(RN, true, 9), "abit[9]: stem output");
        assertContainsAll(BitWidths.describeIndex(RN, true, 10), "abit[10]: network input, the normalised image",
            "32 = off");
        assertContainsAll(BitWidths.describeIndex(RN, false, 9), "wbit[9]: stem conv3x3 3->16", "32 = float weights");
    }

    @Test
    void everyIndexHasItsOwnMeaning() {
        for (String model : BitWidths.models()) {
            for (boolean act : new boolean[] {true, false}) {
                int n = BitWidths.expectedLength(model, act);
                Set<String> seen = new HashSet<>();
                for (int i = 0; i < n; i++) {
                    String d = BitWidths.describeIndex(model, act, i);
                    assertTrue(d.startsWith((act ? "abit[" : "wbit[") + i + "]: "), d);
                    assertTrue(seen.add(d.substring(d.indexOf(':'))), model + " duplicate meaning " + d);
                }
                assertEquals(n, seen.size());
            }
        }
    }

    @Test
    void describingAMissingIndexListsEveryIndex() {
        String m = refused(() -> BitWidths.describeIndex(TOY, true, 14)).getMessage();
        assertContainsAll(m, "toynet", "abit", "14 entries", "indices 0..13", "0 input", "11 b10 out",
            "12 header out = FC in", "13 down BN out");
        m = refused(() -> BitWidths.describeIndex(RN, false, -1)).getMessage();
        assertContainsAll(m, "resnet20", "wbit", "-1", "10 entries", "0 stage1.unit1", "8 stage3.unit3", "9 stem");
        m = refused(() -> BitWidths.describeIndex(RN, false, 10)).getMessage();
        assertContainsAll(m, "resnet20", "wbit", "10 entries", "indices 0..9", "9 stem");
        m = refused(() -> BitWidths.describeIndex(RN, true, 11)).getMessage();
        assertContainsAll(m, "resnet20", "abit", "11 entries", "indices 0..10", "9 stem out", "10 input");
        m = refused(() -> BitWidths.preset(MB, "fp32").abit(21)).getMessage();
        assertContainsAll(m, "mobilenetv2", "21 entries", "19 FC in", "18 b17 out", "20 head out");
    }

    @Test
    void activationKindsFollowTheSeedQuantizers() {
        BitWidths toy = BitWidths.preset(TOY, "fp32");
        assertEquals(ActQuantizer.Kind.DOREFA, toy.activationKind(0));
        for (int i = 1; i <= 13; i++) {
            assertEquals(ActQuantizer.Kind.MPACT, toy.activationKind(i), "toynet abit " + i);
        }
        BitWidths mb = BitWidths.preset(MB, "fp32");
        assertEquals(ActQuantizer.Kind.DOREFA, mb.activationKind(0));
        for (int i = 1; i <= 18; i++) {
            assertEquals(ActQuantizer.Kind.MPACT, mb.activationKind(i), "mobilenetv2 abit " + i);
        }
        assertEquals(ActQuantizer.Kind.DOREFA, mb.activationKind(19));
        assertEquals(ActQuantizer.Kind.MPACT, mb.activationKind(20), "the head output, beyond the seed");
        BitWidths rn = BitWidths.preset(RN, "fp32");
        for (int i = 0; i <= 10; i++) {
            assertEquals(ActQuantizer.Kind.DOREFA, rn.activationKind(i), "resnet20 abit " + i);
        }
    }

    // ---- value semantics --------------------------------------------------------------------------------------

    @Test
    void arraysAreCopiedInAndOut() {
        // current lengths: an earlier-length array is padded into a new array, which would not show the copy
        int[] a = {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 32, 32};
        int[] w = {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 16, 16};
        BitWidths b = BitWidths.of(TOY, a, w);
        a[3] = 4;
        w[3] = 4;
        assertEquals(8, b.abit(3));
        assertEquals(8, b.wbit(3));
        b.abit()[3] = 4;
        b.wbit()[3] = 4;
        assertEquals(8, b.abit()[3]);
        assertEquals(8, b.wbit()[3]);
        assertEquals(BitWidths.preset(TOY, "cfg1"), b);
    }

    @Test
    void equalsHashCodeToString() {
        BitWidths a = BitWidths.preset(TOY, "cfg1");
        BitWidths same = BitWidths.of(TOY, a.abit(), a.wbit());
        assertEquals(a, same);
        assertEquals(a.hashCode(), same.hashCode());
        assertNotEquals(a, BitWidths.preset(TOY, "cfg2"));
        assertNotEquals(BitWidths.preset(TOY, "fp32"), BitWidths.preset(MB, "fp32"));
        assertNotEquals(BitWidths.preset(RN, "int8"), BitWidths.preset(RN, "int6"));
        assertEquals("BitWidths[toynet abit=[32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 32, 32] "
            + "wbit=[32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 16, 16]]", a.toString());
    }

    // ---- validation -------------------------------------------------------------------------------------------

    @Test
    void wrongLengthNamesModelLengthAndEveryIndex() {
        // 12 is neither toynet's abit length (14) nor the earlier one (13)
        String m = refused(() -> BitWidths.of(TOY, filled(12, 8), filled(13, 8))).getMessage();
        assertContainsAll(m, "toynet abit has 12 entries, expected 14", "0 input", "1 stem out = b1 in",
            "2 b1 out = b2 in", "10 b9 out = b10 in", "11 b10 out", "12 header out = FC in", "13 down BN out");
        m = refused(() -> BitWidths.of(MB, filled(21, 8), filled(21, 8))).getMessage();
        assertContainsAll(m, "mobilenetv2 wbit has 21 entries, expected 20", "0 stem", "1 b1 s0.b0", "17 b17 s6.b0",
            "18 head", "19 FC");
        m = refused(() -> BitWidths.of(RN, filled(13, 8), filled(10, 8))).getMessage();
        assertContainsAll(m, "resnet20 abit has 13 entries, expected 11", "0 stage1.unit1", "3 stage2.unit1",
            "8 stage3.unit3", "9 stem out", "10 input");
        m = refused(() -> BitWidths.of(RN, null, filled(10, 8))).getMessage();
        assertContainsAll(m, "resnet20 abit is null, expected 11 entries");
    }

    @Test
    void lengthsNeitherCurrentNorEarlierAreRefused() {
        // toynet: abit 14 (earlier 13), wbit 13 (no earlier length)
        for (int n : new int[] {0, 12, 15}) {
            assertContainsAll(refused(() -> BitWidths.of(TOY, filled(n, 8), filled(13, 8))).getMessage(),
                "toynet abit has " + n + " entries, expected 14");
        }
        for (int n : new int[] {12, 14}) {
            assertContainsAll(refused(() -> BitWidths.of(TOY, filled(14, 8), filled(n, 8))).getMessage(),
                "toynet wbit has " + n + " entries, expected 13");
        }
        // mobilenetv2: abit 21 (earlier 20), wbit 20 (no earlier length)
        for (int n : new int[] {19, 22}) {
            assertContainsAll(refused(() -> BitWidths.of(MB, filled(n, 8), filled(20, 8))).getMessage(),
                "mobilenetv2 abit has " + n + " entries, expected 21");
        }
        assertContainsAll(refused(() -> BitWidths.of(MB, filled(21, 8), filled(19, 8))).getMessage(),
            "mobilenetv2 wbit has 19 entries, expected 20");
        // resnet20: abit 11 (earlier 9 and 10), wbit 10 (earlier 9)
        for (int n : new int[] {8, 12}) {
            assertContainsAll(refused(() -> BitWidths.of(RN, filled(n, 8), filled(10, 8))).getMessage(),
                "resnet20 abit has " + n + " entries, expected 11");
        }
        for (int n : new int[] {8, 11}) {
            assertContainsAll(refused(() -> BitWidths.of(RN, filled(11, 8), filled(n, 8))).getMessage(),
                "resnet20 wbit has " + n + " entries, expected 10");
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 17, -1, 31, 33, 64})
    void bitWidthsOutside1To16And32AreRefused(int bits) {
        int[] w = filled(13, 8);
        w[12] = bits;
        String m = refused(() -> BitWidths.of(TOY, filled(14, 8), w)).getMessage();
        assertContainsAll(m, "toynet wbit[12] = " + bits + " is not a valid bit width", "weights take 1..16 or 32",
            "wbit[12]: FC 512->10", "toynet wbit has 13 entries");

        // a 9-entry (earlier-length) abit: padded, and its entries still checked
        int[] a = filled(9, 8);
        a[4] = bits;
        m = refused(() -> BitWidths.of(RN, a, filled(9, 8))).getMessage();
        assertContainsAll(m, "resnet20 abit[4] = " + bits, "DoReFa, which takes 1..16 or 32",
            "abit[4]: stage2.unit2", "resnet20 abit has 11 entries");

        // the indices beyond the seed are checked as well
        int[] in = filled(11, 8);
        in[10] = bits;
        m = refused(() -> BitWidths.of(RN, in, filled(10, 8))).getMessage();
        assertContainsAll(m, "resnet20 abit[10] = " + bits, "DoReFa, which takes 1..16 or 32", "abit[10]: network input");
        int[] stem = filled(10, 8);
        stem[9] = bits;
        m = refused(() -> BitWidths.of(RN, filled(11, 8), stem)).getMessage();
        assertContainsAll(m, "resnet20 wbit[9] = " + bits, "weights take 1..16 or 32", "wbit[9]: stem conv3x3 3->16");
    }

    @Test
    void everyWidthFrom1To16And32IsAcceptedForWeights() {
        for (int bits = 1; bits <= 16; bits++) {
            BitWidths b = BitWidths.of(RN, filled(11, bits), filled(10, bits));
            assertEquals(bits, b.wbit(0));
            assertEquals(bits, b.wbit(BitWidths.RESNET20_STEM_WEIGHTS));
        }
        assertEquals(32, BitWidths.of(MB, filled(21, 32), filled(20, 32)).wbit(19));
        assertEquals(1, BitWidths.of(TOY, filled(14, 2), filled(13, 1)).wbit(12), "1-bit weights are allowed");
    }

    @Test
    void oneBitActivationsAreRefusedWhereMpactReadsThem() {
        for (int i = 1; i <= 13; i++) {
            int[] a = filled(14, 8);
            a[i] = 1;
            String m = refused(() -> BitWidths.of(TOY, a, filled(13, 8))).getMessage();
            assertContainsAll(m, "toynet abit[" + i + "] = 1", "mPACT, which takes 2..16 or 32",
                "only the code 0", BitWidths.describeIndex(TOY, true, i), "toynet abit has 14 entries");
        }
        for (int i = 1; i <= 20; i++) {
            if (i == 19) {
                continue; // the FC input is DoReFa
            }
            int[] a = filled(21, 8);
            a[i] = 1;
            String m = refused(() -> BitWidths.of(MB, a, filled(20, 8))).getMessage();
            assertContainsAll(m, "mobilenetv2 abit[" + i + "] = 1", "mPACT", BitWidths.describeIndex(MB, true, i));
        }
        int[] two = filled(14, 2);
        assertEquals(2, BitWidths.of(TOY, two, filled(13, 8)).abit(5), "2 bits is mPACT's minimum");
    }

    @Test
    void oneBitActivationsAreAllowedWhereDorefaReadsThem() {
        int[] toy = filled(14, 8);
        toy[0] = 1;
        assertEquals(1, BitWidths.of(TOY, toy, filled(13, 8)).abit(0));
        int[] mb = filled(21, 8);
        mb[0] = 1;
        mb[19] = 1;
        BitWidths m = BitWidths.of(MB, mb, filled(20, 8));
        assertEquals(1, m.abit(0));
        assertEquals(1, m.abit(19));
        assertArrayEquals(filled(11, 1), BitWidths.of(RN, filled(11, 1), filled(10, 1)).abit(),
            "every resnet20 index, the stem output and network input included, is DoReFa");
        assertArrayEquals(rnAbit(1), BitWidths.of(RN, filled(9, 1), filled(9, 1)).abit());
    }

    @Test
    void allProblemsAreReportedTogether() {
        int[] a = {32, 8, 1, 8, 8, 8, 8, 8, 8, 8, 8, 32, 0, 1};
        int[] w = {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 17, 16};
        String m = refused(() -> BitWidths.of(TOY, a, w)).getMessage();
        assertContainsAll(m, "toynet: 4 problems", "abit 14 entries, wbit 13 entries", "abit[2] = 1", "abit[12] = 0",
            "abit[13] = 1", "wbit[11] = 17");
    }

    @Test
    void sparseOverridesReplaceOnlyTheirIndices() {
        BitWidths b = BitWidths.preset(TOY, "cfg3").withOverrides(Map.of(3, 4, 4, 4), Map.of(12, 8));
        assertArrayEquals(new int[] {32, 8, 6, 4, 4, 6, 6, 6, 6, 6, 6, 32, 32, 32}, b.abit());
        assertArrayEquals(new int[] {32, 8, 6, 6, 6, 6, 6, 6, 6, 6, 6, 16, 8}, b.wbit());
        assertArrayEquals(new int[] {32, 8, 6, 6, 6, 6, 6, 6, 6, 6, 6, 32, 32, 32}, BitWidths.preset(TOY, "cfg3").abit(),
            "the preset itself is unchanged");
        BitWidths down = BitWidths.preset(TOY, "cfg3").withOverrides(Map.of(13, 6), Map.of());
        assertArrayEquals(new int[] {32, 8, 6, 6, 6, 6, 6, 6, 6, 6, 6, 32, 32, 6}, down.abit(), "the new index 13");
        BitWidths rn = BitWidths.preset(RN, "int8").withOverrides(Map.of(10, 8), Map.of(9, 8));
        assertArrayEquals(new int[] {8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 8}, rn.abit());
        assertArrayEquals(filled(10, 8), rn.wbit());
        assertEquals(BitWidths.preset(RN, "int8"), BitWidths.preset(RN, "int8").withOverrides(Map.of(), Map.of()));
    }

    @Test
    void overrideIndexThatDoesNotExistIsRefusedWithTheMapping() {
        String m = refused(() -> BitWidths.preset(TOY, "cfg1").withOverrides(Map.of(14, 6), Map.of())).getMessage();
        assertContainsAll(m, "toynet abit override index 14 does not exist", "14 entries", "indices 0..13",
            "0 input", "12 header out = FC in", "13 down BN out");
        m = refused(() -> BitWidths.preset(TOY, "cfg1").withOverrides(Map.of(), Map.of(13, 6))).getMessage();
        assertContainsAll(m, "toynet wbit override index 13 does not exist", "13 entries", "indices 0..12");
        m = refused(() -> BitWidths.preset(RN, "int8").withOverrides(Map.of(), Map.of(-1, 4))).getMessage();
        assertContainsAll(m, "resnet20 wbit override index -1 does not exist", "10 entries", "0 stage1.unit1",
            "9 stem");
        m = refused(() -> BitWidths.preset(RN, "int8").withOverrides(Map.of(11, 8), Map.of(10, 8))).getMessage();
        assertContainsAll(m, "resnet20 abit override index 11 does not exist", "indices 0..10", "10 input",
            "resnet20 wbit override index 10 does not exist", "indices 0..9");
        m = refused(() -> BitWidths.preset(MB, "fp32").withOverrides(Map.of(5, 1), Map.of())).getMessage();
        assertContainsAll(m, "mobilenetv2 abit[5] = 1", "mPACT", "block 5 input (s2.b1 ain)");
    }

    // ---- files ------------------------------------------------------------------------------------------------

    @Test
    void everyPresetRoundTripsThroughToYaml() throws IOException {
        for (String model : BitWidths.models()) {
            for (String name : BitWidths.presetNames(model)) {
                BitWidths b = BitWidths.preset(model, name);
                Path p = write(model + "-" + name + ".yaml", b.toYaml());
                assertEquals(b, BitWidths.load(p, model), model + " " + name);
            }
        }
    }

    @Test
    void toYamlRoundTripsAnEditedConfigAndCommentsEveryIndex() throws IOException {
        BitWidths b = BitWidths.preset(MB, "cfg1-star").withOverrides(Map.of(0, 1, 19, 1, 7, 3), Map.of(18, 2));
        String yaml = b.toYaml();
        assertTrue(yaml.contains("model: mobilenetv2\n"), yaml);
        assertTrue(yaml.contains("  - 3    # abit[7]: block 7 input (s3.b0 ain) / block 6 output\n"), yaml);
        assertTrue(yaml.contains("  - 2    # wbit[18]: head conv1x1 320->1280\n"), yaml);
        assertEquals(b, BitWidths.load(write("edited.yml", yaml), MB));
    }

    @Test
    void fullArraysInYamlAndJson() throws IOException {
        Path y = write("cfg2.yaml", "model: toynet\n"
            + "abit: [32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 32, 32]\n"
            + "wbit: [32, 8, 6, 6, 6, 6, 6, 6, 8, 8, 8, 16, 16]\n");
        assertEquals(BitWidths.preset(TOY, "cfg2"), BitWidths.load(y, TOY));
        Path j = write("int6.json", "{\"model\": \"resnet20\", \"abit\": [6,6,6,6,6,6,6,6,6,32,32],"
            + " \"wbit\": [6,6,6,6,6,6,6,6,6,32]}");
        assertEquals(BitWidths.preset(RN, "int6"), BitWidths.load(j, RN));
    }

    @Test
    void sparseOverridesInYamlAndJsonApplyToBase() throws IOException {
        Path y = write("o.yaml", "model: toynet\nbase: cfg1\nabit: {3: 6, 4: 6}\nwbit:\n  12: 8\n");
        BitWidths b = BitWidths.load(y, TOY);
        assertArrayEquals(new int[] {32, 8, 8, 6, 6, 8, 8, 8, 8, 8, 8, 32, 32, 32}, b.abit());
        assertArrayEquals(new int[] {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 16, 8}, b.wbit());

        Path j = write("o.json", "{\"model\": \"resnet20\", \"base\": \"int8\", \"wbit\": {\"0\": 4, \"8\": 4}}");
        BitWidths r = BitWidths.load(j, RN);
        assertArrayEquals(rnAbit(8), r.abit());
        assertArrayEquals(new int[] {4, 8, 8, 8, 8, 8, 8, 8, 4, 32}, r.wbit());
    }

    @Test
    void baseDefaultsToFp32AndArraysMayMix() throws IOException {
        BitWidths b = BitWidths.load(write("m.yaml", "model: resnet20\nabit: {2: 4}\n"), RN);
        assertArrayEquals(new int[] {32, 32, 4, 32, 32, 32, 32, 32, 32, 32, 32}, b.abit());
        assertArrayEquals(filled(10, 32), b.wbit());
        // a full abit list of the earlier length 9 mixes with a sparse wbit over the base
        BitWidths mixed = BitWidths.load(write("mix.yaml",
            "model: resnet20\nbase: int4\nabit: [8, 8, 8, 8, 8, 8, 8, 8, 8]\nwbit: {0: 8}\n"), RN);
        assertArrayEquals(rnAbit(8), mixed.abit());
        assertArrayEquals(new int[] {8, 4, 4, 4, 4, 4, 4, 4, 4, 32}, mixed.wbit());
        assertEquals(BitWidths.preset(MB, "fp32"), BitWidths.load(write("only-model.json", "{\"model\":\"mobilenetv2\"}"), MB));
    }

    @Test
    void fileWithWrongLengthOrBitsNamesFileModelAndMapping() throws IOException {
        Path p = write("short.yaml", "model: toynet\nabit: [32, 8, 8]\n");
        String m = refused(() -> BitWidths.load(p, TOY)).getMessage();
        assertContainsAll(m, "bit widths file " + p, "toynet abit has 3 entries, expected 14", "12 header out = FC in",
            "13 down BN out");

        Path q = write("bits.json", "{\"model\": \"toynet\", \"base\": \"cfg1\", \"abit\": {\"6\": 1}, \"wbit\": {\"0\": 17}}");
        m = refused(() -> BitWidths.load(q, TOY)).getMessage();
        assertContainsAll(m, "bit widths file " + q, "abit[6] = 1", "mPACT", "block 6 input (s2.b1 ain)",
            "wbit[0] = 17", "stem conv3x3 3->16");
    }

    @Test
    void fileOverrideIndexOutOfRangeIsRefused() throws IOException {
        Path p = write("idx.yaml", "model: mobilenetv2\nbase: cfg1-star\nabit: {21: 8}\n");
        String m = refused(() -> BitWidths.load(p, MB)).getMessage();
        assertContainsAll(m, "bit widths file " + p, "mobilenetv2 abit override index 21 does not exist",
            "21 entries", "indices 0..20", "0 input", "19 FC in", "20 head out");
        Path q = write("key.yaml", "model: toynet\nwbit: {stem: 8}\n");
        m = refused(() -> BitWidths.load(q, TOY)).getMessage();
        assertContainsAll(m, "bit widths file " + q, "override key 'stem' is not an index", "indices 0..12", "0 stem");
    }

    @Test
    void nonIntegerValuesAreRefused() throws IOException {
        Path p = write("types.yaml", "model: toynet\nabit: {3: \"8\", 4: 6.5}\nwbit: [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, true]\n");
        String m = refused(() -> BitWidths.load(p, TOY)).getMessage();
        assertContainsAll(m, "bit widths file " + p, "abit[3] must be an integer bit width, not \"8\"",
            "abit[4] must be an integer bit width, not 6.5", "wbit[12] must be an integer bit width, not true",
            "wbit[12]: FC 512->10");
        Path q = write("huge.json", "{\"model\": \"resnet20\", \"abit\": {\"0\": 99999999999999999999}}");
        m = refused(() -> BitWidths.load(q, RN)).getMessage();
        assertContainsAll(m, "abit[0] = 99999999999999999999 is not a valid bit width");
        Path r = write("scalar.yaml", "model: resnet20\nabit: 8\n");
        m = refused(() -> BitWidths.load(r, RN)).getMessage();
        assertContainsAll(m, "abit must be a list of 11 bit widths or a map {index: bits}, not a number");
    }

    @Test
    void unknownKeyIsRefused() throws IOException {
        Path p = write("k.yaml", "model: toynet\nbase: cfg1\nabits: [32]\n");
        String m = refused(() -> BitWidths.load(p, TOY)).getMessage();
        assertContainsAll(m, "bit widths file " + p, "unknown key 'abits'", "allowed: model, base, abit, wbit");
    }

    @Test
    void duplicateKeyIsRefused() throws IOException {
        Path p = write("dup.yaml", "model: toynet\nabit: {3: 6}\nabit: {4: 6}\n");
        String m = refused(() -> BitWidths.load(p, TOY)).getMessage();
        assertContainsAll(m, "bit widths file " + p, "malformed YAML", "line 3", "abit");
        Path q = write("dup.json", "{\"model\": \"toynet\", \"model\": \"toynet\"}");
        m = refused(() -> BitWidths.load(q, TOY)).getMessage();
        assertContainsAll(m, "bit widths file " + q, "malformed JSON", "line 1", "model");
    }

    @Test
    void modelMustBePresentAndMatch() throws IOException {
        Path p = write("rn.yaml", BitWidths.preset(RN, "int8").toYaml());
        String m = refused(() -> BitWidths.load(p, TOY)).getMessage();
        assertContainsAll(m, "bit widths file " + p, "is for model 'resnet20' but toynet bit widths were asked for");
        Path q = write("nomodel.yaml", "base: cfg1\n");
        m = refused(() -> BitWidths.load(q, TOY)).getMessage();
        assertContainsAll(m, "bit widths file " + q, "missing key 'model'", "model: toynet");
        Path r = write("any.yaml", "model: toynet\n");
        m = refused(() -> BitWidths.load(r, "alexnet")).getMessage();
        assertContainsAll(m, "unknown model 'alexnet'", "toynet, mobilenetv2, resnet20");
    }

    @Test
    void unknownBaseListsThePresets() throws IOException {
        Path p = write("b.yaml", "model: mobilenetv2\nbase: cfg1\n");
        String m = refused(() -> BitWidths.load(p, MB)).getMessage();
        assertContainsAll(m, "bit widths file " + p, "base: unknown mobilenetv2 preset 'cfg1'", "fp32, cfg1-star");
    }

    @Test
    void malformedFilesGiveLineAndColumn() throws IOException {
        Path y = write("bad.yaml", "model: toynet\nabit: [32, 8\nwbit: {3: 6}\n");
        String m = refused(() -> BitWidths.load(y, TOY)).getMessage();
        assertContainsAll(m, "bit widths file " + y, "malformed YAML at line ", ", column ");
        Path j = write("bad.json", "{\n  \"model\": \"toynet\",\n  \"abit\": [32, 8,, 8]\n}");
        m = refused(() -> BitWidths.load(j, TOY)).getMessage();
        assertContainsAll(m, "bit widths file " + j, "malformed JSON at line 3, column ");
        Path two = write("two.yaml", "model: toynet\n---\nmodel: toynet\n");
        m = refused(() -> BitWidths.load(two, TOY)).getMessage();
        assertContainsAll(m, "bit widths file " + two, "malformed YAML");
        Path list = write("list.yaml", "- 32\n- 8\n");
        m = refused(() -> BitWidths.load(list, TOY)).getMessage();
        assertContainsAll(m, "bit widths file " + list, "must be a mapping with keys model, base, abit, wbit, act, act_clip, branch_out_quant, input_act, tie_residual_alpha, not a array");
        Path empty = write("empty.yaml", "");
        m = refused(() -> BitWidths.load(empty, TOY)).getMessage();
        assertContainsAll(m, "bit widths file " + empty, "is empty");
    }

    @Test
    void oversizedFileIsRefusedBeforeParsingAndTheLimitItselfIsAccepted() throws IOException {
        String body = BitWidths.preset(TOY, "cfg1").toYaml();
        int limit = 1 << 20;
        StringBuilder sb = new StringBuilder(body);
        sb.append('#');
        while (sb.length() < limit - 1) {
            sb.append('x');
        }
        sb.append('\n');
        Path atLimit = write("at-limit.yaml", sb.toString());
        assertEquals(limit, Files.size(atLimit));
        assertEquals(BitWidths.preset(TOY, "cfg1"), BitWidths.load(atLimit, TOY));

        // one byte more, and even the syntax error it contains is never reached
        Path over = write("over.yaml", "abit: [\n" + sb.substring(8) + "x");
        assertEquals(limit + 1, Files.size(over));
        String m = refused(() -> BitWidths.load(over, TOY)).getMessage();
        assertContainsAll(m, "bit widths file " + over, "1048577 bytes", "1 MiB", "refusing to parse");
    }

    @Test
    void missingUnreadableOrWronglyNamedFilesNameTheFile() throws IOException {
        Path missing = dir.resolve("nope.yaml");
        String m = refused(() -> BitWidths.load(missing, TOY)).getMessage();
        assertContainsAll(m, "bit widths file " + missing, "does not exist");
        Path sub = Files.createDirectory(dir.resolve("cfg.yaml"));
        m = refused(() -> BitWidths.load(sub, TOY)).getMessage();
        assertContainsAll(m, "bit widths file " + sub, "is a directory");
        Path txt = write("cfg.txt", "model: toynet\n");
        m = refused(() -> BitWidths.load(txt, TOY)).getMessage();
        assertContainsAll(m, "bit widths file " + txt, "unknown extension", ".yaml, .yml or .json");
    }

    @Test
    void resolveTakesAPresetOrAFile() throws IOException {
        assertEquals(BitWidths.preset(TOY, "cfg1-star"), BitWidths.resolve(TOY, "cfg1-star"));
        Path p = write("cfg.YAML", "model: toynet\nbase: cfg3\nabit: {3: 4}\n");
        assertEquals(BitWidths.preset(TOY, "cfg3").withOverrides(Map.of(3, 4), Map.of()),
            BitWidths.resolve(TOY, p.toString()));

        String m = refused(() -> BitWidths.resolve(TOY, "cfg4")).getMessage();
        assertContainsAll(m, "'cfg4' is neither a toynet preset (fp32, cfg1, cfg1-star, cfg2, cfg3, cfg1-star-e2e)",
            ".yaml/.yml/.json");
        Path missing = dir.resolve("missing.json");
        m = refused(() -> BitWidths.resolve(RN, missing.toString())).getMessage();
        assertContainsAll(m, "bit widths file " + missing, "does not exist");
        m = refused(() -> BitWidths.resolve(RN, "int8 ")).getMessage();
        assertContainsAll(m, "'int8 '", "resnet20 preset (fp32, int8, int6, int4, int8-pact, int6-pact, int4-pact, int8-mpact, int6-mpact, int4-mpact, "
            + "int8-mpact-e2e, int8-mpact-e2e-tied)");
        m = refused(() -> BitWidths.resolve("resnet18", "int8")).getMessage();
        assertContainsAll(m, "unknown model 'resnet18'");
    }

    // ---- beyond the seed: end-to-end presets, the network-input kind, appended indices ----------------------------

    @Test
    void endToEndPresetsAreTheseArraysWithAnMpactInput() {
        assertEquals("cfg1-star-e2e", BitWidths.endToEndPreset(TOY));
        assertEquals("int8-e2e", BitWidths.endToEndPreset(MB));
        assertEquals("int8-mpact-e2e", BitWidths.endToEndPreset(RN));

        assertPreset(TOY, "cfg1-star-e2e",
            new int[] {8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8},
            new int[] {8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8});
        assertPreset(MB, "int8-e2e",
            new int[] {8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 8},
            new int[] {8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 16});
        assertPreset(RN, "int8-mpact-e2e",
            new int[] {8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8},
            new int[] {8, 8, 8, 8, 8, 8, 8, 8, 8, 8});

        BitWidths toy = BitWidths.preset(TOY, "cfg1-star-e2e");
        BitWidths mb = BitWidths.preset(MB, "int8-e2e");
        BitWidths rn = BitWidths.preset(RN, "int8-mpact-e2e");
        assertEquals(0, toy.networkInputIndex());
        assertEquals(0, mb.networkInputIndex());
        assertEquals(BitWidths.RESNET20_INPUT, rn.networkInputIndex());
        for (BitWidths b : List.of(toy, mb, rn)) {
            assertEquals(ActQuantizer.Kind.MPACT, b.inputActivation(), b.toString());
            assertEquals(ActQuantizer.Kind.MPACT, b.activationKind(b.networkInputIndex()), b.toString());
            assertEquals(ActQuantizer.Kind.MPACT, b.quantizer(b.networkInputIndex()).kind(), b.toString());
            assertEquals(8, b.quantizer(b.networkInputIndex()).bits(), b.toString());
            assertTrue(b.toString().endsWith(" input_act=mpact]"), b.toString());
        }
        // the rest keep their kinds: the seed's for toynet / mobilenetv2 (mobilenetv2's FC input stays DoReFa),
        // mPACT everywhere for resnet20, which also chooses act: mpact
        assertEquals(null, toy.activationOverride());
        assertEquals(ActQuantizer.Kind.MPACT, toy.activationKind(BitWidths.TOYNET_DOWNSAMPLE_BN));
        assertEquals(null, mb.activationOverride());
        assertEquals(ActQuantizer.Kind.DOREFA, mb.activationKind(19));
        assertEquals(ActQuantizer.Kind.MPACT, mb.activationKind(BitWidths.MOBILENETV2_HEAD_OUTPUT));
        assertEquals(ActQuantizer.Kind.MPACT, rn.activationOverride());
        for (int i = 0; i < 11; i++) {
            assertEquals(ActQuantizer.Kind.MPACT, rn.activationKind(i), "resnet20 abit " + i);
        }
    }

    @Test
    void endToEndPresetsRoundTripThroughYamlWithInputActMpact() throws IOException {
        for (String model : BitWidths.models()) {
            BitWidths b = BitWidths.preset(model, BitWidths.endToEndPreset(model));
            String yaml = b.toYaml();
            assertTrue(yaml.contains("\ninput_act: mpact"), yaml);
            BitWidths back = BitWidths.fromYaml(yaml, model, "checkpoint");
            assertEquals(b, back, model);
            assertEquals(b.hashCode(), back.hashCode(), model);
            assertEquals(ActQuantizer.Kind.MPACT, back.inputActivation(), model);
            assertEquals(b, BitWidths.load(write(model + "-e2e.yaml", yaml), model), model);
            // without the input_act line the same arrays are the seed's DoReFa input, a different configuration
            BitWidths dorefa = BitWidths.fromYaml(yaml.replaceAll("(?m)^input_act:.*\n", ""), model, "checkpoint");
            assertEquals(null, dorefa.inputActivation(), model);
            assertArrayEquals(b.abit(), dorefa.abit(), model);
            assertArrayEquals(b.wbit(), dorefa.wbit(), model);
            assertNotEquals(b, dorefa, model);
            assertEquals(b, dorefa.withInputActivation(ActQuantizer.Kind.MPACT), model);
        }
    }

    @Test
    void inputKindTakesPartInEqualsHashCodeAndToString() {
        BitWidths dorefa = BitWidths.of(TOY, filled(14, 8), filled(13, 8));
        BitWidths mpact = dorefa.withInputActivation(ActQuantizer.Kind.MPACT);
        assertEquals(BitWidths.preset(TOY, "cfg1-star-e2e"), mpact);
        assertEquals(BitWidths.preset(TOY, "cfg1-star-e2e").hashCode(), mpact.hashCode());
        assertNotEquals(dorefa, mpact);
        assertEquals(null, dorefa.inputActivation());
        assertEquals(ActQuantizer.Kind.DOREFA, dorefa.activationKind(0));
        assertEquals(ActQuantizer.Kind.MPACT, mpact.activationKind(0));
        assertEquals("BitWidths[toynet abit=[8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8] "
            + "wbit=[8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8] input_act=mpact]", mpact.toString());
        assertEquals("BitWidths[toynet abit=[8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8] "
            + "wbit=[8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8]]", dorefa.toString());
        // DOREFA (and null) is the seed's input: no choice, equal to never choosing
        assertEquals(dorefa, mpact.withInputActivation(ActQuantizer.Kind.DOREFA));
        assertEquals(dorefa, mpact.withInputActivation(null));
        assertEquals(dorefa, dorefa.withInputActivation(ActQuantizer.Kind.DOREFA));
        assertEquals(null, mpact.withInputActivation(ActQuantizer.Kind.DOREFA).inputActivation());
        // the other choices are kept by withInputActivation, and it by them
        BitWidths rn = BitWidths.preset(RN, "int8").withBranchOutputQuant(false)
            .withInputActivation(ActQuantizer.Kind.MPACT).withActivationKind(ActQuantizer.Kind.PACT);
        assertEquals(ActQuantizer.Kind.MPACT, rn.inputActivation());
        assertEquals(ActQuantizer.Kind.PACT, rn.activationOverride());
        assertEquals(false, rn.branchOutputQuant());
        assertTrue(rn.toString().endsWith(" act=pact branch_out_quant=false input_act=mpact]"), rn.toString());
    }

    @Test
    void resnet20NetworkInputKeepsDoReFaUnderAChosenKindUnlessInputActSaysMpact() {
        BitWidths b = BitWidths.preset(RN, "int8").withOverrides(Map.of(10, 8), Map.of())
            .withActivationKind(ActQuantizer.Kind.PACT);
        for (int i = 0; i < 10; i++) {
            assertEquals(ActQuantizer.Kind.PACT, b.activationKind(i), "resnet20 abit " + i);
        }
        assertEquals(ActQuantizer.Kind.DOREFA, b.activationKind(BitWidths.RESNET20_INPUT),
            "the network input is not given the chosen kind");
        assertEquals(ActQuantizer.Kind.MPACT,
            b.withInputActivation(ActQuantizer.Kind.MPACT).activationKind(BitWidths.RESNET20_INPUT));
        assertEquals(ActQuantizer.Kind.PACT,
            b.withInputActivation(ActQuantizer.Kind.MPACT).activationKind(BitWidths.RESNET20_STEM_OUTPUT));
        // likewise toynet's and mobilenetv2's abit[0]
        assertEquals(ActQuantizer.Kind.DOREFA, BitWidths.preset(TOY, "cfg1-star-e2e")
            .withInputActivation(null).withActivationKind(ActQuantizer.Kind.PACT).activationKind(0));
        assertEquals(ActQuantizer.Kind.DOREFA, BitWidths.preset(MB, "int8-e2e")
            .withInputActivation(null).withActivationKind(ActQuantizer.Kind.PACT).activationKind(0));
    }

    @Test
    void overridesAreCheckedAgainstTheChosenInputKind() {
        BitWidths e2e = BitWidths.preset(TOY, "cfg1-star-e2e");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> e2e.withOverrides(Map.of(0, 1), Map.of()));
        assertTrue(e.getMessage().contains("abit[0] = 1 is not a valid bit width") && e.getMessage().contains("mPACT"),
            e.getMessage());
        BitWidths four = e2e.withOverrides(Map.of(0, 4), Map.of());
        assertEquals(ActQuantizer.Kind.MPACT, four.inputActivation(), "the input kind survives an override");
        assertEquals(4, four.quantizer(0).bits());
    }

    @Test
    void fileWithInputActMpactChoosesTheSignedInputQuantizer() throws IOException {
        // cfg1-star with the image, the header output and the downsample BN output at 8 bits, and an mPACT input
        BitWidths b = BitWidths.load(write("e2e.yaml",
            "model: toynet\nbase: cfg1-star\ninput_act: mpact\nabit: {0: 8, 12: 8, 13: 8}\n"), TOY);
        assertEquals(BitWidths.preset(TOY, "cfg1-star-e2e"), b);
        assertEquals(ActQuantizer.Kind.MPACT, b.activationKind(0));
        BitWidths j = BitWidths.load(write("e2e.json",
            "{\"model\": \"resnet20\", \"base\": \"int8-mpact\", \"input_act\": \"mpact\", \"abit\": {\"9\": 8, \"10\": 8},"
                + " \"wbit\": {\"9\": 8}}"), RN);
        assertEquals(BitWidths.preset(RN, "int8-mpact-e2e"), j);
        // a base that chose the input kind passes it on; input_act: dorefa goes back to the seed's
        assertEquals(ActQuantizer.Kind.MPACT,
            BitWidths.load(write("base.yaml", "model: mobilenetv2\nbase: int8-e2e\n"), MB).inputActivation());
        BitWidths back = BitWidths.load(write("dorefa.yaml", "model: mobilenetv2\nbase: int8-e2e\ninput_act: dorefa\n"), MB);
        assertEquals(null, back.inputActivation());
        assertArrayEquals(BitWidths.preset(MB, "int8-e2e").abit(), back.abit());
        // the input's bit width is checked against mPACT once input_act chooses it
        Path one = write("one.yaml", "model: toynet\ninput_act: mpact\nabit: {0: 1}\n");
        String m = refused(() -> BitWidths.load(one, TOY)).getMessage();
        assertContainsAll(m, "bit widths file " + one, "toynet abit[0] = 1", "mPACT, which takes 2..16 or 32");
        assertEquals(1, BitWidths.load(write("one-dorefa.yaml", "model: toynet\nabit: {0: 1}\n"), TOY).abit(0),
            "1 bit is fine for the seed's DoReFa input");
    }

    @Test
    void fileWithAnInvalidInputActIsRefusedNamingTheKey() throws IOException {
        for (String[] bad : new String[][] {
            {"pact.yaml", "model: toynet\ninput_act: pact\n", "'pact'"},
            {"fixed.yaml", "model: resnet20\ninput_act: fixed-clip\n", "'fixed-clip'"},
            {"number.yaml", "model: mobilenetv2\ninput_act: 8\n", "not a number"},
            {"list.json", "{\"model\": \"toynet\", \"input_act\": [\"mpact\"]}", "not a array"}}) {
            Path p = write(bad[0], bad[1]);
            String model = bad[1].contains("resnet20") ? RN : bad[1].contains("mobilenetv2") ? MB : TOY;
            String m = refused(() -> BitWidths.load(p, model)).getMessage();
            assertContainsAll(m, "bit widths file " + p, "'input_act'", "must be dorefa or mpact", bad[2]);
        }
    }

    @Test
    void withInputActivationRefusesKindsOtherThanDorefaAndMpact() {
        for (String model : BitWidths.models()) {
            BitWidths b = BitWidths.preset(model, "fp32");
            String m = refused(() -> b.withInputActivation(ActQuantizer.Kind.PACT)).getMessage();
            assertEquals(model + ": the network input quantizer is dorefa (the seed's) or mpact, not pact", m);
            m = refused(() -> b.withInputActivation(ActQuantizer.Kind.FIXED_CLIP)).getMessage();
            assertContainsAll(m, model, "network input quantizer is dorefa (the seed's) or mpact, not fixed-clip");
            assertEquals(null, b.inputActivation(), "unchanged");
        }
        String m = refused(() -> BitWidths.preset(TOY, "cfg1").withOverrides(Map.of(0, 1), Map.of())
            .withInputActivation(ActQuantizer.Kind.MPACT)).getMessage();
        assertContainsAll(m, "toynet abit[0] = 1", "mPACT, which takes 2..16 or 32", "abit[0]: network input");
    }

    @Test
    void earlierLengthArraysReadWithTheAppendedIndicesOff() {
        int[] toy13 = {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 32};
        BitWidths toy = BitWidths.of(TOY, toy13, new int[] {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 16, 16});
        assertArrayEquals(new int[] {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 32, 32}, toy.abit());
        assertEquals(32, toy.abit(BitWidths.TOYNET_DOWNSAMPLE_BN));
        assertEquals(BitWidths.preset(TOY, "cfg1"), toy);

        int[] mb20 = {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 32};
        BitWidths mb = BitWidths.of(MB, mb20, BitWidths.preset(MB, "cfg1-star").wbit());
        assertArrayEquals(new int[] {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 32, 32}, mb.abit());
        assertEquals(32, mb.abit(BitWidths.MOBILENETV2_HEAD_OUTPUT));
        assertEquals(BitWidths.preset(MB, "cfg1-star"), mb);

        // resnet20: abit 9 (before the stem output) and 10 (before the input), wbit 9 (before the stem weights)
        BitWidths rn9 = BitWidths.of(RN, filled(9, 8), filled(9, 8));
        assertArrayEquals(new int[] {8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 32}, rn9.abit());
        assertArrayEquals(new int[] {8, 8, 8, 8, 8, 8, 8, 8, 8, 32}, rn9.wbit());
        assertEquals(BitWidths.preset(RN, "int8"), rn9);
        BitWidths rn10 = BitWidths.of(RN, filled(10, 6), filled(9, 6));
        assertArrayEquals(new int[] {6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 32}, rn10.abit(), "abit[9] kept, abit[10] off");
        assertArrayEquals(new int[] {6, 6, 6, 6, 6, 6, 6, 6, 6, 32}, rn10.wbit());
        assertEquals(32, rn10.abit(BitWidths.RESNET20_INPUT));
        assertEquals(32, rn10.wbit(BitWidths.RESNET20_STEM_WEIGHTS));
        // each array is padded on its own: a current abit with an earlier wbit, and the other way round
        assertArrayEquals(new int[] {4, 4, 4, 4, 4, 4, 4, 4, 4, 32},
            BitWidths.of(RN, filled(11, 4), filled(9, 4)).wbit());
        assertArrayEquals(new int[] {4, 4, 4, 4, 4, 4, 4, 4, 4, 32, 32},
            BitWidths.of(RN, filled(9, 4), filled(10, 4)).abit());
    }

    @Test
    void earlierLengthArraysInFilesReadTheSame() throws IOException {
        BitWidths toy = BitWidths.load(write("toy13.yaml", "model: toynet\n"
            + "abit: [32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 32]\n"
            + "wbit: [32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 16, 16]\n"), TOY);
        assertEquals(BitWidths.preset(TOY, "cfg1"), toy);
        assertArrayEquals(new int[] {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 32, 32}, toy.abit());
        assertEquals(toy, BitWidths.fromYaml("model: toynet\nabit: [32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 32]\n"
            + "wbit: [32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 16, 16]\n", TOY, "old checkpoint"));

        String mb20 = "[32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 32]";
        BitWidths mb = BitWidths.load(write("mb20.yaml", "model: mobilenetv2\nbase: cfg1-star\nabit: " + mb20 + "\n"), MB);
        assertEquals(BitWidths.preset(MB, "cfg1-star"), mb);
        assertEquals(32, mb.abit(20));

        BitWidths rn = BitWidths.load(write("rn9.yaml",
            "model: resnet20\nabit: [4, 4, 4, 4, 4, 4, 4, 4, 4]\nwbit: [4, 4, 4, 4, 4, 4, 4, 4, 4]\n"), RN);
        assertEquals(BitWidths.preset(RN, "int4"), rn);
        assertArrayEquals(rnAbit(4), rn.abit());
        assertArrayEquals(rnWbit(4), rn.wbit());
        BitWidths rn10 = BitWidths.load(write("rn10.json",
            "{\"model\": \"resnet20\", \"act\": \"mpact\", \"abit\": [8,8,8,8,8,8,8,8,8,8], \"wbit\": [8,8,8,8,8,8,8,8,8]}"), RN);
        assertArrayEquals(new int[] {8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 32}, rn10.abit());
        assertEquals(BitWidths.preset(RN, "int8-mpact").withOverrides(Map.of(9, 8), Map.of()), rn10);

        // the earlier lengths only: one short of them is still refused, in a file as in code
        Path shortRn = write("rn8.yaml", "model: resnet20\nabit: [8, 8, 8, 8, 8, 8, 8, 8]\n");
        assertContainsAll(refused(() -> BitWidths.load(shortRn, RN)).getMessage(),
            "bit widths file " + shortRn, "resnet20 abit has 8 entries, expected 11");
        Path shortMb = write("mb19.yaml", "model: mobilenetv2\nabit: [32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 32]\n");
        assertContainsAll(refused(() -> BitWidths.load(shortMb, MB)).getMessage(),
            "bit widths file " + shortMb, "mobilenetv2 abit has 19 entries, expected 21");
    }
}
