// What the kernel files share and the JNI binding does not see: the one aligned allocator, the dispatch table of
// ISA variants, the derived conv geometry, and the GEMM building blocks the convolutions are made of.
// C++ only (the kernel files and bench/sanitize/kernel_driver.cpp include it; the JNI binding includes only
// qat4j_kernels.h).
#ifndef QAT4J_INTERNAL_H
#define QAT4J_INTERNAL_H

#include "qat4j_kernels.h"
#include "quant_common.h"

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <new>

// ---------------------------------------------------------------- ISA targets and small helpers
// The function attributes of each ISA level's variants (the dispatch table in cpu_features.cpp picks among them),
// and the inline-asm VNNI dot product both int8 kernels use (see gemm_s8.cpp for why it is asm).
#define QAT4J_AVX2 __attribute__((target("avx2,fma")))
#define QAT4J_AVX512F __attribute__((target("avx512f")))
#define QAT4J_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define QAT4J_DPBUSD(acc, b, a) __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(b), "v"(a))

namespace qat4j {
// ceil(a / b) for a >= 0, b > 0.
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
}  // namespace qat4j

// ---------------------------------------------------------------- memory
// The one allocator of the native kernels: 64-byte aligned (a cache line, and a full zmm load), size rounded up to
// a multiple of 64 as aligned_alloc requires. Returns NULL when the memory is not there; it never ends the process:
// the caller frees what it holds and returns QAT4J_ERR_NO_MEMORY. A zero size still returns a (64-byte) block, so
// NULL always means failure.
static inline void* qat4j_alloc64(size_t bytes) {
    if (bytes > (size_t)qat4j_work_buffer_limit()) return NULL;
    if (bytes > SIZE_MAX - 63) return NULL;
    const size_t n = (bytes + 63) & ~(size_t)63;
    return aligned_alloc(64, n ? n : 64);
}

static inline void qat4j_free64(void* p) { free(p); }

// count elements of elem_size bytes: NULL for a negative count or a product that does not fit in size_t.
static inline void* qat4j_alloc64_n(int64_t count, size_t elem_size) {
    if (count < 0) return NULL;
    size_t bytes;
    if (__builtin_mul_overflow((size_t)count, elem_size, &bytes)) return NULL;
    return qat4j_alloc64(bytes);
}

