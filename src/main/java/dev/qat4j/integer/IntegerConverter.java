package dev.qat4j.integer;

import dev.qat4j.backend.ConvParams;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.ActQuant;
import dev.qat4j.nn.BatchNorm2d;
import dev.qat4j.nn.Clamp;
import dev.qat4j.nn.Flatten;
import dev.qat4j.nn.Module;
import dev.qat4j.nn.Pool;
import dev.qat4j.nn.QConv2d;
import dev.qat4j.nn.QLinear;
import dev.qat4j.nn.ResidualBlock;
import dev.qat4j.nn.Sequential;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.quant.RequantFormat;
import dev.qat4j.quant.Rounding;
import dev.qat4j.quant.WeightQuantizer;
import dev.qat4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Turns a trained fake-quant model into an {@link IntegerModel}.
 *
 * <p>Between two activation quantizers the fake-quant graph is linear per channel: a conv of codes (real value
 * {@code code * s_in} times weight codes {@code * s_w}), BN in eval mode ({@code a_c * y + b_c}), maybe a residual
 * add of codes of another quantizer ({@code id * s_id}), maybe a ReLU / ReLU6; the next quantizer maps the result to
 * {@code clamp(round(s_out * real), lo, hi)}. So every such stretch becomes one {@link IntLayer.Type#REQUANT}:
 * <pre>
 *   code_out = clamp(round((acc * M_c + id * M_id + B_c) / 2^shift_c), lo, hi)
 *   M_c = s_out * a_c * s_in * s_w,  M_id = s_out * s_id,  B_c = s_out * b_c   (real factors, encoded below)
 * </pre>
 * ReLU becomes {@code lo = 0}, ReLU6 {@code hi = code(6)}; the rounding is the fake-quant's (half to even) unless the
 * format says otherwise. Average pooling of codes becomes a sum (the division goes into the consumer's factor), the
 * FC an int64 dot product with its float bias at 2^-16 of the logit unit.
 *
 * <p>Encoding the real factors: a {@link RequantFormat.Dyadic} mantissa of M bits gets, per channel, the largest
 * shift whose multipliers still fit M bits and whose worst-case sum {@code |acc| M + |id| M_id + |B|} stays below
 * 2^62 (so no int64 overflow is possible); {@link RequantFormat.ApFixed} {@code <W,I>} uses shift {@code F = W - I}
 * and refuses a multiplier that needs more than I integer bits (the seed saturated it silently). Parameters are
 * rounded to nearest (ties to even); the format's rounding is the runtime rounding of {@code / 2^shift}. Biases keep
 * the accumulator's width.
 *
 * <p>The seed-compatible mode ({@link Options#seedPath}) instead follows the seed's ToyNet integer path layer by layer
 * ({@code algorithms.md} A4; {@link SeedPath}): an integer stem from the truncated float conv of the image, fixed()
 * factors at fixed&lt;32,16&gt; outside blocks and the block format inside, truncation, clamps at -2^(b-1), the BN
 * before a downsample conv truncated at the input's code scale, and the pool as a truncated mean with a floor rescale.
 * Each of those deviations can be switched off on its own; with all off it is the exact mode again.
 *
 * <p>A BN that feeds a conv with nothing quantized between (ToyNet's downsample) is materialised as a wide int32
 * intermediate of 2^-F units (|z| &lt;= 2^24, as fine as float32) by a dyadic32 requant, and the conv after it
 * accumulates in int64; those two requants are always dyadic, whatever the format (a fixed ap_fixed grid cannot
 * hold their scale).
 *
 * <p>What cannot be represented is refused with the layer's name: float (32-bit) or 1-bit weights after the
 * boundary, a quantizer missing where a value must be integer (a conv, pool or FC input), BN after an add,
 * overlapping pools.
 */
public final class IntegerConverter {

    /**
     * How requantization is encoded; {@link #exact()} is the default. With {@code seedPath} set, the conversion follows
     * the seed's ToyNet integer path ({@link SeedPath}) and {@code format} is its middle-layer format.
     */
    public record Options(RequantFormat format, SeedPath seedPath, boolean accumulatorBias) {
        public Options {
            if (format == null) {
                throw new IllegalArgumentException("integer conversion: requantization format is null");
            }
            if (accumulatorBias && seedPath != null) {
                throw new IllegalArgumentException("integer conversion: the seed's path keeps its own fixed() biases; "
                        + "accumulator-unit biases are for the exact path");
            }
        }

        public Options(RequantFormat format, SeedPath seedPath) {
            this(format, seedPath, false);
        }

        /**
         * These options with every conv layer's bias rounded (half to even) to a whole number of accumulator units:
         * {@code bias = multiplier * round(bias / multiplier)}, so that {@code acc * M + B = (acc + b) * M} with an
         * integer {@code b}. That is the form int8 hardware and ONNX Runtime's QLinearConv hold (an int32 bias added to
         * the accumulator), at the cost of moving each bias by up to half an accumulator unit.
         */
        public Options withAccumulatorBias() {
            return new Options(format, seedPath, true);
        }

        /** Dyadic 32-bit multipliers, half-to-even rounding as fake-quant's rint: the integer model of the real graph. */
        public static Options exact() {
            return new Options(new RequantFormat.Dyadic(32, Rounding.HALF_EVEN), null);
        }

        /** {@code format} with the fake-quant clamps. */
        public static Options of(RequantFormat format) {
            return new Options(format, null);
        }

        /** The seed's integer path: stem/header fixed&lt;32,16&gt;, blocks ap_fixed&lt;32,10&gt;, every deviation on. */
        public static Options seed() {
            return seed(SeedPath.seed(32, 10));
        }

        public static Options seed(SeedPath path) {
            return new Options(path.middle(), path);
        }

        public boolean seedCompatible() {
            return seedPath != null;
        }

        public String describe() {
            if (seedPath != null) {
                return seedPath.name(); // the edge format is fixed: stem/header <32,16>
            }
            return format.name() + "/" + format.rounding().name().toLowerCase(java.util.Locale.ROOT)
                    + (accumulatorBias ? "+accbias" : "");
        }
    }

    /** Bits of fraction kept for the FC's float bias. */
    static final int LINEAR_BIAS_FRAC_BITS = 16;
    /** Headroom of every requant sum: |acc * M + id * M_id + B| must stay below this (Rounding.divPow2's limit). */
    private static final double SUM_LIMIT = Math.scalb(1.0, 62) * 0.999;
    private static final int WIDE_BITS = 24;

    /** Bound on |normalized pixel| for the seed stem's accumulator range (CIFAR-10 pixels stay within ±2.8). */
    static final int STEM_INPUT_LIMIT = 256;

    private final Options options;
    private final List<IntValue> values = new ArrayList<>();
    private final List<IntLayer> layers = new ArrayList<>();
    // seed-compatible mode only
    private final SeedPath seed;
    private int blockDepth;
    private final Set<Integer> wideValues = new HashSet<>();
    private final Set<Integer> seedBnValues = new HashSet<>();
    private final Set<Integer> poolMeans = new HashSet<>();
    /** The converted model's image shape [C, H, W]. */
    private int[] inputShape;

    /** Appended to a refusal of an unquantized value (what the end-to-end preset quantizes), or null. */
    private final String endToEndFix;

    private IntegerConverter(Options options, String endToEndFix) {
        this.options = options;
        this.seed = options.seedPath();
        this.endToEndFix = endToEndFix;
    }

    /** The integer model of {@code m} (its parameters as they are now; the prefix modules are shared, not copied). */
    public static IntegerModel convert(QuantModel m, Options options) {
        if (m == null) {
            throw new IllegalArgumentException("integer conversion: model is null");
        }
        return new IntegerConverter(options == null ? Options.exact() : options, endToEndFix(m)).run(m);
    }

    /**
     * "the preset P makes MODEL integer from input to logits (...)" for {@code model} one of the seed's models, else
     * null (a user's own network).
     */
    public static String endToEndHint(String model) {
        if (!dev.qat4j.models.BitWidths.models().contains(model)) {
            return null;
        }
        String preset = dev.qat4j.models.BitWidths.endToEndPreset(model);
        return "the preset " + preset + " makes " + model + " integer from input to logits (train or fine-tune into it: "
                + "qat4j train --model " + model + " --bits " + preset + " --init CHECKPOINT)";
    }

    /** {@link #endToEndHint} for {@code m}, or null when it has no seed bit widths or already has the preset's. */
    private static String endToEndFix(QuantModel m) {
        String name = m.name();
        if (m.bits() == null || endToEndHint(name) == null
                || m.bits().equals(dev.qat4j.models.BitWidths.preset(name, dev.qat4j.models.BitWidths.endToEndPreset(name)))) {
            return null;
        }
        return endToEndHint(name);
    }

    // ---------------------------------------------------------------- walking the module tree

    /** What flows between modules: integer values, or a linear expression waiting for its quantizer. */
    private sealed interface State permits Codes, Pending, Logits {
    }

    private record Codes(int value) implements State {
    }

    private record Logits(int value) implements State {
    }

    /** real[c] = mul[c] * acc + add[c] (+ resMul * residual), acc = conv(source) or source itself. */
    /**
     * A pending linear stretch's real per-channel terms in output codes: multiplier {@code m}, bias {@code b} and the
     * residual's multiplier {@code mid} (null without a residual), each the stretch's term times the output scale.
     */
    private record RealTerms(double[] m, double[] b, double[] mid) {
        static RealTerms of(Pending p, double sOut, int channels) {
            double[] m = new double[channels], b = new double[channels];
            double[] mid = p.residual >= 0 ? new double[channels] : null;
            for (int c = 0; c < channels; c++) {
                m[c] = sOut * p.mul[c];
                b[c] = sOut * p.add[c];
                if (mid != null) {
                    mid[c] = sOut * p.resMul;
                }
            }
            return new RealTerms(m, b, mid);
        }
    }

    private static final class Pending implements State {
        final int source;
        final String name;
        int[] weights;
        int[] weightShape;
        int weightBits;
        ConvParams conv;
        int[] shape; // output per image
        double[] mul;
        double[] add;
        int residual = -1;
        double resMul;
        boolean relu;
        boolean relu6;
        long accBound;

        Pending(int source, String name) {
            this.source = source;
            this.name = name;
        }
    }

    private IntegerModel run(QuantModel m) {
        if (!(m.net() instanceof Sequential net)) {
            throw new IllegalArgumentException("integer conversion of " + m.name() + ": the network must be a Sequential");
        }
        List<Module> children = net.children();
        List<Module> prefix = new ArrayList<>();
        ActQuant boundary = null;
        int i = 0;
        for (; i < children.size() && boundary == null; i++) {
            prefix.add(children.get(i));
            boundary = finalQuantizer(children.get(i));
        }
        if (boundary == null) {
            throw new IllegalArgumentException("integer conversion of " + m.name() + ": no activation quantizer ends a "
                    + "top-level layer, so no integer part exists (every value stays float)");
        }
        inputShape = m.inputSpec().shape();
        int[] shape = inputShape.clone();
        for (Module p : prefix) {
            shape = p.outputShape(shape);
        }
        float alpha = alphaOf(boundary);
        String format = options.describe();
        State s = null;
        if (seed != null && seed.has(SeedPath.Deviation.STEM)) {
            List<Module> stemPrefix = new ArrayList<>();
            s = seedStem(prefix, stemPrefix);
            if (s != null) {
                prefix = stemPrefix;
            } else {
                format += " [float stem: the first conv does not read the float image]";
            }
        }
        if (s == null) {
            values.add(codesValue(boundary.name(), shape, boundary.quantizer(), alpha, false));
            s = new Codes(0);
        }
        for (; i < children.size(); i++) {
            s = walk(children.get(i), s);
        }
        if (!(s instanceof Logits)) {
            throw new IllegalArgumentException("integer conversion of " + m.name() + ": the network must end with a "
                    + "linear layer on quantized values");
        }
        return new IntegerModel(m.name(), m.bits(), prefix, boundary.quantizer(), alpha, values, layers, format, m.inputSpec(),
                null);
    }

    static ActQuant finalQuantizer(Module m) {
        if (m instanceof ActQuant q) {
            return q.quantizer().isIdentity() ? null : q;
        }
        if (m instanceof ResidualBlock r) {
            return r.post() == null ? null : finalQuantizer(r.post());
        }
        if (m instanceof Sequential s && !s.children().isEmpty()) {
            return finalQuantizer(s.children().get(s.children().size() - 1));
        }
        return null;
    }

    private State walk(Module m, State s) {
        if (s instanceof Logits) {
            throw refuse(m, "comes after the FC; the integer model ends with its logits");
        }
        if (m instanceof ResidualBlock r) {
            return block(r, s);
        }
        if (m instanceof Sequential seq) {
            for (Module c : seq.children()) {
                s = walk(c, s);
            }
            return s;
        }
        if (m instanceof ActQuant q) {
            return q.quantizer().isIdentity() ? s : quantize(q, s);
        }
        if (m instanceof QConv2d c) {
            return conv(c, s);
        }
        if (m instanceof BatchNorm2d bn) {
            return batchNorm(bn, s);
        }
        if (m instanceof Clamp c) {
            Pending p = s instanceof Pending pp ? pp : identity((Codes) s, m.name());
            if (p.relu || p.relu6) {
                throw refuse(m, "a second ReLU before a quantizer");
            }
            p.relu = !c.isRelu6();
            p.relu6 = c.isRelu6();
            return p;
        }
        if (m instanceof Pool pool) {
            Codes in = codes(m, s, "pool input");
            return seed != null && seed.has(SeedPath.Deviation.POOL) ? poolSeed(pool, in) : pool(pool, in);
        }
        if (m instanceof Flatten) {
            return s;
        }
        if (m instanceof QLinear fc) {
            return linear(fc, codes(m, s, "FC input"));
        }
        throw refuse(m, "is a " + m.getClass().getSimpleName() + ", which the integer path does not know");
    }

    private State block(ResidualBlock r, State s) {
        blockDepth++; // the seed's middle-layer format applies inside blocks
        try {
            return blockBody(r, s);
        } finally {
            blockDepth--;
        }
    }

    private State blockBody(ResidualBlock r, State s) {
        State in = r.pre() == null ? s : walk(r.pre(), s);
        Codes x = codes(r, in, "block input (after its downsample)");
        State h = walk(r.main(), x);
        Pending p = h instanceof Pending pp ? pp : identity(codes(r.main(), h, "main branch"), r.main().name());
        State id = r.shortcut() == null ? x : walk(r.shortcut(), x);
        Codes idc = codes(r.shortcut() == null ? r : r.shortcut(), id, "shortcut output");
        if (p.residual >= 0 || p.relu || p.relu6) {
            throw refuse(r, "ends its main branch with an add or a ReLU before the residual add");
        }
        p.residual = idc.value();
        p.resMul = values.get(idc.value()).scale();
        return r.post() == null ? p : walk(r.post(), p);
    }

    private Codes codes(Module m, State s, String what) {
        if (s instanceof Codes c) {
            return c;
        }
        throw refuse(m, "has an unquantized " + what + " (a 32-bit activation or no quantizer before it), where the "
                + "integer path needs integer codes" + (endToEndFix == null ? "" : "; " + endToEndFix));
    }

    private Pending identity(Codes c, String name) {
        IntValue v = values.get(c.value());
        Pending p = new Pending(c.value(), name);
        p.shape = v.shape().clone();
        p.mul = filled(v.shape()[0], v.scale());
        p.add = new double[v.shape()[0]];
        p.accBound = v.maxAbs();
        return p;
    }

    private State conv(QConv2d c, State s) {
        if (s instanceof Pending p) {
            if (p.weights != null || p.residual >= 0) {
                throw refuse(c, "reads another conv's unquantized output");
            }
            s = seed != null && seed.has(SeedPath.Deviation.BNCONV) ? materializeSeedBn(p) : materializeWide(p);
        }
        IntValue in = values.get(((Codes) s).value());
        WeightCodes w = weightCodes(c, c.weight().value(), c.weightBits());
        Pending p = new Pending(((Codes) s).value(), c.name());
        p.weights = w.codes;
        p.weightShape = c.weight().value().shape();
        p.weightBits = c.weightBits();
        p.conv = c.params();
        p.shape = c.outputShape(in.shape());
        p.mul = filled(p.shape[0], in.scale() * w.step);
        p.add = new double[p.shape[0]];
        long k = (long) p.weightShape[1] * p.weightShape[2] * p.weightShape[3];
        p.accBound = k * in.maxAbs() * w.maxAbs;
        return p;
    }

    private State batchNorm(BatchNorm2d bn, State s) {
        Pending p = s instanceof Pending pp ? pp : identity((Codes) s, bn.name());
        if (p.residual >= 0 || p.relu || p.relu6) {
            throw refuse(bn, "BN after a residual add or a ReLU has no integer form here");
        }
        float[] g = bn.gamma().value().toFloatArray(), b = bn.beta().value().toFloatArray();
        float[] mean = bn.runningMean().value().toFloatArray(), var = bn.runningVar().value().toFloatArray();
        if (g.length != p.mul.length) {
            throw refuse(bn, "has " + g.length + " channels, its input " + p.mul.length);
        }
        for (int c = 0; c < g.length; c++) {
            // as the eval BN: (x - mean) * invStd * gamma + beta, with invStd = 1 / sqrt(var + eps) in double
            double a = 1.0 / Math.sqrt((double) var[c] + BatchNorm2d.EPS) * g[c];
            double shift = b[c] - mean[c] * a;
            if (!Double.isFinite(a) || !Double.isFinite(shift)) {
                throw refuse(bn, "channel " + c + " has a non-finite scale or shift (gamma " + g[c] + ", var " + var[c]
                        + ")");
            }
            p.mul[c] *= a;
            p.add[c] = p.add[c] * a + shift;
        }
        return p;
    }

    private State quantize(ActQuant q, State s) {
        if (seed != null) {
            return quantizeSeed(q, s);
        }
        Pending p = s instanceof Pending pp ? pp : identity((Codes) s, q.name());
        ActQuantizer aq = q.quantizer();
        float alpha = alphaOf(q);
        double sOut = codeScale(aq, alpha);
        int channels = p.shape[0];
        IntValue out = codesValue(q.name(), p.shape, aq, alpha, p.relu || p.relu6);
        long hi = out.hi();
        if (p.relu6) {
            hi = Math.min(hi, (long) aq.code(6f, alpha));
        }
        out = new IntValue(out.name(), out.shape(), out.lo(), hi, out.scale());
        RealTerms terms = RealTerms.of(p, sOut, channels);
        double[] m = terms.m(), b = terms.b(), mid = terms.mid();
        long resBound = p.residual >= 0 ? values.get(p.residual).maxAbs() : 0;
        boolean wide = p.accBound > Integer.MAX_VALUE;
        RequantFormat f = wide ? new RequantFormat.Dyadic(32, options.format().rounding()) : options.format();
        Encoded e = encode(q.name(), f, m, mid, b, p.accBound, resBound);
        if (options.accumulatorBias() && p.weights != null) {
            roundBiasToAccumulatorUnits(e);
        }
        values.add(out);
        layers.add(new IntLayer(q.name(), IntLayer.Type.REQUANT, p.source, p.residual, p.weights, p.weightShape,
                p.weightBits, p.conv == null ? 1 : p.conv.strideH(), p.conv == null ? 0 : p.conv.padH(),
                p.conv == null ? 1 : p.conv.groups(), e.mult, e.shift, e.bias, e.resMult, f.rounding(), out.lo(),
                out.hi(), 0, 0, p.accBound, f.name()));
        return new Codes(values.size() - 1);
    }

    /** A BN (or rescale) feeding a conv directly: materialise it as int32 of 2^-F units, |z| <= 2^24. */
    private Codes materializeWide(Pending p) {
        IntValue in = values.get(p.source);
        double maxY = 0;
        for (int c = 0; c < p.mul.length; c++) {
            maxY = Math.max(maxY, Math.abs(p.mul[c]) * in.maxAbs() + Math.abs(p.add[c]));
        }
        int f = maxY == 0 ? 0 : Math.max(0, Math.min(40, WIDE_BITS - Math.getExponent(maxY) - 1));
        double unit = Math.scalb(1.0, f);
        double[] m = new double[p.mul.length], b = new double[p.mul.length];
        for (int c = 0; c < m.length; c++) {
            m[c] = p.mul[c] * unit;
            b[c] = p.add[c] * unit;
        }
        long bound = (long) Math.ceil(maxY * unit) + 1;
        RequantFormat dy = new RequantFormat.Dyadic(32, Rounding.HALF_EVEN);
        Encoded e = encode(p.name, dy, m, null, b, in.maxAbs(), 0);
        long lo = p.relu || p.relu6 ? 0 : -bound;
        values.add(new IntValue(p.name, p.shape.clone(), lo, bound, 1.0 / unit));
        wideValues.add(values.size() - 1);
        layers.add(new IntLayer(p.name, IntLayer.Type.REQUANT, p.source, -1, null, null, 0, 1, 0, 1, e.mult, e.shift,
                e.bias, null, Rounding.HALF_EVEN, lo, bound, 0, 0, in.maxAbs(), dy.name()));
        return new Codes(values.size() - 1);
    }

    private Codes pool(Pool pool, Codes s) {
        IntValue in = values.get(s.value());
        int[] out = pool.outputShape(in.shape());
        int k = pool.kernel();
        long window = k == 0 ? (long) in.shape()[1] * in.shape()[2] : (long) k * k;
        if (k != 0 && (in.shape()[1] % k != 0 || in.shape()[2] % k != 0)) {
            throw refuse(pool, "window " + k + " does not tile " + in.shape()[1] + "x" + in.shape()[2]);
        }
        values.add(new IntValue(pool.name(), out, in.lo() * window, in.hi() * window, in.scale() / window));
        layers.add(new IntLayer(pool.name(), IntLayer.Type.SUM_POOL, s.value(), -1, null, null, 0, 1, 0, 1, null, null,
                null, null, null, in.lo() * window, in.hi() * window, 0, k, 0, "-"));
        return new Codes(values.size() - 1);
    }

    private State linear(QLinear fc, Codes s) {
        IntValue in = values.get(s.value());
        Tensor wt = fc.weight().value();
        if (wt.dim(1) != in.numel()) {
            throw refuse(fc, "expects " + wt.dim(1) + " inputs, gets " + in.numel());
        }
        WeightCodes w = weightCodes(fc, wt, fc.weightBits());
        double scale = in.scale() * w.step;
        int frac = LINEAR_BIAS_FRAC_BITS;
        float[] fb = fc.bias().value().toFloatArray();
        long[] bias = new long[fb.length];
        double unit = scale / Math.scalb(1.0, frac);
        long accBound = (long) wt.dim(1) * in.maxAbs() * w.maxAbs;
        double total = Math.scalb((double) accBound, frac);
        for (int o = 0; o < fb.length; o++) {
            double v = Math.rint(fb[o] / unit);
            if (!Double.isFinite(v) || Math.abs(v) + total >= SUM_LIMIT) {
                throw refuse(fc, "bias " + fb[o] + " of output " + o + " does not fit int64 logits at scale " + unit);
            }
            bias[o] = (long) v;
        }
        if (total >= SUM_LIMIT) {
            throw refuse(fc, "worst-case logit 2^" + Math.getExponent(total) + " overflows int64");
        }
        values.add(new IntValue(fc.name(), new int[] {wt.dim(0)}, Long.MIN_VALUE, Long.MAX_VALUE, unit));
        layers.add(new IntLayer(fc.name(), IntLayer.Type.LINEAR, s.value(), -1, w.codes, wt.shape(), fc.weightBits(),
                1, 0, 1, null, null, bias, null, null, Long.MIN_VALUE, Long.MAX_VALUE, frac, 0, accBound, "-"));
        return new Logits(values.size() - 1);
    }

    // ---------------------------------------------------------------- the seed's integer path (algorithms.md A4)

    /**
     * The seed's stem: value 0 becomes trunc(float conv(image, weight codes)) (a {@link SeedStemConv} ends the new
     * prefix), then BN and the boundary quantizer requantize it at the edge format. Null when the prefix is not
     * [identity quantizers, conv, BN?, ReLU?, quantizer] with quantized conv weights (the float stem stays then).
     */
    private Codes seedStem(List<Module> prefix, List<Module> stemPrefix) {
        List<Module> leaves = new ArrayList<>();
        for (Module p : prefix) {
            if (!leaves(p, leaves)) {
                return null;
            }
        }
        int k = 0;
        while (k < leaves.size() && leaves.get(k) instanceof ActQuant q && q.quantizer().isIdentity()) {
            k++;
        }
        if (k >= leaves.size() || !(leaves.get(k) instanceof QConv2d conv) || conv.weightBits() == 32
                || conv.weightBits() < 2) {
            return null;
        }
        List<Module> rest = leaves.subList(k + 1, leaves.size());
        for (int j = 0; j < rest.size(); j++) {
            Module m = rest.get(j);
            boolean last = j == rest.size() - 1;
            if (!(last ? m instanceof ActQuant : m instanceof BatchNorm2d || m instanceof Clamp
                    || (m instanceof ActQuant q && q.quantizer().isIdentity()))) {
                return null;
            }
        }
        WeightCodes w = weightCodes(conv, conv.weight().value(), conv.weightBits());
        int[] ws = conv.weight().value().shape();
        int[] outShape = conv.outputShape(inputShape);
        int perOut = ws[1] * ws[2] * ws[3];
        long bound = 0;
        for (int o = 0; o < ws[0]; o++) {
            long sum = 0;
            for (int j = 0; j < perOut; j++) {
                sum += Math.abs(w.codes[o * perOut + j]);
            }
            bound = Math.max(bound, sum * STEM_INPUT_LIMIT);
        }
        stemPrefix.addAll(leaves.subList(0, k));
        stemPrefix.add(new SeedStemConv(conv.name(), w.codes, ws, conv.params(), outShape));
        values.add(new IntValue(conv.name(), outShape, -bound, bound, 1.0));
        Pending p = new Pending(0, conv.name());
        p.shape = outShape.clone();
        p.mul = filled(outShape[0], w.step); // the image enters unscaled (S_in = 1 for a 32-bit input)
        p.add = new double[outShape[0]];
        p.accBound = bound;
        State s = p;
        for (Module m : rest) {
            s = walk(m, s);
        }
        return (Codes) s;
    }

    /** Appends the leaf modules of {@code m}; false when it holds a block (no plain stem). */
    private static boolean leaves(Module m, List<Module> out) {
        if (m instanceof ResidualBlock) {
            return false;
        }
        if (m instanceof Sequential seq) {
            for (Module c : seq.children()) {
                if (!leaves(c, out)) {
                    return false;
                }
            }
            return true;
        }
        out.add(m);
        return true;
    }

    /**
     * A quantizer in the seed's arithmetic: y = clamp(round((acc * fixed(M) + id * fixed(M_id) + fixed(B)) / 2^F))
     * at the block format inside blocks, the edge format outside; truncation, clamp at -2^(b-1), and the pool
     * rescale's floor with its [-2^(b-1), 2^(b-1)] clamp, each as the deviations say. The downsample conv after the BN
     * clamps at ±R, as the seed did there.
     */
    private State quantizeSeed(ActQuant q, State s) {
        Pending p = s instanceof Pending pp ? pp : identity((Codes) s, q.name());
        ActQuantizer aq = q.quantizer();
        float alpha = alphaOf(q);
        double sOut = codeScale(aq, alpha);
        boolean poolRescale = p.weights == null && p.residual < 0 && poolMeans.contains(p.source);
        boolean downsample = p.weights != null
                && (seedBnValues.contains(p.source) || wideValues.contains(p.source));
        long r = aq.maxCode(), lo = aq.minCode(), hi = r;
        if (aq.isSigned() && poolRescale) {
            lo = -(r + 1);
            hi = r + 1;
        } else if (aq.isSigned() && !downsample && seed.has(SeedPath.Deviation.LOWCLAMP)) {
            lo = -(r + 1);
        }
        if (p.relu || p.relu6) {
            lo = Math.max(lo, 0);
        }
        if (p.relu6) {
            hi = Math.min(hi, (long) aq.code(6f, alpha));
        }
        RequantFormat.ApFixed fmt = blockDepth > 0 ? seed.middle() : seed.edge();
        Rounding rounding = poolRescale ? Rounding.FLOOR
                : seed.has(SeedPath.Deviation.TRUNC) ? Rounding.TOWARD_ZERO : Rounding.HALF_EVEN;
        int channels = p.shape[0];
        RealTerms terms = RealTerms.of(p, sOut, channels);
        double[] m = terms.m(), b = terms.b(), mid = terms.mid();
        // a conv reading the 2^-24-unit wide BN value needs a finer multiplier than any 2^-F grid
        boolean fixM = seed.has(SeedPath.Deviation.FIXM) && !wideValues.contains(p.source);
        long resBound = p.residual >= 0 ? values.get(p.residual).maxAbs() : 0;
        Encoded e = encodeSeed(q.name(), fmt, m, mid, b, fixM, seed.has(SeedPath.Deviation.FIXB), p.accBound,
                resBound);
        values.add(new IntValue(q.name(), p.shape.clone(), lo, hi, valueScale(aq, alpha)));
        layers.add(new IntLayer(q.name(), IntLayer.Type.REQUANT, p.source, p.residual, p.weights, p.weightShape,
                p.weightBits, p.conv == null ? 1 : p.conv.strideH(), p.conv == null ? 0 : p.conv.padH(),
                p.conv == null ? 1 : p.conv.groups(), e.mult, e.shift, e.bias, e.resMult, rounding, lo, hi, 0, 0,
                p.accBound, "seed " + fmt.name()));
        return new Codes(values.size() - 1);
    }

    /**
     * The seed's BN before the downsample conv: x' = clamp(trunc((x * fixed(gamma/sigma) + fixed(S_in * shift)) / 2^F),
     * ±2^(W-1)), i.e. the BN output on the input's own code grid (scale 1/S_in), not the fine grid of exact mode.
     */
    private Codes materializeSeedBn(Pending p) {
        if (p.relu || p.relu6) {
            throw new IllegalArgumentException("integer conversion: layer " + p.name + " has a ReLU between its BN and "
                    + "the conv after it, which the seed's BN->conv path does not have");
        }
        IntValue in = values.get(p.source);
        int n = p.mul.length;
        double[] m = new double[n], b = new double[n];
        for (int c = 0; c < n; c++) {
            m[c] = p.mul[c] / in.scale();
            b[c] = p.add[c] / in.scale();
        }
        RequantFormat.ApFixed fmt = blockDepth > 0 ? seed.middle() : seed.edge();
        Encoded e = encodeSeed(p.name, fmt, m, null, b, seed.has(SeedPath.Deviation.FIXM),
                seed.has(SeedPath.Deviation.FIXB), in.maxAbs(), 0);
        double bound = 0;
        for (int c = 0; c < n; c++) {
            bound = Math.max(bound, Math.ceil(Math.scalb((double) in.maxAbs() * Math.abs(e.mult[c])
                    + Math.abs((double) e.bias[c]), -e.shift[c])) + 1);
        }
        double lim = Math.min(bound, Math.scalb(1.0, fmt.totalBits() - 1)); // the seed's clamp at ±2^(BNbit-1)
        if (lim > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("integer conversion: layer " + p.name + ": the seed's BN output can reach "
                    + lim + ", beyond int32");
        }
        long l = (long) lim;
        Rounding rounding = seed.has(SeedPath.Deviation.TRUNC) ? Rounding.TOWARD_ZERO : Rounding.HALF_EVEN;
        values.add(new IntValue(p.name, p.shape.clone(), -l, l, in.scale()));
        layers.add(new IntLayer(p.name, IntLayer.Type.REQUANT, p.source, -1, null, null, 0, 1, 0, 1, e.mult, e.shift,
                e.bias, null, rounding, -l, l, 0, 0, in.maxAbs(), "seed " + fmt.name()));
        seedBnValues.add(values.size() - 1);
        return new Codes(values.size() - 1);
    }

    /** The seed's pool: the sum, then its mean truncated toward zero (a float mean, then .long()). */
    private Codes poolSeed(Pool pool, Codes s) {
        IntValue in = values.get(s.value());
        Codes sum = pool(pool, s);
        IntValue sv = values.get(sum.value());
        int k = pool.kernel();
        long window = k == 0 ? (long) in.shape()[1] * in.shape()[2] : (long) k * k;
        if (Long.bitCount(window) != 1) {
            throw refuse(pool, "averages " + window + " values; the seed's truncated mean is reproduced for "
                    + "power-of-two windows only");
        }
        int channels = sv.shape()[0];
        int[] ones = new int[channels], shifts = new int[channels];
        java.util.Arrays.fill(ones, 1);
        java.util.Arrays.fill(shifts, Long.numberOfTrailingZeros(window));
        String name = pool.name() + ".mean";
        values.add(new IntValue(name, sv.shape().clone(), in.lo(), in.hi(), in.scale()));
        layers.add(new IntLayer(name, IntLayer.Type.REQUANT, sum.value(), -1, null, null, 0, 1, 0, 1, ones, shifts,
                new long[channels], null, Rounding.TOWARD_ZERO, in.lo(), in.hi(), 0, 0, sv.maxAbs(), "-"));
        poolMeans.add(values.size() - 1);
        return new Codes(values.size() - 1);
    }

    /**
     * Multipliers and biases as the seed's fixed() values (or exact ones, for a deviation switched off), on a common
     * shift: at least F when any term is fixed, so those stay exact ((a * 2^k) / 2^(F+k) rounds as a / 2^F).
     */
    private Encoded encodeSeed(String layer, RequantFormat.ApFixed fmt, double[] m, double[] mid, double[] b,
                               boolean fixM, boolean fixB, long accBound, long resBound) {
        boolean f32 = seed.has(SeedPath.Deviation.F32);
        int frac = fmt.totalBits() - fmt.intBits();
        int n = m.length;
        int[] mult = new int[n], shift = new int[n], resMult = mid == null ? null : new int[n];
        long[] bias = new long[n];
        for (int c = 0; c < n; c++) {
            double mv = seedValue(m[c], fmt, fixM, f32), iv = mid == null ? 0 : seedValue(mid[c], fmt, fixM, f32);
            double bv = seedValue(b[c], fmt, fixB, f32);
            if (!Double.isFinite(mv) || !Double.isFinite(iv) || !Double.isFinite(bv)) {
                throw new IllegalArgumentException("layer " + layer + " channel " + c + ": non-finite rescale "
                        + m[c] + " / " + iv + " / bias " + b[c]);
            }
            int lowest = fixM || fixB ? frac : 0;
            if (!encodeAtLargestShift(c, mv, iv, bv, lowest, false, accBound, resBound, mult, shift, bias, resMult)) {
                throw new IllegalArgumentException("layer " + layer + " channel " + c + ": the seed's " + fmt.name()
                        + " factors (multiplier " + mv + ", bias " + bv + ") leave no int32 multiplier with int64 "
                        + "headroom (accumulator bound " + accBound + ")");
            }
        }
        return new Encoded(mult, shift, bias, resMult);
    }

    private static double seedValue(double v, RequantFormat.ApFixed fmt, boolean fixed, boolean f32) {
        double x = f32 ? (float) v : v; // the seed's factors are float32 tensors
        return fixed ? seedFixed(x, fmt.totalBits() - fmt.intBits(), fmt.intBits(), f32) : x;
    }

    /**
     * The seed's fixed(v; W, I) as a real value: the integer part round(v) (half to even) saturated to I signed bits,
     * plus the fraction v - round(v) rounded to 2^-F; in float32 the sum of the two keeps only 24 significant bits.
     */
    static double seedFixed(double v, int frac, int intBits, boolean f32) {
        double whole = Math.rint(v);
        double fraction = Math.scalb(Math.rint(Math.scalb(v - whole, frac)), -frac);
        double lim = Math.scalb(1.0, intBits - 1);
        double sum = Math.max(-lim, Math.min(lim - 1, whole)) + fraction;
        return f32 ? (float) sum : sum;
    }

    // ---------------------------------------------------------------- numbers

    private record WeightCodes(int[] codes, double step, long maxAbs) {
    }

    /** The fake-quant weight codes: value = code * step exactly as the model's weightQuant computes them. */
    private static WeightCodes weightCodes(Module m, Tensor w, int bits) {
        if (bits == 32) {
            throw refuse(m, "has float (32-bit) weights; the integer path needs quantized weights after the boundary");
        }
        if (bits < 2) {
            throw refuse(m, "has 1-bit weights, whose scale mean|w_n| is a float; the integer path needs 2..16 bits");
        }
        float[] v;
        try (Tensor q = w.backend().weightQuant(w, bits)) {
            v = q.toFloatArray();
        }
        int s = WeightQuantizer.maxCode(bits);
        int[] codes = new int[v.length];
        long max = 0;
        for (int i = 0; i < v.length; i++) {
            float c = bits == 2 ? v[i] : (float) Math.rint(v[i] * (float) s);
            if (!(Math.abs(c) <= s)) {
                throw refuse(m, "weight " + i + " quantizes to " + v[i] + " (a NaN or infinite weight?)");
            }
            codes[i] = (int) c;
            max = Math.max(max, Math.abs(codes[i]));
        }
        return new WeightCodes(codes, bits == 2 ? 1.0 : 1.0 / s, Math.max(max, 1));
    }

    private record Encoded(int[] mult, int[] shift, long[] bias, int[] resMult) {
    }

    /** {@code bias = M * round(bias / M)} per channel (see {@link Options#withAccumulatorBias()}); M = 0 keeps it. */
    private static void roundBiasToAccumulatorUnits(Encoded e) {
        for (int c = 0; c < e.bias.length; c++) {
            long m = e.mult[c];
            if (m != 0) { // exact: bias / m rounded half to even, in integers (|bias| < 2^62)
                long mm = Math.abs(m), b = m < 0 ? -e.bias[c] : e.bias[c];
                long q = Math.floorDiv(b, mm), r = b - q * mm;
                if (2 * r > mm || (2 * r == mm && (q & 1) != 0)) {
                    q++;
                }
                e.bias[c] = q * m;
            }
        }
    }

    private Encoded encode(String layer, RequantFormat f, double[] m, double[] mid, double[] b, long accBound,
                           long resBound) {
        int n = m.length;
        int[] mult = new int[n], shift = new int[n], resMult = mid == null ? null : new int[n];
        long[] bias = new long[n];
        for (int c = 0; c < n; c++) {
            double mi = mid == null ? 0 : mid[c];
            if (!Double.isFinite(m[c]) || !Double.isFinite(mi) || !Double.isFinite(b[c])) {
                throw new IllegalArgumentException("layer " + layer + " channel " + c + ": non-finite rescale "
                        + m[c] + " / " + mi + " / bias " + b[c]);
            }
            if (f instanceof RequantFormat.ApFixed ap) {
                int frac = ap.totalBits() - ap.intBits();
                long lim = (1L << (ap.totalBits() - 1)) - 1;
                long mm = (long) Math.rint(Math.scalb(m[c], frac)), md = (long) Math.rint(Math.scalb(mi, frac));
                if (Math.abs(mm) > lim || Math.abs(md) > lim) {
                    throw new IllegalArgumentException("layer " + layer + " channel " + c + ": multiplier "
                            + Math.max(Math.abs(m[c]), Math.abs(mi)) + " needs more than the " + ap.intBits()
                            + " integer bits of " + ap.name() + " (largest " + Math.scalb((double) lim, -frac) + ")");
                }
                double bb = Math.rint(Math.scalb(b[c], frac));
                if (Math.abs(bb) + (double) accBound * Math.abs(mm) + (double) resBound * Math.abs(md) >= SUM_LIMIT) {
                    throw new IllegalArgumentException("layer " + layer + " channel " + c + ": " + ap.name()
                            + " leaves no int64 headroom (accumulator bound " + accBound + ")");
                }
                mult[c] = (int) mm;
                shift[c] = frac;
                bias[c] = (long) bb;
                if (resMult != null) {
                    resMult[c] = (int) md;
                }
                continue;
            }
            int bits = ((RequantFormat.Dyadic) f).mantissaBits();
            // each multiplier is first rounded to its own M-bit mantissa (value mant * 2^-own); the common shift is the
            // largest one at which every multiplier, shifted left onto it, still fits int32 and the sum keeps its
            // int64 headroom. A term whose own shift is above the common one is re-rounded there (fewer bits): only
            // happens for M close to 32, when a residual factor ~1 and a conv factor ~1e-3 share one int32.
            double qm = mantissaRound(m[c], bits), qi = mantissaRound(mi, bits);
            double big = Math.max(Math.abs(m[c]), Math.abs(mi));
            // both factors 0 is a constant output: shift 0, bias round(B)
            if (!encodeAtLargestShift(c, qm, qi, b[c], 0, big == 0, accBound, resBound, mult, shift, bias, resMult)) {
                throw new IllegalArgumentException("layer " + layer + " channel " + c + ": rescale " + big
                        + " does not fit a " + bits + "-bit mantissa with a right shift (0.." + Rounding.MAX_SHIFT + ")");
            }
        }
        return new Encoded(mult, shift, bias, resMult);
    }

    /**
     * Channel {@code c} at the largest shift in [{@code lowest}, MAX_SHIFT] (only 0 when {@code shiftZero}) at which the
     * multiplier {@code m} and the residual factor {@code id}, scaled by 2^shift and rounded, fit int32 and
     * |bias| + accBound |m| + resBound |id| stays below the int64 headroom; false when no shift qualifies.
     */
    private static boolean encodeAtLargestShift(int c, double m, double id, double b, int lowest, boolean shiftZero,
                                                long accBound, long resBound, int[] mult, int[] shift, long[] bias,
                                                int[] resMult) {
        for (int s = shiftZero ? 0 : Rounding.MAX_SHIFT; s >= lowest; s--) {
            double mm = Math.rint(Math.scalb(m, s)), md = Math.rint(Math.scalb(id, s));
            double bb = Math.rint(Math.scalb(b, s));
            if (Math.max(Math.abs(mm), Math.abs(md)) > Integer.MAX_VALUE
                    || Math.abs(bb) + (double) accBound * Math.abs(mm) + (double) resBound * Math.abs(md) >= SUM_LIMIT) {
                continue;
            }
            mult[c] = (int) mm;
            shift[c] = s;
            bias[c] = (long) bb;
            if (resMult != null) {
                resMult[c] = (int) md;
            }
            return true;
        }
        return false;
    }

    /** {@code v} rounded (to nearest, ties to even) to a signed mantissa of {@code bits} bits times a power of two. */
    static double mantissaRound(double v, int bits) {
        if (v == 0 || !Double.isFinite(v)) {
            return v;
        }
        // |v| in [2^e, 2^(e+1)): keep bits - 1 magnitude bits, i.e. a grid of 2^(e - bits + 2)
        int e = Math.getExponent(v);
        int drop = e - (bits - 2);
        // (rounding up to 2^(e+1) is still exact with M bits, at the next exponent)
        return Math.scalb(Math.rint(Math.scalb(v, -drop)), drop);
    }

    /** Multiplier turning a real value into the quantizer's code: code = round(s * x). */
    static double codeScale(ActQuantizer q, float alpha) {
        return switch (q.kind()) {
            case PACT -> alpha > 0f ? (double) ((float) q.maxCode() / alpha) : 0.0;
            case MPACT -> alpha != 0f ? (double) ((float) q.maxCode() / Math.abs(alpha)) : 0.0;
            case FIXED_CLIP -> q.maxCode() / (double) q.fixedClip();
            case DOREFA -> (double) 0.1f * q.maxCode();
        };
    }

    /** Real value of one code (value = code / s for PACT/mPACT, code / n for DoReFa, code / n * c for fixed clip). */
    static double valueScale(ActQuantizer q, float alpha) {
        return switch (q.kind()) {
            case PACT -> alpha > 0f ? 1.0 / (float) ((float) q.maxCode() / alpha) : 0.0;
            case MPACT -> alpha != 0f ? 1.0 / (float) ((float) q.maxCode() / Math.abs(alpha)) : 0.0;
            case FIXED_CLIP -> q.fixedClip() / (double) q.maxCode();
            case DOREFA -> 1.0 / q.maxCode();
        };
    }

    private static IntValue codesValue(String name, int[] shape, ActQuantizer q, float alpha, boolean relu) {
        long lo = q.minCode(), hi = q.maxCode();
        if (relu) {
            lo = Math.max(lo, 0);
        }
        return new IntValue(name, shape.clone(), lo, hi, valueScale(q, alpha));
    }

    private static float alphaOf(ActQuant q) {
        return q.alpha() == null ? 0f : q.alpha().value().toFloatArray()[0];
    }

    private static double[] filled(int n, double v) {
        double[] a = new double[n];
        java.util.Arrays.fill(a, v);
        return a;
    }

    private static IllegalArgumentException refuse(Module m, String why) {
        return new IllegalArgumentException("integer conversion: layer " + m.name() + " " + why);
    }
}
