package dev.qat4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Results.ImageBatch;
import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.backend.ref.RefBackend;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Batches assembled on a backend from a {@link ResidentDataset} are {@link BatchLoader}'s host batches bit for bit:
 * the same images in the same order, the same crops, flips and normalised floats, the same labels, for every batch
 * of several epochs, with and without augmentation, on odd shapes and channel counts.
 */
class ResidentDatasetTest {

    static Stream<Arguments> cases() {
        Backend[] backends = {RefBackend.INSTANCE, CpuBackend.get()};
        Augmentation[] augmentations = {Augmentation.CIFAR10, Augmentation.NONE, new Augmentation(0, true),
            new Augmentation(2, false), new Augmentation(5, true)};
        int[][] shapes = {{3, 12, 12}, {1, 7, 5}, {4, 3, 9}};
        Stream.Builder<Arguments> all = Stream.builder();
        for (Backend b : backends) {
            for (Augmentation a : augmentations) {
                for (int[] s : shapes) {
                    all.add(Arguments.of(b, a, s[0], s[1], s[2]));
                }
            }
        }
        return all.build();
    }

    static Dataset randomData(int n, int c, int h, int w, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        byte[] pixels = new byte[n * c * h * w];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (byte) r.nextInt(256);
        }
        int[] labels = r.ints(n, 0, 10).toArray();
        return Dataset.ofBytes("random", c, h, w, 10, pixels, labels);
    }

    @ParameterizedTest(name = "{0}, {1}, {2}x{3}x{4}")
    @MethodSource("cases")
    void everyBatchOfSeveralEpochsIsTheHostLoadersBitForBit(Backend backend, Augmentation aug, int c, int h, int w) {
        Dataset data = randomData(37, c, h, w, 11);
        SplittableRandom r = new SplittableRandom(5);
        float[] mean = new float[c], std = new float[c];
        for (int ch = 0; ch < c; ch++) {
            mean[ch] = (float) r.nextDouble();
            std[ch] = 0.1f + (float) r.nextDouble();
        }
        Normalization norm = new Normalization(mean, std);
        BatchLoader.Options opts = BatchLoader.Options.train(8, 99, aug, norm).withPrefetch(0);
        try (ResidentDataset onBackend = ResidentDataset.upload(backend, data, norm)) {
            for (int epoch = 0; epoch < 3; epoch++) {
                try (BatchLoader host = new BatchLoader(data, opts, epoch);
                     BatchLoader plans = new BatchLoader(data, opts, epoch)) {
                    for (int b = 0; b < host.batchCount(); b++) {
                        Batch want = host.next();
                        try (ImageBatch got = onBackend.batch(plans.plan(b))) {
                            String where = "epoch " + epoch + " batch " + b;
                            assertArrayEquals(want.labels(), got.labels().toIntArray(), where);
                            float[] g = got.images().toFloatArray();
                            assertEquals(want.images().length, g.length, where);
                            for (int i = 0; i < g.length; i++) {
                                if (Float.floatToIntBits(want.images()[i]) != Float.floatToIntBits(g[i])) {
                                    throw new AssertionError(where + ", value " + i + ": host " + want.images()[i]
                                            + ", backend " + g[i]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}, {1}, {2}x{3}x{4}")
    @MethodSource("cases")
    void plansDrawEveryImageOnceAndCornersInsideThePadding(Backend backend, Augmentation aug, int c, int h, int w) {
        Dataset data = randomData(37, c, h, w, 3);
        BatchLoader.Options opts = BatchLoader.Options.train(8, 1, aug, Normalization.scaleOnly(c)).withPrefetch(0);
        boolean[] seen = new boolean[data.size()];
        boolean anyFlip = false, anyOffCentre = false;
        try (BatchLoader loader = new BatchLoader(data, opts, 2)) {
            for (int b = 0; b < loader.batchCount(); b++) {
                BatchLoader.BatchPlan p = loader.plan(b);
                assertEquals(aug.padding(), p.padding());
                for (int i = 0; i < p.size(); i++) {
                    assertFalse(seen[p.index()[i]], "image " + p.index()[i] + " twice");
                    seen[p.index()[i]] = true;
                    assertTrue(p.top()[i] >= 0 && p.top()[i] <= 2 * aug.padding());
                    assertTrue(p.left()[i] >= 0 && p.left()[i] <= 2 * aug.padding());
                    anyFlip |= p.flip()[i];
                    anyOffCentre |= p.top()[i] != aug.padding() || p.left()[i] != aug.padding();
                }
            }
            assertThrows(IndexOutOfBoundsException.class, () -> loader.plan(loader.batchCount()));
        }
        for (boolean s : seen) {
            assertTrue(s);
        }
        assertEquals(aug.horizontalFlip(), anyFlip, "flips drawn exactly when flipping is on");
        assertEquals(aug.padding() > 0, anyOffCentre, "crops moved exactly when padding is on");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void refusesFloatDataAndAMismatchedNormalisation(Backend backend) {
        Dataset floats = Dataset.ofFloats("f", 1, 2, 2, 10, new float[8], new int[] {0, 1});
        assertFalse(ResidentDataset.supports(floats));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ResidentDataset.upload(backend, floats, Normalization.scaleOnly(1)));
        assertTrue(e.getMessage().contains("float pixels"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> ResidentDataset.upload(backend, randomData(2, 3, 2, 2, 1), Normalization.scaleOnly(1)));
        assertTrue(e.getMessage().contains("normalisation has 1 channels but random has 3"), e.getMessage());
    }

    static Stream<Backend> backends() {
        return Stream.of(RefBackend.INSTANCE, CpuBackend.get());
    }
}
