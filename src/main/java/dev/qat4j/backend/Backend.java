package dev.qat4j.backend;

import dev.qat4j.backend.Results.ActQuantGrads;
import dev.qat4j.backend.Results.BatchNormForward;
import dev.qat4j.backend.Results.BatchNormGrads;
import dev.qat4j.backend.Results.ImageBatch;
import dev.qat4j.backend.Results.Loss;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.quant.Rounding;
import dev.qat4j.quant.WeightQuantizer;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Shape;
import dev.qat4j.tensor.Storage;
import dev.qat4j.tensor.Tensor;
import dev.qat4j.tensor.ValueRange;
import dev.qat4j.tensor.internal.TensorInternals;

/**
 * The only door to numerical work. Every public method here is final: it validates its arguments (null, closed,
 * wrong backend, dtype, rank, shapes, ranges) and throws an {@link IllegalArgumentException} or
 * {@link IllegalStateException} naming the op and the shapes, and only then calls the backend's {@code do*}
 * implementation. So a backend's kernels never see bad input, and every backend gets the same checks.
 *
 * <p>Layouts: images NCHW, conv weights [C_out, C_in/groups, kH, kW], linear weights [out, in], per-channel
 * vectors [C]. Ops return new tensors that the caller owns, except {@link #sgdStep} and the running statistics
 * of {@link #batchNorm2dTrain}, which update in place.
 *
 * <p>Threads: ops may run on several threads at once (each op's results are its own). An op holds its operands while
 * it runs, so a tensor closed on another thread meanwhile stays valid until the op ends; an op that starts after the
 * close is refused. An op that writes an operand in place stales that operand's {@linkplain Tensor#quantGrid grid}.
 */
public abstract class Backend {
    private volatile OpTimer opTimer;
    private final java.util.concurrent.atomic.LongAdder readBacks = new java.util.concurrent.atomic.LongAdder();

    /**
     * How many times values were read back to the host so far (readFloats, readBytes, readInts, readAllFloats,
     * allFinite; {@link Tensor#toFloatArray()} and the like go through them): on cuda each is one wait for the GPU, so
     * this counts a training loop's synchronisations. Process-wide for this backend instance, from every thread.
     */
    public final long readBacks() {
        return readBacks.sum();
    }

    /**
     * Receives the host wall time of every compute op of this backend, for the per-op split of a training step
     * ({@code StepTimer --ops}); null turns it off. On cuda ops are asynchronous: use its own GPU profiling.
     */
    @FunctionalInterface
    public interface OpTimer {
        void record(Op op, long nanos);
    }

    public final void setOpTimer(OpTimer timer) {
        this.opTimer = timer;
    }

    /**
     * Whether this backend runs {@code op} with its own kernels. Every other op is computed by the reference backend
     * on copies of the operands and copied back ({@link #route}, the one fallback path), so a new backend can start
     * with a few native ops. Ops that update an operand in place ({@link Op#updatesOperandsInPlace}) must be native.
     */
    public boolean supportsNatively(Op op) {
        return true;
    }

    /** Maps an operand to the tensor the implementing backend works on: itself, or its copy on the reference. */
    @FunctionalInterface
    protected interface Operands {
        Tensor of(Tensor t);
    }

    /** One op's implementation, given the backend that runs it and its operands as that backend sees them. */
    @FunctionalInterface
    protected interface OpCall<T> {
        T run(Backend impl, Operands operands);
    }

    /**
     * The one dispatch of every op, after its checks: on this backend when it {@linkplain #supportsNatively supports}
     * the op, otherwise on the reference backend (operands copied there, results copied back), timed either way.
     */
    private <T> T route(Op op, OpCall<T> call) {
        OpTimer timer = opTimer;
        long t0 = timer == null ? 0 : System.nanoTime();
        try (OperandUses uses = new OperandUses(op.methodName())) {
            if (!supportsNatively(op)) {
                return ReferenceFallback.run(this, op, call); // its copies read the operands under a hold each
            }
            prepareCallingThread();
            return call.run(this, uses::hold);
        } finally {
            if (timer != null) {
                timer.record(op, System.nanoTime() - t0);
            }
        }
    }

    /**
     * Runs on the calling thread before each op this backend runs itself: for per-thread native state that must follow
     * a process-wide setting (the cpu backend's OpenMP thread count). Nothing by default.
     */
    protected void prepareCallingThread() {
    }

    /**
     * Whether tensors live in memory the host reaches only by copying (cuda: the GPU's), so that keeping a data set
     * there ({@code dev.qat4j.data.ResidentDataset}) saves a copy and a wait per step; the trainer does so by default
     * where this is true. False for ref and cpu, whose tensors are host memory.
     */
    public boolean hasDeviceMemory() {
        return false;
    }

    /** Short name used by {@code QAT4J_BACKEND}: ref, cpu, cuda. */
    public abstract String name();

    /** One line for {@code qat4j info}: what this backend runs on and how. */
    public abstract String description();

    // ---------------------------------------------------------------- tensors

    public final Tensor zeros(DType dtype, int... shape) {
        if (dtype == null) {
            throw new IllegalArgumentException("zeros: dtype is null");
        }
        numel("zeros", shape);
        return doZeros(dtype, shape.clone());
    }

    public final Tensor fromFloats(float[] data, int... shape) {
        checkData("fromFloats", data == null ? -1 : data.length, shape);
        return doFromFloats(data, shape.clone());
    }

    /** INT8 or UINT8 data (UINT8 as raw bytes, 255 is (byte) -1). */
    public final Tensor fromBytes(byte[] data, DType dtype, int... shape) {
        if (dtype == null || !dtype.isByte()) {
            throw new IllegalArgumentException("fromBytes: dtype must be INT8 or UINT8, got " + dtype);
        }
        checkData("fromBytes", data == null ? -1 : data.length, shape);
        return doFromBytes(data, dtype, shape.clone());
    }

    public final Tensor fromInts(int[] data, int... shape) {
        checkData("fromInts", data == null ? -1 : data.length, shape);
        ValueRange range = ValueRange.of(data); // seen here on the host: later checks need not read it back
        Tensor t = doFromInts(data, shape.clone());
        if (range != null) {
            TensorInternals.markValueRange(t, range);
        }
        return t;
    }

    /** A copy of {@code src} (from any backend) in this backend's memory. */
    public final Tensor copyFrom(Tensor src) {
        if (src == null) {
            throw new IllegalArgumentException("copyFrom: source tensor is null");
        }
        src.checkOpen("copyFrom");
        int[] shape = src.shape();
        return switch (src.dtype()) {
            case FLOAT32 -> doFromFloats(src.backend().readFloats(src), shape);
            case INT8, UINT8 -> doFromBytes(src.backend().readBytes(src), src.dtype(), shape);
            case INT32 -> doFromInts(src.backend().readInts(src), shape);
        };
    }

