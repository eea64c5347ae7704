package dev.qat4j.tensor;

/**
 * Memory that holds a tensor's elements, owned by the backend that made it. Only that backend knows the concrete type
 * (Java arrays for {@code ref}, native memory for {@code cpu}, GPU memory for {@code cuda}).
 *
 * <p>Two things every backend gets from here, whatever its memory:
 * <ul>
 *   <li><b>Use counts.</b> An op holds each operand's storage from before its kernel reads the first element to after
 *       it writes the last ({@link #beginUse}/{@link #endUse}). {@link #free()} on storage in use only marks it freed
 *       (every tensor on it then refuses new ops) and the memory is given back when the last op using it ends. So
 *       closing a tensor while another thread runs an op on it can neither crash that op nor let the op write into
 *       memory that was handed to a new tensor.</li>
 *   <li><b>A write count.</b> Ops that update an operand in place call {@link #noteWrite()} first; a quantization-grid
 *       mark made at an earlier count is stale ({@link Tensor#quantGrid()}), views and rewraps included.</li>
 * </ul>
 */
public abstract class Storage {
    private final long capacityBytes;
    private int users;              // ops using the memory now; guarded by this
    private volatile boolean freed; // free() was called: no new use may begin
    private boolean released;       // release() has run; guarded by this
    private volatile long writes;

    protected Storage(long capacityBytes) {
        this.capacityBytes = capacityBytes;
    }

    /** Gives the memory back: called exactly once, after {@link #free()}, when no op uses the memory. */
    protected abstract void release();

    /** Bytes this storage can hold: a tensor on it may not address more. */
    public final long capacityBytes() {
        return capacityBytes;
    }

    /**
     * Frees the memory (called by {@link Tensor#close()}; again is a no-op, from any thread): now if no op uses it,
     * else when the last op using it ends.
     */
    public final synchronized void free() {
        if (freed) {
            return;
        }
        freed = true;
        releaseIfUnused();
    }

    /** Whether {@link #free()} has run: every tensor on this storage is then closed, views and rewraps included. */
    public final boolean isFreed() {
        return freed;
    }

    /** Whether the memory has been given back ({@link #free()} ran and no op uses it any more). */
    public final synchronized boolean isReleased() {
        return released;
    }

    /** Starts one op's use of the memory; false (and nothing held) if it has been freed. Pair with {@link #endUse}. */
    public final synchronized boolean beginUse() {
        if (freed) {
            return false;
        }
        users++;
        return true;
    }

    /** Ends a use begun by {@link #beginUse}; gives the memory back if it was freed meanwhile and no op remains. */
    public final synchronized void endUse() {
        if (users <= 0) {
            throw new IllegalStateException("Storage.endUse without a matching beginUse");
        }
        users--;
        releaseIfUnused();
    }

    private void releaseIfUnused() {
        if (freed && users == 0 && !released) {
            released = true;
            release();
        }
    }

    /** Records that an op is about to change the elements in place (stales every grid mark made before). */
    public final synchronized void noteWrite() {
        writes++;
    }

    /** How many in-place writes the memory has seen (see {@link #noteWrite()}). */
    public final long writeCount() {
        return writes;
    }
}
