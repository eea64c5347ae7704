package dev.qat4j.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.fuzz.Fuzz;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.quant.Rounding;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Tensor;
import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Randomized calls across the JNI boundary: every public op of {@link Backend} with arguments generated from a
 * valid configuration of random small sizes, then (for most calls) broken in one or two ways: a dimension changed,
 * a rank changed, the wrong dtype, null, a closed tensor, a tensor of the other backend, a size or bit-width
 * parameter set to an extreme (0, -1, 2^31-1, -2^31, 65536...), an index value out of range. The calls are drawn from
 * the op list ({@link Op}, an exhaustive switch) and spread over every ISA level of the cpu backend. On the native
 * {@code cpu} backend each call must either be refused with an IllegalArgumentException / IllegalStateException
 * carrying a message, exactly as the {@code ref} backend refuses it, or succeed with the reference's result
 * (inputs updated in place included). A native crash would take the JVM down with it; an out-of-bounds write
 * would show as a wrong result or a changed canary.
 * {@link BoundaryValidationTest} has the hand-written cases with their exact messages.
 */
class BoundaryFuzzTest {
    private static final Backend CPU = CpuBackend.get();
    private static final Backend REF = RefBackend.INSTANCE;
    private static final int[] EXTREMES = {-1, 0, 1, 2, 3, 5, 9, 17, 32, 33, 65536, Integer.MAX_VALUE,
        Integer.MIN_VALUE, Integer.MAX_VALUE / 2 + 1};

    /** A tensor argument: dtype, shape, whether null is accepted, and the range of its values. */
    static final class Arg {
        final String name;
        DType dtype;
        int[] shape;
        final boolean nullable;
        final double lo;
        final double hi;
        boolean isNull;
        boolean closed;
        boolean foreign;
        int badIndex = -1; // an element set outside [lo, hi]

        Arg(String name, DType dtype, int[] shape, boolean nullable, double lo, double hi) {
            this.name = name;
            this.dtype = dtype;
            this.shape = shape;
            this.nullable = nullable;
            this.lo = lo;
            this.hi = hi;
        }

        @Override
        public String toString() {
            return name + (isNull ? "=null" : "=" + dtype + Arrays.toString(shape) + (closed ? " closed" : "")
                + (foreign ? " foreign" : "") + (badIndex >= 0 ? " bad value at " + badIndex : ""));
        }
    }

    /** An op call: its tensor arguments, its int parameters and how to call it. */
    interface Invoker {
        Object call(Backend b, Tensor[] t, int[] p);
    }

    record Call(String op, List<Arg> args, int[] params, Invoker fn) {
    }

    private static Arg f(String name, int... shape) {
        return new Arg(name, DType.FLOAT32, shape, false, -2, 2);
    }

    private static Arg fpos(String name, int... shape) {
        return new Arg(name, DType.FLOAT32, shape, false, 0.5, 2);
    }

    private static Arg opt(String name, int... shape) {
        return new Arg(name, DType.FLOAT32, shape, true, -2, 2);
    }

    private static ConvParams conv(int[] p) {
        return ConvParams.of(p[0], p[1], p[2]);
    }

    private static ActQuantizer quantizer(int kind, int bits) {
        return switch (Math.floorMod(kind, 4)) {
            case 0 -> ActQuantizer.pact(bits);
            case 1 -> ActQuantizer.mpact(bits);
            case 2 -> ActQuantizer.dorefa(bits);
            default -> ActQuantizer.fixedClip(bits, 6f);
        };
    }

    private static int[] shape(int[] p, int from) {
        return Arrays.copyOfRange(p, from, from + 4);
    }

