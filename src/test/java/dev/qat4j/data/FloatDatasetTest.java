package dev.qat4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Float pixels, any channel count: the same batches as uint8 pixels of the same values, and measured statistics. */
class FloatDatasetTest {
    static final int N = 24;

    /** Two-channel 5 x 7 uint8 images (an odd, non-square size) with random pixels and three classes. */
    static Dataset bytes() {
        SplittableRandom r = new SplittableRandom(5);
        byte[] px = new byte[N * 2 * 5 * 7];
        int[] labels = new int[N];
        for (int i = 0; i < px.length; i++) {
            px[i] = (byte) r.nextInt(256);
        }
        for (int i = 0; i < N; i++) {
            labels[i] = i % 3;
        }
        return Dataset.ofBytes("bytes", 2, 5, 7, 3, px, labels);
    }

    /** The same images as floats {@code v / 255f}. */
    static Dataset floatsOf(Dataset d) {
        float[] all = new float[d.size() * d.imageSize()];
        for (int i = 0; i < d.size(); i++) {
            d.copyImage(i, all, i * d.imageSize());
        }
        return Dataset.ofFloats("floats", d.channels(), d.height(), d.width(), d.classes(), all, d.labels());
    }

    static List<Batch> epoch(Dataset d, BatchLoader.Options o) {
        List<Batch> out = new ArrayList<>();
        try (BatchLoader it = new BatchLoader(d, o, 1)) {
            it.forEachRemaining(out::add);
        }
        return out;
    }

    @Test
    void floatPixelsGiveTheSameAugmentedNormalisedBatchesAsTheirBytes() {
        Dataset b = bytes();
        Dataset f = floatsOf(b);
        assertTrue(f.isFloat() && !b.isFloat());
        Normalization norm = new Normalization(new float[] {0.3f, 0.6f}, new float[] {0.2f, 0.25f});
        BatchLoader.Options o = BatchLoader.Options.train(5, 11, new Augmentation(2, true), norm);
        List<Batch> fromBytes = epoch(b, o), fromFloats = epoch(f, o);
        assertEquals(fromBytes.size(), fromFloats.size());
        for (int i = 0; i < fromBytes.size(); i++) {
            // (v / 255 - mean) / std through the byte table and through the float path: the same floats
            assertArrayEquals(fromBytes.get(i).images(), fromFloats.get(i).images(), "batch " + i);
            assertArrayEquals(fromBytes.get(i).labels(), fromFloats.get(i).labels(), "batch " + i);
        }
        assertEquals(b.value(3, 1, 4, 6), f.value(3, 1, 4, 6));
        assertEquals(b.pixel(3, 1, 4, 6) / 255f, f.value(3, 1, 4, 6));
    }

    @Test
    void floatDataRefusesByteAccessAndBadValues() {
        Dataset f = floatsOf(bytes());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> f.image(0));
        assertTrue(e.getMessage().contains("float"), e.getMessage());
        assertEquals(5, f.subset(2, 7).size());
        assertTrue(f.subset(2, 7).isFloat());
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                () -> Dataset.ofFloats("nan", 1, 1, 2, 2, new float[] {0f, Float.NaN}, new int[] {1}));
        assertTrue(bad.getMessage().contains("NaN") && bad.getMessage().contains("image 0"), bad.getMessage());
        bad = assertThrows(IllegalArgumentException.class,
                () -> Dataset.ofFloats("short", 1, 2, 2, 2, new float[3], new int[] {1}));
        assertTrue(bad.getMessage().contains("need 4 image floats, got 3"), bad.getMessage());
    }

    @Test
    void normalizationOfDataMeasuresEachChannel() {
        // channel 0: values 0 and 1 alternating (mean 0.5, std 0.5); channel 1: constant 0.2 (std set to 1)
        float[] px = new float[4 * 2];
        for (int i = 0; i < 4; i++) {
            px[i * 2] = i % 2;
            px[i * 2 + 1] = 0.2f;
        }
        Normalization n = Normalization.of(Dataset.ofFloats("d", 2, 1, 1, 2, px, new int[] {0, 1, 0, 1}));
        assertArrayEquals(new float[] {0.5f, 0.2f}, n.mean(), 1e-6f);
        assertArrayEquals(new float[] {0.5f, 1f}, n.std(), 1e-6f);
        float[] out = new float[2];
        n.apply(new float[] {1f, 0.2f}, 0, 1, out, 0);
        assertArrayEquals(new float[] {1f, 0f}, out, 1e-6f);
    }
}
