// qat4j native kernels: the flat C ABI that JavaCPP binds (dev.qat4j.backend.cpu.NativeKernels).
// Every function takes plain pointers and sizes: callers (the Java Backend boundary) have validated them.
// ISA variants of a kernel sit side by side; one dispatch table is filled once from CPUID (cpu_features.cpp).
#ifndef QAT4J_KERNELS_H
#define QAT4J_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ISA levels, widest last. QAT4J_ISA_AUTO picks the widest the CPU has.
#define QAT4J_ISA_AUTO       -1
#define QAT4J_ISA_SCALAR      0
#define QAT4J_ISA_AVX2        1
#define QAT4J_ISA_AVX512VNNI  2

// Activation quantizer kinds, same order as dev.qat4j.quant.ActQuantizer.Kind.
#define QAT4J_ACT_PACT        0
#define QAT4J_ACT_MPACT       1
#define QAT4J_ACT_FIXED_CLIP  2
#define QAT4J_ACT_DOREFA      3

// The compute ops, numbered as in qat4j_ops.inc (and the Java enum dev.qat4j.backend.Op).
enum qat4j_op {
#define QAT4J_OP(id, name) QAT4J_OP_##id,
#include "qat4j_ops.inc"
#undef QAT4J_OP
    QAT4J_OP_COUNT
};
int qat4j_op_count(void);
// The Backend method name of an op ("" outside 0..QAT4J_OP_COUNT-1).
const char* qat4j_op_name(int op);

// Widest ISA level this CPU (and OS, for the AVX state) supports.
int qat4j_cpu_max_isa(void);
// The level the dispatch table uses (the widest, or QAT4J_ISA env override clamped to what exists).
int qat4j_cpu_active_isa(void);
const char* qat4j_isa_name(int isa);
// Threads the OpenMP kernels use.
int qat4j_num_threads(void);
void qat4j_set_num_threads(int n);
// Keeps freed large blocks in the process heap instead of returning them to the OS (glibc mallopt); 1 if applied.
int qat4j_retain_freed_memory(void);

// Fake-quantize n activations: y[i] = value(code(x[i])) exactly as ActQuantizer.fakeQuant (bits <= 16).
// isa: QAT4J_ISA_AUTO or a level <= qat4j_cpu_max_isa() (tests run every level the CPU has).
void qat4j_act_quant_f32(const float* x, float* y, int64_t n, int kind, int bits, float alpha,
                         float fixed_clip, int isa);


// ---------------------------------------------------------------- float convolution and linear (conv_f32.cpp)
// Geometry: x [n, c, h, w], weights [co, c/groups, kh, kw], y [n, co, oh, ow], oh = (h + 2ph - kh)/sh + 1.
// Every conv (dense, grouped, depthwise) is an implicit GEMM over a padded copy of each image, threads over the
// batch (conv_f32.cpp).
// isa selects the sgemm variant (QAT4J_ISA_AUTO or a level <= qat4j_cpu_max_isa()).
void qat4j_conv2d_f32(const float* x, const float* wt, const float* bias, float* y, int n, int c, int h, int w,
                      int co, int kh, int kw, int sh, int sw, int ph, int pw, int groups, int isa);
void qat4j_conv2d_bwd_data_f32(const float* dy, const float* wt, float* dx, int n, int c, int h, int w,
                               int co, int kh, int kw, int sh, int sw, int ph, int pw, int groups, int isa);
void qat4j_conv2d_bwd_weight_f32(const float* dy, const float* x, float* dw, int n, int c, int h, int w,
                                 int co, int kh, int kw, int sh, int sw, int ph, int pw, int groups, int isa);
// y [n, out] = x [n, in] * w[out, in]^T (+ bias); dx = dy * w; dw = dy^T * x.
void qat4j_linear_f32(const float* x, const float* wt, const float* bias, float* y, int n, int in, int out);
void qat4j_linear_bwd_data_f32(const float* dy, const float* wt, float* dx, int n, int in, int out);
void qat4j_linear_bwd_weight_f32(const float* dy, const float* x, float* dw, int n, int in, int out);

