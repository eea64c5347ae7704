package dev.qat4j.backend.cpu;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.ConvParams;
import dev.qat4j.backend.Results.ActQuantGrads;
import dev.qat4j.backend.Results.BatchNormForward;
import dev.qat4j.backend.Results.BatchNormGrads;
import dev.qat4j.backend.Results.FakeQuantConvGrads;
import dev.qat4j.backend.Results.Loss;
import dev.qat4j.backend.SgdParams;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.quant.Rounding;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Shape;
import dev.qat4j.tensor.Tensor;
import java.util.List;
import java.util.function.Function;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * The C++ backend: tensors live in native memory and ops run in {@code src/main/cpp} through JavaCPP.
 *
 * <p>Status: the native toolchain, memory model and dispatch are in place and {@link #NATIVE_OPS} run natively;
 * every other op runs the reference kernels on host copies (correct, not fast) until its native kernel lands.
 * Because of that, automatic selection does not pick this backend yet (see {@link dev.qat4j.backend.Backends}).
 */
public final class CpuBackend extends Backend {

    /** Ops with a native kernel; the rest go through {@link #viaRef}. */
    public static final List<String> NATIVE_OPS = List.of("actQuant");

    private static volatile CpuBackend instance;

    private final int isa;

    private CpuBackend() {
        this.isa = NativeKernels.qat4j_cpu_active_isa();
    }

    /** Loads the native library on first use; throws {@link UnsatisfiedLinkError} (or another Error) if it cannot. */
    public static CpuBackend get() {
        CpuBackend b = instance;
        if (b == null) {
            synchronized (CpuBackend.class) {
                b = instance;
                if (b == null) {
                    instance = b = new CpuBackend();
                }
            }
        }
        return b;
    }

    /** Whether every op runs natively (only then is this backend chosen automatically). */
    public boolean isComplete() {
        return false;
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public String description() {
        return "C++ kernels via JavaCPP, ISA " + isaName() + ", " + threads() + " threads; native ops " + NATIVE_OPS
                + ", others on reference kernels";
    }

    /** The ISA level the dispatch table uses (widest available, or lowered by QAT4J_ISA). */
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

    public int threads() {
        return NativeKernels.qat4j_num_threads();
    }

    // ---------------------------------------------------------------- storage

    private static Pointer ptr(Tensor t) {
        return ((NativeStorage) t.storage()).pointer;
    }

    private Tensor allocate(DType dtype, int[] shape) {
        long n = Math.max(1, Shape.numel(shape)); // JavaCPP refuses zero-size allocations
        Pointer p = switch (dtype) {
            case FLOAT32 -> new FloatPointer(n).zero();
            case INT8, UINT8 -> new BytePointer(n).zero();
            case INT32 -> new IntPointer(n).zero();
        };
        return new Tensor(this, dtype, shape, new NativeStorage(p));
    }

    @Override
    protected Tensor doZeros(DType dtype, int[] shape) {
        return allocate(dtype, shape);
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

    /** For tests and benchmarks: {@link #actQuant} on one named ISA level (one of {@link #availableIsaLevels()}). */
    public Tensor actQuantWithIsa(Tensor x, ActQuantizer q, Tensor alpha, int isaLevel) {
        checkActQuant(x, q, alpha);
        if (isaLevel < 0 || isaLevel > NativeKernels.qat4j_cpu_max_isa()) {
            throw new IllegalArgumentException("actQuant: ISA level " + isaLevel + " is not available on this CPU");
        }
        return actQuantNative(x, q, alpha, isaLevel);
    }

    private Tensor actQuantNative(Tensor x, ActQuantizer q, Tensor alpha, int isaLevel) {
        Tensor y = allocate(DType.FLOAT32, x.shape());
        if (q.isIdentity()) {
            Pointer.memcpy(ptr(y), ptr(x), 4L * x.numel());
            return y;
        }
        float a = alpha == null ? 0f : ((FloatPointer) ptr(alpha)).get(0);
        NativeKernels.qat4j_act_quant_f32((FloatPointer) ptr(x), (FloatPointer) ptr(y), x.numel(), q.kind().ordinal(),
                q.bits(), a, q.fixedClip(), isaLevel);
        return y;
    }

    // ---------------------------------------------------------------- reference fallbacks (host copies)

    private static final RefBackend REF = RefBackend.INSTANCE;

    private Tensor ref(Tensor t) {
        return t == null ? null : REF.copyFrom(t);
    }

    /** Runs {@code op} on reference copies of the inputs and brings the result back into native memory. */
    private Tensor viaRef(Function<RefBackend, Tensor> op) {
        try (Tensor r = op.apply(REF)) {
            return copyFrom(r);
        }
    }

    /** Writes a reference tensor's values back into a native tensor of the same shape (in-place ops). */
    private static void writeBack(Tensor refSource, Tensor target) {
        ((FloatPointer) ptr(target)).put(refSource.toFloatArray());
    }

    @Override
    protected Tensor doConv2d(Tensor x, Tensor w, Tensor bias, ConvParams p) {
        return viaRef(r -> r.conv2d(ref(x), ref(w), ref(bias), p));
    }

    @Override
    protected Tensor doConv2dBackwardData(Tensor dy, Tensor w, int[] xShape, ConvParams p) {
        return viaRef(r -> r.conv2dBackwardData(ref(dy), ref(w), xShape, p));
    }

    @Override
    protected Tensor doConv2dBackwardWeight(Tensor dy, Tensor x, int[] wShape, ConvParams p) {
        return viaRef(r -> r.conv2dBackwardWeight(ref(dy), ref(x), wShape, p));
    }

    @Override
    protected Tensor doBiasBackward(Tensor dy) {
        return viaRef(r -> r.biasBackward(ref(dy)));
    }

    @Override
    protected Tensor doLinear(Tensor x, Tensor w, Tensor bias) {
        return viaRef(r -> r.linear(ref(x), ref(w), ref(bias)));
    }

    @Override
    protected Tensor doLinearBackwardData(Tensor dy, Tensor w) {
        return viaRef(r -> r.linearBackwardData(ref(dy), ref(w)));
    }

    @Override
    protected Tensor doLinearBackwardWeight(Tensor dy, Tensor x) {
        return viaRef(r -> r.linearBackwardWeight(ref(dy), ref(x)));
    }

    @Override
    protected BatchNormForward doBatchNorm2dTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
                                                  Tensor runningVar, float momentum, float eps) {
        Tensor rm = ref(runningMean), rv = ref(runningVar);
        try (BatchNormForward r = REF.batchNorm2dTrain(ref(x), ref(gamma), ref(beta), rm, rv, momentum, eps)) {
            writeBack(rm, runningMean);
            writeBack(rv, runningVar);
            return new BatchNormForward(copyFrom(r.y()), copyFrom(r.mean()), copyFrom(r.invStd()));
        }
    }

    @Override
    protected Tensor doBatchNorm2dEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                       float eps) {
        return viaRef(r -> r.batchNorm2dEval(ref(x), ref(gamma), ref(beta), ref(runningMean), ref(runningVar), eps));
    }

    @Override
    protected BatchNormGrads doBatchNorm2dBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor invStd) {
        try (BatchNormGrads r = REF.batchNorm2dBackward(ref(dy), ref(x), ref(gamma), ref(mean), ref(invStd))) {
            return new BatchNormGrads(copyFrom(r.dx()), copyFrom(r.dgamma()), copyFrom(r.dbeta()));
        }
    }

    @Override
    protected Tensor doClamp(Tensor x, float lo, float hi) {
        return viaRef(r -> Float.isInfinite(hi) ? r.relu(ref(x)) : r.relu6(ref(x)));
    }

    @Override
    protected Tensor doClampBackward(Tensor dy, Tensor x, float lo, float hi) {
        return viaRef(r -> Float.isInfinite(hi) ? r.reluBackward(ref(dy), ref(x)) : r.relu6Backward(ref(dy), ref(x)));
    }

    @Override
    protected Tensor doAvgPool2d(Tensor x, int kernel, int stride, int pad) {
        return viaRef(r -> r.avgPool2d(ref(x), kernel, stride, pad));
    }

    @Override
    protected Tensor doAvgPool2dBackward(Tensor dy, int[] xShape, int kernel, int stride, int pad) {
        return viaRef(r -> r.avgPool2dBackward(ref(dy), xShape, kernel, stride, pad));
    }

    @Override
    protected Tensor doAdaptiveAvgPool2d(Tensor x, int outH, int outW) {
        return viaRef(r -> r.adaptiveAvgPool2d(ref(x), outH, outW));
    }

    @Override
    protected Tensor doAdaptiveAvgPool2dBackward(Tensor dy, int[] xShape) {
        return viaRef(r -> r.adaptiveAvgPool2dBackward(ref(dy), xShape));
    }

    @Override
    protected Tensor doAdd(Tensor a, Tensor b) {
        return viaRef(r -> r.add(ref(a), ref(b)));
    }

    @Override
    protected Loss doSoftmaxCrossEntropy(Tensor logits, Tensor labels, float labelSmoothing) {
        try (Loss r = REF.softmaxCrossEntropy(ref(logits), ref(labels), labelSmoothing)) {
            return new Loss(copyFrom(r.loss()), copyFrom(r.dlogits()));
        }
    }

    @Override
    protected void doSgdStep(Tensor param, Tensor grad, Tensor momentumBuffer, SgdParams p) {
        Tensor rp = ref(param), rb = ref(momentumBuffer);
        REF.sgdStep(rp, ref(grad), rb, p);
        writeBack(rp, param);
        writeBack(rb, momentumBuffer);
    }

    @Override
    protected ActQuantGrads doActQuantBackward(Tensor dy, Tensor x, ActQuantizer q, Tensor alpha) {
        try (ActQuantGrads r = REF.actQuantBackward(ref(dy), ref(x), q, ref(alpha))) {
            return new ActQuantGrads(copyFrom(r.dx()), r.dalpha() == null ? null : copyFrom(r.dalpha()));
        }
    }

    @Override
    protected Tensor doWeightQuant(Tensor w, int bits) {
        return viaRef(r -> r.weightQuant(ref(w), bits));
    }

    @Override
    protected Tensor doWeightQuantBackward(Tensor dwq, Tensor w, int bits) {
        return viaRef(r -> r.weightQuantBackward(ref(dwq), ref(w), bits));
    }

    @Override
    protected Tensor doFakeQuantConv2d(Tensor x, Tensor w, ActQuantizer xq, Tensor alpha, int wbits, ConvParams p) {
        return viaRef(r -> r.fakeQuantConv2d(ref(x), ref(w), xq, ref(alpha), wbits, p));
    }

    @Override
    protected FakeQuantConvGrads doFakeQuantConv2dBackward(Tensor dy, Tensor x, Tensor w, ActQuantizer xq,
                                                           Tensor alpha, int wbits, ConvParams p) {
        try (FakeQuantConvGrads r = REF.fakeQuantConv2dBackward(ref(dy), ref(x), ref(w), xq, ref(alpha), wbits, p)) {
            return new FakeQuantConvGrads(copyFrom(r.dx()), copyFrom(r.dw()),
                    r.dalpha() == null ? null : copyFrom(r.dalpha()));
        }
    }

    @Override
    protected Tensor doConv2dInt(Tensor x, Tensor w, ConvParams p) {
        return viaRef(r -> r.conv2dInt(ref(x), ref(w), p));
    }

    @Override
    protected Tensor doGemmInt(Tensor a, Tensor b) {
        return viaRef(r -> r.gemmInt(ref(a), ref(b)));
    }

    @Override
    protected Tensor doRequantize(Tensor acc, Tensor multiplier, Tensor shift, Tensor bias, Rounding rounding,
                                  int qmin, int qmax, DType out) {
        return viaRef(r -> r.requantize(ref(acc), ref(multiplier), ref(shift), ref(bias), rounding, qmin, qmax, out));
    }
}
