package dev.qat4j.data;

import java.util.Arrays;

/**
 * Per-channel normalisation of uint8 pixels to floats, exactly torchvision's {@code ToTensor()} then
 * {@code Normalize(mean, std)} in float32: {@code ((float) v / 255f - mean[c]) / std[c]} (one float division,
 * one float subtraction, one float division, each rounded to float). Computed once per channel and pixel value
 * into a 256-entry table, so applying it is a lookup. Float pixels (already on the {@code v / 255} scale) are
 * normalised as {@code (x - mean[c]) / std[c]}, which for {@code x = (float) v / 255f} is the same float.
 */
public final class Normalization {
    /** The seed's CIFAR-10 constants (algorithms.md A6). */
    public static final Normalization CIFAR10 = new Normalization(new float[] {0.4914f, 0.4822f, 0.4465f},
            new float[] {0.2023f, 0.1994f, 0.2010f});

    private final float[] mean;
    private final float[] std;
    private final float[] table; // [c * 256 + v]

    /** @throws IllegalArgumentException for empty or different-length arrays, a non-finite value or std &lt;= 0 */
    public Normalization(float[] mean, float[] std) {
        if (mean.length == 0 || mean.length != std.length) {
            throw new IllegalArgumentException("mean and std need one value per channel, got " + mean.length
                    + " and " + std.length);
        }
        this.mean = mean.clone();
        this.std = std.clone();
        table = new float[mean.length * 256];
        for (int c = 0; c < mean.length; c++) {
            if (!Float.isFinite(this.mean[c]) || !Float.isFinite(this.std[c]) || !(this.std[c] > 0)) {
                throw new IllegalArgumentException("channel " + c + ": mean " + this.mean[c] + ", std " + this.std[c]
                        + ": need finite values and std > 0");
            }
            for (int v = 0; v < 256; v++) {
                float x = (float) v / 255f;
                table[c * 256 + v] = (x - this.mean[c]) / this.std[c];
            }
        }
    }

    /** Only {@code x / 255} (mean 0, std 1) for {@code channels} channels. */
    public static Normalization scaleOnly(int channels) {
        float[] zero = new float[channels];
        float[] one = new float[channels];
        Arrays.fill(one, 1f);
        return new Normalization(zero, one);
    }

    /**
     * The per-channel mean and (population) standard deviation of {@code data}'s pixels on the float scale
     * ({@link Dataset#copyImage(int, float[], int)}), so that the normalised data has mean 0 and std 1 per channel.
     * A channel whose pixels are all equal gets std 1 (only its mean is removed).
     *
     * @param data the images to measure, at least one
     * @return the normalisation
     */
    public static Normalization of(Dataset data) {
        if (data.size() == 0) {
            throw new IllegalArgumentException(data.name() + " is empty: no statistics to normalise with");
        }
        int c = data.channels(), plane = data.height() * data.width();
        double[] sum = new double[c], sumSq = new double[c];
        float[] image = new float[data.imageSize()];
        for (int i = 0; i < data.size(); i++) {
            data.copyImage(i, image, 0);
            for (int ch = 0; ch < c; ch++) {
                for (int p = ch * plane; p < (ch + 1) * plane; p++) {
                    sum[ch] += image[p];
                    sumSq[ch] += (double) image[p] * image[p];
                }
            }
        }
        float[] mean = new float[c], std = new float[c];
        double n = (double) data.size() * plane;
        for (int ch = 0; ch < c; ch++) {
            double m = sum[ch] / n;
            double sd = Math.sqrt(Math.max(0, sumSq[ch] / n - m * m));
            mean[ch] = (float) m;
            std[ch] = sd > 1e-6 ? (float) sd : 1f;
        }
        return new Normalization(mean, std);
    }

    public int channels() {
        return mean.length;
    }

    public float[] mean() {
        return mean.clone();
    }

    public float[] std() {
        return std.clone();
    }

    /** The normalised value of pixel value {@code v} (0..255) in channel {@code c}. */
    public float apply(int c, int v) {
        if (v < 0 || v > 255) {
            throw new IllegalArgumentException("pixel value " + v + " outside 0..255");
        }
        return table[c * 256 + v];
    }

    /**
     * Normalises one CHW uint8 image of {@code channels()} planes of {@code planeSize} pixels into {@code dst}.
     */
    public void apply(byte[] src, int srcOffset, int planeSize, float[] dst, int dstOffset) {
        for (int c = 0; c < mean.length; c++) {
            int t = c * 256;
            int s = srcOffset + c * planeSize;
            int d = dstOffset + c * planeSize;
            for (int i = 0; i < planeSize; i++) {
                dst[d + i] = table[t + (src[s + i] & 0xFF)];
            }
        }
    }

    /**
     * Normalises one CHW float image of {@code channels()} planes of {@code planeSize} values into {@code dst}:
     * {@code (x - mean[c]) / std[c]}.
     */
    public void apply(float[] src, int srcOffset, int planeSize, float[] dst, int dstOffset) {
        for (int c = 0; c < mean.length; c++) {
            int s = srcOffset + c * planeSize;
            int d = dstOffset + c * planeSize;
            for (int i = 0; i < planeSize; i++) {
                dst[d + i] = (src[s + i] - mean[c]) / std[c];
            }
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Normalization n && Arrays.equals(mean, n.mean) && Arrays.equals(std, n.std);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(mean) + Arrays.hashCode(std);
    }

    @Override
    public String toString() {
        return "Normalization[mean=" + Arrays.toString(mean) + ", std=" + Arrays.toString(std) + "]";
    }
}
