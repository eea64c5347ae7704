package dev.qat4j.backend.cuda;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.ConvParams;
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
import dev.qat4j.tensor.Shape;
import dev.qat4j.tensor.Tensor;
import dev.qat4j.tensor.internal.TensorInternals;

/**
 * The GPU backend: tensors live in device memory and every op runs as CUDA kernels ({@code src/main/cuda}) queued on
 * one stream, so a training step never waits for the GPU until a result is read back ({@link Tensor#toFloatArray()},
 * or {@link #synchronize()}). Integer ops and the quantizers are bit-identical to {@code ref}; float convolutions,
 * GEMMs and reductions agree within the tolerances of {@code CudaConformanceTest}.
 *
 * <p>Threads: ops called from several threads are queued on the one stream in call order (so they never run at the
 * same time on the GPU); tensors may be created and closed from any thread.
 *
 * <p>Opt-in: {@code QAT4J_BACKEND=cuda} (or {@code --backend cuda}). The library is only built with the Maven profile
 * {@code cuda} ({@code -Pcuda}, which needs nvcc) and ships in the classifier jar {@code linux-x86_64-cuda}; it is only
 * loaded when this class is used, so the {@code cpu} and {@code ref} backends never load CUDA.
 */
public final class CudaBackend extends Backend {

    private static final Object LOCK = new Object();
    private static volatile CudaBackend instance;
    private static volatile String unavailableReason;

    private final String deviceName;

    private CudaBackend(String deviceName) {
        this.deviceName = deviceName;
    }

    /**
     * The backend on GPU 0. Throws {@link IllegalStateException} naming the reason when CUDA cannot be used (library
     * not on the classpath because the build had no {@code -Pcuda} or the {@code linux-x86_64-cuda} jar is missing,
     * no driver, no GPU).
     */
    public static CudaBackend get() {
        CudaBackend b = instance;
        if (b != null) {
            return b;
        }
        synchronized (LOCK) {
            if (instance == null && unavailableReason == null) {
                try {
                    int err = CudaKernels.qc_init();
                    if (err != 0) {
                        unavailableReason = "no usable GPU: " + CudaKernels.qc_error_string(err) + " (CUDA error " + err
                                + ")";
                    } else {
                        instance = new CudaBackend(CudaKernels.qc_device_name());
                    }
                } catch (Throwable e) { // UnsatisfiedLinkError, NoClassDefFoundError, ...
                    unavailableReason = "the CUDA library is not on the classpath (it ships in the jar "
                            + "dev.qat4j:qat4j:linux-x86_64-cuda, built with mvn -Pcuda package where nvcc is installed): " + e;
                }
            }
            if (instance == null) {
                throw new IllegalStateException("cuda backend unavailable: " + unavailableReason);
            }
            return instance;
        }
    }

    /** Whether {@link #get()} succeeds here; never throws. */
    public static boolean isAvailable() {
        try {
            get();
            return true;
        } catch (IllegalStateException e) {
            return false;
        }
    }

    /** Why {@link #get()} fails here, or null when CUDA is usable. */
    public static String unavailableReason() {
        return isAvailable() ? null : unavailableReason;
    }

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public String description() {
        return "CUDA kernels on " + deviceName;
    }

    public String deviceName() {
        return deviceName;
    }

    /** Waits until every queued op has run; throws if one of them failed. Benchmarks call this before reading a clock. */
    public void synchronize() {
        check(CudaKernels.qc_sync(), "synchronize");
    }

    /**
     * Turns per-op GPU timing on or off (CUDA events around every op; costs a little, for benchmarks only). See
     * {@link #profileReport()}.
     */
    public void setProfiling(boolean on) {
        CudaKernels.qc_profile_enable(on ? 1 : 0);
    }

    /** GPU time per op since the last report, largest first, as text lines; waits for the GPU. */
    public String profileReport() {
        return CudaKernels.qc_profile_report();
    }

    // ---------------------------------------------------------------- storage and errors

    /**
     * Turns a status of the C ABI into an exception: device memory exhausted (an op's scratch, or an allocation) is an
     * {@link OutOfMemoryError} naming the op; any other CUDA error an {@link IllegalStateException}.
     */
    private static void check(int code, String op) {
        if (code == CudaKernels.QC_ERROR_OUT_OF_MEMORY) {
            throw new OutOfMemoryError("cuda backend: " + op + " failed: out of GPU memory: "
                    + CudaKernels.qc_error_string(code) + " (CUDA error " + code + ")");
        }
        if (code != 0) {
            throw new IllegalStateException("cuda backend: " + op + " failed: " + CudaKernels.qc_error_string(code)
                    + " (CUDA error " + code + ")");
        }
    }

