package dev.qat4j.train;

/**
 * Counts of (true label, predicted label) over an evaluation: accuracy averaged per image (not per batch, which
 * over-weighted the seed's short last batch), per-class accuracy, and the matrix itself.
 */
public final class ConfusionMatrix {
    private final long[][] counts;

    public ConfusionMatrix(int classes) {
        if (classes < 1) {
            throw new IllegalArgumentException("confusion matrix: need at least one class, got " + classes);
        }
        counts = new long[classes][classes];
    }

    public int classes() {
        return counts.length;
    }

    /** Adds a batch: logits [n, classes] row-major and the true labels. Ties go to the lowest class index. */
    public void add(float[] logits, int[] labels, int n) {
        int k = counts.length;
        if (logits.length < (long) n * k || labels.length < n) {
            throw new IllegalArgumentException("confusion matrix: " + n + " rows of " + k + " logits need "
                    + (long) n * k + " values and " + n + " labels, got " + logits.length + " and " + labels.length);
        }
        for (int i = 0; i < n; i++) {
            if (labels[i] < 0 || labels[i] >= k) {
                throw new IllegalArgumentException("confusion matrix: label " + labels[i] + " at row " + i
                        + " is outside 0.." + (k - 1));
            }
            counts[labels[i]][argmax(logits, i * k, k)]++;
        }
    }

    /**
     * Adds counts made elsewhere ({@code Backend.accumulateConfusion}): {@code counts[label * k + prediction]}, whole
     * numbers.
     *
     * @throws IllegalArgumentException for a length other than k*k, or a count that is negative or not whole
     */
    public void addCounts(float[] counts) {
        int k = this.counts.length;
        if (counts.length != k * k) {
            throw new IllegalArgumentException("confusion matrix: " + counts.length + " counts for " + k
                    + " classes (need " + k * k + ")");
        }
        for (int i = 0; i < counts.length; i++) {
            float c = counts[i];
            if (!(c >= 0) || c != Math.rint(c)) {
                throw new IllegalArgumentException("confusion matrix: count " + c + " at " + i + " is not a whole number");
            }
        }
        for (int i = 0; i < counts.length; i++) {
            this.counts[i / k][i % k] += (long) counts[i];
        }
    }

    static int argmax(float[] v, int from, int len) {
        int best = 0;
        for (int j = 1; j < len; j++) {
            // NaN never wins, so a diverged row is counted as wrong rather than as class 0 by accident.
            if (v[from + j] > v[from + best] || Float.isNaN(v[from + best]) && !Float.isNaN(v[from + j])) {
                best = j;
            }
        }
        return best;
    }

    public long total() {
        long t = 0;
        for (long[] row : counts) {
            for (long c : row) {
                t += c;
            }
        }
        return t;
    }

    public long correct() {
        long c = 0;
        for (int i = 0; i < counts.length; i++) {
            c += counts[i][i];
        }
        return c;
    }

    /** Top-1 accuracy in [0, 1], per image; 0 for an empty matrix. */
    public double accuracy() {
        long t = total();
        return t == 0 ? 0 : (double) correct() / t;
    }

    /** Accuracy of each true class (NaN for a class with no images). */
    public double[] perClassAccuracy() {
        double[] a = new double[counts.length];
        for (int i = 0; i < counts.length; i++) {
            long row = 0;
            for (long c : counts[i]) {
                row += c;
            }
            a[i] = row == 0 ? Double.NaN : (double) counts[i][i] / row;
        }
        return a;
    }

    /** A copy of the counts, [true][predicted]. */
    public long[][] counts() {
        long[][] c = new long[counts.length][];
        for (int i = 0; i < c.length; i++) {
            c[i] = counts[i].clone();
        }
        return c;
    }
}
