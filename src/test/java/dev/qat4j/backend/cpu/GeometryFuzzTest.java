package dev.qat4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.ConvParams;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.fuzz.Fuzz;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Random geometries for every op that takes one: float conv (forward, backward data, backward weight), the int8 conv,
 * the grid conv (conv2d of an actQuant and a weightQuant result), average pooling and adaptive pooling with their
 * backwards. Most draws are small; the rest push one axis to an extreme: paddings up to 2^31-1, kernels as tall as the
 * padded input, strides up to 2^31-1, groups that do or do not divide, outputs past 2^31 elements. Each call runs on the
 * cpu backend (at a random ISA level) and on the reference, under an 8 MiB native work-buffer limit, and must end one
 * of three ways:
 * <ul>
 *   <li>both compute: integer results identical, float results within the worst-case bound of a K-term float sum in
 *       another order ({@code K * 2^-23 * sum|terms|}, the sum of |terms| being the same op on |inputs|);</li>
 *   <li>both refuse with the same exception type and message (the shared checks of {@link Backend});</li>
 *   <li>the cpu backend throws its OutOfMemoryError naming the op (a work buffer over the limit) where the reference,
 *       which needs none, computes.</li>
 * </ul>
 * Geometries whose reference run would be slow (more than 2^24 multiply-adds, or outputs of 2^20..2^31 elements) are
 * drawn again. Default 1,500 calls inside {@code mvn verify}; the long run:
 * {@code mvn -B test -Dtest=GeometryFuzzTest -Dqat4j.fuzz.scale=70} (105,000 calls).
 */
class GeometryFuzzTest {
    private static final Backend REF = RefBackend.INSTANCE;
    private static final long WORK_LIMIT = 8L << 20; // low enough that some draws meet it
    private static final long MAX_REF_MACS = 1L << 24;
    private static final long MAX_COMPUTED_OUTPUT = 1L << 20;
    private static final int[] LEVELS = CpuBackend.availableIsaLevels();

    private long savedLimit;

    @BeforeEach
    void capWorkBuffers() {
        savedLimit = NativeKernels.qat4j_set_work_buffer_limit(WORK_LIMIT);
    }

    @AfterEach
    void restore() {
        NativeKernels.qat4j_set_work_buffer_limit(savedLimit);
    }

    enum Kind { CONV, CONV_BACKWARD_DATA, CONV_BACKWARD_WEIGHT, CONV_INT, GRID_CONV, AVG_POOL, AVG_POOL_BACKWARD,
        ADAPTIVE_POOL, ADAPTIVE_POOL_BACKWARD }

    /** One axis of a conv or pool: input size, kernel, stride, pad. */
    record Axis(int in, int kernel, int stride, int pad) {
        long out() {
            return ((long) in + 2L * pad - kernel) / stride + 1;
        }
    }

    /** A small axis, or (sometimes) one extreme: huge padding with a kernel as tall as the padded input, huge stride. */
    private static Axis axis(Fuzz.Input in, boolean extreme, int maxKernel) {
        SplittableRandom r = in.random;
        int size = 1 + r.nextInt(12), kernel = 1 + r.nextInt(Math.min(5, maxKernel)), stride = 1 + r.nextInt(4);
        int pad = r.nextInt(4);
        if (!extreme) {
            return new Axis(size, kernel, stride, pad);
        }
        switch (r.nextInt(6)) {
            case 0 -> { // padding from 2^10 to 2^31-1 with a kernel filling nearly all of the padded input
                pad = r.nextInt(3) == 0 ? Integer.MAX_VALUE - r.nextInt(4) : 1 << (10 + r.nextInt(21));
                long padded = size + 2L * pad;
                kernel = (int) Math.max(1, Math.min(Integer.MAX_VALUE, padded - r.nextInt(3)));
            }
            case 1 -> stride = r.nextInt(2) == 0 ? Integer.MAX_VALUE : 1 << (16 + r.nextInt(15));
            case 2 -> pad = 1 << (8 + r.nextInt(23)); // huge padding, small kernel: a huge (often refused) output
            case 3 -> { // a long input axis
                size = 1 << (10 + r.nextInt(8));
                kernel = 1 + r.nextInt(Math.min(size, maxKernel));
            }
            case 4 -> kernel = size + 2 * pad + 1 + r.nextInt(3); // larger than the padded input
            default -> { // degenerate: kernel 1, pad 0, stride past the input
                kernel = 1;
                pad = 0;
                stride = size + r.nextInt(5);
            }
        }
        return new Axis(size, kernel, stride, pad);
    }