    /** A valid call of a random op with random small sizes. */
    static Call generate(SplittableRandom r) {
        int n = 1 + r.nextInt(3);
        int g = 1 + r.nextInt(2);
        int ci = 1 + r.nextInt(3);
        int co = 1 + r.nextInt(3);
        int cin = g * ci;
        int cout = g * co;
        int h = 1 + r.nextInt(6);
        int w = 1 + r.nextInt(6);
        int s = 1 + r.nextInt(2);
        int pad = r.nextInt(2);
        int kh = 1 + r.nextInt(Math.min(3, h + 2 * pad));
        int kw = 1 + r.nextInt(Math.min(3, w + 2 * pad));
        int oh = (h + 2 * pad - kh) / s + 1;
        int ow = (w + 2 * pad - kw) / s + 1;
        int c = 1 + r.nextInt(4);
        int bits = 2 + r.nextInt(7);
        int kind = r.nextInt(4);
        boolean alpha = Math.floorMod(kind, 4) < 2;
        Op op = Op.values()[r.nextInt(Op.values().length)];
        return switch (op) {
            case CONV2D -> new Call(op.methodName(), List.of(f("x", n, cin, h, w), f("w", cout, ci, kh, kw), opt("bias", cout)),
                new int[] {s, pad, g}, (b, t, p) -> b.conv2d(t[0], t[1], t[2], conv(p)));
            case CONV2D_BACKWARD_DATA -> new Call(op.methodName(), List.of(f("dy", n, cout, oh, ow), f("w", cout, ci, kh, kw)),
                new int[] {s, pad, g, n, cin, h, w},
                (b, t, p) -> b.conv2dBackwardData(t[0], t[1], shape(p, 3), conv(p)));
            case CONV2D_BACKWARD_WEIGHT -> new Call(op.methodName(), List.of(f("dy", n, cout, oh, ow), f("x", n, cin, h, w)),
                new int[] {s, pad, g, cout, ci, kh, kw},
                (b, t, p) -> b.conv2dBackwardWeight(t[0], t[1], shape(p, 3), conv(p)));
            case BIAS_BACKWARD -> new Call(op.methodName(), List.of(f("dy", n, c, h, w)), new int[0], (b, t, p) -> b.biasBackward(t[0]));
            case LINEAR -> new Call(op.methodName(), List.of(f("x", n, cin), f("w", cout, cin), opt("bias", cout)), new int[0],
                (b, t, p) -> b.linear(t[0], t[1], t[2]));
            case LINEAR_BACKWARD_DATA -> new Call(op.methodName(), List.of(f("dy", n, cout), f("w", cout, cin)), new int[0],
                (b, t, p) -> b.linearBackwardData(t[0], t[1]));
            case LINEAR_BACKWARD_WEIGHT -> new Call(op.methodName(), List.of(f("dy", n, cout), f("x", n, cin)), new int[0],
                (b, t, p) -> b.linearBackwardWeight(t[0], t[1]));
            case BATCH_NORM2D_TRAIN -> new Call(op.methodName(), List.of(f("x", n, c, h, w), f("gamma", c), f("beta", c),
                f("runningMean", c), fpos("runningVar", c)), new int[0],
                (b, t, p) -> b.batchNorm2dTrain(t[0], t[1], t[2], t[3], t[4], 0.1f, 1e-5f));
            case BATCH_NORM2D_EVAL -> new Call(op.methodName(), List.of(f("x", n, c, h, w), f("gamma", c), f("beta", c),
                f("runningMean", c), fpos("runningVar", c)), new int[0],
                (b, t, p) -> b.batchNorm2dEval(t[0], t[1], t[2], t[3], t[4], 1e-5f));
            case BATCH_NORM2D_BACKWARD -> new Call(op.methodName(), List.of(f("dy", n, c, h, w), f("x", n, c, h, w), f("gamma", c),
                f("mean", c), fpos("invStd", c)), new int[0],
                (b, t, p) -> b.batchNorm2dBackward(t[0], t[1], t[2], t[3], t[4]));
            case RELU -> new Call(op.methodName(), List.of(f("x", n, c, h)), new int[0], (b, t, p) -> b.relu(t[0]));
            case RELU6 -> new Call(op.methodName(), List.of(f("x", n, c)), new int[0], (b, t, p) -> b.relu6(t[0]));
            case RELU_BACKWARD -> new Call(op.methodName(), List.of(f("dy", n, c, h), f("x", n, c, h)), new int[0],
                (b, t, p) -> b.reluBackward(t[0], t[1]));
            case RELU6_BACKWARD -> new Call(op.methodName(), List.of(f("dy", n, c), f("x", n, c)), new int[0],
                (b, t, p) -> b.relu6Backward(t[0], t[1]));
            case AVG_POOL2D -> {
                int k = Math.min(kh, Math.min(h, w));
                int p0 = Math.min(pad, k / 2);
                yield new Call(op.methodName(), List.of(f("x", n, c, h, w)), new int[] {k, s, p0},
                    (b, t, p) -> b.avgPool2d(t[0], p[0], p[1], p[2]));
            }
            case AVG_POOL2D_BACKWARD -> {
                int k = Math.min(kh, Math.min(h, w));
                int p0 = Math.min(pad, k / 2);
                int ph = (h + 2 * p0 - k) / s + 1;
                int pw = (w + 2 * p0 - k) / s + 1;
                yield new Call(op.methodName(), List.of(f("dy", n, c, ph, pw)), new int[] {k, s, p0, n, c, h, w},
                    (b, t, p) -> b.avgPool2dBackward(t[0], shape(p, 3), p[0], p[1], p[2]));
            }
            case ADAPTIVE_AVG_POOL2D -> new Call(op.methodName(), List.of(f("x", n, c, h, w)),
                new int[] {1 + r.nextInt(h), 1 + r.nextInt(w)}, (b, t, p) -> b.adaptiveAvgPool2d(t[0], p[0], p[1]));
            case ADAPTIVE_AVG_POOL2D_BACKWARD -> {
                int ah = 1 + r.nextInt(h);
                int aw = 1 + r.nextInt(w);
                yield new Call(op.methodName(), List.of(f("dy", n, c, ah, aw)), new int[] {n, c, h, w},
                    (b, t, p) -> b.adaptiveAvgPool2dBackward(t[0], shape(p, 0)));
            }
            case ADD -> new Call(op.methodName(), List.of(f("first operand", n, c, h), f("second operand", n, c, h)), new int[0],
                (b, t, p) -> b.add(t[0], t[1]));
            case SOFTMAX_CROSS_ENTROPY -> new Call(op.methodName(), List.of(f("logits", n, c + 1),
                new Arg("labels", DType.INT32, new int[] {n}, false, 0, c)), new int[0],
                (b, t, p) -> b.softmaxCrossEntropy(t[0], t[1], 0.1f));
            case SGD_STEP -> new Call(op.methodName(), List.of(f("param", c, h), f("grad", c, h), f("momentumBuffer", c, h)),
                new int[0], (b, t, p) -> {
                    b.sgdStep(t[0], t[1], t[2], new SgdParams(0.1f, 0.9f, 5e-4f, false));
                    return null;
                });
            case ACT_QUANT -> new Call(op.methodName(), List.of(f("x", n, c, h), alpha ? fpos("alpha", 1) : opt("alpha", 1)),
                new int[] {kind, bits}, (b, t, p) -> b.actQuant(t[0], quantizer(p[0], p[1]), alphaOf(p[0], t[1])));
            case ACT_QUANT_BACKWARD -> new Call(op.methodName(), List.of(f("dy", n, c), f("x", n, c),
                alpha ? fpos("alpha", 1) : opt("alpha", 1)), new int[] {kind, bits},
                (b, t, p) -> b.actQuantBackward(t[0], t[1], quantizer(p[0], p[1]), alphaOf(p[0], t[2])));
            case WEIGHT_QUANT -> new Call(op.methodName(), List.of(f("w", cout, ci, kh, kw)), new int[] {1 + r.nextInt(8)},
                (b, t, p) -> b.weightQuant(t[0], p[0]));
            case WEIGHT_QUANT_BACKWARD -> new Call(op.methodName(), List.of(f("dwq", cout, ci), f("w", cout, ci)),
                new int[] {1 + r.nextInt(8)}, (b, t, p) -> b.weightQuantBackward(t[0], t[1], p[0]));
            case CONV2D_INT -> new Call(op.methodName(), List.of(new Arg("x", r.nextBoolean() ? DType.INT8 : DType.UINT8,
                new int[] {n, cin, h, w}, false, -128, 255), new Arg("w", DType.INT8, new int[] {cout, ci, kh, kw},
                false, -128, 127)), new int[] {s, pad, g}, (b, t, p) -> b.conv2dInt(t[0], t[1], conv(p)));
            case GEMM_INT -> new Call(op.methodName(), List.of(new Arg("a", DType.INT8, new int[] {cout, cin}, false, -128, 127),
                new Arg("b", r.nextBoolean() ? DType.INT8 : DType.UINT8, new int[] {cin, h * w}, false, -128, 255)),
                new int[0], (b, t, p) -> b.gemmInt(t[0], t[1]));
            case REQUANTIZE -> new Call(op.methodName(), List.of(new Arg("acc", DType.INT32, new int[] {n, c, h, w}, false,
                -100_000, 100_000), new Arg("multiplier", DType.INT32, new int[] {c}, false, 1, 1 << 30),
                new Arg("shift", DType.INT32, new int[] {c}, false, 0, Rounding.MAX_SHIFT),
                new Arg("bias", DType.INT32, new int[] {c}, true, -1000, 1000)),
                new int[] {r.nextInt(5), -128, 127, 0}, (b, t, p) -> b.requantize(t[0], t[1], t[2], t[3],
                    Rounding.values()[Math.floorMod(p[0], Rounding.values().length)], p[1], p[2],
                    new DType[] {DType.INT8, DType.UINT8, DType.INT32, DType.FLOAT32}[Math.floorMod(p[3], 4)]));
            case ACCUMULATE_CONFUSION -> new Call(op.methodName(), List.of(f("logits", n, c + 1),
                new Arg("labels", DType.INT32, new int[] {n}, false, 0, c), f("counts", c + 1, c + 1)), new int[0],
                (b, t, p) -> {
                    b.accumulateConfusion(t[0], t[1], t[2]);
                    return null;
                });
            case SGD_STEPS -> new Call(op.methodName(), List.of(f("param 0", c, h), f("grad 0", c, h), f("buffer 0", c, h),
                f("param 1", n), f("grad 1", n), f("buffer 1", n), f("nonFinite", 1)), new int[0],
                (b, t, p) -> {
                    SgdParams hp = new SgdParams(0.1f, 0.9f, 5e-4f, false);
                    b.sgdSteps(Arrays.asList(t[0], t[3]), Arrays.asList(t[1], t[4]), Arrays.asList(t[2], t[5]),
                        List.of(hp, hp), t[6]);
                    return null;
                });
            case AUGMENT_BATCH -> {
                int images = n + 2;
                int padding = r.nextInt(4);
                int count = 1 + r.nextInt(images);
                yield new Call(op.methodName(), List.of(new Arg("images", DType.UINT8, new int[] {images, c, h, w}, false,
                    0, 255), new Arg("labels", DType.INT32, new int[] {images}, false, 0, 9), f("table", c, 256)),
                    new int[] {padding, count, r.nextInt(images - count + 1), r.nextInt(2 * padding + 1),
                        r.nextInt(2 * padding + 1), r.nextInt(1 << count)},
                    (b, t, p) -> {
                        int m = Math.max(0, Math.min(p[1], 64)); // a perturbed count must not allocate gigabytes
                        int[] index = new int[m], top = new int[m], left = new int[m];
                        boolean[] flip = new boolean[m];
                        for (int i = 0; i < m; i++) {
                            index[i] = p[2] + i;
                            top[i] = p[3];
                            left[i] = p[4];
                            flip[i] = ((p[5] >> (i & 31)) & 1) == 1;
                        }
                        return b.augmentBatch(t[0], t[1], index, top, left, flip, p[0], t[2]);
                    });
            }
            case REQUANTIZE_RESIDUAL -> {
                int channels = c;
                yield new Call(op.methodName(), List.of(new Arg("acc", DType.INT32, new int[] {n, c, h, w}, false,
                    -100_000, 100_000), new Arg("residual", r.nextBoolean() ? DType.INT8 : DType.UINT8,
                    new int[] {n, c, h, w}, true, -128, 255)),
                    new int[] {r.nextInt(5), -128, 127, 0, 1 + r.nextInt(1 << 20), r.nextInt(40)},
                    (b, t, p) -> {
                        int[] mult = new int[channels], shift = new int[channels], resMult = new int[channels];
                        Arrays.fill(mult, p[4]);
                        Arrays.fill(shift, p[5]);
                        Arrays.fill(resMult, 3);
                        return b.requantizeResidual(t[0], t[1], mult, shift, new long[channels],
                            t[1] == null ? null : resMult,
                            Rounding.values()[Math.floorMod(p[0], Rounding.values().length)], p[1], p[2],
                            new DType[] {DType.INT8, DType.UINT8, DType.INT32, DType.FLOAT32}[Math.floorMod(p[3], 4)]);
                    });
            }
        };
    }