    private static void check(int code, Op op) {
        check(code, op.methodName());
    }

    /** The C ABI's {@code kind} of an activation quantizer: the QC_ACT_* of qat4j_cuda.h. */
    static int abiKind(ActQuantizer.Kind kind) {
        return switch (kind) {
            case PACT -> CudaKernels.QC_ACT_PACT;
            case MPACT -> CudaKernels.QC_ACT_MPACT;
            case FIXED_CLIP -> CudaKernels.QC_ACT_FIXED_CLIP;
            case DOREFA -> CudaKernels.QC_ACT_DOREFA;
        };
    }

    /** The C ABI's {@code rounding}: the QC_ROUND_* of qat4j_cuda.h. */
    static int abiRounding(Rounding rounding) {
        return switch (rounding) {
            case HALF_EVEN -> CudaKernels.QC_ROUND_HALF_EVEN;
            case HALF_UP -> CudaKernels.QC_ROUND_HALF_UP;
            case HALF_AWAY_FROM_ZERO -> CudaKernels.QC_ROUND_HALF_AWAY_FROM_ZERO;
            case TOWARD_ZERO -> CudaKernels.QC_ROUND_TOWARD_ZERO;
            case FLOOR -> CudaKernels.QC_ROUND_FLOOR;
        };
    }

    private static long a(Tensor t) {
        return t == null ? 0L : ((DeviceStorage) TensorInternals.storage(t)).address;
    }

    /** Device memory for an op's output; uninitialized, because every kernel writes each output element. */
    private Tensor allocate(DType dtype, int[] shape) {
        long bytes = Math.max(1, Shape.numel(shape)) * dtype.byteSize();
        long address = CudaKernels.qc_malloc(bytes);
        if (address == 0) {
            int err = CudaKernels.qc_last_error();
            throw new OutOfMemoryError("cuda backend: cannot allocate " + bytes + " bytes of GPU memory for " + dtype
                    + Shape.str(shape) + ": " + CudaKernels.qc_error_string(err));
        }
        return TensorInternals.wrap(this, dtype, shape, new DeviceStorage(address, bytes));
    }

    private Tensor allocateZeroed(DType dtype, int[] shape) {
        Tensor t = allocate(dtype, shape);
        check(CudaKernels.qc_memset0(a(t), (long) t.numel() * dtype.byteSize()), "zeros");
        return t;
    }

    private Tensor copyOf(Tensor src) {
        Tensor t = allocate(src.dtype(), src.shape());
        check(CudaKernels.qc_memcpy_d2d(a(t), a(src), (long) src.numel() * src.dtype().byteSize()), "copy");
        return t;
    }

    @Override
    protected Tensor doZeros(DType dtype, int[] shape) {
        return allocateZeroed(dtype, shape);
    }

    @Override
    protected Tensor doFromFloats(float[] data, int[] shape) {
        Tensor t = allocate(DType.FLOAT32, shape);
        check(CudaKernels.qc_h2d(a(t), data, 4L * data.length), "fromFloats");
        return t;
    }

    @Override
    protected Tensor doFromBytes(byte[] data, DType dtype, int[] shape) {
        Tensor t = allocate(dtype, shape);
        check(CudaKernels.qc_h2d(a(t), data, data.length), "fromBytes");
        return t;
    }

    @Override
    protected Tensor doFromInts(int[] data, int[] shape) {
        Tensor t = allocate(DType.INT32, shape);
        check(CudaKernels.qc_h2d(a(t), data, 4L * data.length), "fromInts");
        return t;
    }

    @Override
    protected float[] doReadFloats(Tensor t) {
        float[] out = new float[t.numel()];
        check(CudaKernels.qc_d2h(out, a(t), 4L * out.length), "read");
        return out;
    }

    @Override
    protected byte[] doReadBytes(Tensor t) {
        byte[] out = new byte[t.numel()];
        check(CudaKernels.qc_d2h(out, a(t), out.length), "read");
        return out;
    }

    @Override
    protected int[] doReadInts(Tensor t) {
        int[] out = new int[t.numel()];
        check(CudaKernels.qc_d2h(out, a(t), 4L * out.length), "read");
        return out;
    }

