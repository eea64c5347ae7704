package dev.qat4j.backend.cpu;

import dev.qat4j.tensor.Storage;
import org.bytedeco.javacpp.Pointer;

/** Elements in native memory allocated by JavaCPP; freed when the tensor is closed, not by the GC. */
final class NativeStorage implements Storage {
    final Pointer pointer;
    private final long capacityBytes;
    private volatile boolean freed;

    NativeStorage(Pointer pointer, long capacityBytes) {
        this.pointer = pointer;
        this.capacityBytes = capacityBytes;
    }

    @Override
    public synchronized void free() {
        if (!freed) {
            freed = true;
            pointer.close();
        }
    }

    @Override
    public long capacityBytes() {
        return capacityBytes;
    }

    @Override
    public boolean isFreed() {
        return freed;
    }
}
