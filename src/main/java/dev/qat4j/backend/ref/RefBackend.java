package dev.qat4j.backend.ref;

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
import dev.qat4j.quant.Requantizer;
import dev.qat4j.quant.Rounding;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Shape;
import dev.qat4j.tensor.Tensor;
import dev.qat4j.tensor.internal.TensorInternals;

/**
 * The reference backend: tensors are Java arrays and every op is a {@link RefKernels} loop. It is the oracle
 * for the other backends and the fallback when no native library loads. Thread-safe: it holds no state.
 */
public final class RefBackend extends Backend {

    public static final RefBackend INSTANCE = new RefBackend();

    private RefBackend() {
    }

    @Override
    public String name() {
        return "ref";
    }

    @Override
    public String description() {
        return "plain-Java reference loops (the oracle), 1 thread";
    }

    // ---------------------------------------------------------------- storage

    private Tensor wrap(float[] a, int... shape) {
        return TensorInternals.wrap(this, DType.FLOAT32, shape, new HeapStorage(a));
    }

    private Tensor wrapInts(int[] a, int... shape) {
        return TensorInternals.wrap(this, DType.INT32, shape, new HeapStorage(a));
    }

    private static float[] f(Tensor t) {
        return (float[]) ((HeapStorage) TensorInternals.storage(t)).array;
    }

    private static int[] i32(Tensor t) {
        return (int[]) ((HeapStorage) TensorInternals.storage(t)).array;
    }

    private static byte[] i8(Tensor t) {
        return (byte[]) ((HeapStorage) TensorInternals.storage(t)).array;
    }

    /** Integer view of a byte tensor's codes: INT8 sign-extended, UINT8 zero-extended. */
    private static int[] codes(Tensor t) {
        byte[] b = i8(t);
        int[] c = new int[b.length];
        boolean unsigned = t.dtype() == DType.UINT8;
        for (int i = 0; i < b.length; i++) {
            c[i] = unsigned ? b[i] & 0xFF : b[i];
        }
        return c;
    }

    private static float alphaOf(Tensor alpha) {
        return alpha == null ? 0f : f(alpha)[0];
    }

    @Override
    protected Tensor doZeros(DType dtype, int[] shape) {
        int n = Shape.numel(shape);
        Object array = switch (dtype) {
            case FLOAT32 -> new float[n];
            case INT8, UINT8 -> new byte[n];
            case INT32 -> new int[n];
        };
        return TensorInternals.wrap(this, dtype, shape, new HeapStorage(array));
    }

    @Override
    protected Tensor doFromFloats(float[] data, int[] shape) {
        return wrap(data.clone(), shape);
    }

    @Override
    protected Tensor doFromBytes(byte[] data, DType dtype, int[] shape) {
        return TensorInternals.wrap(this, dtype, shape, new HeapStorage(data.clone()));
    }

    @Override
    protected Tensor doFromInts(int[] data, int[] shape) {
        return wrapInts(data.clone(), shape);
    }

    @Override
    protected float[] doReadFloats(Tensor t) {
        return f(t).clone();
    }

    @Override
    protected byte[] doReadBytes(Tensor t) {
        return i8(t).clone();
    }

    @Override
    protected int[] doReadInts(Tensor t) {
        return i32(t).clone();
    }

    // ---------------------------------------------------------------- ops

    @Override
    protected Tensor doConv2d(Tensor x, Tensor w, Tensor bias, ConvParams p) {
        float[] y = RefKernels.conv2d(f(x), x.shape(), f(w), w.shape(), bias == null ? null : f(bias), p);
        return wrap(y, convOutShape(x.shape(), w.shape(), p));
    }

    @Override
    protected Tensor doConv2dBackwardData(Tensor dy, Tensor w, int[] xShape, ConvParams p) {
        return wrap(RefKernels.conv2dBackwardData(f(dy), f(w), w.shape(), xShape, p), xShape);
    }

    @Override
    protected Tensor doConv2dBackwardWeight(Tensor dy, Tensor x, int[] wShape, ConvParams p) {
        return wrap(RefKernels.conv2dBackwardWeight(f(dy), f(x), x.shape(), wShape, p), wShape);
    }

    @Override
    protected Tensor doBiasBackward(Tensor dy) {
        return wrap(RefKernels.biasBackward(f(dy), dy.shape()), dy.dim(1));
    }

    @Override
    protected Tensor doLinear(Tensor x, Tensor w, Tensor bias) {
        int n = x.dim(0), in = x.dim(1), out = w.dim(0);
        return wrap(RefKernels.linear(f(x), n, in, f(w), out, bias == null ? null : f(bias)), n, out);
    }

