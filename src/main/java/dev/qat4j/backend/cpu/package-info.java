/**
 * The {@code cpu} backend: tensors in native memory, every op in the C++ kernels of {@code src/main/cpp} (scalar,
 * AVX2, AVX-512F and AVX-512 VNNI variants, OpenBLAS for float GEMM) through JavaCPP. Its JNI library ships in the
 * platform classifier jar {@code dev.qat4j:qat4j:linux-x86_64}; without it on the classpath the library cannot load
 * and {@link dev.qat4j.backend.Backends} falls back to {@code ref}, logging the loader's error.
 */
package dev.qat4j.backend.cpu;
