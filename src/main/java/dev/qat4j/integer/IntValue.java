package dev.qat4j.integer;

/**
 * One integer tensor of the integer model, per image: its shape, the range its integers can take (the clamp of
 * the quantizer that makes it, or a proven bound), and the real value one unit stands for.
 *
 * @param name  where it comes from, e.g. {@code s1.b0.out.q}
 * @param shape per image, [C, H, W] (or [F])
 * @param lo    smallest possible value
 * @param hi    largest possible value
 * @param scale real value of one unit (code * scale ~ the fake-quant value)
 */
public record IntValue(String name, int[] shape, long lo, long hi, double scale) {
    public long maxAbs() {
        return Math.max(Math.abs(lo), Math.abs(hi));
    }

    public int numel() {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    /** Whether every value fits a signed (INT8) or unsigned (UINT8) byte: the backends' int8 convolution takes it. */
    public boolean fitsByte() {
        return (lo >= -128 && hi <= 127) || (lo >= 0 && hi <= 255);
    }

    /** Bits a two's complement (or unsigned, when lo >= 0) register needs for this range. */
    public int bits() {
        return IntLayer.bitsFor(lo, hi);
    }
}
