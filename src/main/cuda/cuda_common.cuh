// Internals shared by the .cu files: the library's stream, error plumbing and stream-ordered scratch memory.
#ifndef QAT4J_CUDA_COMMON_CUH
#define QAT4J_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <stdint.h>

namespace qc {

cudaStream_t stream();
int sm_count();
int set_error(cudaError_t e);  // records e as this thread's last error and returns it

// The status of the last launch (launch-configuration errors; faults inside kernels surface later).
inline int launched() { return set_error(cudaGetLastError()); }

template <typename T>
inline T* ptr(int64_t address) { return reinterpret_cast<T*>(static_cast<uintptr_t>(address)); }

// Stream-ordered scratch: freed after the kernels queued before the free have run.
template <typename T>
inline T* scratch(int64_t count) {
    void* p = nullptr;
    if (cudaMallocAsync(&p, (size_t)(count > 0 ? count : 1) * sizeof(T), stream()) != cudaSuccess) return nullptr;
    return static_cast<T*>(p);
}
inline void release(void* p) {
    if (p) cudaFreeAsync(p, stream());
}

inline unsigned blocks_for(int64_t work, int threads, int64_t cap = 1 << 20) {
    int64_t b = (work + threads - 1) / threads;
    if (b < 1) b = 1;
    return (unsigned)(b < cap ? b : cap);
}

// floor(n / d) for 0 <= n < 2^31 with a multiply-high and a shift instead of a division (the round-up method of
// "Division by Invariant Integers using Multiplication"; checked exhaustively on the host for d < 5000 and
// spot-checked up to 2^31 - 1). Operand loaders split flat GEMM indices into image/pixel/tap coordinates with it.
struct FastDiv {
    uint32_t d = 1, mul = 1, shift = 0;
    FastDiv() = default;
    explicit FastDiv(int divisor) : d((uint32_t)divisor) {
        while ((1ull << shift) < d) shift++;
        mul = (uint32_t)(((1ull << 32) * ((1ull << shift) - d)) / d + 1);
    }
    __device__ __forceinline__ int div(int n) const { return (int)((__umulhi((uint32_t)n, mul) + (uint32_t)n) >> shift); }
};

// Op timing for profiling runs (qc_profile_enable): CUDA events around each C ABI op, summed per op name by
// qc_profile_report. Off by default, and then free.
bool profiling();
void profile_add(const char* name, cudaEvent_t start, cudaEvent_t stop);

struct ProfileScope {
    const char* name;
    cudaEvent_t start = nullptr, stop = nullptr;
    explicit ProfileScope(const char* n) : name(n) {
        if (profiling() && cudaEventCreate(&start) == cudaSuccess && cudaEventCreate(&stop) == cudaSuccess)
            cudaEventRecord(start, stream());
    }
    ~ProfileScope() {
        if (stop) {
            cudaEventRecord(stop, stream());
            profile_add(name, start, stop);
        }
    }
};

}  // namespace qc

#define QC_PROFILE(name) qc::ProfileScope qc_profile_scope_(name)

#define QC_CHECK(call)                                                     \
    do {                                                                   \
        cudaError_t qc_e_ = (call);                                        \
        if (qc_e_ != cudaSuccess) return qc::set_error(qc_e_);             \
    } while (0)

#endif
