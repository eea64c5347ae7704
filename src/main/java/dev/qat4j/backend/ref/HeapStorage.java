package dev.qat4j.backend.ref;

import dev.qat4j.tensor.Storage;

/** Elements in a Java array (float[], byte[] or int[]); the garbage collector frees it. */
final class HeapStorage extends Storage {
    final Object array;

    HeapStorage(Object array) {
        super(bytes(array));
        this.array = array;
    }

    private static long bytes(Object array) {
        if (array instanceof float[] f) {
            return 4L * f.length;
        }
        if (array instanceof int[] i) {
            return 4L * i.length;
        }
        return ((byte[]) array).length;
    }

    @Override
    protected void release() {
        // Nothing to free early: the array becomes garbage once the tensor is unreachable.
    }
}
