package dev.qat4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ConfusionMatrixTest {
    @Test
    void accuracyIsPerImageNotPerBatch() {
        ConfusionMatrix m = new ConfusionMatrix(3);
        // Batch 1: 4 images, all right. Batch 2: 1 image, wrong. Per image: 4/5 = 0.8 (per batch it would be 0.5).
        m.add(new float[] {9, 0, 0, 0, 9, 0, 0, 0, 9, 9, 1, 1}, new int[] {0, 1, 2, 0}, 4);
        m.add(new float[] {0, 5, 1}, new int[] {2}, 1);
        assertEquals(0.8, m.accuracy(), 1e-12);
        assertEquals(5, m.total());
        assertArrayEquals(new double[] {1.0, 1.0, 0.5}, m.perClassAccuracy(), 1e-12);
        assertArrayEquals(new long[] {0, 1, 1}, m.counts()[2], "class 2: one predicted as 1, one right");
    }

    @Test
    void nanRowsAreWrongAndTiesGoLow() {
        ConfusionMatrix m = new ConfusionMatrix(2);
        m.add(new float[] {Float.NaN, Float.NaN, 3, 3, Float.NaN, 1}, new int[] {0, 1, 1}, 3);
        long[][] c = m.counts();
        assertEquals(1, c[0][0], "all-NaN row falls to class 0 (it has no better candidate)");
        assertEquals(1, c[1][0], "a tie picks the lowest index");
        assertEquals(1, c[1][1], "NaN never beats a number");
        assertTrue(Double.isNaN(new ConfusionMatrix(2).perClassAccuracy()[0]));
    }

    @Test
    void badInputIsRefused() {
        ConfusionMatrix m = new ConfusionMatrix(3);
        assertThrows(IllegalArgumentException.class, () -> m.add(new float[] {1, 2}, new int[] {0}, 1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> m.add(new float[] {1, 2, 3}, new int[] {3}, 1));
        assertTrue(e.getMessage().contains("label 3"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new ConfusionMatrix(0));
    }

    @org.junit.jupiter.api.Test
    void addsCountsMadeOnABackendAndRefusesAnythingButWholeCounts() {
        ConfusionMatrix cm = new ConfusionMatrix(2);
        cm.addCounts(new float[] {3, 1, 0, 2});
        cm.addCounts(new float[] {1, 0, 0, 0});
        org.junit.jupiter.api.Assertions.assertEquals(4, cm.counts()[0][0]);
        org.junit.jupiter.api.Assertions.assertEquals(6, cm.correct());
        org.junit.jupiter.api.Assertions.assertEquals(7, cm.total());
        for (float[] bad : new float[][] {{1, 2, 3}, {0.5f, 0, 0, 0}, {-1, 0, 0, 0}, {Float.NaN, 0, 0, 0}}) {
            org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> cm.addCounts(bad));
        }
        org.junit.jupiter.api.Assertions.assertEquals(7, cm.total(), "a refused call adds nothing");
    }
}
