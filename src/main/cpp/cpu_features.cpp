// CPU feature detection with <cpuid.h> + xgetbv, not __builtin_cpu_supports: with a warm JavaCPP cache the
// latter fails at load time ("undefined symbol: __cpu_features2", toolchain.md pitfall 3).
#include "qat4j_kernels.h"
#include <malloc.h>
#include <cpuid.h>
#include <omp.h>
#include <cblas.h>
#include <stdlib.h>

static uint64_t qat4j_xgetbv0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static int qat4j_detect_isa(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return QAT4J_ISA_SCALAR;
    const bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return QAT4J_ISA_SCALAR;
    const uint64_t xcr0 = qat4j_xgetbv0();
    const bool ymm_state = (xcr0 & 0x6) == 0x6;
    const bool zmm_state = (xcr0 & 0xE6) == 0xE6;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return QAT4J_ISA_SCALAR;
    const bool avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    const bool avx512vnni = (c >> 11) & 1;
    if (zmm_state && avx512f && avx512bw && avx512vl && avx512vnni) return QAT4J_ISA_AVX512VNNI;
    if (ymm_state && avx2 && fma) return QAT4J_ISA_AVX2;
    return QAT4J_ISA_SCALAR;
}

static int qat4j_max_isa_cached = -2;
static int qat4j_active_isa_cached = -2;

extern "C" int qat4j_cpu_max_isa(void) {
    if (qat4j_max_isa_cached == -2) qat4j_max_isa_cached = qat4j_detect_isa();
    return qat4j_max_isa_cached;
}

extern "C" int qat4j_cpu_active_isa(void) {
    if (qat4j_active_isa_cached == -2) {
        int isa = qat4j_cpu_max_isa();
        // QAT4J_ISA=scalar|avx2|avx512vnni lowers the level (never raises it past what the CPU has).
        const char* env = getenv("QAT4J_ISA");
        if (env) {
            for (int level = QAT4J_ISA_SCALAR; level <= QAT4J_ISA_AVX512VNNI; level++) {
                const char* name = qat4j_isa_name(level);
                int i = 0;
                while (name[i] && env[i] == name[i]) i++;
                if (!name[i] && !env[i] && level < isa) isa = level;
            }
        }
        qat4j_active_isa_cached = isa;
    }
    return qat4j_active_isa_cached;
}

extern "C" const char* qat4j_isa_name(int isa) {
    switch (isa) {
        case QAT4J_ISA_AVX512VNNI: return "avx512vnni";
        case QAT4J_ISA_AVX2: return "avx2";
        default: return "scalar";
    }
}

extern "C" int qat4j_num_threads(void) { return omp_get_max_threads(); }

// Our kernels parallelise with OpenMP, including around sgemm calls (each thread its own slice of the batch);
// OpenBLAS stays single-threaded so two thread pools never spin against each other on the same cores.
extern "C" void qat4j_set_num_threads(int n) {
    if (n > 0) {
        omp_set_num_threads(n);
        openblas_set_num_threads(1);
    }
}

// A training step allocates and frees the same activation-sized buffers every step (8 MiB each at batch 128).
// glibc hands blocks that large back to the OS (mmap, heap trimming), so every step page-faults them in again,
// zero-filled: measured 1.5x slower ResNet20 QAT steps and a noisy p90. Keeping freed memory in the heap avoids it.
// Process-wide (it is malloc's policy), so CpuBackend calls it once and QAT4J_MALLOC_RETAIN=0 turns it off.
extern "C" int qat4j_retain_freed_memory(void) {
    int ok = mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest allowed threshold on 64-bit
    ok &= mallopt(M_TRIM_THRESHOLD, 1 << 30);
    ok &= mallopt(M_TOP_PAD, 64 << 20);
    return ok;
}
