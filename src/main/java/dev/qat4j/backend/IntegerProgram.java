package dev.qat4j.backend;

import dev.qat4j.backend.ref.RefKernels;
import dev.qat4j.quant.Rounding;
import dev.qat4j.tensor.DType;
import java.util.Arrays;
import java.util.List;

/**
 * A whole integer forward, described on plain arrays so that a backend can compile it into one call
 * ({@link Backend#compileIntegerProgram}): values per image (value 0 the input codes, value {@code i + 1} the output
 * of step {@code i}) and the steps between them. It needs no qat4j model class; {@code dev.qat4j.integer.IntegerModel}
 * builds one from its layers. The constructor checks everything a native run relies on (indices, shapes, the int32
 * and int64 headroom of every accumulation), so a compiled program cannot overflow or read out of bounds.
 *
 * @param values per-image values, value 0 the input (byte codes)
 * @param steps  in order; only the last may be a {@link Linear}
 */
public record IntegerProgram(List<Value> values, List<Step> steps) {

    /**
     * One per-image value: its element type (INT8, UINT8 or INT32), shape ([C, H, W] or [F]) and the proven range of
     * its integers. The output of a {@link Linear} step is int64 logits: its dtype and range are not used.
     */
    public record Value(DType dtype, int[] shape, long lo, long hi) {
        public long numel() {
            long n = 1;
            for (int d : shape) {
                n *= d;
            }
            return n;
        }

        long maxAbs() {
            return Math.max(Math.abs(lo), Math.abs(hi));
        }
    }

    /**
     * The requantization of a step: per output channel {@code clamp(round((acc * multiplier + residual *
     * residualMultiplier + bias) / 2^shift), qmin, qmax)}; {@code residual} is a value index or -1 (then
     * {@code residualMultiplier} is null).
     */
    public record Epilogue(int residual, int[] multiplier, int[] shift, long[] bias, int[] residualMultiplier,
                           Rounding rounding, int qmin, int qmax) {
    }

    /** A step reads value {@code input} and writes the next value. */
    public sealed interface Step permits Conv, Requant, SumPool, Linear {
        int input();
    }

    /** An int8 convolution (weights INT8 codes [Cout, Cin/groups, kH, kW], zero padding), then its epilogue. */
    public record Conv(int input, byte[] weights, int[] weightShape, int stride, int pad, int groups, Epilogue epilogue)
            implements Step {
    }

    /** The epilogue on the input itself (a BN or a rescale between two quantizers). */
    public record Requant(int input, Epilogue epilogue) implements Step {
    }

    /** Sums over {@code kernel}-square windows, stride {@code kernel} ({@code 0}: each whole channel); INT32 out. */
    public record SumPool(int input, int kernel) implements Step {
    }

    /** The last step: logits {@code (x . w) * 2^fracBits + bias} in int64, w [outputs, in] integer codes. */
    public record Linear(int input, int[] weights, int outputs, long[] bias, int fracBits) implements Step {
    }

    /** A program compiled by a backend: runs the whole forward in one call. Thread-safe; close it to free it. */
    public interface Compiled extends AutoCloseable {
        /**
         * The forward of {@code n} images' input codes ({@code n x} value 0's numel bytes, two's complement for
         * INT8): int64 [n x the last value's numel], the logits (or the last value).
         */
        long[] run(byte[] codes, int n);

        /**
         * Where the time goes: the same forward on the calling thread alone, image after image, returning each step's
         * total wall time in nanoseconds (the logits are discarded).
         */
        long[] stepNanos(byte[] codes, int n);

        @Override
        void close();
    }

    public IntegerProgram {
        values = List.copyOf(values);
        steps = List.copyOf(steps);
        check(values, steps);
    }

