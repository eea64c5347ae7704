package dev.qat4j.quant;

/**
 * An activation fake-quantizer of the seed ({@code algorithms.md} A2): its kind, bit width and, for the fixed-clip
 * kind, its clip value. The learnable clip α of PACT and mPACT is not part of this descriptor: it is a
 * parameter tensor passed next to it. Bit width 32 means "not quantized" (identity, zero α gradient).
 *
 * <p>Every kind maps x to an integer code and back, rounding half to even (the seed's {@code torch.round}):
 * <pre>
 *   kind        clip y                     code q            value        codes (b bits)   dy/dx (STE)          dy/dα
 *   PACT        clamp(x, 0, α)             rint(y*s), s=(2^b-1)/α   q/s   0 .. 2^b-1       1[0 &lt;= x &lt;= α]       1[x &gt;= α]
 *   MPACT       clamp(x, -|α|, |α|)        rint(y*s), s=(2^(b-1)-1)/|α|  q/s  ±(2^(b-1)-1) 1[|x| &lt;= |α|]   1[x &gt;= |α|] - 1[x &lt;= -|α|]
 *   FIXED_CLIP  clamp(x, 0, c) / c         rint(y*n), n=2^b-1       q/n*c 0 .. 2^b-1       1[0 &lt;= x &lt;= c]       -
 *   DOREFA      clamp(0.1*x, 0, 1)         rint(y*n), n=2^b-1       q/n   0 .. 2^b-1       0.1*1[0 &lt;= x &lt;= 10]  -
 * </pre>
 *
 * Worked table (mirrored by {@code QuantizerTablesTest}), PACT with b = 2, α = 3 (s = 1, levels 0,1,2,3):
 * <pre>
 *   x      -1    0    0.5   1.5   2.5   2.6   3    7
 *   code    0    0    0     2     2     3     3    3     (0.5 -&gt; 0, 1.5 -&gt; 2, 2.5 -&gt; 2: ties to even)
 *   dy/dx   0    1    1     1     1     1     1    0
 *   dy/dα   0    0    0     0     0     0     1    1
 * </pre>
 * mPACT with b = 3, α = 3 (s = 1, codes -3..3): x = -4 -&gt; -3, -2.5 -&gt; -2, -0.5 -&gt; -0 (value -0.0), 0.5 -&gt; 0,
 * 1.5 -&gt; 2, 3.5 -&gt; 3; dy/dα is -1 at x = -4 and x = -3, +1 at x = 3 and 3.5, 0 between.
 * A zero α (PACT) or |α| = 0 (mPACT) gives all-zero output and gradients instead of a division by zero.
 */
public record ActQuantizer(Kind kind, int bits, float fixedClip) {

    public enum Kind {
        /** Unsigned, learnable clip α (PACT paper). */
        PACT,
        /** Signed symmetric, learnable clip |α| (the seed's "modified PACT"). */
        MPACT,
        /** Unsigned with a fixed clip c (the seed's {@code act_pactFixed}). */
        FIXED_CLIP,
        /** DoReFa activation: clip at x = 10, output in [0, 1] (not rescaled by 10, as in the seed). */
        DOREFA
    }

    public ActQuantizer {
        if (kind == null) {
            throw new IllegalArgumentException("ActQuantizer: kind is null");
        }
        if (!(bits >= 1 && bits <= 16) && bits != 32) {
            throw new IllegalArgumentException("ActQuantizer: bit width " + bits + " is outside 1..16 and not 32");
        }
        if (kind == Kind.MPACT && bits == 1) {
            throw new IllegalArgumentException("ActQuantizer: MPACT needs at least 2 bits (1 bit has no nonzero code)");
        }
        if (kind == Kind.FIXED_CLIP && !(fixedClip > 0 && Float.isFinite(fixedClip))) {
            throw new IllegalArgumentException("ActQuantizer: FIXED_CLIP needs a positive finite clip, got " + fixedClip);
        }
    }

    public static ActQuantizer pact(int bits) {
        return new ActQuantizer(Kind.PACT, bits, 0f);
    }

    public static ActQuantizer mpact(int bits) {
        return new ActQuantizer(Kind.MPACT, bits, 0f);
    }

    public static ActQuantizer fixedClip(int bits, float clip) {
        return new ActQuantizer(Kind.FIXED_CLIP, bits, clip);
    }

    public static ActQuantizer dorefa(int bits) {
        return new ActQuantizer(Kind.DOREFA, bits, 0f);
    }

    /** Whether this kind takes a learnable α tensor. */
    public boolean hasAlpha() {
        return kind == Kind.PACT || kind == Kind.MPACT;
    }

    public boolean isIdentity() {
        return bits == 32;
    }

