package dev.qat4j.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.checkpoint.Checkpoint;
import dev.qat4j.checkpoint.CheckpointIO;
import dev.qat4j.nn.ActQuant;
import dev.qat4j.nn.BatchNorm2d;
import dev.qat4j.nn.Flatten;
import dev.qat4j.nn.Init;
import dev.qat4j.nn.Module;
import dev.qat4j.nn.Parameter;
import dev.qat4j.nn.Pool;
import dev.qat4j.nn.QConv2d;
import dev.qat4j.nn.QLinear;
import dev.qat4j.nn.Sequential;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.tensor.DType;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link ModelState}: a real model through a file and back, and every refusal leaving the model unchanged. */
class ModelStateTest {
    private static final Backend REF = RefBackend.INSTANCE;

    @TempDir
    Path dir;

    static QuantModel toynet(long seed) {
        return Models.build("toynet", BitWidths.preset("toynet", "cfg1-star"), REF, seed);
    }

    static List<Parameter> state(QuantModel m) {
        List<Parameter> all = new ArrayList<>(m.parameters());
        all.addAll(m.buffers());
        return all;
    }

    /** Every parameter and buffer as raw float bits, by name. */
    static Map<String, int[]> snapshot(QuantModel m) {
        Map<String, int[]> out = new LinkedHashMap<>();
        for (Parameter p : state(m)) {
            float[] f = p.value().toFloatArray();
            int[] bits = new int[f.length];
            for (int i = 0; i < f.length; i++) {
                bits[i] = Float.floatToRawIntBits(f[i]);
            }
            out.put(p.name(), bits);
        }
        return out;
    }

    static void assertSameState(Map<String, int[]> expected, Map<String, int[]> actual, String what) {
        assertEquals(List.copyOf(expected.keySet()), List.copyOf(actual.keySet()), what + ": names");
        for (String k : expected.keySet()) {
            assertArrayEquals(expected.get(k), actual.get(k), what + ": " + k);
        }
    }

    /** Adds noise to every tensor (BN statistics and α included), so that no two models agree anywhere. */
    static void perturb(QuantModel m, long seed) {
        Random r = new Random(seed);
        for (Parameter p : state(m)) {
            float[] f = p.value().toFloatArray();
            for (int i = 0; i < f.length; i++) {
                f[i] += 0.01f + 0.1f * (float) r.nextGaussian();
            }
            p.setValue(p.value().backend().fromFloats(f, p.value().shape()));
        }
    }

    @Test
    void aToyNetRoundTripsThroughAFileBitForBit() throws IOException {
        try (QuantModel a = toynet(1); QuantModel b = toynet(2)) {
            perturb(a, 11);
            Map<String, int[]> sa = snapshot(a);
            Map<String, int[]> sb = snapshot(b);
            for (String k : sa.keySet()) {
                assertFalse(Arrays.equals(sa.get(k), sb.get(k)), "the two models start different at " + k);
            }
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put("epoch", "7");
            meta.put("rng", "SplittableRandom:1234");
            Checkpoint c = ModelState.save(a, meta);
            assertEquals(List.copyOf(sa.keySet()), List.copyOf(c.tensors().keySet()), "parameters then buffers, by name");
            assertTrue(c.tensors().keySet().stream().anyMatch(n -> n.endsWith(".running_var"))
                && c.tensors().keySet().stream().anyMatch(n -> n.endsWith(".alpha")), "buffers and α are saved too");
            Path file = dir.resolve("toynet.ckpt");
            CheckpointIO.write(file, c);
            Checkpoint back = CheckpointIO.read(file);
            assertEquals(c, back);
            assertEquals("7", back.metaString("epoch"));
            assertEquals(a.bits().toYaml(), back.metaString(ModelState.BITS_KEY));
            assertEquals(List.of("epoch", "rng", "bits", InputSpec.META_KEY), List.copyOf(back.meta().keySet()));
            assertEquals(InputSpec.CIFAR10, InputSpec.of(back, "round trip"));

            ModelState.load(b, back);
            assertSameState(sa, snapshot(b), "loaded model");
            for (Parameter p : state(b)) {
                assertSame(REF, p.value().backend(), p.name());
            }
        }
    }

    @Test
    void loadingFillsTheBackendEachParameterLivesOn() {
        try (QuantModel a = toynet(1); QuantModel b = toynet(2)) {
            perturb(a, 12);
            CpuBackend cpu = CpuBackend.get();
            b.moveTo(cpu);
            ModelState.load(b, ModelState.save(a, Map.of()));
            for (Parameter p : state(b)) {
                assertSame(cpu, p.value().backend(), p.name() + " stays on the cpu backend");
            }
            assertSameState(snapshot(a), snapshot(b), "cpu model");
        }
    }

    /** Copies {@code c} under {@code model}, without {@code skip}. */
    static Checkpoint.Builder copy(Checkpoint c, String model, String skip) {
        Checkpoint.Builder b = Checkpoint.builder(model).meta(c.meta());
        c.tensors().forEach((name, t) -> {
            if (!name.equals(skip)) {
                b.add(name, t);
            }
        });
        return b;
    }