    @Test
    void everyGeometryMatchesTheReferenceOrIsRefusedAlike() {
        Fuzz.Report report = Fuzz.run("geometry", 1500, in -> {
            Kind kind = Kind.values()[in.random.nextInt(Kind.values().length)];
            CpuBackend cpu = CpuBackend.forIsa(LEVELS[in.random.nextInt(LEVELS.length)]);
            in.note(kind + " at " + cpu.isaName());
            return switch (kind) {
                case CONV, CONV_BACKWARD_DATA, CONV_BACKWARD_WEIGHT, CONV_INT, GRID_CONV -> conv(in, kind, cpu);
                case AVG_POOL, AVG_POOL_BACKWARD -> pool(in, kind, cpu);
                case ADAPTIVE_POOL, ADAPTIVE_POOL_BACKWARD -> adaptive(in, kind, cpu);
            };
        });
        assertTrue(report.count("computed") > report.inputs() / 3, "most draws compute: " + report);
        assertTrue(report.count("refused alike") > 0, "some draws are refused: " + report);
    }

    // ---------------------------------------------------------------- convolutions

    private String conv(Fuzz.Input in, Kind kind, CpuBackend cpu) {
        SplittableRandom r = in.random;
        for (int attempt = 0; ; attempt++) {
            boolean extreme = r.nextInt(3) == 0;
            int groups = switch (r.nextInt(6)) {
                case 0 -> 2;
                case 1 -> 3;
                default -> 1;
            };
            int cin = groups * (1 + r.nextInt(3)), cout = groups * (1 + r.nextInt(3));
            if (extreme && r.nextInt(4) == 0) {
                cout += 1; // groups no longer divide C_out: refused
            }
            boolean extremeH = extreme && r.nextBoolean();
            Axis h = axis(in, extremeH, 1 << 20), w = axis(in, extreme && !extremeH, 1 << 20);
            int n = 1 + r.nextInt(2);
            long xNumel = (long) n * cin * h.in() * w.in();
            long wNumel = (long) cout * (cin / groups) * h.kernel() * w.kernel();
            long outNumel = h.out() < 1 || w.out() < 1 ? 0 : (long) n * cout * h.out() * w.out();
            long macs = outNumel * (cin / groups) * h.kernel() * w.kernel();
            boolean refusedCheaply = outNumel > Integer.MAX_VALUE || h.out() < 1 || w.out() < 1
                    || h.in() + 2L * h.pad() > Integer.MAX_VALUE || w.in() + 2L * w.pad() > Integer.MAX_VALUE;
            boolean small = xNumel <= 1 << 20 && wNumel <= 1 << 22 && (refusedCheaply
                    || (outNumel <= MAX_COMPUTED_OUTPUT && macs <= MAX_REF_MACS));
            if (!small && attempt < 50) {
                continue;
            }
            if (!small) {
                return "skipped";
            }
            ConvParams p = new ConvParams(h.stride(), w.stride(), h.pad(), w.pad(), groups);
            final int co = cout;
            int[] xs = {n, cin, h.in(), w.in()}, ws = {cout, cin / groups, h.kernel(), w.kernel()};
            in.note("x " + java.util.Arrays.toString(xs) + " w " + java.util.Arrays.toString(ws) + " " + p);
            float[] xv = values(r, (int) xNumel), wv = values(r, (int) wNumel);
            int oh = (int) Math.max(0, Math.min(Integer.MAX_VALUE, h.out()));
            int ow = (int) Math.max(0, Math.min(Integer.MAX_VALUE, w.out()));
            int[] ys = {n, cout, oh, ow};
            float[] dyv = refusedCheaply ? new float[0] : values(r, (int) outNumel);
            long terms = (long) (cin / groups) * h.kernel() * w.kernel();
            return switch (kind) {
                case CONV -> compare(in, "conv2d", cpu, b -> {
                    Tensor x = b.fromFloats(xv, xs), wt = b.fromFloats(wv, ws);
                    return closing(b.conv2d(x, wt, null, p), x, wt);
                }, terms, absSum(b -> {
                    Tensor x = b.fromFloats(abs(xv), xs), wt = b.fromFloats(abs(wv), ws);
                    return closing(b.conv2d(x, wt, null, p), x, wt);
                }));
                case CONV_BACKWARD_DATA -> refusedCheaply ? refusedAlike(in, cpu, b -> {
                    Tensor dy = b.zeros(DType.FLOAT32, 1, co, 1, 1), wt = b.fromFloats(wv, ws);
                    return closing(b.conv2dBackwardData(dy, wt, xs, p), dy, wt);
                }) : compare(in, "conv2dBackwardData", cpu, b -> {
                    Tensor dy = b.fromFloats(dyv, ys), wt = b.fromFloats(wv, ws);
                    return closing(b.conv2dBackwardData(dy, wt, xs, p), dy, wt);
                }, (long) (cout / groups) * h.kernel() * w.kernel(), absSum(b -> {
                    Tensor dy = b.fromFloats(abs(dyv), ys), wt = b.fromFloats(abs(wv), ws);
                    return closing(b.conv2dBackwardData(dy, wt, xs, p), dy, wt);
                }));
                case CONV_BACKWARD_WEIGHT -> refusedCheaply ? refusedAlike(in, cpu, b -> {
                    Tensor dy = b.zeros(DType.FLOAT32, 1, co, 1, 1), x = b.fromFloats(xv, xs);
                    return closing(b.conv2dBackwardWeight(dy, x, ws, p), dy, x);
                }) : compare(in, "conv2dBackwardWeight", cpu, b -> {
                    Tensor dy = b.fromFloats(dyv, ys), x = b.fromFloats(xv, xs);
                    return closing(b.conv2dBackwardWeight(dy, x, ws, p), dy, x);
                }, (long) n * oh * ow, absSum(b -> {
                    Tensor dy = b.fromFloats(abs(dyv), ys), x = b.fromFloats(abs(xv), xs);
                    return closing(b.conv2dBackwardWeight(dy, x, ws, p), dy, x);
                }));
                case CONV_INT -> {
                    byte[] xb = bytes(r, (int) xNumel), wb = bytes(r, (int) wNumel);
                    DType xType = r.nextBoolean() ? DType.UINT8 : DType.INT8;
                    yield compare(in, "conv2dInt", cpu, b -> {
                        Tensor x = b.fromBytes(xb, xType, xs), wt = b.fromBytes(wb, DType.INT8, ws);
                        return closing(b.conv2dInt(x, wt, p), x, wt);
                    }, terms, null);
                }
                case GRID_CONV -> {
                    int xBits = 2 + r.nextInt(7), wBits = 2 + r.nextInt(7);
                    float alpha = (float) (0.25 + 4 * r.nextDouble());
                    in.note("actQuant pact(" + xBits + ") alpha " + alpha + ", weightQuant(" + wBits + ")");
                    yield compare(in, "conv2d", cpu, b -> {
                        Tensor a = b.fromFloats(new float[] {alpha}, 1);
                        Tensor x0 = b.fromFloats(xv, xs), w0 = b.fromFloats(wv, ws);
                        Tensor x = b.actQuant(x0, ActQuantizer.pact(xBits), a), wt = b.weightQuant(w0, wBits);
                        return closing(b.conv2d(x, wt, null, p), a, x0, w0, x, wt);
                    }, terms, absSum(b -> {
                        Tensor a = b.fromFloats(new float[] {alpha}, 1);
                        Tensor x0 = b.fromFloats(xv, xs), w0 = b.fromFloats(wv, ws);
                        Tensor xq = b.actQuant(x0, ActQuantizer.pact(xBits), a), wq = b.weightQuant(w0, wBits);
                        Tensor x = b.fromFloats(abs(xq.toFloatArray()), xs), wt = b.fromFloats(abs(wq.toFloatArray()), ws);
                        return closing(b.conv2d(x, wt, null, p), a, x0, w0, xq, wq, x, wt);
                    }));
                }
                default -> throw new IllegalStateException(kind.toString());
            };
        }
    }

