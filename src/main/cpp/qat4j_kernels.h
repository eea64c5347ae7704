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

// Widest ISA level this CPU (and OS, for the AVX state) supports.
int qat4j_cpu_max_isa(void);
// The level the dispatch table uses (the widest, or QAT4J_ISA env override clamped to what exists).
int qat4j_cpu_active_isa(void);
const char* qat4j_isa_name(int isa);
// Threads the OpenMP kernels use.
int qat4j_num_threads(void);
void qat4j_set_num_threads(int n);

// Fake-quantize n activations: y[i] = value(code(x[i])) exactly as ActQuantizer.fakeQuant (bits <= 16).
// isa: QAT4J_ISA_AUTO or a level <= qat4j_cpu_max_isa() (tests run every level the CPU has).
void qat4j_act_quant_f32(const float* x, float* y, int64_t n, int kind, int bits, float alpha,
                         float fixed_clip, int isa);

#ifdef __cplusplus
}
#endif

#endif
