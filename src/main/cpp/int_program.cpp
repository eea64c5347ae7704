// The integer model's whole forward in one native call (qat4j_int_program_*): every step of
// dev.qat4j.integer.IntegerModel with no Java, no per-layer tensor and no per-layer relayout between them.
//
// Why it is fast where the layer-by-layer path is not:
//   - Batch >= threads: each thread runs whole images, one after the other, through every step. One image's
//     activations (ResNet20: under 200 KB in all) stay in the thread's caches from one layer to the next.
//   - Batch < threads (latency) and a large image (split_min_macs): the images run one after the other, every conv
//     split over the threads by (group, 4-channel tile, block of output vectors); one barrier per step. A small image
//     runs on one thread.
//   - The requantization is fused into the conv: a block of register tiles writes its int32 accumulators to a
//     per-thread scratch of 4 output planes (L1), and the same thread requantizes them (with the residual) into the
//     step's output codes right away. The int32 accumulators of a layer never exist as a whole.
//   - Weights are packed, and offsets and output vectors computed, once at create (qat4j::S8Conv).
//   - A thread's buffers (its arena of values, one packed-image buffer per conv, the scratch) are allocated and their
//     padding written once, then pooled in the program for the next run: a batch-1 run allocates nothing.
// Values keep the layout of IntegerModel (per image [C, H, W], bytes or int32); each conv packs its input into its own
// per-thread buffer (conv_s8.cpp's layout).
// The arithmetic is the layer-by-layer path's, kernel for kernel (conv_s8.cpp's tiles, int_ops.cpp's epilogue), so the
// results are the same bits (IntegerProgramTest compares them).
#include "qat4j_internal.h"
#include <omp.h>
#include <string.h>
#include <time.h>

#include <atomic>
#include <mutex>
#include <new>
#include <vector>

namespace qat4j_int_program {
namespace {

constexpr int MR = qat4j::kS8ConvTileRows;

struct Step {
    int kind;
    int input, residual;
    int c, h, w, co, pool, frac, rounding;
    int in_kind, res_kind, out_kind;
    int64_t qmin, qmax;
    int64_t in_numel, out_numel, out_plane;  // per image; out_plane: values per output channel
    std::vector<int32_t> mult, shift, res_mult, lw;
    std::vector<int64_t> bias;
    bool has_conv;
    qat4j::S8Conv conv;
};

struct Worker;

struct Program {
    // Workers of finished runs, kept for the next run (their buffers allocated and padded once): the pool's slots
    // are allocated at create, so taking and returning a worker allocates nothing.
    static constexpr int kPoolSlots = 64;
    mutable std::mutex pool_mu;
    mutable Worker* pool[kPoolSlots] = {};
    mutable int pool_n = 0;

    std::vector<Step> steps;
    std::vector<int> value_kind;
    std::vector<int64_t> value_numel, value_off;  // value_off: byte offset in an image's arena (value 0: the input)
    int64_t arena_bytes = 0;
    int64_t scratch_ints = 0;  // per thread: 4 accumulator planes of the widest conv, or a conv-less step's input
    int64_t out_numel = 0;
    int64_t input_bytes = 0;     // one image's input codes
    int64_t macs_per_image = 0;  // of the convs

    ~Program();
};

int elem_bytes(int kind) { return kind == QAT4J_VALUE_INT32 ? 4 : 1; }

int residual_kind(int kind) {
    return kind == QAT4J_VALUE_INT8 ? QAT4J_RESIDUAL_INT8
         : kind == QAT4J_VALUE_UINT8 ? QAT4J_RESIDUAL_UINT8 : QAT4J_RESIDUAL_INT32;
}

int64_t read_value(const void* p, int kind, int64_t i) {
    switch (kind) {
        case QAT4J_VALUE_INT8: return ((const int8_t*)p)[i];
        case QAT4J_VALUE_UINT8: return ((const uint8_t*)p)[i];
        default: return ((const int32_t*)p)[i];
    }
}

// What one thread holds during a run: the per-step packed-image buffers (padding written once), the accumulator
// scratch, and its arena of values (in the split schedule only the master's is used). Plain qat4j_alloc64 blocks, no std::vector: it is built
// inside OpenMP regions, which an exception may not leave.
struct Worker {
    int64_t steps = 0;
    uint8_t** buf = nullptr;
    uint32_t** rowtmp = nullptr;
    int64_t* packed = nullptr;  // per step: the (image * groups + group) its buffer holds, -1 none
    int32_t* scratch = nullptr;
    uint8_t* arena = nullptr;

