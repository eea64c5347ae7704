// Convolutions, linear layers and the integer GEMM of the CUDA backend, all through one tiled GEMM kernel whose
// operand loaders gather straight from the NCHW tensors (implicit im2col: no column buffer is ever written).
//
//   conv forward        C[pixel, oc]       = sum over (ic,ky,kx) of x-patch * w        (per group)
//   conv backward-data  C[in pixel, ic]    = sum over (oc,ky,kx) of dy * w
//   conv backward-weight C[(ic,ky,kx), oc] = sum over (image,pixel) of x-patch * dy    (split over K, see below)
//
// Float GEMMs accumulate in float with FMA (tolerances in CudaConformanceTest); integer GEMMs accumulate in int32
// and are exact, like the cpu backend's VNNI kernels. When the grid would leave SMs idle (small outputs, long K:
// the weight gradient) K is split across blocks; the partial sums land in a scratch buffer and one more kernel adds
// them in a fixed order, so results do not depend on scheduling (no float atomics).
#include "qat4j_cuda.h"
#include "cuda_common.cuh"
#include "../cpp/quant_common.h"

namespace {

using qc::FastDiv;

struct Conv {
    int n, c, h, w, co, kh, kw, sh, sw, ph, pw, groups, oh, ow, cig, cog;
    FastDiv by_pixels, by_ow, by_taps, by_kw, by_hw, by_w, by_sh, by_sw;
    __host__ __device__ int pixels() const { return oh * ow; }
    __host__ __device__ int taps() const { return kh * kw; }
};

Conv make_conv(int n, int c, int h, int w, int co, int kh, int kw, int sh, int sw, int ph, int pw, int groups) {
    Conv v{};
    v.n = n; v.c = c; v.h = h; v.w = w; v.co = co; v.kh = kh; v.kw = kw;
    v.sh = sh; v.sw = sw; v.ph = ph; v.pw = pw; v.groups = groups;
    v.oh = (h + 2 * ph - kh) / sh + 1;
    v.ow = (w + 2 * pw - kw) / sw + 1;
    v.cig = c / groups;
    v.cog = co / groups;
    v.by_pixels = FastDiv(v.oh * v.ow > 0 ? v.oh * v.ow : 1);
    v.by_ow = FastDiv(v.ow > 0 ? v.ow : 1);
    v.by_taps = FastDiv(kh * kw);
    v.by_kw = FastDiv(kw);
    v.by_hw = FastDiv(h * w > 0 ? h * w : 1);
    v.by_w = FastDiv(w > 0 ? w : 1);
    v.by_sh = FastDiv(sh);
    v.by_sw = FastDiv(sw);
    return v;
}

// ---------------------------------------------------------------- the GEMM kernel
// C[g][m][n] = sum_k A(g,m,k) * B(g,k,n) over this block's K range. An operand loader L maps a tile row r (m for A,
// n for B) to L::Row and a k to L::Col once, then L::at(row, col) reads one element: the costly index arithmetic
// (image, pixel, tap) is hoisted out of the K loop for rows and done once per load for columns.
//
// Fill order: KFAST = consecutive threads walk k (the operand's contiguous dimension is k), else they walk r.
// Either way a thread keeps the same r (r-fast) or the same k offset (k-fast) for the whole loop, which is what
// lets the row contexts live in registers.
template <typename Acc, int R, int BK, int NT, bool KFAST, class L>
struct TileLoader {
    static_assert((R * BK) % NT == 0 && NT % R == 0 && NT % BK == 0, "tile shape must divide the block");
    static constexpr int LOADS = R * BK / NT;
    static constexpr int ROWS = KFAST ? LOADS : 1;
    typename L::Row rows[ROWS];
    unsigned valid = 0;  // bit j: row of load j is inside the matrix

    __device__ void init(const L& l, int g, int r0, int r_limit) {
        const int tid = threadIdx.x;
#pragma unroll
        for (int j = 0; j < ROWS; j++) {
            const int r = KFAST ? (tid + j * NT) / BK : tid % R;
            const int gr = r0 + r;
            if (gr < r_limit) valid |= 1u << j;
            rows[j] = l.row(g, gr < r_limit ? gr : r0);
        }
    }

