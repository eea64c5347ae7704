// Internals shared by the .cu files: the library's stream, error plumbing, stream-ordered scratch memory, op
// profiling, and the few kernel building blocks every op family uses (grid-stride loop, block reduction, ceil_div),
// written once here.
#ifndef QAT4J_CUDA_COMMON_CUH
#define QAT4J_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#include "qat4j_cuda.h"
#include "../cpp/qat4j_kernels.h"  // enum qat4j_op, generated from the one op list qat4j_ops.inc

namespace qc {

cudaStream_t stream();
int sm_count();
int set_error(cudaError_t e);  // records e as this thread's last error and returns it

// The status of the last launch (launch-configuration errors; faults inside kernels surface later).
inline int launched() { return set_error(cudaGetLastError()); }

template <typename T>
inline T* ptr(int64_t address) { return reinterpret_cast<T*>(static_cast<uintptr_t>(address)); }

// Stream-ordered scratch: freed after the kernels queued before the free have run. nullptr when the pool is out of
// memory; callers then return qc::set_error(cudaErrorMemoryAllocation) (CudaBackend throws OutOfMemoryError naming the
// op). The failed allocation is also cleared from the runtime's last error, so that the next op's launch check
// (qc::launched) does not report it a second time.
template <typename T>
inline T* scratch(int64_t count) {
    void* p = nullptr;
    if (cudaMallocAsync(&p, (size_t)(count > 0 ? count : 1) * sizeof(T), stream()) != cudaSuccess) {
        cudaGetLastError();
        return nullptr;
    }
    return static_cast<T*>(p);
}
inline void release(void* p) {
    if (p) cudaFreeAsync(p, stream());
}

// ceil(a / b) for a >= 0, b > 0, in the type the caller names (ceil_div<int64_t>(work, threads)).
template <typename T>
__host__ __device__ __forceinline__ constexpr T ceil_div(T a, T b) {
    return (a + b - 1) / b;
}

inline unsigned blocks_for(int64_t work, int threads, int64_t cap = 1 << 20) {
    int64_t b = ceil_div<int64_t>(work, threads);
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

// ---------------------------------------------------------------- kernel building blocks

// The threads per block of the elementwise, reduction, quantizer and pooling kernels.
constexpr int kThreads = 256;

// Blocks for an elementwise kernel over len elements (grid-stride, so capped).
inline unsigned grid(int64_t len) { return blocks_for(len, kThreads, 8192); }

// Combiners for block_reduce: fold b into acc in place, as the hand-written reductions did (red[t] += red[t + o]).
struct Sum {
    template <typename T>
    __device__ __forceinline__ void operator()(T& acc, T b) const { acc += b; }
};

// Block-wide reduction of one value per thread over NT == blockDim.x threads, through red[NT] in shared memory: a
// fixed tree (f(red[t], red[t + o]) folds the second into the first, for o = NT/2, NT/4, ..., 1), so the result,
// floating-point rounding included, does not depend on scheduling. Every thread gets the result; red may be reused
// after the call.
template <int NT, typename T, class F>
__device__ __forceinline__ T block_reduce(T v, T* red, F f) {
    red[threadIdx.x] = v;
    __syncthreads();
    for (int o = NT / 2; o > 0; o >>= 1) {
        if ((int)threadIdx.x < o) f(red[threadIdx.x], red[threadIdx.x + o]);
        __syncthreads();
    }
    const T r = red[0];
    __syncthreads();
    return r;
}

// ---------------------------------------------------------------- profiling
// Op timing for profiling runs (qc_profile_enable): CUDA events around each C ABI op, summed per op of the op list
// (qat4j_ops.inc) and reported under its Backend method name by qc_profile_report. Off by default, and then free.
bool profiling();
void profile_add(int op, cudaEvent_t start, cudaEvent_t stop);

struct ProfileScope {
    int op;
    cudaEvent_t start = nullptr, stop = nullptr;
    explicit ProfileScope(int o) : op(o) {
        if (!profiling()) return;
        if (cudaEventCreate(&start) == cudaSuccess && cudaEventCreate(&stop) == cudaSuccess) {
            cudaEventRecord(start, stream());
            return;
        }
        // No events (out of resources): this op goes untimed, and the failure must not surface at the next launch.
        if (start) cudaEventDestroy(start);
        start = stop = nullptr;
        cudaGetLastError();
    }
    ~ProfileScope() {
        if (stop) {
            cudaEventRecord(stop, stream());
            profile_add(op, start, stop);
        }
    }
};

}  // namespace qc

// Times the enclosing C ABI entry as op `op`: a qat4j_op constant (QAT4J_OP_CONV2D), or, for an entry that serves
// several ops (the clamp behind relu and relu6), the op id the caller passed in.
#define QC_PROFILE(op) qc::ProfileScope qc_profile_scope_(op)

// for (int64_t i = ...) over [0, len) with every thread of the grid, each stepping by the grid's size.
#define QC_GRID_STRIDE(i, len) \
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (len); i += (int64_t)gridDim.x * blockDim.x)

#define QC_CHECK(call)                                                     \
    do {                                                                   \
        cudaError_t qc_e_ = (call);                                        \
        if (qc_e_ != cudaSuccess) return qc::set_error(qc_e_);             \
    } while (0)

#endif
