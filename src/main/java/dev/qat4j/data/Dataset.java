package dev.qat4j.data;

import java.util.Arrays;
import java.util.Objects;

/**
 * An immutable labelled image set: {@code size()} images of shape {@code (c, h, w)} stored as unsigned 8-bit
 * pixels, NCHW per image (image {@code i} is the {@code c*h*w} bytes starting at {@code i*c*h*w}, plane by plane,
 * rows top to bottom), and one label in {@code [0, classes)} per image.
 *
 * <p>Immutable: the public constructor copies its arrays and no accessor hands out internal storage.
 * {@link #subset} and {@link #take} are views sharing the same storage (no copy), which is safe because nothing
 * can write to it.
 */
public final class Dataset {
    private final String name;
    private final int channels;
    private final int height;
    private final int width;
    private final int classes;
    private final byte[] pixels; // backing storage, never exposed
    private final int[] labels; // backing storage, never exposed
    private final int first; // index of this view's first image in the backing arrays
    private final int size;

    /**
     * A data set from copies of the given arrays.
     *
     * @param images {@code n * channels * height * width} bytes, NCHW per image, read as unsigned
     * @param labels {@code n} labels, each in {@code [0, classes)}
     * @throws IllegalArgumentException for inconsistent sizes, non-positive dimensions or a label out of range
     */
    public Dataset(String name, int channels, int height, int width, int classes, byte[] images, int[] labels) {
        this(name, channels, height, width, classes, Objects.requireNonNull(images, "images").clone(),
                Objects.requireNonNull(labels, "labels").clone(), 0, labels.length, true);
    }

    private Dataset(String name, int channels, int height, int width, int classes, byte[] pixels, int[] labels,
            int first, int size, boolean validate) {
        this.name = Objects.requireNonNull(name, "name");
        this.channels = channels;
        this.height = height;
        this.width = width;
        this.classes = classes;
        this.pixels = pixels;
        this.labels = labels;
        this.first = first;
        this.size = size;
        if (validate) {
            validate();
        }
    }

    /** Takes ownership of the arrays (no copy): only for readers in this package that allocated them. */
    static Dataset wrap(String name, int channels, int height, int width, int classes, byte[] images, int[] labels) {
        return new Dataset(name, channels, height, width, classes, images, labels, 0, labels.length, true);
    }

    private void validate() {
        if (channels <= 0 || height <= 0 || width <= 0) {
            throw new IllegalArgumentException(name + ": image shape must be positive, got (" + channels + ", "
                    + height + ", " + width + ")");
        }
        if (classes <= 0) {
            throw new IllegalArgumentException(name + ": classes must be positive, got " + classes);
        }
        long expected = (long) labels.length * channels * height * width;
        if (pixels.length != expected) {
            throw new IllegalArgumentException(name + ": " + labels.length + " labels and shape (" + channels + ", "
                    + height + ", " + width + ") need " + expected + " image bytes, got " + pixels.length);
        }
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= classes) {
                throw new IllegalArgumentException(name + ": label of image " + i + " is " + labels[i]
                        + ", outside [0, " + classes + ")");
            }
        }
    }

    public String name() {
        return name;
    }

    public int channels() {
        return channels;
    }

    public int height() {
        return height;
    }

    public int width() {
        return width;
    }

    /** Bytes per image: {@code channels * height * width}. */
    public int imageSize() {
        return channels * height * width;
    }

    /** The image shape {@code {c, h, w}} (a fresh array). */
    public int[] shape() {
        return new int[] {channels, height, width};
    }

    public int classes() {
        return classes;
    }

    /** Number of images. */
    public int size() {
        return size;
    }

    public int label(int index) {
        return labels[first + Objects.checkIndex(index, size)];
    }

    /** A copy of all labels. */
    public int[] labels() {
        return Arrays.copyOfRange(labels, first, first + size);
    }

    /** A copy of all images, {@code size() * imageSize()} bytes, NCHW. */
    public byte[] images() {
        int is = imageSize();
        return Arrays.copyOfRange(pixels, first * is, (first + size) * is);
    }

    /** A copy of one image ({@code imageSize()} bytes, CHW). */
    public byte[] image(int index) {
        byte[] out = new byte[imageSize()];
        copyImage(index, out, 0);
        return out;
    }

    /** Copies image {@code index} ({@code imageSize()} bytes, CHW) into {@code dst} at {@code dstOffset}. */
    public void copyImage(int index, byte[] dst, int dstOffset) {
        int is = imageSize();
        System.arraycopy(pixels, (first + Objects.checkIndex(index, size)) * is, dst, dstOffset, is);
    }

    /** One pixel as an unsigned value in {@code [0, 255]}. */
    public int pixel(int index, int c, int y, int x) {
        Objects.checkIndex(index, size);
        Objects.checkIndex(c, channels);
        Objects.checkIndex(y, height);
        Objects.checkIndex(x, width);
        return pixels[(first + index) * imageSize() + (c * height + y) * width + x] & 0xFF;
    }

    /** Images per class: {@code counts[k]} images have label {@code k}. */
    public int[] classCounts() {
        int[] counts = new int[classes];
        for (int i = first; i < first + size; i++) {
            counts[labels[i]]++;
        }
        return counts;
    }

    /** The images {@code [from, to)} as a view (no copy). */
    public Dataset subset(int from, int to) {
        Objects.checkFromToIndex(from, to, size);
        String n = (from == 0 && to == size) ? name : name + "[" + from + ":" + to + "]";
        return new Dataset(n, channels, height, width, classes, pixels, labels, first + from, to - from, false);
    }

    /** The first {@code min(n, size())} images as a view (no copy); {@code n} must not be negative. */
    public Dataset take(int n) {
        if (n < 0) {
            throw new IllegalArgumentException(name + ": take(" + n + "): count must not be negative");
        }
        return subset(0, Math.min(n, size));
    }

    @Override
    public String toString() {
        return "Dataset[" + name + ", " + size + " images of (" + channels + ", " + height + ", " + width + "), "
                + classes + " classes]";
    }
}
