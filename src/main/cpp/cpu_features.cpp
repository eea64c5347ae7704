// CPU feature detection with <cpuid.h> + xgetbv, not __builtin_cpu_supports: with a warm JavaCPP cache the
// latter fails at load time ("undefined symbol: __cpu_features2", toolchain.md pitfall 3).
// The ISA level is resolved here and nowhere else: qat4j_kernels_for maps a requested level to one row of the
// dispatch table, and every kernel entry calls its variants through that row.
#include "qat4j_internal.h"
#include <malloc.h>
#include <cpuid.h>
#include <omp.h>
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atomic>

static uint64_t qat4j_xgetbv0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

// The widest level whose every instruction the CPU has and whose register state the OS saves (xgetbv). Each level
// includes the ones below it: AVX512F also needs AVX2 + FMA (the int8 GEMM of that level is the AVX2 one).
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
    if (!(ymm_state && avx2 && fma)) return QAT4J_ISA_SCALAR;
    if (!(zmm_state && avx512f)) return QAT4J_ISA_AVX2;
    if (!(avx512bw && avx512vl && avx512vnni)) return QAT4J_ISA_AVX512F;
    return QAT4J_ISA_AVX512VNNI;
}

extern "C" int qat4j_cpu_max_isa(void) {
    static const int max_isa = qat4j_detect_isa();  // resolved once (thread-safe static initialisation)
    return max_isa;
}

static int qat4j_resolve_active_isa(void) {
    int isa = qat4j_cpu_max_isa();
    // QAT4J_ISA=scalar|avx2|avx512f|avx512vnni lowers the level (never raises it past what the CPU has).
    const char* env = getenv("QAT4J_ISA");
    if (env) {
        for (int level = QAT4J_ISA_SCALAR; level < QAT4J_ISA_COUNT; level++) {
            if (strcmp(env, qat4j_isa_name(level)) == 0 && level < isa) isa = level;
        }
    }
    return isa;
}

extern "C" int qat4j_cpu_active_isa(void) {
    static const int active = qat4j_resolve_active_isa();
    return active;
}

extern "C" const char* qat4j_isa_name(int isa) {
    switch (isa) {
        case QAT4J_ISA_AVX512VNNI: return "avx512vnni";
        case QAT4J_ISA_AVX512F: return "avx512f";
        case QAT4J_ISA_AVX2: return "avx2";
        default: return "scalar";
    }
}

// ---------------------------------------------------------------- the dispatch table
// One row per level, constant (function addresses only): every variant of every kernel, scalar where a level has
// nothing wider. Float kernels go wide at AVX512F (they use AVX-512F instructions only), the int8 GEMM at AVX2
// (vpmaddwd) and VNNI (vpdpbusd), the implicit-GEMM int8 conv only at VNNI.
namespace {
const qat4j_kernel_table kTables[QAT4J_ISA_COUNT] = {
    {QAT4J_ISA_SCALAR,
     qat4j::act_quant_scalar,
     qat4j::act_quant_bwd_scalar,
     qat4j::clamp_bwd_scalar,
     qat4j::bn_plane_sums_scalar,
     qat4j::bn_plane_affine_scalar,
     qat4j::bn_plane_bwd_sums_scalar,
     qat4j::bn_plane_bwd_dx_scalar,
     qat4j::sgemm_off_nn_scalar,
     qat4j::sgemm_off_nt_scalar,
     qat4j::gemm_s8_scalar,
     nullptr,
     qat4j::grid_to_codes_scalar,
     qat4j::requant_residual_scalar},
    {QAT4J_ISA_AVX2,
     qat4j::act_quant_scalar,
     qat4j::act_quant_bwd_scalar,
     qat4j::clamp_bwd_scalar,
     qat4j::bn_plane_sums_scalar,
     qat4j::bn_plane_affine_scalar,
     qat4j::bn_plane_bwd_sums_scalar,
     qat4j::bn_plane_bwd_dx_scalar,
     qat4j::sgemm_off_nn_scalar,
     qat4j::sgemm_off_nt_scalar,
     qat4j::gemm_s8_avx2,
     nullptr,
     qat4j::grid_to_codes_scalar,
     qat4j::requant_residual_scalar},
    {QAT4J_ISA_AVX512F,
     qat4j::act_quant_avx512,
     qat4j::act_quant_bwd_avx512,
     qat4j::clamp_bwd_avx512,
     qat4j::bn_plane_sums_avx512,
     qat4j::bn_plane_affine_avx512,
     qat4j::bn_plane_bwd_sums_avx512,
     qat4j::bn_plane_bwd_dx_avx512,
     qat4j::sgemm_off_nn_avx512,
     qat4j::sgemm_off_nt_avx512,
     qat4j::gemm_s8_avx2,
     nullptr,
     qat4j::grid_to_codes_avx512,
     qat4j::requant_residual_avx512},
    {QAT4J_ISA_AVX512VNNI,
     qat4j::act_quant_avx512,
     qat4j::act_quant_bwd_avx512,
     qat4j::clamp_bwd_avx512,
     qat4j::bn_plane_sums_avx512,
     qat4j::bn_plane_affine_avx512,
     qat4j::bn_plane_bwd_sums_avx512,
     qat4j::bn_plane_bwd_dx_avx512,
     qat4j::sgemm_off_nn_avx512,
     qat4j::sgemm_off_nt_avx512,
     qat4j::gemm_s8_vnni,
     qat4j::conv_s8_implicit_vnni,
     qat4j::grid_to_codes_avx512,
     qat4j::requant_residual_avx512},
};
}  // namespace

