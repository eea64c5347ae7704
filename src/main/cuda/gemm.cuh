// The tiled GEMM core of the CUDA backend, shared by conv.cu (float convolutions), linear.cu (linear layers) and
// int_ops.cu (int8 convolution and GEMM): one GEMM kernel whose operand loaders gather straight from the NCHW tensors
// (implicit im2col: no column buffer is ever written), the split-K reduction, and the convolution geometry the
// loaders share.
//
//   conv forward        C[pixel, oc]       = sum over (ic,ky,kx) of x-patch * w        (per group)
//   conv backward-data  C[in pixel, ic]    = sum over (oc,ky,kx) of dy * w
//   conv backward-weight C[(ic,ky,kx), oc] = sum over (image,pixel) of x-patch * dy    (split over K, see below)
//
// Float GEMMs accumulate in float with FMA (tolerances in CudaConformanceTest); integer GEMMs accumulate in int32
// and are exact, like the cpu backend's VNNI kernels. When the grid would leave SMs idle (small outputs, long K:
// the weight gradient) K is split across blocks; the partial sums land in a scratch buffer and one more kernel adds
// them in a fixed order, so results do not depend on scheduling (no float atomics).
//
// Everything here is in an anonymous namespace, as it was when it all lived in one gemm.cu: each .cu file gets its
// own copy of the templates it instantiates. Files including this header are built without --fmad=false.
#ifndef QAT4J_GEMM_CUH
#define QAT4J_GEMM_CUH

#include "cuda_common.cuh"

namespace {

using qc::FastDiv;

struct Conv {
    int n, c, h, w, co, kh, kw, sh, sw, ph, pw, groups, oh, ow, cig, cog;
    FastDiv by_pixels, by_ow, by_taps, by_kw, by_hw, by_w, by_sh, by_sw;
    __host__ __device__ int pixels() const { return oh * ow; }
    __host__ __device__ int taps() const { return kh * kw; }
};

inline Conv make_conv(int n, int c, int h, int w, int co, int kh, int kw, int sh, int sw, int ph, int pw, int groups) {
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
    QC_GRID_STRIDE(i, total) {
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
    const int m_tiles = qc::ceil_div(M, BM), n_tiles = qc::ceil_div(N, BN);
    const int64_t blocks = (int64_t)m_tiles * n_tiles * groups;
    const int target = 2 * (qc::sm_count() > 0 ? qc::sm_count() : 80);
    int splits = 1;
    if (blocks < target && K >= 512) {
        splits = (int)qc::ceil_div<int64_t>(target, blocks);
        const int max_splits = K / 256;  // at least 256 products per partial sum
        if (splits > max_splits) splits = max_splits;
        if (splits < 1) splits = 1;
    }
    int k_chunk = qc::ceil_div(K, splits);
    k_chunk = qc::ceil_div(k_chunk, BK) * BK;
    if (k_chunk < BK) k_chunk = BK;
    splits = K > 0 ? qc::ceil_div(K, k_chunk) : 1;
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

// ---------------------------------------------------------------- matrices (linear layers and the int8 GEMM)

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

#endif
