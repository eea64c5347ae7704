// Runs every native kernel of src/main/cpp (the C ABI of qat4j_kernels.h) on random shapes, built with
// -fsanitize=address,undefined,float-cast-overflow by bench/sanitize.sh: AddressSanitizer reports any read or
// write outside the exact-size buffers given to a kernel, UndefinedBehaviorSanitizer any signed overflow, bad
// shift, misaligned access or out-of-range float-to-int conversion. On top, kernels with ISA variants are run at
// every level this CPU has and compared (integer results exactly, float results to a tolerance), and the GEMMs
// and convolutions against naive loops. Exits non-zero on a mismatch; the sanitizers abort on their first report.
// Every kernel's status is checked too (QAT4J_OK expected).
//
// The checks are organised by op: main() runs drive(op) for every op of qat4j_ops.inc, a switch over enum qat4j_op
// with one case per op and no default, built with -Werror=switch (bench/sanitize.sh): a new row in the op list does
// not build here until it has a case. The per-op check counts are printed at the end.
//
// Usage: kernel_driver [iterations=300] [seed=1]
#include "qat4j_kernels.h"
#include "qat4j_internal.h"  // the internal GEMMs (checked on their own) and the quantizers' scalar parts

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cstdint>
#include <random>
#include <vector>

static std::mt19937_64 rng;
static int failures = 0;
static long checks = 0;
static qat4j_op current_op = QAT4J_OP_CONV2D;  // the op whose checks are running (per-op counts)
static long op_checks[QAT4J_OP_COUNT];

static int rint_in(int lo, int hi) { return lo + (int)(rng() % (uint64_t)(hi - lo + 1)); }
static float rfloat(float lo, float hi) {
    return lo + (hi - lo) * (float)((rng() >> 11) * (1.0 / 9007199254740992.0));
}
static std::vector<float> floats(size_t n, float lo = -2, float hi = 2) {
    std::vector<float> v(n);
    for (auto& x : v) x = rfloat(lo, hi);
    return v;
}
// Sprinkles NaN, +-inf, +-0 and huge values: the quantizers must cope without undefined behaviour.
static void specials(std::vector<float>& v) {
    static const float s[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 3e38f, -3e38f, 1e-40f};
    for (size_t k = 0; k < v.size() / 7 + 1 && !v.empty(); k++) v[rng() % v.size()] = s[rng() % 8];
}

#define CHECK(cond, ...)                                   \
    do {                                                   \
        checks++;                                          \
        op_checks[current_op]++;                           \
        if (!(cond)) {                                     \
            failures++;                                    \
            fprintf(stderr, "MISMATCH %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                  \
            fprintf(stderr, "\n");                         \
            if (failures > 20) exit(1);                    \
        }                                                  \
    } while (0)

// A kernel call that must succeed.
#define OK(call)                                                                   \
    do {                                                                           \
        const int status_ = (call);                                                \
        CHECK(status_ == QAT4J_OK, "%s returned status %d", #call, status_);       \
    } while (0)

static bool close_to(float a, float b, float tol) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return fabsf(a - b) <= tol;
}

struct Geo {
    int n, c, h, w, co, kh, kw, sh, sw, ph, pw, g, oh, ow;
    qat4j_conv_geometry abi() const { return qat4j_conv_geometry{n, c, h, w, co, kh, kw, sh, sw, ph, pw, g}; }
};

static Geo geometry(bool depthwise) {
    Geo q;
    q.g = depthwise ? rint_in(1, 6) : rint_in(1, 3);
    int cg = depthwise ? 1 : rint_in(1, 5);
    int cog = depthwise ? rint_in(1, 2) : rint_in(1, 17);
    q.n = rng() % 3 == 0 ? rint_in(4, 9) : rint_in(1, 3); // n >= 2 x threads: the per-image int8 conv path
    q.c = q.g * cg;
    q.co = q.g * cog;
    q.h = rint_in(1, 11);
    q.w = rint_in(1, 11);
    q.ph = rint_in(0, 2);
    q.pw = rint_in(0, 2);
    q.kh = rint_in(1, q.h + 2 * q.ph < 5 ? q.h + 2 * q.ph : 5);
    q.kw = rint_in(1, q.w + 2 * q.pw < 5 ? q.w + 2 * q.pw : 5);
    q.sh = rint_in(1, 3);
    q.sw = rint_in(1, 3);
    if (!depthwise && rng() % 8 == 0) {
        // padding that dwarfs input and output: a kernel nearly as tall as thousands of padding rows (the float convs
        // switch to their direct loops here; one image, one input channel per group, so the naive check stays cheap)
        q.n = 1;
        q.c = q.g;
        q.co = q.g * rint_in(1, 2);
        q.ph = rint_in(2000, 5000);
        q.kh = q.h + 2 * q.ph - rint_in(0, 3);
        q.kw = rint_in(1, q.w + 2 * q.pw < 3 ? q.w + 2 * q.pw : 3);
    }
    q.oh = (q.h + 2 * q.ph - q.kh) / q.sh + 1;
    q.ow = (q.w + 2 * q.pw - q.kw) / q.sw + 1;
    return q;
}

// Naive convolution of any element type into double (the reference for float and integer convs).
template <typename X, typename W>
static std::vector<double> naive_conv(const X* x, const W* wt, const Geo& q) {
    std::vector<double> y((size_t)q.n * q.co * q.oh * q.ow, 0.0);
    int cg = q.c / q.g, cog = q.co / q.g;
    for (int b = 0; b < q.n; b++)
        for (int o = 0; o < q.co; o++) {
            int gi = o / cog;
            for (int i = 0; i < q.oh; i++)
                for (int j = 0; j < q.ow; j++) {
                    double s = 0;
                    for (int ci = 0; ci < cg; ci++)
                        for (int u = 0; u < q.kh; u++)
                            for (int v = 0; v < q.kw; v++) {
                                int yy = i * q.sh - q.ph + u, xx = j * q.sw - q.pw + v;
                                if (yy < 0 || yy >= q.h || xx < 0 || xx >= q.w) continue;
                                int cin = gi * cg + ci;
                                s += (double)x[(((size_t)b * q.c + cin) * q.h + yy) * q.w + xx] *
                                     (double)wt[(((size_t)o * cg + ci) * q.kh + u) * q.kw + v];
                            }
                    y[(((size_t)b * q.co + o) * q.oh + i) * q.ow + j] = s;
                }
        }
    return y;
}

// The float conv (op CONV2D), or its backward data / weight (checked through <conv(x), dy> = <x, dx> = <w, dw>).
static void conv_f32(int max_isa, qat4j_op op) {
    Geo q = geometry(rng() % 4 == 0);
    const qat4j_conv_geometry g = q.abi();
    auto x = floats((size_t)q.n * q.c * q.h * q.w);
    auto wt = floats((size_t)q.co * (q.c / q.g) * q.kh * q.kw);
    auto bias = floats(q.co);
    auto want = naive_conv(x.data(), wt.data(), q);
    auto dy = floats(want.size());
    double lhs = 0, mag = 0;
    for (size_t i = 0; i < want.size(); i++) lhs += want[i] * dy[i], mag += fabs(want[i] * dy[i]);
    for (int isa = 0; isa <= max_isa; isa++) {
        if (op == QAT4J_OP_CONV2D) {
            std::vector<float> y(want.size());
            OK(qat4j_conv2d_f32(x.data(), wt.data(), bias.data(), y.data(), &g, isa));
            for (size_t i = 0; i < y.size(); i++) {
                float ref = (float)want[i] + bias[(i / ((size_t)q.oh * q.ow)) % q.co];
                CHECK(close_to(y[i], ref, 1e-4f * (1 + fabsf(ref)) + 1e-4f), "conv2d isa %d at %zu: %g vs %g", isa, i,
                      y[i], ref);
            }
        } else if (op == QAT4J_OP_CONV2D_BACKWARD_DATA) {
            std::vector<float> dx(x.size());
            OK(qat4j_conv2d_bwd_data_f32(dy.data(), wt.data(), dx.data(), &g, isa));
            double rhs = 0;
            for (size_t i = 0; i < x.size(); i++) rhs += (double)x[i] * dx[i];
            CHECK(fabs(lhs - rhs) <= 1e-4 * (1 + mag), "conv2d_bwd_data isa %d: %g vs %g", isa, lhs, rhs);
        } else {
            std::vector<float> dw(wt.size());
            OK(qat4j_conv2d_bwd_weight_f32(dy.data(), x.data(), dw.data(), &g, isa));
            double r2 = 0;
            for (size_t i = 0; i < wt.size(); i++) r2 += (double)wt[i] * dw[i];
            CHECK(fabs(lhs - r2) <= 1e-4 * (1 + mag), "conv2d_bwd_weight isa %d: %g vs %g", isa, lhs, r2);
        }
    }
}

static void sgemm(int max_isa) {
    int64_t M = rint_in(1, 40), N = rint_in(1, 70), K = rint_in(1, 50);
    int64_t lda = K + rint_in(0, 3), ldb = N + rint_in(0, 3), ldc = N + rint_in(0, 3);
    auto A = floats((size_t)(M - 1) * lda + K), B = floats((size_t)(K - 1) * ldb + N);
    for (int isa = 0; isa <= max_isa; isa++) {
        std::vector<float> C((size_t)(M - 1) * ldc + N, 7.0f);
        OK(qat4j_sgemm_nn_f32(M, N, K, A.data(), lda, B.data(), ldb, C.data(), ldc, isa));
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++) s += (double)A[i * lda + k] * B[k * ldb + j];
                CHECK(close_to(C[i * ldc + j], (float)s, 1e-4f * (1 + fabsf((float)s))), "sgemm isa %d", isa);
            }
    }
}

// C[M,N] += A[M,Q] B[N,Q]^T, the weight-gradient GEMM: every (i, j) checked on its own, so a result landing in the
// wrong element (the 16-way lane reduction) cannot hide.
static void sgemm_nt(int max_isa) {
    int64_t M = rint_in(1, 13), N = rint_in(1, 13), Q = rint_in(1, 90);
    int64_t lda = Q + rint_in(0, 3), ldb = Q + rint_in(0, 3), ldc = N + rint_in(0, 3);
    auto A = floats((size_t)(M - 1) * lda + Q), B = floats((size_t)(N - 1) * ldb + Q);
    auto C0 = floats((size_t)(M - 1) * ldc + N);
    for (int isa = 0; isa <= max_isa; isa++) {
        std::vector<float> C = C0;
        OK(qat4j_sgemm_nt_acc_f32(M, N, Q, A.data(), lda, B.data(), ldb, C.data(), ldc, isa));
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = C0[i * ldc + j];
                for (int64_t q = 0; q < Q; q++) s += (double)A[i * lda + q] * B[j * ldb + q];
                CHECK(close_to(C[i * ldc + j], (float)s, 1e-4f * (1 + fabsf((float)s))), "sgemm_nt isa %d (%ld,%ld)",
                      isa, (long)i, (long)j);
            }
    }
}