    // ---------------------------------------------------------------- pooling

    private String pool(Fuzz.Input in, Kind kind, CpuBackend cpu) {
        SplittableRandom r = in.random;
        for (int attempt = 0; ; attempt++) {
            boolean extreme = r.nextInt(3) == 0;
            int n = 1 + r.nextInt(2), c = 1 + r.nextInt(3);
            int h = 1 + r.nextInt(12), w = 1 + r.nextInt(12), k = 1 + r.nextInt(5), stride = 1 + r.nextInt(4);
            int pad = r.nextInt(k / 2 + 1);
            if (extreme) {
                switch (r.nextInt(5)) {
                    case 0 -> { // a window past 46341 (k*k overflows an int) over a tiny input
                        k = 46341 + r.nextInt(1 << 16);
                        pad = k / 2;
                        h = 1 + r.nextInt(2);
                        w = 1 + r.nextInt(2);
                    }
                    case 1 -> stride = r.nextBoolean() ? Integer.MAX_VALUE : 1 << (10 + r.nextInt(21));
                    case 2 -> pad = k / 2 + 1 + r.nextInt(3); // pad past k/2: refused
                    case 3 -> { // the padded input past 2^31-1: refused
                        k = Integer.MAX_VALUE - r.nextInt(3);
                        pad = k / 2;
                        h = 2 + r.nextInt(3);
                    }
                    default -> k = h + 2 * pad + 1 + r.nextInt(3); // larger than the padded input: refused
                }
            }
            boolean valid = pad >= 0 && 2L * pad <= k && h + 2L * pad >= k && w + 2L * pad >= k
                    && h + 2L * pad <= Integer.MAX_VALUE && w + 2L * pad <= Integer.MAX_VALUE;
            long oh = (h + 2L * pad - k) / stride + 1, ow = (w + 2L * pad - k) / stride + 1;
            long rows = Math.min(k, h), macs = valid ? oh * ow * rows * k * n * c : 0; // refused before any work
            if (macs > MAX_REF_MACS && attempt < 50) {
                continue;
            }
            if (macs > MAX_REF_MACS) {
                return "skipped";
            }
            int[] xs = {n, c, h, w};
            final int kk = k, st = stride, pd = pad;
            in.note("x " + java.util.Arrays.toString(xs) + " k " + k + " stride " + stride + " pad " + pad);
            float[] xv = values(r, n * c * h * w);
            if (kind == Kind.AVG_POOL) {
                return compare(in, "avgPool2d", cpu, b -> {
                    Tensor x = b.fromFloats(xv, xs);
                    return closing(b.avgPool2d(x, kk, st, pd), x);
                }, (long) k * k, absSum(b -> {
                    Tensor x = b.fromFloats(abs(xv), xs);
                    return closing(b.avgPool2d(x, kk, st, pd), x);
                }));
            }
            if (!valid) {
                return refusedAlike(in, cpu, b -> {
                    Tensor dy = b.zeros(DType.FLOAT32, n, c, 1, 1);
                    return closing(b.avgPool2dBackward(dy, xs, kk, st, pd), dy);
                });
            }
            int[] ys = {n, c, (int) oh, (int) ow};
            float[] dyv = values(r, (int) (n * c * oh * ow));
            return compare(in, "avgPool2dBackward", cpu, b -> {
                Tensor dy = b.fromFloats(dyv, ys);
                return closing(b.avgPool2dBackward(dy, xs, kk, st, pd), dy);
            }, (long) k * k, absSum(b -> {
                Tensor dy = b.fromFloats(abs(dyv), ys);
                return closing(b.avgPool2dBackward(dy, xs, kk, st, pd), dy);
            }));
        }
    }

