package dev.qat4j.tensor;

/**
 * Bounds every element of an integer tensor is known to lie in, recorded when the values are made where they are
 * visible (host data copied in by {@code Backend.fromInts}, or a gather of such values), so a check of the values
 * later (labels against a class count, say) needs no read back from the device.
 *
 * @param min no element is smaller
 * @param max no element is larger
 */
public record ValueRange(int min, int max) {
    public ValueRange {
        if (min > max) {
            throw new IllegalArgumentException("ValueRange: min " + min + " > max " + max);
        }
    }

    /** The bounds of {@code values}, or null for an empty array. */
    public static ValueRange of(int[] values) {
        if (values.length == 0) {
            return null;
        }
        int lo = values[0], hi = values[0];
        for (int v : values) {
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
        }
        return new ValueRange(lo, hi);
    }

    /** Whether every value of this range lies in {@code [lo, hi]}. */
    public boolean within(int lo, int hi) {
        return min >= lo && max <= hi;
    }
}
