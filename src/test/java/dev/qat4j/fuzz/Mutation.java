package dev.qat4j.fuzz;

import java.util.Arrays;

/**
 * One byte-level edit of a seed input, in the spirit of libFuzzer's mutators: bit flips, byte sets, "interesting"
 * integers written over 1, 2, 4 or 8 bytes in either byte order (0, -1, 2^31-1, 2^31, huge sizes...), truncation,
 * deletion, duplication and insertion of ranges. Positions are taken modulo the input length, so a list of
 * mutations applies to any input. A record, so jqwik can shrink a failing list and print it.
 */
public record Mutation(Kind kind, int pos, int len, long value) {
    public enum Kind {
        FLIP_BIT, SET_BYTE, INT_LE, INT_BE, TRUNCATE, DELETE, DUPLICATE, INSERT, ASCII_NUMBER
    }

    /** Values that break size checks: signs, type limits, and the formats' own record sizes. */
    public static final long[] INTERESTING = {
        0, 1, -1, 2, 7, 8, 16, 32, 127, 128, 255, 256, 1024, 3072, 3073, 4096, 65535, 65536, 1 << 24,
        Integer.MAX_VALUE, Integer.MIN_VALUE, 0xFFFF_FFFFL, Integer.MAX_VALUE - 8, 16L << 20, (16L << 20) + 1,
        Long.MAX_VALUE, Long.MIN_VALUE, 1L << 32, 1L << 40, 3073L * 698_000, 3073L * 10_000,
    };

    public byte[] apply(byte[] in) {
        int n = in.length;
        int at = n == 0 ? 0 : Math.floorMod(pos, n);
        switch (kind) {
            case FLIP_BIT -> {
                if (n == 0) {
                    return in;
                }
                byte[] out = in.clone();
                out[at] ^= (byte) (1 << (value & 7));
                return out;
            }
            case SET_BYTE -> {
                if (n == 0) {
                    return in;
                }
                byte[] out = in.clone();
                out[at] = (byte) value;
                return out;
            }
            case INT_LE, INT_BE -> {
                int width = new int[] {1, 2, 4, 8}[Math.floorMod(len, 4)];
                if (n < width) {
                    return in;
                }
                int start = Math.min(at, n - width);
                long v = INTERESTING[(int) Math.floorMod(value, (long) INTERESTING.length)];
                byte[] out = in.clone();
                for (int i = 0; i < width; i++) {
                    int shift = 8 * (kind == Kind.INT_LE ? i : width - 1 - i);
                    out[start + i] = (byte) (v >>> shift);
                }
                return out;
            }
            case TRUNCATE -> {
                return Arrays.copyOf(in, at);
            }
            case DELETE -> {
                int k = Math.min(Math.floorMod(len, 64) + 1, n - at);
                byte[] out = new byte[n - k];
                System.arraycopy(in, 0, out, 0, at);
                System.arraycopy(in, at + k, out, at, n - at - k);
                return out;
            }
            case DUPLICATE -> {
                int k = Math.min(Math.floorMod(len, 4096) + 1, n - at);
                byte[] out = new byte[n + k];
                System.arraycopy(in, 0, out, 0, at + k);
                System.arraycopy(in, at, out, at + k, n - at);
                return out;
            }
            case INSERT -> {
                int k = Math.floorMod(len, 16) + 1;
                byte[] out = new byte[n + k];
                System.arraycopy(in, 0, out, 0, at);
                for (int i = 0; i < k; i++) {
                    out[at + i] = (byte) (value >>> (8 * (i & 7)));
                }
                System.arraycopy(in, at, out, at + k, n - at);
                return out;
            }
            case ASCII_NUMBER -> { // replace a run of ASCII digits (a JSON/YAML/tar-octal number) with another
                if (n == 0) {
                    return in;
                }
                int s = at;
                while (s < n && !(in[s] >= '0' && in[s] <= '9')) {
                    s++;
                }
                if (s == n) {
                    return in;
                }
                int e = s;
                while (e < n && in[e] >= '0' && in[e] <= '9') {
                    e++;
                }
                long v = INTERESTING[(int) Math.floorMod(value, (long) INTERESTING.length)];
                byte[] digits = (len % 3 == 0 ? Long.toOctalString(v) : Long.toString(v))
                    .getBytes(java.nio.charset.StandardCharsets.US_ASCII);
                byte[] out = new byte[n - (e - s) + digits.length];
                System.arraycopy(in, 0, out, 0, s);
                System.arraycopy(digits, 0, out, s, digits.length);
                System.arraycopy(in, e, out, s + digits.length, n - e);
                return out;
            }
            default -> throw new AssertionError(kind);
        }
    }

    public static byte[] applyAll(byte[] seed, Iterable<Mutation> ms) {
        byte[] b = seed;
        for (Mutation m : ms) {
            b = m.apply(b);
        }
        return b;
    }
}
