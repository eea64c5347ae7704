package dev.qat4j.integer.export;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.ConvParams;
import dev.qat4j.integer.IntLayer;
import dev.qat4j.integer.IntValue;
import dev.qat4j.integer.IntegerModel;
import dev.qat4j.integer.export.OnnxGraph.Attr;
import dev.qat4j.nn.ActQuant;
import dev.qat4j.nn.BatchNorm2d;
import dev.qat4j.nn.Clamp;
import dev.qat4j.nn.Flatten;
import dev.qat4j.nn.Module;
import dev.qat4j.nn.Pool;
import dev.qat4j.nn.QConv2d;
import dev.qat4j.nn.ResidualBlock;
import dev.qat4j.nn.Sequential;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.quant.WeightQuantizer;
import dev.qat4j.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes an {@link IntegerModel} as an ONNX model in QDQ form (opset 13): float input {@value #INPUT} [N, C, H, W]
 * of the model's {@link IntegerModel#inputSpec()} (normalized images, as {@link IntegerModel#logits} takes them),
 * float output {@value #OUTPUT} [N, classes] in real units (the fake-quant model's logits; the integer model's are
 * these divided by {@link IntegerModel#logitScale}).
 *
 * <ul>
 *   <li>The float prefix as float ops (Conv, BatchNormalization, Relu, Add), quantized weights as int8 codes behind a
 *       DequantizeLinear, every activation quantizer as a QuantizeLinear/DequantizeLinear pair (codes int8 or uint8,
 *       zero point 0, scale = the real value of one code; a Clip or Relu first where the quantizer's code range is
 *       narrower than the byte's, e.g. mPACT's ±127).</li>
 *   <li>Each {@link IntLayer.Type#REQUANT}: the int8 weight codes behind a per-output-channel DequantizeLinear whose
 *       scale absorbs the folded BN, {@code s_out * M_c / s_in} with {@code M_c = multiplier / 2^shift}; Conv; an Add
 *       of the float bias {@code s_out * bias / 2^shift} (not the Conv's bias input: ONNX Runtime would round that to
 *       int32 accumulator units); an Add of the residual's dequantized codes (scaled per channel where
 *       {@code s_out * M_id != s_res}, e.g. DoReFa's 0.1); then the output quantizer. That gives
 *       {@code s_out * (M_c * acc + B_c + M_id * res)}, the real value the integer layer rounds, so QuantizeLinear
 *       (half to even, as the integer model's rounding) lands on its codes.</li>
 *   <li>{@link IntLayer.Type#SUM_POOL} as an average in float (the value's scale already divides by the window),
 *       {@link IntLayer.Type#LINEAR} as Gemm with the dequantized weight codes and the float bias.</li>
 * </ul>
 * Values wider than a byte (e.g. ToyNet's int32 BN intermediate) round in float (Div, Round, Clip, Mul), which
 * opset 13's 8-bit QuantizeLinear cannot hold.
 *
 * <p>Float arithmetic (ONNX divides by the scale where fake-quant multiplies by its inverse, fuses differently) can
 * move a value sitting on a rounding boundary to the neighbouring code, so the export matches the integer model to
 * that rare code, not bit for bit.
 *
 * <p>The ONNX wire format is written with {@code com.google.protobuf:protobuf-java}, an <em>optional</em> dependency
 * of qat4j (the {@code qat4j} CLI jar bundles it): an application that calls this export must declare
 * {@code protobuf-java} (the version in qat4j's pom) itself, or this class fails with {@link NoClassDefFoundError}.
 */
public final class OnnxExport {
    public static final String INPUT = "images";
    public static final String OUTPUT = "logits";

    private OnnxExport() {
    }

    /**
     * Writes {@code model} to {@code file} (whole, or not at all: a temporary file beside it is renamed over it).
     * {@code backend} is the one holding the prefix's parameters (its weight quantizer gives their fake-quant codes).
     */
    public static void write(IntegerModel model, Backend backend, Path file) throws IOException {
        byte[] bytes = toBytes(model, backend);
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + file.getFileName() + ".", ".tmp");
        try {
            AtomicFolder.writeFile(tmp, bytes, true);
            AtomicFolder.readableByAll(tmp);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** The serialized ModelProto. */
    public static byte[] toBytes(IntegerModel model, Backend backend) {
        if (model == null || backend == null) {
            throw new IllegalArgumentException("onnx export: model and backend are required");
        }
        model.check(); // the load check again, as the blob and C exports run it: the prefix may have changed since
        return new Lowering(model, backend).run();
    }

    /** A value in the graph: its real (float) tensor, and its integer codes tensor when it has one. */
    private record Ref(String real, String codes) {
    }

    private static final class Lowering {
        private final IntegerModel model;
        private final Backend backend;
        private final OnnxGraph g;
        /** Real tensor -> codes tensor of the prefix's quantizers (the last one's codes start the integer part). */
        private final Map<String, String> codesOf = new HashMap<>();

        Lowering(IntegerModel model, Backend backend) {
            this.model = model;
            this.backend = backend;
            this.g = new OnnxGraph(model.model() == null ? "qat4j" : model.model());
        }

        byte[] run() {
            String x = g.fresh(INPUT);
            for (Module m : model.prefix()) {
                x = prefix(m, x);
            }
            if (!codesOf.containsKey(x)) {
                throw new IllegalStateException("onnx export: the float prefix does not end with the boundary quantizer");
            }
            List<IntValue> values = model.values();
            Ref[] refs = new Ref[values.size()];
            refs[0] = new Ref(x, codesOf.get(x));
            List<IntLayer> layers = model.layers();
            for (int i = 0; i < layers.size(); i++) {
                IntLayer l = layers.get(i);
                if (l.type() == IntLayer.Type.LINEAR && i != layers.size() - 1) {
                    throw new IllegalArgumentException("onnx export: layer " + l.name() + " (the FC) is not the last");
                }
                refs[i + 1] = switch (l.type()) {
                    case REQUANT -> requant(l, refs, values.get(l.input()), values.get(i + 1));
                    case SUM_POOL -> new Ref(pool(l.name(), refs[l.input()].real(), l.poolKernel()), null);
                    case LINEAR -> new Ref(linear(l, refs[l.input()].real(), values.get(l.input()), values.get(i + 1)),
                            null);
                };
            }
            IntLayer last = layers.get(layers.size() - 1);
            if (last.type() != IntLayer.Type.LINEAR || !refs[refs.length - 1].real().equals(OUTPUT)) {
                throw new IllegalArgumentException("onnx export: the integer model must end with its FC logits");
            }
            String version = OnnxExport.class.getPackage().getImplementationVersion();
            return g.model(INPUT, model.inputSpec().shape(), OUTPUT, new int[] {model.numClasses()},
                    version == null ? "dev" : version);
        }

        // ------------------------------------------------------------ the float prefix

        private String prefix(Module m, String x) {
            if (m instanceof Sequential s) {
                for (Module c : s.children()) {
                    x = prefix(c, x);
                }
                return x;
            }
            if (m instanceof ResidualBlock r) {
                String in = r.pre() == null ? x : prefix(r.pre(), x);
                String h = prefix(r.main(), in);
                String id = r.shortcut() == null ? in : prefix(r.shortcut(), in);
                String sum = g.node("Add", r.name() + ".add", List.of(h, id));
                return r.post() == null ? sum : prefix(r.post(), sum);
            }
            if (m instanceof QConv2d c) {
                int[] ws = c.weight().value().shape();
                return conv(c.name(), x, prefixWeights(c), null, ws, c.params());
            }
            if (m instanceof BatchNorm2d bn) {
                return g.node("BatchNormalization", bn.name(), List.of(x,
                        g.floats(bn.name() + ".weight", bn.gamma().value().toFloatArray(), bn.channels()),
                        g.floats(bn.name() + ".bias", bn.beta().value().toFloatArray(), bn.channels()),
                        g.floats(bn.name() + ".running_mean", bn.runningMean().value().toFloatArray(), bn.channels()),
                        g.floats(bn.name() + ".running_var", bn.runningVar().value().toFloatArray(), bn.channels())),
                        Attr.of("epsilon", BatchNorm2d.EPS));
            }
            if (m instanceof Clamp c) {
                return c.isRelu6()
                        ? g.node("Clip", c.name(), List.of(x, g.floats(c.name() + ".min", new float[] {0f}),
                                g.floats(c.name() + ".max", new float[] {6f})))
                        : g.node("Relu", c.name(), List.of(x));
            }
            if (m instanceof ActQuant q) {
                return q.quantizer().isIdentity() ? x : actQuant(q, x);
            }
            if (m instanceof Pool p) {
                return pool(p.name(), x, p.kernel());
            }
            if (m instanceof Flatten f) {
                return g.node("Flatten", f.name(), List.of(x), Attr.of("axis", 1));
            }
            throw new IllegalArgumentException("onnx export: layer " + m.name() + " is a " + m.getClass().getSimpleName()
                    + ", which the float prefix export does not know");
        }

        private String actQuant(ActQuant q, String x) {
            ActQuantizer aq = q.quantizer();
            float alpha = q.alpha() == null ? 0f : q.alpha().value().toFloatArray()[0];
            int n = aq.maxCode();
            // the real value of one code, as the fake-quant value() divides by it: code / (n / alpha)
            double scale = switch (aq.kind()) {
                case PACT, MPACT -> 1.0 / (double) ((float) n / Math.abs(alpha));
                case FIXED_CLIP -> aq.fixedClip() / (double) n;
                case DOREFA -> 1.0 / n;
            };
            if (aq.hasAlpha() && !(aq.kind() == ActQuantizer.Kind.MPACT ? alpha != 0f : alpha > 0f)) {
                throw new IllegalArgumentException("onnx export: quantizer " + q.name() + " has clip α " + alpha
                        + ", which makes every code 0 (no scale to export)");
            }
            if (aq.kind() == ActQuantizer.Kind.DOREFA) { // DoReFa clips 0.1 x to [0, 1]
                x = g.node("Mul", q.name() + ".tenth", List.of(x, g.floats(q.name() + ".tenth_factor", new float[] {0.1f})));
            }
            Ref r = quantize(q.name(), x, scale, aq.minCode(), n);
            if (r.codes() != null) {
                codesOf.put(r.real(), r.codes());
            }
            return r.real();
        }

        /** A prefix conv's weights: float, or fake-quant codes (int8) behind a DequantizeLinear. */
        private String prefixWeights(QConv2d c) {
            Tensor w = c.weight().value();
            int bits = c.weightBits();
            if (bits == 32) {
                return g.floats(c.name() + ".weight", w.toFloatArray(), dims(w.shape()));
            }
            float[] v;
            try (Tensor q = backend.weightQuant(w, bits)) {
                v = q.toFloatArray();
            }
            if (bits < 2 || bits > 8) { // 1 bit scales by mean|w|, wider codes are no byte: keep the float values
                return g.floats(c.name() + ".weight", v, dims(w.shape()));
            }
            int s = WeightQuantizer.maxCode(bits);
            int[] codes = new int[v.length];
            for (int i = 0; i < v.length; i++) {
                codes[i] = (int) (bits == 2 ? v[i] : Math.rint(v[i] * (float) s)); // value = code / s (2 bits: ±1)
            }
            String wc = g.bytes(c.name() + ".weight_codes", OnnxGraph.INT8, codes, dims(w.shape()));
            return dequantize(c.name() + ".weight", wc, new float[] {bits == 2 ? 1f : (float) (1.0 / s)}, null);
        }

        // ------------------------------------------------------------ the integer layers

        private Ref requant(IntLayer l, Ref[] refs, IntValue in, IntValue out) {
            String x = refs[l.input()].real();
            int channels = out.shape()[0];
            float[] bias = new float[channels];
            float[] factor = new float[channels]; // real output per real input: s_out * M_c / s_in
            for (int c = 0; c < channels; c++) {
                double unit = Math.scalb(out.scale(), -l.shift()[c]);
                bias[c] = (float) (l.bias()[c] * unit);
                factor[c] = (float) (l.multiplier()[c] * unit / in.scale());
            }
            long[] perChannel = new long[out.shape().length + 1]; // [1, C, 1, 1]: broadcasts over N, H, W
            java.util.Arrays.fill(perChannel, 1);
            perChannel[1] = channels;
            String y;
            if (l.hasConv()) {
                int[] ws = l.weightShape();
                String w;
                if (l.weightBits() <= 8) {
                    String wc = g.bytes(l.name() + ".weight_codes", OnnxGraph.INT8, l.weights(), dims(ws));
                    w = dequantize(l.name() + ".weight", wc, factor, 0);
                } else { // wider codes are no byte: the dequantized weights in float
                    float[] wf = new float[l.weights().length];
                    int perOut = wf.length / ws[0];
                    for (int i = 0; i < wf.length; i++) {
                        wf[i] = l.weights()[i] * factor[i / perOut];
                    }
                    w = g.floats(l.name() + ".weight", wf, dims(ws));
                }
                y = conv(l.name() + ".conv", x, w, null, ws, ConvParams.of(l.stride(), l.pad(), l.groups()));
                // The bias is an Add, not the Conv's third input: ONNX Runtime quantizes a float bias next to a
                // dequantized input and weight to int32 in accumulator units (s_in * weight scale), which moves it
                // by up to half a unit; B_c has 2^-shift resolution and the codes must round as the integer model's.
                y = g.node("Add", l.name() + ".bias_add", List.of(y, g.floats(l.name() + ".bias", bias, perChannel)));
            } else { // a BN or rescale between quantizers: per channel factor * x + bias
                y = g.node("Mul", l.name() + ".scale", List.of(x, g.floats(l.name() + ".factor", factor, perChannel)));
                y = g.node("Add", l.name() + ".shift", List.of(y, g.floats(l.name() + ".bias", bias, perChannel)));
            }
            if (l.hasResidual()) {
                y = g.node("Add", l.name() + ".add", List.of(y, residual(l, refs[l.residual()].real(),
                        model.values().get(l.residual()), out, perChannel)));
            }
            return quantize(l.name(), y, out.scale(), l.qmin(), l.qmax());
        }

        /**
         * The residual's real contribution {@code s_out * M_id * res}: its dequantized value itself where
         * {@code s_out * M_id = s_res} (PACT, mPACT: the add of the trained graph), else scaled per channel (a DoReFa
         * quantizer after the add multiplies the residual by 0.1 too).
         */
        private String residual(IntLayer l, String res, IntValue resValue, IntValue out, long[] perChannel) {
            int channels = out.shape()[0];
            float[] factor = new float[channels];
            boolean identity = true;
            for (int c = 0; c < channels; c++) {
                factor[c] = (float) (Math.scalb(out.scale(), -l.shift()[c]) * l.residualMultiplier()[c]
                        / resValue.scale());
                identity &= Math.abs(factor[c] - 1.0) <= 1e-6;
            }
            return identity ? res
                    : g.node("Mul", l.name() + ".residual", List.of(res, g.floats(l.name() + ".residual_factor", factor,
                            perChannel)));
        }

        private String linear(IntLayer l, String x, IntValue in, IntValue out) {
            int[] ws = l.weightShape();
            // logit unit = s_in * step / 2^fracBits, so one weight code is worth step = unit * 2^fracBits / s_in
            double step = Math.scalb(out.scale(), l.fracBits()) / in.scale();
            String w;
            if (l.weightBits() <= 8) {
                String wc = g.bytes(l.name() + ".weight_codes", OnnxGraph.INT8, l.weights(), dims(ws));
                w = dequantize(l.name() + ".weight", wc, new float[] {(float) step}, null);
            } else { // 16-bit FC codes are no byte: the dequantized weights in float
                float[] wf = new float[l.weights().length];
                for (int i = 0; i < wf.length; i++) {
                    wf[i] = (float) (l.weights()[i] * step);
                }
                w = g.floats(l.name() + ".weight", wf, dims(ws));
            }
            float[] bias = new float[ws[0]];
            for (int o = 0; o < bias.length; o++) {
                bias[o] = (float) (l.bias()[o] * out.scale());
            }
            String flat = g.node("Flatten", l.name() + ".flatten", List.of(x), Attr.of("axis", 1));
            return g.node("Gemm", OUTPUT, List.of(flat, w, g.floats(l.name() + ".bias", bias, ws[0])),
                    Attr.of("transB", 1));
        }

        // ------------------------------------------------------------ shared pieces

        private String conv(String name, String x, String w, String bias, int[] ws, ConvParams p) {
            List<String> inputs = bias == null ? List.of(x, w) : List.of(x, w, bias);
            return g.node("Conv", name, inputs,
                    Attr.ints("kernel_shape", ws[2], ws[3]),
                    Attr.ints("strides", p.strideH(), p.strideW()),
                    Attr.ints("pads", p.padH(), p.padW(), p.padH(), p.padW()),
                    Attr.of("group", p.groups()));
        }

        private String pool(String name, String x, int kernel) {
            return kernel == 0 ? g.node("GlobalAveragePool", name, List.of(x))
                    : g.node("AveragePool", name, List.of(x), Attr.ints("kernel_shape", kernel, kernel),
                            Attr.ints("strides", kernel, kernel));
        }

        /**
         * The quantizer {@code clamp(round(x / scale), lo, hi)} and its real value {@code code * scale}: a
         * QuantizeLinear/DequantizeLinear pair where the codes fit a byte, else the same arithmetic in float.
         */
        private Ref quantize(String name, String x, double scale, long lo, long hi) {
            float s = (float) scale;
            if (!(s > 0f) || !Float.isFinite(s)) {
                throw new IllegalArgumentException("onnx export: " + name + " has code scale " + scale);
            }
            String sName = g.floats(name + ".scale", new float[] {s});
            boolean int8 = lo >= -128 && hi <= 127;
            if (!int8 && !(lo >= 0 && hi <= 255)) {
                // ONNX Round is half to even, as the integer model's rounding and fake-quant's rint
                String code = g.node("Round", name + ".round", List.of(g.node("Div", name + ".div", List.of(x, sName))));
                String clipped = g.node("Clip", name + ".clip", List.of(code,
                        g.floats(name + ".lo", new float[] {lo}), g.floats(name + ".hi", new float[] {hi})));
                return new Ref(g.node("Mul", name + ".value", List.of(clipped, sName)), null);
            }
            long typeLo = int8 ? -128 : 0, typeHi = int8 ? 127 : 255;
            String clipped = x;
            if (lo == 0 && hi == typeHi && typeLo < 0) {
                clipped = g.node("Relu", name + ".relu", List.of(x));
            } else if (lo != typeLo || hi != typeHi) { // QuantizeLinear saturates only at the byte's limits
                clipped = g.node("Clip", name + ".clip", List.of(x,
                        g.floats(name + ".lo", new float[] {(float) (lo * (double) s)}),
                        g.floats(name + ".hi", new float[] {(float) (hi * (double) s)})));
            }
            int type = int8 ? OnnxGraph.INT8 : OnnxGraph.UINT8;
            String zero = g.bytes(name + ".zero_point", type, new int[] {0});
            String codes = g.node("QuantizeLinear", name + ".codes", List.of(clipped, sName, zero));
            String real = g.node("DequantizeLinear", name, List.of(codes, sName, zero));
            return new Ref(real, codes);
        }

        /** DequantizeLinear of int8 codes: one scale, or one per slice of {@code axis}. */
        private String dequantize(String name, String codes, float[] scales, Integer axis) {
            if (axis == null) {
                return g.node("DequantizeLinear", name, List.of(codes, g.floats(name + ".scale", scales),
                        g.bytes(name + ".zero_point", OnnxGraph.INT8, new int[] {0})));
            }
            return g.node("DequantizeLinear", name, List.of(codes, g.floats(name + ".scale", scales, scales.length),
                    g.bytes(name + ".zero_point", OnnxGraph.INT8, new int[scales.length], scales.length)),
                    Attr.of("axis", axis));
        }

        private static long[] dims(int[] shape) {
            long[] d = new long[shape.length];
            for (int i = 0; i < d.length; i++) {
                d[i] = shape[i];
            }
            return d;
        }
    }
}