    public boolean isSigned() {
        return kind == Kind.MPACT;
    }

    /** Largest code: 2^b - 1 for unsigned kinds, 2^(b-1) - 1 for mPACT; the smallest is 0 or its negation. */
    public int maxCode() {
        if (isIdentity()) {
            throw new IllegalStateException("ActQuantizer: a 32-bit (unquantized) activation has no codes");
        }
        return isSigned() ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
    }

    public int minCode() {
        return isSigned() ? -maxCode() : 0;
    }

    /** Lower clip bound in x units for the given α (ignored by kinds without α). */
    public float clipLow(float alpha) {
        return switch (kind) {
            case PACT, FIXED_CLIP, DOREFA -> 0f;
            case MPACT -> -Math.abs(alpha);
        };
    }

    /** Upper clip bound in x units. */
    public float clipHigh(float alpha) {
        return switch (kind) {
            case PACT -> alpha;
            case MPACT -> Math.abs(alpha);
            case FIXED_CLIP -> fixedClip;
            case DOREFA -> 10f;
        };
    }

    /** The integer code of x (as a float holding an integer), for bits &lt;= 16. */
    public float code(float x, float alpha) {
        switch (kind) {
            case PACT: {
                if (!(alpha > 0f)) {
                    return 0f;
                }
                float y = clamp(x, 0f, alpha);
                return (float) Math.rint(y * ((float) maxCode() / alpha));
            }
            case MPACT: {
                float a = Math.abs(alpha);
                if (a == 0f) {
                    return 0f;
                }
                float y = clamp(x, -a, a);
                return (float) Math.rint(y * ((float) maxCode() / a));
            }
            case FIXED_CLIP: {
                float y = clamp(x, 0f, fixedClip) / fixedClip;
                return (float) Math.rint(y * (float) maxCode());
            }
            case DOREFA: {
                float y = clamp(0.1f * x, 0f, 1f);
                return (float) Math.rint(y * (float) maxCode());
            }
            default:
                throw new AssertionError(kind);
        }
    }

    /**
     * Clamp with C's ternary semantics (NaN passes through, -0 stays -0), so native kernels that use
     * SIMD max/min or the same ternaries give bit-identical results.
     */
    static float clamp(float v, float lo, float hi) {
        v = v < lo ? lo : v;
        return v > hi ? hi : v;
    }

    /** The fake-quantized value of x: {@code value(code(x))}; x itself when bits = 32. */
    public float fakeQuant(float x, float alpha) {
        if (isIdentity()) {
            return x;
        }
        return value(code(x, alpha), alpha);
    }

    /** The value a code stands for, with the float operations in the seed's order. */
    public float value(float code, float alpha) {
        return switch (kind) {
            case PACT -> alpha > 0f ? code / ((float) maxCode() / alpha) : 0f;
            case MPACT -> alpha != 0f ? code / ((float) maxCode() / Math.abs(alpha)) : 0f;
            case FIXED_CLIP -> code / (float) maxCode() * fixedClip;
            case DOREFA -> code / (float) maxCode();
        };
    }

    /** value(code) ≈ code * step: the scale that turns an integer accumulation of codes back into values. */
    public float step(float alpha) {
        return switch (kind) {
            case PACT -> alpha > 0f ? alpha / maxCode() : 0f;
            case MPACT -> Math.abs(alpha) / maxCode();
            case FIXED_CLIP -> fixedClip / maxCode();
            case DOREFA -> 1f / maxCode();
        };
    }

    /** Straight-through derivative of the output with respect to x. */
    public float gradX(float x, float alpha) {
        if (isIdentity()) {
            return 1f;
        }
        return switch (kind) {
            case PACT -> (alpha > 0f && x >= 0f && x <= alpha) ? 1f : 0f;
            case MPACT -> (alpha != 0f && Math.abs(x) <= Math.abs(alpha)) ? 1f : 0f;
            case FIXED_CLIP -> (x >= 0f && x <= fixedClip) ? 1f : 0f;
            case DOREFA -> (x >= 0f && x <= 10f) ? 0.1f : 0f;
        };
    }

    /** Derivative of the output with respect to α (the seed's, rounding-error term ignored); 0 for kinds without α. */
    public float gradAlpha(float x, float alpha) {
        if (isIdentity()) {
            return 0f;
        }
        return switch (kind) {
            case PACT -> (alpha > 0f && x >= alpha) ? 1f : 0f;
            case MPACT -> {
                float a = Math.abs(alpha);
                if (a == 0f) {
                    yield 0f;
                }
                float sign = alpha > 0 ? 1f : -1f; // d|α|/dα
                yield x >= a ? sign : (x <= -a ? -sign : 0f);
            }
            case FIXED_CLIP, DOREFA -> 0f;
        };
    }
}
