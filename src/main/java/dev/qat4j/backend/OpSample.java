package dev.qat4j.backend;

import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.quant.Rounding;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * A representative call of one {@link Op}, with seeded random operands on one backend: what the table-driven
 * conformance test runs on every backend and ISA level, and what the JMH {@code OpBenchmark} times. The same op,
 * size and seed give the same operand values on every backend, so results can be compared.
 *
 * <p>The operands belong to the sample ({@link #close} frees them); each {@link #run} returns new result tensors that
 * the caller closes. Ops that update operands in place ({@link Op#updatesOperandsInPlace}) change
 * {@link #operands()} on every run.
 */
public final class OpSample implements AutoCloseable {

    /** Operand sizes: small enough for the reference backend in tests, or a ResNet20 stage-1 layer for benchmarks. */
    public enum Size {
        /** Batch 2, 8 -> 16 channels, 9x9 images, 3x3 kernels: odd sizes that break vector tiles. */
        SMALL(2, 8, 16, 9),
        /** Batch 32, 16 -> 16 channels, 32x32 images, 3x3 kernels: ResNet20's first stage. */
        LARGE(32, 16, 16, 32);

        final int n;
        final int c;
        final int co;
        final int hw;

        Size(int n, int c, int co, int hw) {
            this.n = n;
            this.c = c;
            this.co = co;
            this.hw = hw;
        }
    }

    private final Op op;
    private final Tensor[] operands;
    private final Function<Tensor[], Object> call;

    private OpSample(Op op, Tensor[] operands, Function<Tensor[], Object> call) {
        this.op = op;
        this.operands = operands;
        this.call = call;
    }

    public Op op() {
        return op;
    }

    /** The operand tensors (owned by this sample; null where the op takes an optional operand left out). */
    public List<Tensor> operands() {
        return Arrays.asList(operands.clone());
    }

    /** Runs the op once; returns its result tensors in order (empty for an in-place op), which the caller closes. */
    public List<Tensor> run() {
        Object r = call.apply(operands);
        List<Tensor> out = new ArrayList<>();
        if (r instanceof Tensor t) {
            out.add(t);
        } else if (r instanceof Record rec) {
            for (var c : rec.getClass().getRecordComponents()) {
                try {
                    if (c.getAccessor().invoke(rec) instanceof Tensor t) {
                        out.add(t);
                    }
                } catch (ReflectiveOperationException e) {
                    throw new IllegalStateException(e);
                }
            }
        }
        return out;
    }

    @Override
    public void close() {
        for (Tensor t : operands) {
            if (t != null) {
                t.close();
            }
        }
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder(op.methodName()).append('(');
        for (int i = 0; i < operands.length; i++) {
            s.append(i == 0 ? "" : ", ").append(operands[i] == null ? "null" : operands[i].dtype()
                    + Arrays.toString(operands[i].shape()));
        }
        return s.append(')').toString();
    }

    /** A sample of {@code op} on {@code backend}: the same values for the same op, size and seed everywhere. */
    public static OpSample of(Op op, Backend backend, Size size, long seed) {
        if (op == null || backend == null || size == null) {
            throw new IllegalArgumentException("OpSample.of: op, backend and size must not be null");
        }
        SplittableRandom r = new SplittableRandom(seed * 31 + op.ordinal());
        Operands o = new Operands(backend, r);
        int n = size.n, c = size.c, co = size.co, hw = size.hw, oh = hw; // 3x3, stride 1, pad 1: same size out
        ConvParams conv = ConvParams.of(1, 1);
        ActQuantizer pact = ActQuantizer.pact(4);
        try {
            return switch (op) {
                case CONV2D -> o.sample(op, t -> backend.conv2d(t[0], t[1], t[2], conv),
                        o.gaussian(1, n, c, hw, hw), o.gaussian(0.3, co, c, 3, 3), o.gaussian(0.1, co));
                case CONV2D_BACKWARD_DATA -> o.sample(op,
                        t -> backend.conv2dBackwardData(t[0], t[1], new int[] {n, c, hw, hw}, conv),
                        o.gaussian(1, n, co, oh, oh), o.gaussian(0.3, co, c, 3, 3));
                case CONV2D_BACKWARD_WEIGHT -> o.sample(op,
                        t -> backend.conv2dBackwardWeight(t[0], t[1], new int[] {co, c, 3, 3}, conv),
                        o.gaussian(1, n, co, oh, oh), o.gaussian(1, n, c, hw, hw));
                case BIAS_BACKWARD -> o.sample(op, t -> backend.biasBackward(t[0]), o.gaussian(1, n, co, oh, oh));
                case LINEAR -> o.sample(op, t -> backend.linear(t[0], t[1], t[2]),
                        o.gaussian(1, n * 4, c * 8), o.gaussian(0.3, co, c * 8), o.gaussian(0.1, co));
                case LINEAR_BACKWARD_DATA -> o.sample(op, t -> backend.linearBackwardData(t[0], t[1]),
                        o.gaussian(1, n * 4, co), o.gaussian(0.3, co, c * 8));
                case LINEAR_BACKWARD_WEIGHT -> o.sample(op, t -> backend.linearBackwardWeight(t[0], t[1]),
                        o.gaussian(1, n * 4, co), o.gaussian(1, n * 4, c * 8));
                case BATCH_NORM2D_TRAIN -> o.sample(op,
                        t -> backend.batchNorm2dTrain(t[0], t[1], t[2], t[3], t[4], 0.1f, 1e-5f),
                        o.gaussian(2, n, c, hw, hw), o.uniform(0.5, 1.5, c), o.gaussian(0.1, c), o.gaussian(0.1, c),
                        o.uniform(0.5, 1.5, c));
                case BATCH_NORM2D_EVAL -> o.sample(op,
                        t -> backend.batchNorm2dEval(t[0], t[1], t[2], t[3], t[4], 1e-5f),
                        o.gaussian(2, n, c, hw, hw), o.uniform(0.5, 1.5, c), o.gaussian(0.1, c), o.gaussian(0.1, c),
                        o.uniform(0.5, 1.5, c));
                case BATCH_NORM2D_BACKWARD -> o.sample(op, t -> backend.batchNorm2dBackward(t[0], t[1], t[2], t[3], t[4]),
                        o.gaussian(1, n, c, hw, hw), o.gaussian(2, n, c, hw, hw), o.uniform(0.5, 1.5, c),
                        o.gaussian(0.1, c), o.uniform(0.5, 1.5, c));
                case RELU -> o.sample(op, t -> backend.relu(t[0]), o.gaussian(3, n, c, hw, hw));
                case RELU6 -> o.sample(op, t -> backend.relu6(t[0]), o.gaussian(4, n, c, hw, hw));
                case RELU_BACKWARD -> o.sample(op, t -> backend.reluBackward(t[0], t[1]),
                        o.gaussian(1, n, c, hw, hw), o.gaussian(3, n, c, hw, hw));
                case RELU6_BACKWARD -> o.sample(op, t -> backend.relu6Backward(t[0], t[1]),
                        o.gaussian(1, n, c, hw, hw), o.gaussian(4, n, c, hw, hw));
                case AVG_POOL2D -> o.sample(op, t -> backend.avgPool2d(t[0], 3, 2, 1), o.gaussian(1, n, c, hw, hw));
                case AVG_POOL2D_BACKWARD -> o.sample(op,
                        t -> backend.avgPool2dBackward(t[0], new int[] {n, c, hw, hw}, 3, 2, 1),
                        o.gaussian(1, n, c, (hw - 1) / 2 + 1, (hw - 1) / 2 + 1));
                case ADAPTIVE_AVG_POOL2D -> o.sample(op, t -> backend.adaptiveAvgPool2d(t[0], 1, 1),
                        o.gaussian(1, n, c, hw, hw));
                case ADAPTIVE_AVG_POOL2D_BACKWARD -> o.sample(op,
                        t -> backend.adaptiveAvgPool2dBackward(t[0], new int[] {n, c, hw, hw}), o.gaussian(1, n, c, 1, 1));
                case ADD -> o.sample(op, t -> backend.add(t[0], t[1]), o.gaussian(1, n, c, hw, hw),
                        o.gaussian(1, n, c, hw, hw));
                case SOFTMAX_CROSS_ENTROPY -> o.sample(op, t -> backend.softmaxCrossEntropy(t[0], t[1], 0.1f),
                        o.gaussian(3, n * 16, 10), o.labels(10, n * 16));
                case SGD_STEP -> o.sample(op, t -> {
                    backend.sgdStep(t[0], t[1], t[2], new SgdParams(0.1f, 0.9f, 5e-4f, false));
                    return null;
                }, o.gaussian(0.3, co, c, 3, 3), o.gaussian(0.01, co, c, 3, 3), o.gaussian(0.01, co, c, 3, 3));
                case ACT_QUANT -> o.sample(op, t -> backend.actQuant(t[0], pact, t[1]), o.gaussian(2, n, c, hw, hw),
                        o.constant(2.5f, 1));
                case ACT_QUANT_BACKWARD -> o.sample(op, t -> backend.actQuantBackward(t[0], t[1], pact, t[2]),
                        o.gaussian(1, n, c, hw, hw), o.gaussian(2, n, c, hw, hw), o.constant(2.5f, 1));
                case WEIGHT_QUANT -> o.sample(op, t -> backend.weightQuant(t[0], 4), o.gaussian(0.3, co, c, 3, 3));
                case WEIGHT_QUANT_BACKWARD -> o.sample(op, t -> backend.weightQuantBackward(t[0], t[1], 4),
                        o.gaussian(0.01, co, c, 3, 3), o.gaussian(0.3, co, c, 3, 3));
                case CONV2D_INT -> o.sample(op, t -> backend.conv2dInt(t[0], t[1], conv),
                        o.bytes(DType.UINT8, n, c, hw, hw), o.bytes(DType.INT8, co, c, 3, 3));
                case GEMM_INT -> o.sample(op, t -> backend.gemmInt(t[0], t[1]), o.bytes(DType.INT8, co, c * 9),
                        o.bytes(DType.UINT8, c * 9, n * hw * hw));
                case REQUANTIZE -> o.sample(op, t -> backend.requantize(t[0], t[1], t[2], t[3], Rounding.HALF_EVEN, 0,
                                255, DType.UINT8), o.ints(-200_000, 200_000, n, co, oh, oh),
                        o.ints(1 << 20, 1 << 30, co), o.ints(28, 40, co), o.ints(-1 << 20, 1 << 20, co));
                case ACCUMULATE_CONFUSION -> o.sample(op, t -> {
                    backend.accumulateConfusion(t[0], t[1], t[2]);
                    return null;
                }, o.gaussian(2, n * 16, 10), o.labels(10, n * 16), o.uniform(0, 3, 10, 10));
                case SGD_STEPS -> o.sample(op, t -> {
                    // three tensors of their own shapes and hyper-parameters (Nesterov, no decay, an α-like [1])
                    backend.sgdSteps(List.of(t[0], t[3], t[6]), List.of(t[1], t[4], t[7]), List.of(t[2], t[5], t[8]),
                            List.of(new SgdParams(0.1f, 0.9f, 5e-4f, false), new SgdParams(0.05f, 0.9f, 0f, true),
                                    new SgdParams(0.1f, 0.5f, 4.5e-4f, false)), t[9]);
                    return null;
                }, o.gaussian(0.3, co, c, 3, 3), o.gaussian(0.01, co, c, 3, 3), o.gaussian(0.01, co, c, 3, 3),
                        o.gaussian(1, co), o.gaussian(0.1, co), o.gaussian(0.1, co),
                        o.constant(2.5f, 1), o.gaussian(0.1, 1), o.gaussian(0.1, 1), o.constant(0f, 1));
                case AUGMENT_BATCH -> {
                    // A training batch of n * 4 images drawn from 3x as many, crop padding 4 as CIFAR-10's.
                    int count = n * 4, images = count * 3, padding = 4;
                    int[] index = r.ints(count, 0, images).toArray();
                    int[] top = r.ints(count, 0, 2 * padding + 1).toArray();
                    int[] left = r.ints(count, 0, 2 * padding + 1).toArray();
                    boolean[] flip = new boolean[count];
                    for (int i = 0; i < count; i++) {
                        flip[i] = r.nextBoolean();
                    }
                    yield o.sample(op, t -> backend.augmentBatch(t[0], t[1], index, top, left, flip, padding, t[2]),
                            o.bytes(DType.UINT8, images, 3, hw, hw), o.labels(10, images), o.gaussian(1, 3, 256));
                }
                case REQUANTIZE_RESIDUAL -> {
                    int[] mult = r.ints(co, 1 << 20, 1 << 30).toArray();
                    int[] shift = r.ints(co, 28, 40).toArray();
                    long[] bias = r.longs(co, -1L << 30, 1L << 30).toArray();
                    int[] resMult = r.ints(co, 1 << 20, 1 << 28).toArray();
                    yield o.sample(op, t -> backend.requantizeResidual(t[0], t[1], mult, shift, bias, resMult,
                                    Rounding.HALF_EVEN, -128, 127, DType.INT8),
                            o.ints(-200_000, 200_000, n, co, oh, oh), o.bytes(DType.UINT8, n, co, oh, oh));
                }
            };
        } catch (RuntimeException | Error e) {
            o.closeAll();
            throw e;
        }
    }

    /** Makes operand tensors from the seeded generator, keeping them so a failure can free them. */
    private static final class Operands {
        private final Backend backend;
        private final SplittableRandom r;
        private final List<Tensor> made = new ArrayList<>();

        Operands(Backend backend, SplittableRandom r) {
            this.backend = backend;
            this.r = r;
        }

        OpSample sample(Op op, Function<Tensor[], Object> call, Tensor... operands) {
            return new OpSample(op, operands, call);
        }

        private Tensor keep(Tensor t) {
            made.add(t);
            return t;
        }

        Tensor gaussian(double scale, int... shape) {
            float[] a = new float[count(shape)];
            for (int i = 0; i < a.length; i++) {
                a[i] = (float) (r.nextGaussian() * scale);
            }
            return keep(backend.fromFloats(a, shape));
        }

        Tensor uniform(double lo, double hi, int... shape) {
            float[] a = new float[count(shape)];
            for (int i = 0; i < a.length; i++) {
                a[i] = (float) r.nextDouble(lo, hi);
            }
            return keep(backend.fromFloats(a, shape));
        }

        Tensor constant(float v, int... shape) {
            float[] a = new float[count(shape)];
            Arrays.fill(a, v);
            return keep(backend.fromFloats(a, shape));
        }

        Tensor labels(int classes, int n) {
            return keep(backend.fromInts(r.ints(n, 0, classes).toArray(), n));
        }

        Tensor ints(int lo, int hi, int... shape) {
            return keep(backend.fromInts(r.ints(count(shape), lo, hi).toArray(), shape));
        }

        Tensor bytes(DType dtype, int... shape) {
            byte[] a = new byte[count(shape)];
            for (int i = 0; i < a.length; i++) {
                a[i] = (byte) (dtype == DType.INT8 ? r.nextInt(-127, 128) : r.nextInt(0, 256));
            }
            return keep(backend.fromBytes(a, dtype, shape));
        }

        void closeAll() {
            made.forEach(Tensor::close);
        }

        private static int count(int[] shape) {
            int n = 1;
            for (int d : shape) {
                n *= d;
            }
            return n;
        }
    }
}
