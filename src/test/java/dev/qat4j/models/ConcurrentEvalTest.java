package dev.qat4j.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.nn.Step;
import dev.qat4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * One loaded model evaluated from several threads at once (each with its own eval-mode {@link Step}) gives
 * bit-for-bit the logits of one thread: eval-mode forward keeps nothing in the modules, so concurrent passes
 * cannot see (or free) each other's intermediate tensors.
 */
class ConcurrentEvalTest {
    static final int THREADS = 4;
    static final int BATCHES = 6;

    private static float[] logits(QuantModel m, Backend b, float[] images, int n) {
        try (Step step = new Step(b, false)) {
            Tensor x = step.keep(b.fromFloats(images, n, 3, 32, 32));
            return m.forward(step, x).toFloatArray();
        }
    }

    @ParameterizedTest(name = "{0} {1} on {2}, {3} rounds")
    @CsvSource({"toynet, cfg1-star, cpu, 3", "resnet20, int4, cpu, 3", "toynet, cfg1, ref, 1"})
    void severalThreadsGiveTheSingleThreadLogits(String model, String preset, String backend, int rounds)
        throws Exception {
        Backend b = backend.equals("cpu") ? CpuBackend.get() : RefBackend.INSTANCE;
        try (QuantModel m = Models.build(model, BitWidths.preset(model, preset), b, 5)) {
            SplittableRandom r = new SplittableRandom(3);
            List<float[]> batches = new ArrayList<>();
            List<float[]> expected = new ArrayList<>();
            for (int i = 0; i < BATCHES; i++) {
                int n = 1 + i % 3;
                float[] img = new float[n * 3 * 32 * 32];
                for (int k = 0; k < img.length; k++) {
                    img[k] = (float) r.nextGaussian();
                }
                batches.add(img);
                expected.add(logits(m, b, img, n)); // one thread
            }
            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            try {
                CyclicBarrier start = new CyclicBarrier(THREADS);
                List<Future<Integer>> done = new ArrayList<>();
                for (int t = 0; t < THREADS; t++) {
                    int offset = t;
                    done.add(pool.submit(() -> {
                        start.await(); // all threads run forward at the same time
                        int checked = 0;
                        for (int round = 0; round < rounds; round++) {
                            for (int j = 0; j < BATCHES; j++) {
                                int i = (j + offset) % BATCHES; // different threads, different batches
                                float[] got = logits(m, b, batches.get(i), 1 + i % 3);
                                assertArrayEquals(expected.get(i), got, "batch " + i + " in round " + round);
                                checked++;
                            }
                        }
                        return checked;
                    }));
                }
                int total = 0;
                for (Future<Integer> f : done) {
                    total += f.get(120, TimeUnit.SECONDS); // an assertion error in a thread surfaces here
                }
                assertEquals(THREADS * rounds * BATCHES, total);
            } finally {
                pool.shutdownNow();
            }
            // and the model still gives the same answers on one thread afterwards
            assertArrayEquals(expected.get(0), logits(m, b, batches.get(0), 1));
            assertTrue(expected.get(0).length == 10);
        }
    }

    /** Every module of the model and its descendants. */
    private static void modules(dev.qat4j.nn.Module m, List<dev.qat4j.nn.Module> out) {
        out.add(m);
        for (dev.qat4j.nn.Module c : m.children()) {
            modules(c, out);
        }
    }

    /** The instance fields of a module's class chain that hold per-pass caches (tensors, shapes), by name. */
    private static java.util.Map<String, Object> caches(dev.qat4j.nn.Module m) throws IllegalAccessException {
        java.util.Map<String, Object> out = new java.util.LinkedHashMap<>();
        for (Class<?> c = m.getClass(); c != null && c != Object.class; c = c.getSuperclass()) {
            for (java.lang.reflect.Field f : c.getDeclaredFields()) {
                int mod = f.getModifiers();
                if (!java.lang.reflect.Modifier.isStatic(mod) && !java.lang.reflect.Modifier.isFinal(mod)
                    && (f.getType() == Tensor.class || f.getType() == int[].class)) {
                    f.setAccessible(true);
                    out.put(m.name() + "." + f.getName(), f.get(m));
                }
            }
        }
        return out;
    }

