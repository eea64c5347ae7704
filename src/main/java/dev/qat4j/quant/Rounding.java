package dev.qat4j.quant;

/**
 * How a fixed-point value is rounded when it is divided by a power of two ({@code v / 2^shift}).
 *
 * <pre>
 *   v / 2^s      HALF_EVEN  HALF_UP  HALF_AWAY_FROM_ZERO  TOWARD_ZERO  FLOOR
 *    2.5            2          3             3                2          2
 *    3.5            4          4             4                3          3
 *   -2.5           -2         -2            -3               -2         -3
 *   -2.75          -3         -3            -3               -2         -3
 * </pre>
 * HALF_UP rounds a tie toward +infinity ({@code floor(x + 1/2)}), which is what an adder of half an LSB
 * before an arithmetic shift does in hardware; TOWARD_ZERO is the seed's {@code trunc}.
 */
public enum Rounding {
    HALF_EVEN,
    HALF_UP,
    HALF_AWAY_FROM_ZERO,
    TOWARD_ZERO,
    FLOOR;

    /** Rounds an exact real {@code x} to an integer in this mode (the same ties as {@link #divPow2}). */
    public java.math.BigInteger round(java.math.BigDecimal x) {
        java.math.RoundingMode mode = switch (this) {
            case FLOOR -> java.math.RoundingMode.FLOOR;
            case TOWARD_ZERO -> java.math.RoundingMode.DOWN;
            case HALF_AWAY_FROM_ZERO -> java.math.RoundingMode.HALF_UP;
            case HALF_EVEN -> java.math.RoundingMode.HALF_EVEN;
            case HALF_UP -> null; // ties toward +infinity: floor(x + 1/2)
        };
        if (mode == null) {
            return x.add(new java.math.BigDecimal("0.5")).setScale(0, java.math.RoundingMode.FLOOR).toBigIntegerExact();
        }
        return x.setScale(0, mode).toBigIntegerExact();
    }

    /** Largest shift accepted: 62 keeps {@code 1L << shift} and the half-LSB addend inside a long. */
    public static final int MAX_SHIFT = 62;

    /** Rounds {@code v / 2^shift} to an integer in this mode; {@code |v| < 2^62} and {@code 0 <= shift <= 62}. */
    public long divPow2(long v, int shift) {
        if (shift == 0) {
            return v;
        }
        long floor = v >> shift;
        long rem = v - (floor << shift); // in [0, 2^shift)
        long half = 1L << (shift - 1);
        return switch (this) {
            case FLOOR -> floor;
            case TOWARD_ZERO -> (v < 0 && rem != 0) ? floor + 1 : floor;
            case HALF_UP -> rem >= half ? floor + 1 : floor;
            case HALF_AWAY_FROM_ZERO -> (rem > half || (rem == half && v >= 0)) ? floor + 1 : floor;
            case HALF_EVEN -> (rem > half || (rem == half && (floor & 1) != 0)) ? floor + 1 : floor;
        };
    }
}
