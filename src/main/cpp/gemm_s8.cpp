// Exact int8 GEMM: C[M,N] (int32, row-major, overwritten) = A[M,K] (int8 weights, row-major)
//                                                          x B[K,N] (uint8 or int8 activation codes, row-major).
// Integer arithmetic only, so every variant returns the same bits as a plain triple loop (callers guarantee
// K*255*128 < 2^31: no int32 overflow, not even in a partial sum).
//
// Variants side by side, named dtype/op/ISA:
//   qat4j::gemm_s8_scalar   plain loops (u8 or s8 B), the portable baseline.
//   qat4j::gemm_s8_avx2     B widened to int16 (zero- or sign-extended) and vpmaddwd over pairs along K. Not
//                           vpmaddubsw: it saturates its int16 pair sums (255*127*2 > 32767), so it is not exact.
//   qat4j::gemm_s8_vnni     vpdpbusd, u8 x s8 in groups of 4 along K. A signed B is made unsigned by adding 128
//                           (XOR 0x80) while packing; the accumulators then start at -128*rowsum(A[m,:]) (exact).
//
// Blocking of the two SIMD variants (shared driver below; ResNet im2col shapes have small M and large N):
//   - A (weights, a few tens of KiB) is packed once per call into panels of MR rows, [G][MR][4 bytes]: 4 int8
//     (VNNI, G = ceil(K/4)) or 2 int16 (AVX2, G = ceil(K/2)), zero-padded along K.
//   - N is cut into blocks of nc columns; a thread packs one block of B into its own buffer as panels of NR
//     columns, [G][NR][4 bytes] contiguous per panel (the K rows of the block are read as runs of nc bytes),
//     then runs the MR x NR register tile over every panel of the block and every row panel of A. nc is chosen so
//     that the block and its packed copy stay in L2. B is read from memory once, C is written once.
//   - Work items (blocks, and row chunks of A when N is too narrow to feed every thread) are claimed dynamically
//     one ahead, so the next block of B is prefetched into L2 while this one is being multiplied, and a thread
//     descheduled on a shared host does not hold the others back at the barrier.
// Packing buffers are allocated per call (qat4j_alloc64) and freed before returning; out of memory returns
// QAT4J_ERR_NO_MEMORY (a thread without its B buffer sets a shared flag and claims no work).
// The dispatch table (qat4j_kernels_for) picks the variant: AVX2 from QAT4J_ISA_AVX2, VNNI at QAT4J_ISA_AVX512VNNI.
#include "qat4j_internal.h"
#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

