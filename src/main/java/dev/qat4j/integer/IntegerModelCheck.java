package dev.qat4j.integer;

import dev.qat4j.nn.ActQuant;
import dev.qat4j.nn.Module;
import dev.qat4j.nn.QConv2d;
import dev.qat4j.nn.QLinear;
import dev.qat4j.quant.ActQuantizer;
import java.util.ArrayList;
import java.util.List;

/**
 * Structural and overflow checks of an integer graph, run on every model the converter makes, every file that is
 * loaded and every export: index ranges, array lengths against shapes (re-derived in 64 bits), shifts, clamps, and
 * the int64 headroom of every sum, so {@link IntegerModel#runIntegers} can never index out of bounds or overflow
 * silently; and the boundary quantizer, its α and the prefix's bit widths against the float prefix that makes the
 * codes, so an edited file cannot give other logits. Problems are IllegalArgumentExceptions naming the layer or field.
 */
final class IntegerModelCheck {
    private static final long SUM_LIMIT = 1L << 62;
    /**
     * Largest conv pad: with inputs of at most 2^24 per image, {@code h + 2 * pad - k} and every index the kernels
     * compute from it then fit an int, so {@link IntKernels} and the backends see the geometry checked here.
     */
    private static final int MAX_PAD = 1 << 24;

    private IntegerModelCheck() {
    }

    static void check(List<IntValue> values, List<IntLayer> layers, String where) {
        if (values.isEmpty() || layers.size() != values.size() - 1) {
            throw new IllegalArgumentException(where + ": " + values.size() + " values for " + layers.size()
                    + " layers (need one more value than layers)");
        }
        for (int i = 0; i < values.size(); i++) {
            IntValue v = values.get(i);
            if (v.shape() == null || v.shape().length == 0 || v.shape().length > 3 || v.lo() > v.hi()
                    || !(v.scale() >= 0) || Double.isInfinite(v.scale())) {
                throw new IllegalArgumentException(where + ": value " + i + " (" + v.name() + ") has a bad shape, "
                        + "range or scale");
            }
            long n = 1;
            for (int d : v.shape()) {
                if (d < 1) {
                    throw new IllegalArgumentException(where + ": value " + i + " has a dimension " + d);
                }
                n *= d;
                if (n > (1 << 24)) {
                    throw new IllegalArgumentException(where + ": value " + i + " is too large per image");
                }
            }
            boolean logits = i == values.size() - 1 && layers.get(layers.size() - 1).type() == IntLayer.Type.LINEAR;
            if (!logits && (v.lo() < Integer.MIN_VALUE || v.hi() > Integer.MAX_VALUE)) {
                throw new IllegalArgumentException(where + ": value " + i + " (" + v.name() + ") exceeds int32");
            }
        }
        for (int i = 0; i < layers.size(); i++) {
            layer(values, layers, i, where + ": layer " + i + " (" + layers.get(i).name() + ")");
        }
    }

    private static void layer(List<IntValue> values, List<IntLayer> layers, int i, String at) {
        IntLayer l = layers.get(i);
        if (l.type() == null || l.input() < 0 || l.input() > i || l.residual() < -1 || l.residual() > i) {
            throw new IllegalArgumentException(at + ": bad type or value index");
        }
        IntValue in = values.get(l.input()), out = values.get(i + 1);
        switch (l.type()) {
            case REQUANT -> requant(values, l, in, out, at);
            case SUM_POOL -> {
                int k = l.poolKernel();
                int[] s = in.shape(), o = out.shape();
                if (s.length != 3 || o.length != 3 || k < 0 || (k > 0 && (s[1] % k != 0 || s[2] % k != 0))) {
                    throw new IllegalArgumentException(at + ": pool window " + k + " does not tile the input");
                }
                int kh = k == 0 ? s[1] : k, kw = k == 0 ? s[2] : k;
                if (o[0] != s[0] || o[1] != s[1] / kh || o[2] != s[2] / kw || l.residual() != -1) {
                    throw new IllegalArgumentException(at + ": pool output shape does not match");
                }
                long w = (long) kh * kw;
                if (Math.multiplyHigh(in.maxAbs(), w) != 0 || in.lo() * w < out.lo() || in.hi() * w > out.hi()) {
                    throw new IllegalArgumentException(at + ": pool sums leave the declared range");
                }
            }
            case LINEAR -> {
                if (i != layers.size() - 1 || l.weights() == null || l.weightShape() == null
                        || l.weightShape().length != 2 || l.weightShape()[1] != in.numel()
                        || l.weights().length != (long) l.weightShape()[0] * l.weightShape()[1] || l.bias() == null
                        || l.bias().length != l.weightShape()[0] || out.numel() != l.weightShape()[0]
                        || l.fracBits() < 0 || l.fracBits() > 30 || l.residual() != -1) {
                    throw new IllegalArgumentException(at + ": a linear layer must come last with weights [out, "
                            + in.numel() + "] and one bias per output");
                }
                long acc = bound(at, (long) l.weightShape()[1], in.maxAbs(), maxAbs(l.weights(), l.weightBits(), at));
                long sum = Math.multiplyExact(acc, 1L << l.fracBits());
                for (long b : l.bias()) {
                    if (Math.abs(b) >= SUM_LIMIT - sum) {
                        throw new IllegalArgumentException(at + ": logits can overflow int64");
                    }
                }
            }
        }
    }