static void gemm_s8(int max_isa) {
    int64_t M = rint_in(1, 70), N = rint_in(1, 300), K = rint_in(1, 200);
    int b_signed = (int)(rng() & 1);
    std::vector<int8_t> A((size_t)(M * K));
    std::vector<uint8_t> B((size_t)(K * N));
    for (auto& a : A) a = (int8_t)(rng() & 0xFF);
    for (auto& b : B) b = (uint8_t)(rng() & 0xFF);
    std::vector<int32_t> want((size_t)(M * N));
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            int32_t s = 0;
            for (int64_t k = 0; k < K; k++) s += A[i * K + k] * (b_signed ? (int)(int8_t)B[k * N + j] : (int)B[k * N + j]);
            want[i * N + j] = s;
        }
    for (int isa = 0; isa <= max_isa; isa++) {
        std::vector<int32_t> C((size_t)(M * N));
        OK(qat4j_gemm_s8_s32(M, N, K, A.data(), B.data(), b_signed, C.data(), isa));
        CHECK(C == want, "gemm_s8 isa %d M=%ld N=%ld K=%ld signed=%d", isa, (long)M, (long)N, (long)K, b_signed);
    }
}

static void conv_s8(int max_isa) {
    Geo q = geometry(rng() % 4 == 0);
    int x_signed = (int)(rng() & 1);
    std::vector<uint8_t> x((size_t)q.n * q.c * q.h * q.w);
    std::vector<int8_t> wt((size_t)q.co * (q.c / q.g) * q.kh * q.kw);
    for (auto& v : x) v = (uint8_t)(rng() & 0xFF);
    for (auto& v : wt) v = (int8_t)(rng() & 0xFF);
    std::vector<double> want;
    if (x_signed) {
        std::vector<int8_t> xs(x.begin(), x.end());
        want = naive_conv(xs.data(), wt.data(), q);
    } else {
        want = naive_conv(x.data(), wt.data(), q);
    }
    for (int isa = 0; isa <= max_isa; isa++) {
        std::vector<int32_t> acc(want.size());
        const qat4j_conv_geometry g = q.abi();
        OK(qat4j_conv2d_s8_s32(x.data(), x_signed, wt.data(), acc.data(), &g, isa));
        bool same = true;
        for (size_t i = 0; i < acc.size(); i++) same &= acc[i] == (int32_t)want[i];
        CHECK(same, "conv2d_s8 isa %d", isa);
    }
}

// The conv of two quantized tensors: values code * step (unsigned or signed activation codes, int8 weight codes)
// must give exactly (float) int_conv * (x_step * w_step) + bias; a value off its grid (special) must return
// QAT4J_OFF_GRID and leave y alone.
static void grid_conv(int max_isa, bool special) {
    Geo q = geometry(rng() % 4 == 0);
    const int x_signed = (int)(rng() & 1), xlo = x_signed ? -127 : 0, xhi = x_signed ? 127 : 255;
    const float xstep = rfloat(0.001f, 0.5f), wstep = 1.0f / 127;
    std::vector<int> xc((size_t)q.n * q.c * q.h * q.w), wc((size_t)q.co * (q.c / q.g) * q.kh * q.kw);
    std::vector<float> x(xc.size()), wt(wc.size()), bias = floats(q.co);
    for (size_t i = 0; i < xc.size(); i++) xc[i] = rint_in(xlo, xhi), x[i] = (float)xc[i] * xstep;
    for (size_t i = 0; i < wc.size(); i++) wc[i] = rint_in(-127, 127), wt[i] = (float)wc[i] / 127;
    if (special && !x.empty()) x[rng() % x.size()] = NAN;
    auto want = naive_conv(xc.data(), wc.data(), q);
    for (int isa = 0; isa <= max_isa; isa++) {
        std::vector<float> y(want.size(), 7.0f);
        const qat4j_conv_geometry g = q.abi();
        const int st = qat4j_conv2d_grid_f32(x.data(), xstep, x_signed, xlo, xhi, wt.data(), wstep, -127, 127,
                                             bias.data(), y.data(), &g, isa);
        CHECK(st == (special ? QAT4J_OFF_GRID : QAT4J_OK), "conv2d_grid isa %d: returned %d", isa, st);
        bool same = true;
        for (size_t i = 0; i < y.size(); i++) {
            const float expect = special ? 7.0f : (float)(int32_t)want[i] * (xstep * wstep) + bias[(i / ((size_t)q.oh * q.ow)) % q.co];
            same &= y[i] == expect;
        }
        CHECK(same, "conv2d_grid isa %d", isa);
    }
}

