// Device, stream and memory management of the CUDA backend. cudart is linked statically, so this library loads on
// machines without a GPU or driver; qc_init then reports the error (35, no driver) and Java skips CUDA cleanly.
#include "qat4j_cuda.h"
#include "cuda_common.cuh"

#include <algorithm>
#include <map>
#include <mutex>
#include <stdio.h>
#include <string>
#include <vector>

namespace {
cudaStream_t g_stream = nullptr;
int g_sms = 0;
int g_init_error = 0;
char g_name[512] = "";
std::once_flag g_once;
thread_local int t_last_error = 0;

struct Timed {
    int op;
    cudaEvent_t start, stop;
};

// The Backend method name of each op, from the one op list (the same rows as qat4j_op_name in the cpu library,
// which this library does not link).
const char* const kOpNames[] = {
#define QAT4J_OP(id, name) name,
#include "../cpp/qat4j_ops.inc"
#undef QAT4J_OP
};
static_assert(sizeof kOpNames / sizeof kOpNames[0] == QAT4J_OP_COUNT, "one name per op of qat4j_ops.inc");

const char* op_name(int op) { return op >= 0 && op < QAT4J_OP_COUNT ? kOpNames[op] : "(unknown op)"; }

// qat4j_cuda.h keeps its own copies of these values (it is the self-contained header the JNI glue includes).
static_assert(QC_ACT_PACT == QAT4J_ACT_PACT && QC_ACT_MPACT == QAT4J_ACT_MPACT &&
                  QC_ACT_FIXED_CLIP == QAT4J_ACT_FIXED_CLIP && QC_ACT_DOREFA == QAT4J_ACT_DOREFA,
              "QC_ACT_* are the QAT4J_ACT_* kinds");
static_assert(QC_ERROR_OUT_OF_MEMORY == (int)cudaErrorMemoryAllocation, "QC_ERROR_OUT_OF_MEMORY");
bool g_profiling = false;
std::mutex g_profile_lock;
std::vector<Timed> g_timed;
std::string g_report;

void init_once() {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e == cudaSuccess && count == 0) e = cudaErrorNoDevice;
    if (e == cudaSuccess) e = cudaSetDevice(0);
    cudaDeviceProp prop;
    if (e == cudaSuccess) e = cudaGetDeviceProperties(&prop, 0);
    if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking);
    cudaMemPool_t pool;
    if (e == cudaSuccess) e = cudaDeviceGetDefaultMemPool(&pool, 0);
    if (e == cudaSuccess) {
        // Keep freed blocks cached in the pool: ops allocate their outputs on every call.
        uint64_t keep = UINT64_MAX;
        e = cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
    }
    if (e != cudaSuccess) {
        g_init_error = (int)e;
        cudaGetLastError();
        return;
    }
    g_sms = prop.multiProcessorCount;
    snprintf(g_name, sizeof g_name, "%s (sm_%d%d, %d SMs, %.1f GiB)", prop.name, prop.major, prop.minor, g_sms,
             prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
}
}  // namespace

namespace qc {
cudaStream_t stream() { return g_stream; }
int sm_count() { return g_sms; }
bool profiling() { return g_profiling; }
void profile_add(int op, cudaEvent_t start, cudaEvent_t stop) {
    std::lock_guard<std::mutex> hold(g_profile_lock);
    g_timed.push_back(Timed{op, start, stop});
}
int set_error(cudaError_t e) {
    if (e != cudaSuccess) t_last_error = (int)e;
    return (int)e;
}
}  // namespace qc

extern "C" int qc_init(void) {
    std::call_once(g_once, init_once);
    return g_init_error;
}

extern "C" int qc_device_count(void) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return count;
}

extern "C" const char* qc_device_name(void) { return g_name; }

extern "C" const char* qc_error_string(int code) { return cudaGetErrorString((cudaError_t)code); }

extern "C" int qc_last_error(void) { return t_last_error; }

extern "C" int64_t qc_malloc(int64_t bytes) {
    void* p = nullptr;
    cudaError_t e = cudaMallocAsync(&p, (size_t)(bytes > 0 ? bytes : 1), g_stream);
    if (e != cudaSuccess) {
        qc::set_error(e);
        cudaGetLastError();
        return 0;
    }
    return (int64_t)(uintptr_t)p;
}

extern "C" int qc_free(int64_t ptr) {
    if (ptr == 0) return 0;
    return qc::set_error(cudaFreeAsync(qc::ptr<void>(ptr), g_stream));
}

extern "C" int qc_memset0(int64_t ptr, int64_t bytes) {
    if (bytes <= 0) return 0;
    return qc::set_error(cudaMemsetAsync(qc::ptr<void>(ptr), 0, (size_t)bytes, g_stream));
}

extern "C" int qc_memcpy_d2d(int64_t dst, int64_t src, int64_t bytes) {
    if (bytes <= 0) return 0;
    return qc::set_error(cudaMemcpyAsync(qc::ptr<void>(dst), qc::ptr<void>(src), (size_t)bytes,
                                         cudaMemcpyDeviceToDevice, g_stream));
}

extern "C" int qc_h2d(int64_t dst, const void* src, int64_t bytes) {
    if (bytes <= 0) return 0;
    QC_CHECK(cudaMemcpyAsync(qc::ptr<void>(dst), src, (size_t)bytes, cudaMemcpyHostToDevice, g_stream));
    // The host array belongs to the JVM and is released when we return: wait until it has been read.
    return qc::set_error(cudaStreamSynchronize(g_stream));
}

extern "C" int qc_d2h(void* dst, int64_t src, int64_t bytes) {
    if (bytes <= 0) return 0;
    QC_CHECK(cudaMemcpyAsync(dst, qc::ptr<void>(src), (size_t)bytes, cudaMemcpyDeviceToHost, g_stream));
    return qc::set_error(cudaStreamSynchronize(g_stream));
}

extern "C" int qc_sync(void) { return qc::set_error(cudaStreamSynchronize(g_stream)); }

extern "C" void qc_profile_enable(int on) {
    std::lock_guard<std::mutex> hold(g_profile_lock);
    g_profiling = on != 0;
}

extern "C" const char* qc_profile_report(void) {
    cudaStreamSynchronize(g_stream);
    std::lock_guard<std::mutex> hold(g_profile_lock);
    std::map<std::string, std::pair<int, double>> by_op;  // name -> (calls, ms)
    double total = 0.0;
    for (const Timed& t : g_timed) {
        float ms = 0.0f;
        if (cudaEventElapsedTime(&ms, t.start, t.stop) == cudaSuccess) {
            auto& e = by_op[op_name(t.op)];
            e.first++;
            e.second += ms;
            total += ms;
        }
        cudaEventDestroy(t.start);
        cudaEventDestroy(t.stop);
    }
    g_timed.clear();
    std::vector<std::pair<double, std::string>> rows;
    for (auto& kv : by_op) {
        char line[160];
        snprintf(line, sizeof line, "%-28s %6d calls %9.3f ms %5.1f%%\n", kv.first.c_str(), kv.second.first,
                 kv.second.second, total > 0 ? 100.0 * kv.second.second / total : 0.0);
        rows.push_back({kv.second.second, line});
    }
    std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.first > b.first; });
    g_report.clear();
    for (auto& r : rows) g_report += r.second;
    char line[96];
    snprintf(line, sizeof line, "%-28s %6s       %9.3f ms of GPU time\n", "total", "", total);
    g_report += line;
    return g_report.c_str();
}