    __device__ void load(const L& l, int g, int k0, int k_end, Acc (*S)[R + 1]) const {
        const int tid = threadIdx.x;
        if (KFAST) {
            const int kk = tid % BK;
            const bool k_ok = k0 + kk < k_end;
            const typename L::Col col = l.col(g, k_ok ? k0 + kk : k0);
#pragma unroll
            for (int j = 0; j < LOADS; j++) {
                const int r = (tid + j * NT) / BK;
                S[kk][r] = (k_ok && ((valid >> j) & 1u)) ? l.at(rows[j], col) : Acc(0);
            }
        } else {
            const int r = tid % R;
            const bool r_ok = valid & 1u;
#pragma unroll
            for (int j = 0; j < LOADS; j++) {
                const int kk = tid / R + j * (NT / R);
                const int gk = k0 + kk;
                S[kk][r] = (r_ok && gk < k_end) ? l.at(rows[0], l.col(g, gk)) : Acc(0);
            }
        }
    }
};

// Thread (ty, tx) owns rows ty + i*(BM/TM) and columns tx + j*(BN/TN): consecutive threads own consecutive rows,
// so stores along m coalesce.
template <typename Acc, int BM, int BN, int BK, int TM, int TN, bool A_KFAST, bool B_KFAST, class LA, class LB,
          class ST>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
gemm_kernel(int M, int N, int K, int k_chunk, int n_tiles, LA la, LB lb, ST st) {
    constexpr int NT = (BM / TM) * (BN / TN);
    constexpr int RS = BM / TM, CS = BN / TN;
    __shared__ Acc As[BK][BM + 1];
    __shared__ Acc Bs[BK][BN + 1];
    const int tid = threadIdx.x;
    const int g = blockIdx.y / n_tiles, nt = blockIdx.y % n_tiles;
    const int m0 = blockIdx.x * BM, n0 = nt * BN;
    const int k_begin = blockIdx.z * k_chunk;
    const int k_end = min(K, k_begin + k_chunk);
    const int ty = tid % RS, tx = tid / RS;
    TileLoader<Acc, BM, BK, NT, A_KFAST, LA> a_loader;
    TileLoader<Acc, BN, BK, NT, B_KFAST, LB> b_loader;
    a_loader.init(la, g, m0, M);
    b_loader.init(lb, g, n0, N);
    Acc acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = Acc(0);

    for (int k0 = k_begin; k0 < k_end; k0 += BK) {
        a_loader.load(la, g, k0, k_end, As);
        b_loader.load(lb, g, k0, k_end, Bs);
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; kk++) {
            Acc a[TM], b[TN];
#pragma unroll
            for (int i = 0; i < TM; i++) a[i] = As[kk][ty + i * RS];
#pragma unroll
            for (int j = 0; j < TN; j++) b[j] = Bs[kk][tx + j * CS];
#pragma unroll
            for (int i = 0; i < TM; i++)
#pragma unroll
                for (int j = 0; j < TN; j++) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < TM; i++) {
        const int gm = m0 + ty + i * RS;
        if (gm >= M) continue;
#pragma unroll
        for (int j = 0; j < TN; j++) {
            const int gn = n0 + tx + j * CS;
            if (gn < N) st(blockIdx.z, g, gm, gn, acc[i][j]);
        }
    }
}

// Split-K: partial sums part[z][g][m][n], then summed in z order by reduce_kernel into the real store.
template <typename Acc>
struct PartialStore {
    Acc* part;
    int groups, M, N;
    __device__ void operator()(int z, int g, int m, int n, Acc v) const {
        part[(((int64_t)z * groups + g) * M + m) * N + n] = v;
    }
};

template <typename Acc, class ST>
__global__ void reduce_kernel(const Acc* part, int splits, int groups, int M, int N, ST st) {
    const int64_t total = (int64_t)groups * M * N;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        Acc s = Acc(0);
        for (int z = 0; z < splits; z++) s += part[z * total + i];
        const int n = (int)(i % N);
        const int m = (int)((i / N) % M);
        const int g = (int)(i / ((int64_t)N * M));
        st(0, g, m, n, s);
    }
}

