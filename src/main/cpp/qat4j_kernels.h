// qat4j native kernels: the flat C ABI that JavaCPP binds (dev.qat4j.backend.cpu.NativeKernels). Only what the JNI
// binding calls is here; helpers shared between the kernel files (allocator, dispatch table, GEMM building blocks)
// are in qat4j_internal.h.
//
// Conventions, the same for every entry:
//   - Plain pointers and sizes: callers (the Java Backend boundary) have validated them.
//   - Every kernel entry returns an int status (QAT4J_OK, QAT4J_ERR_NO_MEMORY, ...); results that used to be
//     return values (a loss, a gradient sum) are written through an out-pointer. No kernel ends the process:
//     a work buffer that cannot be allocated is reported as QAT4J_ERR_NO_MEMORY (CpuBackend turns it into an
//     OutOfMemoryError). The queries (qat4j_op_count, qat4j_cpu_max_isa, ...) return their value.
//   - isa (where taken): QAT4J_ISA_AUTO or a level; a level above what the CPU has is clamped to the CPU's maximum.
//     The level is resolved in exactly one place, qat4j_kernels_for (cpu_features.cpp), which hands each entry the
//     variants of its level from one table of function pointers; tests pin a level to run every variant.
#ifndef QAT4J_KERNELS_H
#define QAT4J_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Status codes returned by the kernel entries.
#define QAT4J_OK               0
#define QAT4J_ERR_NO_MEMORY    1  // a native work buffer could not be allocated; outputs are unspecified
#define QAT4J_OFF_GRID         2  // qat4j_conv2d_grid_f32 only: a value is off its grid, y untouched

// ISA levels, widest last. QAT4J_ISA_AUTO picks the active level (the widest the CPU has, or QAT4J_ISA's).
// AVX512F runs the float kernels' AVX-512 variants (they use AVX-512F instructions only); AVX512VNNI adds the int8
// kernels that need vpdpbusd (and AVX-512 BW/VL for their byte shuffles and masks).
#define QAT4J_ISA_AUTO       -1
#define QAT4J_ISA_SCALAR      0
#define QAT4J_ISA_AVX2        1
#define QAT4J_ISA_AVX512F     2
#define QAT4J_ISA_AVX512VNNI  3
#define QAT4J_ISA_COUNT       4

// Activation quantizer kinds (CpuBackend.nativeKind maps dev.qat4j.quant.ActQuantizer.Kind to these).
#define QAT4J_ACT_PACT        0
#define QAT4J_ACT_MPACT       1
#define QAT4J_ACT_FIXED_CLIP  2
#define QAT4J_ACT_DOREFA      3

// Rounding of v / 2^shift in the requantizers (CpuBackend.nativeRounding maps dev.qat4j.quant.Rounding to these).
#define QAT4J_ROUND_HALF_EVEN            0
#define QAT4J_ROUND_HALF_UP              1
#define QAT4J_ROUND_HALF_AWAY_FROM_ZERO  2
#define QAT4J_ROUND_TOWARD_ZERO          3
#define QAT4J_ROUND_FLOOR                4

// Element type of the requantizers' residual operand.
#define QAT4J_RESIDUAL_NONE   0
#define QAT4J_RESIDUAL_INT8   1
#define QAT4J_RESIDUAL_UINT8  2
#define QAT4J_RESIDUAL_INT32  3

// Width of the requantizers' output elements (bytes): int8/uint8 codes or int32.
#define QAT4J_OUT_INT8        1
#define QAT4J_OUT_INT32       4

// The value of one of the #defines above by name ("QAT4J_ROUND_FLOOR"), QAT4J_CONSTANT_UNKNOWN for any other name:
// lets the Java tests check that CpuBackend's named constants are the header's.
#define QAT4J_CONSTANT_UNKNOWN (-2147483647 - 1)
int qat4j_constant(const char* name);

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
// The level QAT4J_ISA_AUTO means (the widest, or the QAT4J_ISA env override clamped to what exists).
int qat4j_cpu_active_isa(void);
// "scalar", "avx2", "avx512f", "avx512vnni".
const char* qat4j_isa_name(int isa);
// Threads the OpenMP kernels use.
int qat4j_num_threads(void);
void qat4j_set_num_threads(int n);
// Keeps freed large blocks in the process heap instead of returning them to the OS (glibc mallopt); 1 if applied.
int qat4j_retain_freed_memory(void);
// The largest single work buffer a kernel may allocate, in bytes (default: the machine's physical memory). A larger
// request fails as QAT4J_ERR_NO_MEMORY without being attempted: with overcommit such a malloc can succeed and the
// process be killed later, when its pages are touched. Setting it returns the previous limit; bytes < 1 keeps it.
int64_t qat4j_set_work_buffer_limit(int64_t bytes);
int64_t qat4j_work_buffer_limit(void);

