// Flat C ABI of the CUDA kernels (libqat4j_cuda.so, built by `cppbuild.sh cuda` with nvcc), bound to Java by
// dev.qat4j.backend.cuda.CudaKernels through JavaCPP.
//
// Device memory is passed as 64-bit addresses (int64_t) that qc_malloc returned; host arrays as plain pointers.
// Everything runs asynchronously on one stream owned by the library, in call order, so no op needs a host round
// trip: only qc_d2h and qc_sync wait. Functions return 0 or a cudaError_t code (qc_error_string explains it); a
// kernel fault can surface at a later call, as in any CUDA program.
//
// Raw and unchecked like the cpu ABI: callers (CudaBackend) validate shapes, dtypes and sizes first.
// Geometry follows the cpu header: x [n,c,h,w], weights [co,c/groups,kh,kw], NCHW everywhere.
//
// Sources, one file per op family (forward and backward together): conv.cu, linear.cu (on the GEMM core gemm.cuh),
// batch_norm.cu (and the bias gradient), elementwise.cu, pool.cu, loss_sgd.cu, quant.cu, int_ops.cu; runtime.cu
// holds the device, stream, memory and profiling; cuda_common.cuh the helpers they share.
#ifndef QAT4J_CUDA_H
#define QAT4J_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Values crossing this ABI, named; CudaBackend maps its Java enums onto them with exhaustive switches.
// Activation quantizer kinds (`kind`): the QAT4J_ACT_* of src/main/cpp/qat4j_kernels.h (runtime.cu asserts they agree).
#define QC_ACT_PACT        0
#define QC_ACT_MPACT       1
#define QC_ACT_FIXED_CLIP  2
#define QC_ACT_DOREFA      3
// Rounding of the requantization (`rounding`): the modes of qat4j::div_pow2 in src/main/cpp/quant_common.h.
#define QC_ROUND_HALF_EVEN            0
#define QC_ROUND_HALF_UP              1
#define QC_ROUND_HALF_AWAY_FROM_ZERO  2
#define QC_ROUND_TOWARD_ZERO          3
#define QC_ROUND_FLOOR                4
// The status an op returns when device memory (its output or its scratch) cannot be allocated: cudaErrorMemoryAllocation.
#define QC_ERROR_OUT_OF_MEMORY  2

// ---------------------------------------------------------------- runtime
// Initialises device 0 and the library's stream (once); 0 if a GPU is usable, else the CUDA error code.
int qc_init(void);
// Number of visible devices (0 without a driver or GPU).
int qc_device_count(void);
// Name and compute capability of device 0, e.g. "NVIDIA H100 80GB HBM3 (sm_90)"; empty before qc_init succeeded.
const char* qc_device_name(void);
const char* qc_error_string(int code);
// The error of the last failed call on this thread (qc_malloc returns 0 on failure).
int qc_last_error(void);

// Stream-ordered allocation from the device's memory pool (kept cached; freeing never synchronises).
int64_t qc_malloc(int64_t bytes);
int qc_free(int64_t ptr);
int qc_memset0(int64_t ptr, int64_t bytes);
int qc_memcpy_d2d(int64_t dst, int64_t src, int64_t bytes);
// Host <-> device copies; both return when the host buffer may be reused (d2h: once the data has arrived).
int qc_h2d(int64_t dst, const void* src, int64_t bytes);
int qc_d2h(void* dst, int64_t src, int64_t bytes);
// Profiling: with it on, every op below is timed with CUDA events; the report (waits for the GPU) lists GPU time
// per op since the last report, largest first, under the op's Backend method name from src/main/cpp/qat4j_ops.inc.
// For benchmarks, not for production runs.
void qc_profile_enable(int on);
const char* qc_profile_report(void);

// Waits for every queued op; returns the first asynchronous error, if any.
int qc_sync(void);

// ---------------------------------------------------------------- float convolution and linear
int qc_conv2d_f32(int64_t x, int64_t wt, int64_t bias, int64_t y, int n, int c, int h, int w, int co, int kh, int kw,
                  int sh, int sw, int ph, int pw, int groups);
int qc_conv2d_bwd_data_f32(int64_t dy, int64_t wt, int64_t dx, int n, int c, int h, int w, int co, int kh, int kw,
                           int sh, int sw, int ph, int pw, int groups);
int qc_conv2d_bwd_weight_f32(int64_t dy, int64_t x, int64_t dw, int n, int c, int h, int w, int co, int kh, int kw,
                             int sh, int sw, int ph, int pw, int groups);
int qc_linear_f32(int64_t x, int64_t wt, int64_t bias, int64_t y, int n, int in, int out);
int qc_linear_bwd_data_f32(int64_t dy, int64_t wt, int64_t dx, int n, int in, int out);
int qc_linear_bwd_weight_f32(int64_t dy, int64_t x, int64_t dw, int n, int in, int out);
int qc_bias_bwd_f32(int64_t dy, int64_t db, int n, int c, int64_t inner);

// ---------------------------------------------------------------- normalisation, elementwise, pooling, loss, SGD
int qc_bn_train_f32(int64_t x, int64_t gamma, int64_t beta, int64_t running_mean, int64_t running_var,
                    float momentum, float eps, int64_t y, int64_t mean, int64_t inv_std, int n, int c, int64_t hw);
int qc_bn_eval_f32(int64_t x, int64_t gamma, int64_t beta, int64_t running_mean, int64_t running_var, float eps,
                   int64_t y, int n, int c, int64_t hw);