template <typename Acc, int BM, int BN, int TM, int TN, bool AK, bool BK_FAST, class LA, class LB, class ST>
int run_gemm_cfg(int M, int N, int K, int groups, const LA& la, const LB& lb, const ST& st) {
    constexpr int BK = 16;
    constexpr int NT = (BM / TM) * (BN / TN);
    if (M <= 0 || N <= 0 || groups <= 0) return 0;
    const int m_tiles = (M + BM - 1) / BM, n_tiles = (N + BN - 1) / BN;
    const int64_t blocks = (int64_t)m_tiles * n_tiles * groups;
    const int target = 2 * (qc::sm_count() > 0 ? qc::sm_count() : 80);
    int splits = 1;
    if (blocks < target && K >= 512) {
        splits = (int)((target + blocks - 1) / blocks);
        const int max_splits = K / 256;  // at least 256 products per partial sum
        if (splits > max_splits) splits = max_splits;
        if (splits < 1) splits = 1;
    }
    int k_chunk = (K + splits - 1) / splits;
    k_chunk = (k_chunk + BK - 1) / BK * BK;
    if (k_chunk < BK) k_chunk = BK;
    splits = K > 0 ? (K + k_chunk - 1) / k_chunk : 1;
    dim3 grid(m_tiles, n_tiles * groups, splits);
    if (splits == 1) {
        gemm_kernel<Acc, BM, BN, BK, TM, TN, AK, BK_FAST><<<grid, NT, 0, qc::stream()>>>(M, N, K, k_chunk, n_tiles, la,
                                                                                       lb, st);
        return qc::launched();
    }
    Acc* part = qc::scratch<Acc>((int64_t)splits * groups * M * N);
    if (!part) return qc::set_error(cudaErrorMemoryAllocation);
    PartialStore<Acc> ps{part, groups, M, N};
    gemm_kernel<Acc, BM, BN, BK, TM, TN, AK, BK_FAST><<<grid, NT, 0, qc::stream()>>>(M, N, K, k_chunk, n_tiles, la, lb,
                                                                                   ps);
    int e = qc::launched();
    if (e == 0) {
        const int64_t total = (int64_t)groups * M * N;
        reduce_kernel<Acc><<<qc::blocks_for(total, 256, 4096), 256, 0, qc::stream()>>>(part, splits, groups, M, N, st);
        e = qc::launched();
    }
    qc::release(part);
    return e;
}

// Column tile sized to N (the output channels per group for convs): narrow layers waste no threads.
template <typename Acc, bool AK, bool BK_FAST, class LA, class LB, class ST>
int run_gemm(int M, int N, int K, int groups, const LA& la, const LB& lb, const ST& st) {
    if (N <= 16) return run_gemm_cfg<Acc, 128, 16, 4, 2, AK, BK_FAST>(M, N, K, groups, la, lb, st);
    if (N <= 32) return run_gemm_cfg<Acc, 128, 32, 4, 4, AK, BK_FAST>(M, N, K, groups, la, lb, st);
    return run_gemm_cfg<Acc, 128, 64, 4, 8, AK, BK_FAST>(M, N, K, groups, la, lb, st);
}

// ---------------------------------------------------------------- operand loaders
// Each has Row (tile row r: m for A, n for B), Col (a k) and at(row, col). Names say which tensor and which index
// is the row.

struct PixelCtx {  // an output pixel: where its receptive field starts
    int64_t base;  // first element of (image, first channel of the group) in x
    int iy0, ix0;
};

struct TapCtx {  // a k = (input channel in group, ky, kx)
    int off;      // channel offset in x
    int ky, kx;
};

__device__ __forceinline__ PixelCtx pixel_ctx(const Conv& cv, int g, int m) {
    const int b = cv.by_pixels.div(m), p = m - b * cv.pixels();
    const int oy = cv.by_ow.div(p), ox = p - oy * cv.ow;
    return PixelCtx{((int64_t)b * cv.c + (int64_t)g * cv.cig) * cv.h * cv.w, oy * cv.sh - cv.ph, ox * cv.sw - cv.pw};
}

__device__ __forceinline__ TapCtx tap_ctx(const Conv& cv, int k) {
    const int ic = cv.by_taps.div(k), t = k - ic * cv.taps();
    const int ky = cv.by_kw.div(t), kx = t - ky * cv.kw;
    return TapCtx{ic * cv.h * cv.w, ky, kx};
}

template <typename T, typename Acc>
__device__ __forceinline__ Acc patch_at(const T* x, const Conv& cv, const PixelCtx& p, const TapCtx& t) {
    const int iy = p.iy0 + t.ky, ix = p.ix0 + t.kx;
    if (iy < 0 || iy >= cv.h || ix < 0 || ix >= cv.w) return Acc(0);
    return (Acc)x[p.base + t.off + (int64_t)iy * cv.w + ix];
}