    /** PACT and mPACT take α; the others must get null. */
    private static Tensor alphaOf(int kind, Tensor alpha) {
        return Math.floorMod(kind, 4) < 2 ? alpha : null;
    }

    /** Breaks the call in one random way; returns what was done. */
    static String perturb(Call call, SplittableRandom r) {
        List<Arg> args = call.args();
        int what = r.nextInt(args.isEmpty() ? 1 : 8);
        if (what == 0 && call.params().length > 0 || args.isEmpty()) {
            if (call.params().length == 0) {
                return "nothing";
            }
            int i = r.nextInt(call.params().length);
            call.params()[i] = EXTREMES[r.nextInt(EXTREMES.length)];
            return "param " + i + " = " + call.params()[i];
        }
        Arg a = args.get(r.nextInt(args.size()));
        switch (what) {
            case 1, 2 -> {
                if (a.shape.length == 0) {
                    return "nothing";
                }
                int d = r.nextInt(a.shape.length);
                int[] opts = {0, 1, a.shape[d] + 1, Math.max(0, a.shape[d] - 1), 2 * a.shape[d], 7};
                a.shape = a.shape.clone();
                a.shape[d] = opts[r.nextInt(opts.length)];
                return a.name + " dim " + d + " = " + a.shape[d];
            }
            case 3 -> {
                a.shape = r.nextBoolean() || a.shape.length == 0 ? append(a.shape, 1 + r.nextInt(2))
                    : Arrays.copyOf(a.shape, a.shape.length - 1);
                return a.name + " rank " + a.shape.length;
            }
            case 4 -> {
                DType[] all = DType.values();
                a.dtype = all[r.nextInt(all.length)];
                return a.name + " dtype " + a.dtype;
            }
            case 5 -> {
                a.isNull = true;
                return a.name + " null";
            }
            case 6 -> {
                if (r.nextBoolean()) {
                    a.closed = true;
                    return a.name + " closed";
                }
                a.foreign = true;
                return a.name + " foreign";
            }
            default -> {
                a.badIndex = 0;
                return a.name + " value out of range";
            }
        }
    }