    private static void requant(List<IntValue> values, IntLayer l, IntValue in, IntValue out, String at) {
        int c = out.shape()[0];
        if (l.multiplier() == null || l.shift() == null || l.bias() == null || l.multiplier().length != c
                || l.shift().length != c || l.bias().length != c || l.rounding() == null) {
            throw new IllegalArgumentException(at + ": needs " + c + " multipliers, shifts and biases and a rounding");
        }
        if (l.qmin() > l.qmax() || l.qmin() < out.lo() || l.qmax() > out.hi()) {
            throw new IllegalArgumentException(at + ": clamp [" + l.qmin() + ", " + l.qmax() + "] outside its value's "
                    + "range [" + out.lo() + ", " + out.hi() + "]");
        }
        for (int s : l.shift()) {
            if (s < 0 || s > 62) {
                throw new IllegalArgumentException(at + ": shift " + s + " outside 0..62");
            }
        }
        long resBound = 0;
        if (l.residual() >= 0) {
            IntValue r = values.get(l.residual());
            if (l.residualMultiplier() == null || l.residualMultiplier().length != c || r.numel() != out.numel()) {
                throw new IllegalArgumentException(at + ": residual " + r.name() + " does not match the output");
            }
            resBound = r.maxAbs();
        } else if (l.residualMultiplier() != null) {
            throw new IllegalArgumentException(at + ": residual multipliers without a residual input");
        }
        long accBound;
        if (l.weights() == null) {
            if (in.numel() != out.numel() || in.shape()[0] != c) {
                throw new IllegalArgumentException(at + ": a requant without conv keeps its input's shape");
            }
            accBound = in.maxAbs();
        } else {
            int[] ws = l.weightShape();
            int[] s = in.shape();
            if (ws == null || ws.length != 4 || s.length != 3 || out.shape().length != 3 || l.groups() < 1
                    || l.stride() < 1 || l.pad() < 0 || ws[0] != c || c % l.groups() != 0
                    || s[0] != ws[1] * l.groups() || (long) ws[0] * ws[1] * ws[2] * ws[3] != l.weights().length
                    || ws[2] < 1 || ws[3] < 1) {
                throw new IllegalArgumentException(at + ": conv weights/groups do not match its input "
                        + java.util.Arrays.toString(s));
            }
            if (l.pad() > MAX_PAD) {
                throw new IllegalArgumentException(at + ": pad " + l.pad() + " outside 0.." + MAX_PAD);
            }
            // in 64 bits: with int arithmetic a pad near 2^31 wraps 2 * pad around and can match the stored shape
            long spanH = (long) s[1] + 2L * l.pad() - ws[2], spanW = (long) s[2] + 2L * l.pad() - ws[3];
            if (spanH < 0 || spanW < 0) {
                throw new IllegalArgumentException(at + ": kernel " + ws[2] + "x" + ws[3] + " is larger than its input "
                        + s[1] + "x" + s[2] + " with pad " + l.pad());
            }
            long oh = spanH / l.stride() + 1, ow = spanW / l.stride() + 1;
            if (out.shape()[1] != oh || out.shape()[2] != ow) {
                throw new IllegalArgumentException(at + ": conv output " + oh + "x" + ow + " (input " + s[1] + "x"
                        + s[2] + ", kernel " + ws[2] + "x" + ws[3] + ", stride " + l.stride() + ", pad " + l.pad()
                        + ") does not match " + java.util.Arrays.toString(out.shape()));
            }
            accBound = bound(at, (long) ws[1] * ws[2] * ws[3], in.maxAbs(), maxAbs(l.weights(), l.weightBits(), at));
        }
        for (int ch = 0; ch < c; ch++) {
            try {
                long sum = Math.addExact(Math.multiplyExact(accBound, Math.abs((long) l.multiplier()[ch])),
                        Math.abs(l.bias()[ch]));
                if (l.residual() >= 0) {
                    sum = Math.addExact(sum, Math.multiplyExact(resBound, Math.abs((long) l.residualMultiplier()[ch])));
                }
                if (sum >= SUM_LIMIT) {
                    throw new ArithmeticException();
                }
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException(at + ": channel " + ch + " can overflow the int64 requant sum "
                        + "(accumulator bound " + accBound + ", multiplier " + l.multiplier()[ch] + ")");
            }
        }
    }

