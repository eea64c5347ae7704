package dev.qat4j.backend.cpu;

import dev.qat4j.tensor.Storage;
import org.bytedeco.javacpp.Pointer;

/** Elements in native memory allocated by JavaCPP; freed when the tensor is closed, not by the GC. */
final class NativeStorage extends Storage {
    final Pointer pointer;

    NativeStorage(Pointer pointer, long capacityBytes) {
        super(capacityBytes);
        this.pointer = pointer;
    }

    @Override
    protected void release() {
        pointer.close();
    }
}
