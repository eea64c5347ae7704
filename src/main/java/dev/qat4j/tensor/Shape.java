package dev.qat4j.tensor;

import java.util.Arrays;

/** Helpers for shapes given as {@code int[]}; shapes are row-major (NCHW for images). */
public final class Shape {
    private Shape() {
    }

    /** Number of elements; refuses negative dimensions and products beyond {@link Integer#MAX_VALUE}. */
    public static int numel(int... shape) {
        if (shape == null) {
            throw new IllegalArgumentException("shape is null");
        }
        long n = 1;
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
            n *= d;
            if (n > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has more than 2^31-1 elements");
            }
        }
        return (int) n;
    }

    public static String str(int... shape) {
        return shape == null ? "null" : Arrays.toString(shape);
    }
}