    private static long inner(int[] s) {
        long inner = 1;
        for (int i = 2; i < s.length; i++) {
            inner *= s[i];
        }
        return inner;
    }

    // ---------------------------------------------------------------- convolution and linear

    @Override
    protected Tensor doConv2d(Tensor x, Tensor w, Tensor bias, ConvParams p) {
        int[] xs = x.shape(), ws = w.shape();
        Tensor y = allocate(DType.FLOAT32, convOutShape(xs, ws, p));
        if (y.numel() > 0) {
            check(CudaKernels.qc_conv2d_f32(a(x), a(w), a(bias), a(y), xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3],
                    p.strideH(), p.strideW(), p.padH(), p.padW(), p.groups()), Op.CONV2D);
        }
        return y;
    }

    @Override
    protected Tensor doConv2dBackwardData(Tensor dy, Tensor w, int[] xs, ConvParams p) {
        int[] ws = w.shape();
        if (dy.numel() == 0) {
            return allocateZeroed(DType.FLOAT32, xs);
        }
        Tensor dx = allocate(DType.FLOAT32, xs);
        check(CudaKernels.qc_conv2d_bwd_data_f32(a(dy), a(w), a(dx), xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3],
                p.strideH(), p.strideW(), p.padH(), p.padW(), p.groups()), Op.CONV2D_BACKWARD_DATA);
        return dx;
    }

    @Override
    protected Tensor doConv2dBackwardWeight(Tensor dy, Tensor x, int[] ws, ConvParams p) {
        int[] xs = x.shape();
        if (dy.numel() == 0) {
            return allocateZeroed(DType.FLOAT32, ws);
        }
        Tensor dw = allocate(DType.FLOAT32, ws);
        check(CudaKernels.qc_conv2d_bwd_weight_f32(a(dy), a(x), a(dw), xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3],
                p.strideH(), p.strideW(), p.padH(), p.padW(), p.groups()), Op.CONV2D_BACKWARD_WEIGHT);
        return dw;
    }

    @Override
    protected Tensor doBiasBackward(Tensor dy) {
        int[] s = dy.shape();
        Tensor db = allocate(DType.FLOAT32, new int[] {s[1]});
        check(CudaKernels.qc_bias_bwd_f32(a(dy), a(db), s[0], s[1], inner(s)), Op.BIAS_BACKWARD);
        return db;
    }

    @Override
    protected Tensor doLinear(Tensor x, Tensor w, Tensor bias) {
        int n = x.dim(0), in = x.dim(1), out = w.dim(0);
        Tensor y = allocate(DType.FLOAT32, new int[] {n, out});
        // in == 0 is an empty sum: the kernel then writes the bias (or 0).
        check(CudaKernels.qc_linear_f32(a(x), a(w), a(bias), a(y), n, in, out), Op.LINEAR);
        return y;
    }

    @Override
    protected Tensor doLinearBackwardData(Tensor dy, Tensor w) {
        int n = dy.dim(0), out = w.dim(0), in = w.dim(1);
        Tensor dx = allocate(DType.FLOAT32, new int[] {n, in});
        check(CudaKernels.qc_linear_bwd_data_f32(a(dy), a(w), a(dx), n, in, out), Op.LINEAR_BACKWARD_DATA);
        return dx;
    }

    @Override
    protected Tensor doLinearBackwardWeight(Tensor dy, Tensor x) {
        int n = dy.dim(0), out = dy.dim(1), in = x.dim(1);
        Tensor dw = allocate(DType.FLOAT32, new int[] {out, in});
        check(CudaKernels.qc_linear_bwd_weight_f32(a(dy), a(x), a(dw), n, in, out), Op.LINEAR_BACKWARD_WEIGHT);
        return dw;
    }

    // ---------------------------------------------------------------- normalisation, elementwise, pooling

    @Override
    protected BatchNormForward doBatchNorm2dTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
                                                  Tensor runningVar, float momentum, float eps) {
        int[] s = x.shape();
        Tensor y = allocate(DType.FLOAT32, s);
        Tensor mean = allocate(DType.FLOAT32, new int[] {s[1]});
        Tensor invStd = allocate(DType.FLOAT32, new int[] {s[1]});
        check(CudaKernels.qc_bn_train_f32(a(x), a(gamma), a(beta), a(runningMean), a(runningVar), momentum, eps, a(y),
                a(mean), a(invStd), s[0], s[1], inner(s)), Op.BATCH_NORM2D_TRAIN);
        return new BatchNormForward(y, mean, invStd);
    }

    @Override
    protected Tensor doBatchNorm2dEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                       float eps) {
        int[] s = x.shape();
        Tensor y = allocate(DType.FLOAT32, s);
        check(CudaKernels.qc_bn_eval_f32(a(x), a(gamma), a(beta), a(runningMean), a(runningVar), eps, a(y), s[0], s[1],
                inner(s)), Op.BATCH_NORM2D_EVAL);
        return y;
    }

    @Override
    protected BatchNormGrads doBatchNorm2dBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor invStd) {
        int[] s = x.shape();
        Tensor dx = allocate(DType.FLOAT32, s);
        Tensor dgamma = allocate(DType.FLOAT32, new int[] {s[1]});
        Tensor dbeta = allocate(DType.FLOAT32, new int[] {s[1]});
        check(CudaKernels.qc_bn_bwd_f32(a(dy), a(x), a(gamma), a(mean), a(invStd), a(dx), a(dgamma), a(dbeta), s[0],
                s[1], inner(s)), Op.BATCH_NORM2D_BACKWARD);
        return new BatchNormGrads(dx, dgamma, dbeta);
    }

    @Override
    protected Tensor doClamp(Op op, Tensor x, float lo, float hi) {
        Tensor y = allocate(DType.FLOAT32, x.shape());
        check(CudaKernels.qc_clamp_f32(a(x), a(y), x.numel(), lo, hi, op.ordinal()), op);
        return y;
    }

    @Override
    protected Tensor doClampBackward(Op op, Tensor dy, Tensor x, float lo, float hi) {
        Tensor dx = allocate(DType.FLOAT32, x.shape());
        check(CudaKernels.qc_clamp_bwd_f32(a(dy), a(x), a(dx), x.numel(), lo, hi, op.ordinal()), op);
        return dx;
    }

    @Override
    protected Tensor doAvgPool2d(Tensor x, int kernel, int stride, int pad) {
        int[] s = x.shape();
        int oh = (s[2] + 2 * pad - kernel) / stride + 1, ow = (s[3] + 2 * pad - kernel) / stride + 1;
        Tensor y = allocate(DType.FLOAT32, new int[] {s[0], s[1], oh, ow});
        check(CudaKernels.qc_avg_pool_f32(a(x), a(y), s[0] * s[1], s[2], s[3], kernel, stride, pad), Op.AVG_POOL2D);
        return y;
    }

    @Override
    protected Tensor doAvgPool2dBackward(Tensor dy, int[] xs, int kernel, int stride, int pad) {
        Tensor dx = allocate(DType.FLOAT32, xs);
        check(CudaKernels.qc_avg_pool_bwd_f32(a(dy), a(dx), xs[0] * xs[1], xs[2], xs[3], kernel, stride, pad),
                Op.AVG_POOL2D_BACKWARD);
        return dx;
    }

    @Override
    protected Tensor doAdaptiveAvgPool2d(Tensor x, int outH, int outW) {
        int[] s = x.shape();
        Tensor y = allocate(DType.FLOAT32, new int[] {s[0], s[1], outH, outW});
        check(CudaKernels.qc_adaptive_avg_pool_f32(a(x), a(y), s[0] * s[1], s[2], s[3], outH, outW),
                Op.ADAPTIVE_AVG_POOL2D);
        return y;
    }

    @Override
    protected Tensor doAdaptiveAvgPool2dBackward(Tensor dy, int[] xs) {
        Tensor dx = allocate(DType.FLOAT32, xs);
        check(CudaKernels.qc_adaptive_avg_pool_bwd_f32(a(dy), a(dx), xs[0] * xs[1], xs[2], xs[3], dy.dim(2),
                dy.dim(3)), Op.ADAPTIVE_AVG_POOL2D_BACKWARD);
        return dx;
    }

    @Override
    protected Tensor doAdd(Tensor x, Tensor y) {
        Tensor out = allocate(DType.FLOAT32, x.shape());
        check(CudaKernels.qc_add_f32(a(x), a(y), a(out), x.numel()), Op.ADD);
        return out;
    }

    @Override
    protected Loss doSoftmaxCrossEntropy(Tensor logits, Tensor labels, float labelSmoothing) {
        Tensor d = allocate(DType.FLOAT32, logits.shape());
        Tensor loss = allocate(DType.FLOAT32, new int[] {1});
        check(CudaKernels.qc_softmax_ce_f32(a(logits), a(labels), labelSmoothing, a(d), a(loss), logits.dim(0),
                logits.dim(1)), Op.SOFTMAX_CROSS_ENTROPY);
        return new Loss(loss, d);
    }

    @Override
    protected void doSgdStep(Tensor param, Tensor grad, Tensor momentumBuffer, SgdParams p) {
        check(CudaKernels.qc_sgd_f32(a(param), a(grad), a(momentumBuffer), param.numel(), p.lr(), p.momentum(),
                p.weightDecay(), p.nesterov() ? 1 : 0), Op.SGD_STEP);
    }

    // ---------------------------------------------------------------- quantizers

    @Override
    protected Tensor doActQuant(Tensor x, ActQuantizer q, Tensor alpha) {
        if (q.isIdentity()) {
            return copyOf(x);
        }
        Tensor y = allocate(DType.FLOAT32, x.shape());
        check(CudaKernels.qc_act_quant_f32(a(x), a(y), x.numel(), abiKind(q.kind()), q.bits(), a(alpha),
                q.fixedClip()), Op.ACT_QUANT);
        return y;
    }

    @Override
    protected ActQuantGrads doActQuantBackward(Tensor dy, Tensor x, ActQuantizer q, Tensor alpha) {
        if (q.isIdentity()) {
            return new ActQuantGrads(copyOf(dy), q.hasAlpha() ? allocateZeroed(DType.FLOAT32, new int[] {1}) : null);
        }
        Tensor dx = allocate(DType.FLOAT32, x.shape());
        Tensor dalpha = q.hasAlpha() ? allocateZeroed(DType.FLOAT32, new int[] {1}) : null;
        check(CudaKernels.qc_act_quant_bwd_f32(a(dy), a(x), a(dx), a(dalpha), x.numel(), abiKind(q.kind()), q.bits(),
                a(alpha), q.fixedClip()), Op.ACT_QUANT_BACKWARD);
        return new ActQuantGrads(dx, dalpha);
    }

    @Override
    protected Tensor doWeightQuant(Tensor w, int bits) {
        if (bits == 32) {
            return copyOf(w);
        }
        Tensor wq = allocate(DType.FLOAT32, w.shape());
        check(CudaKernels.qc_weight_quant_f32(a(w), a(wq), w.numel(), bits), Op.WEIGHT_QUANT);
        return wq;
    }

    @Override
    protected Tensor doWeightQuantBackward(Tensor dwq, Tensor w, int bits) {
        if (bits == 32) {
            return copyOf(dwq);
        }
        Tensor dw = allocate(DType.FLOAT32, w.shape());
        check(CudaKernels.qc_weight_quant_bwd_f32(a(dwq), a(w), a(dw), w.numel(), bits), Op.WEIGHT_QUANT_BACKWARD);
        return dw;
    }

    // ---------------------------------------------------------------- integer inference

    @Override
    protected Tensor doConv2dInt(Tensor x, Tensor w, ConvParams p) {
        int[] xs = x.shape(), ws = w.shape();
        Tensor acc = allocate(DType.INT32, convOutShape(xs, ws, p));
        if (acc.numel() > 0) {
            check(CudaKernels.qc_conv2d_s8_s32(a(x), x.dtype() == DType.INT8 ? 1 : 0, a(w), a(acc), xs[0], xs[1], xs[2],
                    xs[3], ws[0], ws[2], ws[3], p.strideH(), p.strideW(), p.padH(), p.padW(), p.groups()), Op.CONV2D_INT);
        }
        return acc;
    }

    @Override
    protected Tensor doGemmInt(Tensor x, Tensor y) {
        int m = x.dim(0), k = x.dim(1), n = y.dim(1);
        Tensor c = allocate(DType.INT32, new int[] {m, n});
        // k == 0 is an empty sum: the kernel writes zeros.
        check(CudaKernels.qc_gemm_s8_s32(m, n, k, a(x), a(y), y.dtype() == DType.INT8 ? 1 : 0, a(c)), Op.GEMM_INT);
        return c;
    }

    /** requantizeResidual has no CUDA kernel: Backend routes it to the reference ({@link #supportsNatively}). */
    @Override
    public boolean supportsNatively(Op op) {
        return op != Op.REQUANTIZE_RESIDUAL;
    }

    @Override
    protected Tensor doRequantizeResidual(Tensor acc, Tensor residual, int[] multiplier, int[] shift, long[] bias,
                                          int[] residualMultiplier, Rounding rounding, int qmin, int qmax, DType out) {
        throw new IllegalStateException("not reached: requantizeResidual is routed to the reference backend");
    }

    @Override
    protected Tensor doRequantize(Tensor acc, Tensor multiplier, Tensor shift, Tensor bias, Rounding rounding,
                                  int qmin, int qmax, DType out) {
        int[] s = acc.shape();
        int channels = s.length >= 2 ? s[1] : 1;
        Tensor y = allocate(out, s);
        check(CudaKernels.qc_requantize_s32(a(acc), a(multiplier), a(shift), a(bias), multiplier.numel() == 1 ? 1 : 0,
                abiRounding(rounding), qmin, qmax, a(y), out.byteSize(), acc.numel(), Math.max(channels, 1),
                Math.max(inner(s), 1)), Op.REQUANTIZE);
        return y;
    }

    @Override
    protected ImageBatch doAugmentBatch(Tensor images, Tensor labels, int[] index, int[] top, int[] left,
                                        boolean[] flip, int padding, Tensor table) {
        int[] s = images.shape();
        int n = index.length;
        Tensor out = allocate(DType.FLOAT32, new int[] {n, s[1], s[2], s[3]});
        Tensor outLabels = allocate(DType.INT32, new int[] {n});
        try {
            check(CudaKernels.qc_augment_batch_u8(a(images), a(labels), s[1], s[2], s[3], index, top, left,
                    flipBytes(flip), n, padding, a(table), a(out), a(outLabels)), Op.AUGMENT_BATCH);
        } catch (RuntimeException e) {
            out.close();
            outLabels.close();
            throw e;
        }
        return new ImageBatch(out, outLabels);
    }

    @Override
    protected boolean doAllFinite(java.util.List<Tensor> tensors) {
        if (tensors.isEmpty()) {
            return true;
        }
        long[] addresses = new long[tensors.size()], lengths = new long[tensors.size()];
        for (int i = 0; i < addresses.length; i++) {
            addresses[i] = a(tensors.get(i));
            lengths[i] = tensors.get(i).numel();
        }
        int[] allFinite = new int[1];
        check(CudaKernels.qc_all_finite(addresses, lengths, addresses.length, allFinite), "allFinite");
        return allFinite[0] == 1;
    }

    @Override
    protected float[][] doReadAllFloats(java.util.List<Tensor> tensors) {
        long[] addresses = new long[tensors.size()], lengths = new long[tensors.size()];
        long total = 0;
        for (int i = 0; i < addresses.length; i++) {
            addresses[i] = a(tensors.get(i));
            lengths[i] = tensors.get(i).numel();
            total += lengths[i];
        }
        if (total > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("readAllFloats: " + total + " values do not fit one Java array");
        }
        float[] all = new float[(int) total];
        check(CudaKernels.qc_gather_f32(addresses, lengths, addresses.length, all), "readAllFloats");
        float[][] out = new float[addresses.length][];
        int at = 0;
        for (int i = 0; i < out.length; i++) {
            out[i] = java.util.Arrays.copyOfRange(all, at, at + (int) lengths[i]);
            at += (int) lengths[i];
        }
        return out;
    }

    @Override
    protected void doAccumulateConfusion(Tensor logits, Tensor labels, Tensor counts) {
        check(CudaKernels.qc_accumulate_confusion(a(logits), a(labels), logits.dim(0), logits.dim(1), a(counts)),
                Op.ACCUMULATE_CONFUSION);
    }

    @Override
    public boolean hasDeviceMemory() {
        return true;
    }

    @Override
    protected void doSgdSteps(java.util.List<Tensor> params, java.util.List<Tensor> grads,
                              java.util.List<Tensor> buffers, java.util.List<SgdParams> hyper, Tensor nonFinite) {
        int n = params.size();
        if (n == 0) {
            return;
        }
        long[] p = new long[n], g = new long[n], b = new long[n], len = new long[n];
        float[] lr = new float[n], momentum = new float[n], decay = new float[n];
        int[] nesterov = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = a(params.get(i));
            g[i] = a(grads.get(i));
            b[i] = a(buffers.get(i));
            len[i] = params.get(i).numel();
            SgdParams h = hyper.get(i);
            lr[i] = h.lr();
            momentum[i] = h.momentum();
            decay[i] = h.weightDecay();
            nesterov[i] = h.nesterov() ? 1 : 0;
        }
        check(CudaKernels.qc_sgd_steps_f32(p, g, b, len, lr, momentum, decay, nesterov, n, a(nonFinite)), Op.SGD_STEPS);
    }
}