// Geometry of every convolution: x [n, c, h, w], weights [co, c/groups, kh, kw], y [n, co, oh, ow] with
// oh = (h + 2ph - kh)/sh + 1, ow = (w + 2pw - kw)/sw + 1. Sizes derived from it are computed in 64 bits.
typedef struct qat4j_conv_geometry {
    int32_t n, c, h, w, co, kh, kw, sh, sw, ph, pw, groups;
} qat4j_conv_geometry;

// ---------------------------------------------------------------- activation quantizer (act_quant.cpp)
// Fake-quantize n activations: y[i] = value(code(x[i])) exactly as ActQuantizer.fakeQuant (bits <= 16).
int qat4j_act_quant_f32(const float* x, float* y, int64_t n, int kind, int bits, float alpha, float fixed_clip,
                        int isa);
// Its backward: dx = dy * dy/dx (STE); *dalpha = sum(dy * dy/dalpha).
int qat4j_act_quant_bwd_f32(const float* dy, const float* x, float* dx, int64_t len, int kind, int bits, float alpha,
                            float fixed_clip, float* dalpha, int isa);

// ---------------------------------------------------------------- DoReFa weight quantizer (weight_quant.cpp)
// Per tensor, and its backward; bits 1..16 or 32.
int qat4j_weight_quant_f32(const float* w, float* wq, int64_t len, int bits);
int qat4j_weight_quant_bwd_f32(const float* g, const float* w, float* dw, int64_t len, int bits);

// ---------------------------------------------------------------- float convolution and linear (conv_f32.cpp)
// Every conv (dense, grouped, depthwise) is an implicit GEMM over a padded copy of each image, threads over the
// batch; isa selects the GEMM variant.
int qat4j_conv2d_f32(const float* x, const float* wt, const float* bias, float* y, const qat4j_conv_geometry* g,
                     int isa);
int qat4j_conv2d_bwd_data_f32(const float* dy, const float* wt, float* dx, const qat4j_conv_geometry* g, int isa);
int qat4j_conv2d_bwd_weight_f32(const float* dy, const float* x, float* dw, const qat4j_conv_geometry* g, int isa);
// y [n, out] = x [n, in] * w[out, in]^T (+ bias); dx = dy * w; dw = dy^T * x (OpenBLAS).
int qat4j_linear_f32(const float* x, const float* wt, const float* bias, float* y, int n, int in, int out);
int qat4j_linear_bwd_data_f32(const float* dy, const float* wt, float* dx, int n, int in, int out);
int qat4j_linear_bwd_weight_f32(const float* dy, const float* x, float* dw, int n, int in, int out);

// ---------------------------------------------------------------- data (data_ops.cpp)
// Backend.augmentBatch: image index[i] of images [N,c,h,w] (uint8), cropped at (top[i], left[i]) of its copy padded
// with `padding` zeros a side, mirrored when flip[i] != 0, each value v of channel ch mapped to table[ch*256 + v];
// out [count,c,h,w], out_labels[i] = labels[index[i]]. Indices and corners are checked by the caller.
int qat4j_augment_batch_u8(const uint8_t* images, const int32_t* labels, int c, int h, int w, const int32_t* index,
                           const int32_t* top, const int32_t* left, const uint8_t* flip, int count, int padding,
                           const float* table, float* out, int32_t* out_labels);
// Backend.accumulateConfusion: counts[labels[i] * k + p] += 1 for each row i of logits [n,k], p its first largest
// logit (a NaN never wins). Labels are checked by the caller.
int qat4j_accumulate_confusion(const float* logits, const int32_t* labels, int n, int k, float* counts);

// ---------------------------------------------------------------- other float ops (ops_f32.cpp)
int qat4j_bias_bwd_f32(const float* dy, float* db, int n, int c, int64_t inner);
int qat4j_bn_train_f32(const float* x, const float* gamma, const float* beta, float* running_mean, float* running_var,
                       float momentum, float eps, float* y, float* mean, float* inv_std, int n, int c, int64_t hw,
                       int isa);
int qat4j_bn_eval_f32(const float* x, const float* gamma, const float* beta, const float* running_mean,
                      const float* running_var, float eps, float* y, int n, int c, int64_t hw);
