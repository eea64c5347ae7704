package dev.qat4j.data;

import java.util.SplittableRandom;

/**
 * Random crop with zero padding and horizontal flip, for images of any size and channel count (uint8 or float
 * pixels); {@link #NONE} turns it off. The seed's training augmentation is torchvision's
 * {@code RandomCrop(size, padding)} then {@code RandomHorizontalFlip(0.5)}, on the image before normalisation: the
 * image is padded with {@code padding} zero pixels on every side (torchvision's default {@code fill=0}), a window
 * of the original size is cut at a random top-left corner {@code (top, left)}, each uniform in
 * {@code [0, 2*padding]}, and with probability 1/2 the window is mirrored left-right.
 *
 * <p>So {@code out[c][y][x] = padded[c][y + top][x' + left]} with {@code x' = flip ? w-1-x : x} and
 * {@code padded[c][py][px] = in[c][py - padding][px - padding]} inside the image, 0 outside.
 *
 * <p>Random draws, per image, in torchvision's order: {@code top}, then {@code left} (each
 * {@code nextInt(2*padding + 1)}, only when padding > 0), then the flip ({@code nextBoolean()}, only when
 * flipping is on). Who supplies the generator decides determinism: {@link BatchLoader} gives every position of
 * every epoch its own seeded generator.
 *
 * @param padding        zero pixels added on each side before the crop; 0 = no crop
 * @param horizontalFlip mirror left-right with probability 1/2
 */
public record Augmentation(int padding, boolean horizontalFlip) {
    /** No augmentation (evaluation). */
    public static final Augmentation NONE = new Augmentation(0, false);
    /** The seed's CIFAR-10 training augmentation: RandomCrop(32, padding=4) + RandomHorizontalFlip(0.5). */
    public static final Augmentation CIFAR10 = new Augmentation(4, true);

    public Augmentation {
        if (padding < 0) {
            throw new IllegalArgumentException("padding must not be negative, got " + padding);
        }
    }

    /** Whether this changes images at all. */
    public boolean enabled() {
        return padding > 0 || horizontalFlip;
    }

    /**
     * The crop and flip of {@link #apply(byte[], int, int, int, int, int, int, int, boolean, byte[], int)} on a CHW
     * float image: zero padding, the same window and mirroring.
     */
    public static void apply(float[] src, int srcOffset, int c, int h, int w, int padding, int top, int left,
            boolean flip, float[] dst, int dstOffset) {
        checkCorner(top, left, padding);
        int dy = top - padding;
        int dx = left - padding;
        for (int ch = 0; ch < c; ch++) {
            int plane = ch * h * w;
            for (int y = 0; y < h; y++) {
                int sy = y + dy;
                int out = dstOffset + plane + y * w;
                if (sy < 0 || sy >= h) {
                    java.util.Arrays.fill(dst, out, out + w, 0f);
                    continue;
                }
                int row = srcOffset + plane + sy * w;
                for (int x = 0; x < w; x++) {
                    int sx = (flip ? w - 1 - x : x) + dx;
                    dst[out + x] = (sx < 0 || sx >= w) ? 0f : src[row + sx];
                }
            }
        }
    }

    private static void checkCorner(int top, int left, int padding) {
        if (top < 0 || top > 2 * padding || left < 0 || left > 2 * padding) {
            throw new IllegalArgumentException("crop corner (" + top + ", " + left + ") outside [0, " + 2 * padding
                    + "] for padding " + padding);
        }
    }

    /** One image's random choices. */
    public record Params(int top, int left, boolean flip) {
    }

    /** Draws one image's parameters (see the class comment for the order of draws). */
    public Params draw(SplittableRandom rng) {
        int top = padding > 0 ? rng.nextInt(2 * padding + 1) : 0;
        int left = padding > 0 ? rng.nextInt(2 * padding + 1) : 0;
        boolean flip = horizontalFlip && rng.nextBoolean();
        return new Params(top, left, flip);
    }

    /**
     * Crops and flips one CHW uint8 image: writes {@code c*h*w} bytes to {@code dst} at {@code dstOffset}.
     * {@code top} and {@code left} index the padded image and must lie in {@code [0, 2*padding]}.
     */
    public static void apply(byte[] src, int srcOffset, int c, int h, int w, int padding, int top, int left,
            boolean flip, byte[] dst, int dstOffset) {
        checkCorner(top, left, padding);
        int dy = top - padding; // source row of output row y is y + dy
        int dx = left - padding;
        for (int ch = 0; ch < c; ch++) {
            int plane = ch * h * w;
            for (int y = 0; y < h; y++) {
                int sy = y + dy;
                int out = dstOffset + plane + y * w;
                if (sy < 0 || sy >= h) {
                    java.util.Arrays.fill(dst, out, out + w, (byte) 0);
                    continue;
                }
                int row = srcOffset + plane + sy * w;
                for (int x = 0; x < w; x++) {
                    int sx = (flip ? w - 1 - x : x) + dx;
                    dst[out + x] = (sx < 0 || sx >= w) ? 0 : src[row + sx];
                }
            }
        }
    }
}
