// Batch assembly on the GPU from a data set kept in device memory: Backend.augmentBatch (RefKernels.augmentBatch is
// its reference, src/main/cpp/data_ops.cpp the cpu's). Gathers and table lookups only, so the result is the host
// pipeline's floats bit for bit.
//
// The batch's plan (image index, crop corner, flip) travels inside the kernel's parameters, in chunks of kPlanRows
// images: no host buffer has to outlive the call and no copy or synchronisation is queued, so a training epoch
// issues no host-side wait for its data.
#include "qat4j_cuda.h"
#include "cuda_common.cuh"

namespace {

// 480 rows of 8 bytes plus the other arguments stay under the 4 KiB of kernel parameters every architecture takes.
constexpr int kPlanRows = 480;

struct PlanChunk {
    int32_t index[kPlanRows];
    int32_t corner[kPlanRows];  // top | left << 15 | flip << 30 (Backend.MAX_AUGMENT_PADDING keeps corners in 15 bits)
};

__global__ void augment_batch_kernel(const uint8_t* images, const int32_t* labels, int c, int h, int w, int padding,
                                     const float* table, float* out, int32_t* out_labels, int first, PlanChunk plan) {
    const int row = blockIdx.x;
    const int image = c * h * w;
    const int32_t idx = plan.index[row];
    const int32_t corner = plan.corner[row];
    const int dy = (corner & 0x7FFF) - padding;
    const int dx = ((corner >> 15) & 0x7FFF) - padding;
    const bool flip = (corner >> 30) & 1;
    const uint8_t* src = images + (int64_t)idx * image;
    float* dst = out + (int64_t)(first + row) * image;
    if (threadIdx.x == 0) out_labels[first + row] = labels[idx];
    for (int p = threadIdx.x; p < image; p += blockDim.x) {
        const int x = p % w;
        const int y = (p / w) % h;
        const int ch = p / (w * h);
        const int sy = y + dy;
        const int sx = (flip ? w - 1 - x : x) + dx;
        const int v = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? src[((int64_t)ch * h + sy) * w + sx] : 0;
        dst[p] = table[ch * 256 + v];
    }
}
}  // namespace

using qc::ptr;

extern "C" int qc_augment_batch_u8(int64_t images, int64_t labels, int c, int h, int w, const int32_t* index,
                                   const int32_t* top, const int32_t* left, const uint8_t* flip, int count,
                                   int padding, int64_t table, int64_t out, int64_t out_labels) {
    QC_PROFILE(QAT4J_OP_AUGMENT_BATCH);
    for (int first = 0; first < count; first += kPlanRows) {
        const int rows = count - first < kPlanRows ? count - first : kPlanRows;
        PlanChunk plan;
        for (int r = 0; r < rows; r++) {
            plan.index[r] = index[first + r];
            plan.corner[r] = top[first + r] | (left[first + r] << 15) | ((flip[first + r] ? 1 : 0) << 30);
        }
        augment_batch_kernel<<<rows, qc::kThreads, 0, qc::stream()>>>(
            ptr<const uint8_t>(images), ptr<const int32_t>(labels), c, h, w, padding, ptr<const float>(table),
            ptr<float>(out), ptr<int32_t>(out_labels), first, plan);
        const int e = qc::launched();
        if (e != 0) return e;
    }
    return 0;
}

// ---------------------------------------------------------------- allFinite

namespace {
constexpr int kFiniteTensors = 200;  // 16 bytes each: a chunk's table stays under 4 KiB of kernel parameters

struct TensorChunk {
    const float* data[kFiniteTensors];
    int64_t len[kFiniteTensors];
};

// blockIdx.y picks the tensor; any non-finite element sets *flag (never cleared here).
__global__ void any_nonfinite_kernel(TensorChunk chunk, int* flag) {
    const float* x = chunk.data[blockIdx.y];
    const int64_t len = chunk.len[blockIdx.y];
    bool bad = false;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < len; i += (int64_t)gridDim.x * blockDim.x)
        bad |= !isfinite(x[i]);
    if (__syncthreads_or(bad) && threadIdx.x == 0) atomicOr(flag, 1);
}
}  // namespace