    private String adaptive(Fuzz.Input in, Kind kind, CpuBackend cpu) {
        SplittableRandom r = in.random;
        int n = 1 + r.nextInt(2), c = 1 + r.nextInt(3), h = 1 + r.nextInt(16), w = 1 + r.nextInt(16);
        if (r.nextInt(4) == 0) {
            h = 1 << (8 + r.nextInt(4));
        }
        int oh = switch (r.nextInt(8)) {
            case 0 -> 0;
            case 1 -> h + 1 + r.nextInt(3);
            case 2 -> Integer.MAX_VALUE;
            default -> 1 + r.nextInt(h);
        };
        int ow = 1 + r.nextInt(w);
        int[] xs = {n, c, h, w};
        in.note("x " + java.util.Arrays.toString(xs) + " out " + oh + "x" + ow);
        float[] xv = values(r, n * c * h * w);
        final int outH = oh;
        long terms = (long) (h / Math.max(1, Math.min(oh, h)) + 2) * (w / ow + 2);
        if (kind == Kind.ADAPTIVE_POOL) {
            return compare(in, "adaptiveAvgPool2d", cpu, b -> {
                Tensor x = b.fromFloats(xv, xs);
                return closing(b.adaptiveAvgPool2d(x, outH, ow), x);
            }, terms, absSum(b -> {
                Tensor x = b.fromFloats(abs(xv), xs);
                return closing(b.adaptiveAvgPool2d(x, outH, ow), x);
            }));
        }
        if (oh < 1 || oh > h) {
            return refusedAlike(in, cpu, b -> {
                Tensor dy = b.zeros(DType.FLOAT32, n, c, Math.min(outH, xs[2] + 3), ow); // 0 rows, or more than x has
                return closing(b.adaptiveAvgPool2dBackward(dy, xs), dy);
            });
        }
        float[] dyv = values(r, n * c * oh * ow);
        return compare(in, "adaptiveAvgPool2dBackward", cpu, b -> {
            Tensor dy = b.fromFloats(dyv, n, c, outH, ow);
            return closing(b.adaptiveAvgPool2dBackward(dy, xs), dy);
        }, terms, absSum(b -> {
            Tensor dy = b.fromFloats(abs(dyv), n, c, outH, ow);
            return closing(b.adaptiveAvgPool2dBackward(dy, xs), dy);
        }));
    }

