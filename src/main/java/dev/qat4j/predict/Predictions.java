package dev.qat4j.predict;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A predictor's answer for a batch of images, immutable (safe to share between threads): per image the logits,
 * softmax probabilities, the most likely class and the top k. For an integer model it also holds the exact int64
 * logits and the real value of one unit ({@link #logitScale()}); its float logits, probabilities and rankings are
 * derived from the exact ones. Classes are ranked by logit, ties going to the lower class index, as the evaluation
 * commands count them.
 */
public final class Predictions {
    private final List<String> classNames;
    private final int images;
    private final int classes;
    private final float[] logits;       // [images * classes]
    private final long[] exactLogits;   // [images * classes], null for a float model
    private final double logitScale;

    private Predictions(List<String> classNames, int images, float[] logits, long[] exactLogits, double logitScale) {
        this.classNames = classNames;
        this.images = images;
        this.classes = classNames.size();
        this.logits = logits;
        this.exactLogits = exactLogits;
        this.logitScale = logitScale;
    }

    /** A float model's answer; {@code logits} is [images x classes] and is not copied (the caller hands it over). */
    static Predictions ofFloat(List<String> classNames, int images, float[] logits) {
        return new Predictions(classNames, images, logits, null, Double.NaN);
    }

    /** An integer model's answer from its exact logits, each unit worth {@code logitScale}. */
    static Predictions ofInteger(List<String> classNames, int images, long[] exact, double logitScale) {
        float[] real = new float[exact.length];
        for (int i = 0; i < exact.length; i++) {
            real[i] = (float) (exact[i] * logitScale);
        }
        return new Predictions(classNames, images, real, exact, logitScale);
    }

    /** The number of images. */
    public int size() {
        return images;
    }

    /** The number of classes (the width of every row of logits). */
    public int classes() {
        return classes;
    }

    /** The class names, in output order. */
    public List<String> classNames() {
        return classNames;
    }

    /** Whether exact int64 logits are available (an integer model's answer). */
    public boolean isExact() {
        return exactLogits != null;
    }

    /** Image {@code image}'s logits, a fresh array; for an integer model its exact logits times the scale. */
    public float[] logits(int image) {
        int from = offset(image);
        return Arrays.copyOfRange(logits, from, from + classes);
    }

    /**
     * Image {@code image}'s exact int64 logits, a fresh array.
     *
     * @throws IllegalStateException for a float model's answer, which has none
     */
    public long[] exactLogits(int image) {
        requireExact();
        int from = offset(image);
        return Arrays.copyOfRange(exactLogits, from, from + classes);
    }

    /**
     * The real value of one unit of the exact logits.
     *
     * @throws IllegalStateException for a float model's answer
     */
    public double logitScale() {
        requireExact();
        return logitScale;
    }

    /**
     * Image {@code image}'s softmax probabilities, a fresh array summing to 1 up to rounding. Computed in double
     * after subtracting the largest logit, so large logits neither overflow nor lose the small differences; for an
     * integer model from the exact logits.
     */
    public float[] probabilities(int image) {
        double[] p = softmax(image);
        float[] out = new float[classes];
        for (int k = 0; k < classes; k++) {
            out[k] = (float) p[k];
        }
        return out;
    }

    /** The index of image {@code image}'s most likely class (the largest logit, ties to the lower index). */
    public int argmax(int image) {
        return ranking(image)[0];
    }

    /** The name of image {@code image}'s most likely class. */
    public String label(int image) {
        return classNames.get(argmax(image));
    }

    /**
     * Image {@code image}'s {@code k} most likely classes, most likely first, each with its probability.
     *
     * @throws IllegalArgumentException when {@code k} is not within 1 to {@link #classes()}
     */
    public List<ClassProbability> topK(int image, int k) {
        if (k < 1 || k > classes) {
            throw new IllegalArgumentException("top-k: k must be 1 to " + classes + " (the model's classes), got " + k);
        }
        Integer[] order = ranking(image);
        double[] p = softmax(image);
        List<ClassProbability> out = new ArrayList<>(k);
        for (int r = 0; r < k; r++) {
            int c = order[r];
            out.add(new ClassProbability(c, classNames.get(c), (float) p[c]));
        }
        return List.copyOf(out);
    }

    private Integer[] ranking(int image) {
        int from = offset(image);
        Integer[] order = new Integer[classes];
        for (int k = 0; k < classes; k++) {
            order[k] = k;
        }
        // exact logits rank an integer model: converting them to float could merge two of them
        Arrays.sort(order, exactLogits != null
                ? (a, b) -> Long.compare(exactLogits[from + b], exactLogits[from + a])
                : (a, b) -> Float.compare(logits[from + b], logits[from + a])); // stable: ties keep index order
        return order;
    }

    private double[] softmax(int image) {
        int from = offset(image);
        double[] z = new double[classes];
        double max = Double.NEGATIVE_INFINITY;
        if (exactLogits != null) {
            long top = Long.MIN_VALUE;
            for (int k = 0; k < classes; k++) {
                top = Math.max(top, exactLogits[from + k]);
            }
            for (int k = 0; k < classes; k++) {
                z[k] = (double) (exactLogits[from + k] - top) * logitScale; // the difference is exact in int64
            }
            max = 0;
        } else {
            for (int k = 0; k < classes; k++) {
                z[k] = logits[from + k];
                max = Math.max(max, z[k]);
            }
        }
        double sum = 0;
        for (int k = 0; k < classes; k++) {
            z[k] = Math.exp(z[k] - max);
            sum += z[k];
        }
        for (int k = 0; k < classes; k++) {
            z[k] /= sum;
        }
        return z;
    }

    private int offset(int image) {
        if (image < 0 || image >= images) {
            throw new IndexOutOfBoundsException("image " + image + " of a batch of " + images);
        }
        return image * classes;
    }

    private void requireExact() {
        if (exactLogits == null) {
            throw new IllegalStateException("exact logits: only an integer model's predictions have them; these "
                    + "come from a float model");
        }
    }

    @Override
    public String toString() {
        return "Predictions[" + images + " images x " + classes + " classes" + (isExact() ? ", exact" : "") + "]";
    }
}