// The javacpp plugin compiles every kernel file into one translation unit (jniNativeKernels.cpp includes them):
// this file's helpers live in their own namespace, and its pragma and macros end with it.
// gcc 12's avx512fintrin.h passes an undefined vector as the unused merge source of _mm512_shuffle_i32x4 and then
// warns about it at every inlined call site (-Wmaybe-uninitialized, a false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace qat4j_gemm_s8 {
namespace {

using qat4j::ceil_div;
using qat4j::min64;

// Work below this many multiply-adds runs on the calling thread: an OpenMP fork costs more than it saves.
constexpr int64_t kParallelMinMacs = (int64_t)1 << 20;

inline int threads_for(int64_t M, int64_t N, int64_t K) {
    return M * N * K < kParallelMinMacs ? 1 : omp_get_max_threads();
}

// ------------------------------------------------------------------------------------------------ scalar

template <typename TB>
void gemm_scalar(int64_t M, int64_t N, int64_t K, const int8_t* A, const TB* B, int32_t* C) {
    constexpr int64_t NB = 512;  // a 2 KiB strip of a C row stays in L1 while the K rows of B stream past it
    const int64_t nb = ceil_div(N, NB);
    const int nth = threads_for(M, N, K);
#pragma omp parallel for collapse(2) schedule(static) num_threads(nth) if (nth > 1)
    for (int64_t m = 0; m < M; m++) {
        for (int64_t j = 0; j < nb; j++) {
            const int64_t n0 = j * NB, n1 = min64(n0 + NB, N);
            int32_t* c = C + m * N;
            for (int64_t n = n0; n < n1; n++) c[n] = 0;
            for (int64_t k = 0; k < K; k++) {
                const int32_t a = A[m * K + k];
                const TB* b = B + k * N;
                for (int64_t n = n0; n < n1; n++) c[n] += a * (int32_t)b[n];
            }
        }
    }
}


// ------------------------------------------------------------------------------------------------ shared driver

// One packed block of B: 256 KiB, so that it and the block it is packed from fill half of a 1 MiB L2
// (measured: 128 KiB to 512 KiB are within noise of each other; smaller blocks read B in shorter runs).
constexpr int64_t kBlockBytes = 256 * 1024;
constexpr int64_t kMaxBlockCols = 8192;
constexpr int64_t kItemsPerThread = 4;  // at least this many blocks per thread when N allows (balance)

// Isa provides: MR, NR, KG (k values per 4-byte group), pack_a, pack_b, tile (see the two variants below).
template <class Isa>
int gemm_blocked(int64_t M, int64_t N, int64_t K, const int8_t* A, const uint8_t* B, bool bsigned, int32_t* C) {
    constexpr int64_t MR = Isa::MR, NR = Isa::NR;
    const int64_t G = ceil_div(K, Isa::KG);
    const int64_t mtiles = ceil_div(M, MR);
    uint8_t* Ap = (uint8_t*)qat4j_alloc64_n(mtiles * G * MR * 4, 1);
    int32_t* init = (int32_t*)qat4j_alloc64_n(mtiles * MR, sizeof(int32_t));
    if (!Ap || !init) {
        qat4j_free64(init);
        qat4j_free64(Ap);
        return QAT4J_ERR_NO_MEMORY;
    }
    Isa::pack_a(M, K, A, bsigned, Ap, init);

    const int nth = threads_for(M, N, K);
    int64_t nc = kBlockBytes / (G * 4) / NR * NR;
    nc = min64(nc, kMaxBlockCols / NR * NR);
    nc = min64(nc, ceil_div(ceil_div(N, kItemsPerThread * nth), NR) * NR);
    if (nc < NR) nc = NR;
    const int64_t nblocks = ceil_div(N, nc);
    int64_t mchunks = 1;
    if (nblocks < 2 * nth) mchunks = min64(ceil_div(2 * nth, nblocks), mtiles);
    const int64_t mt_per = ceil_div(mtiles, mchunks);
    mchunks = ceil_div(mtiles, mt_per);
    const int64_t nitems = nblocks * mchunks;
    int64_t next_item = 0;

    int oom = 0;
#pragma omp parallel num_threads(nth) if (nth > 1) reduction(| : oom)
    {
        uint8_t* Bp = (uint8_t*)qat4j_alloc64_n(G * nc * 4, 1);
        int64_t cur = nitems;  // without its buffer a thread claims nothing (the others finish, the call fails)
        if (Bp) {
#pragma omp atomic capture
            cur = next_item++;
        } else {
            oom = 1;
        }
        while (cur < nitems) {
            int64_t nxt;
#pragma omp atomic capture
            nxt = next_item++;
            const int64_t blk = cur / mchunks, mc = cur % mchunks;
            const int64_t n0 = blk * nc, ncb = min64(nc, N - n0);
            Isa::pack_b(B + n0, N, K, ncb, bsigned, Bp);
            const int64_t npan = ceil_div(ncb, NR);
            const int64_t t0 = mc * mt_per, t1 = min64(t0 + mt_per, mtiles);
            // The next item's block of B, a share of its rows after each panel: in L2 by the time it is packed.
            const int64_t pn0 = nxt < nitems ? (nxt / mchunks) * nc : N;
            const int64_t pnc = min64(nc, N - pn0);
            for (int64_t p = 0; p < npan; p++) {
                if (pnc > 0) {
                    for (int64_t k = p * K / npan, k1 = (p + 1) * K / npan; k < k1; k++) {
                        const uint8_t* row = B + k * N + pn0;
                        for (int64_t c = 0; c < pnc; c += 64) _mm_prefetch((const char*)(row + c), _MM_HINT_T1);
                    }
                }
                const int64_t ncols = min64(NR, ncb - p * NR);
                for (int64_t t = t0; t < t1; t++) {
                    Isa::tile(min64(MR, M - t * MR), Ap + t * G * MR * 4, Bp + p * G * NR * 4, G, init + t * MR,
                              C + t * MR * N + n0 + p * NR, N, ncols);
                }
            }
            cur = nxt;
        }
        qat4j_free64(Bp);
    }
    qat4j_free64(init);
    qat4j_free64(Ap);
    return oom ? QAT4J_ERR_NO_MEMORY : QAT4J_OK;
}

// Row sums for the signed-B correction, and the generic A packing: Ap[tile][g][r][KG elements of EB bytes].
template <typename TA, int MR, int KG>
void pack_a_generic(int64_t M, int64_t K, const int8_t* A, bool bsigned, uint8_t* Ap, int32_t* init) {
    const int64_t G = ceil_div(K, KG), mtiles = ceil_div(M, MR);
    TA* out = (TA*)Ap;
    for (int64_t t = 0; t < mtiles; t++) {
        for (int r = 0; r < MR; r++) {
            const int64_t m = t * MR + r;
            int32_t sum = 0;
            for (int64_t g = 0; g < G; g++) {
                for (int j = 0; j < KG; j++) {
                    const int64_t k = g * KG + j;
                    const int8_t a = (m < M && k < K) ? A[m * K + k] : 0;
                    out[((t * G + g) * MR + r) * KG + j] = (TA)a;
                    sum += a;
                }
            }
            init[t * MR + r] = bsigned ? -128 * sum : 0;
        }
    }
}

// ------------------------------------------------------------------------------------------------ AVX2

// acc[r][v] += vpmaddwd(b16, a16 pair) over K/2 pairs; Ap: [G][MR][2] int16, Bp: [G][NR][2] int16.
// 4 x 16 tile: 8 ymm accumulators, 2 for B, 1 for the broadcast of A, products in temporaries (4 x 24 needs 17
// ymm registers and spills).
struct Avx2 {
    static constexpr int64_t MR = 4, NR = 16, KG = 2;
    static constexpr int NV = NR / 8;

