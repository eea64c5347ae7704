package dev.qat4j.backend.cpu;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.ConvParams;
import dev.qat4j.backend.IntegerProgram;
import dev.qat4j.backend.Op;
import dev.qat4j.backend.Results.ActQuantGrads;
import dev.qat4j.backend.Results.BatchNormForward;
import dev.qat4j.backend.Results.BatchNormGrads;
import dev.qat4j.backend.Results.ImageBatch;
import dev.qat4j.backend.Results.Loss;
import dev.qat4j.backend.SgdParams;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.quant.Rounding;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.QuantGrid;
import dev.qat4j.tensor.Shape;
import dev.qat4j.tensor.Tensor;
import dev.qat4j.tensor.internal.TensorInternals;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * The C++ backend: tensors live in native memory and ops run in {@code src/main/cpp} through JavaCPP.
 *
 * <p>Every op runs natively. Float GEMMs (conv via im2col, linear) go to OpenBLAS; the int8 GEMM behind the
 * integer convolutions and the grid conv (conv2d of two quantized operands) has scalar, AVX2 and AVX-512 VNNI variants,
 * the float kernels scalar and AVX-512F ones; the native dispatch table picks them for the ISA level resolved once
 * from CPUID ({@code QAT4J_ISA} lowers it). Integer results are identical to {@code ref}; float
 * results agree within the tolerances stated in {@code CpuConformanceTest}.
 */
public final class CpuBackend extends Backend {

    static {
        // Step buffers are freed and reallocated every step; keep them in the heap rather than page-faulting them back
        // in from the OS each time (see qat4j_retain_freed_memory). QAT4J_MALLOC_RETAIN=0 leaves malloc as it is.
        if (!"0".equals(System.getProperty("qat4j.mallocRetain", System.getenv("QAT4J_MALLOC_RETAIN")))) {
            NativeKernels.qat4j_retain_freed_memory();
        }
        // QAT4J_THREADS (or -Dqat4j.threads) sets the process-wide native thread count, for OpenMP and OpenBLAS alike.
        String t = System.getProperty("qat4j.threads", System.getenv("QAT4J_THREADS"));
        if (t != null && !t.isBlank()) {
            setThreads(Integer.parseInt(t.trim()));
        } else {
            setThreads(Math.min(1024, NativeKernels.qat4j_num_threads()));
        }
    }

    /** The process-wide thread count every op obeys, on whichever thread it runs. */
    private static volatile int threadCount;

    /** The count last handed to OpenMP on each thread (OpenMP keeps its thread count per calling thread). */
    private static final ThreadLocal<int[]> THREADS_APPLIED = ThreadLocal.withInitial(() -> new int[] {0});

    /**
     * Sets the number of threads the native kernels use (OpenMP; OpenBLAS stays single-threaded), from 1 to 1024, for
     * the whole process: every op started afterwards, on any thread, runs with this many.
     */
    public static void setThreads(int threads) {
        if (threads < 1 || threads > 1024) {
            throw new IllegalArgumentException("cpu backend: thread count must be in 1..1024, got " + threads);
        }
        threadCount = threads;
    }

    /** OpenMP's setting is per thread: bring the calling thread's in line with the process-wide count first. */
    @Override
    protected void prepareCallingThread() {
        int wanted = threadCount;
        int[] applied = THREADS_APPLIED.get();
        if (applied[0] != wanted) {
            NativeKernels.qat4j_set_num_threads(wanted);
            applied[0] = wanted;
        }
    }

    // ---------------------------------------------------------------- native constants
    // Mirrors of the #defines of src/main/cpp/qat4j_kernels.h (NativeConstantsTest checks each against the library).

    static final int QAT4J_OK = 0;
    static final int QAT4J_ERR_NO_MEMORY = 1;
    static final int QAT4J_OFF_GRID = 2;

    static final int ISA_SCALAR = 0;
    static final int ISA_AVX2 = 1;
    static final int ISA_AVX512F = 2;
    static final int ISA_AVX512VNNI = 3;

    static final int ACT_PACT = 0;
    static final int ACT_MPACT = 1;
    static final int ACT_FIXED_CLIP = 2;
    static final int ACT_DOREFA = 3;