int qat4j_bn_bwd_f32(const float* dy, const float* x, const float* gamma, const float* mean, const float* inv_std,
                     float* dx, float* dgamma, float* dbeta, int n, int c, int64_t hw, int isa);
int qat4j_clamp_f32(const float* x, float* y, int64_t len, float lo, float hi);
// dx = dy where lo < x < hi (open interval), else 0.
int qat4j_clamp_bwd_f32(const float* dy, const float* x, float* dx, int64_t len, float lo, float hi, int isa);
int qat4j_add_f32(const float* a, const float* b, float* y, int64_t len);
int qat4j_avg_pool_f32(const float* x, float* y, int nc, int h, int w, int k, int stride, int pad);
int qat4j_avg_pool_bwd_f32(const float* dy, float* dx, int nc, int h, int w, int k, int stride, int pad);
int qat4j_adaptive_avg_pool_f32(const float* x, float* y, int nc, int h, int w, int oh, int ow);
int qat4j_adaptive_avg_pool_bwd_f32(const float* dy, float* dx, int nc, int h, int w, int oh, int ow);
// *loss = the mean loss; writes the gradient of the mean loss. labels are in 0..k-1 (checked by the caller).
int qat4j_softmax_ce_f32(const float* logits, const int32_t* labels, float smoothing, float* dlogits, int n, int k,
                         float* loss);
int qat4j_sgd_f32(float* param, const float* grad, float* buf, int64_t len, float lr, float momentum,
                  float weight_decay, int nesterov);
// Backend.sgdSteps, one tensor: qat4j_sgd_f32, then *non_finite = 1 when an updated value is NaN or infinite
// (non_finite may be null; never reset here).
int qat4j_sgd_checked_f32(float* param, const float* grad, float* buf, int64_t len, float lr, float momentum,
                          float weight_decay, int nesterov, float* non_finite);

// ---------------------------------------------------------------- integer ops (gemm_s8.cpp, conv_s8.cpp, int_ops.cpp)
// C[M,N] (int32) = A[M,K] (int8) x B[K,N] (uint8, or int8 when b_signed), exact (K*255*128 < 2^31).
int qat4j_gemm_s8_s32(int64_t M, int64_t N, int64_t K, const int8_t* A, const uint8_t* B, int b_signed, int32_t* C,
                      int isa);
// Integer conv of codes (zero padding): x bytes (uint8 or int8 when x_signed), w int8, acc int32 [n, co, oh, ow].
int qat4j_conv2d_s8_s32(const uint8_t* x, int x_signed, const int8_t* wt, int32_t* acc, const qat4j_conv_geometry* g,
                        int isa);
// out = clamp(round((acc * mult[ch] + bias[ch]) / 2^shift[ch]), qmin, qmax); ch = (i / inner) % channels,
// or 0 for all when per_tensor. rounding: QAT4J_ROUND_*; out_bytes: QAT4J_OUT_INT8 or QAT4J_OUT_INT32.
int qat4j_requantize_s32(const int32_t* acc, const int32_t* mult, const int32_t* shift, const int32_t* bias,
                         int per_tensor, int rounding, int qmin, int qmax, void* out, int out_bytes, int64_t len,
                         int channels, int64_t inner);
// The integer model's epilogue: out = clamp(round((acc * mult[ch] + res * res_mult[ch] + bias[ch]) / 2^shift[ch]),
// qmin, qmax), ch = (i / inner) % channels; residual_kind QAT4J_RESIDUAL_*; the caller guarantees |sum| < 2^62
// (Backend.requantizeResidual checks it from the dtypes). The AVX-512 variant (8 int64 lanes) serves HALF_EVEN,
// other roundings run the scalar loop; the same bits either way.
int qat4j_requantize_residual_s32(const int32_t* acc, const void* residual, int residual_kind, const int32_t* mult,
                                  const int32_t* shift, const int64_t* bias, const int32_t* res_mult, int rounding,
                                  int qmin, int qmax, void* out, int out_bytes, int64_t len, int channels,
                                  int64_t inner, int isa);
// Forward conv of two quantized tensors (grid_conv.cpp): x = code * x_step with codes in [x_min, x_max] (bytes,
// signed when x_signed), w = code * w_step with codes in [w_min, w_max] (int8); y = (float) int_conv * (x_step *
// w_step) + bias. QAT4J_OK when done; QAT4J_OFF_GRID, with y untouched, when a value is off its grid (NaN, inf, code
// out of range): the caller then runs the float conv; QAT4J_ERR_NO_MEMORY when a work buffer cannot be allocated
// (y unspecified: the caller may still try the float conv, which needs less memory and overwrites all of y).
int qat4j_conv2d_grid_f32(const float* x, float x_step, int x_signed, int x_min, int x_max, const float* wt,
                          float w_step, int w_min, int w_max, const float* bias, float* y,
                          const qat4j_conv_geometry* g, int isa);