// The VNNI implicit-GEMM conv (conv_s8.cpp) on the geometries its layout has edge cases for: channel counts that
// are not multiples of 4, widths whose output rows are not multiples of 16 (and wide rows spanning register tiles),
// strides 1..3 (phases), kh != kw, output channel tails, groups, batches below and above 2 x threads.
static void conv_s8_wide(int max_isa) {
    static const int chans[] = {1, 3, 4, 5, 8, 17, 64};
    Geo q;
    q.g = rng() % 4 == 0 ? rint_in(2, 3) : 1;
    int cg = chans[rng() % 7], cog = chans[rng() % 7];
    if (q.g > 1 && cg > 17) cg = 5;
    q.n = rng() % 2 ? 1 : rint_in(4, 6);
    q.c = q.g * cg;
    q.co = q.g * cog;
    q.h = rint_in(1, 20);
    q.w = rint_in(1, 40);
    q.ph = rint_in(0, 2);
    q.pw = rint_in(0, 2);
    static const int ks[] = {1, 3, 5};
    q.kh = ks[rng() % 3];
    q.kw = rng() % 3 == 0 ? ks[rng() % 3] : q.kh;
    if (q.kh > q.h + 2 * q.ph) q.kh = 1;
    if (q.kw > q.w + 2 * q.pw) q.kw = 1;
    q.sh = rint_in(1, 2);
    q.sw = rng() % 4 == 0 ? rint_in(1, 3) : q.sh;
    const int odd = rint_in(0, 19);
    if (odd == 0) q.sh = 2147483647;  // strides past the image: only the phases of the kernel rows are packed
    if (odd == 1) q.sw = 1000000;
    if (odd == 2) {  // a padded copy far larger than the image: the im2col fallback
        q.h = rint_in(1, 3), q.w = rint_in(1, 3), q.ph = q.pw = 150, q.kh = q.kw = 1, q.sh = q.sw = 1;
        if (q.c > 17) q.c = q.g * 3;
    }
    q.oh = (int)(((int64_t)q.h + 2 * q.ph - q.kh) / q.sh + 1);
    q.ow = (int)(((int64_t)q.w + 2 * q.pw - q.kw) / q.sw + 1);
    int x_signed = (int)(rng() & 1);
    std::vector<uint8_t> x((size_t)q.n * q.c * q.h * q.w);
    std::vector<int8_t> wt((size_t)q.co * (q.c / q.g) * q.kh * q.kw);
    for (auto& v : x) v = (uint8_t)(rng() & 0xFF);
    for (auto& v : wt) v = (int8_t)(rng() & 0xFF);
    std::vector<double> want;
    if (x_signed) {
        std::vector<int8_t> xs(x.begin(), x.end());
        want = naive_conv(xs.data(), wt.data(), q);
    } else {
        want = naive_conv(x.data(), wt.data(), q);
    }
    for (int isa = 0; isa <= max_isa; isa++) {
        std::vector<int32_t> acc(want.size());
        const qat4j_conv_geometry g = q.abi();
        OK(qat4j_conv2d_s8_s32(x.data(), x_signed, wt.data(), acc.data(), &g, isa));
        bool same = true;
        for (size_t i = 0; i < acc.size(); i++) same &= acc[i] == (int32_t)want[i];
        CHECK(same, "conv2d_s8 wide isa %d n=%d c=%d co=%d h=%d w=%d k=%dx%d s=%d,%d p=%d,%d g=%d signed=%d", isa, q.n,
              q.c, q.co, q.h, q.w, q.kh, q.kw, q.sh, q.sw, q.ph, q.pw, q.g, x_signed);
    }
}

// The whole-forward integer program (int_program.cpp) under the sanitizers: a random conv (geometry() shapes, groups
// included) with its epilogue into int8, then a requantization of that value with itself as the residual into int32,
// against naive_conv and div_pow2; batches 1 and 5, each conv split over the threads or one thread per image.
static void int_program(int max_isa) {
    if (max_isa < QAT4J_ISA_AVX512VNNI) return;  // the program needs the VNNI conv
    Geo q = geometry(false);
    if (q.ph > 2) return;  // geometry()'s huge-padding case: not a program's shape
    q.sw = q.sh, q.pw = q.ph;  // the program takes one stride and one pad
    if (q.kw > q.w + 2 * q.pw) q.kw = 1;
    q.oh = (q.h + 2 * q.ph - q.kh) / q.sh + 1, q.ow = (q.w + 2 * q.pw - q.kw) / q.sw + 1;
    const int x_signed = (int)(rng() & 1);
    const int64_t in = (int64_t)q.c * q.h * q.w, out = (int64_t)q.co * q.oh * q.ow, plane = (int64_t)q.oh * q.ow;
    std::vector<int8_t> wt((size_t)q.co * (q.c / q.g) * q.kh * q.kw);
    for (auto& v : wt) v = (int8_t)(rng() & 0xFF);
    std::vector<int32_t> ints;  // mult, shift of step 0; mult, shift, residual mult of step 1
    std::vector<int64_t> longs;  // bias of step 0, then of step 1
    for (int pass = 0; pass < 2; pass++) {
        for (int o = 0; o < q.co; o++) ints.push_back(rint_in(-(1 << 20), 1 << 20));
        for (int o = 0; o < q.co; o++) ints.push_back(rint_in(14, 30));
        if (pass == 1)
            for (int o = 0; o < q.co; o++) ints.push_back(rint_in(-(1 << 20), 1 << 20));
        for (int o = 0; o < q.co; o++) longs.push_back((int64_t)rint_in(-(1 << 29), 1 << 29) * 2);
    }
    int64_t desc[2 * QAT4J_PROGRAM_STEP_FIELDS] = {};
    int64_t* d0 = desc;
    int64_t* d1 = desc + QAT4J_PROGRAM_STEP_FIELDS;
    d0[QAT4J_STEP_F_KIND] = QAT4J_STEP_CONV, d0[QAT4J_STEP_F_INPUT] = 0, d0[QAT4J_STEP_F_RESIDUAL] = -1;
    d0[QAT4J_STEP_F_C] = q.c, d0[QAT4J_STEP_F_H] = q.h, d0[QAT4J_STEP_F_W] = q.w, d0[QAT4J_STEP_F_CO] = q.co;
    d0[QAT4J_STEP_F_KH] = q.kh, d0[QAT4J_STEP_F_KW] = q.kw, d0[QAT4J_STEP_F_STRIDE] = q.sh;
    d0[QAT4J_STEP_F_PAD] = q.ph, d0[QAT4J_STEP_F_GROUPS] = q.g, d0[QAT4J_STEP_F_PARAMS] = 0;
    d0[QAT4J_STEP_F_BIAS] = 0, d0[QAT4J_STEP_F_ROUNDING] = QAT4J_ROUND_HALF_EVEN;
    d0[QAT4J_STEP_F_QMIN] = -128, d0[QAT4J_STEP_F_QMAX] = 127;
    d1[QAT4J_STEP_F_KIND] = QAT4J_STEP_REQUANT, d1[QAT4J_STEP_F_INPUT] = 1, d1[QAT4J_STEP_F_RESIDUAL] = 1;
    d1[QAT4J_STEP_F_C] = q.co, d1[QAT4J_STEP_F_H] = q.oh, d1[QAT4J_STEP_F_W] = q.ow, d1[QAT4J_STEP_F_CO] = q.co;
    d1[QAT4J_STEP_F_PARAMS] = 2 * q.co, d1[QAT4J_STEP_F_BIAS] = q.co;
    d1[QAT4J_STEP_F_ROUNDING] = rint_in(QAT4J_ROUND_HALF_EVEN, QAT4J_ROUND_FLOOR);
    d1[QAT4J_STEP_F_QMIN] = -1000000, d1[QAT4J_STEP_F_QMAX] = 1000000;
    const int64_t values[6] = {x_signed ? QAT4J_VALUE_INT8 : QAT4J_VALUE_UINT8, in, QAT4J_VALUE_INT8, out,
                               QAT4J_VALUE_INT32, out};
    int64_t program = 0;
    const int st = qat4j_int_program_create(2, desc, 3, values, wt.data(), ints.data(), longs.data(),
                                            QAT4J_ISA_AVX512VNNI, &program);
    if (st == QAT4J_ERR_UNSUPPORTED) return;
    CHECK(st == QAT4J_OK && program != 0, "int_program create status %d", st);
    if (st != QAT4J_OK) return;
    for (int n : {1, 5}) {
        q.n = n;
        std::vector<uint8_t> x((size_t)(n * in));
        for (auto& v : x) v = (uint8_t)(rng() & 0xFF);
        std::vector<double> acc = x_signed ? naive_conv((const int8_t*)x.data(), wt.data(), q)
                                           : naive_conv(x.data(), wt.data(), q);
        std::vector<int64_t> want((size_t)(n * out));
        for (int64_t i = 0; i < n * out; i++) {
            const int o = (int)(i / plane % q.co);
            int64_t y1 = qat4j::div_pow2((int64_t)acc[i] * ints[o] + longs[o], ints[q.co + o], QAT4J_ROUND_HALF_EVEN);
            y1 = y1 < -128 ? -128 : y1 > 127 ? 127 : y1;
            int64_t y2 = qat4j::div_pow2(y1 * ints[2 * q.co + o] + y1 * ints[4 * q.co + o] + longs[q.co + o],
                                         ints[3 * q.co + o], (int)d1[QAT4J_STEP_F_ROUNDING]);
            want[i] = y2 < -1000000 ? -1000000 : y2 > 1000000 ? 1000000 : y2;
        }
        for (int64_t split : {(int64_t)0, INT64_MAX}) {
            const int64_t before = qat4j_int_program_split_min_macs(split);
            std::vector<int64_t> got((size_t)(n * out), -7);
            OK(qat4j_int_program_run(program, x.data(), n, got.data()));
            qat4j_int_program_split_min_macs(before);
            CHECK(got == want, "int_program n=%d c=%d co=%d h=%d w=%d k=%dx%d s=%d p=%d g=%d signed=%d split=%d", n,
                  q.c, q.co, q.h, q.w, q.kh, q.kw, q.sh, q.ph, q.g, x_signed, split == 0);
        }
    }
    qat4j_int_program_free(program);
}