    static final int ROUND_HALF_EVEN = 0;
    static final int ROUND_HALF_UP = 1;
    static final int ROUND_HALF_AWAY_FROM_ZERO = 2;
    static final int ROUND_TOWARD_ZERO = 3;
    static final int ROUND_FLOOR = 4;

    static final int RESIDUAL_NONE = 0;
    static final int RESIDUAL_INT8 = 1;
    static final int RESIDUAL_UINT8 = 2;
    static final int RESIDUAL_INT32 = 3;

    static final int OUT_INT8 = 1;
    static final int OUT_INT32 = 4;

    /** The native code of an activation quantizer kind (QAT4J_ACT_*). */
    static int nativeKind(ActQuantizer.Kind kind) {
        return switch (kind) {
            case PACT -> ACT_PACT;
            case MPACT -> ACT_MPACT;
            case FIXED_CLIP -> ACT_FIXED_CLIP;
            case DOREFA -> ACT_DOREFA;
        };
    }

    /** The native code of a rounding mode (QAT4J_ROUND_*). */
    static int nativeRounding(Rounding rounding) {
        return switch (rounding) {
            case HALF_EVEN -> ROUND_HALF_EVEN;
            case HALF_UP -> ROUND_HALF_UP;
            case HALF_AWAY_FROM_ZERO -> ROUND_HALF_AWAY_FROM_ZERO;
            case TOWARD_ZERO -> ROUND_TOWARD_ZERO;
            case FLOOR -> ROUND_FLOOR;
        };
    }

    /** The native code of a requantizer's residual operand (QAT4J_RESIDUAL_*); null: none. */
    static int nativeResidual(DType residual) {
        if (residual == null) {
            return RESIDUAL_NONE;
        }
        return switch (residual) {
            case INT8 -> RESIDUAL_INT8;
            case UINT8 -> RESIDUAL_UINT8;
            case INT32 -> RESIDUAL_INT32;
            case FLOAT32 -> throw new IllegalArgumentException("cpu backend: no float residual in the integer epilogue");
        };
    }

    /** The native code of a requantizer's output type (QAT4J_OUT_*: its element width). */
    static int nativeOut(DType out) {
        return switch (out) {
            case INT8, UINT8 -> OUT_INT8;
            case INT32 -> OUT_INT32;
            case FLOAT32 -> throw new IllegalArgumentException("cpu backend: requantized output must be an integer type");
        };
    }

    /**
     * Turns a native status into the exception it stands for: out of memory for a native work buffer becomes an
     * {@link OutOfMemoryError}, an unknown code an {@link IllegalStateException}. On failure the op's outputs are
     * closed first (their contents are unspecified).
     */
    static void check(int status, Op op, Tensor... outputs) {
        if (status == QAT4J_OK) {
            return;
        }
        for (Tensor t : outputs) { // the op's outputs, allocated before the call: nobody else will close them
            if (t != null) {
                t.close();
            }
        }
        if (status == QAT4J_ERR_NO_MEMORY) {
            throw new OutOfMemoryError("cpu backend: " + op.methodName() + ": native work buffer could not be allocated");
        }
        throw new IllegalStateException("cpu backend: " + op.methodName() + ": native kernel returned status " + status);
    }

    /** The whole forward in one native call (int_program.cpp) where this instance's ISA level has the VNNI conv. */
    @Override
    public IntegerProgram.Compiled compileIntegerProgram(IntegerProgram program) {
        super.compileIntegerProgram(program);
        return CpuIntegerProgram.compile(this, isa, program);
    }

    /** The conv geometry struct of the C ABI from the operands' shapes; the caller closes it. */
    private static NativeKernels.ConvGeometry geometry(int[] xs, int[] ws, ConvParams p) {
        NativeKernels.ConvGeometry g = new NativeKernels.ConvGeometry();
        g.n(xs[0]).c(xs[1]).h(xs[2]).w(xs[3]).co(ws[0]).kh(ws[2]).kw(ws[3]).sh(p.strideH()).sw(p.strideW())
                .ph(p.padH()).pw(p.padW()).groups(p.groups());
        return g;
    }

    /** One instance per ISA level (index = level), created on first use. */
    private static final CpuBackend[] BY_ISA = new CpuBackend[NativeKernels.qat4j_cpu_max_isa() + 1];

    private final int isa;