    private static long maxAbs(int[] w, int bits, String at) {
        if (bits < 2 || bits > 16) {
            throw new IllegalArgumentException(at + ": weight bits " + bits + " outside 2..16");
        }
        long lim = (1L << (bits - 1)) - 1, m = 0;
        for (int v : w) {
            if (Math.abs((long) v) > lim) {
                throw new IllegalArgumentException(at + ": weight code " + v + " exceeds " + bits + " bits");
            }
            m = Math.max(m, Math.abs((long) v));
        }
        return m;
    }

    private static long bound(String at, long k, long x, long w) {
        try {
            return Math.multiplyExact(Math.multiplyExact(k, x), w);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(at + ": accumulator bound overflows int64");
        }
    }

    /**
     * The boundary quantizer (kind, bits, clip), its α and value 0 against the quantizer that ends the float prefix,
     * which is what computes the codes: the integer layers were derived from that α, so any other α, kind or bit width
     * would give other logits without an error.
     */
    static void boundary(List<Module> prefix, ActQuantizer boundary, float alpha, IntValue codes, boolean seedStem,
                         String where) {
        if (prefix.isEmpty()) {
            throw new IllegalArgumentException(where + ": no float prefix");
        }
        if (seedStem) {
            return; // value 0 holds the seed stem's integer accumulators, not codes of the boundary quantizer
        }
        Module last = prefix.get(prefix.size() - 1);
        ActQuant q = IntegerConverter.finalQuantizer(last);
        if (q == null) {
            throw new IllegalArgumentException(where + ": the float prefix's last module " + last.name()
                    + " does not end with an activation quantizer, so it makes no boundary codes");
        }
        if (!q.quantizer().equals(boundary)) {
            throw new IllegalArgumentException(where + ": boundary quantizer " + describe(boundary)
                    + " differs from the prefix's " + q.name() + " (" + describe(q.quantizer()) + ")");
        }
        if (boundary.hasAlpha() && !(Float.isFinite(alpha) && alpha > 0f)) {
            throw new IllegalArgumentException(where + ": boundary alpha " + alpha + " is not a finite positive clip");
        }
        float prefixAlpha = q.alpha() == null ? 0f : q.alpha().value().toFloatArray()[0];
        if (Float.floatToIntBits(alpha) != Float.floatToIntBits(prefixAlpha)) {
            throw new IllegalArgumentException(where + ": boundary alpha " + alpha + " differs from the alpha "
                    + prefixAlpha + " of the prefix's " + q.name());
        }
        if (!q.name().equals(codes.name()) || codes.lo() != boundary.minCode() || codes.hi() != boundary.maxCode()) {
            throw new IllegalArgumentException(where + ": value 0 (" + codes.name() + ", [" + codes.lo() + ", "
                    + codes.hi() + "]) is not the codes [" + boundary.minCode() + ", " + boundary.maxCode() + "] of "
                    + q.name());
        }
    }

    /**
     * Every quantizer of the float prefix, in forward order, with its kind and bit width: a {@code .qim} records this
     * list, and loading compares it with the prefix its bit widths rebuild, since a DoReFa quantizer has no tensor
     * in the file that would betray an edited bit width.
     */
    static List<String> prefixQuantizers(List<Module> prefix) {
        List<String> out = new ArrayList<>();
        for (Module m : prefix) {
            addQuantizers(m, out);
        }
        return out;
    }

    private static void addQuantizers(Module m, List<String> out) {
        if (m instanceof ActQuant q) {
            out.add(q.name() + ": " + describe(q.quantizer()));
        } else if (m instanceof QConv2d c) {
            out.add(c.name() + ": weights " + c.weightBits() + " bits");
        } else if (m instanceof QLinear l) {
            out.add(l.name() + ": weights " + l.weightBits() + " bits");
        }
        for (Module child : m.children()) {
            addQuantizers(child, out);
        }
    }

    /** The prefix rebuilt from a file's bit widths against the quantizer list the file recorded when it was written. */
    static void prefixMatchesRecord(List<Module> prefix, List<String> recorded, String where) {
        List<String> rebuilt = prefixQuantizers(prefix);
        for (int i = 0; i < Math.max(rebuilt.size(), recorded.size()); i++) {
            String r = i < rebuilt.size() ? rebuilt.get(i) : "nothing";
            String w = i < recorded.size() ? recorded.get(i) : "nothing";
            if (!r.equals(w)) {
                throw new IllegalArgumentException(where + ": meta 'bits' rebuilds prefix quantizer " + i + " as '" + r
                        + "' but the file was written with '" + w + "' (bit widths edited, or another preset)");
            }
        }
    }

    private static String describe(ActQuantizer q) {
        return q.kind() + " " + q.bits() + " bits"
                + (q.kind() == ActQuantizer.Kind.FIXED_CLIP ? " clip " + q.fixedClip() : "");
    }
}
