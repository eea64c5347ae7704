package dev.qat4j.data;

import java.util.Arrays;
import java.util.Objects;

/**
 * An immutable labelled image set: {@code size()} images of any shape {@code (c, h, w)}, NCHW per image (image
 * {@code i} is the {@code c*h*w} values starting at {@code i*c*h*w}, plane by plane, rows top to bottom), and one
 * label in {@code [0, classes)} per image.
 *
 * <p>Pixels are stored either as unsigned 8-bit values ({@link #ofBytes}, the public constructor, the CIFAR-10 and
 * IDX readers) or as floats ({@link #ofFloats}). Float pixels are on the scale uint8 pixels reach after dividing by
 * 255 (typically 0..1): a {@link Normalization} maps byte {@code v} to {@code (v/255 - mean) / std} and float
 * {@code x} to {@code (x - mean) / std}. {@link #isFloat()} tells which; the byte accessors ({@link #images()},
 * {@link #image}, {@link #copyImage(int, byte[], int)}, {@link #pixel}) need byte storage, while
 * {@link #copyImage(int, float[], int)} and {@link #value} work for both.
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
    private final byte[] pixels; // backing storage of uint8 data (null for float data), never exposed
    private final float[] floats; // backing storage of float data (null for uint8 data), never exposed
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
        this(name, channels, height, width, classes, Objects.requireNonNull(images, "images").clone(), null,
                Objects.requireNonNull(labels, "labels").clone(), 0, labels.length, true);
    }

    /**
     * A uint8 data set from copies of the given arrays (the same as the public constructor).
     *
     * @param images {@code n * channels * height * width} bytes, NCHW per image, read as unsigned
     * @param labels {@code n} labels, each in {@code [0, classes)}
     * @return the data set
     * @throws IllegalArgumentException for inconsistent sizes, non-positive dimensions or a label out of range
     */
    public static Dataset ofBytes(String name, int channels, int height, int width, int classes, byte[] images,
            int[] labels) {
        return new Dataset(name, channels, height, width, classes, images, labels);
    }

    /**
     * A float data set from copies of the given arrays.
     *
     * @param images {@code n * channels * height * width} finite floats, NCHW per image, on the scale of
     *               {@code uint8 / 255} (see the class comment)
     * @param labels {@code n} labels, each in {@code [0, classes)}
     * @return the data set
     * @throws IllegalArgumentException for inconsistent sizes, non-positive dimensions, a non-finite value or a
     *                                  label out of range
     */
    public static Dataset ofFloats(String name, int channels, int height, int width, int classes, float[] images,
            int[] labels) {
        return new Dataset(name, channels, height, width, classes, null,
                Objects.requireNonNull(images, "images").clone(), Objects.requireNonNull(labels, "labels").clone(),
                0, labels.length, true);
    }

    private Dataset(String name, int channels, int height, int width, int classes, byte[] pixels, float[] floats,
            int[] labels, int first, int size, boolean validate) {
        this.name = Objects.requireNonNull(name, "name");
        this.channels = channels;
        this.height = height;
        this.width = width;
        this.classes = classes;
        this.pixels = pixels;
        this.floats = floats;
        this.labels = labels;
        this.first = first;
        this.size = size;
        if (validate) {
            validate();
        }
    }

    /** Takes ownership of the arrays (no copy): only for readers in this package that allocated them. */
    static Dataset wrap(String name, int channels, int height, int width, int classes, byte[] images, int[] labels) {
        return new Dataset(name, channels, height, width, classes, images, null, labels, 0, labels.length, true);
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
        long given = pixels != null ? pixels.length : floats.length;
        if (given != expected) {
            throw new IllegalArgumentException(name + ": " + labels.length + " labels and shape (" + channels + ", "
                    + height + ", " + width + ") need " + expected + " image " + (pixels != null ? "bytes" : "floats")
                    + ", got " + given);
        }
        if (floats != null) {
            for (int i = 0; i < floats.length; i++) {
                if (!Float.isFinite(floats[i])) {
                    int is = channels * height * width;
                    throw new IllegalArgumentException(name + ": image " + i / is + " has the value " + floats[i]
                            + " at index " + i % is + " (only finite values can be trained on)");
                }
            }
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

    /** Whether the pixels are stored as floats ({@link #ofFloats}) rather than uint8. */
    public boolean isFloat() {
        return floats != null;
    }

    /** Values per image: {@code channels * height * width}. */
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

    /** A copy of all images, {@code size() * imageSize()} bytes, NCHW (uint8 data only). */
    public byte[] images() {
        requireBytes();
        int is = imageSize();
        return Arrays.copyOfRange(pixels, first * is, (first + size) * is);
    }

    /** A copy of one image ({@code imageSize()} bytes, CHW). */
    public byte[] image(int index) {
        byte[] out = new byte[imageSize()];
        copyImage(index, out, 0);
        return out;
    }

    /**
     * Copies image {@code index} ({@code imageSize()} bytes, CHW) into {@code dst} at {@code dstOffset} (uint8 data
     * only).
     */
    public void copyImage(int index, byte[] dst, int dstOffset) {
        requireBytes();
        int is = imageSize();
        System.arraycopy(pixels, (first + Objects.checkIndex(index, size)) * is, dst, dstOffset, is);
    }

    /**
     * Copies image {@code index} ({@code imageSize()} values, CHW) into {@code dst} at {@code dstOffset}, on the
     * float scale: uint8 pixels as {@code v / 255f}, float pixels as stored.
     */
    public void copyImage(int index, float[] dst, int dstOffset) {
        int is = imageSize();
        int from = (first + Objects.checkIndex(index, size)) * is;
        if (floats != null) {
            System.arraycopy(floats, from, dst, dstOffset, is);
        } else {
            for (int i = 0; i < is; i++) {
                dst[dstOffset + i] = (float) (pixels[from + i] & 0xFF) / 255f;
            }
        }
    }

    /** One pixel on the float scale: {@code v / 255f} for uint8 data, the stored value for float data. */
    public float value(int index, int c, int y, int x) {
        int at = offset(index, c, y, x);
        return floats != null ? floats[at] : (float) (pixels[at] & 0xFF) / 255f;
    }

    /** One pixel as an unsigned value in {@code [0, 255]} (uint8 data only). */
    public int pixel(int index, int c, int y, int x) {
        requireBytes();
        return pixels[offset(index, c, y, x)] & 0xFF;
    }

    private int offset(int index, int c, int y, int x) {
        Objects.checkIndex(index, size);
        Objects.checkIndex(c, channels);
        Objects.checkIndex(y, height);
        Objects.checkIndex(x, width);
        return (first + index) * imageSize() + (c * height + y) * width + x;
    }

    private void requireBytes() {
        if (pixels == null) {
            throw new IllegalStateException(name + " holds float pixels; read them with copyImage(int, float[], int) "
                    + "or value(...)");
        }
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
        return new Dataset(n, channels, height, width, classes, pixels, floats, labels, first + from, to - from,
                false);
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
        return "Dataset[" + name + ", " + size + (floats != null ? " float" : "") + " images of (" + channels + ", "
                + height + ", " + width + "), " + classes + " classes]";
    }
}