namespace qat4j {

// Runs an entry's body, turning a std::bad_alloc from a std::vector (small per-call tables: offsets, per-channel
// sums) into QAT4J_ERR_NO_MEMORY instead of letting it unwind into the JVM. Bodies allocate no vector inside an
// OpenMP region (an exception may not leave one).
template <class F>
inline int guard_alloc(F&& body) noexcept {
    try {
        return body();
    } catch (const std::bad_alloc&) {
        return QAT4J_ERR_NO_MEMORY;
    }
}

// ---------------------------------------------------------------- conv geometry
// qat4j_conv_geometry and the sizes derived from it, in 64 bits (one helper for every conv file).
struct ConvDims : qat4j_conv_geometry {
    explicit ConvDims(const qat4j_conv_geometry& g) : qat4j_conv_geometry(g) {}
    int oh() const { return (int)(((int64_t)h + 2 * (int64_t)ph - kh) / sh + 1); }
    int ow() const { return (int)(((int64_t)w + 2 * (int64_t)pw - kw) / sw + 1); }
    int cig() const { return c / groups; }
    int cog() const { return co / groups; }
    int64_t k() const { return (int64_t)cig() * kh * kw; }          // reduction length of one output
    int64_t p() const { return (int64_t)oh() * ow(); }              // pixels of one output plane
    int64_t x_len() const { return (int64_t)n * c * h * w; }
    int64_t w_len() const { return (int64_t)co * k(); }
    int64_t y_len() const { return (int64_t)n * co * p(); }
    bool depthwise() const { return cig() == 1 && cog() == 1; }
};

// ---------------------------------------------------------------- shared SIMD helpers (AVX-512F only)
// The high / low 8 floats of v as doubles (_mm512_extractf32x8_ps would need DQ).
QAT4J_AVX512F inline __m512d cvt_hi_pd(__m512 v) {
    return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

QAT4J_AVX512F inline __m512d cvt_lo_pd(__m512 v) {
    return _mm512_cvtps_pd(_mm512_castps512_ps256(v));
}

// The first r (< 16) lanes.
inline __mmask16 first_lanes(int64_t r) { return (__mmask16)((1u << r) - 1u); }

// Below this many elements the elementwise kernels run on one thread: a fork costs more than it saves.
constexpr int64_t kParMin = (int64_t)1 << 15;

// ---------------------------------------------------------------- ISA variants
// Each variant is defined in the file of its op; the table below (filled in cpu_features.cpp) is the only place
// that picks one for an ISA level. Suffix: _scalar portable, _avx2, _avx512 (AVX-512F), _vnni (AVX-512 VNNI).

// act_quant.cpp
void act_quant_scalar(const float* x, float* y, int64_t n, const ActQuantParams& p);
void act_quant_avx512(const float* x, float* y, int64_t n, const ActQuantParams& p);
double act_quant_bwd_scalar(const float* dy, const float* x, float* dx, int64_t len, const ActGradParams& p);
double act_quant_bwd_avx512(const float* dy, const float* x, float* dx, int64_t len, const ActGradParams& p);
// ops_f32.cpp
void clamp_bwd_scalar(const float* dy, const float* x, float* dx, int64_t len, float lo, float hi);
void clamp_bwd_avx512(const float* dy, const float* x, float* dx, int64_t len, float lo, float hi);
void bn_plane_sums_scalar(const float* p, int64_t hw, double k, double* s1, double* s2);
void bn_plane_sums_avx512(const float* p, int64_t hw, double k, double* s1, double* s2);
void bn_plane_affine_scalar(const float* p, float* q, int64_t hw, float scale, float shift);
void bn_plane_affine_avx512(const float* p, float* q, int64_t hw, float scale, float shift);
void bn_plane_bwd_sums_scalar(const float* g, const float* p, int64_t hw, float mu, double* s_dy, double* s_dyd);
void bn_plane_bwd_sums_avx512(const float* g, const float* p, int64_t hw, float mu, double* s_dy, double* s_dyd);
void bn_plane_bwd_dx_scalar(const float* g, const float* p, float* d, int64_t hw, float mu, float is, float a,
                            float bb, float cc);
void bn_plane_bwd_dx_avx512(const float* g, const float* p, float* d, int64_t hw, float mu, float is, float a,
                            float bb, float cc);
// sgemm_f32.cpp (see qat4j_sgemm_off_nn_f32 / qat4j_sgemm_off_nt_acc_f32 below for the operands)
void sgemm_off_nn_scalar(int64_t M, int64_t N, int64_t K, const float* Ap, const float* B, const int64_t* off,
                         float* C, int64_t ldc);
void sgemm_off_nn_avx512(int64_t M, int64_t N, int64_t K, const float* Ap, const float* B, const int64_t* off,
                         float* C, int64_t ldc);
void sgemm_off_nt_scalar(int64_t M, int64_t N, int64_t Q, const float* A, int64_t lda, const float* B,
                         const int64_t* off, float* C, int64_t ldc);
void sgemm_off_nt_avx512(int64_t M, int64_t N, int64_t Q, const float* A, int64_t lda, const float* B,
                         const int64_t* off, float* C, int64_t ldc);
// gemm_s8.cpp: M, N, K > 0; returns a status (packing buffers)
int gemm_s8_scalar(int64_t M, int64_t N, int64_t K, const int8_t* A, const uint8_t* B, bool b_signed, int32_t* C);
int gemm_s8_avx2(int64_t M, int64_t N, int64_t K, const int8_t* A, const uint8_t* B, bool b_signed, int32_t* C);
int gemm_s8_vnni(int64_t M, int64_t N, int64_t K, const int8_t* A, const uint8_t* B, bool b_signed, int32_t* C);
// conv_s8.cpp: the implicit-GEMM int8 conv (no depthwise special case). Returns QAT4J_OK, QAT4J_ERR_NO_MEMORY, or
// kConvNotApplicable, having done nothing, when its padded copy of an image would be far larger than the image (huge
// pads or strides). With y non-null it writes y = (float) acc * y_scale instead of acc (the grid conv's output).
constexpr int kConvNotApplicable = -1;
int conv_s8_implicit_vnni(const uint8_t* x, int x_signed, const int8_t* wt, int32_t* acc,
                          const qat4j_conv_geometry& g, float* y, float y_scale);

// The same conv in steps, for callers that schedule it themselves (the integer program, int_program.cpp). VNNI only.
// One vector of 16 consecutive "wide" outputs (see conv_s8.cpp): where its B dwords start in the packed image, the
// plane offset oy*ow + ox of its first lane, its valid lanes, and the first popcount(lanes) lanes they compress to.
struct S8ConvVec {
    int64_t b;
    int64_t out;
    __mmask16 lanes;
    __mmask16 stored;
};
// A conv prepared once: the geometry (n is not used), the packed layout's sizes, and the owned tables.
struct S8Conv : qat4j_conv_geometry {
    int oh, ow;
    int cig, cog, c4;
    int64_t phy, phx;  // phases kept: min(sh, kh) x min(sw, kw) (rows or columns of other phases are never read)
    int64_t hh, wh, phase_bytes, buf_bytes, G, mtiles, P, nvec;
    bool x_signed;
    int64_t* off;    // [G] offset of each reduction group in the packed image
    S8ConvVec* vec;  // [nvec] the output vectors of one plane
    int8_t* Ap;      // packed weights [group][tile][G][4 rows][4 bytes]
    int32_t* init;   // [group][tile][4 rows] accumulator start (the signed-input correction)
};
constexpr int kS8ConvTileRows = 4;  // output channels per register tile (S8Conv::mtiles = ceil(cog / 4))
// Packs the weights and builds the tables: QAT4J_OK, QAT4J_ERR_NO_MEMORY, or kConvNotApplicable (nothing held).
int s8conv_prepare(S8Conv* q, const qat4j_conv_geometry& g, bool x_signed, const int8_t* wt);
void s8conv_release(S8Conv* q);
// A packed-image buffer (q.buf_bytes) and its row scratch (w + 32 uint32) before the first s8conv_pack.
void s8conv_init_buffer(const S8Conv& q, uint8_t* buf, uint32_t* rowtmp);
// One image's group (its first channel plane) into buf.
void s8conv_pack(const S8Conv& q, const uint8_t* group_planes, uint8_t* buf, uint32_t* rowtmp);
// Tile t (output rows t*4.. of group gr) over vectors [v0, v1): acc (int32) or y = (float)acc * y_scale, each
// pointing at the tile's first output plane, planes q.P apart, a vector's lanes at plane offset vec[v].out.
void s8conv_tiles(const S8Conv& q, int gr, int64_t t, int64_t v0, int64_t v1, const uint8_t* buf, int32_t* acc,
                  float* y, float y_scale);
// grid_conv.cpp: codes[i] = rint(v[i] * inv) for i in [begin, end); false when one is off [lo, hi] (or NaN).
bool grid_to_codes_scalar(const float* v, int64_t begin, int64_t end, float inv, int lo, int hi, uint8_t* codes);
bool grid_to_codes_avx512(const float* v, int64_t begin, int64_t end, float inv, int lo, int hi, uint8_t* codes);
// int_ops.cpp: the whole residual epilogue (qat4j_requantize_residual_s32's operands).
void requant_residual_scalar(const int32_t* acc, const void* residual, int residual_kind, const int32_t* mult,
                             const int32_t* shift, const int64_t* bias, const int32_t* res_mult, int rounding,
                             int qmin, int qmax, void* out, int out_bytes, int64_t len, int channels, int64_t inner);
void requant_residual_avx512(const int32_t* acc, const void* residual, int residual_kind, const int32_t* mult,
                             const int32_t* shift, const int64_t* bias, const int32_t* res_mult, int rounding,
                             int qmin, int qmax, void* out, int out_bytes, int64_t len, int channels, int64_t inner);

// int_ops.cpp: one channel's epilogue over len values, acc, residual and out each pointing at the span's first value
// (the integer program's fused requantization); simd: the AVX-512F loop for HALF_EVEN (only where the CPU has it).
void requant_span(const int32_t* acc, const void* residual, int residual_kind, int64_t mult, int64_t bias,
                  int64_t res_mult, int shift, int rounding, int64_t qmin, int64_t qmax, void* out, int out_bytes,
                  int64_t len, bool simd);

}  // namespace qat4j

// The variants of one ISA level. Every entry is present at every level (the scalar variant where the level has no
// wider one), except conv_s8_implicit, which is NULL below AVX512VNNI (the conv then runs im2col + gemm_s8).
struct qat4j_kernel_table {
    int isa;
    void (*act_quant)(const float*, float*, int64_t, const qat4j::ActQuantParams&);
    double (*act_quant_bwd)(const float*, const float*, float*, int64_t, const qat4j::ActGradParams&);
    void (*clamp_bwd)(const float*, const float*, float*, int64_t, float, float);
    void (*bn_plane_sums)(const float*, int64_t, double, double*, double*);
    void (*bn_plane_affine)(const float*, float*, int64_t, float, float);
    void (*bn_plane_bwd_sums)(const float*, const float*, int64_t, float, double*, double*);
    void (*bn_plane_bwd_dx)(const float*, const float*, float*, int64_t, float, float, float, float, float);
    void (*sgemm_off_nn)(int64_t, int64_t, int64_t, const float*, const float*, const int64_t*, float*, int64_t);
    void (*sgemm_off_nt)(int64_t, int64_t, int64_t, const float*, int64_t, const float*, const int64_t*, float*,
                         int64_t);
    int (*gemm_s8)(int64_t, int64_t, int64_t, const int8_t*, const uint8_t*, bool, int32_t*);
    int (*conv_s8_implicit)(const uint8_t*, int, const int8_t*, int32_t*, const qat4j_conv_geometry&, float*, float);
    bool (*grid_to_codes)(const float*, int64_t, int64_t, float, int, int, uint8_t*);
    void (*requant_residual)(const int32_t*, const void*, int, const int32_t*, const int32_t*, const int64_t*,
                             const int32_t*, int, int, int, void*, int, int64_t, int, int64_t);
};

// The table of a level: QAT4J_ISA_AUTO means the active level, a level above the CPU's maximum is clamped to it
// (never run instructions the CPU lacks), one below 0 is scalar. The only place an ISA level is resolved.
const qat4j_kernel_table* qat4j_kernels_for(int isa);

// ---------------------------------------------------------------- float GEMMs of the convolutions (sgemm_f32.cpp)
// Single-threaded (callers thread over images). Row k of B starts at B + off[k].
// A is packed once by qat4j_sgemm_pack_a_f32 into qat4j_sgemm_packed_a_floats(M, K) floats.
int64_t qat4j_sgemm_packed_a_floats(int64_t M, int64_t K);
void qat4j_sgemm_pack_a_f32(int64_t M, int64_t K, const float* A, int64_t lda, float* Ap);
// C[M,N] (row stride ldc) = A[M,K] x B_k[n], reading B + off[k] + n for n < N only.
void qat4j_sgemm_off_nn_f32(const qat4j_kernel_table* kt, int64_t M, int64_t N, int64_t K, const float* Ap,
                            const float* B, const int64_t* off, float* C, int64_t ldc);
// C[M,N] += sum_{q<Q} A[m*lda + q] * B[off[n] + q].
void qat4j_sgemm_off_nt_acc_f32(const qat4j_kernel_table* kt, int64_t M, int64_t N, int64_t Q, const float* A,
                                int64_t lda, const float* B, const int64_t* off, float* C, int64_t ldc);
// The plain strided forms (offsets k * ldb), for the sanitizer driver's GEMM checks; return a status.
// C[M,N] = A[M,K] * B[K,N] (row-major, leading dimensions given).
int qat4j_sgemm_nn_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                       float* C, int64_t ldc, int isa);
// C[M,N] += A[M,K] * B[N,K]^T (row-major).
int qat4j_sgemm_nt_acc_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                           float* C, int64_t ldc, int isa);

#endif