    /** The load must fail with every fragment in the message and leave {@code m} exactly as it was. */
    static void assertRefusedUnchanged(QuantModel m, Checkpoint c, String... fragments) {
        Map<String, int[]> before = snapshot(m);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelState.load(m, c));
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "expected '" + f + "' in: " + e.getMessage());
        }
        assertSameState(before, snapshot(m), "model after a refused load");
    }

    @Test
    void refusedLoadsLeaveTheModelUnchanged() {
        try (QuantModel a = toynet(1); QuantModel b = toynet(2)) {
            perturb(a, 13);
            Checkpoint full = ModelState.save(a, Map.of());
            List<String> names = List.copyOf(full.tensors().keySet());
            String last = names.get(names.size() - 1); // checked last by a load that does not validate first
            Checkpoint.TensorData lastData = full.tensor(last);
            int n = lastData.numel();

            assertRefusedUnchanged(b, copy(full, "resnet20", null).build(),
                "checkpoint is of model 'resnet20', not 'toynet'");
            assertRefusedUnchanged(b, copy(full, "toynet", last).addFloats(last, new float[n + 1], n + 1).build(),
                "tensor '" + last + "' is FLOAT32[" + (n + 1) + "] in the checkpoint but FLOAT32[" + n + "] in the model");
            assertRefusedUnchanged(b, copy(full, "toynet", last).addFloats(last, new float[n], 1, n).build(),
                "FLOAT32[1, " + n + "] in the checkpoint");
            assertRefusedUnchanged(b, copy(full, "toynet", last).addInts(last, new int[n], n).build(),
                "tensor '" + last + "' is INT32[" + n + "] in the checkpoint but FLOAT32[" + n + "]");
            assertRefusedUnchanged(b, copy(full, "toynet", last).build(),
                "tensor '" + last + "' (FLOAT32[" + n + "]) is missing from the checkpoint");
            assertRefusedUnchanged(b, copy(full, "toynet", null).addBytes("extra.codes", DType.INT8, new byte[2], 2).build(),
                "checkpoint tensor 'extra.codes' (INT8[2]) is not in model 'toynet'");
            assertRefusedUnchanged(b, copy(full, "toynet", names.get(0)).addFloats("zzz", new float[1], 1).build(),
                "2 problems", "'" + names.get(0) + "'", "'zzz'");
            // and the full checkpoint still loads afterwards
            ModelState.load(b, full);
            assertSameState(snapshot(a), snapshot(b), "after the refusals");
        }
    }

    @Test
    void fineTuningFromAnFp32CheckpointStartsOnlyTheQuantizerClipsFresh() {
        try (QuantModel fp32 = Models.build("resnet20", BitWidths.preset("resnet20", "fp32"), REF, 1);
             QuantModel q = Models.build("resnet20", BitWidths.preset("resnet20", "int8-mpact"), REF, 2)) {
            perturb(fp32, 21);
            Checkpoint c = ModelState.save(fp32, Map.of());
            Map<String, int[]> alphasBefore = snapshot(q);
            alphasBefore.keySet().removeIf(name -> c.tensor(name) != null);
            // a strict load refuses: the FP32 network has no clips
            assertRefusedUnchanged(q, c, "is missing from the checkpoint");
            List<String> fresh = ModelState.loadForFineTune(q, c);
            assertEquals(20, fresh.size(), "18 block quantizers + 2 shortcut quantizers have α: " + fresh);
            assertEquals(alphasBefore.keySet(), java.util.Set.copyOf(fresh));
            Map<String, int[]> after = snapshot(q);
            for (String name : c.tensors().keySet()) {
                assertTrue(java.util.Arrays.equals(snapshot(fp32).get(name), after.get(name)), name + " loaded");
            }
            for (String name : fresh) {
                assertTrue(java.util.Arrays.equals(alphasBefore.get(name), after.get(name)), name + " kept its init");
            }
            // anything but a clip must still be there
            String weight = c.tensors().keySet().iterator().next();
            Checkpoint missingWeight = copy(c, "resnet20", weight).build();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModelState.loadForFineTune(q, missingWeight));
            assertTrue(e.getMessage().contains("'" + weight + "'"), e.getMessage());
        }
    }

    @Test
    void theBitsKeyIsReservedWhenTheModelHasBitWidths() {
        try (QuantModel a = toynet(1)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModelState.save(a, Map.of("bits", "mine")));
            assertTrue(e.getMessage().contains("'bits' is reserved"), e.getMessage());
        }
    }

    static Module customNet(long seed, String secondConvName) {
        SplittableRandom r = new SplittableRandom(seed);
        return new Sequential("mine", List.of(
            new QConv2d("conv1", REF, r, Init.KAIMING_UNIFORM, 3, 4, 3, 2, 1, 1, 4),
            new BatchNorm2d("bn1", REF, 4),
            new ActQuant("q1", REF, ActQuantizer.pact(4), 4f),
            new QConv2d(secondConvName, REF, r, Init.KAIMING_UNIFORM, 4, 4, 3, 1, 1, 1, 4),
            Pool.global("pool"),
            new Flatten("flat"),
            new QLinear("fc", REF, r, Init.TORCH_DEFAULT, false, 4, 10, 8)));
    }

    @Test
    void aUserNetworkWithoutBitWidthsRoundTrips() {
        try (QuantModel a = new QuantModel("mine", null, customNet(1, "conv2"));
             QuantModel b = new QuantModel("mine", null, customNet(2, "conv2"))) {
            perturb(a, 14);
            Checkpoint c = ModelState.save(a, Map.of("bits", "allowed: this model has no bit widths"));
            assertEquals("allowed: this model has no bit widths", c.metaString("bits"));
            assertTrue(c.tensors().containsKey("q1.alpha") && c.tensors().containsKey("bn1.running_mean"),
                c.tensors().keySet().toString());
            ModelState.load(b, c);
            assertSameState(snapshot(a), snapshot(b), "user network");
            assertNull(ModelState.save(a, null).metaString("bits"));
        }
    }

    @Test
    void aModelWithTwoTensorsOfOneNameCannotBeSaved() {
        try (QuantModel m = new QuantModel("dup", null, customNet(1, "conv1"))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelState.save(m, Map.of()));
            assertTrue(e.getMessage().contains("two tensors named 'conv1.weight'"), e.getMessage());
        }
    }
}
