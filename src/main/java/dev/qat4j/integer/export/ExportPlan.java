package dev.qat4j.integer.export;

import dev.qat4j.integer.IntLayer;
import dev.qat4j.integer.IntValue;
import dev.qat4j.integer.IntegerModel;
import dev.qat4j.quant.Rounding;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * What both exporters write, checked once: every integer array of the model with its dtype and blob name, and per
 * layer whether int32 accumulators suffice. The checks make the exported arithmetic provably free of overflow (the
 * C golden model must have no undefined behaviour): intermediate values fit int32, every accumulator stays within
 * the model's {@code accBound} (recomputed from the weights), and every requantization sum fits int64, all in exact
 * integer arithmetic rather than the converter's double-precision headroom estimate.
 */
final class ExportPlan {

    /** One array of one layer: {@code role} is weights, multiplier, shift, bias or residual_multiplier. */
    record Array(int layer, String role, long[] data, int[] shape, IntDtype dtype, String file) {
        long byteLength() {
            return (long) data.length * dtype.bytes;
        }
    }

    /** Role and file stem of the pixel-to-code table. */
    static final String INPUT_CODE_TABLE = "input_code_table";

    final IntegerModel model;
    final List<Array> arrays;
    /**
     * An end-to-end model's pixel-to-code table {@code [C, 256]} ({@link IntegerModel#inputCodeTable()}; layer -1,
     * role {@code input_code_table}), null for a model with a float prefix.
     */
    final Array inputCodeTable;
    /** Per layer: whether the accumulator (the conv or dot-product sum, before requantization) fits int32. */
    final boolean[] int32Accumulator;

    private ExportPlan(IntegerModel model, List<Array> arrays, boolean[] int32Accumulator) {
        this.model = model;
        if (model.isEndToEnd()) {
            long[] table = widen(model.inputCodeTable());
            this.inputCodeTable = new Array(-1, INPUT_CODE_TABLE, table,
                    new int[] {model.inputSpec().channels(), 256}, IntDtype.narrowest(table), INPUT_CODE_TABLE + ".bin");
        } else {
            this.inputCodeTable = null;
        }
        this.arrays = Collections.unmodifiableList(arrays);
        this.int32Accumulator = int32Accumulator;
    }