// Forward A: row = output pixel (image, oy, ox), k = (ic, ky, kx): the implicit im2col.
template <typename T, typename Acc>
struct PatchByPixel {
    const T* x;
    Conv cv;
    using Row = PixelCtx;
    using Col = TapCtx;
    __device__ Row row(int g, int m) const { return pixel_ctx(cv, g, m); }
    __device__ Col col(int, int k) const { return tap_ctx(cv, k); }
    __device__ Acc at(const Row& r, const Col& c) const { return patch_at<T, Acc>(x, cv, r, c); }
};

// Backward-weight A: row = (ic, ky, kx), k = output pixel: the same patch, roles swapped.
struct PatchByTap {
    const float* x;
    Conv cv;
    using Row = TapCtx;
    using Col = PixelCtx;
    __device__ Row row(int, int m) const { return tap_ctx(cv, m); }
    __device__ Col col(int g, int k) const { return pixel_ctx(cv, g, k); }
    __device__ float at(const Row& r, const Col& c) const { return patch_at<float, float>(x, cv, c, r); }
};

// Forward B: w[g*cog + n][k], k = (ic, ky, kx) contiguous.
template <typename T, typename Acc>
struct WeightByOut {
    const T* wt;
    Conv cv;
    using Row = int64_t;
    using Col = int;
    __device__ Row row(int g, int n) const { return ((int64_t)g * cv.cog + n) * ((int64_t)cv.cig * cv.taps()); }
    __device__ Col col(int, int k) const { return k; }
    __device__ Acc at(Row r, Col c) const { return (Acc)wt[r + c]; }
};

// Backward-data A: row = input pixel (image, iy, ix), k = (oc, ky, kx); dy where an output pixel reads (iy, ix)
// through tap (ky, kx), else 0.
struct DyByInputPixel {
    const float* dy;
    Conv cv;
    struct Row {
        int64_t base;  // (image, first channel of the group) in dy
        int ty0, tx0;  // iy + ph, ix + pw
    };
    using Col = TapCtx;  // off = oc * oh * ow
    __device__ Row row(int g, int m) const {
        const int b = cv.by_hw.div(m), r = m - b * cv.h * cv.w;
        const int iy = cv.by_w.div(r), ix = r - iy * cv.w;
        return Row{((int64_t)b * cv.co + (int64_t)g * cv.cog) * cv.oh * cv.ow, iy + cv.ph, ix + cv.pw};
    }
    __device__ Col col(int, int k) const {
        const int oc = cv.by_taps.div(k), t = k - oc * cv.taps();
        const int ky = cv.by_kw.div(t), kx = t - ky * cv.kw;
        return TapCtx{oc * cv.oh * cv.ow, ky, kx};
    }
    __device__ float at(const Row& r, const Col& c) const {
        const int ty = r.ty0 - c.ky, tx = r.tx0 - c.kx;
        if (ty < 0 || tx < 0) return 0.0f;
        const int oy = cv.by_sh.div(ty), ox = cv.by_sw.div(tx);
        if (oy * cv.sh != ty || ox * cv.sw != tx || oy >= cv.oh || ox >= cv.ow) return 0.0f;
        return dy[r.base + c.off + (int64_t)oy * cv.ow + ox];
    }
};

// Backward-data B: w[g*cog + oc][n][ky][kx] for k = (oc, ky, kx), row n = input channel in the group.
struct WeightByIn {
    const float* wt;
    Conv cv;
    using Row = int;       // n * taps
    using Col = int64_t;   // (g*cog + oc) * cig * taps + tap
    __device__ Row row(int, int n) const { return n * cv.taps(); }
    __device__ Col col(int g, int k) const {
        const int oc = cv.by_taps.div(k), t = k - oc * cv.taps();
        return ((int64_t)g * cv.cog + oc) * cv.cig * cv.taps() + t;
    }
    __device__ float at(Row r, Col c) const { return wt[c + r]; }
};

// Backward-weight B: dy[image][g*cog + n][pixel], k = (image, pixel).
struct DyByPixel {
    const float* dy;
    Conv cv;
    using Row = int64_t;  // n * P
    using Col = int64_t;  // (image * co + g*cog) * P + pixel
    __device__ Row row(int, int n) const { return (int64_t)n * cv.pixels(); }
    __device__ Col col(int g, int k) const {
        const int b = cv.by_pixels.div(k), p = k - b * cv.pixels();
        return ((int64_t)b * cv.co + (int64_t)g * cv.cog) * cv.pixels() + p;
    }
    __device__ float at(Row r, Col c) const { return dy[r + c]; }
};