    // ---------------------------------------------------------------- outcomes

    /** Closes {@code inputs} and returns {@code result} (the op's inputs are made per backend inside the call). */
    private static Tensor closing(Tensor result, Tensor... inputs) {
        for (Tensor t : inputs) {
            t.close();
        }
        return result;
    }

    /** What one backend did: its result, or the exception it threw. */
    private record Outcome(Tensor result, Throwable error) {
        static Outcome of(Backend b, Function<Backend, Tensor> call) {
            try {
                return new Outcome(call.apply(b), null);
            } catch (IllegalArgumentException | IllegalStateException | OutOfMemoryError e) {
                return new Outcome(null, e);
            }
        }
    }

    /** The outcome of {@code call} on {@code b}, its time noted (the fuzz report names its slowest input). */
    private static Outcome timed(Fuzz.Input in, String side, Backend b, Function<Backend, Tensor> call) {
        long t0 = System.nanoTime();
        Outcome o = Outcome.of(b, call);
        in.note(String.format(java.util.Locale.ROOT, "%s %.1f ms", side, (System.nanoTime() - t0) / 1e6));
        return o;
    }

    private static String refusedAlike(Fuzz.Input in, CpuBackend cpu, Function<Backend, Tensor> call) {
        Outcome ref = timed(in, "ref", REF, call), got = timed(in, "cpu", cpu, call);
        try {
            assertTrue(ref.error() != null, "the reference refuses this geometry");
            assertTrue(got.error() != null, "cpu refuses it too, not computes: " + ref.error());
            assertEquals(ref.error().getClass(), got.error().getClass(), "cpu: " + got.error() + ", ref: " + ref.error());
            assertEquals(ref.error().getMessage(), got.error().getMessage());
            return "refused alike";
        } finally {
            close(ref, got);
        }
    }