// Both variants of the activation quantizer's backward against act_grad_x / act_grad_alpha element by element: dx
// bit for bit, dalpha (a double sum in another order, then rounded to float) to a float ulp of sum |dy|.
static void act_quant_bwd(int max_isa, const std::vector<float>& dy, const std::vector<float>& x, int64_t n, int kind,
                          int bits, float alpha) {
    std::vector<float> want(dy.size());
    double dalpha = 0.0, mag = 0.0;
    for (int64_t i = 0; i < n; i++) {
        want[(size_t)i] = dy[(size_t)i] * qat4j::act_grad_x(x[(size_t)i], kind, alpha, 4.0f);
        dalpha += (double)dy[(size_t)i] * qat4j::act_grad_alpha(x[(size_t)i], kind, alpha);
        mag += fabs((double)dy[(size_t)i]);
    }
    for (int isa = 0; isa <= max_isa; isa++) {
        std::vector<float> dx(dy.size());
        float got = 0.0f;
        OK(qat4j_act_quant_bwd_f32(dy.data(), x.data(), dx.data(), n, kind, bits, alpha, 4.0f, &got, isa));
        CHECK(n == 0 || memcmp(dx.data(), want.data(), sizeof(float) * n) == 0, "act_quant_bwd dx isa %d kind %d n %ld",
              isa, kind, (long)n);
        CHECK(close_to(got, (float)dalpha, (float)(2.4e-7 * mag) + 1e-30f) || (isinf(got) && got == (float)dalpha),
              "act_quant_bwd dalpha isa %d kind %d: %g vs %g", isa, kind, got, dalpha);
    }
}

static std::vector<float> quant_input(int64_t n, bool special) {
    // buffers hold at least one element, as the cpu backend allocates them (JavaCPP refuses zero-size memory)
    auto x = floats(n > 0 ? (size_t)n : 1, -8, 8);
    if (special) specials(x);
    return x;
}

// Activation quantizer forward: every level bit for bit against the scalar variant.
static void act_quant_fwd(int max_isa, bool special) {
    int64_t n = rint_in(0, 200);
    auto x = quant_input(n, special);
    int kind = rint_in(0, 3);
    int bits = kind == QAT4J_ACT_MPACT ? rint_in(2, 16) : rint_in(1, 16);
    float alpha = rfloat(-3, 6);
    std::vector<float> y0(x.size());
    OK(qat4j_act_quant_f32(x.data(), y0.data(), n, kind, bits, alpha, 4.0f, 0));
    for (int isa = 1; isa <= max_isa; isa++) {
        std::vector<float> y(x.size());
        OK(qat4j_act_quant_f32(x.data(), y.data(), n, kind, bits, alpha, 4.0f, isa));
        CHECK(n == 0 || memcmp(y.data(), y0.data(), sizeof(float) * n) == 0, "act_quant isa %d differs from scalar", isa);
    }
}

static void act_quant_backward(int max_isa, bool special) {
    int64_t n = rint_in(0, 200);
    auto x = quant_input(n, special);
    auto dy = floats(x.size());
    if (special) specials(dy);
    int kind = rint_in(0, 3);
    int bits = kind == QAT4J_ACT_MPACT ? rint_in(2, 16) : rint_in(1, 16);
    float alpha = rfloat(-3, 6);
    static const float odd_alpha[] = {0.0f, -0.0f, NAN, INFINITY};
    if (rng() % 8 == 0) alpha = odd_alpha[rng() % 4];
    act_quant_bwd(max_isa, dy, x, n, kind, bits, alpha);
}

// DoReFa weight quantizer and its backward (one variant): run under the sanitizers, the outputs' codes checked.
static void weight_quant(bool special, bool backward) {
    int64_t n = rint_in(0, 200);
    auto x = quant_input(n, special);
    auto dy = floats(x.size());
    int wbits = rng() % 5 == 0 ? 32 : rint_in(1, 16);
    std::vector<float> out(x.size());
    if (backward) {
        OK(qat4j_weight_quant_bwd_f32(dy.data(), x.data(), out.data(), n, wbits));
    } else {
        OK(qat4j_weight_quant_f32(x.data(), out.data(), n, wbits));
        // 3..16 bits: every finite value is code / (2^(b-1) - 1) with |code| <= 2^(b-1) - 1
        if (!special && wbits >= 3 && wbits <= 16)
            for (int64_t i = 0; i < n; i++) {
                const float s = (float)((1 << (wbits - 1)) - 1), code = out[(size_t)i] * s;
                CHECK(fabsf(code - rintf(code)) < 1e-3f && fabsf(code) <= s + 1e-3f, "weight_quant code %g", code);
            }
    }
}

// ---------------------------------------------------------------- float ops, one function per op family
struct Planes {
    int n, c, h, w;
    int64_t hw, len;
    std::vector<float> x, dy;
};

static Planes planes(bool special, int max_h = 9) {
    Planes p;
    p.n = rint_in(1, 4), p.c = rint_in(1, 9), p.h = rint_in(1, max_h), p.w = rint_in(1, max_h);
    p.hw = (int64_t)p.h * p.w, p.len = (int64_t)p.n * p.c * p.hw;
    p.x = floats((size_t)p.len);
    if (special) specials(p.x);
    p.dy = floats((size_t)p.len);
    return p;
}