    static void pack_a(int64_t M, int64_t K, const int8_t* A, bool bsigned, uint8_t* Ap, int32_t* init) {
        pack_a_generic<int16_t, MR, KG>(M, K, A, false, Ap, init);  // B is widened with its sign: no correction
        (void)bsigned;
    }

    template <bool SIGNED>
    QAT4J_AVX2 static void pack_b_t(const uint8_t* B, int64_t N, int64_t K, int64_t nc, uint8_t* Bp) {
        const int64_t G = ceil_div(K, 2);
        const int64_t nvec = ceil_div(nc, NR) * NV;  // 8-column vectors of the block's panels
        for (int64_t g = 0; g < G; g++) {
            const uint8_t* r0 = B + 2 * g * N;
            const uint8_t* r1 = 2 * g + 1 < K ? r0 + N : nullptr;  // past K: zeros (A is zero there too)
            for (int64_t c = 0; c < nc; c += 16) {
                __m128i x0, x1;
                if (c + 16 <= nc) {
                    x0 = _mm_loadu_si128((const __m128i*)(r0 + c));
                    x1 = r1 ? _mm_loadu_si128((const __m128i*)(r1 + c)) : _mm_setzero_si128();
                } else {
                    alignas(16) uint8_t t0[16] = {0}, t1[16] = {0};
                    memcpy(t0, r0 + c, (size_t)(nc - c));
                    if (r1) memcpy(t1, r1 + c, (size_t)(nc - c));
                    x0 = _mm_load_si128((const __m128i*)t0);
                    x1 = _mm_load_si128((const __m128i*)t1);
                }
                const __m128i lo = _mm_unpacklo_epi8(x0, x1), hi = _mm_unpackhi_epi8(x0, x1);  // [col][k] bytes
                const __m256i w0 = SIGNED ? _mm256_cvtepi8_epi16(lo) : _mm256_cvtepu8_epi16(lo);
                const __m256i w1 = SIGNED ? _mm256_cvtepi8_epi16(hi) : _mm256_cvtepu8_epi16(hi);
                for (int j = 0; j < 2; j++) {
                    const int64_t vec = c / 8 + j;
                    if (vec >= nvec) break;
                    uint8_t* dst = Bp + ((vec / NV) * G + g) * (NR * 4) + (vec % NV) * 32;
                    _mm256_store_si256((__m256i*)dst, j ? w1 : w0);
                }
            }
        }
    }