    // A run's images are numbered from 0 again: no packed buffer holds one of them yet.
    void begin_run() {
        for (int64_t i = 0; i < steps; i++) packed[i] = -1;
    }

    bool init(const Program& p) {
        steps = (int64_t)p.steps.size();
        buf = (uint8_t**)qat4j_alloc64_n(steps, sizeof(uint8_t*));
        rowtmp = (uint32_t**)qat4j_alloc64_n(steps, sizeof(uint32_t*));
        packed = (int64_t*)qat4j_alloc64_n(steps, sizeof(int64_t));
        if (!buf || !rowtmp || !packed) return false;
        for (int64_t i = 0; i < steps; i++) {
            buf[i] = nullptr;
            rowtmp[i] = nullptr;
            packed[i] = -1;
        }
        scratch = (int32_t*)qat4j_alloc64_n(p.scratch_ints + 16, 4);
        arena = (uint8_t*)qat4j_alloc64_n(p.arena_bytes + 64, 1);
        bool ok = scratch && arena;
        for (int64_t i = 0; ok && i < steps; i++) {
            const Step& s = p.steps[i];
            if (!s.has_conv) continue;
            buf[i] = (uint8_t*)qat4j_alloc64_n(s.conv.buf_bytes, 1);
            rowtmp[i] = (uint32_t*)qat4j_alloc64_n((int64_t)s.conv.w + 32, 4);
            ok = buf[i] && rowtmp[i];
            if (ok) qat4j::s8conv_init_buffer(s.conv, buf[i], rowtmp[i]);
        }
        return ok;
    }

