// Hardware limits of this machine, measured the way anchors.md states them, so that "% of peak" figures for qat4j's
// kernels use the host they ran on (the shared machines differ: Zen 4 hosts run 512-bit FMAs at half the Zen 5
// rate). Independent chains of vfmadd231ps zmm (FP32 FMA peak, 2 flops per lane) and vpdpbusd zmm (int8 VNNI peak,
// 2 ops per multiply-add), 16 chains each, and the STREAM triad a = b + s*c on 3 x 64 MiB float arrays (bytes
// counted as STREAM does: 3 x 4 per element), on 1 thread and on every thread (OpenMP).
//
//   bench/peak.sh        builds and runs it; prints PEAK <what> <threads> <G/s>
#include <omp.h>
#include <stdio.h>

#include <chrono>
#include <initializer_list>

static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

#define CHAINS(OP)                                                                                             \
    OP " %%zmm0,%%zmm0,%%zmm1\n " OP " %%zmm0,%%zmm0,%%zmm2\n " OP " %%zmm0,%%zmm0,%%zmm3\n " OP " %%zmm0,%%zmm0,%%zmm4\n " \
    OP " %%zmm0,%%zmm0,%%zmm5\n " OP " %%zmm0,%%zmm0,%%zmm6\n " OP " %%zmm0,%%zmm0,%%zmm7\n " OP " %%zmm0,%%zmm0,%%zmm8\n " \
    OP " %%zmm0,%%zmm0,%%zmm9\n " OP " %%zmm0,%%zmm0,%%zmm10\n " OP " %%zmm0,%%zmm0,%%zmm11\n " OP " %%zmm0,%%zmm0,%%zmm12\n " \
    OP " %%zmm0,%%zmm0,%%zmm13\n " OP " %%zmm0,%%zmm0,%%zmm14\n " OP " %%zmm0,%%zmm0,%%zmm15\n " OP " %%zmm0,%%zmm0,%%zmm16\n "

// Returns seconds for `iters` iterations of 16 instructions on each thread.
static double run(bool vnni, long iters, int threads) {
    double t0 = now();
#pragma omp parallel num_threads(threads)
    {
        long it = iters;
        if (vnni)
            __asm__ volatile("vpxord %%zmm0,%%zmm0,%%zmm0\n 1:\n" CHAINS("vpdpbusd") "dec %0\n jnz 1b\n"
                             : "+r"(it)::"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                               "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "cc");
        else
            __asm__ volatile("vxorps %%zmm0,%%zmm0,%%zmm0\n 1:\n" CHAINS("vfmadd231ps") "dec %0\n jnz 1b\n"
                             : "+r"(it)::"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                               "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "cc");
    }
    return now() - t0;
}

// Seconds for one triad over n floats, threads splitting the range statically.
static double triad(float* a, const float* b, const float* c, long n, int threads) {
    double t0 = now();
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long i = 0; i < n; i++) a[i] = b[i] + 3.0f * c[i];
    return now() - t0;
}

int main() {
    const long iters = 100000000;
    const long n = 16L << 20;  // 64 MiB per array: far beyond the caches
    float* a = new float[n];
    float* b = new float[n];
    float* c = new float[n];
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) a[i] = 0.0f, b[i] = 1.0f, c[i] = 2.0f;  // first touch by the threads that use them
    for (int threads : {1, omp_get_max_threads()}) {
        for (int vnni = 0; vnni < 2; vnni++) {
            double best = 1e30;
            for (int rep = 0; rep < 5; rep++) {
                double t = run(vnni, iters, threads);
                if (t < best) best = t;
            }
            // per instruction: FMA 16 lanes x 2 flops; vpdpbusd 64 multiply-adds x 2 ops
            const double per = vnni ? 128.0 : 32.0;
            printf("PEAK %s %d %.0f\n", vnni ? "int8_vnni_gops" : "fp32_fma_gflops", threads,
                   iters * 16.0 * per * threads / best / 1e9);
        }
        double best = 1e30;
        for (int rep = 0; rep < 5; rep++) {
            double t = triad(a, b, c, n, threads);
            if (t < best) best = t;
        }
        printf("PEAK stream_triad_gbs %d %.1f\n", threads, 12.0 * n / best / 1e9);
        if (omp_get_max_threads() == 1) break;
    }
    printf("(checksum %g)\n", (double)a[n / 2]);
    delete[] a;
    delete[] b;
    delete[] c;
    return 0;
}
