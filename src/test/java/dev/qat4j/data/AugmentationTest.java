package dev.qat4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Crop with zero padding, flip and normalisation against hand-computed pixels; the seed's constants. */
class AugmentationTest {
    /**
     * A 2-channel 3x4 image. Channel 0:
     * <pre>
     *  1  2  3  4
     *  5  6  7  8
     *  9 10 11 12
     * </pre>
     * channel 1 = channel 0 + 240 (so bytes above 127 check unsigned handling).
     */
    static byte[] image() {
        byte[] b = new byte[24];
        for (int i = 0; i < 12; i++) {
            b[i] = (byte) (i + 1);
            b[12 + i] = (byte) (i + 241);
        }
        return b;
    }

    private static int[] crop(int top, int left, boolean flip, int channel) {
        byte[] out = new byte[24];
        java.util.Arrays.fill(out, (byte) 99); // must all be overwritten
        Augmentation.apply(image(), 0, 2, 3, 4, 1, top, left, flip, out, 0);
        int[] r = new int[12];
        for (int i = 0; i < 12; i++) {
            r[i] = out[channel * 12 + i] & 0xFF;
        }
        return r;
    }

    @Test
    void cropWithZeroPaddingHandComputed() {
        // padding 1: the padded image is 5x6 with a zero border; (top, left) = (1, 1) is the identity
        assertArrayEquals(new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, crop(1, 1, false, 0));
        // window at the padded image's top-left corner: one zero row on top, one zero column on the left
        assertArrayEquals(new int[] {
            0, 0, 0, 0,
            0, 1, 2, 3,
            0, 5, 6, 7}, crop(0, 0, false, 0));
        // bottom-right corner
        assertArrayEquals(new int[] {
            6, 7, 8, 0,
            10, 11, 12, 0,
            0, 0, 0, 0}, crop(2, 2, false, 0));
        // the second channel gets the same window, and its zero padding is 0, not a channel mean
        assertArrayEquals(new int[] {
            246, 247, 248, 0,
            250, 251, 252, 0,
            0, 0, 0, 0}, crop(2, 2, false, 1));
    }

    @Test
    void flipMirrorsTheCroppedWindow() {
        assertArrayEquals(new int[] {4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9}, crop(1, 1, true, 0));
        // crop at (0, 2) gives [0 0 0 0 / 2 3 4 0 / 6 7 8 0]; mirrored:
        assertArrayEquals(new int[] {
            0, 0, 0, 0,
            0, 4, 3, 2,
            0, 8, 7, 6}, crop(0, 2, true, 0));
        assertArrayEquals(new int[] {
            0, 0, 0, 0,
            0, 244, 243, 242,
            0, 248, 247, 246}, crop(0, 2, true, 1));
    }

    @Test
    void cropCornerOutsideThePaddedImageIsRejected() {
        assertThrows(IllegalArgumentException.class,
                () -> Augmentation.apply(image(), 0, 2, 3, 4, 1, 3, 0, false, new byte[24], 0));
        assertThrows(IllegalArgumentException.class, () -> new Augmentation(-1, false));
    }

    @Test
    void drawsCoverEveryOffsetAndFlipHalfTheTime() {
        SplittableRandom rng = new SplittableRandom(7);
        int[] tops = new int[9];
        int[] lefts = new int[9];
        int flips = 0;
        int n = 20_000;
        for (int i = 0; i < n; i++) {
            Augmentation.Params p = Augmentation.CIFAR10.draw(rng);
            tops[p.top()]++;
            lefts[p.left()]++;
            flips += p.flip() ? 1 : 0;
        }
        for (int k = 0; k < 9; k++) {
            assertTrue(Math.abs(tops[k] - n / 9) < 400, "top " + k + ": " + tops[k]);
            assertTrue(Math.abs(lefts[k] - n / 9) < 400, "left " + k + ": " + lefts[k]);
        }
        assertTrue(Math.abs(flips - n / 2) < 500, "flips " + flips);
        assertEquals(new Augmentation.Params(0, 0, false), Augmentation.NONE.draw(rng));
        assertTrue(!Augmentation.NONE.enabled() && Augmentation.CIFAR10.enabled());
        assertEquals(4, Augmentation.CIFAR10.padding());
    }

    @Test
    void normalisationConstantsAreTheSeeds() {
        assertArrayEquals(new float[] {0.4914f, 0.4822f, 0.4465f}, Normalization.CIFAR10.mean());
        assertArrayEquals(new float[] {0.2023f, 0.1994f, 0.2010f}, Normalization.CIFAR10.std());
        // torchvision in float32: ToTensor divides by 255, Normalize subtracts the mean and divides by the std
        assertEquals((0f - 0.4914f) / 0.2023f, Normalization.CIFAR10.apply(0, 0));
        assertEquals((1f - 0.4465f) / 0.2010f, Normalization.CIFAR10.apply(2, 255));
        assertEquals((128f / 255f - 0.4822f) / 0.1994f, Normalization.CIFAR10.apply(1, 128));
        // the same values worked out by hand, so a wrong constant cannot hide behind the same typo twice
        assertEquals(-2.429066, Normalization.CIFAR10.apply(0, 0), 1e-5);
        assertEquals(2.514088, Normalization.CIFAR10.apply(0, 255), 1e-5);
        assertEquals(-2.418254, Normalization.CIFAR10.apply(1, 0), 1e-5);
        assertEquals(2.753731, Normalization.CIFAR10.apply(2, 255), 1e-5);
    }

    @Test
    void normaliseAWholeImage() {
        byte[] img = {0, (byte) 255, 10, 20, 30, 40}; // 3 channels of 2 pixels
        float[] out = new float[8];
        Normalization.CIFAR10.apply(img, 0, 2, out, 1);
        assertEquals(0f, out[0]);
        assertEquals(Normalization.CIFAR10.apply(0, 0), out[1]);
        assertEquals(Normalization.CIFAR10.apply(0, 255), out[2]);
        assertEquals(Normalization.CIFAR10.apply(1, 10), out[3]);
        assertEquals(Normalization.CIFAR10.apply(2, 40), out[6]);
        assertEquals(0f, out[7]);
        assertEquals(1f, Normalization.scaleOnly(1).apply(0, 255));
        assertThrows(IllegalArgumentException.class, () -> new Normalization(new float[] {0}, new float[] {0}));
        assertThrows(IllegalArgumentException.class, () -> new Normalization(new float[] {0}, new float[2]));
    }
}
