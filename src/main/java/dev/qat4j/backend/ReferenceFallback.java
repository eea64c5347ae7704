package dev.qat4j.backend;

import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.tensor.Tensor;
import java.lang.reflect.Constructor;
import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.List;

/**
 * The one fallback path: runs an op that a backend does not {@linkplain Backend#supportsNatively support} on the
 * reference backend. The operands are copied to the reference, the op runs there, and its results (a tensor or one
 * of the {@link Results} records) are copied back into the calling backend's memory; every copy is closed.
 */
final class ReferenceFallback {
    private ReferenceFallback() {
    }

    static <T> T run(Backend backend, Op op, Backend.OpCall<T> call) {
        if (op.updatesOperandsInPlace()) {
            throw new IllegalStateException(op + " updates an operand in place, so backend '" + backend.name()
                    + "' must run it itself; it cannot be routed to the reference on copies");
        }
        Backend ref = RefBackend.INSTANCE;
        List<Tensor> copies = new ArrayList<>();
        try {
            T result = call.run(ref, t -> {
                if (t == null) {
                    return null;
                }
                Tensor copy = ref.copyFrom(t);
                copies.add(copy);
                return copy;
            });
            return copyBack(backend, result);
        } finally {
            copies.forEach(Tensor::close);
        }
    }

    /** The result in {@code backend}'s memory; the reference's tensors are closed. */
    @SuppressWarnings("unchecked")
    private static <T> T copyBack(Backend backend, T result) {
        if (result == null) {
            return null;
        }
        if (result instanceof Tensor t) {
            try (t) {
                return (T) backend.copyFrom(t);
            }
        }
        if (result instanceof Record r) {
            return (T) copyRecord(backend, r);
        }
        throw new IllegalStateException("cannot copy an op result of type " + result.getClass().getName());
    }

    private static Record copyRecord(Backend backend, Record r) {
        RecordComponent[] parts = r.getClass().getRecordComponents();
        Object[] values = new Object[parts.length];
        Class<?>[] types = new Class<?>[parts.length];
        List<Tensor> made = new ArrayList<>();
        try {
            for (int i = 0; i < parts.length; i++) {
                types[i] = parts[i].getType();
                Object v = parts[i].getAccessor().invoke(r);
                if (v instanceof Tensor t) {
                    Tensor copy = backend.copyFrom(t);
                    made.add(copy);
                    v = copy;
                }
                values[i] = v;
            }
            Constructor<? extends Record> c = r.getClass().getDeclaredConstructor(types);
            Record copied = c.newInstance(values);
            made.clear();
            return copied;
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot copy the result " + r.getClass().getSimpleName(), e);
        } finally {
            made.forEach(Tensor::close); // only on failure: otherwise the copied record owns them
            if (r instanceof AutoCloseable closeable) {
                try {
                    closeable.close();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }
        }
    }
}
