// Exact int8 convolution of byte codes by implicit GEMM (AVX-512 VNNI): no im2col, no per-call repacking of B.
// acc [n, co, oh, ow] (int32) = conv(x [n, c, h, w] codes (uint8, or int8 when signed), w [co, c/groups, kh, kw]).
// Integer arithmetic only: the same bits as the im2col + gemm path of int_ops.cpp (qat4j_conv2d_s8_s32).
//
// Layout (per image and group, packed once by the thread that convolves it):
//   The group's cig channels, zero-padded (ph, pw) to Hp x Wp, split into sh*sw phases (py, px) by the position
//   modulo the stride, each phase [C4 = ceil(cig/4)][Hh = ceil(Hp/sh)][Wh = ceil(Wp/sw)][4 channel bytes]:
//   one dword = the 4 channels of a reduction group of vpdpbusd. Padding and the channel tail are code 0.
//   A signed image is made unsigned with XOR 0x80 (code 0 -> 0x80 everywhere) and the accumulators start at
//   -128*rowsum(w), as in gemm_s8.cpp. Only the phases a kernel offset reads are kept (min(sh, kh) x min(sw, kw):
//   a 1x1 stride-2 conv packs a quarter of the image).
//   Outputs are addressed in "wide" coordinates q = oy*Wh + ox, ox in [0, Wh): the B operand of output q for the
//   reduction group g = (ic4, ky, kx) is the dword at off[g] + 4q, off[g] = phase(ky%sh, kx%sw) +
//   ((ic4*Hh + ky/sh)*Wh + kx/sw)*4. So each row of B is a base pointer plus a constant, and 16 consecutive outputs
//   are one unaligned 64-byte load. Columns ox >= ow are not outputs: the vectors (16 wide outputs each) are laid
//   over the valid ones only (cover()), and a vector that spans a row end (narrow rows) computes its garbage lanes
//   and compresses them out on the store. Valid outputs only read inside their phase; garbage lanes may read past
//   it, into the next phase or the buffer's slack (allocated and initialised).
// Weights are packed once per call: [group][co tile][g][MR][4 bytes] plus the signed correction per row.
// Register tile: MR = 4 output channels x NV = 4 vectors (16 zmm accumulators), as gemm_s8.cpp's; the results go
// straight into acc (plain stores for a full row segment), or, for the grid conv (grid_conv.cpp), into its float output
// as (float)acc * scale.
// Work items are (image, group, chunk of co tiles); chunks > 1 only when the batch cannot feed every thread.
// Each thread keeps one packed image; its padding is written once (only the interior changes between images).
// Work buffers (offsets, packed weights, one packed image per thread) come from qat4j_alloc64; out of memory returns
// QAT4J_ERR_NO_MEMORY, a thread that misses its image buffer setting a shared flag. Only reached through the dispatch
// table at QAT4J_ISA_AVX512VNNI (it needs VNNI, and AVX-512 BW/VL for the byte masks).
// The conv is split into three steps that the whole-model integer program (int_program.cpp) reuses: prepare
// (qat4j::S8Conv: weights packed, offsets and output vectors, once), pack one image's group, and run a block of
// register tiles (with an optional per-block callback, the program's fused requantization).
#include "qat4j_internal.h"
#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace qat4j_conv_s8 {
namespace {

constexpr int MR = 4;       // output channels per register tile
constexpr int NV = 4;       // vectors of 16 outputs per register tile
constexpr int64_t kParallelMinMacs = (int64_t)1 << 20;

using qat4j::ceil_div;
using qat4j::min64;

using Geo = qat4j::S8Conv;
using Vec = qat4j::S8ConvVec;

// F: float output (float)sum * scale, the grid conv's epilogue (the same operations as its scalar pass).
template <bool F>
QAT4J_VNNI inline void store_vec(void* c, const Vec& v, __m512i x, __m512 scale) {
    if constexpr (F) {
        float* o = (float*)c + v.out;
        const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(x), scale);
        if (v.lanes == 0xFFFF) _mm512_storeu_ps(o, f);
        else _mm512_mask_storeu_ps(o, v.stored, _mm512_maskz_compress_ps(v.lanes, f));
    } else {
        int32_t* o = (int32_t*)c + v.out;
        if (v.lanes == 0xFFFF) _mm512_storeu_si512((void*)o, x);
        else _mm512_mask_storeu_epi32((void*)o, v.stored, _mm512_maskz_compress_epi32(v.lanes, x));
    }
}