    private static int[] append(int[] s, int d) {
        int[] o = Arrays.copyOf(s, s.length + 1);
        o[s.length] = d;
        return o;
    }

    /** The call's tensors on backend {@code b} from one value seed, so both backends get equal inputs. */
    static Tensor[] materialize(Call call, Backend b, Backend other, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Tensor[] t = new Tensor[call.args().size()];
        for (int i = 0; i < t.length; i++) {
            Arg a = call.args().get(i);
            if (a.isNull) {
                continue;
            }
            long numel = 1;
            for (int d : a.shape) {
                numel *= d;
            }
            int count = (int) numel;
            Backend on = a.foreign ? other : b;
            t[i] = switch (a.dtype) {
                case FLOAT32 -> {
                    float[] v = new float[count];
                    for (int k = 0; k < count; k++) {
                        v[k] = (float) (a.lo + (a.hi - a.lo) * r.nextDouble());
                    }
                    if (a.badIndex >= 0 && count > 0) {
                        v[0] = Float.NaN;
                    }
                    yield on.fromFloats(v, a.shape);
                }
                case INT32 -> {
                    int[] v = new int[count];
                    for (int k = 0; k < count; k++) {
                        v[k] = (int) r.nextLong((long) a.lo, (long) a.hi + 1);
                    }
                    if (a.badIndex >= 0 && count > 0) {
                        v[0] = (int) a.hi + 1 + r.nextInt(100);
                    }
                    yield on.fromInts(v, a.shape);
                }
                case INT8, UINT8 -> {
                    byte[] v = new byte[count];
                    r.nextBytes(v);
                    yield on.fromBytes(v, a.dtype, a.shape);
                }
            };
            if (a.closed) {
                t[i].close();
            }
        }
        return t;
    }

