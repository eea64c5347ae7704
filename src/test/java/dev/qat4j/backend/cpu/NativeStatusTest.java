package dev.qat4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.qat4j.backend.Op;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.IntPointer;
import org.junit.jupiter.api.Test;

/**
 * A native work buffer that cannot be allocated comes back as QAT4J_ERR_NO_MEMORY (the process goes on) and
 * CpuBackend raises it as an OutOfMemoryError naming the op.
 */
class NativeStatusTest {

    @Test
    void anImpossibleWorkBufferIsAStatusNotACrash() {
        // K = 2^58: the SIMD int8 GEMMs would pack A into 2^60 bytes, more than any address space; they ask for it
        // before reading A or B, so one-element operands are enough. The scalar level allocates nothing.
        try (BytePointer a = new BytePointer(1); BytePointer b = new BytePointer(1); IntPointer c = new IntPointer(1)) {
            for (int isa = CpuBackend.ISA_AVX2; isa <= NativeKernels.qat4j_cpu_max_isa(); isa++) {
                int status = NativeKernels.qat4j_gemm_s8_s32(1, 1, 1L << 58, a, b, 0, c, isa);
                assertEquals(CpuBackend.QAT4J_ERR_NO_MEMORY, status, CpuBackend.isaName(isa));
                OutOfMemoryError e = assertThrows(OutOfMemoryError.class, () -> CpuBackend.check(status, Op.GEMM_INT));
                assertEquals("cpu backend: gemmInt: native work buffer could not be allocated", e.getMessage());
            }
        }
    }
}