    /**
     * Runs {@code call} on the reference and on cpu and checks the three allowed endings; {@code terms} is the number
     * of products summed into one output (the float tolerance's K), {@code floats} false for integer results.
     */
    private static String compare(Fuzz.Input in, String op, CpuBackend cpu, Function<Backend, Tensor> call, long terms,
                                  Supplier<float[]> absSum) {
        Outcome ref = timed(in, "ref", REF, call), got = timed(in, "cpu", cpu, call);
        try {
            if (ref.error() != null) {
                assertTrue(got.error() != null, op + ": the reference refused (" + ref.error() + ") but cpu computed");
                assertEquals(ref.error().getClass(), got.error().getClass(), "cpu: " + got.error() + ", ref: " + ref.error());
                assertEquals(ref.error().getMessage(), got.error().getMessage());
                return "refused alike";
            }
            if (got.error() instanceof OutOfMemoryError e) {
                assertTrue(e.getMessage().contains(op), "the cpu's OutOfMemoryError names " + op + ": " + e.getMessage());
                return "cpu out of work memory";
            }
            if (got.error() != null) {
                throw new AssertionError(op + ": cpu refused (" + got.error() + ") what the reference computed",
                        got.error());
            }
            assertEquals(java.util.Arrays.toString(ref.result().shape()), java.util.Arrays.toString(got.result().shape()));
            if (absSum == null) {
                assertTrue(java.util.Arrays.equals(ref.result().toIntArray(), got.result().toIntArray()),
                        op + ": int32 results differ");
                return "computed";
            }
            float[] want = ref.result().toFloatArray(), have = got.result().toFloatArray();
            float[] bound = null;
            for (int i = 0; i < want.length; i++) {
                if (want[i] == have[i] || Float.isNaN(want[i]) && Float.isNaN(have[i])) {
                    continue;
                }
                if (bound == null) {
                    bound = absSum.get();
                }
                // gamma_K: a K-term float sum in any order is within (K + 2) u sum|terms| of the exact one (the
                // reference sums in double); +2 for the products' and a final division's rounding
                double tol = (Math.max(1, terms) + 2) * 0x1p-24 * bound[i] + Float.MIN_NORMAL;
                if (!(Math.abs(want[i] - have[i]) <= tol)) {
                    throw new AssertionError(op + ": element " + i + " is " + have[i] + " on cpu, " + want[i]
                            + " on the reference (tolerance " + tol + ")");
                }
            }
            return "computed";
        } finally {
            close(ref, got);
        }
    }

    /** The reference's result of {@code call} on the absolute values: the sum|terms| of each element. */
    private static Supplier<float[]> absSum(Function<Backend, Tensor> call) {
        return () -> {
            try (Tensor t = call.apply(REF)) {
                return t.toFloatArray();
            }
        };
    }

    private static float[] abs(float[] v) {
        float[] a = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            a[i] = Math.abs(v[i]);
        }
        return a;
    }

    private static void close(Outcome... outcomes) {
        for (Outcome o : outcomes) {
            if (o.result() != null) {
                o.result().close();
            }
        }
    }

    private static float[] values(SplittableRandom r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (r.nextDouble() * 4 - 2);
        }
        return v;
    }

    private static byte[] bytes(SplittableRandom r, int n) {
        byte[] b = new byte[n];
        r.nextBytes(b);
        return b;
    }
}