    ~Worker() {
        for (int64_t i = 0; buf && rowtmp && i < steps; i++) {
            qat4j_free64(buf[i]);
            qat4j_free64(rowtmp[i]);
        }
        qat4j_free64(buf);
        qat4j_free64(rowtmp);
        qat4j_free64(packed);
        qat4j_free64(scratch);
        qat4j_free64(arena);
    }
};

Program::~Program() {
    for (int i = 0; i < pool_n; i++) delete pool[i];
    for (Step& s : steps)
        if (s.has_conv) qat4j::s8conv_release(&s.conv);
}

// A worker for one thread of a run: a pooled one, or a new one (null when its buffers cannot be allocated).
Worker* acquire(const Program& p) {
    {
        std::lock_guard<std::mutex> lock(p.pool_mu);
        if (p.pool_n > 0) {
            Worker* w = p.pool[--p.pool_n];
            w->begin_run();
            return w;
        }
    }
    Worker* w = new (std::nothrow) Worker();
    if (w && !w->init(p)) {
        delete w;
        w = nullptr;
    }
    return w;
}

void release(const Program& p, Worker* w) {
    if (!w) return;
    {
        std::lock_guard<std::mutex> lock(p.pool_mu);
        if (p.pool_n < Program::kPoolSlots) {
            p.pool[p.pool_n++] = w;
            return;
        }
    }
    delete w;
}

// Where value v of one image lives: value 0 in the caller's input, the others in an arena.
inline uint8_t* value_ptr(const Program& p, int v, const uint8_t* input, uint8_t* arena) {
    return v == 0 ? (uint8_t*)input : arena + p.value_off[v];
}

// Block (group gr, tile t, vectors [v0, v1)) of a conv step: the register tiles, then the fused requantization of
// those outputs of the tile's channels. image: the image's index (for the packed-buffer check).
void conv_block(const Program& p, size_t si, int64_t image, int gr, int64_t t, int64_t v0, int64_t v1,
                const uint8_t* input, uint8_t* arena, Worker& wk) {
    const Step& s = p.steps[si];
    const qat4j::S8Conv& q = s.conv;
    const int64_t key = image * q.groups + gr;
    if (wk.packed[si] != key) {
        const uint8_t* x = value_ptr(p, s.input, input, arena) + (int64_t)gr * q.cig * q.h * q.w;
        qat4j::s8conv_pack(q, x, wk.buf[si], wk.rowtmp[si]);
        wk.packed[si] = key;
    }
    qat4j::s8conv_tiles(q, gr, t, v0, v1, wk.buf[si], wk.scratch, nullptr, 0.0f);
    const qat4j::S8ConvVec& last = q.vec[v1 - 1];
    const int64_t lo = q.vec[v0].out, hi = last.out + __builtin_popcount(last.lanes);
    const int rows = (int)qat4j::min64(MR, q.cog - t * MR);
    const int ob = elem_bytes(s.out_kind), rb = s.residual >= 0 ? elem_bytes(p.value_kind[s.residual]) : 0;
    uint8_t* out = value_ptr(p, (int)si + 1, input, arena);
    const uint8_t* res = s.residual >= 0 ? value_ptr(p, s.residual, input, arena) : nullptr;
    for (int r = 0; r < rows; r++) {
        const int64_t ch = (int64_t)gr * q.cog + t * MR + r;
        const int64_t at = ch * q.P + lo;
        qat4j::requant_span(wk.scratch + r * q.P + lo, res ? res + at * rb : nullptr, s.res_kind, s.mult[ch],
                            s.bias[ch], res ? s.res_mult[ch] : 0, s.shift[ch], s.rounding, s.qmin, s.qmax,
                            out + at * ob, ob == 1 ? QAT4J_OUT_INT8 : QAT4J_OUT_INT32, hi - lo, true);
    }
}

// Sums over k x k windows (k = 0: whole planes) of one image; the program's checks bound every sum in int32.
template <typename T>
void sum_pool(const T* x, const Step& s, int32_t* out) {
    const int kh = s.pool == 0 ? s.h : s.pool, kw = s.pool == 0 ? s.w : s.pool;
    const int oh = s.h / kh, ow = s.w / kw;
    const int64_t plane = (int64_t)s.h * s.w;
    if (oh == 1 && ow == 1) {
        for (int c = 0; c < s.c; c++) {
            const T* px = x + c * plane;
            int32_t sum = 0;
            for (int64_t i = 0; i < plane; i++) sum += px[i];
            out[c] = sum;
        }
        return;
    }
    for (int c = 0; c < s.c; c++)
        for (int y = 0; y < oh; y++)
            for (int xo = 0; xo < ow; xo++) {
                int32_t sum = 0;
                for (int i = 0; i < kh; i++) {
                    const T* row = x + ((int64_t)c * s.h + (int64_t)y * kh + i) * s.w + (int64_t)xo * kw;
                    for (int j = 0; j < kw; j++) sum += row[j];
                }
                out[((int64_t)c * oh + y) * ow + xo] = sum;
            }
}

// A step without a conv for one image (cheap: one thread does it). out_logits: the image's logits (LINEAR only).
void small_step(const Program& p, size_t si, const uint8_t* input, uint8_t* arena, int32_t* scratch,
                int64_t* out_logits) {
    const Step& s = p.steps[si];
    const uint8_t* x = value_ptr(p, s.input, input, arena);
    switch (s.kind) {
        case QAT4J_STEP_REQUANT: {
            const int32_t* acc = (const int32_t*)x;
            if (s.in_kind != QAT4J_VALUE_INT32) {
                for (int64_t i = 0; i < s.in_numel; i++) scratch[i] = (int32_t)read_value(x, s.in_kind, i);
                acc = scratch;
            }
            const int ob = elem_bytes(s.out_kind), rb = s.residual >= 0 ? elem_bytes(p.value_kind[s.residual]) : 0;
            uint8_t* out = value_ptr(p, (int)si + 1, input, arena);
            const uint8_t* res = s.residual >= 0 ? value_ptr(p, s.residual, input, arena) : nullptr;
            for (int ch = 0; ch < s.co; ch++) {
                const int64_t at = ch * s.out_plane;
                qat4j::requant_span(acc + at, res ? res + at * rb : nullptr, s.res_kind, s.mult[ch], s.bias[ch],
                                    res ? s.res_mult[ch] : 0, s.shift[ch], s.rounding, s.qmin, s.qmax,
                                    out + at * ob, ob == 1 ? QAT4J_OUT_INT8 : QAT4J_OUT_INT32, s.out_plane, true);
            }
            break;
        }
        case QAT4J_STEP_SUM_POOL: {
            int32_t* out = (int32_t*)value_ptr(p, (int)si + 1, input, arena);
            switch (s.in_kind) {  // typed loops: the compiler vectorizes them (a global pool is one plane sum)
                case QAT4J_VALUE_INT8: sum_pool((const int8_t*)x, s, out); break;
                case QAT4J_VALUE_UINT8: sum_pool((const uint8_t*)x, s, out); break;
                default: sum_pool((const int32_t*)x, s, out); break;
            }
            break;
        }
        case QAT4J_STEP_LINEAR: {
            const int64_t in = s.in_numel;
            for (int o = 0; o < s.co; o++) {
                int64_t sum = 0;
                const int32_t* w = s.lw.data() + (int64_t)o * in;
                for (int64_t i = 0; i < in; i++) sum += read_value(x, s.in_kind, i) * w[i];
                out_logits[o] = (int64_t)((uint64_t)sum << s.frac) + s.bias[o];
            }
            break;
        }
        default: break;
    }
}

// The program's output of one image when it does not end with LINEAR: the last value, widened.
void widen_last(const Program& p, const uint8_t* input, uint8_t* arena, int64_t* out) {
    const int v = (int)p.steps.size();
    const uint8_t* x = value_ptr(p, v, input, arena);
    for (int64_t i = 0; i < p.out_numel; i++) out[i] = read_value(x, p.value_kind[v], i);
}

inline int64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// One whole image on one thread; step_ns (or null): each step's time is added to it.
void run_image(const Program& p, int64_t image, const uint8_t* input, int64_t* out, Worker& wk,
               int64_t* step_ns = nullptr) {
    for (size_t si = 0; si < p.steps.size(); si++) {
        const int64_t t0 = step_ns ? now_ns() : 0;
        const Step& s = p.steps[si];
        if (s.has_conv) {
            for (int gr = 0; gr < s.conv.groups; gr++)
                for (int64_t t = 0; t < s.conv.mtiles; t++)
                    conv_block(p, si, image, gr, t, 0, s.conv.nvec, input, wk.arena, wk);
        } else {
            small_step(p, si, input, wk.arena, wk.scratch, out);
        }
        if (step_ns) step_ns[si] += now_ns() - t0;
    }
    if (p.steps.back().kind != QAT4J_STEP_LINEAR) widen_last(p, input, wk.arena, out);
}

int profile(const Program& p, const uint8_t* codes, int64_t n, int64_t* out, int64_t* step_ns) {
    Worker* wk = acquire(p);
    if (!wk) return QAT4J_ERR_NO_MEMORY;
    for (size_t si = 0; si < p.steps.size(); si++) step_ns[si] = 0;
    for (int64_t b = 0; b < n; b++) run_image(p, b, codes + b * p.input_bytes, out + b * p.out_numel, *wk, step_ns);
    release(p, wk);
    return QAT4J_OK;
}

// Below this many multiply-accumulates per image, a batch smaller than the thread count runs its images on one thread
// each instead of splitting every conv over the threads: the split's barrier per step, and every thread packing
// each conv's input, cost more than they save. Measured on the 2-core machine (ResNet20, 41M MACs per image, batch 1):
// 0.17-0.22 ms on one thread, 0.23-0.26 ms split over two (bench/compare.sh --only int8).
constexpr int64_t kSplitMinMacs = (int64_t)1 << 28;
std::atomic<int64_t> split_min_macs{kSplitMinMacs};  // qat4j_int_program_split_min_macs: tests lower it

int run(const Program& p, const uint8_t* codes, int64_t n, int64_t* out) {
    int nth = omp_get_max_threads();
    int failed = 0;
    if (n < nth && p.macs_per_image < split_min_macs.load()) nth = (int)n;
    if (n >= nth || nth == 1) {
#pragma omp parallel num_threads(nth) if (nth > 1) reduction(| : failed)
        {
            Worker* wk = acquire(p);
            failed = wk ? 0 : 1;
            // a thread without buffers still reaches the loop (every thread must) but runs nothing: the call fails
#pragma omp for schedule(dynamic)
            for (int64_t b = 0; b < n; b++) {
                if (wk) run_image(p, b, codes + b * p.input_bytes, out + b * p.out_numel, *wk);
            }
            release(p, wk);
        }
        return failed ? QAT4J_ERR_NO_MEMORY : QAT4J_OK;
    }
    int lost = 0;             // a thread without buffers makes every thread skip the work (all still hit the barriers)
    uint8_t* arena = nullptr;  // the values of the image in flight: the master's worker's arena, shared
#pragma omp parallel num_threads(nth)
    {
        Worker* wk = acquire(p);
        if (!wk) {
#pragma omp atomic write
            lost = 1;
        }
#pragma omp master
        arena = wk ? wk->arena : nullptr;
#pragma omp barrier
        int skip;
#pragma omp atomic read
        skip = lost;
        for (int64_t b = 0; b < n && !skip; b++) {
            const uint8_t* input = codes + b * p.input_bytes;
            for (size_t si = 0; si < p.steps.size(); si++) {
                const Step& s = p.steps[si];
                if (!s.has_conv) {
#pragma omp single
                    small_step(p, si, input, arena, wk->scratch, out + b * p.out_numel);
                    continue;  // the single's implicit barrier orders it before the next step
                }
                const qat4j::S8Conv& q = s.conv;
                // blocks of 4 vectors (one register tile's width); enough blocks to keep every thread busy
                const int64_t tiles = (int64_t)q.groups * q.mtiles;
                const int64_t want = qat4j::ceil_div(4 * nth, tiles);
                const int64_t per = 4 * qat4j::ceil_div(qat4j::ceil_div(q.nvec, want), 4);
                const int64_t chunks = qat4j::ceil_div(q.nvec, per);
#pragma omp for schedule(dynamic)
                for (int64_t it = 0; it < tiles * chunks; it++) {
                    const int64_t tile = it / chunks, ch = it % chunks;
                    const int64_t v0 = ch * per, v1 = qat4j::min64(v0 + per, q.nvec);
                    conv_block(p, si, b, (int)(tile / q.mtiles), tile % q.mtiles, v0, v1, input, arena, *wk);
                }
            }
            if (p.steps.back().kind != QAT4J_STEP_LINEAR) {
#pragma omp single
                widen_last(p, input, arena, out + b * p.out_numel);
            }
        }
#pragma omp barrier
        release(p, wk);  // after the barrier: no thread still reads the master's arena
    }
    return lost ? QAT4J_ERR_NO_MEMORY : QAT4J_OK;
}

int create(int nsteps, const int64_t* desc, int nvalues, const int64_t* value_desc, const int8_t* bytes,
           const int32_t* ints, const int64_t* longs, Program* p) {
    p->value_kind.resize(nvalues);
    p->value_numel.resize(nvalues);
    p->value_off.resize(nvalues);
    for (int v = 0; v < nvalues; v++) {
        p->value_kind[v] = (int)value_desc[2 * v];
        p->value_numel[v] = value_desc[2 * v + 1];
        p->value_off[v] = p->arena_bytes;
        if (v > 0) p->arena_bytes += (p->value_numel[v] * elem_bytes(p->value_kind[v]) + 63) & ~(int64_t)63;
    }
    p->out_numel = p->value_numel[nvalues - 1];
    p->input_bytes = p->value_numel[0] * elem_bytes(p->value_kind[0]);
    p->steps.resize(nsteps);
    for (int i = 0; i < nsteps; i++) {
        const int64_t* d = desc + (int64_t)i * QAT4J_PROGRAM_STEP_FIELDS;
        Step& s = p->steps[i];
        s.kind = (int)d[QAT4J_STEP_F_KIND];
        s.input = (int)d[QAT4J_STEP_F_INPUT];
        s.residual = (int)d[QAT4J_STEP_F_RESIDUAL];
        s.c = (int)d[QAT4J_STEP_F_C];
        s.h = (int)d[QAT4J_STEP_F_H];
        s.w = (int)d[QAT4J_STEP_F_W];
        s.co = (int)d[QAT4J_STEP_F_CO];
        s.pool = (int)d[QAT4J_STEP_F_POOL];
        s.frac = (int)d[QAT4J_STEP_F_FRAC];
        s.rounding = (int)d[QAT4J_STEP_F_ROUNDING];
        s.qmin = d[QAT4J_STEP_F_QMIN];
        s.qmax = d[QAT4J_STEP_F_QMAX];
        s.in_kind = p->value_kind[s.input];
        s.res_kind = s.residual >= 0 ? residual_kind(p->value_kind[s.residual]) : QAT4J_RESIDUAL_NONE;
        s.out_kind = p->value_kind[i + 1];
        s.in_numel = p->value_numel[s.input];
        s.has_conv = s.kind == QAT4J_STEP_CONV;
        s.out_plane = s.co > 0 ? p->value_numel[i + 1] / s.co : 0;
        if (s.kind == QAT4J_STEP_CONV || s.kind == QAT4J_STEP_REQUANT) {
            const int32_t* prm = ints + d[QAT4J_STEP_F_PARAMS];
            s.mult.assign(prm, prm + s.co);
            s.shift.assign(prm + s.co, prm + 2 * s.co);
            if (s.residual >= 0) s.res_mult.assign(prm + 2 * s.co, prm + 3 * s.co);
        }
        if (s.kind != QAT4J_STEP_SUM_POOL) s.bias.assign(longs + d[QAT4J_STEP_F_BIAS], longs + d[QAT4J_STEP_F_BIAS] + s.co);
        if (s.kind == QAT4J_STEP_LINEAR) {
            const int32_t* w = ints + d[QAT4J_STEP_F_WEIGHTS];
            s.lw.assign(w, w + (int64_t)s.co * s.in_numel);
        }
        if (s.kind == QAT4J_STEP_REQUANT && s.in_kind != QAT4J_VALUE_INT32 && s.in_numel > p->scratch_ints)
            p->scratch_ints = s.in_numel;
        if (s.has_conv) {
            qat4j_conv_geometry g{};
            g.n = 1;
            g.c = s.c;
            g.h = s.h;
            g.w = s.w;
            g.co = s.co;
            g.kh = (int)d[QAT4J_STEP_F_KH];
            g.kw = (int)d[QAT4J_STEP_F_KW];
            g.sh = g.sw = (int)d[QAT4J_STEP_F_STRIDE];
            g.ph = g.pw = (int)d[QAT4J_STEP_F_PAD];
            g.groups = (int)d[QAT4J_STEP_F_GROUPS];
            const int st = qat4j::s8conv_prepare(&s.conv, g, s.in_kind == QAT4J_VALUE_INT8,
                                                 bytes + d[QAT4J_STEP_F_WEIGHTS]);
            if (st != QAT4J_OK) {
                s.has_conv = false;  // nothing held
                return st == qat4j::kConvNotApplicable ? QAT4J_ERR_UNSUPPORTED : st;
            }
            if (MR * s.conv.P > p->scratch_ints) p->scratch_ints = MR * s.conv.P;
            p->macs_per_image += (int64_t)s.co * (s.c / g.groups) * g.kh * g.kw * s.conv.P;
        }
    }
    return QAT4J_OK;
}

}  // namespace
}  // namespace qat4j_int_program

