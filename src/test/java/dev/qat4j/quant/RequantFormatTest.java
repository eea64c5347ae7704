package dev.qat4j.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class RequantFormatTest {

    @Test
    void roundingARealAgreesWithDividingByAPowerOfTwo() {
        SplittableRandom r = new SplittableRandom(5);
        for (int i = 0; i < 20_000; i++) {
            long v = r.nextLong(-(1L << 40), 1L << 40);
            int shift = r.nextInt(0, 20);
            if (i % 4 == 0) {
                v = (v >> shift << shift) + (shift > 0 ? 1L << (shift - 1) : 0); // an exact tie
            }
            BigDecimal x = new BigDecimal(v).divide(BigDecimal.valueOf(2).pow(shift));
            for (Rounding mode : Rounding.values()) {
                assertEquals(BigInteger.valueOf(mode.divPow2(v, shift)), mode.round(x), mode + " " + v + " / 2^" + shift);
            }
        }
    }

    @Test
    void apFixedIsTheSeedsGridWithASaturatedIntegerPart() {
        RequantFormat f = RequantFormat.parse("ap_fixed<32,10>");
        assertEquals("ap_fixed<32,10>", f.name());
        RequantFormat.Scale s = f.encode(0.37);
        assertEquals(22, s.shift());
        assertEquals(Math.rint(0.37 * (1 << 22)), s.multiplier());
        // <16,8>: 8 fractional bits; 200 needs 9 integer bits and saturates to the largest code
        RequantFormat f16 = RequantFormat.parse("ap_fixed<16,8>/toward_zero");
        assertEquals(Rounding.TOWARD_ZERO, f16.rounding());
        assertEquals(new RequantFormat.Scale(32767, 8), f16.encode(200));
        assertEquals(new RequantFormat.Scale(-32768, 8), f16.encode(-1e9));
        assertEquals(new RequantFormat.Scale(-1, 8), f16.encode(-0.0078125 + 1e-12)); // -1.99.. LSB truncated toward 0
        // a small factor keeps few significant bits on the fixed grid
        assertEquals(new RequantFormat.Scale(1, 8), RequantFormat.parse("ap_fixed<16,8>").encode(0.004));
    }

    @Test
    void dyadicKeepsMBitsOfEveryFactor() {
        SplittableRandom r = new SplittableRandom(9);
        for (int m : new int[] {8, 16, 24, 32}) {
            RequantFormat f = RequantFormat.parse("dyadic" + m);
            for (int i = 0; i < 2_000; i++) {
                double x = Math.exp(r.nextDouble(-20, Math.log(Math.pow(2, m - 2)))) * (r.nextBoolean() ? 1 : -1);
                RequantFormat.Scale s = f.encode(x);
                long mag = Math.abs((long) s.multiplier());
                assertTrue(mag < (1L << (m - 1)), "mantissa fits " + m + " bits: " + s);
                assertTrue(s.shift() == Rounding.MAX_SHIFT || mag >= (1L << (m - 2)) - 1, "mantissa uses its bits: " + s);
                double rel = Math.abs(s.value() - x) / Math.abs(x);
                assertTrue(rel <= Math.pow(2, -(m - 2)), "dyadic" + m + " of " + x + " = " + s + " rel err " + rel);
            }
        }
        assertEquals(new RequantFormat.Scale(0, 0), RequantFormat.parse("dyadic16").encode(0.0));
    }

    @Test
    void badFormatsAndValuesAreRefusedWithTheirName() {
        for (String bad : new String[] {"ap_fixed<40,10>", "ap_fixed<16,0>", "dyadic4", "dyadic64", "fixed16", "",
            "dyadic16/nearest"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RequantFormat.parse(bad));
            assertTrue(e.getMessage().contains(bad.isEmpty() ? "''" : bad.replace("/nearest", "")) || e.getMessage()
                    .contains("need"), e.getMessage());
        }
        RequantFormat d = RequantFormat.parse("dyadic8");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> d.encode(Double.NaN)).getMessage()
                .contains("dyadic8"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> d.encode(1000)).getMessage()
                .contains("too large"));
    }
}