struct ConvOutStore {
    float* y;
    const float* bias;
    Conv cv;
    __device__ void operator()(int, int g, int m, int n, float v) const {
        const int P = cv.pixels();
        const int b = cv.by_pixels.div(m), p = m - b * P;
        const int oc = g * cv.cog + n;
        y[((int64_t)b * cv.co + oc) * P + p] = bias ? v + bias[oc] : v;
    }
};

struct ConvAccStore {
    int32_t* acc;
    Conv cv;
    __device__ void operator()(int, int g, int m, int n, int v) const {
        const int P = cv.pixels();
        const int b = cv.by_pixels.div(m), p = m - b * P;
        acc[((int64_t)b * cv.co + g * cv.cog + n) * P + p] = v;
    }
};

struct InputGradStore {
    float* dx;
    Conv cv;
    __device__ void operator()(int, int g, int m, int n, float v) const {
        const int HW = cv.h * cv.w;
        const int b = cv.by_hw.div(m), r = m - b * HW;
        dx[((int64_t)b * cv.c + g * cv.cig + n) * HW + r] = v;
    }
};

struct WeightGradStore {
    float* dw;
    Conv cv;
    __device__ void operator()(int, int g, int m, int n, float v) const {
        const int64_t K = (int64_t)cv.cig * cv.taps();
        dw[((int64_t)g * cv.cog + n) * K + m] = v;
    }
};