    static void pack_b(const uint8_t* B, int64_t N, int64_t K, int64_t nc, bool bsigned, uint8_t* Bp) {
        if (bsigned) pack_b_t<true>(B, N, K, nc, Bp);
        else pack_b_t<false>(B, N, K, nc, Bp);
    }

    template <int R>
    QAT4J_AVX2 static void kernel(const uint8_t* Ap, const uint8_t* Bp, int64_t G, int32_t* C, int64_t ldc,
                                  int64_t ncols) {
        __m256i c0[NV], c1[NV], c2[NV], c3[NV];
        for (int v = 0; v < NV; v++) c0[v] = c1[v] = c2[v] = c3[v] = _mm256_setzero_si256();
        const int32_t* a32 = (const int32_t*)Ap;
        for (int64_t g = 0; g < G; g++) {
            const __m256i* bg = (const __m256i*)(Bp + g * NR * 4);
            const __m256i b0 = _mm256_load_si256(bg), b1 = _mm256_load_si256(bg + 1);
            const int32_t* ag = a32 + g * MR;
#define QAT4J_AVX2_ROW(cr, r)                                                         \
            if constexpr (R > r) {                                                    \
                const __m256i a = _mm256_set1_epi32(ag[r]);                           \
                cr[0] = _mm256_add_epi32(cr[0], _mm256_madd_epi16(b0, a));            \
                cr[1] = _mm256_add_epi32(cr[1], _mm256_madd_epi16(b1, a));            \
            }
            QAT4J_AVX2_ROW(c0, 0) QAT4J_AVX2_ROW(c1, 1) QAT4J_AVX2_ROW(c2, 2) QAT4J_AVX2_ROW(c3, 3)
#undef QAT4J_AVX2_ROW
        }
        __m256i* rows[4] = {c0, c1, c2, c3};
        for (int r = 0; r < R; r++) {
            int32_t* cr = C + r * ldc;
            if (ncols == NR) {
                for (int v = 0; v < NV; v++) _mm256_storeu_si256((__m256i*)(cr + 8 * v), rows[r][v]);
            } else {
                alignas(32) int32_t tmp[NR];
                for (int v = 0; v < NV; v++) _mm256_store_si256((__m256i*)(tmp + 8 * v), rows[r][v]);
                memcpy(cr, tmp, (size_t)ncols * 4);
            }
        }
    }

    static void tile(int64_t rows, const uint8_t* Ap, const uint8_t* Bp, int64_t G, const int32_t* init, int32_t* C,
                     int64_t ldc, int64_t ncols) {
        (void)init;  // always zero here
        switch (rows) {
            case 4: kernel<4>(Ap, Bp, G, C, ldc, ncols); break;
            case 3: kernel<3>(Ap, Bp, G, C, ldc, ncols); break;
            case 2: kernel<2>(Ap, Bp, G, C, ldc, ncols); break;
            default: kernel<1>(Ap, Bp, G, C, ldc, ncols); break;
        }
    }
};


// ------------------------------------------------------------------------------------------------ AVX-512 VNNI

// acc += 4-way dot products of b (u8) and a (s8) per int32 lane: QAT4J_DPBUSD (qat4j_internal.h), inline asm because
// with _mm512_dpbusd_epi32 gcc 12 copies every accumulator through a spare register on each iteration and spills
// some (3x slower).

// Interleaves 4 rows of 64 columns into 4 vectors of 16 columns x 4 rows ([col][k] bytes).
QAT4J_VNNI inline void interleave4x64(__m512i x0, __m512i x1, __m512i x2, __m512i x3, __m512i out[4]) {
    const __m512i t0 = _mm512_unpacklo_epi8(x0, x1), t1 = _mm512_unpackhi_epi8(x0, x1);
    const __m512i t2 = _mm512_unpacklo_epi8(x2, x3), t3 = _mm512_unpackhi_epi8(x2, x3);
    // Lane L of o0..o3: columns 16L+0..3, 16L+4..7, 16L+8..11, 16L+12..15.
    const __m512i o0 = _mm512_unpacklo_epi16(t0, t2), o1 = _mm512_unpackhi_epi16(t0, t2);
    const __m512i o2 = _mm512_unpacklo_epi16(t1, t3), o3 = _mm512_unpackhi_epi16(t1, t3);
    // 4x4 transpose of the 128-bit lanes.
    const __m512i u0 = _mm512_shuffle_i32x4(o0, o1, 0x44), u1 = _mm512_shuffle_i32x4(o2, o3, 0x44);
    const __m512i u2 = _mm512_shuffle_i32x4(o0, o1, 0xEE), u3 = _mm512_shuffle_i32x4(o2, o3, 0xEE);
    out[0] = _mm512_shuffle_i32x4(u0, u1, 0x88);
    out[1] = _mm512_shuffle_i32x4(u0, u1, 0xDD);
    out[2] = _mm512_shuffle_i32x4(u2, u3, 0x88);
    out[3] = _mm512_shuffle_i32x4(u2, u3, 0xDD);
}

// 4 x 64 tile: 16 zmm accumulators, 4 for B, 1 for the broadcast of A. Measured against 8x32, 6x64, 8x48,
// 12x32, 10x32 and 16x16 on the ResNet shapes: the fastest or within noise everywhere, and best at K=27
// (a C row is written as 256 contiguous bytes).
struct Vnni {
    static constexpr int64_t MR = 4, NR = 64, KG = 4;

