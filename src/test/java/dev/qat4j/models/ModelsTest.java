package dev.qat4j.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Results.Loss;
import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.nn.ActQuant;
import dev.qat4j.nn.BatchNorm2d;
import dev.qat4j.nn.Clamp;
import dev.qat4j.nn.Flatten;
import dev.qat4j.nn.Init;
import dev.qat4j.nn.LayerInfo;
import dev.qat4j.nn.Module;
import dev.qat4j.nn.Parameter;
import dev.qat4j.nn.Pool;
import dev.qat4j.nn.QConv2d;
import dev.qat4j.nn.QLinear;
import dev.qat4j.nn.ResidualBlock;
import dev.qat4j.nn.Sequential;
import dev.qat4j.nn.Step;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class ModelsTest {
    private static final Backend REF = RefBackend.INSTANCE;

    @ParameterizedTest(name = "{0}")
    @CsvSource({"toynet, 203626, 25601536", "mobilenetv2, 2383050, 98645504", "resnet20, 272474, 41214656"})
    void exactParameterAndMaddTotals(String model, long params, long madds) {
        for (String preset : BitWidths.presetNames(model)) {
            try (QuantModel m = Models.build(model, BitWidths.preset(model, preset), REF, 1)) {
                assertEquals(params, m.paramCount(), model + " " + preset + " parameters (α excluded)");
                assertEquals(madds, m.maddCount(), model + " " + preset + " MADDs");
                long alphas = m.parameters().stream().filter(p -> p.kind() == Parameter.Kind.ALPHA).count();
                long all = m.parameters().stream().mapToLong(Parameter::numel).sum();
                assertEquals(params + alphas, all, "every parameter is counted except α");
            }
        }
    }

    @Test
    void quantizerPlacementMatchesTheSeedsAlphaCounts() {
        // algorithms.md A5: 35 α for ToyNet, 66 for MobileNetV2 (each mPACT use is its own module); DoReFa has none.
        // Counted structurally (mPACT layers), since a 32-bit quantizer is the identity and keeps no α.
        assertEquals(35, mpactLayers("toynet", "cfg1-star"));
        assertEquals(66, mpactLayers("mobilenetv2", "cfg1-star"));
        assertEquals(0, mpactLayers("resnet20", "int8"));
        try (QuantModel m = Models.build("mobilenetv2", BitWidths.preset("mobilenetv2", "cfg1-star"), REF, 1)) {
            // cfg1-star leaves abit[18] (block 17's output) at 32: its two output quantizers have no α.
            assertEquals(64, m.parameters().stream().filter(p -> p.kind() == Parameter.Kind.ALPHA).count());
        }
    }

    private static long mpactLayers(String model, String preset) {
        try (QuantModel m = Models.build(model, BitWidths.preset(model, preset), REF, 1)) {
            return leaves(m.net()).stream()
                    .filter(l -> l instanceof ActQuant a && a.quantizer().kind() == ActQuantizer.Kind.MPACT).count();
        }
    }

    /** Params and conv/FC MACs (BN elements excluded) per part, grouped by the first two name components. */
    private static Map<String, long[]> perPart(QuantModel m) {
        Map<String, long[]> parts = new LinkedHashMap<>();
        for (LayerInfo r : m.summary()) {
            String[] n = r.name().split("\\.");
            String key = n[0].matches("s\\d+") && n.length > 1 && n[1].matches("b\\d+") ? n[0] + "." + n[1] : n[0];
            long[] v = parts.computeIfAbsent(key, k -> new long[2]);
            v[0] += r.params();
            if (r.type().startsWith("conv") || r.type().startsWith("fc")) {
                v[1] += r.madds();
            }
        }
        return parts;
    }

    @Test
    void toyNetPerBlockFiguresMatchTheSeedTable() {
        try (QuantModel m = Models.build("toynet", BitWidths.preset("toynet", "cfg1"), REF, 1)) {
            Map<String, long[]> p = perPart(m);
            assertArrayEquals(new long[] {464, 442_368}, p.get("stem"));
            assertArrayEquals(new long[] {2_224, 2_244_608}, p.get("s0.b0"));
            assertArrayEquals(new long[] {10_624, 2_695_168}, p.get("s1.b0"));
            for (String b : new String[] {"s1.b1", "s1.b2", "s2.b0", "s2.b1", "s2.b2"}) {
                assertArrayEquals(new long[] {8_544, 2_170_880}, p.get(b), b);
            }
            assertArrayEquals(new long[] {41_728, 2_658_304}, p.get("s3.b0"));
            assertArrayEquals(new long[] {33_472, 2_134_016}, p.get("s3.b1"));
            assertArrayEquals(new long[] {33_472, 2_134_016}, p.get("s3.b2"));
            assertArrayEquals(new long[] {33_792, 2_097_152}, p.get("header"));
            assertArrayEquals(new long[] {5_130, 5_120}, p.get("fc"));
        }
    }

    @Test
    void mobileNetV2PerBlockParametersMatchTheSeed() {
        long[] expected = {2_528, 5_568, 9_456, 10_000, 15_936, 15_936, 21_056, 58_496, 58_496, 58_496, 72_960, 127_680,
            127_680, 155_264, 345_920, 345_920, 525_760};
        try (QuantModel m = Models.build("mobilenetv2", BitWidths.preset("mobilenetv2", "fp32"), REF, 1)) {
            Map<String, long[]> p = perPart(m);
            for (int i = 0; i < expected.length; i++) {
                assertEquals(expected[i], p.get("b" + (i + 1))[0], "block " + (i + 1));
            }
            assertEquals(928, p.get("stem")[0]);
            assertEquals(412_160, p.get("head")[0]);
            assertEquals(12_810, p.get("fc")[0]);
        }
    }

    private static float[] images(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n * 3 * 32 * 32];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    /** Logits and every parameter gradient (by name) of one training step on {@code backend}. */
    private static Map<String, float[]> trainStep(QuantModel m, Backend backend, float[] x, int n) {
        Map<String, float[]> out = new LinkedHashMap<>();
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            labels[i] = i % 10;
        }
        try (Step step = new Step(backend, true)) {
            Tensor logits = m.forward(step, step.keep(backend.fromFloats(x, n, 3, 32, 32)));
            out.put("logits", logits.toFloatArray());
            try (Loss loss = backend.softmaxCrossEntropy(logits, step.keep(backend.fromInts(labels, n)), 0f)) {
                m.backward(step, loss.dlogits());
            }
        }
        for (Parameter p : m.parameters()) {
            out.put(p.name(), p.grad().toFloatArray());
        }
        return out;
    }

    private static double norm(float[] a) {
        double s = 0;
        for (float v : a) {
            s += (double) v * v;
        }
        return Math.sqrt(s);
    }

    /**
     * Some gradients vanish in exact arithmetic: BN's dβ = Σdy is exactly 0 when the consumer is a 1x1 conv followed
     * by training-mode BN (that BN's dx sums to 0 per channel). Both backends then return rounding noise, and a
     * relative comparison is meaningless; they are compared against 1% of the block's (or model's) gradient norm.
     */
    private static final double FLOOR = 1e-2;

    private static double gradNorm(List<Parameter> ps) {
        double s = 0;
        for (Parameter p : ps) {
            s += Math.pow(norm(p.grad().toFloatArray()), 2);
        }
        return Math.sqrt(s);
    }

    private static double relDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        float[] d = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i] - b[i];
        }
        return norm(d) / (norm(a) + 1e-12);
    }

    /**
     * Unquantized, the whole step agrees end to end. Logits: float differences (GEMM summation order, BN folded
     * into one multiply-add) are ~1e-7 relative per layer and ~1e-6 after the network, so 1e-5. Gradients: each
     * block's backward agrees to ~1e-6 on the same inputs (next test), but end to end the input-side gradients of a
     * randomly initialised network are small differences of large terms (BN backward subtracts the batch mean and
     * the projection on x-hat), which amplifies the 1e-6 logit difference up to ~1e-2 at the stem (measured);
     * 5e-2 still fails any wiring error, which is O(1).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"toynet", "resnet20", "mobilenetv2"})
    void fp32TrainingStepAgreesBetweenRefAndCpu(String model) {
        int n = 2;
        float[] x = images(5, n);
        Map<String, float[]> ref, cpu;
        try (QuantModel m = Models.build(model, BitWidths.preset(model, "fp32"), REF, 7)) {
            ref = trainStep(m, REF, x, n);
        }
        try (QuantModel m = Models.build(model, BitWidths.preset(model, "fp32"), REF, 7)) {
            m.moveTo(CpuBackend.get());
            cpu = trainStep(m, CpuBackend.get(), x, n);
        }
        assertEquals(ref.keySet(), cpu.keySet());
        double all = 0;
        for (String k : ref.keySet()) {
            all += k.equals("logits") ? 0 : Math.pow(norm(ref.get(k)), 2);
        }
        double floor = FLOOR * Math.sqrt(all);
        for (String k : ref.keySet()) {
            float[] a = ref.get(k);
            double diff = relDiff(a, cpu.get(k)) * norm(a);
            double tol = k.equals("logits") ? 1e-5 * norm(a) : 5e-2 * (norm(a) + floor);
            assertTrue(diff <= tol, model + " " + k + ": |diff| " + diff + " > " + tol);
        }
    }

    /**
     * Quantized, end-to-end agreement is not a meaningful target: a value within float rounding of a quantization
     * threshold lands on a neighbouring level on one backend, and each such flip (one step, ~1% of the value at 8
     * bits) propagates through every later quantizer. So each top-level block is checked on the same input (the
     * reference's), forward and backward. Unquantized, that leaves float rounding: 1e-5. Quantized, it leaves the
     * flips inside the block (a few per ten thousand values) and their effect on sums that cancel (BN's dβ = Σdy).
     * Measured on toynet cfg3 (batch 2): 4-6% of the norm on most of its blocks' gradients with the cpu float conv,
     * up to 7% (s1.b2 bn.bias) since the cpu forward conv of quantized operands is an exact integer sum (which moves
     * BN's inputs by float rounding and so moves values across clip and rounding thresholds); hence 1e-1. A wiring
     * or kernel error is O(1).
     */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"toynet, fp32", "resnet20, fp32", "mobilenetv2, fp32", "toynet, cfg1-star", "resnet20, int8",
        "mobilenetv2, cfg1-star", "toynet, cfg3", "resnet20, int4"})
    void blocksAgreeBetweenRefAndCpuOnTheSameInputs(String model, String preset) {
        CpuBackend cpu = CpuBackend.get();
        double tol = preset.equals("fp32") ? 1e-5 : 1e-1;
        int n = 2;
        try (QuantModel mr = Models.build(model, BitWidths.preset(model, preset), REF, 7);
             QuantModel mc = Models.build(model, BitWidths.preset(model, preset), REF, 7);
             Step sr = new Step(REF, true);
             Step sc = new Step(cpu, true)) {
            mc.moveTo(cpu);
            List<Module> br = mr.net().children(), bc = mc.net().children();
            Tensor in = sr.keep(REF.fromFloats(images(5, n), n, 3, 32, 32));
            for (int i = 0; i < br.size(); i++) {
                Tensor outR = br.get(i).forward(sr, in);
                Tensor outC = bc.get(i).forward(sc, sc.keep(cpu.copyFrom(in)));
                double rel = relDiff(outR.toFloatArray(), outC.toFloatArray());
                assertTrue(rel <= tol, model + " " + preset + " forward " + br.get(i).name() + ": " + rel);
                in = outR;
            }
            SplittableRandom r = new SplittableRandom(3);
            float[] g = new float[in.numel()];
            for (int i = 0; i < g.length; i++) {
                g[i] = (float) r.nextGaussian();
            }
            Tensor dy = sr.keep(REF.fromFloats(g, in.shape()));
            for (int i = br.size() - 1; i >= 0; i--) {
                Tensor dxR = br.get(i).backward(sr, dy);
                Tensor dxC = bc.get(i).backward(sc, sc.keep(cpu.copyFrom(dy)));
                String where = model + " " + preset + " backward " + br.get(i).name();
                double rel = relDiff(dxR.toFloatArray(), dxC.toFloatArray());
                assertTrue(rel <= tol, where + " dx: " + rel);
                List<Parameter> pr = br.get(i).parameters(), pc = bc.get(i).parameters();
                double floor = FLOOR * gradNorm(pr);
                for (int j = 0; j < pr.size(); j++) {
                    float[] a = pr.get(j).grad().toFloatArray(), b = pc.get(j).grad().toFloatArray();
                    double diff = relDiff(a, b) * norm(a);
                    assertTrue(diff <= tol * (norm(a) + floor), where + " " + pr.get(j).name() + ": |diff| " + diff
                            + ", |grad| " + norm(a) + ", block floor " + floor);
                }
                dy = dxR;
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"toynet", "resnet20", "mobilenetv2"})
    void fp32PresetIsTheNetworkWithoutQuantizers(String model) {
        Backend cpu = CpuBackend.get();
        float[] x = images(9, 2);
        Map<String, float[]> fp32, plain;
        try (QuantModel m = Models.build(model, BitWidths.preset(model, "fp32"), cpu, 3)) {
            fp32 = trainStep(m, cpu, x, 2);
        }
        try (QuantModel m = Models.build(model, BitWidths.preset(model, "fp32"), cpu, 3, false)) {
            assertTrue(leaves(m.net()).stream().noneMatch(l -> l instanceof ActQuant), "no quantizer layers left");
            plain = trainStep(m, cpu, x, 2);
        }
        assertArrayEquals(plain.get("logits"), fp32.get("logits"), 0f, model + ": identical logits");
        for (String k : plain.keySet()) {
            assertArrayEquals(plain.get(k), fp32.get(k), 0f, model + " " + k);
        }
    }

    private static List<Module> leaves(Module m) {
        List<Module> out = new ArrayList<>();
        if (m.children().isEmpty()) {
            out.add(m);
        }
        for (Module c : m.children()) {
            out.addAll(leaves(c));
        }
        return out;
    }

    /** Each leaf's quantization setting, by name. */
    private static Map<String, String> quantSettings(QuantModel m) {
        Map<String, String> s = new LinkedHashMap<>();
        for (Module l : leaves(m.net())) {
            if (l instanceof QConv2d c) {
                s.put(l.name(), "w" + c.weightBits());
            } else if (l instanceof QLinear f) {
                s.put(l.name(), "w" + f.weightBits());
            } else if (l instanceof ActQuant a) {
                s.put(l.name(), a.quantizer().kind() + "/" + a.quantizer().bits());
            }
        }
        return s;
    }

    private static List<String> changed(Map<String, String> a, Map<String, String> b) {
        List<String> names = new ArrayList<>();
        for (String k : a.keySet()) {
            if (!a.get(k).equals(b.get(k))) {
                names.add(k);
            }
        }
        return names;
    }

    @Test
    void changingOneIndexChangesOnlyItsLayers() {
        BitWidths base = BitWidths.preset("toynet", "cfg1-star");
        Map<String, String> before;
        try (QuantModel m = Models.build("toynet", base, REF, 1)) {
            before = quantSettings(m);
        }
        // wbit[5] is block 5 = s2.b0: its three convs, nothing else.
        try (QuantModel m = Models.build("toynet", base.withOverrides(Map.of(), Map.of(5, 4)), REF, 1)) {
            assertEquals(List.of("s2.b0.dw", "s2.b0.pw1", "s2.b0.pw2"), changed(before, quantSettings(m)));
        }
        // abit[3] is block 2's output (s1.b0.out.q) and block 3's input quantizers (s1.b1 dw.q, pw1.q).
        try (QuantModel m = Models.build("toynet", base.withOverrides(Map.of(3, 4), Map.of()), REF, 1)) {
            assertEquals(List.of("s1.b0.out.q", "s1.b1.dw.q", "s1.b1.pw1.q"), changed(before, quantSettings(m)));
        }
        // abit[2] also feeds block 2's downsample quantizer.
        try (QuantModel m = Models.build("toynet", base.withOverrides(Map.of(2, 6), Map.of()), REF, 1)) {
            assertEquals(List.of("s0.b0.out.q", "s1.b0.down.q", "s1.b0.dw.q", "s1.b0.pw1.q"),
                    changed(before, quantSettings(m)));
        }
    }

    @Test
    void inputShapeIsACopyNoCallerCanChange() {
        try (QuantModel m = Models.build("toynet", BitWidths.preset("toynet", "fp32"), REF, 1)) {
            assertEquals(InputSpec.CIFAR10, m.inputSpec());
            int[] s = m.inputSpec().shape();
            assertArrayEquals(new int[] {3, 32, 32}, s);
            s[0] = 1;
            assertArrayEquals(new int[] {3, 32, 32}, m.inputSpec().shape());
        }
    }

    @Test
    void blockShapesFollowStridesAndChannels() {
        try (QuantModel m = Models.build("toynet", BitWidths.preset("toynet", "fp32"), REF, 1)) {
            Map<String, int[]> out = new LinkedHashMap<>();
            int[] s = m.inputSpec().shape();
            for (Module c : m.net().children()) {
                s = c.outputShape(s);
                out.put(c.name(), s);
            }
            assertArrayEquals(new int[] {16, 32, 32}, out.get("s0.b0"));
            assertArrayEquals(new int[] {32, 16, 16}, out.get("s1.b0"), "stride 2 and 16 -> 32 channels");
            assertArrayEquals(new int[] {32, 16, 16}, out.get("s2.b2"));
            assertArrayEquals(new int[] {64, 8, 8}, out.get("s3.b0"));
            assertArrayEquals(new int[] {10}, out.get("fc"));
        }
        try (QuantModel m = Models.build("resnet20", BitWidths.preset("resnet20", "fp32"), REF, 1)) {
            Map<String, int[]> out = new LinkedHashMap<>();
            int[] s = m.inputSpec().shape();
            for (Module c : m.net().children()) {
                s = c.outputShape(s);
                out.put(c.name(), s);
            }
            assertArrayEquals(new int[] {16, 32, 32}, out.get("s0.b2"));
            assertArrayEquals(new int[] {32, 16, 16}, out.get("s1.b0"));
            assertArrayEquals(new int[] {64, 8, 8}, out.get("s2.b2"));
            assertArrayEquals(new int[] {64, 1, 1}, out.get("pool"));
        }
        try (QuantModel m = Models.build("mobilenetv2", BitWidths.preset("mobilenetv2", "fp32"), REF, 1)) {
            int[] s = m.inputSpec().shape();
            Map<String, int[]> out = new LinkedHashMap<>();
            for (Module c : m.net().children()) {
                s = c.outputShape(s);
                out.put(c.name(), s);
            }
            assertArrayEquals(new int[] {16, 32, 32}, out.get("b1"));
            assertArrayEquals(new int[] {24, 32, 32}, out.get("b3"), "the 24-channel stage keeps stride 1 on CIFAR");
            assertArrayEquals(new int[] {32, 16, 16}, out.get("b4"));
            assertArrayEquals(new int[] {320, 4, 4}, out.get("b17"));
        }
    }

    @Test
    void rejectedConfigurations() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Models.build("resnet20", BitWidths.preset("toynet", "cfg1"), REF, 1));
        assertTrue(e.getMessage().contains("toynet") && e.getMessage().contains("resnet20"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Models.build("vgg", BitWidths.preset("toynet", "cfg1"), REF, 1));
        assertTrue(e.getMessage().contains("vgg"), e.getMessage());
        // Parts that do not fit together are refused when the model is assembled, naming the layer.
        SplittableRandom r = new SplittableRandom(1);
        Module bad = new Sequential("bad", List.of(new QConv2d("c1", REF, r, Init.TORCH_DEFAULT, 3, 8, 3, 1, 1, 1, 8),
                new QConv2d("c2", REF, r, Init.TORCH_DEFAULT, 16, 8, 3, 1, 1, 1, 8)));
        e = assertThrows(IllegalArgumentException.class, () -> new QuantModel("bad", null, bad));
        assertTrue(e.getMessage().contains("c2") && e.getMessage().contains("[8, 32, 32]"), e.getMessage());
        Module branches = new ResidualBlock("blk", null, new QConv2d("m", REF, r, Init.TORCH_DEFAULT, 3, 8, 3, 2, 1, 1, 8),
                null, null);
        e = assertThrows(IllegalArgumentException.class, () -> branches.outputShape(new int[] {3, 32, 32}));
        assertTrue(e.getMessage().contains("blk") && e.getMessage().contains("branch shapes differ"), e.getMessage());
    }

    /** The public parts make a user's own network that trains on either backend like the presets. */
    @Test
    void aUsersOwnNetworkRunsOnBothBackends() {
        SplittableRandom r = new SplittableRandom(11);
        Module net = new Sequential("mine", List.of(
                new QConv2d("conv1", REF, r, Init.KAIMING_UNIFORM, 3, 8, 3, 2, 1, 1, 4),
                new BatchNorm2d("bn1", REF, 8),
                Clamp.relu("relu1"),
                new ActQuant("q1", REF, ActQuantizer.pact(4), 4f),
                new ResidualBlock("res", null, new Sequential("res.main", List.of(
                        new QConv2d("res.conv", REF, r, Init.KAIMING_UNIFORM, 8, 8, 3, 1, 1, 8, 4),
                        new BatchNorm2d("res.bn", REF, 8))), null, new ActQuant("res.q", REF, ActQuantizer.mpact(4), 3f)),
                Pool.global("pool"),
                new Flatten("flat"),
                new QLinear("fc", REF, r, Init.TORCH_DEFAULT, false, 8, 10, 8)));
        try (QuantModel m = new QuantModel("mine", null, net)) {
            Map<String, float[]> a = trainStep(m, REF, images(2, 3), 3);
            m.moveTo(CpuBackend.get());
            Map<String, float[]> b = trainStep(m, CpuBackend.get(), images(2, 3), 3);
            assertEquals(a.keySet(), b.keySet());
            assertTrue(a.containsKey("q1.alpha") && a.containsKey("res.q.alpha"), a.keySet().toString());
            for (String k : a.keySet()) {
                float[] d = new float[a.get(k).length];
                for (int i = 0; i < d.length; i++) {
                    d[i] = a.get(k)[i] - b.get(k)[i];
                }
                assertTrue(norm(d) <= 2e-2 * norm(a.get(k)) + 1e-6, k + " differs: " + norm(d));
            }
        }
    }
}