    /**
     * Why the above holds, checked directly: after an eval-mode forward no module holds a cached tensor or shape
     * (where one did, a second thread's pass could read it, or have it freed under it when its step closed), while
     * a training-mode forward does cache them, and a backward without a training forward is a clear error.
     */
    @org.junit.jupiter.api.Test
    void anEvalForwardLeavesNothingInTheModules() throws Exception {
        Backend b = RefBackend.INSTANCE;
        for (String model : List.of("toynet", "resnet20", "mobilenetv2")) {
            try (QuantModel m = Models.build(model, BitWidths.preset(model, "fp32"), b, 1)) {
                List<dev.qat4j.nn.Module> all = new ArrayList<>();
                modules(m.net(), all);
                float[] img = new float[3 * 32 * 32];
                logits(m, b, img, 1);
                int cacheFields = 0;
                for (dev.qat4j.nn.Module mod : all) {
                    for (java.util.Map.Entry<String, Object> e : caches(mod).entrySet()) {
                        cacheFields++;
                        assertEquals(null, e.getValue(), model + ": eval forward left " + e.getKey() + " set");
                    }
                }
                assertTrue(cacheFields > 10, model + ": the scan found the modules' cache fields (" + cacheFields + ")");
                try (Step step = new Step(b, true)) {
                    m.forward(step, step.keep(b.fromFloats(new float[2 * 3 * 32 * 32], 2, 3, 32, 32)));
                }
                boolean anySet = false;
                for (dev.qat4j.nn.Module mod : all) {
                    anySet |= caches(mod).values().stream().anyMatch(java.util.Objects::nonNull);
                }
                assertTrue(anySet, model + ": a training forward caches for the backward");
            }
        }
        try (QuantModel m = Models.build("toynet", BitWidths.preset("toynet", "cfg1"), b, 1);
             Step step = new Step(b, false)) {
            Tensor y = m.forward(step, step.keep(b.fromFloats(new float[3 * 32 * 32], 1, 3, 32, 32)));
            IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                () -> m.backward(step, step.keep(b.fromFloats(new float[10], 1, 10))));
            assertTrue(e.getMessage().contains("backward needs a training-mode forward"), e.getMessage());
            assertEquals(10, y.numel());
        }
    }

    /**
     * Training passes keep their inputs in the layers, so the model refuses a second training pass while one is
     * open, from another thread or the same one, with a clear message; once the first step is closed the next
     * pass runs, and a backward must use the step of the latest training forward. Eval passes are never refused.
     */
    @org.junit.jupiter.api.Test
    void aSecondTrainingPassWhileOneIsOpenIsRefused() throws Exception {
        Backend b = RefBackend.INSTANCE;
        float[] img = new float[2 * 3 * 32 * 32];
        try (QuantModel m = Models.build("toynet", BitWidths.preset("toynet", "cfg1"), b, 1)) {
            Step first = new Step(b, true);
            Tensor y = m.forward(first, first.keep(b.fromFloats(img, 2, 3, 32, 32)));
            // another thread starts a training pass on the same model: refused, and nothing of it ran
            ExecutorService other = Executors.newSingleThreadExecutor();
            try {
                Future<Throwable> refused = other.submit(() -> {
                    try (Step second = new Step(b, true)) {
                        m.forward(second, second.keep(b.fromFloats(img, 2, 3, 32, 32)));
                        return null;
                    } catch (IllegalStateException e) {
                        return e;
                    }
                });
                Throwable e = refused.get(60, TimeUnit.SECONDS);
                assertTrue(e != null && e.getMessage().contains("a training pass is already in progress"),
                    String.valueOf(e));
                // eval passes still run meanwhile, from any thread
                assertEquals(10, other.submit(() -> logits(m, b, new float[3 * 32 * 32], 1).length)
                    .get(60, TimeUnit.SECONDS));
            } finally {
                other.shutdownNow();
            }
            // the first pass is intact: its backward runs on its own step
            try (Step wrong = new Step(b, true)) {
                IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                    () -> m.backward(wrong, wrong.keep(b.fromFloats(new float[20], 2, 10))));
                assertTrue(e.getMessage().contains("same, still open Step"), e.getMessage());
            }
            m.backward(first, first.keep(b.fromFloats(new float[20], 2, 10)));
            assertEquals(20, y.numel());
            first.close();
            // closed: a new training pass may start, and the closed step cannot run a backward any more
            try (Step next = new Step(b, true)) {
                m.forward(next, next.keep(b.fromFloats(img, 2, 3, 32, 32)));
            }
            org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                () -> m.backward(first, b.fromFloats(new float[20], 2, 10)));
        }
    }
}