    static void pack_a(int64_t M, int64_t K, const int8_t* A, bool bsigned, uint8_t* Ap, int32_t* init) {
        pack_a_generic<int8_t, MR, KG>(M, K, A, bsigned, Ap, init);
    }

    // Block of nc columns -> panels [G][NR][4] u8 (XOR 0x80 if signed). Rows past K are 0 ^ 0x80 or 0: A is zero
    // there, so they add nothing; columns past nc are never stored to C.
    QAT4J_VNNI static void pack_b(const uint8_t* B, int64_t N, int64_t K, int64_t nc, bool bsigned, uint8_t* Bp) {
        const int64_t G = ceil_div(K, 4);
        const __m512i flip = _mm512_set1_epi8(bsigned ? (char)0x80 : 0);
        for (int64_t g = 0; g < G; g++) {
            const int64_t k0 = 4 * g;
            const uint8_t* row[4];
            for (int i = 0; i < 4; i++) row[i] = k0 + i < K ? B + (k0 + i) * N : nullptr;
            for (int64_t c = 0; c < nc; c += 64) {  // NR = 64: one chunk = one panel
                const int64_t left = nc - c;
                const __mmask64 mk = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
                __m512i x[4];
                for (int i = 0; i < 4; i++) {
                    x[i] = row[i] ? _mm512_maskz_loadu_epi8(mk, row[i] + c) : _mm512_setzero_si512();
                    x[i] = _mm512_xor_si512(x[i], flip);
                }
                __m512i out[4];
                interleave4x64(x[0], x[1], x[2], x[3], out);
                uint8_t* dst = Bp + ((c / NR) * G + g) * (NR * 4);
                for (int j = 0; j < 4; j++) _mm512_store_si512((void*)(dst + 64 * j), out[j]);
            }
        }
    }

