package dev.qat4j.backend.ref;

import dev.qat4j.tensor.Storage;

/** Elements in a Java array (float[], byte[] or int[]); the garbage collector frees it. */
final class HeapStorage implements Storage {
    final Object array;

    HeapStorage(Object array) {
        this.array = array;
    }

    @Override
    public void free() {
        // Nothing to free early: the array becomes garbage once the tensor is unreachable.
    }
}