    private CpuBackend(int isa) {
        this.isa = isa;
    }

    /**
     * The backend at the ISA level dispatch chose (the widest the CPU has, or lowered by {@code QAT4J_ISA}). Loads the
     * native library on first use; throws {@link UnsatisfiedLinkError} (or another Error) if it cannot.
     */
    public static CpuBackend get() {
        return forIsa(NativeKernels.qat4j_cpu_active_isa());
    }

    /**
     * The backend pinned to one ISA level of {@link #availableIsaLevels()}, so tests and benchmarks can run every
     * kernel variant the CPU has. Tensors belong to the instance that made them.
     */
    public static synchronized CpuBackend forIsa(int level) {
        if (level < 0 || level >= BY_ISA.length) {
            throw new IllegalArgumentException("cpu backend: ISA level " + level + " is not available on this CPU (0.."
                    + (BY_ISA.length - 1) + ")");
        }
        if (BY_ISA[level] == null) {
            BY_ISA[level] = new CpuBackend(level);
        }
        return BY_ISA[level];
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public String description() {
        return "C++ kernels via JavaCPP (implicit-GEMM convs, int8 " + isaName() + "), " + threads() + " threads";
    }

    /** The ISA level of this instance's kernels. */
    public String isaName() {
        return NativeKernels.qat4j_isa_name(isa);
    }

    /** ISA levels this CPU has, from scalar up to the widest: each kernel variant that can run here. */
    public static int[] availableIsaLevels() {
        int max = NativeKernels.qat4j_cpu_max_isa();
        int[] levels = new int[max + 1];
        for (int i = 0; i <= max; i++) {
            levels[i] = i;
        }
        return levels;
    }

    public static String isaName(int level) {
        return NativeKernels.qat4j_isa_name(level);
    }

    /** The process-wide thread count ({@link #setThreads}). */
    public int threads() {
        return threadCount;
    }

    // ---------------------------------------------------------------- storage

    private static Pointer ptr(Tensor t) {
        return ((NativeStorage) TensorInternals.storage(t)).pointer;
    }

    /** Native memory for an op's output; uninitialized, because every kernel writes each output element. */
    private Tensor allocate(DType dtype, int[] shape) {
        long n = Math.max(1, Shape.numel(shape)); // JavaCPP refuses zero-size allocations
        Pointer p = switch (dtype) {
            case FLOAT32 -> new FloatPointer(n);
            case INT8, UINT8 -> new BytePointer(n);
            case INT32 -> new IntPointer(n);
        };
        if (p.isNull()) {
            throw new OutOfMemoryError("cpu backend: cannot allocate " + n * dtype.byteSize() + " bytes for "
                    + dtype + Shape.str(shape));
        }
        return TensorInternals.wrap(this, dtype, shape, new NativeStorage(p, n * dtype.byteSize()));
    }

    private Tensor allocateZeroed(DType dtype, int[] shape) {
        Tensor t = allocate(dtype, shape);
        ptr(t).zero();
        return t;
    }

    @Override
    protected Tensor doZeros(DType dtype, int[] shape) {
        return allocateZeroed(dtype, shape);
    }

    @Override
    protected Tensor doFromFloats(float[] data, int[] shape) {
        Tensor t = allocate(DType.FLOAT32, shape);
        ((FloatPointer) ptr(t)).put(data);
        return t;
    }

    @Override
    protected Tensor doFromBytes(byte[] data, DType dtype, int[] shape) {
        Tensor t = allocate(dtype, shape);
        ((BytePointer) ptr(t)).put(data);
        return t;
    }

    @Override
    protected Tensor doFromInts(int[] data, int[] shape) {
        Tensor t = allocate(DType.INT32, shape);
        ((IntPointer) ptr(t)).put(data);
        return t;
    }

    @Override
    protected float[] doReadFloats(Tensor t) {
        float[] a = new float[t.numel()];
        ((FloatPointer) ptr(t)).get(a);
        return a;
    }

    @Override
    protected byte[] doReadBytes(Tensor t) {
        byte[] a = new byte[t.numel()];
        ((BytePointer) ptr(t)).get(a);
        return a;
    }

    @Override
    protected int[] doReadInts(Tensor t) {
        int[] a = new int[t.numel()];
        ((IntPointer) ptr(t)).get(a);
        return a;
    }

    // ---------------------------------------------------------------- native ops

    @Override
    protected Tensor doActQuant(Tensor x, ActQuantizer q, Tensor alpha) {
        return actQuantNative(x, q, alpha, isa);
    }

    private Tensor actQuantNative(Tensor x, ActQuantizer q, Tensor alpha, int isaLevel) {
        Tensor y = allocate(DType.FLOAT32, x.shape());
        if (q.isIdentity()) {
            Pointer.memcpy(ptr(y), ptr(x), 4L * x.numel());
            return y;
        }
        float a = alpha == null ? 0f : ((FloatPointer) ptr(alpha)).get(0);
        check(NativeKernels.qat4j_act_quant_f32((FloatPointer) ptr(x), (FloatPointer) ptr(y), x.numel(),
                nativeKind(q.kind()), q.bits(), a, q.fixedClip(), isaLevel), Op.ACT_QUANT, y);
        float step = q.step(a);
        if (q.bits() <= 8 && step > 0f && Float.isFinite(step)) {
            TensorInternals.markQuantGrid(y, new QuantGrid(step, q.minCode(), q.maxCode()));
        }
        return y;
    }

    /**
     * Whether conv2d multiplies the codes of quantized operands in int8 (exact int32 sums, one float scale) instead
     * of their values in float: on with VNNI, off with {@code -Dqat4j.cpu.gridConv=false} (to time the two).
     */
    private static final boolean GRID_CONV = !"false".equals(System.getProperty("qat4j.cpu.gridConv"));

    /** Both operands on int8-sized grids whose int32 sums cannot overflow: the forward conv can run on codes. */
    private boolean gridConvApplies(Tensor x, Tensor w) {
        QuantGrid gx = x.quantGrid(), gw = w.quantGrid();
        if (!GRID_CONV || isa < ISA_AVX512VNNI || gx == null || gw == null) {
            return false;
        }
        if (!(gx.fitsUint8() || gx.fitsInt8()) || !gw.fitsInt8()) {
            return false;
        }
        if (w.dim(1) == 1 && x.dim(1) > 1) { // depthwise: the float implicit GEMM beats the int8 direct loops
            return false;
        }
        long k = (long) w.dim(1) * w.dim(2) * w.dim(3);
        if (k * gx.maxAbsCode() * gw.maxAbsCode() > Integer.MAX_VALUE) {
            return false;
        }
        // y = acc * (stepX * stepW) in float: only where that scale is a normal float and the largest sum stays finite
        // does it agree with the float conv of the values (extreme PACT alphas give steps near the float limits).
        float scale = gx.step() * gw.step();
        return gx.step() >= Float.MIN_NORMAL && gw.step() >= Float.MIN_NORMAL && scale >= Float.MIN_NORMAL
                && (double) k * gx.maxAbsCode() * gw.maxAbsCode() * scale < Float.MAX_VALUE;
    }

    // ---------------------------------------------------------------- native ops

    private static FloatPointer fp(Tensor t) {
        return t == null ? null : (FloatPointer) ptr(t);
    }

    private static IntPointer ip(Tensor t) {
        return t == null ? null : (IntPointer) ptr(t);
    }

    private static BytePointer bp(Tensor t) {
        return (BytePointer) ptr(t);
    }

    private static long inner(int[] s) {
        long inner = 1;
        for (int i = 2; i < s.length; i++) {
            inner *= s[i];
        }
        return inner;
    }

    @Override
    protected Tensor doConv2d(Tensor x, Tensor w, Tensor bias, ConvParams p) {
        int[] xs = x.shape(), ws = w.shape();
        Tensor y = allocate(DType.FLOAT32, convOutShape(xs, ws, p));
        if (y.numel() == 0) {
            return y;
        }
        try (NativeKernels.ConvGeometry g = geometry(xs, ws, p)) {
            if (gridConvApplies(x, w)) {
                QuantGrid gx = x.quantGrid(), gw = w.quantGrid();
                int status = NativeKernels.qat4j_conv2d_grid_f32(fp(x), gx.step(), gx.fitsUint8() ? 0 : 1,
                        gx.minCode(), gx.maxCode(), fp(w), gw.step(), gw.minCode(), gw.maxCode(), fp(bias), fp(y), g,
                        isa);
                if (status == QAT4J_OK) {
                    return y;
                }
                if (status != QAT4J_OFF_GRID && status != QAT4J_ERR_NO_MEMORY) {
                    check(status, Op.CONV2D, y);
                }
                // A value off its grid (NaN, inf): the float conv below propagates it as the reference does. Out of
                // memory for the code buffers: the float conv needs less and may still run; if it cannot either, its
                // own status raises.
            }
            check(NativeKernels.qat4j_conv2d_f32(fp(x), fp(w), fp(bias), fp(y), g, isa), Op.CONV2D, y);
        }
        return y;
    }

    @Override
    protected Tensor doConv2dBackwardData(Tensor dy, Tensor w, int[] xs, ConvParams p) {
        int[] ws = w.shape();
        Tensor dx = dy.numel() > 0 ? allocate(DType.FLOAT32, xs) : allocateZeroed(DType.FLOAT32, xs);
        if (dy.numel() > 0) {
            try (NativeKernels.ConvGeometry g = geometry(xs, ws, p)) {
                check(NativeKernels.qat4j_conv2d_bwd_data_f32(fp(dy), fp(w), fp(dx), g, isa), Op.CONV2D_BACKWARD_DATA,
                        dx);
            }
        }
        return dx;
    }

    @Override
    protected Tensor doConv2dBackwardWeight(Tensor dy, Tensor x, int[] ws, ConvParams p) {
        int[] xs = x.shape();
        Tensor dw = dy.numel() > 0 ? allocate(DType.FLOAT32, ws) : allocateZeroed(DType.FLOAT32, ws);
        if (dy.numel() > 0) {
            try (NativeKernels.ConvGeometry g = geometry(xs, ws, p)) {
                check(NativeKernels.qat4j_conv2d_bwd_weight_f32(fp(dy), fp(x), fp(dw), g, isa),
                        Op.CONV2D_BACKWARD_WEIGHT, dw);
            }
        }
        return dw;
    }

    @Override
    protected Tensor doBiasBackward(Tensor dy) {
        int[] s = dy.shape();
        Tensor db = allocate(DType.FLOAT32, new int[] {s[1]});
        check(NativeKernels.qat4j_bias_bwd_f32(fp(dy), fp(db), s[0], s[1], inner(s)), Op.BIAS_BACKWARD, db);
        return db;
    }

    @Override
    protected Tensor doLinear(Tensor x, Tensor w, Tensor bias) {
        int n = x.dim(0), in = x.dim(1), out = w.dim(0);
        Tensor y = in > 0 ? allocate(DType.FLOAT32, new int[] {n, out}) : allocateZeroed(DType.FLOAT32, new int[] {n, out});
        if (y.numel() > 0 && in > 0) {
            check(NativeKernels.qat4j_linear_f32(fp(x), fp(w), fp(bias), fp(y), n, in, out), Op.LINEAR, y);
        } else if (bias != null && n > 0) {
            for (int b = 0; b < n; b++) {
                Pointer.memcpy(fp(y).getPointer((long) b * out), ptr(bias), 4L * out); // getPointer counts elements
            }
        }
        return y;
    }

    @Override
    protected Tensor doLinearBackwardData(Tensor dy, Tensor w) {
        int n = dy.dim(0), out = w.dim(0), in = w.dim(1);
        Tensor dx = out > 0 ? allocate(DType.FLOAT32, new int[] {n, in}) : allocateZeroed(DType.FLOAT32, new int[] {n, in});
        if (dx.numel() > 0 && out > 0) {
            check(NativeKernels.qat4j_linear_bwd_data_f32(fp(dy), fp(w), fp(dx), n, in, out), Op.LINEAR_BACKWARD_DATA,
                    dx);
        }
        return dx;
    }

    @Override
    protected Tensor doLinearBackwardWeight(Tensor dy, Tensor x) {
        int n = dy.dim(0), out = dy.dim(1), in = x.dim(1);
        Tensor dw = n > 0 ? allocate(DType.FLOAT32, new int[] {out, in}) : allocateZeroed(DType.FLOAT32, new int[] {out, in});
        if (dw.numel() > 0 && n > 0) {
            check(NativeKernels.qat4j_linear_bwd_weight_f32(fp(dy), fp(x), fp(dw), n, in, out),
                    Op.LINEAR_BACKWARD_WEIGHT, dw);
        }
        return dw;
    }

    @Override
    protected BatchNormForward doBatchNorm2dTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
                                                  Tensor runningVar, float momentum, float eps) {
        int[] s = x.shape();
        Tensor y = allocate(DType.FLOAT32, s);
        Tensor mean = allocate(DType.FLOAT32, new int[] {s[1]});
        Tensor invStd = allocate(DType.FLOAT32, new int[] {s[1]});
        check(NativeKernels.qat4j_bn_train_f32(fp(x), fp(gamma), fp(beta), fp(runningMean), fp(runningVar), momentum,
                eps, fp(y), fp(mean), fp(invStd), s[0], s[1], inner(s), isa), Op.BATCH_NORM2D_TRAIN, y, mean, invStd);
        return new BatchNormForward(y, mean, invStd);
    }

