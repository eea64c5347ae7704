// Exact int8 convolution of byte codes by implicit GEMM (AVX-512 VNNI): no im2col, no per-call repacking of B.
// acc [n, co, oh, ow] (int32) = conv(x [n, c, h, w] codes (uint8, or int8 when signed), w [co, c/groups, kh, kw]).
// Integer arithmetic only: the same bits as the im2col + gemm path of int_ops.cpp (qat4j_conv2d_s8_s32).
//
// Layout (per image and group, packed once by the thread that convolves it):
//   The group's cig channels, zero-padded (ph, pw) to Hp x Wp, split into sh*sw phases (py, px) by the position
//   modulo the stride, each phase [C4 = ceil(cig/4)][Hh = ceil(Hp/sh)][Wh = ceil(Wp/sw)][4 channel bytes]:
//   one dword = the 4 channels of a reduction group of vpdpbusd. Padding and the channel tail are code 0.
//   A signed image is made unsigned with XOR 0x80 (code 0 -> 0x80 everywhere) and the accumulators start at
//   -128*rowsum(w), as in gemm_s8.cpp.
//   Outputs are computed in "wide" coordinates q = oy*Wh + ox, ox in [0, Wh): the B operand of output q for the
//   reduction group g = (ic4, ky, kx) is the dword at off[g] + 4q, off[g] = phase(ky%sh, kx%sw) +
//   ((ic4*Hh + ky/sh)*Wh + kx/sw)*4. So each row of B is a base pointer plus a constant, and 16 consecutive outputs
//   are one unaligned 64-byte load. Columns ox >= ow wrap into the next row: computed, then dropped on the copy
//   out. Valid outputs only read inside their phase; the buffer has slack for the garbage ones.
// Weights are packed once per call: [group][co tile][g][MR][4 bytes] plus the signed correction per row.
// Work items are (image, group, chunk of co tiles); chunks > 1 only when the batch cannot feed every thread.
// Each thread keeps one packed image (its padding is written once: only the interior changes between images), a
// wide [MR][Qt] output strip, and copies the valid columns of the strip into acc.
#include "qat4j_kernels.h"
#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define QAT4J_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
// Inline asm, as in gemm_s8.cpp: gcc 12 copies accumulators around _mm512_dpbusd_epi32.
#define QAT4J_DPBUSD(acc, b, a) __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(b), "v"(a))