// ---------------------------------------------------------------- whole integer forward (int_program.cpp)
// An integer model compiled once and run in one call: the integer forward of dev.qat4j.integer.IntegerModel with no
// Java between its layers. Values are per image: value 0 is the input codes, value i+1 the output of step i. Each
// step is QAT4J_PROGRAM_STEP_FIELDS int64s (the QAT4J_STEP_F_* fields) of desc; each value 2 int64s of values (its
// QAT4J_VALUE_* kind, its element count per image). Conv weights (int8 codes) are read from bytes at the step's
// weight offset; linear weights from ints; multiplier, shift and residual multiplier from ints at the step's
// parameter offset (co entries each, in that order); the bias from longs at its offset. The caller
// (dev.qat4j.backend.IntegerProgram) has validated the whole description; create copies what it needs.
#define QAT4J_STEP_CONV        0  // int8 conv of a byte value, then the requantization epilogue
#define QAT4J_STEP_REQUANT     1  // the epilogue on the input itself (a BN or a rescale)
#define QAT4J_STEP_SUM_POOL    2  // sums over k x k windows, stride k (k = 0: whole channel), int32 out
#define QAT4J_STEP_LINEAR      3  // the last step: int64 logits (x . w) * 2^frac + bias
#define QAT4J_VALUE_INT8       1
#define QAT4J_VALUE_UINT8      2
#define QAT4J_VALUE_INT32      3
#define QAT4J_STEP_F_KIND      0
#define QAT4J_STEP_F_INPUT     1
#define QAT4J_STEP_F_RESIDUAL  2   // value index, or -1
#define QAT4J_STEP_F_C         3   // input channels, height, width (per image)
#define QAT4J_STEP_F_H         4
#define QAT4J_STEP_F_W         5
#define QAT4J_STEP_F_CO        6   // output channels (linear: outputs)
#define QAT4J_STEP_F_KH        7
#define QAT4J_STEP_F_KW        8
#define QAT4J_STEP_F_STRIDE    9
#define QAT4J_STEP_F_PAD      10
#define QAT4J_STEP_F_GROUPS   11
#define QAT4J_STEP_F_WEIGHTS  12   // offset into bytes (conv) or ints (linear)
#define QAT4J_STEP_F_PARAMS   13   // offset into ints: multiplier[co], shift[co], residual multiplier[co]
#define QAT4J_STEP_F_BIAS     14   // offset into longs: bias[co]
#define QAT4J_STEP_F_ROUNDING 15
#define QAT4J_STEP_F_QMIN     16
#define QAT4J_STEP_F_QMAX     17
#define QAT4J_STEP_F_POOL     18
#define QAT4J_STEP_F_FRAC     19
#define QAT4J_PROGRAM_STEP_FIELDS 20
// *program = a handle (free it with qat4j_int_program_free). Needs the AVX-512 VNNI conv at level isa:
// QAT4J_ERR_UNSUPPORTED (nothing held) below it, or for a conv whose padded copy would dwarf its image.
#define QAT4J_ERR_UNSUPPORTED  3
int qat4j_int_program_create(int steps, const int64_t* desc, int values, const int64_t* value_desc,
                             const int8_t* bytes, const int32_t* ints, const int64_t* longs, int isa,
                             int64_t* program);
// out [n, the last value's numel] (int64): the logits, or the last value widened. Threads over images when n is at
// least the thread count, else over each conv's output tiles. Thread-safe (a run's buffers are its own).
int qat4j_int_program_run(int64_t program, const uint8_t* codes, int64_t n, int64_t* out);
void qat4j_int_program_free(int64_t program);
// Where a run's time goes: the same forward on the calling thread alone, image after image, adding each step's
// wall time (ns) to step_ns[step] (zeroed first).
int qat4j_int_program_profile(int64_t program, const uint8_t* codes, int64_t n, int64_t* out, int64_t* step_ns);
// The smallest conv work per image (multiply-accumulates) for which a batch smaller than the thread count splits each
// conv over the threads (default 2^28; below it such images run one thread each). Sets it when macs >= 0; returns the
// previous value (macs < 0: only reads it). For tests and tuning.
int64_t qat4j_int_program_split_min_macs(int64_t macs);

#ifdef __cplusplus
}
#endif

#endif
