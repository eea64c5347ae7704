package dev.qat4j.tensor.internal;

import dev.qat4j.backend.Backend;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.QuantGrid;
import dev.qat4j.tensor.Storage;
import dev.qat4j.tensor.Tensor;
import dev.qat4j.tensor.ValueRange;

/**
 * Not API: the parts of {@link Tensor} that only backends use, kept off Tensor's public surface (its constructor,
 * its storage, the quantization-grid mark). {@code ArchitectureTest} allows only the backend packages to use this
 * package. Tensor hands its implementation over when it is first initialised.
 */
public final class TensorInternals {
    /** What Tensor implements for the backends. */
    public interface Access {
        Tensor wrap(Backend backend, DType dtype, int[] shape, Storage storage);

        Storage storage(Tensor t);

        void markQuantGrid(Tensor t, QuantGrid grid);

        void markValueRange(Tensor t, ValueRange range);
    }

    private static volatile Access access;

    private TensorInternals() {
    }

    /** Called once, by Tensor's static initialiser. */
    public static synchronized void install(Access a) {
        if (access != null) {
            throw new IllegalStateException("TensorInternals: already installed");
        }
        access = a;
    }

    private static Access access() {
        Access a = access;
        if (a == null) {
            try { // initialising Tensor installs it
                Class.forName(Tensor.class.getName(), true, Tensor.class.getClassLoader());
            } catch (ClassNotFoundException e) {
                throw new IllegalStateException(e);
            }
            a = access;
        }
        return a;
    }

    /** A tensor over storage a backend has allocated. */
    public static Tensor wrap(Backend backend, DType dtype, int[] shape, Storage storage) {
        return access().wrap(backend, dtype, shape, storage);
    }

    /** The memory behind a tensor (its base's, for a view). */
    public static Storage storage(Tensor t) {
        return access().storage(t);
    }

    /**
     * Records that the op which just computed {@code t}'s values put every one of them on {@code grid}: set at most
     * once, by that op, before the tensor is handed out.
     */
    public static void markQuantGrid(Tensor t, QuantGrid grid) {
        access().markQuantGrid(t, grid);
    }

    /** Records the bounds of the integer values a backend just made in {@code t} (see {@link Tensor#valueRange()}). */
    public static void markValueRange(Tensor t, ValueRange range) {
        access().markValueRange(t, range);
    }
}