    // The accumulators are named variables: an array of them ends up in memory.
    template <int R>
    QAT4J_VNNI static void kernel(const uint8_t* Ap, const uint8_t* Bp, int64_t G, const int32_t* init, int32_t* C,
                                  int64_t ldc, int64_t ncols) {
#define QAT4J_ROWS(X) X(0) X(1) X(2) X(3)
#define QAT4J_DECL(r)                                  \
        __m512i c##r##_0, c##r##_1, c##r##_2, c##r##_3; \
        if constexpr (R > r) c##r##_0 = c##r##_1 = c##r##_2 = c##r##_3 = _mm512_set1_epi32(init[r]);
        QAT4J_ROWS(QAT4J_DECL)
#undef QAT4J_DECL
        const int32_t* a32 = (const int32_t*)Ap;
        for (int64_t g = 0; g < G; g++) {
            const uint8_t* bg = Bp + g * NR * 4;
            const __m512i b0 = _mm512_load_si512((const void*)bg);
            const __m512i b1 = _mm512_load_si512((const void*)(bg + 64));
            const __m512i b2 = _mm512_load_si512((const void*)(bg + 128));
            const __m512i b3 = _mm512_load_si512((const void*)(bg + 192));
            const int32_t* ag = a32 + g * MR;
#define QAT4J_STEP(r)                                         \
            if constexpr (R > r) {                            \
                const __m512i a = _mm512_set1_epi32(ag[r]);   \
                QAT4J_DPBUSD(c##r##_0, b0, a);                \
                QAT4J_DPBUSD(c##r##_1, b1, a);                \
                QAT4J_DPBUSD(c##r##_2, b2, a);                \
                QAT4J_DPBUSD(c##r##_3, b3, a);                \
            }
            QAT4J_ROWS(QAT4J_STEP)
#undef QAT4J_STEP
        }
        if (ncols == NR) {
#define QAT4J_STORE(r)                                            \
            if constexpr (R > r) {                                \
                int32_t* cr = C + r * ldc;                        \
                _mm512_storeu_si512((void*)cr, c##r##_0);         \
                _mm512_storeu_si512((void*)(cr + 16), c##r##_1);  \
                _mm512_storeu_si512((void*)(cr + 32), c##r##_2);  \
                _mm512_storeu_si512((void*)(cr + 48), c##r##_3);  \
            }
            QAT4J_ROWS(QAT4J_STORE)
#undef QAT4J_STORE
        } else {
            __mmask16 mk[4];
            for (int v = 0; v < 4; v++) {
                const int64_t rem = ncols - v * 16;
                mk[v] = rem >= 16 ? (__mmask16)0xFFFF : rem > 0 ? (__mmask16)((1u << rem) - 1) : 0;
            }
#define QAT4J_STORE(r)                                                      \
            if constexpr (R > r) {                                          \
                int32_t* cr = C + r * ldc;                                  \
                _mm512_mask_storeu_epi32((void*)cr, mk[0], c##r##_0);       \
                _mm512_mask_storeu_epi32((void*)(cr + 16), mk[1], c##r##_1); \
                _mm512_mask_storeu_epi32((void*)(cr + 32), mk[2], c##r##_2); \
                _mm512_mask_storeu_epi32((void*)(cr + 48), mk[3], c##r##_3); \
            }
            QAT4J_ROWS(QAT4J_STORE)
#undef QAT4J_STORE
        }
#undef QAT4J_ROWS
    }

    static void tile(int64_t rows, const uint8_t* Ap, const uint8_t* Bp, int64_t G, const int32_t* init, int32_t* C,
                     int64_t ldc, int64_t ncols) {
        switch (rows) {
            case 4: kernel<4>(Ap, Bp, G, init, C, ldc, ncols); break;
            case 3: kernel<3>(Ap, Bp, G, init, C, ldc, ncols); break;
            case 2: kernel<2>(Ap, Bp, G, init, C, ldc, ncols); break;
            default: kernel<1>(Ap, Bp, G, init, C, ldc, ncols); break;
        }
    }
};

}  // namespace
}  // namespace qat4j_gemm_s8

int qat4j::gemm_s8_scalar(int64_t M, int64_t N, int64_t K, const int8_t* A, const uint8_t* B, bool b_signed,
                          int32_t* C) {
    if (b_signed) qat4j_gemm_s8::gemm_scalar<int8_t>(M, N, K, A, (const int8_t*)B, C);
    else qat4j_gemm_s8::gemm_scalar<uint8_t>(M, N, K, A, B, C);
    return QAT4J_OK;
}

int qat4j::gemm_s8_avx2(int64_t M, int64_t N, int64_t K, const int8_t* A, const uint8_t* B, bool b_signed,
                        int32_t* C) {
    return qat4j_gemm_s8::gemm_blocked<qat4j_gemm_s8::Avx2>(M, N, K, A, B, b_signed, C);
}

int qat4j::gemm_s8_vnni(int64_t M, int64_t N, int64_t K, const int8_t* A, const uint8_t* B, bool b_signed,
                        int32_t* C) {
    return qat4j_gemm_s8::gemm_blocked<qat4j_gemm_s8::Vnni>(M, N, K, A, B, b_signed, C);
}

extern "C" int qat4j_gemm_s8_s32(int64_t M, int64_t N, int64_t K, const int8_t* A, const uint8_t* B, int b_signed,
                                 int32_t* C, int isa) {
    if (M <= 0 || N <= 0) return QAT4J_OK;
    if (K <= 0) {
        memset(C, 0, (size_t)(M * N) * sizeof(int32_t));
        return QAT4J_OK;
    }
    return qat4j_kernels_for(isa)->gemm_s8(M, N, K, A, B, b_signed != 0, C);
}

#pragma GCC diagnostic pop
