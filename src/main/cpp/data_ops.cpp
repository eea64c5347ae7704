// Data ops: batch assembly from a data set kept in native memory, Backend.augmentBatch (the cpu backend's copy of
// RefKernels.augmentBatch; src/main/cuda/data.cu is the GPU's). Pure gathers and table lookups, so every backend
// gives the host pipeline's floats bit for bit.
#include "qat4j_kernels.h"

extern "C" int qat4j_augment_batch_u8(const uint8_t* images, const int32_t* labels, int c, int h, int w,
                                      const int32_t* index, const int32_t* top, const int32_t* left,
                                      const uint8_t* flip, int count, int padding, const float* table, float* out,
                                      int32_t* out_labels) {
    const int64_t image = (int64_t)c * h * w;
#pragma omp parallel for schedule(static) if (count > 1)
    for (int i = 0; i < count; i++) {
        const uint8_t* src = images + (int64_t)index[i] * image;
        float* dst = out + (int64_t)i * image;
        out_labels[i] = labels[index[i]];
        const int dy = top[i] - padding, dx = left[i] - padding;
        for (int ch = 0; ch < c; ch++) {
            const float* lut = table + ch * 256;
            for (int y = 0; y < h; y++) {
                const int sy = y + dy;
                float* row = dst + ((int64_t)ch * h + y) * w;
                if (sy < 0 || sy >= h) {
                    for (int x = 0; x < w; x++) row[x] = lut[0];
                    continue;
                }
                const uint8_t* in = src + ((int64_t)ch * h + sy) * w;
                for (int x = 0; x < w; x++) {
                    const int sx = (flip[i] ? w - 1 - x : x) + dx;
                    row[x] = lut[sx >= 0 && sx < w ? in[sx] : 0];
                }
            }
        }
    }
    return QAT4J_OK;
}

// Backend.accumulateConfusion (RefKernels.accumulateConfusion): counts[label * k + argmax] += 1 per row, the first
// largest logit winning and a NaN never. Rows are few (a batch): one thread.
extern "C" int qat4j_accumulate_confusion(const float* logits, const int32_t* labels, int n, int k, float* counts) {
    for (int i = 0; i < n; i++) {
        const float* row = logits + (int64_t)i * k;
        int best = 0;
        for (int j = 1; j < k; j++)
            if (row[j] > row[best] || (row[best] != row[best] && row[j] == row[j])) best = j;
        counts[(int64_t)labels[i] * k + best] += 1.0f;
    }
    return QAT4J_OK;
}