    /**
     * The reference semantics, in plain Java (the oracle the compiled programs are tested against, and what the ref
     * backend runs): {@code n} images' input codes ({@link Compiled#run}'s layout) to int64 [n x outputs per image].
     * Every sum is exact in 64 bits; the requantization is {@link dev.qat4j.quant.Requantizer}'s.
     */
    public long[] interpret(byte[] codes, int n) {
        Value first = values.get(0);
        if (codes == null || n < 1 || codes.length != (long) n * first.numel()) {
            throw new IllegalArgumentException("integer program: expected " + n + " x " + first.numel()
                    + " input codes, got " + (codes == null ? "null" : codes.length));
        }
        int[][] vals = new int[values.size()][];
        vals[0] = new int[codes.length];
        boolean signed = first.dtype() == DType.INT8;
        for (int i = 0; i < codes.length; i++) {
            vals[0][i] = signed ? codes[i] : codes[i] & 0xff;
            if (vals[0][i] < first.lo() || vals[0][i] > first.hi()) {
                throw new IllegalArgumentException("integer program: input code " + vals[0][i] + " at offset " + i
                        + " is outside [" + first.lo() + ", " + first.hi() + "]");
            }
        }
        for (int i = 0; i < steps.size(); i++) {
            Step s = steps.get(i);
            int[] x = vals[s.input()];
            int[] in = values.get(s.input()).shape();
            int[] out = values.get(i + 1).shape();
            if (s instanceof Linear l) {
                int k = (int) values.get(s.input()).numel();
                long[] logits = new long[n * l.outputs()];
                for (int b = 0; b < n; b++) {
                    for (int o = 0; o < l.outputs(); o++) {
                        long sum = 0;
                        for (int j = 0; j < k; j++) {
                            sum += (long) x[b * k + j] * l.weights()[o * k + j];
                        }
                        logits[b * l.outputs() + o] = (sum << l.fracBits()) + l.bias()[o];
                    }
                }
                return logits;
            }
            if (s instanceof SumPool p) {
                vals[i + 1] = sumPool(x, n, in, p.kernel());
                continue;
            }
            Epilogue e = s instanceof Conv c ? c.epilogue() : ((Requant) s).epilogue();
            // the reference int8 conv (int32 sums are exact: the constructor bounded K * 255 * 128)
            int[] acc = s instanceof Conv c ? RefKernels.conv2dInt(x, new int[] {n, in[0], in[1], in[2]},
                    widenBytes(c.weights()), c.weightShape(), ConvParams.of(c.stride(), c.pad(), c.groups())) : x;
            vals[i + 1] = dev.qat4j.quant.Requantizer.requantizeResidual(acc, out[0], out[1] * out[2],
                    e.multiplier(), e.shift(), e.bias(), e.residual() >= 0 ? vals[e.residual()] : null,
                    e.residualMultiplier(), e.rounding(), e.qmin(), e.qmax());
        }
        int[] last = vals[vals.length - 1];
        return widen(last);
    }

    private static long[] widen(int[] v) {
        long[] out = new long[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = v[i];
        }
        return out;
    }