    @Override
    protected Tensor doLinearBackwardData(Tensor dy, Tensor w) {
        int n = dy.dim(0), out = w.dim(0), in = w.dim(1);
        return wrap(RefKernels.linearBackwardData(f(dy), n, out, f(w), in), n, in);
    }

    @Override
    protected Tensor doLinearBackwardWeight(Tensor dy, Tensor x) {
        int n = dy.dim(0), out = dy.dim(1), in = x.dim(1);
        return wrap(RefKernels.linearBackwardWeight(f(dy), n, out, f(x), in), out, in);
    }

    @Override
    protected BatchNormForward doBatchNorm2dTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
                                                  Tensor runningVar, float momentum, float eps) {
        int c = x.dim(1);
        float[] y = new float[x.numel()], mean = new float[c], invStd = new float[c];
        RefKernels.batchNorm2dTrain(f(x), x.shape(), f(gamma), f(beta), f(runningMean), f(runningVar), momentum, eps,
                y, mean, invStd);
        return new BatchNormForward(wrap(y, x.shape()), wrap(mean, c), wrap(invStd, c));
    }

    @Override
    protected Tensor doBatchNorm2dEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                       float eps) {
        return wrap(RefKernels.batchNorm2dEval(f(x), x.shape(), f(gamma), f(beta), f(runningMean), f(runningVar), eps),
                x.shape());
    }

    @Override
    protected BatchNormGrads doBatchNorm2dBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor invStd) {
        int c = x.dim(1);
        float[] dx = new float[x.numel()], dgamma = new float[c], dbeta = new float[c];
        RefKernels.batchNorm2dBackward(f(dy), f(x), x.shape(), f(gamma), f(mean), f(invStd), dx, dgamma, dbeta);
        return new BatchNormGrads(wrap(dx, x.shape()), wrap(dgamma, c), wrap(dbeta, c));
    }

    @Override
    protected Tensor doClamp(Op op, Tensor x, float lo, float hi) {
        return wrap(RefKernels.clamp(f(x), lo, hi), x.shape());
    }

    @Override
    protected Tensor doClampBackward(Op op, Tensor dy, Tensor x, float lo, float hi) {
        return wrap(RefKernels.clampBackward(f(dy), f(x), lo, hi), x.shape());
    }

    @Override
    protected Tensor doAvgPool2d(Tensor x, int kernel, int stride, int pad) {
        int[] s = x.shape();
        int oh = (s[2] + 2 * pad - kernel) / stride + 1, ow = (s[3] + 2 * pad - kernel) / stride + 1;
        return wrap(RefKernels.avgPool2d(f(x), s, kernel, stride, pad), s[0], s[1], oh, ow);
    }

    @Override
    protected Tensor doAvgPool2dBackward(Tensor dy, int[] xShape, int kernel, int stride, int pad) {
        return wrap(RefKernels.avgPool2dBackward(f(dy), xShape, kernel, stride, pad), xShape);
    }

    @Override
    protected Tensor doAdaptiveAvgPool2d(Tensor x, int outH, int outW) {
        int[] s = x.shape();
        return wrap(RefKernels.adaptiveAvgPool2d(f(x), s, outH, outW), s[0], s[1], outH, outW);
    }

    @Override
    protected Tensor doAdaptiveAvgPool2dBackward(Tensor dy, int[] xShape) {
        return wrap(RefKernels.adaptiveAvgPool2dBackward(f(dy), xShape, dy.dim(2), dy.dim(3)), xShape);
    }

    @Override
    protected Tensor doAdd(Tensor a, Tensor b) {
        return wrap(RefKernels.add(f(a), f(b)), a.shape());
    }

    @Override
    protected Loss doSoftmaxCrossEntropy(Tensor logits, Tensor labels, float labelSmoothing) {
        float[] d = new float[logits.numel()];
        float loss = RefKernels.softmaxCrossEntropy(f(logits), logits.dim(0), logits.dim(1), i32(labels),
                labelSmoothing, d);
        return new Loss(wrap(new float[] {loss}, 1), wrap(d, logits.shape()));
    }

    @Override
    protected void doSgdStep(Tensor param, Tensor grad, Tensor momentumBuffer, SgdParams p) {
        RefKernels.sgdStep(f(param), f(grad), f(momentumBuffer), p);
    }

    @Override
    protected Tensor doActQuant(Tensor x, ActQuantizer q, Tensor alpha) {
        return wrap(RefKernels.actQuant(f(x), q, alphaOf(alpha)), x.shape());
    }

    @Override
    protected ActQuantGrads doActQuantBackward(Tensor dy, Tensor x, ActQuantizer q, Tensor alpha) {
        float[] dx = new float[x.numel()];
        float dAlpha = RefKernels.actQuantBackward(f(dy), f(x), q, alphaOf(alpha), dx);
        return new ActQuantGrads(wrap(dx, x.shape()), q.hasAlpha() ? wrap(new float[] {dAlpha}, 1) : null);
    }

    @Override
    protected Tensor doWeightQuant(Tensor w, int bits) {
        return wrap(RefKernels.weightQuant(f(w), bits), w.shape());
    }

    @Override
    protected Tensor doWeightQuantBackward(Tensor dwq, Tensor w, int bits) {
        return wrap(RefKernels.weightQuantBackward(f(dwq), f(w), bits), w.shape());
    }

    @Override
    protected Tensor doConv2dInt(Tensor x, Tensor w, ConvParams p) {
        return wrapInts(RefKernels.conv2dInt(codes(x), x.shape(), codes(w), w.shape(), p),
                convOutShape(x.shape(), w.shape(), p));
    }

    @Override
    protected Tensor doGemmInt(Tensor a, Tensor b) {
        int m = a.dim(0), k = a.dim(1), n = b.dim(1);
        return wrapInts(RefKernels.gemmInt(codes(a), codes(b), m, k, n), m, n);
    }

    @Override
    protected Tensor doRequantizeResidual(Tensor acc, Tensor residual, int[] multiplier, int[] shift, long[] bias,
                                          int[] residualMultiplier, Rounding rounding, int qmin, int qmax, DType out) {
        int[] s = acc.shape();
        int inner = 1;
        for (int i = 2; i < s.length; i++) {
            inner *= s[i];
        }
        int[] res = residual == null ? null : residual.dtype() == DType.INT32 ? i32(residual) : codes(residual);
        int[] y = Requantizer.requantizeResidual(i32(acc), s[1], inner, multiplier, shift, bias, res,
                residualMultiplier, rounding, qmin, qmax);
        return wrapCodes(y, out, s);
    }

    @Override
    protected Tensor doRequantize(Tensor acc, Tensor multiplier, Tensor shift, Tensor bias, Rounding rounding,
                                  int qmin, int qmax, DType out) {
        int[] s = acc.shape();
        int channels = s.length >= 2 ? s[1] : 1;
        int inner = 1;
        for (int i = 2; i < s.length; i++) {
            inner *= s[i];
        }
        int[] y = RefKernels.requantize(i32(acc), channels, inner, i32(multiplier), i32(shift),
                bias == null ? null : i32(bias), rounding, qmin, qmax);
        return wrapCodes(y, out, s);
    }

    /** Requantized values as a tensor of {@code out}: INT32 as they are, INT8/UINT8 as their low bytes. */
    private Tensor wrapCodes(int[] y, DType out, int[] shape) {
        if (out == DType.INT32) {
            return wrapInts(y, shape);
        }
        byte[] b = new byte[y.length];
        for (int i = 0; i < y.length; i++) {
            b[i] = (byte) y[i];
        }
        return TensorInternals.wrap(this, out, shape, new HeapStorage(b));
    }

    @Override
    protected ImageBatch doAugmentBatch(Tensor images, Tensor labels, int[] index, int[] top, int[] left,
                                        boolean[] flip, int padding, Tensor table) {
        int[] s = images.shape();
        int n = index.length;
        float[] out = new float[n * s[1] * s[2] * s[3]];
        int[] outLabels = new int[n];
        RefKernels.augmentBatch(i8(images), i32(labels), s[1], s[2], s[3], index, top, left, flip, padding, f(table),
                out, outLabels);
        return new ImageBatch(wrap(out, n, s[1], s[2], s[3]), wrapInts(outLabels, n));
    }

    @Override
    protected void doAccumulateConfusion(Tensor logits, Tensor labels, Tensor counts) {
        RefKernels.accumulateConfusion(f(logits), logits.dim(0), logits.dim(1), i32(labels), f(counts));
    }

    @Override
    protected void doSgdSteps(java.util.List<Tensor> params, java.util.List<Tensor> grads,
                              java.util.List<Tensor> buffers, java.util.List<SgdParams> hyper, Tensor nonFinite) {
        for (int i = 0; i < params.size(); i++) {
            float[] p = f(params.get(i));
            RefKernels.sgdStep(p, f(grads.get(i)), f(buffers.get(i)), hyper.get(i));
            for (float v : p) {
                if (!Float.isFinite(v)) {
                    f(nonFinite)[0] = 1f;
                    break;
                }
            }
        }
    }
}