// Batch norm train (backward = false) or backward on every ISA level against the scalar variant (double sums in
// another order: float rounding).
static void batch_norm(int max_isa, const Planes& P, bool backward, bool special) {
    const int n = P.n, c = P.c;
    const int64_t hw = P.hw, len = P.len;
    auto gamma = floats(c), beta = floats(c);
    std::vector<float> y0((size_t)len), mean0(c), inv0(c), rv0(c, 1.0f), dx0((size_t)len), dg0(c), db0(c);
    for (int isa = 0; isa <= max_isa; isa++) {
        std::vector<float> y((size_t)len), mean(c), inv(c), rm(c, 0.5f), rv(c, 1.0f), dx((size_t)len), dg(c), db(c);
        OK(qat4j_bn_train_f32(P.x.data(), gamma.data(), beta.data(), rm.data(), rv.data(), 0.1f, 1e-5f, y.data(),
                              mean.data(), inv.data(), n, c, hw, isa));
        if (backward)
            OK(qat4j_bn_bwd_f32(P.dy.data(), P.x.data(), gamma.data(), mean.data(), inv.data(), dx.data(), dg.data(),
                                db.data(), n, c, hw, isa));
        if (isa == 0) {
            y0 = y, mean0 = mean, inv0 = inv, rv0 = rv, dx0 = dx, dg0 = dg, db0 = db;
            continue;
        }
        if (special) continue;  // NaN and inf spread over a channel the same way, but not comparably
        for (int ch = 0; ch < c; ch++) {
            if (!backward) {
                CHECK(close_to(mean[ch], mean0[ch], 1e-6f * (fabsf(mean0[ch]) + 1e-3f)), "bn mean isa %d", isa);
                CHECK(close_to(inv[ch], inv0[ch], 1e-6f * fabsf(inv0[ch])), "bn inv_std isa %d", isa);
                CHECK(close_to(rv[ch], rv0[ch], 1e-6f * fabsf(rv0[ch])), "bn running var isa %d", isa);
            } else {
                CHECK(close_to(dg[ch], dg0[ch], 1e-5f * (fabsf(dg0[ch]) + (float)(n * hw))), "bn dgamma isa %d", isa);
                CHECK(close_to(db[ch], db0[ch], 1e-5f * (fabsf(db0[ch]) + (float)(n * hw))), "bn dbeta isa %d", isa);
            }
        }
        for (int64_t i = 0; i < len; i++) {
            if (!backward)
                CHECK(close_to(y[(size_t)i], y0[(size_t)i], 1e-5f * (fabsf(y0[(size_t)i]) + 1)), "bn y isa %d", isa);
            else
                CHECK(close_to(dx[(size_t)i], dx0[(size_t)i], 1e-4f * (fabsf(dx0[(size_t)i]) + 1)), "bn dx isa %d",
                      isa);
        }
    }
}

// Batch norm eval against its formula in double (float rounding).
static void batch_norm_eval(const Planes& P, bool special) {
    auto gamma = floats(P.c), beta = floats(P.c), rm = floats(P.c), rv = floats(P.c, 0.5f, 2);
    std::vector<float> y((size_t)P.len);
    OK(qat4j_bn_eval_f32(P.x.data(), gamma.data(), beta.data(), rm.data(), rv.data(), 1e-5f, y.data(), P.n, P.c, P.hw));
    if (special) return;
    for (int64_t i = 0; i < P.len; i++) {
        const int ch = (int)((i / P.hw) % P.c);
        const double want = ((double)P.x[(size_t)i] - rm[ch]) / sqrt((double)rv[ch] + 1e-5) * gamma[ch] + beta[ch];
        CHECK(close_to(y[(size_t)i], (float)want, 1e-5f * (fabsf((float)want) + 4)), "bn eval at %ld", (long)i);
    }
}

// relu / relu6 (clamp) bit for bit against Math.min(Math.max(x, lo), hi).
static void clamp_fwd(const Planes& P, float hi) {
    std::vector<float> y((size_t)P.len);
    OK(qat4j_clamp_f32(P.x.data(), y.data(), P.len, 0.0f, hi));
    bool same = true;
    for (int64_t i = 0; i < P.len; i++) {
        float v = P.x[(size_t)i];
        v = v < 0.0f ? 0.0f : v;
        v = v > hi ? hi : v;
        same &= memcmp(&v, &y[(size_t)i], sizeof(float)) == 0;
    }
    CHECK(same, "clamp hi %g", hi);
}

// Their backward on every ISA level bit for bit against the reference's select.
static void clamp_bwd(int max_isa, const Planes& P, float hi) {
    const float lo = 0.0f;
    std::vector<float> want((size_t)P.len);
    for (int64_t i = 0; i < P.len; i++)
        want[(size_t)i] = (P.x[(size_t)i] > lo && P.x[(size_t)i] < hi) ? P.dy[(size_t)i] : 0.0f;
    for (int isa = 0; isa <= max_isa; isa++) {
        std::vector<float> dx((size_t)P.len);
        OK(qat4j_clamp_bwd_f32(P.dy.data(), P.x.data(), dx.data(), P.len, lo, hi, isa));
        CHECK(memcmp(dx.data(), want.data(), sizeof(float) * P.len) == 0, "clamp_bwd isa %d len %ld", isa,
              (long)P.len);
    }
}

static void bias_bwd(const Planes& P) {
    std::vector<float> db(P.c);
    OK(qat4j_bias_bwd_f32(P.dy.data(), db.data(), P.n, P.c, P.hw));
    for (int ch = 0; ch < P.c; ch++) {
        double s = 0, mag = 0;
        for (int b = 0; b < P.n; b++)
            for (int64_t i = 0; i < P.hw; i++) {
                const float v = P.dy[(size_t)(((int64_t)b * P.c + ch) * P.hw + i)];
                s += v, mag += fabsf(v);
            }
        CHECK(close_to(db[ch], (float)s, 1e-5f * (float)(mag + 1)), "bias_bwd channel %d", ch);
    }
}

// Average pooling (backward: the adjoint, <pool(x), dy> = <x, pool_bwd(dy)>).
static void avg_pool(const Planes& P, bool backward) {
    const int h = P.h, w = P.w, nc = P.n * P.c;
    int k = rint_in(1, h < w ? h : w), pad = rint_in(0, k / 2), s = rint_in(1, 3);
    int oh = (h + 2 * pad - k) / s + 1, ow = (w + 2 * pad - k) / s + 1;
    std::vector<float> py((size_t)nc * oh * ow), pdx((size_t)P.len);
    OK(qat4j_avg_pool_f32(P.x.data(), py.data(), nc, h, w, k, s, pad));
    if (!backward) return;
    auto pdy = floats(py.size());
    OK(qat4j_avg_pool_bwd_f32(pdy.data(), pdx.data(), nc, h, w, k, s, pad));
    double lhs = 0, rhs = 0, mag = 0;
    for (size_t i = 0; i < py.size(); i++) lhs += (double)py[i] * pdy[i], mag += fabs((double)py[i] * pdy[i]);
    for (size_t i = 0; i < pdx.size(); i++) rhs += (double)P.x[i] * pdx[i];
    CHECK(fabs(lhs - rhs) <= 1e-4 * (1 + mag) || !std::isfinite(lhs), "avg_pool adjoint: %g vs %g", lhs, rhs);
}