extern "C" int qat4j_int_program_create(int steps, const int64_t* desc, int values, const int64_t* value_desc,
                                        const int8_t* bytes, const int32_t* ints, const int64_t* longs, int isa,
                                        int64_t* program) {
    *program = 0;
    if (qat4j_kernels_for(isa)->conv_s8_implicit == nullptr) return QAT4J_ERR_UNSUPPORTED;
    return qat4j::guard_alloc([&] {
        auto* p = new qat4j_int_program::Program();
        const int st = qat4j_int_program::create(steps, desc, values, value_desc, bytes, ints, longs, p);
        if (st != QAT4J_OK) {
            delete p;
            return st;
        }
        *program = (int64_t)(intptr_t)p;
        return QAT4J_OK;
    });
}

extern "C" int qat4j_int_program_run(int64_t program, const uint8_t* codes, int64_t n, int64_t* out) {
    const auto* p = (const qat4j_int_program::Program*)(intptr_t)program;
    return qat4j::guard_alloc([&] { return qat4j_int_program::run(*p, codes, n, out); });
}

extern "C" void qat4j_int_program_free(int64_t program) {
    delete (qat4j_int_program::Program*)(intptr_t)program;
}

extern "C" int qat4j_int_program_profile(int64_t program, const uint8_t* codes, int64_t n, int64_t* out,
                                         int64_t* step_ns) {
    const auto* p = (const qat4j_int_program::Program*)(intptr_t)program;
    return qat4j::guard_alloc([&] { return qat4j_int_program::profile(*p, codes, n, out, step_ns); });
}

extern "C" int64_t qat4j_int_program_split_min_macs(int64_t macs) {
    return macs < 0 ? qat4j_int_program::split_min_macs.load() : qat4j_int_program::split_min_macs.exchange(macs);
}