extern "C" int qc_all_finite(const int64_t* tensors, const int64_t* lengths, int count, int32_t* all_finite) {
    int* flag = qc::scratch<int>(1);
    if (!flag) return qc::set_error(cudaErrorMemoryAllocation);
    cudaError_t e = cudaMemsetAsync(flag, 0, sizeof(int), qc::stream());
    for (int first = 0; e == cudaSuccess && first < count; first += kFiniteTensors) {
        const int n = count - first < kFiniteTensors ? count - first : kFiniteTensors;
        TensorChunk chunk;
        int64_t longest = 1;
        for (int i = 0; i < n; i++) {
            chunk.data[i] = ptr<const float>(tensors[first + i]);
            chunk.len[i] = lengths[first + i];
            longest = lengths[first + i] > longest ? lengths[first + i] : longest;
        }
        dim3 grid(qc::blocks_for(longest, qc::kThreads, 64), n);
        any_nonfinite_kernel<<<grid, qc::kThreads, 0, qc::stream()>>>(chunk, flag);
        e = cudaGetLastError();
    }
    int host = 1;
    if (e == cudaSuccess) e = cudaMemcpyAsync(&host, flag, sizeof(int), cudaMemcpyDeviceToHost, qc::stream());
    if (e == cudaSuccess) e = cudaStreamSynchronize(qc::stream());
    qc::release(flag);
    *all_finite = host == 0 ? 1 : 0;
    return qc::set_error(e);
}

// ---------------------------------------------------------------- readAllFloats

namespace {
constexpr int kGatherTensors = 160;  // 24 bytes each: a chunk stays under 4 KiB of kernel parameters

struct GatherChunk {
    const float* data[kGatherTensors];
    int64_t len[kGatherTensors];
    int64_t offset[kGatherTensors];  // where each tensor's values start in the gathered buffer
};

__global__ void gather_kernel(GatherChunk chunk, float* out) {
    const float* x = chunk.data[blockIdx.y];
    float* y = out + chunk.offset[blockIdx.y];
    const int64_t len = chunk.len[blockIdx.y];
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < len; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = x[i];
}
}  // namespace

extern "C" int qc_gather_f32(const int64_t* tensors, const int64_t* lengths, int count, float* host_out) {
    int64_t total = 0;
    for (int i = 0; i < count; i++) total += lengths[i];
    if (total == 0) return 0;
    float* buf = qc::scratch<float>(total);
    if (!buf) return qc::set_error(cudaErrorMemoryAllocation);
    cudaError_t e = cudaSuccess;
    int64_t offset = 0;
    for (int first = 0; e == cudaSuccess && first < count; first += kGatherTensors) {
        const int n = count - first < kGatherTensors ? count - first : kGatherTensors;
        GatherChunk chunk;
        int64_t longest = 1;
        for (int i = 0; i < n; i++) {
            chunk.data[i] = ptr<const float>(tensors[first + i]);
            chunk.len[i] = lengths[first + i];
            chunk.offset[i] = offset;
            offset += lengths[first + i];
            longest = lengths[first + i] > longest ? lengths[first + i] : longest;
        }
        dim3 grid(qc::blocks_for(longest, qc::kThreads, 64), n);
        gather_kernel<<<grid, qc::kThreads, 0, qc::stream()>>>(chunk, buf);
        e = cudaGetLastError();
    }
    if (e == cudaSuccess)
        e = cudaMemcpyAsync(host_out, buf, (size_t)total * sizeof(float), cudaMemcpyDeviceToHost, qc::stream());
    if (e == cudaSuccess) e = cudaStreamSynchronize(qc::stream());
    qc::release(buf);
    return qc::set_error(e);
}

// ---------------------------------------------------------------- accumulateConfusion

namespace {
// One thread a row: its first largest logit (a NaN never wins), then one float atomic add of 1 (exact below 2^24).
__global__ void confusion_kernel(const float* logits, const int32_t* labels, int n, int k, float* counts) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float* row = logits + (int64_t)i * k;
    int best = 0;
    for (int j = 1; j < k; j++)
        if (row[j] > row[best] || (isnan(row[best]) && !isnan(row[j]))) best = j;
    atomicAdd(counts + (int64_t)labels[i] * k + best, 1.0f);
}
}  // namespace

extern "C" int qc_accumulate_confusion(int64_t logits, int64_t labels, int n, int k, int64_t counts) {
    QC_PROFILE(QAT4J_OP_ACCUMULATE_CONFUSION);
    if (n <= 0) return 0;
    confusion_kernel<<<qc::ceil_div(n, 128), 128, 0, qc::stream()>>>(ptr<const float>(logits),
                                                                      ptr<const int32_t>(labels), n, k,
                                                                      ptr<float>(counts));
    return qc::launched();
}