static void adaptive_pool(const Planes& P, bool backward, bool special) {
    const int h = P.h, w = P.w, nc = P.n * P.c;
    int aoh = rint_in(1, h), aow = rint_in(1, w);
    std::vector<float> ay((size_t)nc * aoh * aow), adx((size_t)P.len);
    OK(qat4j_adaptive_avg_pool_f32(P.x.data(), ay.data(), nc, h, w, aoh, aow));
    if (!backward) {
        // an average: its output lies within the input's range (finite inputs)
        if (!special) {
            float lo = P.x[0], hi = P.x[0];
            for (float v : P.x) lo = v < lo ? v : lo, hi = v > hi ? v : hi;
            for (float v : ay) CHECK(v >= lo - 1e-5f && v <= hi + 1e-5f, "adaptive pool out of range");
        }
        return;
    }
    auto ady = floats(ay.size());
    OK(qat4j_adaptive_avg_pool_bwd_f32(ady.data(), adx.data(), nc, h, w, aoh, aow));
    double total_dy = 0, total_dx = 0;  // every output's gradient is spread over its window: the sums agree
    for (float v : ady) total_dy += v;
    for (float v : adx) total_dx += v;
    CHECK(fabs(total_dy - total_dx) <= 1e-4 * (1 + (double)ady.size()), "adaptive pool bwd mass %g vs %g", total_dy,
          total_dx);
}

static void add(const Planes& P) {
    std::vector<float> y((size_t)P.len);
    OK(qat4j_add_f32(P.x.data(), P.dy.data(), y.data(), P.len));
    bool same = true;
    for (int64_t i = 0; i < P.len; i++) {
        const float v = P.x[(size_t)i] + P.dy[(size_t)i];
        same &= memcmp(&v, &y[(size_t)i], sizeof(float)) == 0;
    }
    CHECK(same, "add");
}

static void softmax_ce(bool special) {
    int kk = rint_in(1, 12), rows = rint_in(1, 9);
    auto logits = floats((size_t)rows * kk, -5, 5);
    if (special) specials(logits);
    std::vector<int32_t> labels(rows);
    for (auto& l : labels) l = rint_in(0, kk - 1);
    std::vector<float> dl((size_t)rows * kk);
    float loss = -1.0f;
    OK(qat4j_softmax_ce_f32(logits.data(), labels.data(), 0.1f, dl.data(), rows, kk, &loss));
    if (!special) {
        CHECK(std::isfinite(loss) && loss >= 0, "softmax loss %g", loss);
        for (int r = 0; r < rows; r++) {  // each row's gradient sums to 0 (probabilities minus a distribution)
            double s = 0;
            for (int j = 0; j < kk; j++) s += dl[(size_t)r * kk + j];
            CHECK(fabs(s) < 1e-5, "softmax gradient row %d sums to %g", r, s);
        }
    }
}

static void sgd(const Planes& P) {
    auto param = floats((size_t)P.len), buf = floats((size_t)P.len);
    auto p0 = param, b0 = buf;
    const int nesterov = (int)(rng() & 1);
    OK(qat4j_sgd_f32(param.data(), P.dy.data(), buf.data(), P.len, 0.1f, 0.9f, 5e-4f, nesterov));
    bool same = true;  // the reference's float operations, bit for bit
    for (int64_t i = 0; i < P.len; i++) {
        const float g = P.dy[(size_t)i] + 5e-4f * p0[(size_t)i];
        const float b = 0.9f * b0[(size_t)i] + g;
        const float step = nesterov ? g + 0.9f * b : b;
        const float want = p0[(size_t)i] - 0.1f * step;
        same &= memcmp(&want, &param[(size_t)i], sizeof(float)) == 0 && memcmp(&b, &buf[(size_t)i], 4) == 0;
    }
    CHECK(same, "sgd nesterov %d", nesterov);
}

// Linear layers (OpenBLAS) against naive loops: y = x w^T + b, dx = dy w, dw = dy^T x.
static void linear(qat4j_op op) {
    int n = rint_in(1, 4), in = rint_in(1, 40), out = rint_in(1, 20);
    auto lx = floats((size_t)n * in), lw = floats((size_t)out * in), lb = floats(out), ldy = floats((size_t)n * out);
    const bool with_bias = rng() & 1;
    if (op == QAT4J_OP_LINEAR) {
        std::vector<float> ly((size_t)n * out);
        OK(qat4j_linear_f32(lx.data(), lw.data(), with_bias ? lb.data() : nullptr, ly.data(), n, in, out));
        for (int b = 0; b < n; b++)
            for (int o = 0; o < out; o++) {
                double s = with_bias ? lb[o] : 0.0;
                for (int i = 0; i < in; i++) s += (double)lx[(size_t)b * in + i] * lw[(size_t)o * in + i];
                CHECK(close_to(ly[(size_t)b * out + o], (float)s, 1e-4f * (1 + fabsf((float)s))), "linear");
            }
    } else if (op == QAT4J_OP_LINEAR_BACKWARD_DATA) {
        std::vector<float> ldx((size_t)n * in);
        OK(qat4j_linear_bwd_data_f32(ldy.data(), lw.data(), ldx.data(), n, in, out));
        for (int b = 0; b < n; b++)
            for (int i = 0; i < in; i++) {
                double s = 0;
                for (int o = 0; o < out; o++) s += (double)ldy[(size_t)b * out + o] * lw[(size_t)o * in + i];
                CHECK(close_to(ldx[(size_t)b * in + i], (float)s, 1e-4f * (1 + fabsf((float)s))), "linear bwd data");
            }
    } else {
        std::vector<float> ldw((size_t)out * in);
        OK(qat4j_linear_bwd_weight_f32(ldy.data(), lx.data(), ldw.data(), n, in, out));
        for (int o = 0; o < out; o++)
            for (int i = 0; i < in; i++) {
                double s = 0;
                for (int b = 0; b < n; b++) s += (double)ldy[(size_t)b * out + o] * lx[(size_t)b * in + i];
                CHECK(close_to(ldw[(size_t)o * in + i], (float)s, 1e-4f * (1 + fabsf((float)s))), "linear bwd weight");
            }
    }
}

// Requantization against requantize_one element by element.
static void requantize() {
    int n = rint_in(1, 3), c = rint_in(1, 8);
    int64_t inner = rint_in(1, 20), len = n * c * inner;
    std::vector<int32_t> acc((size_t)len), mult(c), shift(c), bias(c);
    for (auto& a : acc) a = (int32_t)(rng() & 0xFFFFFFFF);
    for (auto& m : mult) m = (int32_t)(rng() & 0x7FFFFFFF);
    for (auto& s : shift) s = rint_in(0, 62);
    for (auto& b : bias) b = (int32_t)(rng() & 0xFFFFFFFF);
    const int rounding = rint_in(QAT4J_ROUND_HALF_EVEN, QAT4J_ROUND_FLOOR);
    const int out_bytes = (rng() & 1) ? QAT4J_OUT_INT8 : QAT4J_OUT_INT32;
    const bool o8bit = out_bytes == QAT4J_OUT_INT8, with_bias = rng() & 1, per_tensor = rng() & 1;
    int qmin = o8bit ? -128 : INT32_MIN, qmax = o8bit ? 127 : INT32_MAX;
    std::vector<int32_t> o32((size_t)len);
    std::vector<int8_t> o8((size_t)len);
    OK(qat4j_requantize_s32(acc.data(), mult.data(), shift.data(), with_bias ? bias.data() : nullptr, per_tensor,
                            rounding, qmin, qmax, o8bit ? (void*)o8.data() : (void*)o32.data(), out_bytes, len, c,
                            inner));
    bool same = true;
    for (int64_t i = 0; i < len; i++) {
        const int ch = per_tensor ? 0 : (int)((i / inner) % c);
        const int64_t y = qat4j::requantize_one(acc[(size_t)i], mult[ch], shift[ch], with_bias ? bias[ch] : 0,
                                                rounding, qmin, qmax);
        same &= (o8bit ? (int64_t)o8[(size_t)i] : (int64_t)o32[(size_t)i]) == y;
    }
    CHECK(same, "requantize rounding %d", rounding);
}

