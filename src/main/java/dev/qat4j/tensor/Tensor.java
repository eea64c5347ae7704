package dev.qat4j.tensor;

import dev.qat4j.backend.Backend;
import dev.qat4j.tensor.internal.TensorInternals;

/**
 * A dense row-major array of one {@link DType}, living in the memory of one {@link Backend}.
 *
 * <p>Tensors are created by a backend ({@code backend.zeros(...)}, {@code backend.fromFloats(...)}) and
 * moved between backends only by an explicit copy ({@link #to(Backend)}). Native memory is freed when the
 * tensor is closed: use try-with-resources or {@link dev.qat4j.backend.TensorScope}; a closed tensor refuses
 * every use with an {@link IllegalStateException}. A {@link #reshape reshaped} tensor is a view: it shares
 * its base's memory, and closing the base closes it too.
 */
public final class Tensor implements AutoCloseable {
    private final Backend backend;
    private final DType dtype;
    private final int[] shape;
    private final int numel;
    private final Storage storage;
    private final Tensor base; // non-null for views; the base owns the storage
    private volatile boolean closed;
    private volatile QuantGrid quantGrid; // set once by the op that made the values, never for views
    private long quantGridWrites;          // the storage's write count when the mark was made
    private volatile ValueRange valueRange; // likewise, for integer values whose bounds are known
    private long valueRangeWrites;

    static {
        // the backend-only operations, reachable from the backend packages through TensorInternals only
        TensorInternals.install(new TensorInternals.Access() {
            @Override
            public Tensor wrap(Backend backend, DType dtype, int[] shape, Storage storage) {
                return new Tensor(backend, dtype, shape, storage);
            }

            @Override
            public Storage storage(Tensor t) {
                return t.storage();
            }

            @Override
            public void markQuantGrid(Tensor t, QuantGrid grid) {
                t.markQuantGrid(grid);
            }

            @Override
            public void markValueRange(Tensor t, ValueRange range) {
                t.markValueRange(range);
            }
        });
    }

    /** Wraps storage a backend has allocated (backends call {@link TensorInternals#wrap}). */
    Tensor(Backend backend, DType dtype, int[] shape, Storage storage) {
        this(backend, dtype, shape, storage, null);
    }

    private Tensor(Backend backend, DType dtype, int[] shape, Storage storage, Tensor base) {
        if (backend == null || dtype == null || storage == null) {
            throw new IllegalArgumentException("Tensor: backend, dtype and storage are required");
        }
        this.backend = backend;
        this.dtype = dtype;
        this.shape = shape.clone();
        this.numel = Shape.numel(shape);
        if ((long) numel * dtype.byteSize() > storage.capacityBytes()) {
            throw new IllegalArgumentException("Tensor: " + dtype + Shape.str(shape) + " needs " + (long) numel * dtype.byteSize()
                    + " bytes but its storage holds " + storage.capacityBytes());
        }
        this.storage = storage;
        this.base = base;
    }

    public Backend backend() {
        return backend;
    }

    public DType dtype() {
        return dtype;
    }

    /** A copy of the shape. */
    public int[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public int dim(int axis) {
        return shape[axis < 0 ? shape.length + axis : axis];
    }

    public int numel() {
        return numel;
    }

    /**
     * The backend's storage (backends call {@link TensorInternals#storage} after checking {@link #backend()} and
     * holding it for their op). Refused only once the memory is given back: a tensor closed by another thread while
     * an op holds its memory ({@link Storage#beginUse}) still lends that op its storage, as the hold promises.
     */
    Storage storage() {
        if (storage.isReleased()) {
            throw new IllegalStateException("storage: tensor " + dtype + Shape.str(shape) + " is closed");
        }
        return storage;
    }

    public boolean isClosed() {
        return closed || (base != null && base.isClosed()) || storage.isFreed();
    }

    /** Throws IllegalStateException naming {@code op} if this tensor was closed. */
    public void checkOpen(String op) {
        if (isClosed()) {
            throw new IllegalStateException(op + ": tensor " + dtype + Shape.str(shape) + " is closed");
        }
    }

    /** A view with another shape of the same element count, sharing this tensor's memory. */
    public Tensor reshape(int... newShape) {
        checkOpen("reshape");
        if (Shape.numel(newShape) != numel) {
            throw new IllegalArgumentException("reshape: cannot view " + Shape.str(shape) + " (" + numel
                    + " elements) as " + Shape.str(newShape));
        }
        return new Tensor(backend, dtype, newShape, storage, base == null ? this : base);
    }

    /** Copies this tensor into the memory of {@code target} (a new tensor, even on the same backend). */
    public Tensor to(Backend target) {
        return target.copyFrom(this);
    }

    public float[] toFloatArray() {
        return backend.readFloats(this);
    }

    /** INT8 and UINT8 tensors as raw bytes (read UINT8 with {@code & 0xFF}). */
    public byte[] toByteArray() {
        return backend.readBytes(this);
    }

    public int[] toIntArray() {
        return backend.readInts(this);
    }

    /** The values of an integer tensor as ints: INT8 sign-extended, UINT8 zero-extended, INT32 as they are. */
    public int[] toIntCodes() {
        if (dtype == DType.INT32) {
            return toIntArray();
        }
        if (!dtype.isByte()) {
            throw new IllegalArgumentException("toIntCodes: " + dtype + " is not an integer dtype");
        }
        byte[] b = toByteArray();
        int[] out = new int[b.length];
        boolean unsigned = dtype == DType.UINT8;
        for (int i = 0; i < b.length; i++) {
            out[i] = unsigned ? b[i] & 0xFF : b[i];
        }
        return out;
    }

    /**
     * The quantization grid its values lie on, when the backend op that computed them knows it; else null. Null as
     * well once an in-place op has written the memory since (the values may have left the grid).
     */
    public QuantGrid quantGrid() {
        QuantGrid grid = quantGrid;
        return grid != null && storage.writeCount() == quantGridWrites ? grid : null;
    }

    /**
     * Records that the op which just computed this tensor's values put every one of them on {@code grid}. Set at
     * most once, by that op, before the tensor is handed out (backends call {@link TensorInternals#markQuantGrid}).
     */
    void markQuantGrid(QuantGrid grid) {
        if (quantGrid != null) {
            throw new IllegalStateException("markQuantGrid: " + this + " already has " + quantGrid);
        }
        quantGridWrites = storage.writeCount();
        quantGrid = grid; // volatile write last: a reader that sees the grid sees its write count

    }

    /**
     * Bounds of this integer tensor's values, when the backend that made them knows them (host data it copied in, or
     * a gather of such values); else null. Null as well once an in-place op has written the memory since.
     */
    public ValueRange valueRange() {
        ValueRange r = valueRange;
        return r != null && storage.writeCount() == valueRangeWrites ? r : null;
    }

    /** Records the bounds of the values just made; at most once, by the backend, before the tensor is handed out. */
    void markValueRange(ValueRange range) {
        if (valueRange != null) {
            throw new IllegalStateException("markValueRange: " + this + " already has " + valueRange);
        }
        valueRangeWrites = storage.writeCount();
        valueRange = range; // volatile write last, as markQuantGrid
    }

    /**
     * Frees the memory (views free nothing). Closing twice is allowed, from any thread. Every later use of the tensor
     * is refused; an op already running on it on another thread finishes on intact memory, which is given back when
     * that op ends (see {@link Storage}).
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (base == null) {
            storage.free();
        }
    }

    @Override
    public String toString() {
        return "Tensor(" + dtype + Shape.str(shape) + " on " + backend.name() + (isClosed() ? ", closed" : "") + ")";
    }
}