    /** The result's tensors: a Tensor, or the tensor components of a result record. */
    static List<Tensor> tensors(Object result) throws ReflectiveOperationException {
        List<Tensor> out = new ArrayList<>();
        if (result instanceof Tensor t) {
            out.add(t);
        } else if (result instanceof Record rec) {
            for (RecordComponent c : rec.getClass().getRecordComponents()) {
                if (c.getAccessor().invoke(rec) instanceof Tensor t) {
                    out.add(t);
                }
            }
        }
        return out;
    }

    static void assertSameTensor(Tensor want, Tensor got, String what) {
        assertEquals(want.dtype(), got.dtype(), what);
        assertArrayEquals(want.shape(), got.shape(), what);
        switch (want.dtype()) {
            case FLOAT32 -> {
                float[] a = want.toFloatArray();
                float[] b = got.toFloatArray();
                float scale = 1;
                for (float v : a) {
                    scale = Float.isFinite(v) ? Math.max(scale, Math.abs(v)) : scale;
                }
                for (int i = 0; i < a.length; i++) {
                    if (Float.isNaN(a[i]) || Float.isNaN(b[i])) {
                        assertEquals(Float.isNaN(a[i]), Float.isNaN(b[i]), what + " NaN at " + i);
                    } else {
                        assertEquals(a[i], b[i], 2e-3f * scale, what + " element " + i);
                    }
                }
            }
            case INT32 -> assertArrayEquals(want.toIntArray(), got.toIntArray(), what);
            case INT8, UINT8 -> assertArrayEquals(want.toByteArray(), got.toByteArray(), what);
        }
    }