    private static int[] widenBytes(byte[] v) {
        int[] out = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = v[i];
        }
        return out;
    }

    private static int[] sumPool(int[] x, int n, int[] in, int k) {
        int c = in[0], h = in[1], w = in[2];
        int kh = k == 0 ? h : k, kw = k == 0 ? w : k, oh = h / kh, ow = w / kw;
        int[] out = new int[n * c * oh * ow];
        for (int p = 0; p < n * c; p++) {
            for (int y = 0; y < oh; y++) {
                for (int xo = 0; xo < ow; xo++) {
                    long sum = 0;
                    for (int i = 0; i < kh; i++) {
                        for (int j = 0; j < kw; j++) {
                            sum += x[(p * h + y * kh + i) * w + xo * kw + j];
                        }
                    }
                    out[(p * oh + y) * ow + xo] = (int) sum; // the constructor bounds it in int32
                }
            }
        }
        return out;
    }

    /** Elements of the program's output per image. */
    public long outputsPerImage() {
        return values.get(values.size() - 1).numel();
    }

    private static IllegalArgumentException bad(int step, String what) {
        return new IllegalArgumentException("integer program: " + (step < 0 ? "" : "step " + step + ": ") + what);
    }

    private static void check(List<Value> values, List<Step> steps) {
        if (steps.isEmpty() || values.size() != steps.size() + 1) {
            throw bad(-1, "needs one value more than steps (value 0 is the input), got " + values.size()
                    + " values for " + steps.size() + " steps");
        }
        for (int v = 0; v < values.size(); v++) {
            Value val = values.get(v);
            if (val == null || val.dtype() == null || val.shape() == null || val.shape().length < 1
                    || val.dtype() == DType.FLOAT32 || val.lo() > val.hi()
                    || Arrays.stream(val.shape()).anyMatch(d -> d < 1) || val.numel() > Integer.MAX_VALUE) {
                throw bad(-1, "value " + v + " must be INT8, UINT8 or INT32 with a positive shape and lo <= hi");
            }
            boolean logits = v == values.size() - 1 && steps.get(steps.size() - 1) instanceof Linear;
            if (!logits && !fits(val.dtype(), val.lo(), val.hi())) {
                throw bad(-1, "value " + v + "'s range [" + val.lo() + ", " + val.hi() + "] does not fit "
                        + val.dtype());
            }
        }
        if (!values.get(0).dtype().isByte()) {
            throw bad(-1, "the input (value 0) must be INT8 or UINT8 codes, got " + values.get(0).dtype());
        }
        for (int i = 0; i < steps.size(); i++) {
            Step s = steps.get(i);
            if (s == null || s.input() < 0 || s.input() > i) {
                throw bad(i, "input must be an earlier value (0.." + i + ")");
            }
            Value in = values.get(s.input());
            Value out = values.get(i + 1);
            if (s instanceof Linear && i != steps.size() - 1) {
                throw bad(i, "a linear step must be the last");
            }
            if (s instanceof Conv c) {
                checkConv(i, c, in, out, values);
            } else if (s instanceof Requant r) {
                if (in.shape().length != 3 || !Arrays.equals(in.shape(), out.shape())) {
                    throw bad(i, "a requantization keeps its input's shape [C, H, W], got "
                            + Arrays.toString(in.shape()) + " -> " + Arrays.toString(out.shape()));
                }
                checkEpilogue(i, r.epilogue(), out, values);
            } else if (s instanceof SumPool p) {
                checkPool(i, p, in, out);
            } else {
                checkLinear(i, (Linear) s, in, out);
            }
        }
    }

    private static boolean fits(DType t, long lo, long hi) {
        return switch (t) {
            case INT8 -> lo >= -128 && hi <= 127;
            case UINT8 -> lo >= 0 && hi <= 255;
            case INT32 -> lo >= Integer.MIN_VALUE && hi <= Integer.MAX_VALUE;
            case FLOAT32 -> false;
        };
    }

    private static void checkConv(int i, Conv c, Value in, Value out, List<Value> values) {
        int[] ws = c.weightShape();
        if (!in.dtype().isByte() || in.shape().length != 3) {
            throw bad(i, "a conv's input must be INT8 or UINT8 [C, H, W], got " + in.dtype() + " "
                    + Arrays.toString(in.shape()));
        }
        if (ws == null || ws.length != 4 || c.weights() == null || Arrays.stream(ws).anyMatch(d -> d < 1)
                || c.weights().length != (long) ws[0] * ws[1] * ws[2] * ws[3]) {
            throw bad(i, "weights must be INT8 codes of a positive shape [Cout, Cin/groups, kH, kW]");
        }
        int ch = in.shape()[0], h = in.shape()[1], w = in.shape()[2];
        if (c.groups() < 1 || ch % c.groups() != 0 || ws[0] % c.groups() != 0 || ws[1] != ch / c.groups()
                || c.stride() < 1 || c.pad() < 0 || ws[2] > h + 2 * c.pad() || ws[3] > w + 2 * c.pad()) {
            throw bad(i, "weights " + Arrays.toString(ws) + " with stride " + c.stride() + ", pad " + c.pad()
                    + ", groups " + c.groups() + " do not fit input " + Arrays.toString(in.shape()));
        }
        int oh = (h + 2 * c.pad() - ws[2]) / c.stride() + 1, ow = (w + 2 * c.pad() - ws[3]) / c.stride() + 1;
        if (!Arrays.equals(out.shape(), new int[] {ws[0], oh, ow})) {
            throw bad(i, "the conv makes [" + ws[0] + ", " + oh + ", " + ow + "], but its output value is "
                    + Arrays.toString(out.shape()));
        }
        long k = (long) ws[1] * ws[2] * ws[3];
        if (k * 255L * 128L > Integer.MAX_VALUE) {
            throw bad(i, "reduction length " + k + " could overflow an int32 accumulator");
        }
        checkEpilogue(i, c.epilogue(), out, values);
    }

    private static void checkEpilogue(int i, Epilogue e, Value out, List<Value> values) {
        int co = out.shape()[0];
        if (e == null || e.multiplier() == null || e.shift() == null || e.bias() == null || e.rounding() == null
                || e.multiplier().length != co || e.shift().length != co || e.bias().length != co) {
            throw bad(i, "the epilogue needs a rounding and one multiplier, shift and bias per channel (" + co + ")");
        }
        DType resType = null;
        if (e.residual() >= 0) {
            if (e.residual() > i || !Arrays.equals(values.get(e.residual()).shape(), out.shape())
                    || e.residualMultiplier() == null || e.residualMultiplier().length != co) {
                throw bad(i, "the residual must be an earlier value of the output's shape "
                        + Arrays.toString(out.shape()) + ", with one multiplier per channel");
            }
            resType = values.get(e.residual()).dtype();
        } else if (e.residual() != -1 || e.residualMultiplier() != null) {
            throw bad(i, "no residual is -1 with no residual multipliers");
        }
        for (int s : e.shift()) {
            if (s < 0 || s > Rounding.MAX_SHIFT) {
                throw bad(i, "shift " + s + " is outside 0.." + Rounding.MAX_SHIFT);
            }
        }
        int ch = Backend.requantizeResidualOverflowChannel(e.multiplier(), e.bias(), e.residualMultiplier(), resType);
        if (ch >= 0) {
            throw bad(i, "channel " + ch + ": the requantization sum can reach 2^62 (int64 headroom)");
        }
        if (e.qmin() > e.qmax() || !fits(out.dtype(), e.qmin(), e.qmax()) || e.qmin() < out.lo()
                || e.qmax() > out.hi()) {
            throw bad(i, "the clamp [" + e.qmin() + ", " + e.qmax() + "] must lie in the output's range ["
                    + out.lo() + ", " + out.hi() + "] (" + out.dtype() + ")");
        }
    }

    private static void checkPool(int i, SumPool p, Value in, Value out) {
        int[] s = in.shape();
        int k = p.kernel();
        if (s.length != 3 || k < 0 || (k > 0 && (s[1] % k != 0 || s[2] % k != 0))) {
            throw bad(i, "a sum pool needs [C, H, W] and a window that tiles H and W, got "
                    + Arrays.toString(s) + " with window " + k);
        }
        int kh = k == 0 ? s[1] : k, kw = k == 0 ? s[2] : k;
        if (out.dtype() != DType.INT32 || !Arrays.equals(out.shape(), new int[] {s[0], s[1] / kh, s[2] / kw})) {
            throw bad(i, "a sum pool makes INT32 [" + s[0] + ", " + s[1] / kh + ", " + s[2] / kw + "], got "
                    + out.dtype() + " " + Arrays.toString(out.shape()));
        }
        if ((double) kh * kw * in.maxAbs() > Integer.MAX_VALUE || out.lo() > (long) kh * kw * Math.min(0, in.lo())
                || out.hi() < (long) kh * kw * Math.max(0, in.hi())) {
            throw bad(i, "window sums of [" + in.lo() + ", " + in.hi() + "] can leave the output's range");
        }
    }

    private static void checkLinear(int i, Linear l, Value in, Value out) {
        long n = in.numel();
        if (l.outputs() < 1 || l.weights() == null || l.weights().length != n * l.outputs() || l.bias() == null
                || l.bias().length != l.outputs() || l.fracBits() < 0 || l.fracBits() > 62
                || out.numel() != l.outputs()) {
            throw bad(i, "a linear step needs weights [" + l.outputs() + ", " + n + "], " + l.outputs()
                    + " biases, 0..62 fraction bits and an output of " + l.outputs() + " logits");
        }
        long wMax = 0;
        for (int w : l.weights()) {
            wMax = Math.max(wMax, Math.abs((long) w));
        }
        long bMax = 0;
        for (long b : l.bias()) {
            bMax = Math.max(bMax, b == Long.MIN_VALUE ? Long.MAX_VALUE : Math.abs(b));
        }
        double worst = Math.scalb((double) n * in.maxAbs() * wMax, l.fracBits()) + bMax;
        if (worst >= Math.scalb(1.0, 62)) {
            throw bad(i, "the logits can reach 2^62 (int64 headroom)");
        }
    }
}