namespace qat4j_conv_s8 {
namespace {

constexpr int MR = 4;       // output channels per register tile
constexpr int NR = 64;      // outputs per register tile (4 zmm of 16 dwords)
constexpr int64_t kParallelMinMacs = (int64_t)1 << 20;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

void* alloc64(size_t bytes) {
    const size_t n = (bytes + 63) & ~(size_t)63;
    void* p = aligned_alloc(64, n ? n : 64);
    if (!p) abort();
    return p;
}

struct Geo {
    int n, c, h, w, co, kh, kw, sh, sw, ph, pw, groups, oh, ow;
    int cig, cog, c4;
    int64_t hh, wh, phase_bytes, buf_bytes, qt, G, mtiles;
};

// R rows x NV vectors of 16 outputs; B read straight from the packed image at b + off[g].
template <int R, int NV>
QAT4J_VNNI void tile(const uint8_t* Ap, const uint8_t* b, const int64_t* off, int64_t G, const int32_t* init,
                     int32_t* C, int64_t ldc) {
#define QAT4J_ROWS(X) X(0) X(1) X(2) X(3)
#define QAT4J_DECL(r)                                                  \
    __m512i c##r##_0, c##r##_1, c##r##_2, c##r##_3;                    \
    if constexpr (R > r) c##r##_0 = c##r##_1 = c##r##_2 = c##r##_3 = _mm512_set1_epi32(init[r]);
    QAT4J_ROWS(QAT4J_DECL)
#undef QAT4J_DECL
    const int32_t* a32 = (const int32_t*)Ap;
    for (int64_t g = 0; g < G; g++) {
        const uint8_t* bg = b + off[g];
        __m512i b0, b1, b2, b3;
        b0 = _mm512_loadu_si512((const void*)bg);
        if constexpr (NV > 1) b1 = _mm512_loadu_si512((const void*)(bg + 64));
        if constexpr (NV > 2) b2 = _mm512_loadu_si512((const void*)(bg + 128));
        if constexpr (NV > 3) b3 = _mm512_loadu_si512((const void*)(bg + 192));
        const int32_t* ag = a32 + g * MR;
#define QAT4J_STEP(r)                                         \
        if constexpr (R > r) {                                \
            const __m512i a = _mm512_set1_epi32(ag[r]);       \
            QAT4J_DPBUSD(c##r##_0, b0, a);                    \
            if constexpr (NV > 1) QAT4J_DPBUSD(c##r##_1, b1, a); \
            if constexpr (NV > 2) QAT4J_DPBUSD(c##r##_2, b2, a); \
            if constexpr (NV > 3) QAT4J_DPBUSD(c##r##_3, b3, a); \
        }
        QAT4J_ROWS(QAT4J_STEP)
#undef QAT4J_STEP
    }
#define QAT4J_STORE(r)                                                              \
    if constexpr (R > r) {                                                          \
        int32_t* cr = C + r * ldc;                                                  \
        _mm512_storeu_si512((void*)cr, c##r##_0);                                   \
        if constexpr (NV > 1) _mm512_storeu_si512((void*)(cr + 16), c##r##_1);      \
        if constexpr (NV > 2) _mm512_storeu_si512((void*)(cr + 32), c##r##_2);      \
        if constexpr (NV > 3) _mm512_storeu_si512((void*)(cr + 48), c##r##_3);      \
    }
    QAT4J_ROWS(QAT4J_STORE)
#undef QAT4J_STORE
#undef QAT4J_ROWS
}

template <int R>
void tile_nv(int nv, const uint8_t* Ap, const uint8_t* b, const int64_t* off, int64_t G, const int32_t* init,
             int32_t* C, int64_t ldc) {
    switch (nv) {
        case 4: tile<R, 4>(Ap, b, off, G, init, C, ldc); break;
        case 3: tile<R, 3>(Ap, b, off, G, init, C, ldc); break;
        case 2: tile<R, 2>(Ap, b, off, G, init, C, ldc); break;
        default: tile<R, 1>(Ap, b, off, G, init, C, ldc); break;
    }
}

void tile_any(int rows, int nv, const uint8_t* Ap, const uint8_t* b, const int64_t* off, int64_t G,
              const int32_t* init, int32_t* C, int64_t ldc) {
    switch (rows) {
        case 4: tile_nv<4>(nv, Ap, b, off, G, init, C, ldc); break;
        case 3: tile_nv<3>(nv, Ap, b, off, G, init, C, ldc); break;
        case 2: tile_nv<2>(nv, Ap, b, off, G, init, C, ldc); break;
        default: tile_nv<1>(nv, Ap, b, off, G, init, C, ldc); break;
    }
}

// 4 channel rows of w codes (nullptr: past cig, code 0) -> w dwords [4 channel bytes] at dst, XOR flip.
QAT4J_VNNI void interleave_row(const uint8_t* const r[4], int w, __m128i flip, uint8_t* dst) {
    for (int x = 0; x < w; x += 16) {
        const int left = w - x;
        const __mmask16 mk = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        __m128i v[4];
        for (int j = 0; j < 4; j++)
            v[j] = _mm_xor_si128(r[j] ? _mm_maskz_loadu_epi8(mk, r[j] + x) : _mm_setzero_si128(), flip);
        const __m128i t0 = _mm_unpacklo_epi8(v[0], v[1]), t1 = _mm_unpackhi_epi8(v[0], v[1]);
        const __m128i t2 = _mm_unpacklo_epi8(v[2], v[3]), t3 = _mm_unpackhi_epi8(v[2], v[3]);
        const __m128i o[4] = {_mm_unpacklo_epi16(t0, t2), _mm_unpackhi_epi16(t0, t2), _mm_unpacklo_epi16(t1, t3),
                              _mm_unpackhi_epi16(t1, t3)};  // pixels x..x+3, x+4..x+7, ...
        uint8_t* d = dst + (int64_t)x * 4;
        if (left >= 16) {
            for (int j = 0; j < 4; j++) _mm_storeu_si128((__m128i*)(d + 16 * j), o[j]);
        } else {
            for (int j = 0; j < 4; j++) {
                const int px = left - 4 * j;  // pixels of this quarter
                if (px <= 0) break;
                const __mmask16 sm = px >= 4 ? (__mmask16)0xFFFF : (__mmask16)((1u << (4 * px)) - 1);
                _mm_mask_storeu_epi8(d + 16 * j, sm, o[j]);
            }
        }
    }
}

// Interior of one image's group into buf (padding already there). img: the group's first channel plane.
QAT4J_VNNI void pack_image(const Geo& q, const uint8_t* img, bool flip, uint8_t* buf, uint32_t* rowtmp) {
    const __m128i f = _mm_set1_epi8(flip ? (char)0x80 : 0);
    const int64_t plane = (int64_t)q.h * q.w;
    for (int ic4 = 0; ic4 < q.c4; ic4++) {
        const uint8_t* p[4];
        for (int j = 0; j < 4; j++) p[j] = ic4 * 4 + j < q.cig ? img + (ic4 * 4 + j) * plane : nullptr;
        for (int iy = 0; iy < q.h; iy++) {
            const uint8_t* r[4];
            for (int j = 0; j < 4; j++) r[j] = p[j] ? p[j] + (int64_t)iy * q.w : nullptr;
            const int Y = iy + q.ph, py = Y % q.sh, yy = Y / q.sh;
            if (q.sw == 1) {
                uint8_t* dst = buf + py * q.phase_bytes + ((ic4 * q.hh + yy) * q.wh + q.pw) * 4;
                interleave_row(r, q.w, f, dst);
            } else {
                interleave_row(r, q.w, f, (uint8_t*)rowtmp);
                for (int ix = 0; ix < q.w; ix++) {
                    const int X = ix + q.pw, px = X % q.sw, xx = X / q.sw;
                    memcpy(buf + (py * q.sw + px) * q.phase_bytes + ((ic4 * q.hh + yy) * q.wh + xx) * 4, rowtmp + ix,
                           4);
                }
            }
        }
    }
}

// rows x ow valid columns of the wide strip (ld qt, row stride wh) into acc rows (oh*ow each).
QAT4J_VNNI void copy_out(const Geo& q, int rows, const int32_t* wide, int32_t* out) {
    const int64_t P = (int64_t)q.oh * q.ow;
    for (int r = 0; r < rows; r++) {
        for (int oy = 0; oy < q.oh; oy++) {
            const int32_t* s = wide + r * q.qt + oy * q.wh;
            int32_t* d = out + r * P + (int64_t)oy * q.ow;
            int x = 0;
            for (; x + 16 <= q.ow; x += 16) _mm512_storeu_si512((void*)(d + x), _mm512_loadu_si512((const void*)(s + x)));
            if (x < q.ow) {
                const __mmask16 mk = (__mmask16)((1u << (q.ow - x)) - 1);
                _mm512_mask_storeu_epi32((void*)(d + x), mk, _mm512_maskz_loadu_epi32(mk, s + x));
            }
        }
    }
}

void conv(const uint8_t* x, bool xs, const int8_t* wt, int32_t* acc, Geo& q) {
    q.oh = (q.h + 2 * q.ph - q.kh) / q.sh + 1;
    q.ow = (q.w + 2 * q.pw - q.kw) / q.sw + 1;
    q.cig = q.c / q.groups;
    q.cog = q.co / q.groups;
    q.c4 = (int)ceil_div(q.cig, 4);
    q.hh = ceil_div(q.h + 2 * q.ph, q.sh);
    q.wh = ceil_div(q.w + 2 * q.pw, q.sw);
    q.phase_bytes = q.c4 * q.hh * q.wh * 4;
    q.qt = ceil_div((int64_t)q.oh * q.wh, 16) * 16;
    q.G = (int64_t)q.c4 * q.kh * q.kw;
    q.mtiles = ceil_div(q.cog, MR);
    const int64_t K = (int64_t)q.cig * q.kh * q.kw;

    int64_t* off = (int64_t*)alloc64((size_t)q.G * 8);
    int64_t max_off = 0;
    for (int ic4 = 0; ic4 < q.c4; ic4++)
        for (int ky = 0; ky < q.kh; ky++)
            for (int kx = 0; kx < q.kw; kx++) {
                const int64_t o = ((ky % q.sh) * q.sw + kx % q.sw) * q.phase_bytes +
                                  ((ic4 * q.hh + ky / q.sh) * q.wh + kx / q.sw) * 4;
                off[(ic4 * q.kh + ky) * q.kw + kx] = o;
                if (o > max_off) max_off = o;
            }
    // The last tile reads qt outputs from the largest offset; everything it reads is allocated and initialised.
    q.buf_bytes = (int64_t)q.sh * q.sw * q.phase_bytes;
    if (max_off + q.qt * 4 > q.buf_bytes) q.buf_bytes = max_off + q.qt * 4;

    // Weights: Ap[group][tile][g][r][4], g = (ic4*kh + ky)*kw + kx; zero past cig and past cog.
    const int64_t tile_bytes = q.G * MR * 4;
    int8_t* Ap = (int8_t*)alloc64((size_t)(q.groups * q.mtiles * tile_bytes));
    int32_t* init = (int32_t*)alloc64((size_t)(q.groups * q.mtiles * MR * 4));
    const int khw = q.kh * q.kw;
    for (int gr = 0; gr < q.groups; gr++)
        for (int64_t t = 0; t < q.mtiles; t++)
            for (int r = 0; r < MR; r++) {
                const int64_t oc = t * MR + r;
                int8_t* dst = Ap + (gr * q.mtiles + t) * tile_bytes + r * 4;
                int32_t sum = 0;
                for (int ic4 = 0; ic4 < q.c4; ic4++)
                    for (int kk = 0; kk < khw; kk++)
                        for (int j = 0; j < 4; j++) {
                            const int ic = ic4 * 4 + j;
                            const int8_t a = (oc < q.cog && ic < q.cig)
                                                 ? wt[((gr * q.cog + oc) * q.cig + ic) * (int64_t)khw + kk]
                                                 : 0;
                            dst[(ic4 * khw + kk) * MR * 4 + j] = a;
                            sum += a;
                        }
                init[(gr * q.mtiles + t) * MR + r] = xs ? -128 * sum : 0;
            }

    const int64_t macs = (int64_t)q.n * q.co * K * q.oh * q.ow;
    const int nth = macs < kParallelMinMacs ? 1 : omp_get_max_threads();
    const int64_t images = (int64_t)q.n * q.groups;
    const int64_t chunks = images >= 2 * nth ? 1 : min64(ceil_div(2 * nth, images), q.mtiles);
    const int64_t per = ceil_div(q.mtiles, chunks);
    const int64_t nitems = images * chunks;
    const int64_t P = (int64_t)q.oh * q.ow;

#pragma omp parallel num_threads(nth) if (nth > 1)
    {
        uint8_t* buf = (uint8_t*)alloc64((size_t)q.buf_bytes);
        memset(buf, xs ? 0x80 : 0, (size_t)q.buf_bytes);  // padding and slack; the interior is rewritten per image
        uint32_t* rowtmp = (uint32_t*)alloc64((size_t)q.w * 4 + 64);
        int32_t* wide = (int32_t*)alloc64((size_t)(MR * q.qt * 4));
        int64_t packed = -1;
#pragma omp for schedule(dynamic)
        for (int64_t it = 0; it < nitems; it++) {
            const int64_t img = it / chunks, ch = it % chunks;
            const int64_t b = img / q.groups, gr = img % q.groups;
            if (img != packed) {
                pack_image(q, x + (b * q.c + gr * q.cig) * (int64_t)q.h * q.w, xs, buf, rowtmp);
                packed = img;
            }
            for (int64_t t = ch * per, t1 = min64(t + per, q.mtiles); t < t1; t++) {
                const int rows = (int)min64(MR, q.cog - t * MR);
                const int8_t* at = Ap + (gr * q.mtiles + t) * tile_bytes;
                const int32_t* it0 = init + (gr * q.mtiles + t) * MR;
                for (int64_t q0 = 0; q0 < q.qt; q0 += NR) {
                    const int nv = (int)min64(4, (q.qt - q0) / 16);
                    tile_any(rows, nv, (const uint8_t*)at, buf + q0 * 4, off, q.G, it0, wide + q0, q.qt);
                }
                copy_out(q, rows, wide, acc + (b * q.co + gr * q.cog + t * MR) * P);
            }
        }
        free(wide);
        free(rowtmp);
        free(buf);
    }
    free(init);
    free(Ap);
    free(off);
}

}  // namespace
}  // namespace qat4j_conv_s8

extern "C" void qat4j_conv2d_s8_s32_vnni(const uint8_t* x, int x_signed, const int8_t* wt, int32_t* acc, int n,
                                         int c, int h, int w, int co, int kh, int kw, int sh, int sw, int ph, int pw,
                                         int groups) {
    qat4j_conv_s8::Geo q{};
    q.n = n, q.c = c, q.h = h, q.w = w, q.co = co, q.kh = kh, q.kw = kw, q.sh = sh, q.sw = sw, q.ph = ph, q.pw = pw;
    q.groups = groups;
    qat4j_conv_s8::conv(x, x_signed != 0, wt, acc, q);
}

#undef QAT4J_DPBUSD
#undef QAT4J_VNNI
#pragma GCC diagnostic pop