    static ExportPlan of(IntegerModel m) {
        m.check(); // the load check again: the prefix (and its α) may have changed since the model was made
        List<IntValue> values = m.values();
        List<IntLayer> layers = m.layers();
        if (layers.isEmpty() || values.size() != layers.size() + 1) {
            throw new IllegalArgumentException("integer export: the model has " + layers.size() + " layers and "
                    + values.size() + " values (expected one value more than layers)");
        }
        // every value but LINEAR logits is held in int32 (the C model's buffers, the Java kernels' int[])
        for (int v = 0; v < values.size(); v++) {
            IntValue val = values.get(v);
            boolean logits = v > 0 && layers.get(v - 1).type() == IntLayer.Type.LINEAR;
            if (!logits && (val.lo() < Integer.MIN_VALUE || val.hi() > Integer.MAX_VALUE)) {
                throw new IllegalArgumentException("integer export: value " + v + " (" + val.name() + ") ranges over ["
                        + val.lo() + ", " + val.hi() + "], wider than int32");
            }
        }
        for (int i = 0; i < layers.size() - 1; i++) {
            if (layers.get(i).type() == IntLayer.Type.LINEAR) {
                throw layerError(layers.get(i), i, "is a LINEAR layer before the last one; its int64 logits end the model");
            }
        }
        String digits = "%0" + Math.max(2, String.valueOf(layers.size() - 1).length()) + "d";
        List<Array> arrays = new ArrayList<>();
        boolean[] int32 = new boolean[layers.size()];
        for (int i = 0; i < layers.size(); i++) {
            IntLayer l = layers.get(i);
            IntValue in = values.get(l.input());
            String prefix = "layer" + String.format(java.util.Locale.ROOT, digits, i) + "_";
            switch (l.type()) {
                case REQUANT -> {
                    int channels = values.get(i + 1).shape()[0];
                    long[] accBounds = l.hasConv() ? checkConv(l, in, values.get(i + 1), i)
                            : filled(channels, in.maxAbs());
                    if (!l.hasConv()) {
                        checkAccBound(l, i, in.maxAbs());
                        if (!java.util.Arrays.equals(in.shape(), values.get(i + 1).shape())) {
                            throw layerError(l, i, "requantizes a value of shape " + java.util.Arrays.toString(
                                    in.shape()) + " into " + java.util.Arrays.toString(values.get(i + 1).shape()));
                        }
                    }
                    if (l.hasResidual() && !java.util.Arrays.equals(values.get(l.residual()).shape(),
                            values.get(i + 1).shape())) {
                        throw layerError(l, i, "adds a residual of shape "
                                + java.util.Arrays.toString(values.get(l.residual()).shape()) + " to an output of "
                                + java.util.Arrays.toString(values.get(i + 1).shape()));
                    }
                    checkRequant(l, i, channels, accBounds, l.hasResidual() ? values.get(l.residual()) : null);
                    int32[i] = l.accBound() <= Integer.MAX_VALUE;
                    if (l.hasConv()) {
                        arrays.add(array(i, "weights", widen(l.weights()), l.weightShape(), prefix));
                    }
                    int[] perChannel = {channels};
                    arrays.add(array(i, "multiplier", widen(l.multiplier()), perChannel, prefix));
                    arrays.add(array(i, "shift", widen(l.shift()), perChannel, prefix));
                    arrays.add(array(i, "bias", l.bias().clone(), perChannel, prefix));
                    if (l.hasResidual()) {
                        arrays.add(array(i, "residual_multiplier", widen(l.residualMultiplier()), perChannel, prefix));
                    }
                }
                case SUM_POOL -> {
                    int[] s = in.shape();
                    int k = l.poolKernel();
                    if (s.length != 3 || k < 0 || (k > 0 && (s[1] % k != 0 || s[2] % k != 0))) {
                        throw layerError(l, i, "pools window " + k + " over a value of shape "
                                + java.util.Arrays.toString(s));
                    }
                    int32[i] = true; // the output value's range (checked above) bounds every window sum
                }
                case LINEAR -> {
                    int[] ws = l.weightShape();
                    if (ws == null || ws.length != 2 || ws[1] != in.numel() || l.weights().length != ws[0] * ws[1]
                            || l.bias().length != ws[0] || l.fracBits() < 0 || l.fracBits() > Rounding.MAX_SHIFT) {
                        throw layerError(l, i, "has a weight shape " + java.util.Arrays.toString(ws) + " for "
                                + in.numel() + " inputs, or a bad bias / fracBits " + l.fracBits());
                    }
                    long[] bounds = rowBounds(l.weights(), ws[0], ws[1], in.maxAbs());
                    for (int o = 0; o < ws[0]; o++) {
                        checkAccBound(l, i, bounds[o]);
                        try {
                            Math.addExact(Math.multiplyExact(bounds[o], 1L << l.fracBits()), Math.absExact(l.bias()[o]));
                        } catch (ArithmeticException e) {
                            throw layerError(l, i, "output " + o + " may overflow int64 (accumulator bound "
                                    + bounds[o] + " << " + l.fracBits() + " + bias " + l.bias()[o] + ")");
                        }
                    }
                    int32[i] = l.accBound() <= Integer.MAX_VALUE;
                    arrays.add(array(i, "weights", widen(l.weights()), ws, prefix));
                    arrays.add(array(i, "bias", l.bias().clone(), new int[] {ws[0]}, prefix));
                }
            }
        }
        return new ExportPlan(m, arrays, int32);
    }

    /** Arrays of one layer, in the order {@link #of} lists them. */
    List<Array> arraysOf(int layer) {
        return arrays.stream().filter(a -> a.layer() == layer).toList();
    }

    Array array(int layer, String role) {
        return arrays.stream().filter(a -> a.layer() == layer && a.role().equals(role)).findFirst().orElse(null);
    }

    // ---------------------------------------------------------------- checks

