package dev.qat4j.backend;

import dev.qat4j.tensor.Shape;
import dev.qat4j.tensor.Storage;
import dev.qat4j.tensor.Tensor;
import dev.qat4j.tensor.internal.TensorInternals;
import java.util.ArrayList;
import java.util.List;

/**
 * The operands one op holds while it runs ({@link Storage#beginUse}), released together when it ends: a tensor closed
 * by another thread meanwhile keeps its memory until then. One instance per op call, used by one thread.
 */
final class OperandUses implements AutoCloseable {
    private final String op;
    private final List<Storage> held = new ArrayList<>(4);

    OperandUses(String op) {
        this.op = op;
    }

    /** Holds {@code t}'s memory until {@link #close()}; null passes through (optional operands). */
    Tensor hold(Tensor t) {
        if (t == null) {
            return null;
        }
        t.checkOpen(op);
        Storage memory;
        try {
            memory = TensorInternals.storage(t);
        } catch (IllegalStateException closedMeanwhile) { // closed by another thread since the check above
            throw new IllegalStateException(op + ": tensor " + t.dtype() + Shape.str(t.shape())
                    + " was closed before the op could start", closedMeanwhile);
        }
        if (!memory.beginUse()) {
            throw new IllegalStateException(op + ": tensor " + t.dtype() + Shape.str(t.shape())
                    + " was closed before the op could start");
        }
        held.add(memory);
        return t;
    }

    @Override
    public void close() {
        for (Storage memory : held) {
            memory.endUse();
        }
        held.clear();
    }
}
