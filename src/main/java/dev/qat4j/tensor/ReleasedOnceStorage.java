package dev.qat4j.tensor;

/**
 * Storage whose memory a backend releases explicitly (native or GPU memory, not the Java heap): {@link #free()}
 * runs {@link #release()} exactly once, however many tensors (views included) share the storage and from whichever
 * thread they are closed.
 */
public abstract class ReleasedOnceStorage implements Storage {
    private final long capacityBytes;
    private volatile boolean freed;

    protected ReleasedOnceStorage(long capacityBytes) {
        this.capacityBytes = capacityBytes;
    }

    /** Gives the memory back; called once, by {@link #free()}. */
    protected abstract void release();

    @Override
    public final synchronized void free() {
        if (!freed) {
            freed = true;
            release();
        }
    }

    @Override
    public final long capacityBytes() {
        return capacityBytes;
    }

    @Override
    public final boolean isFreed() {
        return freed;
    }
}