    @Override
    protected Tensor doBatchNorm2dEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                       float eps) {
        int[] s = x.shape();
        Tensor y = allocate(DType.FLOAT32, s);
        check(NativeKernels.qat4j_bn_eval_f32(fp(x), fp(gamma), fp(beta), fp(runningMean), fp(runningVar), eps, fp(y),
                s[0], s[1], inner(s)), Op.BATCH_NORM2D_EVAL, y);
        return y;
    }

    @Override
    protected BatchNormGrads doBatchNorm2dBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor invStd) {
        int[] s = x.shape();
        Tensor dx = allocate(DType.FLOAT32, s);
        Tensor dgamma = allocate(DType.FLOAT32, new int[] {s[1]});
        Tensor dbeta = allocate(DType.FLOAT32, new int[] {s[1]});
        check(NativeKernels.qat4j_bn_bwd_f32(fp(dy), fp(x), fp(gamma), fp(mean), fp(invStd), fp(dx), fp(dgamma),
                fp(dbeta), s[0], s[1], inner(s), isa), Op.BATCH_NORM2D_BACKWARD, dx, dgamma, dbeta);
        return new BatchNormGrads(dx, dgamma, dbeta);
    }

    @Override
    protected Tensor doClamp(Op op, Tensor x, float lo, float hi) {
        Tensor y = allocate(DType.FLOAT32, x.shape());
        check(NativeKernels.qat4j_clamp_f32(fp(x), fp(y), x.numel(), lo, hi), op, y);
        return y;
    }

    @Override
    protected Tensor doClampBackward(Op op, Tensor dy, Tensor x, float lo, float hi) {
        Tensor dx = allocate(DType.FLOAT32, x.shape());
        check(NativeKernels.qat4j_clamp_bwd_f32(fp(dy), fp(x), fp(dx), x.numel(), lo, hi, isa), op, dx);
        return dx;
    }

    @Override
    protected Tensor doAvgPool2d(Tensor x, int kernel, int stride, int pad) {
        int[] s = x.shape();
        int oh = (s[2] + 2 * pad - kernel) / stride + 1, ow = (s[3] + 2 * pad - kernel) / stride + 1;
        Tensor y = allocate(DType.FLOAT32, new int[] {s[0], s[1], oh, ow});
        check(NativeKernels.qat4j_avg_pool_f32(fp(x), fp(y), s[0] * s[1], s[2], s[3], kernel, stride, pad),
                Op.AVG_POOL2D, y);
        return y;
    }

    @Override
    protected Tensor doAvgPool2dBackward(Tensor dy, int[] xs, int kernel, int stride, int pad) {
        Tensor dx = allocate(DType.FLOAT32, xs);
        check(NativeKernels.qat4j_avg_pool_bwd_f32(fp(dy), fp(dx), xs[0] * xs[1], xs[2], xs[3], kernel, stride, pad),
                Op.AVG_POOL2D_BACKWARD, dx);
        return dx;
    }

    @Override
    protected Tensor doAdaptiveAvgPool2d(Tensor x, int outH, int outW) {
        int[] s = x.shape();
        Tensor y = allocate(DType.FLOAT32, new int[] {s[0], s[1], outH, outW});
        check(NativeKernels.qat4j_adaptive_avg_pool_f32(fp(x), fp(y), s[0] * s[1], s[2], s[3], outH, outW),
                Op.ADAPTIVE_AVG_POOL2D, y);
        return y;
    }

    @Override
    protected Tensor doAdaptiveAvgPool2dBackward(Tensor dy, int[] xs) {
        Tensor dx = allocate(DType.FLOAT32, xs);
        check(NativeKernels.qat4j_adaptive_avg_pool_bwd_f32(fp(dy), fp(dx), xs[0] * xs[1], xs[2], xs[3], dy.dim(2),
                dy.dim(3)), Op.ADAPTIVE_AVG_POOL2D_BACKWARD, dx);
        return dx;
    }

    @Override
    protected Tensor doAdd(Tensor a, Tensor b) {
        Tensor y = allocate(DType.FLOAT32, a.shape());
        check(NativeKernels.qat4j_add_f32(fp(a), fp(b), fp(y), a.numel()), Op.ADD, y);
        return y;
    }

    @Override
    protected Loss doSoftmaxCrossEntropy(Tensor logits, Tensor labels, float labelSmoothing) {
        Tensor d = allocate(DType.FLOAT32, logits.shape());
        float[] loss = new float[1];
        check(NativeKernels.qat4j_softmax_ce_f32(fp(logits), ip(labels), labelSmoothing, fp(d), logits.dim(0),
                logits.dim(1), loss), Op.SOFTMAX_CROSS_ENTROPY, d);
        return new Loss(doFromFloats(loss, new int[] {1}), d);
    }

    @Override
    protected void doSgdStep(Tensor param, Tensor grad, Tensor momentumBuffer, SgdParams p) {
        check(NativeKernels.qat4j_sgd_f32(fp(param), fp(grad), fp(momentumBuffer), param.numel(), p.lr(), p.momentum(),
                p.weightDecay(), p.nesterov() ? 1 : 0), Op.SGD_STEP);
    }

    private static float alphaOf(Tensor alpha) {
        return alpha == null ? 0f : fp(alpha).get(0);
    }

    @Override
    protected ActQuantGrads doActQuantBackward(Tensor dy, Tensor x, ActQuantizer q, Tensor alpha) {
        Tensor dx = allocate(DType.FLOAT32, x.shape());
        float[] dAlpha = new float[1];
        if (q.isIdentity()) {
            Pointer.memcpy(ptr(dx), ptr(dy), 4L * x.numel());
        } else {
            check(NativeKernels.qat4j_act_quant_bwd_f32(fp(dy), fp(x), fp(dx), x.numel(), nativeKind(q.kind()),
                    q.bits(), alphaOf(alpha), q.fixedClip(), dAlpha, isa), Op.ACT_QUANT_BACKWARD, dx);
        }
        return new ActQuantGrads(dx, q.hasAlpha() ? doFromFloats(dAlpha, new int[] {1}) : null);
    }

    @Override
    protected Tensor doWeightQuant(Tensor w, int bits) {
        Tensor wq = allocate(DType.FLOAT32, w.shape());
        check(NativeKernels.qat4j_weight_quant_f32(fp(w), fp(wq), w.numel(), bits), Op.WEIGHT_QUANT, wq);
        if (bits >= 3 && bits <= 8) { // value = code / (2^(b-1) - 1); 1 and 2 bits have data-dependent or unit steps
            int max = (1 << (bits - 1)) - 1;
            TensorInternals.markQuantGrid(wq, new QuantGrid(1f / max, -max, max));
        }
        return wq;
    }

    @Override
    protected Tensor doWeightQuantBackward(Tensor dwq, Tensor w, int bits) {
        Tensor dw = allocate(DType.FLOAT32, w.shape());
        check(NativeKernels.qat4j_weight_quant_bwd_f32(fp(dwq), fp(w), fp(dw), w.numel(), bits),
                Op.WEIGHT_QUANT_BACKWARD, dw);
        return dw;
    }

    @Override
    protected Tensor doConv2dInt(Tensor x, Tensor w, ConvParams p) {
        int[] xs = x.shape(), ws = w.shape();
        Tensor acc = allocate(DType.INT32, convOutShape(xs, ws, p));
        if (acc.numel() > 0) {
            try (NativeKernels.ConvGeometry g = geometry(xs, ws, p)) {
                check(NativeKernels.qat4j_conv2d_s8_s32(bp(x), x.dtype() == DType.INT8 ? 1 : 0, bp(w), ip(acc), g, isa),
                        Op.CONV2D_INT, acc);
            }
        }
        return acc;
    }

    @Override
    protected Tensor doGemmInt(Tensor a, Tensor b) {
        int m = a.dim(0), k = a.dim(1), n = b.dim(1);
        if (k == 0) {
            return allocateZeroed(DType.INT32, new int[] {m, n}); // an empty sum
        }
        Tensor c = allocate(DType.INT32, new int[] {m, n});
        if (c.numel() > 0) {
            check(NativeKernels.qat4j_gemm_s8_s32(m, n, k, bp(a), bp(b), b.dtype() == DType.INT8 ? 1 : 0, ip(c), isa),
                    Op.GEMM_INT, c);
        }
        return c;
    }

    @Override
    protected Tensor doRequantizeResidual(Tensor acc, Tensor residual, int[] multiplier, int[] shift, long[] bias,
                                          int[] residualMultiplier, Rounding rounding, int qmin, int qmax, DType out) {
        int[] s = acc.shape();
        Tensor y = allocate(out, s);
        if (acc.numel() > 0) {
            int resKind = nativeResidual(residual == null ? null : residual.dtype());
            check(NativeKernels.qat4j_requantize_residual_s32(ip(acc), residual == null ? null : ptr(residual), resKind,
                    multiplier, shift, bias, residualMultiplier, nativeRounding(rounding), qmin, qmax, ptr(y),
                    nativeOut(out), acc.numel(), s[1], Math.max(inner(s), 1), isa), Op.REQUANTIZE_RESIDUAL, y);
        }
        return y;
    }

    @Override
    protected Tensor doRequantize(Tensor acc, Tensor multiplier, Tensor shift, Tensor bias, Rounding rounding,
                                  int qmin, int qmax, DType out) {
        int[] s = acc.shape();
        int channels = s.length >= 2 ? s[1] : 1;
        Tensor y = allocate(out, s);
        check(NativeKernels.qat4j_requantize_s32(ip(acc), ip(multiplier), ip(shift), ip(bias),
                multiplier.numel() == 1 ? 1 : 0, nativeRounding(rounding), qmin, qmax, ptr(y), nativeOut(out),
                acc.numel(), Math.max(channels, 1), Math.max(inner(s), 1)), Op.REQUANTIZE, y);
        return y;
    }

    @Override
    protected ImageBatch doAugmentBatch(Tensor images, Tensor labels, int[] index, int[] top, int[] left,
                                        boolean[] flip, int padding, Tensor table) {
        int[] s = images.shape();
        int n = index.length;
        Tensor out = allocate(DType.FLOAT32, new int[] {n, s[1], s[2], s[3]});
        Tensor outLabels = allocate(DType.INT32, new int[] {n});
        check(NativeKernels.qat4j_augment_batch_u8(bp(images), ip(labels), s[1], s[2], s[3], index, top, left,
                flipBytes(flip), n, padding, fp(table), fp(out), ip(outLabels)), Op.AUGMENT_BATCH, out, outLabels);
        return new ImageBatch(out, outLabels);
    }

    @Override
    protected void doAccumulateConfusion(Tensor logits, Tensor labels, Tensor counts) {
        check(NativeKernels.qat4j_accumulate_confusion(fp(logits), ip(labels), logits.dim(0), logits.dim(1),
                fp(counts)), Op.ACCUMULATE_CONFUSION);
    }

    @Override
    protected void doSgdSteps(java.util.List<Tensor> params, java.util.List<Tensor> grads,
                              java.util.List<Tensor> buffers, java.util.List<SgdParams> hyper, Tensor nonFinite) {
        for (int i = 0; i < params.size(); i++) {
            SgdParams p = hyper.get(i);
            Tensor param = params.get(i);
            check(NativeKernels.qat4j_sgd_checked_f32(fp(param), fp(grads.get(i)), fp(buffers.get(i)), param.numel(),
                    p.lr(), p.momentum(), p.weightDecay(), p.nesterov() ? 1 : 0, fp(nonFinite)), Op.SGD_STEPS);
        }
    }
}