// Implicit GEMMs of the convolutions (sgemm_f32.cpp), single-threaded; row k of B starts at B + off[k].
// A is packed once by qat4j_sgemm_pack_a_f32 into qat4j_sgemm_packed_a_floats(M, K) floats.
int64_t qat4j_sgemm_packed_a_floats(int64_t M, int64_t K);
void qat4j_sgemm_pack_a_f32(int64_t M, int64_t K, const float* A, int64_t lda, float* Ap);
// C[M,N] (row stride ldc) = A[M,K] x B_k[n], reading B + off[k] + n for n < N only.
void qat4j_sgemm_off_nn_f32(int64_t M, int64_t N, int64_t K, const float* Ap, const float* B, const int64_t* off,
                            float* C, int64_t ldc, int isa);
// C[M,N] += sum_{q<Q} A[m*lda + q] * B[off[n] + q].
void qat4j_sgemm_off_nt_acc_f32(int64_t M, int64_t N, int64_t Q, const float* A, int64_t lda, const float* B,
                                const int64_t* off, float* C, int64_t ldc, int isa);
// C[M,N] = A[M,K] * B[K,N] (row-major, leading dimensions given), single-threaded; for the conv panels (sgemm_f32.cpp).
void qat4j_sgemm_nn_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                        float* C, int64_t ldc, int isa);
// C[M,N] += A[M,K] * B[N,K]^T (row-major), single-threaded; the conv weight gradient's panels (sgemm_f32.cpp).
void qat4j_sgemm_nt_acc_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                            int64_t ldb, float* C, int64_t ldc, int isa);

// ---------------------------------------------------------------- other float ops (ops_f32.cpp)
// isa (where taken): QAT4J_ISA_AUTO or a level <= qat4j_cpu_max_isa(); the AVX-512 variants need AVX512VNNI's level.
void qat4j_bias_bwd_f32(const float* dy, float* db, int n, int c, int64_t inner);
void qat4j_bn_train_f32(const float* x, const float* gamma, const float* beta, float* running_mean,
                        float* running_var, float momentum, float eps, float* y, float* mean, float* inv_std,
                        int n, int c, int64_t hw, int isa);
void qat4j_bn_eval_f32(const float* x, const float* gamma, const float* beta, const float* running_mean,
                       const float* running_var, float eps, float* y, int n, int c, int64_t hw);
void qat4j_bn_bwd_f32(const float* dy, const float* x, const float* gamma, const float* mean, const float* inv_std,
                      float* dx, float* dgamma, float* dbeta, int n, int c, int64_t hw, int isa);
void qat4j_clamp_f32(const float* x, float* y, int64_t len, float lo, float hi);
// dx = dy where lo < x < hi (open interval), else 0.
void qat4j_clamp_bwd_f32(const float* dy, const float* x, float* dx, int64_t len, float lo, float hi, int isa);
void qat4j_add_f32(const float* a, const float* b, float* y, int64_t len);
void qat4j_avg_pool_f32(const float* x, float* y, int nc, int h, int w, int k, int stride, int pad);
void qat4j_avg_pool_bwd_f32(const float* dy, float* dx, int nc, int h, int w, int k, int stride, int pad);
void qat4j_adaptive_avg_pool_f32(const float* x, float* y, int nc, int h, int w, int oh, int ow);
void qat4j_adaptive_avg_pool_bwd_f32(const float* dy, float* dx, int nc, int h, int w, int oh, int ow);
// Returns the mean loss; writes the gradient of the mean loss. labels are in 0..k-1 (checked by the caller).
float qat4j_softmax_ce_f32(const float* logits, const int32_t* labels, float smoothing, float* dlogits, int n, int k);
void qat4j_sgd_f32(float* param, const float* grad, float* buf, int64_t len, float lr, float momentum,
                   float weight_decay, int nesterov);
// Activation quantizer backward: dx = dy * dy/dx (STE), returns sum(dy * dy/dalpha).
float qat4j_act_quant_bwd_f32(const float* dy, const float* x, float* dx, int64_t len, int kind, int bits,
                              float alpha, float fixed_clip, int isa);