    public final float[] readFloats(Tensor t) {
        own("readFloats", "t", t);
        requireDType("readFloats", "t", t, DType.FLOAT32);
        try (OperandUses uses = new OperandUses("readFloats")) {
            readBacks.increment();
            return doReadFloats(uses.hold(t));
        }
    }

    /**
     * The values of several FLOAT32 tensors of this backend, read in one round trip where the backend can (cuda: one
     * gather kernel and one copy back, where reading each tensor waits for the device once per tensor).
     */
    public final float[][] readAllFloats(java.util.List<Tensor> tensors) {
        String op = "readAllFloats";
        if (tensors == null) {
            throw bad(op, "tensors is null");
        }
        for (int i = 0; i < tensors.size(); i++) {
            own(op, "tensor " + i, tensors.get(i));
            requireDType(op, "tensor " + i, tensors.get(i), DType.FLOAT32);
        }
        try (OperandUses uses = new OperandUses(op)) {
            tensors.forEach(t -> uses.hold(t));
            readBacks.increment();
            return doReadAllFloats(java.util.List.copyOf(tensors));
        }
    }

    /** {@link #readAllFloats}: one read per tensor; backends with a cheaper way override it. */
    protected float[][] doReadAllFloats(java.util.List<Tensor> tensors) {
        float[][] out = new float[tensors.size()][];
        for (int i = 0; i < out.length; i++) {
            out[i] = doReadFloats(tensors.get(i));
        }
        return out;
    }

    public final byte[] readBytes(Tensor t) {
        own("readBytes", "t", t);
        if (!t.dtype().isByte()) {
            throw new IllegalArgumentException("readBytes: t must be INT8 or UINT8, got " + desc(t));
        }
        try (OperandUses uses = new OperandUses("readBytes")) {
            readBacks.increment();
            return doReadBytes(uses.hold(t));
        }
    }

    public final int[] readInts(Tensor t) {
        own("readInts", "t", t);
        requireDType("readInts", "t", t, DType.INT32);
        try (OperandUses uses = new OperandUses("readInts")) {
            readBacks.increment();
            return doReadInts(uses.hold(t));
        }
    }

    // ---------------------------------------------------------------- convolution and linear

    /** y[N,Cout,OH,OW] = conv(x[N,Cin,H,W], w[Cout,Cin/g,kH,kW]) + bias[Cout] (bias may be null). */
    public final Tensor conv2d(Tensor x, Tensor w, Tensor bias, ConvParams p) {
        String op = "conv2d";
        floats(op, "x", x, 4);
        floats(op, "w", w, 4);
        checkConv(op, x.shape(), w.shape(), p);
        if (bias != null) {
            floats(op, "bias", bias, 1);
            if (bias.dim(0) != w.dim(0)) {
                throw bad(op, "bias " + desc(bias) + " must have C_out = " + w.dim(0) + " elements");
            }
        }
        return route(Op.CONV2D, (impl, t) -> impl.doConv2d(t.of(x), t.of(w), t.of(bias), p));
    }

    /** dx of {@link #conv2d} for an input of shape {@code xShape}. */
    public final Tensor conv2dBackwardData(Tensor dy, Tensor w, int[] xShape, ConvParams p) {
        String op = "conv2dBackwardData";
        floats(op, "dy", dy, 4);
        floats(op, "w", w, 4);
        checkShapeArg(op, "xShape", xShape, 4);
        checkConv(op, xShape, w.shape(), p);
        requireShape(op, "dy", dy, convOutShape(xShape, w.shape(), p));
        return route(Op.CONV2D_BACKWARD_DATA, (impl, t) ->
                impl.doConv2dBackwardData(t.of(dy), t.of(w), xShape.clone(), p));
    }

    /** dw of {@link #conv2d} for a weight of shape {@code wShape}. */
    public final Tensor conv2dBackwardWeight(Tensor dy, Tensor x, int[] wShape, ConvParams p) {
        String op = "conv2dBackwardWeight";
        floats(op, "dy", dy, 4);
        floats(op, "x", x, 4);
        checkShapeArg(op, "wShape", wShape, 4);
        checkConv(op, x.shape(), wShape, p);
        requireShape(op, "dy", dy, convOutShape(x.shape(), wShape, p));
        return route(Op.CONV2D_BACKWARD_WEIGHT, (impl, t) ->
                impl.doConv2dBackwardWeight(t.of(dy), t.of(x), wShape.clone(), p));
    }

    /** Sum of dy over every axis but 1: the bias gradient of conv2d ([N,C,H,W] to [C]) and linear ([N,C] to [C]). */
    public final Tensor biasBackward(Tensor dy) {
        String op = "biasBackward";
        own(op, "dy", dy);
        requireDType(op, "dy", dy, DType.FLOAT32);
        if (dy.rank() < 2) {
            throw bad(op, "dy must have rank >= 2 (channels on axis 1), got " + desc(dy));
        }
        return route(Op.BIAS_BACKWARD, (impl, t) -> impl.doBiasBackward(t.of(dy)));
    }

    /** y[N,out] = x[N,in] w[out,in]^T + bias[out] (bias may be null). */
    public final Tensor linear(Tensor x, Tensor w, Tensor bias) {
        String op = "linear";
        floats(op, "x", x, 2);
        floats(op, "w", w, 2);
        if (x.dim(1) != w.dim(1)) {
            throw bad(op, "x " + desc(x) + " has " + x.dim(1) + " features but w " + desc(w) + " expects " + w.dim(1));
        }
        if (bias != null) {
            floats(op, "bias", bias, 1);
            if (bias.dim(0) != w.dim(0)) {
                throw bad(op, "bias " + desc(bias) + " must have " + w.dim(0) + " elements");
            }
        }
        return route(Op.LINEAR, (impl, t) -> impl.doLinear(t.of(x), t.of(w), t.of(bias)));
    }

    public final Tensor linearBackwardData(Tensor dy, Tensor w) {
        String op = "linearBackwardData";
        floats(op, "dy", dy, 2);
        floats(op, "w", w, 2);
        if (dy.dim(1) != w.dim(0)) {
            throw bad(op, "dy " + desc(dy) + " does not match w " + desc(w));
        }
        return route(Op.LINEAR_BACKWARD_DATA, (impl, t) -> impl.doLinearBackwardData(t.of(dy), t.of(w)));
    }

    public final Tensor linearBackwardWeight(Tensor dy, Tensor x) {
        String op = "linearBackwardWeight";
        floats(op, "dy", dy, 2);
        floats(op, "x", x, 2);
        if (dy.dim(0) != x.dim(0)) {
            throw bad(op, "dy " + desc(dy) + " and x " + desc(x) + " have different batch sizes");
        }
        return route(Op.LINEAR_BACKWARD_WEIGHT, (impl, t) -> impl.doLinearBackwardWeight(t.of(dy), t.of(x)));
    }

    // ---------------------------------------------------------------- batch norm, activations, pooling, add