const qat4j_kernel_table* qat4j_kernels_for(int isa) {
    if (isa == QAT4J_ISA_AUTO) isa = qat4j_cpu_active_isa();
    const int max_isa = qat4j_cpu_max_isa();
    if (isa > max_isa) isa = max_isa;
    if (isa < QAT4J_ISA_SCALAR) isa = QAT4J_ISA_SCALAR;
    return &kTables[isa];
}

extern "C" int qat4j_constant(const char* name) {
#define QAT4J_C(id) {#id, id}
    static const struct {
        const char* name;
        int value;
    } constants[] = {
        QAT4J_C(QAT4J_OK), QAT4J_C(QAT4J_ERR_NO_MEMORY), QAT4J_C(QAT4J_OFF_GRID),
        QAT4J_C(QAT4J_ISA_AUTO), QAT4J_C(QAT4J_ISA_SCALAR), QAT4J_C(QAT4J_ISA_AVX2), QAT4J_C(QAT4J_ISA_AVX512F),
        QAT4J_C(QAT4J_ISA_AVX512VNNI), QAT4J_C(QAT4J_ISA_COUNT),
        QAT4J_C(QAT4J_ACT_PACT), QAT4J_C(QAT4J_ACT_MPACT), QAT4J_C(QAT4J_ACT_FIXED_CLIP), QAT4J_C(QAT4J_ACT_DOREFA),
        QAT4J_C(QAT4J_ROUND_HALF_EVEN), QAT4J_C(QAT4J_ROUND_HALF_UP), QAT4J_C(QAT4J_ROUND_HALF_AWAY_FROM_ZERO),
        QAT4J_C(QAT4J_ROUND_TOWARD_ZERO), QAT4J_C(QAT4J_ROUND_FLOOR),
        QAT4J_C(QAT4J_RESIDUAL_NONE), QAT4J_C(QAT4J_RESIDUAL_INT8), QAT4J_C(QAT4J_RESIDUAL_UINT8),
        QAT4J_C(QAT4J_RESIDUAL_INT32), QAT4J_C(QAT4J_OUT_INT8), QAT4J_C(QAT4J_OUT_INT32),
        QAT4J_C(QAT4J_ERR_UNSUPPORTED), QAT4J_C(QAT4J_STEP_CONV), QAT4J_C(QAT4J_STEP_REQUANT),
        QAT4J_C(QAT4J_STEP_SUM_POOL), QAT4J_C(QAT4J_STEP_LINEAR), QAT4J_C(QAT4J_VALUE_INT8),
        QAT4J_C(QAT4J_VALUE_UINT8), QAT4J_C(QAT4J_VALUE_INT32), QAT4J_C(QAT4J_PROGRAM_STEP_FIELDS),
        QAT4J_C(QAT4J_STEP_F_KIND), QAT4J_C(QAT4J_STEP_F_INPUT), QAT4J_C(QAT4J_STEP_F_RESIDUAL),
        QAT4J_C(QAT4J_STEP_F_C), QAT4J_C(QAT4J_STEP_F_H), QAT4J_C(QAT4J_STEP_F_W), QAT4J_C(QAT4J_STEP_F_CO),
        QAT4J_C(QAT4J_STEP_F_KH), QAT4J_C(QAT4J_STEP_F_KW), QAT4J_C(QAT4J_STEP_F_STRIDE), QAT4J_C(QAT4J_STEP_F_PAD),
        QAT4J_C(QAT4J_STEP_F_GROUPS), QAT4J_C(QAT4J_STEP_F_WEIGHTS), QAT4J_C(QAT4J_STEP_F_PARAMS),
        QAT4J_C(QAT4J_STEP_F_BIAS), QAT4J_C(QAT4J_STEP_F_ROUNDING), QAT4J_C(QAT4J_STEP_F_QMIN),
        QAT4J_C(QAT4J_STEP_F_QMAX), QAT4J_C(QAT4J_STEP_F_POOL), QAT4J_C(QAT4J_STEP_F_FRAC),
    };
#undef QAT4J_C
    if (name)
        for (const auto& c : constants)
            if (strcmp(c.name, name) == 0) return c.value;
    return QAT4J_CONSTANT_UNKNOWN;
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

// Read on every work-buffer allocation (qat4j_alloc64), set rarely: an atomic, initialised to the physical memory.
static int64_t physical_memory_bytes() {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? (int64_t)pages * page : INT64_MAX;
}
static std::atomic<int64_t> work_buffer_limit{physical_memory_bytes()};

extern "C" int64_t qat4j_work_buffer_limit(void) { return work_buffer_limit.load(std::memory_order_relaxed); }

extern "C" int64_t qat4j_set_work_buffer_limit(int64_t bytes) {
    return bytes < 1 ? qat4j_work_buffer_limit() : work_buffer_limit.exchange(bytes);
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