// The integer model's epilogue against div_pow2 element by element (the kernel's half-to-even path is inline),
// inside the headroom Backend.requantizeResidual enforces: |acc * m| + |res * rm| + |b| < 2^62.
static void requantize_residual(int max_isa) {
    int n = rint_in(1, 3), c = rint_in(1, 8);
    int64_t inner = rint_in(1, 40), len = n * c * inner;
    int kind = rint_in(0, 3), rounding = rint_in(0, 4), out_bytes = (rng() & 1) ? QAT4J_OUT_INT8 : QAT4J_OUT_INT32;
    bool ties = rng() & 1;
    std::vector<int32_t> acc((size_t)len), mult(c), shift(c), res_mult(c), res32((size_t)len);
    std::vector<int64_t> bias(c);
    std::vector<uint8_t> res8((size_t)len);
    for (int i = 0; i < c; i++) {
        shift[i] = ties ? rint_in(0, 30) : rint_in(0, 62);
        mult[i] = ties ? (1 << (shift[i] > 0 ? shift[i] - 1 : 0)) : (int32_t)(rng() & 0x3FFFFFFF) - (1 << 29);
        res_mult[i] = (int32_t)(rng() & 0xFFFFF) - (1 << 19);
        bias[i] = ties ? 0 : (int64_t)(rng() & 0xFFFFFFFFFFULL) - ((int64_t)1 << 39);
    }
    for (int64_t i = 0; i < len; i++) {
        acc[(size_t)i] = ties ? rint_in(-9, 9) : (int32_t)(rng() & 0xFFFFFFFF);
        res8[(size_t)i] = (uint8_t)(rng() & 0xFF);
        res32[(size_t)i] = (int32_t)(rng() & 0xFFFFF) - (1 << 19);
    }
    const void* res = kind == QAT4J_RESIDUAL_NONE    ? nullptr
                      : kind == QAT4J_RESIDUAL_INT32 ? (const void*)res32.data()
                                                     : (const void*)res8.data();
    const bool o8bit = out_bytes == QAT4J_OUT_INT8;
    int qmin = o8bit ? -128 : -1000000, qmax = o8bit ? 127 : 1000000;
    for (int isa = 0; isa <= max_isa; isa++) {  // the AVX-512 variant (HALF_EVEN) and the scalar loop
        std::vector<int32_t> o32((size_t)len);
        std::vector<int8_t> o8((size_t)len);
        OK(qat4j_requantize_residual_s32(acc.data(), res, kind, mult.data(), shift.data(), bias.data(),
                                         res_mult.data(), rounding, qmin, qmax,
                                         o8bit ? (void*)o8.data() : (void*)o32.data(), out_bytes, len, c, inner, isa));
        bool same = true;
        for (int64_t i = 0; i < len; i++) {
            int ch = (int)((i / inner) % c);
            int64_t v = (int64_t)acc[(size_t)i] * mult[ch] + bias[ch];
            if (kind == QAT4J_RESIDUAL_INT8) v += (int64_t)(int8_t)res8[(size_t)i] * res_mult[ch];
            if (kind == QAT4J_RESIDUAL_UINT8) v += (int64_t)res8[(size_t)i] * res_mult[ch];
            if (kind == QAT4J_RESIDUAL_INT32) v += (int64_t)res32[(size_t)i] * res_mult[ch];
            int64_t y = qat4j::div_pow2(v, shift[ch], rounding);
            y = y < qmin ? qmin : (y > qmax ? qmax : y);
            same &= (o8bit ? (int64_t)o8[(size_t)i] : (int64_t)o32[(size_t)i]) == y;
        }
        CHECK(same, "requantize_residual isa %d kind %d rounding %d ties %d", isa, kind, rounding, (int)ties);
    }
}

// Batch assembly: every output value against the crop/flip/lookup written out per pixel, random sizes and plans.
static void augment_batch() {
    const int c = rint_in(1, 4), h = rint_in(1, 9), w = rint_in(1, 9), padding = rint_in(0, 4);
    const int images = rint_in(1, 6), count = rint_in(1, 9);
    std::vector<uint8_t> x((size_t)images * c * h * w);
    for (auto& v : x) v = (uint8_t)(rng() & 0xFF);
    std::vector<int32_t> labels(images), index(count), top(count), left(count), out_labels(count);
    std::vector<uint8_t> flip(count);
    for (auto& l : labels) l = rint_in(0, 9);
    for (int i = 0; i < count; i++) {
        index[i] = rint_in(0, images - 1);
        top[i] = rint_in(0, 2 * padding);
        left[i] = rint_in(0, 2 * padding);
        flip[i] = (uint8_t)(rng() & 1);
    }
    auto table = floats((size_t)c * 256);
    std::vector<float> out((size_t)count * c * h * w);
    OK(qat4j_augment_batch_u8(x.data(), labels.data(), c, h, w, index.data(), top.data(), left.data(), flip.data(),
                              count, padding, table.data(), out.data(), out_labels.data()));
    bool same = true;
    for (int i = 0; i < count; i++) {
        same &= out_labels[i] == labels[index[i]];
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int xx = 0; xx < w; xx++) {
                    const int py = y + top[i], px = (flip[i] ? w - 1 - xx : xx) + left[i];  // in the padded image
                    const bool inside = py >= padding && py < h + padding && px >= padding && px < w + padding;
                    const int v = inside ? x[(((size_t)index[i] * c + ch) * h + py - padding) * w + px - padding] : 0;
                    same &= out[(((size_t)i * c + ch) * h + y) * w + xx] == table[(size_t)ch * 256 + v];
                }
    }
    CHECK(same, "augment_batch c %d h %d w %d padding %d", c, h, w, padding);
}

// Confusion counts: every row lands once, on its label's row, at its first largest logit (NaN never wins).
static void accumulate_confusion(bool special) {
    const int n = rint_in(1, 20), k = rint_in(1, 7);
    auto logits = floats((size_t)n * k, -3, 3);
    if (special) specials(logits);
    std::vector<int32_t> labels(n);
    for (auto& l : labels) l = rint_in(0, k - 1);
    std::vector<float> counts((size_t)k * k, 0.0f), want((size_t)k * k, 0.0f);
    OK(qat4j_accumulate_confusion(logits.data(), labels.data(), n, k, counts.data()));
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int j = 1; j < k; j++) {
            const float v = logits[(size_t)i * k + j], b = logits[(size_t)i * k + best];
            if (v > b || (std::isnan(b) && !std::isnan(v))) best = j;
        }
        want[(size_t)labels[i] * k + best] += 1.0f;
    }
    CHECK(counts == want, "accumulate_confusion n %d k %d", n, k);
}

// sgdSteps' per-tensor kernel: qat4j_sgd_f32's values bit for bit, and the flag set exactly when a value is not finite.
static void sgd_checked(const Planes& P, bool special) {
    std::vector<float> p1 = P.x, b1((size_t)P.len, 0.25f), p2 = P.x, b2((size_t)P.len, 0.25f);
    const float lr = special ? 3e38f : 0.1f;  // special: updates that overflow
    float flag = 0.0f;
    OK(qat4j_sgd_f32(p1.data(), P.dy.data(), b1.data(), P.len, lr, 0.9f, 5e-4f, 0));
    OK(qat4j_sgd_checked_f32(p2.data(), P.dy.data(), b2.data(), P.len, lr, 0.9f, 5e-4f, 0, &flag));
    bool same = memcmp(p1.data(), p2.data(), p1.size() * sizeof(float)) == 0 &&
                memcmp(b1.data(), b2.data(), b1.size() * sizeof(float)) == 0;
    bool any_bad = false;
    for (float v : p2) any_bad |= !std::isfinite(v);
    CHECK(same, "sgd_checked values");
    CHECK((flag == 1.0f) == any_bad, "sgd_checked flag %g, non-finite values: %d", flag, (int)any_bad);
}