// ---------------------------------------------------------------- int8 convolution with dp4a
// The integer conv multiplies byte codes four at a time: each shared-memory
// word packs four consecutive k of one row, and dp4a adds their four products into an int32 accumulator, exactly.
// Activations are uint8 (dp4a.u32.s32) or int8 codes (mPACT, dp4a.s32.s32); weights are int8. K is padded with
// zero codes to a multiple of 4.
template <bool X_SIGNED>
__device__ __forceinline__ int dp4a(uint32_t a, uint32_t b, int c) {
    int d;
    if (X_SIGNED) asm("dp4a.s32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    else asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

template <bool X_SIGNED, int BN, int TN, class ST>
__global__ void __launch_bounds__(256) conv_s8_dp4a_kernel(const uint8_t* x, const int8_t* wt, Conv cv, ST st) {
    constexpr int BM = 128, TM = 4, NT = 256, KW = 8;  // KW packed words = 32 k per tile
    constexpr int RS = BM / TM, CS = BN / TN;
    static_assert(RS * CS == NT, "256 threads");
    __shared__ uint32_t Aw[KW][BM + 1];
    __shared__ uint32_t Bw[KW][BN + 1];
    const int tid = threadIdx.x;
    const int M = cv.n * cv.pixels(), N = cv.cog, K = cv.cig * cv.taps();
    const int n_tiles = (N + BN - 1) / BN;
    const int g = blockIdx.y / n_tiles, nt = blockIdx.y % n_tiles;
    const int m0 = blockIdx.x * BM, n0 = nt * BN;
    const int ty = tid % RS, tx = tid / RS;
    // A: this thread always fills row tid % BM; its pixel context is computed once.
    const int ar = tid % BM;
    const bool a_ok = m0 + ar < M;
    const PixelCtx px = pixel_ctx(cv, g, a_ok ? m0 + ar : m0);
    const int64_t w_base = (int64_t)g * cv.cog * K;
    int acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = 0;

    for (int k0 = 0; k0 < K; k0 += 4 * KW) {
#pragma unroll
        for (int j = 0; j < KW * BM / NT; j++) {
            const int word = tid / BM + j * (NT / BM);
            uint32_t packed = 0;
#pragma unroll
            for (int q = 0; q < 4; q++) {
                const int k = k0 + 4 * word + q;
                uint32_t v = 0;
                if (a_ok && k < K) v = (uint32_t)(uint8_t)patch_at<uint8_t, int>(x, cv, px, tap_ctx(cv, k));
                packed |= v << (8 * q);
            }
            Aw[word][ar] = packed;
        }
        for (int idx = tid; idx < KW * BN; idx += NT) {
            const int n = idx / KW, word = idx % KW;
            uint32_t packed = 0;
            if (n0 + n < N) {
                const int8_t* row = wt + w_base + (int64_t)(n0 + n) * K;
#pragma unroll
                for (int q = 0; q < 4; q++) {
                    const int k = k0 + 4 * word + q;
                    if (k < K) packed |= (uint32_t)(uint8_t)row[k] << (8 * q);
                }
            }
            Bw[word][n] = packed;
        }
        __syncthreads();
#pragma unroll
        for (int word = 0; word < KW; word++) {
            uint32_t a[TM], b[TN];
#pragma unroll
            for (int i = 0; i < TM; i++) a[i] = Aw[word][ty + i * RS];
#pragma unroll
            for (int j = 0; j < TN; j++) b[j] = Bw[word][tx + j * CS];
#pragma unroll
            for (int i = 0; i < TM; i++)
#pragma unroll
                for (int j = 0; j < TN; j++) acc[i][j] = dp4a<X_SIGNED>(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < TM; i++) {
        const int gm = m0 + ty + i * RS;
        if (gm >= M) continue;
#pragma unroll
        for (int j = 0; j < TN; j++) {
            const int gn = n0 + tx + j * CS;
            if (gn < N) st(0, g, gm, gn, acc[i][j]);
        }
    }
}

template <bool X_SIGNED, class ST>
int run_conv_s8(const uint8_t* x, const int8_t* wt, const Conv& cv, const ST& st) {
    const int M = cv.n * cv.pixels(), N = cv.cog;
    if (M <= 0 || N <= 0) return 0;
    const int m_tiles = (M + 127) / 128;
    auto launch = [&](auto kernel, int bn) {
        const dim3 grid(m_tiles, ((N + bn - 1) / bn) * cv.groups);
        kernel<<<grid, 256, 0, qc::stream()>>>(x, wt, cv, st);
        return qc::launched();
    };
    if (N <= 16) return launch(conv_s8_dp4a_kernel<X_SIGNED, 16, 2, ST>, 16);
    if (N <= 32) return launch(conv_s8_dp4a_kernel<X_SIGNED, 32, 4, ST>, 32);
    return launch(conv_s8_dp4a_kernel<X_SIGNED, 64, 8, ST>, 64);
}

// ---------------------------------------------------------------- depthwise (one input channel per group)
// A GEMM with one column per group would waste the tile; these direct kernels walk the taps instead.

__global__ void dw_fwd_kernel(const float* x, const float* wt, const float* bias, float* y, Conv cv) {
    const int64_t total = (int64_t)cv.n * cv.co * cv.oh * cv.ow;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        const int ox = (int)(i % cv.ow), oy = (int)((i / cv.ow) % cv.oh);
        const int ch = (int)((i / ((int64_t)cv.ow * cv.oh)) % cv.co);
        const int64_t b = i / ((int64_t)cv.ow * cv.oh * cv.co);
        const float* plane = x + (b * cv.c + ch) * (int64_t)cv.h * cv.w;  // cig = cog = 1: channel ch reads plane ch
        const float* k = wt + (int64_t)ch * cv.taps();
        float s = 0.0f;
        for (int ky = 0; ky < cv.kh; ky++) {
            const int iy = oy * cv.sh - cv.ph + ky;
            if (iy < 0 || iy >= cv.h) continue;
            for (int kx = 0; kx < cv.kw; kx++) {
                const int ix = ox * cv.sw - cv.pw + kx;
                if (ix >= 0 && ix < cv.w) s += plane[(int64_t)iy * cv.w + ix] * k[ky * cv.kw + kx];
            }
        }
        y[i] = bias ? s + bias[ch] : s;
    }
}

__global__ void dw_bwd_data_kernel(const float* dy, const float* wt, float* dx, Conv cv) {
    const int64_t total = (int64_t)cv.n * cv.c * cv.h * cv.w;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        const int ix = (int)(i % cv.w), iy = (int)((i / cv.w) % cv.h);
        const int ch = (int)((i / ((int64_t)cv.w * cv.h)) % cv.c);
        const int64_t b = i / ((int64_t)cv.w * cv.h * cv.c);
        const float* g = dy + (b * cv.co + ch) * (int64_t)cv.oh * cv.ow;
        const float* k = wt + (int64_t)ch * cv.taps();
        float s = 0.0f;
        for (int ky = 0; ky < cv.kh; ky++) {
            const int ty = iy + cv.ph - ky;
            if (ty < 0 || ty % cv.sh) continue;
            const int oy = ty / cv.sh;
            if (oy >= cv.oh) continue;
            for (int kx = 0; kx < cv.kw; kx++) {
                const int tx = ix + cv.pw - kx;
                if (tx < 0 || tx % cv.sw) continue;
                const int ox = tx / cv.sw;
                if (ox < cv.ow) s += g[(int64_t)oy * cv.ow + ox] * k[ky * cv.kw + kx];
            }
        }
        dx[i] = s;
    }
}

// One block per (channel, tap): a fixed-order block reduction over images and pixels.
__global__ void dw_bwd_weight_kernel(const float* dy, const float* x, float* dw, Conv cv) {
    const int ch = blockIdx.x / cv.taps(), t = blockIdx.x % cv.taps();
    const int ky = t / cv.kw, kx = t - ky * cv.kw;
    const int64_t P = cv.pixels(), total = (int64_t)cv.n * P;
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < total; i += blockDim.x) {
        const int64_t b = i / P;
        const int p = (int)(i - b * P);
        const int oy = p / cv.ow, ox = p - oy * cv.ow;
        const int iy = oy * cv.sh - cv.ph + ky, ix = ox * cv.sw - cv.pw + kx;
        if (iy < 0 || iy >= cv.h || ix < 0 || ix >= cv.w) continue;
        s += dy[(b * cv.co + ch) * P + p] * x[((b * cv.c + ch) * cv.h + iy) * cv.w + ix];
    }
    __shared__ float red[256];
    red[threadIdx.x] = s;
    __syncthreads();
    for (int o = blockDim.x / 2; o > 0; o >>= 1) {
        if ((int)threadIdx.x < o) red[threadIdx.x] += red[threadIdx.x + o];
        __syncthreads();
    }
    if (threadIdx.x == 0) dw[blockIdx.x] = red[0];
}

bool is_depthwise(const Conv& cv) { return cv.cig == 1 && cv.cog == 1; }

// ---------------------------------------------------------------- linear layers and the int8 GEMM

// Element (r, k) of a matrix at r * rs + k * ks: covers row-major and transposed operands of the linear layers and
// the int8 GEMM.
template <typename T, typename Acc>
struct Strided {
    const T* a;
    int64_t rs, ks;
    using Row = int64_t;
    using Col = int64_t;
    __device__ Row row(int, int r) const { return r * rs; }
    __device__ Col col(int, int k) const { return k * ks; }
    __device__ Acc at(Row r, Col c) const { return (Acc)a[r + c]; }
};

template <typename Acc, typename T>
struct MatrixStore {
    T* c;
    int64_t ld;
    const float* bias;
    __device__ void operator()(int, int, int m, int n, Acc v) const {
        c[(int64_t)m * ld + n] = bias ? (T)(v + bias[n]) : (T)v;
    }
};

}  // namespace