int qc_bn_bwd_f32(int64_t dy, int64_t x, int64_t gamma, int64_t mean, int64_t inv_std, int64_t dx, int64_t dgamma,
                  int64_t dbeta, int n, int c, int64_t hw);
// One kernel behind relu and relu6 (and their backwards): op is the caller's op id (enum qat4j_op, the row of
// qat4j_ops.inc, dev.qat4j.backend.Op.ordinal()), used only to attribute profiled time.
int qc_clamp_f32(int64_t x, int64_t y, int64_t len, float lo, float hi, int op);
int qc_clamp_bwd_f32(int64_t dy, int64_t x, int64_t dx, int64_t len, float lo, float hi, int op);
int qc_add_f32(int64_t a, int64_t b, int64_t y, int64_t len);
int qc_avg_pool_f32(int64_t x, int64_t y, int nc, int h, int w, int k, int stride, int pad);
int qc_avg_pool_bwd_f32(int64_t dy, int64_t dx, int nc, int h, int w, int k, int stride, int pad);
int qc_adaptive_avg_pool_f32(int64_t x, int64_t y, int nc, int h, int w, int oh, int ow);
int qc_adaptive_avg_pool_bwd_f32(int64_t dy, int64_t dx, int nc, int h, int w, int oh, int ow);
// Mean loss into loss[0] and its gradient; labels are int32 on the device.
int qc_softmax_ce_f32(int64_t logits, int64_t labels, float smoothing, int64_t dlogits, int64_t loss, int n, int k);
int qc_sgd_f32(int64_t param, int64_t grad, int64_t buf, int64_t len, float lr, float momentum, float weight_decay,
               int nesterov);
// Backend.sgdSteps: qc_sgd_f32 on `count` tensors (device addresses, lengths and hyper-parameters in host arrays) in
// one launch per 80, and non_finite[0] (device float[1]) = 1 when an updated value is NaN or infinite.
int qc_sgd_steps_f32(const int64_t* params, const int64_t* grads, const int64_t* bufs, const int64_t* lengths,
                     const float* lr, const float* momentum, const float* weight_decay, const int32_t* nesterov,
                     int count, int64_t non_finite);

// ---------------------------------------------------------------- quantizers (alpha: device float[1], or 0)
int qc_act_quant_f32(int64_t x, int64_t y, int64_t len, int kind, int bits, int64_t alpha, float fixed_clip);
// dalpha: device float[1] receiving sum(dy * d fq / d alpha), or 0 when the kind has no alpha.
int qc_act_quant_bwd_f32(int64_t dy, int64_t x, int64_t dx, int64_t dalpha, int64_t len, int kind, int bits,
                         int64_t alpha, float fixed_clip);
int qc_weight_quant_f32(int64_t w, int64_t wq, int64_t len, int bits);
int qc_weight_quant_bwd_f32(int64_t g, int64_t w, int64_t dw, int64_t len, int bits);

// ---------------------------------------------------------------- data (data.cu)
// Backend.augmentBatch: images uint8 [N,c,h,w], labels int32 [N], table float [c,256] on the device; the plan
// (index, top, left, flip: `count` entries each, checked by the caller) is read from host memory during the call.
// out [count,c,h,w] = table[ch][pixel of image index[i] cropped at (top, left) of its zero-padded copy, mirrored
// when flip[i]]; out_labels[i] = labels[index[i]].
int qc_augment_batch_u8(int64_t images, int64_t labels, int c, int h, int w, const int32_t* index, const int32_t* top,
                        const int32_t* left, const uint8_t* flip, int count, int padding, int64_t table, int64_t out,
                        int64_t out_labels);

// Backend.accumulateConfusion: counts [k,k] (float) += 1 at (labels[i], first largest logit of row i), in place.
int qc_accumulate_confusion(int64_t logits, int64_t labels, int n, int k, int64_t counts);
// Backend.allFinite: *all_finite = 1 when every element of the `count` float tensors (device addresses and element
// counts in host arrays) is finite, else 0; one flag read back, so one wait for the stream.
int qc_all_finite(const int64_t* tensors, const int64_t* lengths, int count, int32_t* all_finite);

// Backend.readAllFloats: the `count` float tensors' values, one after another, into host_out (sum of lengths);
// one gather kernel and one copy back, so one wait for the stream.
int qc_gather_f32(const int64_t* tensors, const int64_t* lengths, int count, float* host_out);

// ---------------------------------------------------------------- integer inference
// acc[n,co,oh,ow] (int32) = conv of byte codes (uint8, or int8 when x_signed) with int8 weights, exact.
int qc_conv2d_s8_s32(int64_t x, int x_signed, int64_t wt, int64_t acc, int n, int c, int h, int w, int co, int kh,
                     int kw, int sh, int sw, int ph, int pw, int groups);
// c[m,n] = a[m,k] (int8) x b[k,n] (int8 when b_signed, else uint8), int32, exact.
int qc_gemm_s8_s32(int64_t m, int64_t n, int64_t k, int64_t a, int64_t b, int b_signed, int64_t c);
int qc_requantize_s32(int64_t acc, int64_t mult, int64_t shift, int64_t bias, int per_tensor, int rounding, int qmin,
                      int qmax, int64_t out, int out_bytes, int64_t len, int channels, int64_t inner);

#ifdef __cplusplus
}
#endif

#endif
