package dev.qat4j.backend.cuda;

import dev.qat4j.tensor.Storage;

/**
 * Elements in GPU memory (an address from the library's stream-ordered pool); freed when the tensor is closed. The
 * free is queued behind every kernel already launched, so closing a tensor an op still reads is safe.
 */
final class DeviceStorage implements Storage {
    final long address;
    private final long capacityBytes;
    private volatile boolean freed;

    DeviceStorage(long address, long capacityBytes) {
        this.address = address;
        this.capacityBytes = capacityBytes;
    }

    @Override
    public synchronized void free() {
        if (!freed) {
            freed = true;
            CudaKernels.qc_free(address);
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
