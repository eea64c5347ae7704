package dev.qat4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class DatasetTest {
    /** n images of shape (2, 2, 3) whose bytes are {@code 12*i + j} (wrapping), label i % classes. */
    static Dataset tiny(int n, int classes) {
        byte[] px = new byte[n * 12];
        for (int i = 0; i < px.length; i++) {
            px[i] = (byte) i;
        }
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            labels[i] = i % classes;
        }
        return new Dataset("tiny", 2, 2, 3, classes, px, labels);
    }

    @Test
    void shapeAccessorsAndPixelLayout() {
        Dataset d = tiny(5, 3);
        assertEquals(5, d.size());
        assertArrayEquals(new int[] {2, 2, 3}, d.shape());
        assertEquals(12, d.imageSize());
        assertEquals(3, d.classes());
        // image 1, channel 1, row 0, col 2 -> byte 12 + (1*2 + 0)*3 + 2 = 20
        assertEquals(20, d.pixel(1, 1, 0, 2));
        assertArrayEquals(new int[] {2, 2, 1}, d.classCounts());
        assertEquals(2, d.label(2));
    }

    @Test
    void pixelsAreUnsigned() {
        Dataset d = new Dataset("u", 1, 1, 1, 1, new byte[] {(byte) 255}, new int[] {0});
        assertEquals(255, d.pixel(0, 0, 0, 0));
    }

    @Test
    void immutableCopiesInAndOut() {
        byte[] px = new byte[12];
        int[] labels = {1};
        Dataset d = new Dataset("x", 2, 2, 3, 2, px, labels);
        px[0] = 9;
        labels[0] = 0;
        assertEquals(0, d.pixel(0, 0, 0, 0));
        assertEquals(1, d.label(0));
        d.images()[0] = 7;
        d.labels()[0] = 0;
        d.image(0)[0] = 7;
        assertEquals(0, d.pixel(0, 0, 0, 0));
        assertEquals(1, d.label(0));
    }

    @Test
    void subsetAndTakeAreViews() {
        Dataset d = tiny(10, 4);
        Dataset s = d.subset(3, 7);
        assertEquals(4, s.size());
        assertEquals("tiny[3:7]", s.name());
        assertEquals(d.label(3), s.label(0));
        assertArrayEquals(d.image(4), s.image(1));
        assertArrayEquals(java.util.Arrays.copyOfRange(d.images(), 36, 84), s.images());
        Dataset ss = s.subset(1, 3);
        assertArrayEquals(d.image(5), ss.image(1));
        assertEquals(3, d.take(3).size());
        assertEquals(10, d.take(1000).size(), "take clamps to the size");
        assertEquals(0, d.subset(2, 2).size());
        assertThrows(IndexOutOfBoundsException.class, () -> d.subset(5, 11));
        assertThrows(IndexOutOfBoundsException.class, () -> d.subset(6, 5));
        assertThrows(IllegalArgumentException.class, () -> d.take(-1));
        assertThrows(IndexOutOfBoundsException.class, () -> s.label(4));
    }

    @Test
    void rejectsInconsistentInput() {
        assertThrows(IllegalArgumentException.class, () -> new Dataset("x", 1, 2, 2, 2, new byte[5], new int[1]));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Dataset("x", 1, 1, 1, 2, new byte[2], new int[] {0, 2}));
        assertTrue(e.getMessage().contains("label of image 1 is 2"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Dataset("x", 0, 1, 1, 2, new byte[0], new int[0]));
        assertThrows(IllegalArgumentException.class, () -> new Dataset("x", 1, 1, 1, 0, new byte[0], new int[0]));
    }
}
