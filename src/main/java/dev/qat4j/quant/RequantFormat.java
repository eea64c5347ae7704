package dev.qat4j.quant;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How a real rescale factor r (a conv's {@code s_in * s_w / s_out}, folded with BN's {@code gamma / sigma}) becomes
 * the integer multiplier and right shift of {@link Requantizer}: {@code x * r ~ (x * multiplier) / 2^shift}.
 *
 * <ul>
 *   <li>{@link ApFixed}: the seed's {@code ap_fixed<W, I>} (algorithms.md A4): W bits in all, I of them integer bits
 *       (sign included), so {@code F = W - I} fractional bits: {@code multiplier = round(r * 2^F)} saturated to the
 *       signed W-bit range, {@code shift = F}. Small r lose relative precision (a fixed grid of 2^-F).</li>
 *   <li>{@link Dyadic}: a signed M-bit mantissa with its own shift, chosen per value so that the mantissa uses all M
 *       bits: relative error at most 2^-(M-1) for round-to-nearest, whatever the size of r (within shift 0..62).</li>
 * </ul>
 * Conversion is exact arithmetic on the double's value (BigDecimal), rounded in the format's {@link Rounding}.
 */
public sealed interface RequantFormat permits RequantFormat.ApFixed, RequantFormat.Dyadic {

    /** An integer multiplier and right shift: the factor {@code multiplier / 2^shift}. */
    record Scale(int multiplier, int shift) {
        public double value() {
            return multiplier / Math.pow(2, shift);
        }
    }

    /** {@code r} as multiplier and shift; IllegalArgumentException for NaN, infinity or a value the format cannot hold. */
    Scale encode(double r);

    /** The name {@link #parse} reads back, e.g. {@code ap_fixed<32,10>} or {@code dyadic16}. */
    String name();

    Rounding rounding();

    /** ap_fixed&lt;W, I&gt;, 2 &lt;= W &lt;= 32, 1 &lt;= I &lt;= W (F = W - I fractional bits). */
    record ApFixed(int totalBits, int intBits, Rounding rounding) implements RequantFormat {
        public ApFixed {
            if (totalBits < 2 || totalBits > 32 || intBits < 1 || intBits > totalBits || rounding == null) {
                throw new IllegalArgumentException("ap_fixed<" + totalBits + "," + intBits + ">: need 2 <= W <= 32, "
                        + "1 <= I <= W and a rounding mode");
            }
        }

        @Override
        public Scale encode(double r) {
            int f = totalBits - intBits;
            BigInteger m = rounding.round(finite(r, name()).multiply(BigDecimal.valueOf(2).pow(f)));
            long max = (1L << (totalBits - 1)) - 1, min = -(1L << (totalBits - 1));
            long v = m.compareTo(BigInteger.valueOf(max)) > 0 ? max : m.compareTo(BigInteger.valueOf(min)) < 0 ? min
                    : m.longValueExact(); // the seed saturates the integer part
            return new Scale((int) v, f);
        }

        @Override
        public String name() {
            return "ap_fixed<" + totalBits + "," + intBits + ">";
        }
    }

    /** A signed mantissa of M bits (8 &lt;= M &lt;= 32) and a shift in 0..62 chosen per value. */
    record Dyadic(int mantissaBits, Rounding rounding) implements RequantFormat {
        public Dyadic {
            if (mantissaBits < 8 || mantissaBits > 32 || rounding == null) {
                throw new IllegalArgumentException("dyadic" + mantissaBits + ": need 8 <= M <= 32 and a rounding mode");
            }
        }

        @Override
        public Scale encode(double r) {
            BigDecimal x = finite(r, name());
            long limit = (1L << (mantissaBits - 1)) - 1; // largest |mantissa|
            if (x.signum() == 0) {
                return new Scale(0, 0);
            }
            // the largest shift whose mantissa still fits: |round(r * 2^s)| <= limit
            for (int s = Rounding.MAX_SHIFT; s >= 0; s--) {
                BigInteger m = rounding.round(x.multiply(BigDecimal.valueOf(2).pow(s)));
                if (m.abs().compareTo(BigInteger.valueOf(limit)) <= 0) {
                    return new Scale(m.intValueExact(), s);
                }
            }
            throw new IllegalArgumentException(name() + ": " + r + " is too large for a " + mantissaBits
                    + "-bit mantissa with a right shift (|r| must stay below " + limit + ")");
        }

        @Override
        public String name() {
            return "dyadic" + mantissaBits;
        }
    }

    /**
     * {@code ap_fixed<W,I>} or {@code dyadicM}, optionally followed by {@code /ROUNDING} (default HALF_EVEN), e.g.
     * {@code ap_fixed<16,8>/toward_zero}.
     */
    static RequantFormat parse(String text) {
        if (text == null) {
            throw new IllegalArgumentException("requantization format is null");
        }
        String t = text.trim().toLowerCase(Locale.ROOT);
        Rounding rounding = Rounding.HALF_EVEN;
        int slash = t.indexOf('/');
        if (slash >= 0) {
            String r = t.substring(slash + 1).toUpperCase(Locale.ROOT);
            try {
                rounding = Rounding.valueOf(r);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("requantization format '" + text + "': unknown rounding '" + r
                        + "' (HALF_EVEN, HALF_UP, HALF_AWAY_FROM_ZERO, TOWARD_ZERO, FLOOR)", e);
            }
            t = t.substring(0, slash);
        }
        Matcher ap = Pattern.compile("ap_fixed<(\\d{1,2}),(\\d{1,2})>").matcher(t.replace(" ", ""));
        if (ap.matches()) {
            return new ApFixed(Integer.parseInt(ap.group(1)), Integer.parseInt(ap.group(2)), rounding);
        }
        Matcher dy = Pattern.compile("dyadic(\\d{1,2})").matcher(t);
        if (dy.matches()) {
            return new Dyadic(Integer.parseInt(dy.group(1)), rounding);
        }
        throw new IllegalArgumentException("requantization format '" + text + "' is neither ap_fixed<W,I> nor dyadicM "
                + "(optionally /ROUNDING), e.g. ap_fixed<32,10> or dyadic16/half_up");
    }

    private static BigDecimal finite(double r, String format) {
        if (!Double.isFinite(r)) {
            throw new IllegalArgumentException(format + ": cannot encode " + r);
        }
        return new BigDecimal(r);
    }
}