// One op's checks, with one case per op of qat4j_ops.inc and no default (-Werror=switch).
static void drive(qat4j_op op, int max_isa, bool special) {
    current_op = op;
    switch (op) {
        case QAT4J_OP_CONV2D:
            conv_f32(max_isa, op);
            grid_conv(max_isa, special);  // the forward conv of two quantized operands (CpuBackend.doConv2d)
            sgemm(max_isa);               // the implicit GEMM under the float convs, on its own
            return;
        case QAT4J_OP_CONV2D_BACKWARD_DATA: conv_f32(max_isa, op); return;
        case QAT4J_OP_CONV2D_BACKWARD_WEIGHT:
            conv_f32(max_isa, op);
            sgemm_nt(max_isa);  // the weight gradient's GEMM, every element on its own
            return;
        case QAT4J_OP_BIAS_BACKWARD: bias_bwd(planes(special)); return;
        case QAT4J_OP_LINEAR:
        case QAT4J_OP_LINEAR_BACKWARD_DATA:
        case QAT4J_OP_LINEAR_BACKWARD_WEIGHT: linear(op); return;
        case QAT4J_OP_BATCH_NORM2D_TRAIN: batch_norm(max_isa, planes(special), false, special); return;
        case QAT4J_OP_BATCH_NORM2D_EVAL: batch_norm_eval(planes(special), special); return;
        case QAT4J_OP_BATCH_NORM2D_BACKWARD: batch_norm(max_isa, planes(special), true, special); return;
        case QAT4J_OP_RELU: clamp_fwd(planes(special), INFINITY); return;
        case QAT4J_OP_RELU6: clamp_fwd(planes(special), 6.0f); return;
        case QAT4J_OP_RELU_BACKWARD: clamp_bwd(max_isa, planes(special), INFINITY); return;
        case QAT4J_OP_RELU6_BACKWARD: clamp_bwd(max_isa, planes(special), 6.0f); return;
        case QAT4J_OP_AVG_POOL2D: avg_pool(planes(special), false); return;
        case QAT4J_OP_AVG_POOL2D_BACKWARD: avg_pool(planes(false), true); return;
        case QAT4J_OP_ADAPTIVE_AVG_POOL2D: adaptive_pool(planes(special), false, special); return;
        case QAT4J_OP_ADAPTIVE_AVG_POOL2D_BACKWARD: adaptive_pool(planes(special), true, special); return;
        case QAT4J_OP_ADD: add(planes(special)); return;
        case QAT4J_OP_SOFTMAX_CROSS_ENTROPY: softmax_ce(special); return;
        case QAT4J_OP_SGD_STEP: sgd(planes(special)); return;
        case QAT4J_OP_ACT_QUANT: act_quant_fwd(max_isa, special); return;
        case QAT4J_OP_ACT_QUANT_BACKWARD: act_quant_backward(max_isa, special); return;
        case QAT4J_OP_WEIGHT_QUANT: weight_quant(special, false); return;
        case QAT4J_OP_WEIGHT_QUANT_BACKWARD: weight_quant(special, true); return;
        case QAT4J_OP_CONV2D_INT:
            conv_s8(max_isa);
            conv_s8_wide(max_isa);  // the VNNI implicit GEMM's layout edge cases
            int_program(max_isa);   // the whole-forward program built on it
            return;
        case QAT4J_OP_GEMM_INT: gemm_s8(max_isa); return;
        case QAT4J_OP_REQUANTIZE: requantize(); return;
        case QAT4J_OP_REQUANTIZE_RESIDUAL: requantize_residual(max_isa); return;
        case QAT4J_OP_AUGMENT_BATCH: augment_batch(); return;
        case QAT4J_OP_ACCUMULATE_CONFUSION: accumulate_confusion(special); return;
        case QAT4J_OP_SGD_STEPS: sgd_checked(planes(special), special); return;
        case QAT4J_OP_COUNT: return;  // not an op: the enum's size
    }
}

int main(int argc, char** argv) {
    int iters = argc > 1 ? atoi(argv[1]) : 300;
    rng.seed(argc > 2 ? strtoull(argv[2], nullptr, 10) : 1);
    int max_isa = qat4j_cpu_max_isa();
    qat4j_set_num_threads(2);
    printf("kernel_driver: %d iterations, ISA levels 0..%d (%s)\n", iters, max_isa, qat4j_isa_name(max_isa));
    for (int it = 0; it < iters; it++) {
        const bool special = it % 3 == 2;
        for (int op = 0; op < QAT4J_OP_COUNT; op++) drive((qat4j_op)op, max_isa, special);
    }
    // sizes that cross the parallel thresholds once
    {
        std::vector<float> w = floats(1 << 16), wq(1 << 16), dw(1 << 16), g = floats(1 << 16);
        specials(w);
        current_op = QAT4J_OP_WEIGHT_QUANT;
        OK(qat4j_weight_quant_f32(w.data(), wq.data(), (int64_t)w.size(), 4));
        current_op = QAT4J_OP_WEIGHT_QUANT_BACKWARD;
        OK(qat4j_weight_quant_bwd_f32(g.data(), w.data(), dw.data(), (int64_t)w.size(), 4));
        current_op = QAT4J_OP_ACT_QUANT;
        std::vector<float> y(1 << 16);
        for (int isa = 0; isa <= max_isa; isa++)
            OK(qat4j_act_quant_f32(w.data(), y.data(), (int64_t)w.size(), QAT4J_ACT_MPACT, 8, 2.0f, 0, isa));
        current_op = QAT4J_OP_ACT_QUANT_BACKWARD;
        for (int kind = QAT4J_ACT_PACT; kind <= QAT4J_ACT_DOREFA; kind++)
            act_quant_bwd(max_isa, g, w, (int64_t)w.size() - 3, kind, 8, 1.5f);
        Planes big;
        big.n = 5, big.c = 3, big.h = big.w = 67, big.hw = 67 * 67, big.len = 5 * 3 * 67 * 67;
        big.x = floats((size_t)big.len), big.dy = floats((size_t)big.len);
        current_op = QAT4J_OP_BATCH_NORM2D_TRAIN;
        batch_norm(max_isa, big, false, false);
        current_op = QAT4J_OP_BATCH_NORM2D_BACKWARD;
        batch_norm(max_isa, big, true, false);
        current_op = QAT4J_OP_RELU6_BACKWARD;
        clamp_bwd(max_isa, big, 6.0f);
    }
    // Out of memory is a status, not the end of the process: K = 2^58 asks the SIMD GEMMs for a 2^60-byte packed A
    // (more than any address space), refused before A or B is read (ASan: allocator_may_return_null=1).
    current_op = QAT4J_OP_GEMM_INT;
    for (int isa = QAT4J_ISA_AVX2; isa <= max_isa; isa++) {
        int8_t a = 1;
        uint8_t b = 1;
        int32_t c = 0;
        const int st = qat4j_gemm_s8_s32(1, 1, (int64_t)1 << 58, &a, &b, 0, &c, isa);
        CHECK(st == QAT4J_ERR_NO_MEMORY, "gemm_s8 isa %d with K = 2^58: status %d", isa, st);
    }
    for (int op = 0; op < QAT4J_OP_COUNT; op++) printf("  %-28s %8ld checks\n", qat4j_op_name(op), op_checks[op]);
    printf("kernel_driver: %ld checks, %d mismatches\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