    /** Checks the conv geometry and returns each output channel's exact accumulator bound. */
    private static long[] checkConv(IntLayer l, IntValue in, IntValue out, int i) {
        int[] s = in.shape(), ws = l.weightShape(), os = out.shape();
        if (s.length != 3 || os.length != 3 || ws == null || ws.length != 4 || l.groups() < 1
                || s[0] % l.groups() != 0 || ws[0] % l.groups() != 0 || ws[1] != s[0] / l.groups()
                || l.stride() < 1 || l.pad() < 0 || l.weights().length != ws[0] * ws[1] * ws[2] * ws[3]
                || os[0] != ws[0] || os[1] != (s[1] + 2 * l.pad() - ws[2]) / l.stride() + 1
                || os[2] != (s[2] + 2 * l.pad() - ws[3]) / l.stride() + 1) {
            throw layerError(l, i, "has inconsistent conv geometry: input " + java.util.Arrays.toString(s)
                    + ", weights " + java.util.Arrays.toString(ws) + ", output " + java.util.Arrays.toString(os)
                    + ", stride " + l.stride() + ", pad " + l.pad() + ", groups " + l.groups());
        }
        long[] bounds = rowBounds(l.weights(), ws[0], ws[1] * ws[2] * ws[3], in.maxAbs());
        for (long b : bounds) {
            checkAccBound(l, i, b);
        }
        return bounds;
    }

    /** max |sum_k x_k w[o,k]| for |x| <= maxAbsIn, per row o: maxAbsIn * sum_k |w[o,k]| (exact). */
    private static long[] rowBounds(int[] w, int rows, int cols, long maxAbsIn) {
        long[] bounds = new long[rows];
        for (int o = 0; o < rows; o++) {
            long sum = 0;
            for (int k = 0; k < cols; k++) {
                sum += Math.abs((long) w[o * cols + k]);
            }
            bounds[o] = Math.multiplyExact(sum, maxAbsIn);
        }
        return bounds;
    }

    private static void checkAccBound(IntLayer l, int i, long exact) {
        if (exact > l.accBound()) {
            throw layerError(l, i, "reaches an accumulator of " + exact + ", above its stated bound " + l.accBound());
        }
    }

    private static void checkRequant(IntLayer l, int i, int channels, long[] accBounds, IntValue residual) {
        if (l.multiplier().length != channels || l.shift().length != channels || l.bias().length != channels
                || (residual != null && (l.residualMultiplier() == null || l.residualMultiplier().length != channels))
                || l.rounding() == null || l.qmin() > l.qmax() || l.qmin() < Integer.MIN_VALUE
                || l.qmax() > Integer.MAX_VALUE) {
            throw layerError(l, i, "has per-channel parameters that do not match its " + channels
                    + " channels, no rounding, or a clamp [" + l.qmin() + ", " + l.qmax() + "] outside int32");
        }
        for (int c = 0; c < channels; c++) {
            if (l.shift()[c] < 0 || l.shift()[c] > Rounding.MAX_SHIFT) {
                throw layerError(l, i, "channel " + c + " shifts by " + l.shift()[c] + ", outside 0.."
                        + Rounding.MAX_SHIFT);
            }
            try {
                long sum = Math.addExact(Math.multiplyExact(accBounds[c], Math.abs((long) l.multiplier()[c])),
                        Math.absExact(l.bias()[c]));
                if (residual != null) {
                    Math.addExact(sum, Math.multiplyExact(residual.maxAbs(), Math.abs((long) l.residualMultiplier()[c])));
                }
            } catch (ArithmeticException e) {
                throw layerError(l, i, "channel " + c + " may overflow int64 before its shift (accumulator bound "
                        + accBounds[c] + ", multiplier " + l.multiplier()[c] + ", bias " + l.bias()[c] + ")");
            }
        }
    }

    private static IllegalArgumentException layerError(IntLayer l, int i, String why) {
        return new IllegalArgumentException("integer export: layer " + i + " (" + l.name() + ") " + why);
    }

    // ---------------------------------------------------------------- helpers

    private static Array array(int layer, String role, long[] data, int[] shape, String prefix) {
        return new Array(layer, role, data, shape.clone(), IntDtype.narrowest(data), prefix + role + ".bin");
    }

    static long[] widen(int[] v) {
        long[] out = new long[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = v[i];
        }
        return out;
    }

    private static long[] filled(int n, long v) {
        long[] a = new long[n];
        java.util.Arrays.fill(a, v);
        return a;
    }
}
