package dev.qat4j.backend.cpu;

import dev.qat4j.tensor.Storage;
import org.bytedeco.javacpp.Pointer;

/** Elements in native memory allocated by JavaCPP; freed when the tensor is closed, not by the GC. */
final class NativeStorage implements Storage {
    final Pointer pointer;

    NativeStorage(Pointer pointer) {
        this.pointer = pointer;
    }

    @Override
    public void free() {
        pointer.close();
    }
}
