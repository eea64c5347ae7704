package dev.qat4j.backend.cuda;

import dev.qat4j.tensor.Storage;

/**
 * Elements in GPU memory (an address from the library's stream-ordered pool); freed when the tensor is closed. The
 * free is queued behind every kernel already launched, so closing a tensor an op still reads is safe.
 */
final class DeviceStorage extends Storage {
    final long address;

    DeviceStorage(long address, long capacityBytes) {
        super(capacityBytes);
        this.address = address;
    }

    @Override
    protected void release() {
        CudaKernels.qc_free(address);
    }
}