// ---------------------------------------------------------------- C ABI

extern "C" int qc_conv2d_f32(int64_t x, int64_t wt, int64_t bias, int64_t y, int n, int c, int h, int w, int co,
                             int kh, int kw, int sh, int sw, int ph, int pw, int groups) {
    QC_PROFILE("conv2d_f32");
    const Conv cv = make_conv(n, c, h, w, co, kh, kw, sh, sw, ph, pw, groups);
    if (is_depthwise(cv)) {
        const int64_t total = (int64_t)n * co * cv.oh * cv.ow;
        dw_fwd_kernel<<<qc::blocks_for(total, 256), 256, 0, qc::stream()>>>(
            qc::ptr<float>(x), qc::ptr<float>(wt), qc::ptr<float>(bias), qc::ptr<float>(y), cv);
        return qc::launched();
    }
    return run_gemm<float, false, true>(n * cv.pixels(), cv.cog, cv.cig * cv.taps(), groups,
                                        PatchByPixel<float, float>{qc::ptr<float>(x), cv},
                                        WeightByOut<float, float>{qc::ptr<float>(wt), cv},
                                        ConvOutStore{qc::ptr<float>(y), qc::ptr<float>(bias), cv});
}

extern "C" int qc_conv2d_bwd_data_f32(int64_t dy, int64_t wt, int64_t dx, int n, int c, int h, int w, int co, int kh,
                                      int kw, int sh, int sw, int ph, int pw, int groups) {
    QC_PROFILE("conv2d_bwd_data_f32");
    const Conv cv = make_conv(n, c, h, w, co, kh, kw, sh, sw, ph, pw, groups);
    if (is_depthwise(cv)) {
        const int64_t total = (int64_t)n * c * h * w;
        dw_bwd_data_kernel<<<qc::blocks_for(total, 256), 256, 0, qc::stream()>>>(qc::ptr<float>(dy),
                                                                                 qc::ptr<float>(wt), qc::ptr<float>(dx), cv);
        return qc::launched();
    }
    return run_gemm<float, false, true>(n * h * w, cv.cig, cv.cog * cv.taps(), groups,
                                        DyByInputPixel{qc::ptr<float>(dy), cv}, WeightByIn{qc::ptr<float>(wt), cv},
                                        InputGradStore{qc::ptr<float>(dx), cv});
}

