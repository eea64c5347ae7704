package dev.qat4j.tensor;

/** Element types a {@link Tensor} can hold. UINT8 is stored in a byte and read as {@code b & 0xFF}. */
public enum DType {
    FLOAT32(4),
    INT8(1),
    UINT8(1),
    INT32(4);

    private final int byteSize;

    DType(int byteSize) {
        this.byteSize = byteSize;
    }

    public int byteSize() {
        return byteSize;
    }

    /** Smallest and largest value of an integer dtype (as long, so INT32 fits). */
    public long minValue() {
        return switch (this) {
            case INT8 -> Byte.MIN_VALUE;
            case UINT8 -> 0;
            case INT32 -> Integer.MIN_VALUE;
            case FLOAT32 -> throw new IllegalStateException("FLOAT32 has no integer range");
        };
    }

    public long maxValue() {
        return switch (this) {
            case INT8 -> Byte.MAX_VALUE;
            case UINT8 -> 255;
            case INT32 -> Integer.MAX_VALUE;
            case FLOAT32 -> throw new IllegalStateException("FLOAT32 has no integer range");
        };
    }

    public boolean isByte() {
        return this == INT8 || this == UINT8;
    }
}
