package dev.qat4j.tensor;

/**
 * What a backend knows about a tensor a quantizer made: every element is an integer code in [minCode, maxCode]
 * times {@code step} (up to the float rounding of the quantizer's own value formula). A backend may then multiply
 * the codes exactly in integers instead of the values in float (the cpu backend's int8 forward convolution).
 * Only the op that computed the values attaches it ({@link Tensor#markQuantGrid}); views do not inherit it.
 */
public record QuantGrid(float step, int minCode, int maxCode) {
    public QuantGrid {
        if (!(step > 0f) || Float.isInfinite(step) || minCode > maxCode) {
            throw new IllegalArgumentException("QuantGrid: step must be positive and finite and minCode <= maxCode, got "
                    + step + ", [" + minCode + ", " + maxCode + "]");
        }
    }

    /** Codes fit an unsigned byte. */
    public boolean fitsUint8() {
        return minCode >= 0 && maxCode <= 255;
    }

    /** Codes fit a signed byte. */
    public boolean fitsInt8() {
        return minCode >= -128 && maxCode <= 127;
    }

    /** Largest |code|. */
    public int maxAbsCode() {
        return Math.max(Math.abs(minCode), Math.abs(maxCode));
    }
}