// R rows x NV vectors (NV <= 5: a 5th column only where a plane has 5 vectors, e.g. 8x8 outputs, so that no vector is
// left to a 1-vector tile, whose 4 accumulator chains cannot hide vpdpbusd's latency); vector v reads B at
// img + vec[v].b + off[g]. C: the tile's first output plane (int32, or float when F), planes P elements apart.
template <int R, int NV, bool F>
QAT4J_VNNI void tile(const uint8_t* Ap, const uint8_t* img, const Vec* vec, const int64_t* off, int64_t G,
                     const int32_t* init, void* C, int64_t P, float yscale) {
#define QAT4J_ROWS(X) X(0) X(1) X(2) X(3)
    // The accumulators in fixed registers (zmm8..zmm27): left to itself, gcc 12 moves some through spare registers on
    // every iteration of the loop (6 extra moves per 16 vpdpbusd).
#define QAT4J_DECL(r, z0, z1, z2, z3, z4)                                                                      \
    register __m512i c##r##_0 asm(z0), c##r##_1 asm(z1), c##r##_2 asm(z2), c##r##_3 asm(z3), c##r##_4 asm(z4); \
    if constexpr (R > r) c##r##_0 = c##r##_1 = c##r##_2 = c##r##_3 = c##r##_4 = _mm512_set1_epi32(init[r]);
    QAT4J_DECL(0, "zmm8", "zmm9", "zmm10", "zmm11", "zmm24")
    QAT4J_DECL(1, "zmm12", "zmm13", "zmm14", "zmm15", "zmm25")
    QAT4J_DECL(2, "zmm16", "zmm17", "zmm18", "zmm19", "zmm26")
    QAT4J_DECL(3, "zmm20", "zmm21", "zmm22", "zmm23", "zmm27")
#undef QAT4J_DECL
    const uint8_t* p0 = img + vec[0].b;
    const uint8_t* p1 = NV > 1 ? img + vec[1].b : p0;
    const uint8_t* p2 = NV > 2 ? img + vec[2].b : p0;
    const uint8_t* p3 = NV > 3 ? img + vec[3].b : p0;
    const uint8_t* p4 = NV > 4 ? img + vec[4].b : p0;
    const int32_t* a32 = (const int32_t*)Ap;
    for (int64_t g = 0; g < G; g++) {
        const int64_t o = off[g];
        __m512i b0, b1, b2, b3, b4;
        b0 = _mm512_loadu_si512((const void*)(p0 + o));
        if constexpr (NV > 1) b1 = _mm512_loadu_si512((const void*)(p1 + o));
        if constexpr (NV > 2) b2 = _mm512_loadu_si512((const void*)(p2 + o));
        if constexpr (NV > 3) b3 = _mm512_loadu_si512((const void*)(p3 + o));
        if constexpr (NV > 4) b4 = _mm512_loadu_si512((const void*)(p4 + o));
        const int32_t* ag = a32 + g * MR;
#define QAT4J_STEP(r)                                            \
        if constexpr (R > r) {                                   \
            const __m512i a = _mm512_set1_epi32(ag[r]);          \
            QAT4J_DPBUSD(c##r##_0, b0, a);                       \
            if constexpr (NV > 1) QAT4J_DPBUSD(c##r##_1, b1, a); \
            if constexpr (NV > 2) QAT4J_DPBUSD(c##r##_2, b2, a); \
            if constexpr (NV > 3) QAT4J_DPBUSD(c##r##_3, b3, a); \
            if constexpr (NV > 4) QAT4J_DPBUSD(c##r##_4, b4, a); \
        }
        QAT4J_ROWS(QAT4J_STEP)
#undef QAT4J_STEP
    }
    const __m512 scale = _mm512_set1_ps(yscale);
#define QAT4J_STORE(r)                                                  \
    if constexpr (R > r) {                                              \
        void* cr = (uint8_t*)C + r * P * 4;                             \
        store_vec<F>(cr, vec[0], c##r##_0, scale);                      \
        if constexpr (NV > 1) store_vec<F>(cr, vec[1], c##r##_1, scale); \
        if constexpr (NV > 2) store_vec<F>(cr, vec[2], c##r##_2, scale); \
        if constexpr (NV > 3) store_vec<F>(cr, vec[3], c##r##_3, scale); \
        if constexpr (NV > 4) store_vec<F>(cr, vec[4], c##r##_4, scale); \
    }
    QAT4J_ROWS(QAT4J_STORE)
#undef QAT4J_STORE
#undef QAT4J_ROWS
}

template <int R, bool F>
void tile_nv(int nv, const uint8_t* Ap, const uint8_t* img, const Vec* vec, const int64_t* off, int64_t G,
             const int32_t* init, void* C, int64_t P, float yscale) {
    switch (nv) {
        case 5: tile<R, 5, F>(Ap, img, vec, off, G, init, C, P, yscale); break;
        case 4: tile<R, 4, F>(Ap, img, vec, off, G, init, C, P, yscale); break;
        case 3: tile<R, 3, F>(Ap, img, vec, off, G, init, C, P, yscale); break;
        case 2: tile<R, 2, F>(Ap, img, vec, off, G, init, C, P, yscale); break;
        default: tile<R, 1, F>(Ap, img, vec, off, G, init, C, P, yscale); break;
    }
}

template <bool F>
void tile_any(int rows, int nv, const uint8_t* Ap, const uint8_t* img, const Vec* vec, const int64_t* off, int64_t G,
              const int32_t* init, void* C, int64_t P, float yscale) {
    switch (rows) {
        case 4: tile_nv<4, F>(nv, Ap, img, vec, off, G, init, C, P, yscale); break;
        case 3: tile_nv<3, F>(nv, Ap, img, vec, off, G, init, C, P, yscale); break;
        case 2: tile_nv<2, F>(nv, Ap, img, vec, off, G, init, C, P, yscale); break;
        default: tile_nv<1, F>(nv, Ap, img, vec, off, G, init, C, P, yscale); break;
    }
}

// Covers the valid wide outputs with vectors, greedily: each starts at the first valid output after the previous
// one. Rows of ow = 16k cost k vectors (no garbage lanes); narrow rows share vectors. Returns the count.
int64_t cover(const Geo& q, Vec* vec) {
    const int64_t end = (int64_t)q.oh * q.wh;
    int64_t nvec = 0;
    for (int64_t s = 0; s < end;) {
        unsigned lanes = 0;
        for (int i = 0; i < 16; i++)
            if (s + i < end && (s + i) % q.wh < q.ow) lanes |= 1u << i;
        const int cnt = __builtin_popcount(lanes);
        vec[nvec++] = Vec{4 * s, (s / q.wh) * q.ow + s % q.wh, (__mmask16)lanes,
                          (__mmask16)(cnt == 16 ? 0xFFFF : (1u << cnt) - 1)};
        s += 16;
        if (s % q.wh >= q.ow) s = (s / q.wh + 1) * q.wh;
    }
    return nvec;
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
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const int64_t plane = (int64_t)q.h * q.w;
    for (int ic4 = 0; ic4 < q.c4; ic4++) {
        const uint8_t* p[4];
        for (int j = 0; j < 4; j++) p[j] = ic4 * 4 + j < q.cig ? img + (ic4 * 4 + j) * plane : nullptr;
        for (int iy = 0; iy < q.h; iy++) {
            const uint8_t* r[4];
            for (int j = 0; j < 4; j++) r[j] = p[j] ? p[j] + (int64_t)iy * q.w : nullptr;
            const int64_t Y = (int64_t)iy + q.ph, py = Y % q.sh, yy = Y / q.sh;
            if (py >= q.phy) continue;
            if (q.sw == 1) {
                uint8_t* dst = buf + py * q.phase_bytes + ((ic4 * q.hh + yy) * q.wh + q.pw) * 4;
                interleave_row(r, q.w, f, dst);
            } else if (q.sw == 2) {
                // Even and odd dwords of the row to their two phases, 32 input columns at a time. X0 = ix0 + pw
                // has the parity of pw: the even lanes (X = X0 + 2j) go to phase X0 % 2 at column X0/2 + j, the
                // odd lanes to the other phase at column (X0 + 1)/2 + j.
                interleave_row(r, q.w, f, (uint8_t*)rowtmp);
                const int64_t pe = q.pw % 2, po = 1 - pe;
                uint8_t* row_e = buf + (py * q.phx + pe) * q.phase_bytes + ((ic4 * q.hh + yy) * q.wh) * 4;
                uint8_t* row_o = buf + (py * q.phx + po) * q.phase_bytes + ((ic4 * q.hh + yy) * q.wh) * 4;
                for (int ix0 = 0; ix0 < q.w; ix0 += 32) {
                    const int cnt = q.w - ix0 < 32 ? q.w - ix0 : 32;
                    const __m512i a = _mm512_loadu_si512((const void*)(rowtmp + ix0));
                    const __m512i b = _mm512_loadu_si512((const void*)(rowtmp + ix0 + 16));
                    const int64_t X0 = (int64_t)ix0 + q.pw;
                    const int ne = (cnt + 1) / 2, no = cnt / 2;
                    if (pe < q.phx)
                        _mm512_mask_storeu_epi32((void*)(row_e + X0 / 2 * 4), (__mmask16)((1u << ne) - 1),
                                                 _mm512_permutex2var_epi32(a, even, b));
                    if (po < q.phx && no > 0)
                        _mm512_mask_storeu_epi32((void*)(row_o + (X0 + 1) / 2 * 4), (__mmask16)((1u << no) - 1),
                                                 _mm512_permutex2var_epi32(a, odd, b));
                }
            } else {
                interleave_row(r, q.w, f, (uint8_t*)rowtmp);
                for (int ix = 0; ix < q.w; ix++) {
                    const int64_t X = (int64_t)ix + q.pw, px = X % q.sw, xx = X / q.sw;
                    if (px >= q.phx) continue;
                    memcpy(buf + (py * q.phx + px) * q.phase_bytes + ((ic4 * q.hh + yy) * q.wh + xx) * 4, rowtmp + ix,
                           4);
                }
            }
        }
    }
}

// The layout sizes of q's geometry; false when the padded copy would be much larger than the image (huge pads or
// strides: the caller then takes the im2col path).
bool derive_layout(Geo& q) {
    q.oh = (int)(((int64_t)q.h + 2 * (int64_t)q.ph - q.kh) / q.sh + 1);
    q.ow = (int)(((int64_t)q.w + 2 * (int64_t)q.pw - q.kw) / q.sw + 1);
    q.cig = q.c / q.groups;
    q.cog = q.co / q.groups;
    q.c4 = (int)ceil_div(q.cig, 4);
    q.phy = min64(q.sh, q.kh);
    q.phx = min64(q.sw, q.kw);
    q.hh = ceil_div((int64_t)q.h + 2 * (int64_t)q.ph, q.sh);
    q.wh = ceil_div((int64_t)q.w + 2 * (int64_t)q.pw, q.sw);
    if (q.phy * q.phx * q.hh * q.wh > 4 * (int64_t)q.h * q.w + 65536) return false;
    q.phase_bytes = q.c4 * q.hh * q.wh * 4;
    q.G = (int64_t)q.c4 * q.kh * q.kw;
    q.mtiles = ceil_div(q.cog, MR);
    q.P = (int64_t)q.oh * q.ow;
    return true;
}

}  // namespace
}  // namespace qat4j_conv_s8

using qat4j_conv_s8::MR;
using qat4j_conv_s8::NV;

int qat4j::s8conv_prepare(S8Conv* q, const qat4j_conv_geometry& g, bool x_signed, const int8_t* wt) {
    *q = S8Conv{};
    static_cast<qat4j_conv_geometry&>(*q) = g;
    q->x_signed = x_signed;
    if (!qat4j_conv_s8::derive_layout(*q)) return kConvNotApplicable;
    const int64_t nvec_max = (int64_t)q->oh * ceil_div(q->ow, 16);  // <= ceil(ow/16) starts a row
    const int64_t tile_bytes = q->G * MR * 4;
    q->off = (int64_t*)qat4j_alloc64_n(q->G, sizeof(int64_t));
    q->vec = (S8ConvVec*)qat4j_alloc64_n(nvec_max, sizeof(S8ConvVec));
    q->Ap = (int8_t*)qat4j_alloc64_n((int64_t)q->groups * q->mtiles * tile_bytes, 1);
    q->init = (int32_t*)qat4j_alloc64_n((int64_t)q->groups * q->mtiles * MR, sizeof(int32_t));
    if (!q->off || !q->vec || !q->Ap || !q->init) {
        s8conv_release(q);
        return QAT4J_ERR_NO_MEMORY;
    }
    int64_t max_off = 0;
    for (int ic4 = 0; ic4 < q->c4; ic4++)
        for (int ky = 0; ky < q->kh; ky++)
            for (int kx = 0; kx < q->kw; kx++) {
                const int64_t o = ((ky % q->sh) * q->phx + kx % q->sw) * q->phase_bytes +
                                  ((ic4 * q->hh + ky / q->sh) * q->wh + kx / q->sw) * 4;
                q->off[(ic4 * q->kh + ky) * q->kw + kx] = o;
                if (o > max_off) max_off = o;
            }
    q->nvec = qat4j_conv_s8::cover(*q, q->vec);
    // The last vector reads 64 bytes from the largest offset: everything a vector reads is allocated and initialised.
    q->buf_bytes = q->phy * q->phx * q->phase_bytes;
    if (max_off + q->vec[q->nvec - 1].b + 64 > q->buf_bytes) q->buf_bytes = max_off + q->vec[q->nvec - 1].b + 64;

    // Weights: Ap[group][tile][g][r][4], g = (ic4*kh + ky)*kw + kx; zero past cig and past cog.
    const int khw = q->kh * q->kw;
    for (int gr = 0; gr < q->groups; gr++)
        for (int64_t t = 0; t < q->mtiles; t++)
            for (int r = 0; r < MR; r++) {
                const int64_t oc = t * MR + r;
                int8_t* dst = q->Ap + (gr * q->mtiles + t) * tile_bytes + r * 4;
                int32_t sum = 0;
                for (int ic4 = 0; ic4 < q->c4; ic4++)
                    for (int kk = 0; kk < khw; kk++)
                        for (int j = 0; j < 4; j++) {
                            const int ic = ic4 * 4 + j;
                            const int8_t a = (oc < q->cog && ic < q->cig)
                                                 ? wt[((gr * q->cog + oc) * q->cig + ic) * (int64_t)khw + kk]
                                                 : 0;
                            dst[(ic4 * khw + kk) * MR * 4 + j] = a;
                            sum += a;
                        }
                q->init[(gr * q->mtiles + t) * MR + r] = x_signed ? -128 * sum : 0;
            }
    return QAT4J_OK;
}

void qat4j::s8conv_release(S8Conv* q) {
    qat4j_free64(q->init);
    qat4j_free64(q->Ap);
    qat4j_free64(q->vec);
    qat4j_free64(q->off);
    q->init = nullptr;
    q->Ap = nullptr;
    q->vec = nullptr;
    q->off = nullptr;
}

void qat4j::s8conv_init_buffer(const S8Conv& q, uint8_t* buf, uint32_t* rowtmp) {
    memset(buf, q.x_signed ? 0x80 : 0, (size_t)q.buf_bytes);  // padding and slack; pack() rewrites the interior
    memset(rowtmp, 0, (size_t)(q.w + 32) * 4);
}

void qat4j::s8conv_pack(const S8Conv& q, const uint8_t* group_planes, uint8_t* buf, uint32_t* rowtmp) {
    qat4j_conv_s8::pack_image(q, group_planes, q.x_signed, buf, rowtmp);
}

void qat4j::s8conv_tiles(const S8Conv& q, int gr, int64_t t, int64_t v0, int64_t v1, const uint8_t* buf, int32_t* acc,
                         float* y, float y_scale) {
    const int64_t tile_bytes = q.G * MR * 4;
    const int rows = (int)min64(MR, q.cog - t * MR);
    const uint8_t* at = (const uint8_t*)(q.Ap + (gr * q.mtiles + t) * tile_bytes);
    const int32_t* it0 = q.init + (gr * q.mtiles + t) * MR;
    for (int64_t v = v0; v < v1;) {
        const int64_t left = v1 - v;
        const int nv = left == NV + 1 ? NV + 1 : (int)min64(NV, left);  // 5 vectors run as one tile, not 4 + 1
        if (y) qat4j_conv_s8::tile_any<true>(rows, nv, at, buf, q.vec + v, q.off, q.G, it0, y, q.P, y_scale);
        else qat4j_conv_s8::tile_any<false>(rows, nv, at, buf, q.vec + v, q.off, q.G, it0, acc, q.P, 0.0f);
        v += nv;
    }
}

namespace qat4j_conv_s8 {
namespace {

// The whole conv of a batch. Output: acc (int32), or y = (float)sum * yscale when y is given.
int conv(const uint8_t* x, bool xs, const int8_t* wt, int32_t* acc, float* y, float yscale,
         const qat4j_conv_geometry& g) {
    Geo q;
    const int st = qat4j::s8conv_prepare(&q, g, xs, wt);
    if (st != QAT4J_OK) return st;
    const int64_t K = (int64_t)q.cig * q.kh * q.kw;
    const int64_t macs = (int64_t)q.n * q.co * K * q.oh * q.ow;
    const int nth = macs < kParallelMinMacs ? 1 : omp_get_max_threads();
    const int64_t images = (int64_t)q.n * q.groups;
    const int64_t chunks = images >= 2 * nth ? 1 : min64(ceil_div(2 * nth, images), q.mtiles);
    const int64_t per = ceil_div(q.mtiles, chunks);
    const int64_t nitems = images * chunks;
    const int64_t P = q.P;

    int oom = 0;
#pragma omp parallel num_threads(nth) if (nth > 1) reduction(| : oom)
    {
        uint8_t* buf = (uint8_t*)qat4j_alloc64_n(q.buf_bytes, 1);
        uint32_t* rowtmp = (uint32_t*)qat4j_alloc64_n((int64_t)q.w + 32, 4);  // the stride-2 split reads 32 at a time
        const bool have = buf && rowtmp;
        oom = have ? 0 : 1;
        if (have) qat4j::s8conv_init_buffer(q, buf, rowtmp);
        int64_t packed = -1;
        // A thread without buffers still takes part in the worksharing loop (every thread must reach it) but does
        // nothing: the call fails as a whole.
#pragma omp for schedule(dynamic)
        for (int64_t it = 0; it < nitems; it++) {
            if (!have) continue;
            const int64_t img = it / chunks, ch = it % chunks;
            const int64_t b = img / q.groups, gr = img % q.groups;
            if (img != packed) {
                qat4j::s8conv_pack(q, x + (b * q.c + gr * q.cig) * (int64_t)q.h * q.w, buf, rowtmp);
                packed = img;
            }
            for (int64_t t = ch * per, t1 = min64(t + per, q.mtiles); t < t1; t++) {
                const int64_t o = (b * q.co + gr * q.cog + t * MR) * P;
                qat4j::s8conv_tiles(q, (int)gr, t, 0, q.nvec, buf, y ? nullptr : acc + o, y ? y + o : nullptr,
                                    yscale);
            }
        }
        qat4j_free64(rowtmp);
        qat4j_free64(buf);
    }
    qat4j::s8conv_release(&q);
    return oom ? QAT4J_ERR_NO_MEMORY : QAT4J_OK;
}

}  // namespace
}  // namespace qat4j_conv_s8

int qat4j::conv_s8_implicit_vnni(const uint8_t* x, int x_signed, const int8_t* wt, int32_t* acc,
                                 const qat4j_conv_geometry& g, float* y, float y_scale) {
    return qat4j_conv_s8::conv(x, x_signed != 0, wt, acc, y, y_scale, g);
}

#pragma GCC diagnostic pop