// DoReFa weight quantizer (per tensor) and its backward; bits 1..16 or 32.
void qat4j_weight_quant_f32(const float* w, float* wq, int64_t len, int bits);
void qat4j_weight_quant_bwd_f32(const float* g, const float* w, float* dw, int64_t len, int bits);

// ---------------------------------------------------------------- integer ops (gemm_s8.cpp, conv_s8.cpp, int_ops.cpp)
// C[M,N] (int32) = A[M,K] (int8) x B[K,N] (uint8, or int8 when b_signed), exact (K*255*128 < 2^31).
void qat4j_gemm_s8_s32(int64_t M, int64_t N, int64_t K, const int8_t* A, const uint8_t* B, int b_signed,
                       int32_t* C, int isa);
// Integer conv of codes (zero padding): x bytes (uint8 or int8 when x_signed), w int8, acc int32 [n, co, oh, ow].
void qat4j_conv2d_s8_s32(const uint8_t* x, int x_signed, const int8_t* wt, int32_t* acc, int n, int c, int h, int w,
                         int co, int kh, int kw, int sh, int sw, int ph, int pw, int groups, int isa);
// The AVX-512 VNNI variant of qat4j_conv2d_s8_s32 (implicit GEMM, conv_s8.cpp); only on a CPU with VNNI, no
// depthwise special case. qat4j_conv2d_s8_s32 calls it for isa >= QAT4J_ISA_AVX512VNNI. Returns 0, having done
// nothing, when its padded copy of an image would be far larger than the image (huge pads or strides). With y
// non-null it writes y = (float) acc * y_scale instead of acc (the grid conv's output, grid_conv.cpp).
int qat4j_conv2d_s8_s32_vnni(const uint8_t* x, int x_signed, const int8_t* wt, int32_t* acc, int n, int c, int h,
                              int w, int co, int kh, int kw, int sh, int sw, int ph, int pw, int groups, float* y,
                              float y_scale);
// out = clamp(round((acc * mult[ch] + bias[ch]) / 2^shift[ch]), qmin, qmax); ch = (i / inner) % channels,
// or 0 for all when per_tensor. rounding: the order of dev.qat4j.quant.Rounding. out_bytes: 0 int32, 1 int8/uint8.
void qat4j_requantize_s32(const int32_t* acc, const int32_t* mult, const int32_t* shift, const int32_t* bias,
                          int per_tensor, int rounding, int qmin, int qmax, void* out, int out_bytes,
                          int64_t len, int channels, int64_t inner);
// The integer model's epilogue: out = clamp(round((acc * mult[ch] + res * res_mult[ch] + bias[ch]) / 2^shift[ch]),
// qmin, qmax), ch = (i / inner) % channels; residual_kind 0 none, 1 int8, 2 uint8, 3 int32; the caller guarantees
// |sum| < 2^62 (Backend.requantizeResidual checks it from the dtypes). isa: AVX-512 (8 int64 lanes) for HALF_EVEN,
// else the scalar loop; the same bits either way.
void qat4j_requantize_residual_s32(const int32_t* acc, const void* residual, int residual_kind, const int32_t* mult,
                                   const int32_t* shift, const int64_t* bias, const int32_t* res_mult, int rounding,
                                   int qmin, int qmax, void* out, int out_bytes, int64_t len, int channels,
                                   int64_t inner, int isa);
// Forward conv of two quantized tensors (grid_conv.cpp): x = code * x_step with codes in [x_min, x_max] (bytes,
// signed when x_signed), w = code * w_step with codes in [w_min, w_max] (int8); y = (float) int_conv * (x_step *
// w_step) + bias. Returns 1 when done; 0, with y untouched, when a value is off its grid (NaN, inf, code out of range)
// or the code buffers cannot be allocated: the caller then runs the float conv.
int qat4j_conv2d_grid_f32(const float* x, float x_step, int x_signed, int x_min, int x_max, const float* wt,
                          float w_step, int w_min, int w_max, const float* bias, float* y, int n, int c, int h, int w,
                          int co, int kh, int kw, int sh, int sw, int ph, int pw, int groups, int isa);

#ifdef __cplusplus
}
#endif

#endif