    /**
     * Training-mode BatchNorm2d: normalises with the batch statistics (biased variance) and updates the running
     * statistics in place as torch does: {@code running = (1 - momentum) * running + momentum * batch}, with the
     * unbiased variance.
     */
    public final BatchNormForward batchNorm2dTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
                                                   Tensor runningVar, float momentum, float eps) {
        String op = "batchNorm2dTrain";
        floats(op, "x", x, 4);
        checkChannelVectors(op, x.dim(1), gamma, beta, runningMean, runningVar);
        if (!(momentum >= 0f && momentum <= 1f)) {
            throw bad(op, "momentum must be in [0, 1], got " + momentum);
        }
        if (TensorInternals.storage(runningMean) == TensorInternals.storage(runningVar)) {
            throw bad(op, "runningMean and runningVar must not share memory");
        }
        checkEps(op, eps);
        if ((long) x.dim(0) * x.dim(2) * x.dim(3) < 2) {
            throw bad(op, "needs more than one value per channel to compute a variance, got x " + desc(x));
        }
        TensorInternals.storage(runningMean).noteWrite(); // updated in place: stale any grid mark on them
        TensorInternals.storage(runningVar).noteWrite();
        return route(Op.BATCH_NORM2D_TRAIN, (impl, t) ->
                impl.doBatchNorm2dTrain(t.of(x), t.of(gamma), t.of(beta), t.of(runningMean), t.of(runningVar),
                        momentum, eps));
    }

    public final Tensor batchNorm2dEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                        float eps) {
        String op = "batchNorm2dEval";
        floats(op, "x", x, 4);
        checkChannelVectors(op, x.dim(1), gamma, beta, runningMean, runningVar);
        checkEps(op, eps);
        return route(Op.BATCH_NORM2D_EVAL, (impl, t) ->
                impl.doBatchNorm2dEval(t.of(x), t.of(gamma), t.of(beta), t.of(runningMean), t.of(runningVar), eps));
    }

    /** Backward of {@link #batchNorm2dTrain} given the batch statistics it returned. */
    public final BatchNormGrads batchNorm2dBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor invStd) {
        String op = "batchNorm2dBackward";
        floats(op, "dy", dy, 4);
        floats(op, "x", x, 4);
        requireShape(op, "dy", dy, x.shape());
        checkChannelVectors(op, x.dim(1), gamma, mean, invStd);
        return route(Op.BATCH_NORM2D_BACKWARD, (impl, t) ->
                impl.doBatchNorm2dBackward(t.of(dy), t.of(x), t.of(gamma), t.of(mean), t.of(invStd)));
    }

    public final Tensor relu(Tensor x) {
        anyFloats("relu", "x", x);
        return route(Op.RELU, (impl, t) -> impl.doClamp(Op.RELU, t.of(x), 0f, Float.POSITIVE_INFINITY));
    }

    public final Tensor relu6(Tensor x) {
        anyFloats("relu6", "x", x);
        return route(Op.RELU6, (impl, t) -> impl.doClamp(Op.RELU6, t.of(x), 0f, 6f));
    }

    /** dx = dy where 0 &lt; x (torch's convention: the gradient at exactly 0 is 0). */
    public final Tensor reluBackward(Tensor dy, Tensor x) {
        sameFloats("reluBackward", dy, x);
        return route(Op.RELU_BACKWARD, (impl, t) ->
                impl.doClampBackward(Op.RELU_BACKWARD, t.of(dy), t.of(x), 0f, Float.POSITIVE_INFINITY));
    }

    /** dx = dy where 0 &lt; x &lt; 6 (torch's hardtanh convention). */
    public final Tensor relu6Backward(Tensor dy, Tensor x) {
        sameFloats("relu6Backward", dy, x);
        return route(Op.RELU6_BACKWARD, (impl, t) ->
                impl.doClampBackward(Op.RELU6_BACKWARD, t.of(dy), t.of(x), 0f, 6f));
    }

    /** Average pooling with zero padding counted in the divisor (torch's count_include_pad=true). */
    public final Tensor avgPool2d(Tensor x, int kernel, int stride, int pad) {
        String op = "avgPool2d";
        floats(op, "x", x, 4);
        checkPool(op, x.shape(), kernel, stride, pad);
        return route(Op.AVG_POOL2D, (impl, t) -> impl.doAvgPool2d(t.of(x), kernel, stride, pad));
    }

    public final Tensor avgPool2dBackward(Tensor dy, int[] xShape, int kernel, int stride, int pad) {
        String op = "avgPool2dBackward";
        floats(op, "dy", dy, 4);
        checkShapeArg(op, "xShape", xShape, 4);
        checkPool(op, xShape, kernel, stride, pad);
        int oh = (xShape[2] + 2 * pad - kernel) / stride + 1;
        int ow = (xShape[3] + 2 * pad - kernel) / stride + 1;
        requireShape(op, "dy", dy, new int[] {xShape[0], xShape[1], oh, ow});
        return route(Op.AVG_POOL2D_BACKWARD, (impl, t) ->
                impl.doAvgPool2dBackward(t.of(dy), xShape.clone(), kernel, stride, pad));
    }

    /** torch's adaptive average pooling: output cell i covers [floor(i*H/OH), ceil((i+1)*H/OH)). */
    public final Tensor adaptiveAvgPool2d(Tensor x, int outH, int outW) {
        String op = "adaptiveAvgPool2d";
        floats(op, "x", x, 4);
        if (outH < 1 || outW < 1 || outH > x.dim(2) || outW > x.dim(3)) {
            throw bad(op, "output size " + outH + "x" + outW + " must be in 1.." + x.dim(2) + "x" + x.dim(3)
                    + " for x " + desc(x));
        }
        return route(Op.ADAPTIVE_AVG_POOL2D, (impl, t) -> impl.doAdaptiveAvgPool2d(t.of(x), outH, outW));
    }

    public final Tensor adaptiveAvgPool2dBackward(Tensor dy, int[] xShape) {
        String op = "adaptiveAvgPool2dBackward";
        floats(op, "dy", dy, 4);
        checkShapeArg(op, "xShape", xShape, 4);
        if (dy.dim(0) != xShape[0] || dy.dim(1) != xShape[1] || dy.dim(2) > xShape[2] || dy.dim(3) > xShape[3]
                || dy.dim(2) < 1 || dy.dim(3) < 1) {
            throw bad(op, "dy " + desc(dy) + " is not an adaptive pooling of " + Shape.str(xShape));
        }
        return route(Op.ADAPTIVE_AVG_POOL2D_BACKWARD, (impl, t) ->
                impl.doAdaptiveAvgPool2dBackward(t.of(dy), xShape.clone()));
    }

    /** Elementwise a + b (same shape). Its backward passes the gradient to both operands unchanged. */
    public final Tensor add(Tensor a, Tensor b) {
        sameFloats("add", a, b);
        return route(Op.ADD, (impl, t) -> impl.doAdd(t.of(a), t.of(b)));
    }

    /**
     * Mean softmax cross-entropy of logits[N,K] against INT32 labels[N] in 0..K-1, with label smoothing ε
     * (target = (1-ε) one-hot + ε/K, as torch's CrossEntropyLoss(label_smoothing=ε)).
     */
    public final Loss softmaxCrossEntropy(Tensor logits, Tensor labels, float labelSmoothing) {
        String op = "softmaxCrossEntropy";
        floats(op, "logits", logits, 2);
        own(op, "labels", labels);
        requireDType(op, "labels", labels, DType.INT32);
        if (labels.rank() != 1 || labels.dim(0) != logits.dim(0)) {
            throw bad(op, "labels " + desc(labels) + " must be [" + logits.dim(0) + "] for logits " + desc(logits));
        }
        if (logits.dim(0) < 1 || logits.dim(1) < 1) {
            throw bad(op, "logits " + desc(logits) + " must have at least one row and one class");
        }
        if (!(labelSmoothing >= 0f && labelSmoothing <= 1f)) {
            throw bad(op, "label smoothing must be in [0, 1], got " + labelSmoothing);
        }
        int classes = logits.dim(1);
        ValueRange known = labels.valueRange();
        if (known == null || !known.within(0, classes - 1)) { // read back only labels not known to be in range
            int[] lab = labels.toIntArray();
            for (int i = 0; i < lab.length; i++) {
                if (lab[i] < 0 || lab[i] >= classes) {
                    throw bad(op, "label " + lab[i] + " at index " + i + " is outside 0.." + (classes - 1));
                }
            }
        }
        return route(Op.SOFTMAX_CROSS_ENTROPY, (impl, t) ->
                impl.doSoftmaxCrossEntropy(t.of(logits), t.of(labels), labelSmoothing));
    }

    /** In place: updates {@code param} and {@code momentumBuffer} (same shape as param; zeros before step 1). */
    public final void sgdStep(Tensor param, Tensor grad, Tensor momentumBuffer, SgdParams p) {
        String op = "sgdStep";
        if (p == null) {
            throw bad(op, "SgdParams is null");
        }
        sameFloats(op, param, grad);
        sameFloats(op, param, momentumBuffer);
        Storage paramMemory = TensorInternals.storage(param);
        if (paramMemory == TensorInternals.storage(grad) || paramMemory == TensorInternals.storage(momentumBuffer)) {
            throw bad(op, "param must not share memory with grad or momentumBuffer");
        }
        paramMemory.noteWrite(); // before the write: a grid mark on param is stale from here on
        TensorInternals.storage(momentumBuffer).noteWrite();
        route(Op.SGD_STEP, (impl, t) -> {
            impl.doSgdStep(t.of(param), t.of(grad), t.of(momentumBuffer), p);
            return null;
        });
    }

    /**
     * In place: {@link #sgdStep} on every {@code params[i]} with {@code grads[i]}, {@code buffers[i]} and
     * {@code hyper[i]}, bit for bit, as one call (cuda: one kernel for up to 80 tensors, where sgdStep launches one each),
     * and {@code nonFinite[0] = 1} when any updated value is NaN or infinite (never reset here: the caller's flag to
     * read when it reads anyway, so the finiteness check of the weights costs no read of its own).
     */
    public final void sgdSteps(java.util.List<Tensor> params, java.util.List<Tensor> grads,
                               java.util.List<Tensor> buffers, java.util.List<SgdParams> hyper, Tensor nonFinite) {
        String op = "sgdSteps";
        if (params == null || grads == null || buffers == null || hyper == null) {
            throw bad(op, "params, grads, buffers and hyper must not be null");
        }
        int n = params.size();
        if (grads.size() != n || buffers.size() != n || hyper.size() != n) {
            throw bad(op, "need one grad, buffer and SgdParams per param: got " + n + " params, " + grads.size()
                    + " grads, " + buffers.size() + " buffers, " + hyper.size() + " SgdParams");
        }
        own(op, "nonFinite", nonFinite);
        requireDType(op, "nonFinite", nonFinite, DType.FLOAT32);
        requireShape(op, "nonFinite", nonFinite, new int[] {1});
        java.util.Set<Storage> written = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        Storage flagMemory = TensorInternals.storage(nonFinite);
        written.add(flagMemory);
        for (int i = 0; i < n; i++) {
            String which = op + " (tensor " + i + ")";
            if (hyper.get(i) == null) {
                throw bad(op, "SgdParams " + i + " is null");
            }
            sameFloats(which, params.get(i), grads.get(i));
            sameFloats(which, params.get(i), buffers.get(i));
            Storage p = TensorInternals.storage(params.get(i)), b = TensorInternals.storage(buffers.get(i));
            if (!written.add(p) || !written.add(b)) {
                throw bad(op, "param and buffer " + i + " must not share memory with each other, another param or "
                        + "buffer, or nonFinite");
            }
        }
        for (int i = 0; i < n; i++) {
            if (written.contains(TensorInternals.storage(grads.get(i)))) {
                throw bad(op, "grad " + i + " must not share memory with a param, a buffer or nonFinite");
            }
        }
        written.forEach(Storage::noteWrite); // before the writes: grid marks on them are stale from here on
        java.util.List<SgdParams> h = java.util.List.copyOf(hyper);
        route(Op.SGD_STEPS, (impl, t) -> {
            impl.doSgdSteps(params.stream().map(t::of).toList(), grads.stream().map(t::of).toList(),
                    buffers.stream().map(t::of).toList(), h, t.of(nonFinite));
            return null;
        });
    }

    // ---------------------------------------------------------------- quantizers

    /** Fake-quantizes activations; {@code alpha} is a [1] tensor for PACT/mPACT and must be null otherwise. */
    public final Tensor actQuant(Tensor x, ActQuantizer q, Tensor alpha) {
        String op = "actQuant";
        anyFloats(op, "x", x);
        checkQuantizer(op, q, alpha);
        return route(Op.ACT_QUANT, (impl, t) -> impl.doActQuant(t.of(x), q, t.of(alpha)));
    }

    public final ActQuantGrads actQuantBackward(Tensor dy, Tensor x, ActQuantizer q, Tensor alpha) {
        String op = "actQuantBackward";
        sameFloats(op, dy, x);
        checkQuantizer(op, q, alpha);
        return route(Op.ACT_QUANT_BACKWARD, (impl, t) -> impl.doActQuantBackward(t.of(dy), t.of(x), q, t.of(alpha)));
    }

    /** The seed's DoReFa weight fake-quantizer, per tensor (see {@link WeightQuantizer}). */
    public final Tensor weightQuant(Tensor w, int bits) {
        String op = "weightQuant";
        anyFloats(op, "w", w);
        WeightQuantizer.checkBits(op, bits);
        return route(Op.WEIGHT_QUANT, (impl, t) -> impl.doWeightQuant(t.of(w), bits));
    }

    public final Tensor weightQuantBackward(Tensor dwq, Tensor w, int bits) {
        String op = "weightQuantBackward";
        sameFloats(op, dwq, w);
        WeightQuantizer.checkBits(op, bits);
        return route(Op.WEIGHT_QUANT_BACKWARD, (impl, t) -> impl.doWeightQuantBackward(t.of(dwq), t.of(w), bits));
    }

    // ---------------------------------------------------------------- integer inference

    /**
     * A whole integer forward compiled into one call (no per-layer tensors, no Java between layers), or null when this
     * backend has no such path for it (then run it layer by layer with {@link #conv2dInt} and
     * {@link #requantizeResidual}, which give the same bits). The program was checked when it was built.
     */
    public IntegerProgram.Compiled compileIntegerProgram(IntegerProgram program) {
        if (program == null) {
            throw bad("compileIntegerProgram", "program is null");
        }
        return null;
    }

    /** acc[N,Cout,OH,OW] (INT32) = conv of x (INT8 or UINT8 codes, zero padding) with w (INT8 codes). */
    public final Tensor conv2dInt(Tensor x, Tensor w, ConvParams p) {
        String op = "conv2dInt";
        own(op, "x", x);
        own(op, "w", w);
        if (!x.dtype().isByte() || x.rank() != 4) {
            throw bad(op, "x must be INT8 or UINT8 [N,C,H,W], got " + desc(x));
        }
        if (w.dtype() != DType.INT8 || w.rank() != 4) {
            throw bad(op, "w must be INT8 [Cout,Cin/groups,kH,kW], got " + desc(w));
        }
        checkConv(op, x.shape(), w.shape(), p);
        // |acc| <= K * 255 * 128 must stay below 2^31: K < 65793.
        long k = (long) w.dim(1) * w.dim(2) * w.dim(3);
        if (k * 255L * 128L > Integer.MAX_VALUE) {
            throw bad(op, "reduction length " + k + " could overflow an int32 accumulator");
        }
        return route(Op.CONV2D_INT, (impl, t) -> impl.doConv2dInt(t.of(x), t.of(w), p));
    }

    /** c[M,N] (INT32) = a[M,K] (INT8) x b[K,N] (INT8 or UINT8), exact int32 accumulation. */
    public final Tensor gemmInt(Tensor a, Tensor b) {
        String op = "gemmInt";
        own(op, "a", a);
        own(op, "b", b);
        if (a.dtype() != DType.INT8 || a.rank() != 2) {
            throw bad(op, "a must be INT8 [M,K], got " + desc(a));
        }
        if (!b.dtype().isByte() || b.rank() != 2) {
            throw bad(op, "b must be INT8 or UINT8 [K,N], got " + desc(b));
        }
        if (a.dim(1) != b.dim(0)) {
            throw bad(op, "inner dimensions differ: a " + desc(a) + ", b " + desc(b));
        }
        if ((long) a.dim(1) * 255L * 128L > Integer.MAX_VALUE) {
            throw bad(op, "K = " + a.dim(1) + " could overflow an int32 accumulator");
        }
        return route(Op.GEMM_INT, (impl, t) -> impl.doGemmInt(t.of(a), t.of(b)));
    }

    /**
     * Per-channel fixed-point requantization of int32 accumulators (channels on axis 1, or one channel for all):
     * {@code out = clamp(round((acc * multiplier[c] + bias[c]) / 2^shift[c]), qmin, qmax)} in 64-bit integers
     * (see {@link dev.qat4j.quant.Requantizer}). {@code bias} may be null; {@code [qmin, qmax]} must fit {@code out}.
     */
    public final Tensor requantize(Tensor acc, Tensor multiplier, Tensor shift, Tensor bias, Rounding rounding,
                                   int qmin, int qmax, DType out) {
        String op = "requantize";
        own(op, "acc", acc);
        requireDType(op, "acc", acc, DType.INT32);
        if (acc.rank() < 1) {
            throw bad(op, "acc must have rank >= 1, got " + desc(acc));
        }
        int channels = acc.rank() >= 2 ? acc.dim(1) : 1;
        own(op, "multiplier", multiplier);
        requireDType(op, "multiplier", multiplier, DType.INT32);
        int c = multiplier.numel();
        if (multiplier.rank() != 1 || (c != channels && c != 1)) {
            throw bad(op, "multiplier " + desc(multiplier) + " must be [" + channels + "] or [1] for acc " + desc(acc));
        }
        own(op, "shift", shift);
        requireDType(op, "shift", shift, DType.INT32);
        if (shift.rank() != 1 || shift.numel() != c) {
            throw bad(op, "shift " + desc(shift) + " must have the multiplier's shape [" + c + "]");
        }
        for (int s : shift.toIntArray()) {
            if (s < 0 || s > Rounding.MAX_SHIFT) {
                throw bad(op, "shift " + s + " is outside 0.." + Rounding.MAX_SHIFT);
            }
        }
        if (bias != null) {
            own(op, "bias", bias);
            requireDType(op, "bias", bias, DType.INT32);
            if (bias.rank() != 1 || bias.numel() != c) {
                throw bad(op, "bias " + desc(bias) + " must have the multiplier's shape [" + c + "]");
            }
        }
        checkRequantOutput(op, rounding, qmin, qmax, out);
        return route(Op.REQUANTIZE, (impl, t) ->
                impl.doRequantize(t.of(acc), t.of(multiplier), t.of(shift), t.of(bias), rounding, qmin, qmax, out));
    }

    /**
     * The integer model's layer epilogue: per channel (axis 1) of int32 accumulators, with an optional residual input
     * of the same shape (INT8, UINT8 or INT32 codes),
     * {@code out = clamp(round((acc * multiplier[c] + residual * residualMultiplier[c] + bias[c]) / 2^shift[c]),
     * qmin, qmax)} in 64-bit integers. The per-channel parameters are plain arrays. Refused unless the sum provably
     * stays below 2^62 for every int32 accumulator and every residual value of its dtype (so no backend can overflow).
     */
    public final Tensor requantizeResidual(Tensor acc, Tensor residual, int[] multiplier, int[] shift, long[] bias,
                                           int[] residualMultiplier, Rounding rounding, int qmin, int qmax, DType out) {
        String op = "requantizeResidual";
        own(op, "acc", acc);
        requireDType(op, "acc", acc, DType.INT32);
        if (acc.rank() < 2) {
            throw bad(op, "acc must be [N, C, ...], got " + desc(acc));
        }
        int c = acc.dim(1);
        if (multiplier == null || shift == null || bias == null || multiplier.length != c || shift.length != c
                || bias.length != c) {
            throw bad(op, "multiplier, shift and bias need one entry per channel (" + c + ") of acc " + desc(acc));
        }
        if (residual != null) {
            own(op, "residual", residual);
            if (!(residual.dtype().isByte() || residual.dtype() == DType.INT32)
                    || !java.util.Arrays.equals(residual.shape(), acc.shape())) {
                throw bad(op, "residual must be INT8, UINT8 or INT32 of acc's shape " + desc(acc) + ", got "
                        + desc(residual));
            }
            if (residualMultiplier == null || residualMultiplier.length != c) {
                throw bad(op, "a residual needs one residual multiplier per channel (" + c + ")");
            }
        } else if (residualMultiplier != null) {
            throw bad(op, "residual multipliers given without a residual");
        }
        for (int ch = 0; ch < c; ch++) {
            if (shift[ch] < 0 || shift[ch] > Rounding.MAX_SHIFT) {
                throw bad(op, "shift " + shift[ch] + " of channel " + ch + " is outside 0.." + Rounding.MAX_SHIFT);
            }
        }
        int ch = requantizeResidualOverflowChannel(multiplier, bias, residualMultiplier,
                residual == null ? null : residual.dtype());
        if (ch >= 0) {
            throw bad(op, "channel " + ch + ": |acc * " + multiplier[ch] + " + residual * "
                    + (residual == null ? 0 : residualMultiplier[ch]) + " + " + bias[ch]
                    + "| can reach 2^62 (int64 headroom)");
        }
        checkRequantOutput(op, rounding, qmin, qmax, out);
        return route(Op.REQUANTIZE_RESIDUAL, (impl, t) ->
                impl.doRequantizeResidual(t.of(acc), t.of(residual), multiplier.clone(), shift.clone(),
                bias.clone(), residualMultiplier == null ? null : residualMultiplier.clone(), rounding, qmin, qmax,
                out));
    }

    /**
     * The headroom rule of {@link #requantizeResidual}, from the parameters and the residual's dtype alone (null: no
     * residual): the first channel where {@code 2^31 |multiplier| + max|residual| |residualMultiplier| + |bias|} can
     * reach 2^62, or -1 when none can (then no int32 accumulator and no residual value can overflow the sum).
     */
    public static int requantizeResidualOverflowChannel(int[] multiplier, long[] bias, int[] residualMultiplier,
                                                        DType residualType) {
        long resMax = residualType == null ? 0 : residualType == DType.INT32 ? 1L << 31 : 255;
        for (int ch = 0; ch < multiplier.length; ch++) {
            double worst = Math.scalb(Math.abs((double) multiplier[ch]), 31) + Math.abs((double) bias[ch])
                    + (residualType == null ? 0 : resMax * Math.abs((double) residualMultiplier[ch]));
            if (worst >= Math.scalb(1.0, 62)) {
                return ch;
            }
        }
        return -1;
    }

    /**
     * Whether every element of every tensor (FLOAT32, of this backend) is finite: what a trainer checks after each
     * update. Reads nothing back but one flag where the backend can (cuda: one kernel over all tensors), where reading
     * each tensor would wait for the device once per tensor.
     */
    public final boolean allFinite(java.util.List<Tensor> tensors) {
        String op = "allFinite";
        if (tensors == null) {
            throw bad(op, "tensors is null");
        }
        for (int i = 0; i < tensors.size(); i++) {
            Tensor t = tensors.get(i);
            own(op, "tensor " + i, t);
            requireDType(op, "tensor " + i, t, DType.FLOAT32);
        }
        try (OperandUses uses = new OperandUses(op)) {
            tensors.forEach(t -> uses.hold(t));
            readBacks.increment();
            return doAllFinite(java.util.List.copyOf(tensors));
        }
    }

    /** {@link #allFinite}: reads each tensor; backends with a cheaper way override it. */
    protected boolean doAllFinite(java.util.List<Tensor> tensors) {
        for (Tensor t : tensors) {
            for (float v : doReadFloats(t)) {
                if (!Float.isFinite(v)) {
                    return false;
                }
            }
        }
        return true;
    }

    // ---------------------------------------------------------------- data

    /** The largest {@code padding} {@link #augmentBatch} takes (the crop corners travel as 15-bit fields). */
    public static final int MAX_AUGMENT_PADDING = (1 << 14) - 1;

    /**
     * Assembles a batch from a data set kept on this backend, as {@code dev.qat4j.data.BatchLoader} does on the host
     * (so a training epoch needs no image from the host): image {@code i} of the batch is image {@code index[i]} of
     * {@code images} (UINT8 [N,c,h,w]), padded with {@code padding} zero pixels a side, cut at {@code (top[i],
     * left[i])} of the padded image to its original size and mirrored left-right when {@code flip[i]}
     * ({@code Augmentation.apply}); each pixel value v of channel ch then becomes {@code table[ch, v]} (FLOAT32
     * [c,256]: a {@code Normalization}'s per-value table, so the result is the host path's bit for bit, padding
     * included: a padded pixel is {@code table[ch, 0]}). The label of image i is {@code labels[index[i]]} (INT32 [N]).
     * Evaluation is padding 0, corners 0, no flip. The plan arrays are the caller's host arrays, checked here.
     *
     * @return FLOAT32 images [n,c,h,w] and INT32 labels [n], n = index.length
     */
    public final ImageBatch augmentBatch(Tensor images, Tensor labels, int[] index, int[] top, int[] left,
                                         boolean[] flip, int padding, Tensor table) {
        String op = "augmentBatch";
        own(op, "images", images);
        own(op, "labels", labels);
        own(op, "table", table);
        if (images.dtype() != DType.UINT8 || images.rank() != 4) {
            throw bad(op, "images must be UINT8 [N,C,H,W], got " + desc(images));
        }
        int n = images.dim(0);
        requireDType(op, "labels", labels, DType.INT32);
        requireShape(op, "labels", labels, new int[] {n});
        requireDType(op, "table", table, DType.FLOAT32);
        requireShape(op, "table", table, new int[] {images.dim(1), 256});
        if (index == null || top == null || left == null || flip == null) {
            throw bad(op, "index, top, left and flip must not be null");
        }
        int count = index.length;
        if (count < 1 || top.length != count || left.length != count || flip.length != count) {
            throw bad(op, "index, top, left and flip need one entry per image of the batch (at least one), got "
                    + index.length + ", " + top.length + ", " + left.length + " and " + flip.length);
        }
        if (padding < 0 || padding > MAX_AUGMENT_PADDING) {
            throw bad(op, "padding must be in 0.." + MAX_AUGMENT_PADDING + ", got " + padding);
        }
        for (int i = 0; i < count; i++) {
            if (index[i] < 0 || index[i] >= n) {
                throw bad(op, "index " + index[i] + " at batch position " + i + " is outside 0.." + (n - 1));
            }
            if (top[i] < 0 || top[i] > 2 * padding || left[i] < 0 || left[i] > 2 * padding) {
                throw bad(op, "crop corner (" + top[i] + ", " + left[i] + ") at batch position " + i
                        + " is outside [0, " + 2 * padding + "] for padding " + padding);
            }
        }
        ValueRange labelRange = labels.valueRange();
        ImageBatch batch = route(Op.AUGMENT_BATCH, (impl, t) -> impl.doAugmentBatch(t.of(images), t.of(labels),
                index.clone(), top.clone(), left.clone(), flip.clone(), padding, t.of(table)));
        if (labelRange != null) { // a gather of the labels stays within their bounds
            TensorInternals.markValueRange(batch.labels(), labelRange);
        }
        return batch;
    }

    /**
     * In place: for every row i of {@code logits} (FLOAT32 [n,k]), {@code counts[labels[i], p] += 1} where p is the
     * row's first largest logit (a NaN never wins: {@code dev.qat4j.train.ConfusionMatrix}'s rule). {@code counts} is
     * FLOAT32 [k,k] so it reads back with the step's other values; its counts are exact while each stays below 2^24
     * (16.7 million: the caller reads and resets it per epoch). Training and evaluation count on the backend with it,
     * so no logits are read back.
     */
    public final void accumulateConfusion(Tensor logits, Tensor labels, Tensor counts) {
        String op = "accumulateConfusion";
        floats(op, "logits", logits, 2);
        own(op, "labels", labels);
        own(op, "counts", counts);
        requireDType(op, "labels", labels, DType.INT32);
        requireDType(op, "counts", counts, DType.FLOAT32);
        int n = logits.dim(0), k = logits.dim(1);
        if (k < 1) {
            throw bad(op, "logits " + desc(logits) + " must have at least one class");
        }
        requireShape(op, "labels", labels, new int[] {n});
        requireShape(op, "counts", counts, new int[] {k, k});
        Storage countsMemory = TensorInternals.storage(counts);
        if (countsMemory == TensorInternals.storage(logits)) {
            throw bad(op, "counts must not share memory with logits");
        }
        ValueRange known = labels.valueRange();
        if (known == null || !known.within(0, k - 1)) {
            int[] lab = labels.toIntArray();
            for (int i = 0; i < lab.length; i++) {
                if (lab[i] < 0 || lab[i] >= k) {
                    throw bad(op, "label " + lab[i] + " at index " + i + " is outside 0.." + (k - 1));
                }
            }
        }
        countsMemory.noteWrite();
        route(Op.ACCUMULATE_CONFUSION, (impl, t) -> {
            impl.doAccumulateConfusion(t.of(logits), t.of(labels), t.of(counts));
            return null;
        });
    }

    /** {@link #augmentBatch}'s flips as native code reads them: one byte, 0 or 1, per image. */
    protected static byte[] flipBytes(boolean[] flip) {
        byte[] b = new byte[flip.length];
        for (int i = 0; i < flip.length; i++) {
            b[i] = (byte) (flip[i] ? 1 : 0);
        }
        return b;
    }

    /** A rounding, an integer output dtype and a clamp inside it: what both requantize ops need. */
    private static void checkRequantOutput(String op, Rounding rounding, int qmin, int qmax, DType out) {
        if (rounding == null) {
            throw bad(op, "rounding is null");
        }
        if (out == null || out == DType.FLOAT32) {
            throw bad(op, "output dtype must be INT8, UINT8 or INT32, got " + out);
        }
        if (qmin > qmax || qmin < out.minValue() || qmax > out.maxValue()) {
            throw bad(op, "clamp [" + qmin + ", " + qmax + "] does not fit " + out);
        }
    }

    // ---------------------------------------------------------------- implementations (arguments already checked)

    protected abstract Tensor doZeros(DType dtype, int[] shape);

    protected abstract Tensor doFromFloats(float[] data, int[] shape);

    protected abstract Tensor doFromBytes(byte[] data, DType dtype, int[] shape);

    protected abstract Tensor doFromInts(int[] data, int[] shape);

    protected abstract float[] doReadFloats(Tensor t);

    protected abstract byte[] doReadBytes(Tensor t);

    protected abstract int[] doReadInts(Tensor t);

    protected abstract Tensor doConv2d(Tensor x, Tensor w, Tensor bias, ConvParams p);

    protected abstract Tensor doConv2dBackwardData(Tensor dy, Tensor w, int[] xShape, ConvParams p);

    protected abstract Tensor doConv2dBackwardWeight(Tensor dy, Tensor x, int[] wShape, ConvParams p);

    protected abstract Tensor doBiasBackward(Tensor dy);

    protected abstract Tensor doLinear(Tensor x, Tensor w, Tensor bias);

    protected abstract Tensor doLinearBackwardData(Tensor dy, Tensor w);

    protected abstract Tensor doLinearBackwardWeight(Tensor dy, Tensor x);

    protected abstract BatchNormForward doBatchNorm2dTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
                                                           Tensor runningVar, float momentum, float eps);

    protected abstract Tensor doBatchNorm2dEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
                                                Tensor runningVar, float eps);

    protected abstract BatchNormGrads doBatchNorm2dBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean,
                                                            Tensor invStd);

    /** relu and relu6 (which {@code op} says: for error messages and profiles; the bounds define the clamp). */
    protected abstract Tensor doClamp(Op op, Tensor x, float lo, float hi);

    /** The backward of {@link #doClamp}: dy where lo &lt; x &lt; hi, else 0. */
    protected abstract Tensor doClampBackward(Op op, Tensor dy, Tensor x, float lo, float hi);

    protected abstract Tensor doAvgPool2d(Tensor x, int kernel, int stride, int pad);

    protected abstract Tensor doAvgPool2dBackward(Tensor dy, int[] xShape, int kernel, int stride, int pad);

    protected abstract Tensor doAdaptiveAvgPool2d(Tensor x, int outH, int outW);

    protected abstract Tensor doAdaptiveAvgPool2dBackward(Tensor dy, int[] xShape);

    protected abstract Tensor doAdd(Tensor a, Tensor b);

    protected abstract Loss doSoftmaxCrossEntropy(Tensor logits, Tensor labels, float labelSmoothing);

    protected abstract void doSgdStep(Tensor param, Tensor grad, Tensor momentumBuffer, SgdParams p);

    protected abstract Tensor doActQuant(Tensor x, ActQuantizer q, Tensor alpha);

    protected abstract ActQuantGrads doActQuantBackward(Tensor dy, Tensor x, ActQuantizer q, Tensor alpha);

    protected abstract Tensor doWeightQuant(Tensor w, int bits);

    protected abstract Tensor doWeightQuantBackward(Tensor dwq, Tensor w, int bits);

    protected abstract Tensor doConv2dInt(Tensor x, Tensor w, ConvParams p);

    protected abstract Tensor doGemmInt(Tensor a, Tensor b);

    protected abstract Tensor doRequantizeResidual(Tensor acc, Tensor residual, int[] multiplier, int[] shift,
                                                   long[] bias, int[] residualMultiplier, Rounding rounding, int qmin,
                                                   int qmax, DType out);

    protected abstract Tensor doRequantize(Tensor acc, Tensor multiplier, Tensor shift, Tensor bias, Rounding rounding,
                                           int qmin, int qmax, DType out);

    protected abstract void doAccumulateConfusion(Tensor logits, Tensor labels, Tensor counts);

    protected abstract void doSgdSteps(java.util.List<Tensor> params, java.util.List<Tensor> grads,
                                       java.util.List<Tensor> buffers, java.util.List<SgdParams> hyper,
                                       Tensor nonFinite);

    protected abstract ImageBatch doAugmentBatch(Tensor images, Tensor labels, int[] index, int[] top, int[] left,
                                                 boolean[] flip, int padding, Tensor table);

    // ---------------------------------------------------------------- checks

    /** Output shape of a convolution, for callers that need it before running one. */
    public static int[] convOutShape(int[] xShape, int[] wShape, ConvParams p) {
        return new int[] {xShape[0], wShape[0], p.outH(xShape[2], wShape[2]), p.outW(xShape[3], wShape[3])};
    }

    protected static IllegalArgumentException bad(String op, String message) {
        return new IllegalArgumentException(op + ": " + message);
    }

    protected static String desc(Tensor t) {
        return t.dtype() + Shape.str(t.shape());
    }

    /** Non-null, open, and made by this backend. */
    protected final void own(String op, String name, Tensor t) {
        if (t == null) {
            throw bad(op, name + " is null");
        }
        t.checkOpen(op + " (" + name + ")");
        if (t.backend() != this) {
            String where = t.backend().name().equals(name())
                    ? "another instance of backend '" + name() + "' (" + t.backend().description() + ")"
                    : "backend '" + t.backend().name() + "', not '" + name() + "'";
            throw bad(op, name + " " + desc(t) + " lives on " + where + "; copy it with backend.copyFrom(t) or t.to(backend)");
        }
    }

    private static void requireDType(String op, String name, Tensor t, DType dtype) {
        if (t.dtype() != dtype) {
            throw bad(op, name + " must be " + dtype + ", got " + desc(t));
        }
    }

    private static void requireShape(String op, String name, Tensor t, int[] shape) {
        if (!java.util.Arrays.equals(t.shape(), shape)) {
            throw bad(op, name + " " + desc(t) + " must have shape " + Shape.str(shape));
        }
    }

    private void floats(String op, String name, Tensor t, int rank) {
        own(op, name, t);
        if (t.dtype() != DType.FLOAT32 || t.rank() != rank) {
            throw bad(op, name + " must be FLOAT32 of rank " + rank + ", got " + desc(t));
        }
    }

    private void anyFloats(String op, String name, Tensor t) {
        own(op, name, t);
        requireDType(op, name, t, DType.FLOAT32);
    }

    private void sameFloats(String op, Tensor a, Tensor b) {
        anyFloats(op, "first operand", a);
        anyFloats(op, "second operand", b);
        if (!java.util.Arrays.equals(a.shape(), b.shape())) {
            throw bad(op, "shapes differ: " + desc(a) + " vs " + desc(b));
        }
    }

    private static void checkData(String op, int length, int[] shape) {
        if (length < 0) {
            throw bad(op, "data is null");
        }
        int n = numel(op, shape);
        if (n != length) {
            throw bad(op, "data has " + length + " elements but shape " + Shape.str(shape) + " needs " + n);
        }
    }

    private static void checkShapeArg(String op, String name, int[] shape, int rank) {
        if (shape == null || shape.length != rank) {
            throw bad(op, name + " must have " + rank + " dimensions, got " + Shape.str(shape));
        }
        numel(op, shape);
    }

    /** {@link Shape#numel} with the op's name in the message. */
    private static int numel(String op, int[] shape) {
        try {
            return Shape.numel(shape);
        } catch (IllegalArgumentException e) {
            throw bad(op, e.getMessage());
        }
    }

    private static void checkEps(String op, float eps) {
        if (!(eps > 0f) || !Float.isFinite(eps)) {
            throw bad(op, "eps must be positive and finite, got " + eps);
        }
    }

    private void checkChannelVectors(String op, int channels, Tensor... vectors) {
        String[] names = {"gamma", "beta", "runningMean", "runningVar"};
        if (vectors.length == 3) {
            names = new String[] {"gamma", "mean", "invStd"};
        }
        for (int i = 0; i < vectors.length; i++) {
            floats(op, names[i], vectors[i], 1);
            if (vectors[i].dim(0) != channels) {
                throw bad(op, names[i] + " " + desc(vectors[i]) + " must have " + channels + " channels");
            }
        }
    }

    private static void checkConv(String op, int[] x, int[] w, ConvParams p) {
        if (p == null) {
            throw bad(op, "ConvParams is null");
        }
        String shapes = "x " + Shape.str(x) + ", w " + Shape.str(w) + ", " + p;
        for (int d : w) {
            if (d < 1) {
                throw bad(op, "weight dimensions must be >= 1: " + shapes);
            }
        }
        if (x[1] % p.groups() != 0 || w[0] % p.groups() != 0) {
            throw bad(op, "groups " + p.groups() + " must divide C_in " + x[1] + " and C_out " + w[0] + ": " + shapes);
        }
        if (w[1] * p.groups() != x[1]) {
            throw bad(op, "w has " + w[1] + " input channels per group but x has " + x[1] + " channels in "
                    + p.groups() + " groups: " + shapes);
        }
        long paddedH = x[2] + 2L * p.padH(), paddedW = x[3] + 2L * p.padW();
        if (paddedH > Integer.MAX_VALUE || paddedW > Integer.MAX_VALUE) {
            throw bad(op, "padded input larger than 2^31-1: " + shapes);
        }
        if (paddedH < w[2] || paddedW < w[3]) {
            throw bad(op, "kernel larger than the padded input: " + shapes);
        }
        numel(op, convOutShape(x, w, p)); // the output must fit an int-indexed tensor
    }

    private static void checkPool(String op, int[] x, int kernel, int stride, int pad) {
        if (kernel < 1 || stride < 1 || pad < 0 || 2L * pad > kernel) {
            throw bad(op, "kernel " + kernel + ", stride " + stride + ", pad " + pad
                    + " invalid (kernel, stride >= 1; 0 <= pad <= kernel/2)");
        }
        if (x[2] + 2L * pad < kernel || x[3] + 2L * pad < kernel) {
            throw bad(op, "kernel " + kernel + " larger than the padded input " + Shape.str(x));
        }
        if (x[2] + 2L * pad > Integer.MAX_VALUE || x[3] + 2L * pad > Integer.MAX_VALUE) {
            throw bad(op, "padded input larger than 2^31-1: " + Shape.str(x) + " with pad " + pad);
        }
    }

    private void checkQuantizer(String op, ActQuantizer q, Tensor alpha) {
        if (q == null) {
            throw bad(op, "quantizer is null");
        }
        if (q.hasAlpha()) {
            own(op, "alpha", alpha);
            if (alpha.dtype() != DType.FLOAT32 || alpha.numel() != 1 || alpha.rank() != 1) {
                throw bad(op, q.kind() + " needs alpha as a FLOAT32 [1] tensor, got " + desc(alpha));
            }
        } else if (alpha != null) {
            throw bad(op, q.kind() + " has no learnable alpha; pass null");
        }
    }
}