extern "C" int qc_conv2d_bwd_weight_f32(int64_t dy, int64_t x, int64_t dw, int n, int c, int h, int w, int co, int kh,
                                        int kw, int sh, int sw, int ph, int pw, int groups) {
    QC_PROFILE("conv2d_bwd_weight_f32");
    const Conv cv = make_conv(n, c, h, w, co, kh, kw, sh, sw, ph, pw, groups);
    if (is_depthwise(cv)) {
        dw_bwd_weight_kernel<<<co * cv.taps(), 256, 0, qc::stream()>>>(qc::ptr<float>(dy), qc::ptr<float>(x),
                                                                       qc::ptr<float>(dw), cv);
        return qc::launched();
    }
    return run_gemm<float, true, true>(cv.cig * cv.taps(), cv.cog, n * cv.pixels(), groups,
                                       PatchByTap{qc::ptr<float>(x), cv}, DyByPixel{qc::ptr<float>(dy), cv},
                                       WeightGradStore{qc::ptr<float>(dw), cv});
}

extern "C" int qc_linear_f32(int64_t x, int64_t wt, int64_t bias, int64_t y, int n, int in, int out) {
    QC_PROFILE("linear");
    // y[n][out] = x[n][in] . w[out][in] + b
    return run_gemm<float, true, true>(n, out, in, 1, Strided<float, float>{qc::ptr<float>(x), in, 1},
                                       Strided<float, float>{qc::ptr<float>(wt), in, 1},
                                       MatrixStore<float, float>{qc::ptr<float>(y), out, qc::ptr<float>(bias)});
}

extern "C" int qc_linear_bwd_data_f32(int64_t dy, int64_t wt, int64_t dx, int n, int in, int out) {
    QC_PROFILE("linear_bwd_data");
    // dx[n][in] = dy[n][out] . w[out][in]
    return run_gemm<float, true, false>(n, in, out, 1, Strided<float, float>{qc::ptr<float>(dy), out, 1},
                                        Strided<float, float>{qc::ptr<float>(wt), 1, in},
                                        MatrixStore<float, float>{qc::ptr<float>(dx), in, nullptr});
}

extern "C" int qc_linear_bwd_weight_f32(int64_t dy, int64_t x, int64_t dw, int n, int in, int out) {
    QC_PROFILE("linear_bwd_weight");
    // dw[out][in] = dy[n][out]^T . x[n][in]
    return run_gemm<float, false, false>(out, in, n, 1, Strided<float, float>{qc::ptr<float>(dy), 1, out},
                                         Strided<float, float>{qc::ptr<float>(x), 1, in},
                                         MatrixStore<float, float>{qc::ptr<float>(dw), in, nullptr});
}

extern "C" int qc_conv2d_s8_s32(int64_t x, int x_signed, int64_t wt, int64_t acc, int n, int c, int h, int w, int co,
                                int kh, int kw, int sh, int sw, int ph, int pw, int groups) {
    QC_PROFILE("conv2d_s8_s32");
    const Conv cv = make_conv(n, c, h, w, co, kh, kw, sh, sw, ph, pw, groups);
    const ConvAccStore st{qc::ptr<int32_t>(acc), cv};
    if (x_signed) return run_conv_s8<true>(qc::ptr<uint8_t>(x), qc::ptr<int8_t>(wt), cv, st);
    return run_conv_s8<false>(qc::ptr<uint8_t>(x), qc::ptr<int8_t>(wt), cv, st);
}

extern "C" int qc_gemm_s8_s32(int64_t m, int64_t n, int64_t k, int64_t a, int64_t b, int b_signed, int64_t c) {
    QC_PROFILE("gemm_s8_s32");
    const Strided<int8_t, int> la{qc::ptr<int8_t>(a), k, 1};
    const MatrixStore<int, int32_t> st{qc::ptr<int32_t>(c), n, nullptr};
    if (b_signed)
        return run_gemm<int, true, false>((int)m, (int)n, (int)k, 1, la, Strided<int8_t, int>{qc::ptr<int8_t>(b), 1, n},
                                          st);
    return run_gemm<int, true, false>((int)m, (int)n, (int)k, 1, la, Strided<uint8_t, int>{qc::ptr<uint8_t>(b), 1, n},
                                      st);
}
