package dev.qat4j.integer.export;

/** The signed integer types an exported array is stored as; each array gets the narrowest that holds its values. */
enum IntDtype {
    INT8(1, "int8", "int8_t"),
    INT16(2, "int16", "int16_t"),
    INT32(4, "int32", "int32_t"),
    INT64(8, "int64", "int64_t");

    final int bytes;
    final String jsonName;
    final String cType;

    IntDtype(int bytes, String jsonName, String cType) {
        this.bytes = bytes;
        this.jsonName = jsonName;
        this.cType = cType;
    }

    long min() {
        return bytes == 8 ? Long.MIN_VALUE : -(1L << (8 * bytes - 1));
    }

    long max() {
        return bytes == 8 ? Long.MAX_VALUE : (1L << (8 * bytes - 1)) - 1;
    }

    /** The narrowest type holding every entry (int8 for an empty array). */
    static IntDtype narrowest(long[] values) {
        long lo = 0, hi = 0;
        for (long v : values) {
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
        }
        for (IntDtype t : values()) {
            if (lo >= t.min() && hi <= t.max()) {
                return t;
            }
        }
        throw new AssertionError("every long fits int64");
    }
}