    private static void closeAll(Tensor[] ts) {
        for (Tensor t : ts) {
            if (t != null && !t.isClosed()) {
                t.close();
            }
        }
    }

    @Test
    void everyOpWithBrokenArgumentsIsRefusedOrComputesTheReference() {
        float[] canaryValues = {1.5f, -2.5f, 3.25f, -4f, 0f, 6.125f, -7f, 8f};
        Tensor canary = CPU.fromFloats(canaryValues, 2, 4);
        java.util.Set<String> opsSeen = new java.util.TreeSet<>();
        java.util.Set<String> opsAndLevelsSeen = new java.util.TreeSet<>();
        int[] levels = CpuBackend.availableIsaLevels();
        Fuzz.Report report = Fuzz.run("jni-boundary", 6000, in -> {
            Call call = generate(in.random);
            in.note(call.op());
            int perturbations = in.chance(0.25) ? 0 : in.chance(0.8) ? 1 : 2;
            for (int k = 0; k < perturbations; k++) {
                in.note(perturb(call, in.random));
            }
            in.note(call.args() + " params " + Arrays.toString(call.params()));
            opsSeen.add(call.op());
            long seed = in.random.nextLong();
            // every ISA level of the cpu backend gets its share of the calls (the op list x the levels)
            Backend cpu = CpuBackend.forIsa(levels[in.random.nextInt(levels.length)]);
            in.note("cpu ISA " + ((CpuBackend) cpu).isaName());
            opsAndLevelsSeen.add(call.op() + "@" + ((CpuBackend) cpu).isaName());
            if (call.op().equals("adaptiveAvgPool2dBackward") && hugeButValid(call.params())) {
                // dx of a 1x1 dy for an input of, say, [1, 1, 1, 2^30]: a legitimate request for a 4 GB tensor
                // (an OutOfMemoryError on the test heap), not a malformed call
                return "huge output, not run";
            }
            Tensor[] onCpu;
            Tensor[] onRef;
            try {
                onCpu = materialize(call, cpu, REF, seed);
                onRef = materialize(call, REF, cpu, seed);
            } catch (IllegalArgumentException e) {
                return "bad tensor"; // the factories refused the perturbed shape itself (e.g. a negative dim)
            }
            Object got;
            Object want;
            Throwable cpuError = null;
            Throwable refError = null;
            try {
                got = call.fn().call(cpu, onCpu, call.params().clone());
            } catch (IllegalArgumentException | IllegalStateException e) {
                got = null;
                cpuError = e;
            }
            try {
                want = call.fn().call(REF, onRef, call.params().clone());
            } catch (IllegalArgumentException | IllegalStateException e) {
                want = null;
                refError = e;
            }
            try {
                if (cpuError != null || refError != null) {
                    assertTrue(cpuError != null && refError != null && cpuError.getClass() == refError.getClass()
                        && cpuError.getMessage() != null && !cpuError.getMessage().isBlank(),
                        () -> "cpu and ref disagree: cpu " + cpuErrorOf(call, onCpu) + ", ref " + cpuErrorOf(call, onRef));
                    return cpuError.getClass().getSimpleName();
                }
                List<Tensor> g = tensors(got);
                List<Tensor> w = tensors(want);
                assertEquals(w.size(), g.size());
                // A NaN input of a convolution: the reference skips padded taps where im2col multiplies 0 by NaN,
                // so only shapes and dtypes are compared (every other op must agree on NaN too).
                boolean nanConv = call.op().contains("onv") && call.args().stream().anyMatch(x -> x.badIndex >= 0
                    && x.dtype == DType.FLOAT32);
                for (int i = 0; i < w.size(); i++) {
                    if (nanConv) {
                        assertEquals(w.get(i).dtype(), g.get(i).dtype());
                        assertArrayEquals(w.get(i).shape(), g.get(i).shape());
                    } else {
                        assertSameTensor(w.get(i), g.get(i), call.op() + " result " + i);
                    }
                }
                for (int i = 0; i < onCpu.length; i++) { // in-place updates (running stats, SGD) agree too
                    if (onCpu[i] != null && !onCpu[i].isClosed() && onCpu[i].backend() == cpu) {
                        assertSameTensor(onRef[i], onCpu[i], call.op() + " input " + call.args().get(i).name);
                    }
                }
                for (Tensor t : g) {
                    t.close();
                }
                for (Tensor t : w) {
                    t.close();
                }
                return "computed";
            } finally {
                closeAll(onCpu);
                closeAll(onRef);
            }
        });
        assertArrayEquals(canaryValues, canary.toFloatArray(), "a tensor allocated before the calls changed");
        canary.close();
        assertEquals(Op.values().length, opsSeen.size(), "every op of Op was called: " + opsSeen);
        assertEquals(Op.values().length * levels.length, opsAndLevelsSeen.size(),
            "every op was called on every ISA level: " + opsAndLevelsSeen);
        assertTrue(report.count("computed") > 0 && report.count("IllegalArgumentException") > 0
            && report.count("IllegalStateException") > 0, report.toString());
    }

