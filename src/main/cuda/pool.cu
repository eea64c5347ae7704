// nvcc: --fmad=false (cppbuild.sh reads this line)
// Average pooling and adaptive average pooling, forward and backward (the backwards gather, per input element, the
// windows that contain it: no atomics). Built with --fmad=false, as everything from the former ops.cu.
#include "qat4j_cuda.h"
#include "cuda_common.cuh"
#include "../cpp/quant_common.h"

namespace {

using qc::kThreads;
using qc::grid;

// ---------------------------------------------------------------- pooling

__global__ void avg_pool_kernel(const float* x, float* y, int nc, int h, int w, int k, int stride, int pad, int oh,
                                int ow) {
    const float inv = (float)(1.0 / ((double)k * k));  // k * k overflows int from k = 46341
    QC_GRID_STRIDE(i, (int64_t)nc * oh * ow) {
        const int ox = (int)(i % ow), oy = (int)((i / ow) % oh);
        const int64_t p = i / ((int64_t)ow * oh);
        const float* in = x + p * h * w;
        float s = 0.0f;
        for (int ky = 0; ky < k; ky++) {
            const int iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= h) continue;
            for (int kx = 0; kx < k; kx++) {
                const int ix = ox * stride - pad + kx;
                if (ix >= 0 && ix < w) s += in[(int64_t)iy * w + ix];
            }
        }
        y[i] = s * inv;
    }
}

// Gathers, per input element, the windows that contain it (no atomics).
__global__ void avg_pool_bwd_kernel(const float* dy, float* dx, int nc, int h, int w, int k, int stride, int pad,
                                    int oh, int ow) {
    const float inv = (float)(1.0 / ((double)k * k));  // k * k overflows int from k = 46341
    QC_GRID_STRIDE(i, (int64_t)nc * h * w) {
        const int ix = (int)(i % w), iy = (int)((i / w) % h);
        const int64_t p = i / ((int64_t)w * h);
        const float* g = dy + p * oh * ow;
        float s = 0.0f;
        for (int ky = 0; ky < k; ky++) {
            const int ty = iy + pad - ky;
            if (ty < 0 || ty % stride) continue;
            const int oy = ty / stride;
            if (oy >= oh) continue;
            for (int kx = 0; kx < k; kx++) {
                const int tx = ix + pad - kx;
                if (tx < 0 || tx % stride) continue;
                const int ox = tx / stride;
                if (ox < ow) s += g[(int64_t)oy * ow + ox] * inv;
            }
        }
        dx[i] = s;
    }
}

// torch's adaptive windows [floor(i*in/out), ceil((i+1)*in/out)), as the cpu backend.
__device__ inline int ad_start(int i, int in, int out) { return (int)((int64_t)i * in / out); }
__device__ inline int ad_end(int i, int in, int out) { return (int)(((int64_t)(i + 1) * in + out - 1) / out); }

__global__ void adaptive_avg_pool_kernel(const float* x, float* y, int nc, int h, int w, int oh, int ow) {
    QC_GRID_STRIDE(i, (int64_t)nc * oh * ow) {
        const int ox = (int)(i % ow), oy = (int)((i / ow) % oh);
        const int64_t p = i / ((int64_t)ow * oh);
        const float* in = x + p * h * w;
        const int y0 = ad_start(oy, h, oh), y1 = ad_end(oy, h, oh);
        const int x0 = ad_start(ox, w, ow), x1 = ad_end(ox, w, ow);
        double s = 0.0;
        for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++) s += in[(int64_t)iy * w + ix];
        y[i] = (float)(s / ((y1 - y0) * (x1 - x0)));
    }
}

__global__ void adaptive_avg_pool_bwd_kernel(const float* dy, float* dx, int nc, int h, int w, int oh, int ow) {
    QC_GRID_STRIDE(i, (int64_t)nc * h * w) {
        const int ix = (int)(i % w), iy = (int)((i / w) % h);
        const int64_t p = i / ((int64_t)w * h);
        const float* g = dy + p * oh * ow;
        float s = 0.0f;
        for (int oy = 0; oy < oh; oy++) {
            const int y0 = ad_start(oy, h, oh), y1 = ad_end(oy, h, oh);
            if (iy < y0 || iy >= y1) continue;
            for (int ox = 0; ox < ow; ox++) {
                const int x0 = ad_start(ox, w, ow), x1 = ad_end(ox, w, ow);
                if (ix < x0 || ix >= x1) continue;
                s += (float)(g[(int64_t)oy * ow + ox] / (double)((y1 - y0) * (x1 - x0)));
            }
        }
        dx[i] = s;
    }
}
}  // namespace

// ---------------------------------------------------------------- C ABI

using qc::ptr;

extern "C" int qc_avg_pool_f32(int64_t x, int64_t y, int nc, int h, int w, int k, int stride, int pad) {
    QC_PROFILE(QAT4J_OP_AVG_POOL2D);
    const int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    const int64_t len = (int64_t)nc * oh * ow;
    if (len <= 0) return 0;
    avg_pool_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<float>(x), ptr<float>(y), nc, h, w, k, stride, pad,
                                                              oh, ow);
    return qc::launched();
}

extern "C" int qc_avg_pool_bwd_f32(int64_t dy, int64_t dx, int nc, int h, int w, int k, int stride, int pad) {
    QC_PROFILE(QAT4J_OP_AVG_POOL2D_BACKWARD);
    const int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    const int64_t len = (int64_t)nc * h * w;
    if (len <= 0) return 0;
    avg_pool_bwd_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<float>(dy), ptr<float>(dx), nc, h, w, k, stride,
                                                                  pad, oh, ow);
    return qc::launched();
}

extern "C" int qc_adaptive_avg_pool_f32(int64_t x, int64_t y, int nc, int h, int w, int oh, int ow) {
    QC_PROFILE(QAT4J_OP_ADAPTIVE_AVG_POOL2D);
    const int64_t len = (int64_t)nc * oh * ow;
    if (len <= 0) return 0;
    adaptive_avg_pool_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<float>(x), ptr<float>(y), nc, h, w, oh, ow);
    return qc::launched();
}

extern "C" int qc_adaptive_avg_pool_bwd_f32(int64_t dy, int64_t dx, int nc, int h, int w, int oh, int ow) {
    QC_PROFILE(QAT4J_OP_ADAPTIVE_AVG_POOL2D_BACKWARD);
    const int64_t len = (int64_t)nc * h * w;
    if (len <= 0) return 0;
    adaptive_avg_pool_bwd_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<float>(dy), ptr<float>(dx), nc, h, w,
                                                                           oh, ow);
    return qc::launched();
}