    /**
     * Regression (found by the fuzzer above): one NaN weight made the native DoReFa weight quantizer ignore it in
     * max|tanh(w)| and quantize the other weights normally, where the reference (Java's Math.max, torch's amax)
     * makes every weight NaN; its backward likewise kept finite gradients for the other weights. Checked below and above the size where the native max runs in parallel, with the
     * NaN at the start, in the middle and at the end, for the weight quantizer and the fused conv's integer path.
     */
    @Test
    void aNaNWeightPoisonsTheWholeWeightQuantizationOnBothBackends() {
        for (int len : new int[] {8, 40_000}) {
            for (int at : new int[] {0, len / 2, len - 1}) {
                float[] v = new float[len];
                for (int i = 0; i < len; i++) {
                    v[i] = (float) Math.sin(0.37 * i);
                }
                v[at] = Float.NaN;
                for (int bits : new int[] {1, 2, 4, 8}) {
                    try (Tensor r = REF.fromFloats(v, len); Tensor c = CPU.fromFloats(v, len);
                         Tensor rq = REF.weightQuant(r, bits); Tensor cq = CPU.weightQuant(c, bits)) {
                        float[] got = cq.toFloatArray();
                        for (int i = 0; bits != 2 && i < len; i++) { // 2 bits is sign(w_n): NaN gives -1
                            assertTrue(Float.isNaN(got[i]), "len " + len + ", NaN at " + at + ", " + bits
                                + " bits: element " + i + " = " + got[i]);
                        }
                        assertSameTensor(rq, cq, "weightQuant");
                    }
                    float[] g = new float[len];
                    Arrays.fill(g, 0.25f);
                    try (Tensor r = REF.fromFloats(v, len); Tensor c = CPU.fromFloats(v, len);
                         Tensor rg = REF.fromFloats(g, len); Tensor cg = CPU.fromFloats(g, len);
                         Tensor rd = REF.weightQuantBackward(rg, r, bits); Tensor cd = CPU.weightQuantBackward(cg, c, bits)) {
                        assertSameTensor(rd, cd, "weightQuantBackward");
                        assertTrue(Float.isNaN(cd.toFloatArray()[len - 1 - at / 2]), "gradient not NaN");
                    }
                }
            }
        }
    }

    /** All sizes positive and their product over 2^22 elements. */
    private static boolean hugeButValid(int[] shape) {
        long n = 1;
        for (int d : shape) {
            if (d <= 0) {
                return false;
            }
            n *= d;
        }
        return n > (1 << 22);
    }

    /** Calls again to describe what the backend said (for a failure message only). */
    private static String cpuErrorOf(Call call, Tensor[] t) {
        try {
            Object o = call.fn().call(t[0] == null ? CPU : t[0].backend(), t, call.params().clone());
            return "no error (" + o + ")";
        } catch (RuntimeException e) {
            return e.toString();
        }
    }
}
