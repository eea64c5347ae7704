package dev.qat4j.integer.export;

import dev.qat4j.backend.Backend;
import dev.qat4j.integer.IntLayer;
import dev.qat4j.integer.IntValue;
import dev.qat4j.integer.IntegerModel;
import dev.qat4j.integer.export.OnnxGraph.Attr;
import dev.qat4j.nn.ActQuant;
import dev.qat4j.nn.Module;
import dev.qat4j.quant.Rounding;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * Writes an end-to-end {@link IntegerModel} as an int8 ONNX model in QDQ form (opset 13) that ONNX Runtime runs on
 * integer kernels: on CPU with its default optimizations ({@code ORT_ENABLE_ALL}) every convolution becomes a
 * {@code QLinearConv} (uint8 activations, int8 per-output-channel weights, int32 bias) and every residual add a
 * {@code QLinearAdd} (com.microsoft); only the final average pool and the FC run in float.
 *
 * <h2>Interface</h2>
 * <ul>
 *   <li>Input {@value #INPUT} [N, C, H, W]: the integer model's value 0, the codes of the network-input quantizer
 *       exactly as {@link IntegerModel#boundaryCodes} returns them, as int8 (uint8 where that quantizer is unsigned,
 *       e.g. PACT or DoReFa). The caller quantizes the normalized image; nothing float precedes the codes.</li>
 *   <li>Output {@value #OUTPUT} [N, classes], float, in real units: the integer model's int64 logits times
 *       {@link IntegerModel#logitScale} (the fake-quant model's logits), up to float rounding.</li>
 * </ul>
 *
 * <h2>How each value is stored</h2>
 * Every integer value of the model (a quantizer's codes {@code q} with real value {@code q * s}) travels as a
 * <b>uint8</b> tensor {@code u = q + z}: zero point {@code z = 0} for unsigned codes (a ReLU's, PACT's, DoReFa's) and
 * {@code z = 128} for signed ones (mPACT's ±127), scale {@code s} (float32, the real value of one code), both rank-0
 * scalars. uint8 because ONNX Runtime on x86 fuses a convolution only on uint8 activations (int8 activations need
 * its ARM build), and its own int8-to-uint8 rewrite needs a QuantizeLinear followed directly by a
 * DequantizeLinear, which the clip below would break. The int8 input is moved to that form once, by
 * {@code DequantizeLinear(codes, s, 0) -> QuantizeLinear(s, uint8 128)}, exact for every code.
 *
 * <h2>One integer layer ({@link IntLayer.Type#REQUANT}) = one QDQ group</h2>
 * The integer layer computes, per output channel c,
 * {@code q_out = clamp(round((acc * M_c + res * M_id,c + B_c) / 2^shift_c), qmin, qmax)}. Its ONNX form:
 * <pre>
 *   x  = DequantizeLinear(u_in, s_in, z_in)
 *   w  = DequantizeLinear(W int8 [Cout, Cin/g, kh, kw], w_scale float [Cout], 0 int8 [Cout], axis 0)
 *   b  = DequantizeLinear(bias int32 [Cout], s_in * w_scale float [Cout], 0 int32 [Cout], axis 0)
 *   y  = Conv(x, w, b)                                    (strides, pads, group as the layer)
 *   u  = QuantizeLinear(y, s_out, z_out uint8)           (rounds half to even, saturates at 0..255)
 *   u  = Clip(u, qmin + z_out, qmax + z_out)              (uint8 bounds; only where [qmin, qmax] is narrower)
 * </pre>
 * with {@code w_scale[c] = s_out * |M_c| / 2^shift_c / s_in} (so that {@code s_in * w_scale[c] / s_out}, the factor
 * ONNX Runtime's QLinearConv applies to its int32 accumulator, is the layer's {@code |M_c| / 2^shift_c}), weight codes
 * {@code W} those of the integer model (negated in a channel whose {@code M_c} is negative, e.g. a negative BN
 * gamma, so that every scale is positive) and {@code bias[c] = round(B_c / |M_c|)} (half to even), the layer's bias
 * in accumulator units. A channel with {@code M_c = 0} gets zero weights, {@code w_scale = s_out / 2^shift_c / s_in}
 * and {@code bias = B_c}. The clamp of the integer layer is a saturating QuantizeLinear followed by an integer Clip on
 * the codes: {@code clamp(round(x), lo, hi) = clip(saturate(round(x)), lo, hi)} for byte-wide {@code [lo, hi]}; a
 * Clip or Relu on the float side would sit between Conv and QuantizeLinear and keep the convolution in float.
 * A REQUANT without a convolution (a BN or rescale between two quantizers) is written the same way as a depthwise
 * 1x1 convolution whose weight codes are ±1.
 *
 * <p><b>With a residual</b>, the convolution is quantized first to an intermediate uint8 value {@code m} (zero point
 * 128, no clip, scale {@code s_m}) and then
 * {@code QuantizeLinear(DequantizeLinear(m, s_m, 128) + DequantizeLinear(u_res, s_r, z_res), s_out, z_out)}, clipped
 * as above. {@code s_r = s_out * M_id / 2^shift} is the residual's weight in the layer: the residual value's own
 * scale where the trained graph adds it as it is (PACT, mPACT), 0.1 times it after a DoReFa quantizer, which scales
 * its whole input. ONNX Runtime fuses that into {@code QLinearAdd}. The intermediate rounding is one the integer
 * model does not have. Its scale {@code s_m} is the output's scale times the smallest power of two 2^j whose int8
 * range [-128 2^j, 127 2^j] holds the output's own codes: j = 0 for signed 8-bit codes (mPACT's) and every narrower
 * code, j = 1 for unsigned 8-bit codes (PACT's, DoReFa's 0..255). At the output's scale the intermediate is exact
 * where the residual adds at the output's scale ({@code M_id / 2^shift = 1}; in the fine-tuned end-to-end ResNet20
 * exactly 1 in five residual layers, within 3e-5 of 1 in three, 1.21 in the first): {@code round(round(u) + r) =
 * round(u + r)} for an integer r, but for saturation at |u| &gt; 127.5 codes, which a trained ResNet20 did not
 * reach on CIFAR-10 (|u| at most 131 codes in 200 images, 99.99th percentile under 100, in its widest block). A finer scale rounds less but saturates often (at half the
 * output's scale 25% of the codes differ), a coarser one rounds every other code the wrong way (at twice it: 50%,
 * the price of PACT's unsigned 8-bit codes). Where {@code M_id / 2^shift} is not an integer, about a quarter of a
 * residual layer's codes round differently.
 *
 * <h2>The end</h2>
 * The sum pool before the FC is a float {@code AveragePool}/{@code GlobalAveragePool} of the dequantized codes (the
 * pooled value's scale already divides by the window), the FC a float {@code Gemm} on it with the dequantized weight
 * codes (float weights where they are wider than 8 bits) and the float bias.
 *
 * <h2>Exactness</h2>
 * Everything is integer except three roundings. (1) The bias in accumulator units: {@code B_c / |M_c|} rounded, off
 * by at most half an accumulator unit, i.e. {@code |M_c| / 2^(shift_c + 1)} of an output code (3e-4 to 2e-3 of a
 * code in the trained ResNet20); QLinearConv has no finer bias. (2) ONNX Runtime's float32 requantization factor
 * ({@code s_in * w_scale / s_out}, ~24 bits where the integer model's multiplier has 32). (3) The residual's
 * intermediate above. Each moves a code only where the integer model's value sits within a
 * hair of a rounding boundary, but a moved code moves its neighbours' sums in the next layer, so the differences
 * grow with depth. Measured by OnnxExportTest on all 10,000 CIFAR-10 test images with the fine-tuned end-to-end
 * ResNet20 ({@code bench/results/integer/e2e/resnet20-int8-mpact-e2e.qck}): ONNX Runtime computes this QDQ form
 * (the test's QDQ reference) to within float rounding, and its top-1 class agrees with qat4j's integer model on
 * 97.75% of the images (97.84% for the model converted with biases in accumulator units, which removes (1)): (3)
 * dominates there, from the first residual layer, whose residual factor is 1.21 (its residual is the stem quantizer's
 * codes, whose clip α differs from the block output's). The ResNet20 fine-tuned with each stage's residual stream
 * under one shared clip (preset {@code int8-mpact-e2e-tied},
 * {@code bench/results/integer/e2e/resnet20-int8-mpact-e2e-tied.qck}) has factor 1 everywhere, which leaves (1), (2)
 * and saturation: converted with biases in accumulator units its integer model is exactly what this form computes
 * (the file is the same byte for byte for both conversions) and ONNX Runtime's top-1 agrees with it on 99.96% of
 * the 10,000 images; converted exactly, (1) alone separates them (up to 5e-3 of an output code there), amplified
 * through the convolutions: 98.07%. The same checkpoint with each BN β moved by that rounding (the test tool
 * {@code BiasSnap}; {@code resnet20-int8-mpact-e2e-tied-snapped.qck}) has whole accumulator-unit biases in the exact
 * conversion too: ONNX Runtime agrees with its exact integer model on 99.97%.
 * The integer model's other round-to-nearest modes (half up, half away from zero) differ from the QDQ form's half
 * to even only on exact ties and are accepted; floor and toward-zero rounding are refused.
 *
 * <h2>What is refused</h2>
 * {@link IllegalArgumentException} with a one-line message naming the layer, before anything is written: a model
 * whose float prefix holds anything but the network-input quantizer (not integer end to end), a value wider than a
 * byte read by a convolution or written by a REQUANT (e.g. ToyNet's int32 BN intermediate), weights wider than 8
 * bits in a convolution, a sum pool feeding anything but the FC, a bias that does not fit int32, a layer not followed
 * by the FC at the end.
 *
 * <p>The ONNX wire format is written with {@code com.google.protobuf:protobuf-java}, an <em>optional</em> dependency
 * of qat4j (the {@code qat4j} CLI jar bundles it): an application that calls this export must declare
 * {@code protobuf-java} (the version in qat4j's pom) itself, or this class fails with {@link NoClassDefFoundError}.
 */
public final class OnnxExport {
    public static final String INPUT = "image_codes";
    public static final String OUTPUT = "logits";

    /**
     * The intermediate scale of a residual layer's main branch (in output codes; stored as int8 codes, zero point
     * 128), as {@link #intermediateScale} reads it: {@value #INTERMEDIATE_AUTO} (the default) is the rule of the class
     * comment; {@code k >= 0} is {@code s_out / 2^k}; {@value #INTERMEDIATE_SAFE} the coarsest scale whose range holds
     * every main-branch value that can change the clamped output, [qmin - r_hi, qmax - r_lo] with r the residual's
     * contribution (about twice the output's scale: it rounds half the codes differently).
     */
    static final int DEFAULT_INTERMEDIATE = -2;

    /**
     * The residual layers whose int8 form is not exact even without bias rounding: their residual weighs a
     * non-integer number of output codes ({@code f = M_id / 2^shift}), so rounding the conv to the 8-bit intermediate
     * before QLinearAdd moves about a quarter of their codes (see the class comment). A factor within
     * {@value #RESIDUAL_TOLERANCE} of a code of a whole number over the residual's range ({@code |f - round(f)| *
     * max|residual|}) moves codes no more often than the bias rounding does and is not listed. Empty for a model whose
     * residual streams share their quantizer's clip.
     */
    public static java.util.List<String> inexactResidualLayers(IntegerModel model) {
        java.util.List<String> names = new java.util.ArrayList<>();
        for (IntLayer l : model.layers()) {
            if (l.hasResidual()) {
                double f = Math.scalb((double) l.residualMultiplier()[0], -l.shift()[0]);
                double off = Math.abs(f - Math.rint(f)) * model.values().get(l.residual()).maxAbs();
                if (off > RESIDUAL_TOLERANCE) {
                    names.add(l.name());
                }
            }
        }
        return names;
    }

    /**
     * How far the int8 form moves the model's conv biases: QLinearConv takes a bias only in whole accumulator units
     * ({@code round(B_c / |M_c|)}, half to even), so each channel's bias moves by up to half a unit. The largest move,
     * in output codes ({@code |B_c - units * |M_c|| / 2^shift_c}); 0 for a model converted with biases in accumulator
     * units (or a checkpoint whose BN biases already sit on that grid), whose integer model ONNX Runtime then computes.
     */
    public static double largestBiasRounding(IntegerModel model) {
        double worst = 0;
        for (IntLayer l : model.layers()) {
            if (l.type() != IntLayer.Type.REQUANT) {
                continue;
            }
            for (int c = 0; c < l.multiplier().length; c++) {
                long m = Math.abs((long) l.multiplier()[c]);
                if (m == 0) {
                    continue;
                }
                long units = roundHalfEven(l.bias()[c], m);
                worst = Math.max(worst, Math.scalb(Math.abs((double) (l.bias()[c] - units * m)), -l.shift()[c]));
            }
        }
        return worst;
    }

    /** Output codes a residual factor may miss a whole number by, over the residual's range, and count as exact. */
    static final double RESIDUAL_TOLERANCE = 0.01;
    static final int INTERMEDIATE_AUTO = -2;
    static final int INTERMEDIATE_SAFE = -1;

    private OnnxExport() {
    }

    /**
     * Writes {@code model} to {@code file} (whole, or not at all: a temporary file beside it is renamed over it; a
     * model that cannot be exported is refused before anything is created). {@code backend} is unused by the int8
     * form (an end-to-end model has no float parameters before its integer part) and kept for the CLI's call.
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

    /** The serialized ModelProto (deterministic: the same model gives the same bytes). */
    public static byte[] toBytes(IntegerModel model, Backend backend) {
        return toBytes(model, backend, DEFAULT_INTERMEDIATE);
    }

    /** As {@link #toBytes(IntegerModel, Backend)} with another intermediate scale (tests measure the choice). */
    static byte[] toBytes(IntegerModel model, Backend backend, int intermediate) {
        if (model == null || backend == null) {
            throw new IllegalArgumentException("onnx export: model and backend are required");
        }
        model.check(); // the load check again, as the blob and C exports run it: the prefix may have changed since
        requireEndToEnd(model);
        return new Lowering(model, intermediate).run(-1);
    }

    /**
     * A graph that ends at value {@code value} (1 .. the last REQUANT's output): its uint8 codes (zero point 128
     * for signed values) as output {@value #VALUE_OUTPUT}. Tests compare them with the integer model's, layer by layer.
     */
    static byte[] toBytesUpTo(IntegerModel model, int intermediate, int value) {
        requireEndToEnd(model);
        return new Lowering(model, intermediate).run(value);
    }

    static final String VALUE_OUTPUT = "value_codes";

    /**
     * Whether the model is integer end to end: its float prefix is nothing but activation quantizers (the
     * network-input quantizer), so value 0 is the quantized image. (IntegerModel.isEndToEnd will say this.)
     */
    private static boolean isEndToEnd(IntegerModel model) {
        for (Module m : model.prefix()) {
            if (!(m instanceof ActQuant)) {
                return false;
            }
        }
        return true;
    }

    private static void requireEndToEnd(IntegerModel model) {
        if (isEndToEnd(model)) {
            return;
        }
        Module first = model.prefix().stream().filter(m -> !(m instanceof ActQuant)).findFirst().orElseThrow();
        while (!first.children().isEmpty()) {
            first = first.children().get(0);
        }
        throw new IllegalArgumentException("onnx export: " + (model.model() == null ? "the model" : model.model())
                + " is not integer end to end: its float prefix starts at " + first.name() + " (a "
                + first.getClass().getSimpleName() + " before the quantizer of " + model.values().get(0).name()
                + "); convert a checkpoint of an end-to-end preset (e.g. int8-mpact-e2e)");
    }

    /** The float32 scale a residual layer's main branch is quantized to before the add. */
    static float intermediateScale(int intermediate, IntLayer l, IntValue out, IntValue res, double resFactor) {
        if (intermediate >= 0) {
            return (float) Math.scalb(out.scale(), -intermediate);
        }
        if (intermediate == INTERMEDIATE_AUTO) {
            int j = 0;
            while (Math.scalb(128.0, j) < Math.max(l.qmax() + 1, -l.qmin())) {
                j++;
            }
            return (float) Math.scalb(out.scale(), j);
        }
        // u (main branch, in output codes) matters over [qmin - r_hi, qmax - r_lo]: beyond it the clamp decides
        double rLo = Math.min(0, res.lo() * resFactor), rHi = Math.max(0, res.hi() * resFactor);
        double need = Math.max((l.qmax() - rLo + 1) / 127.0, (rHi - l.qmin() + 1) / 128.0);
        return (float) (out.scale() * Math.max(need, 1e-30));
    }

    private static IllegalArgumentException refuse(IntLayer l, String why) {
        return new IllegalArgumentException("onnx export: layer " + l.name() + " " + why);
    }

    /** One integer value in the graph: its uint8 codes tensor, zero point and scale. */
    private record Codes(String tensor, int zero, float scale) {
    }

    private static final class Lowering {
        private final IntegerModel model;
        private final int intermediate;
        private final OnnxGraph g;

        Lowering(IntegerModel model, int intermediate) {
            this.model = model;
            this.intermediate = intermediate;
            this.g = new OnnxGraph(model.model() == null ? "qat4j" : model.model());
        }

        byte[] run(int stopAt) {
            List<IntValue> values = model.values();
            List<IntLayer> layers = model.layers();
            IntLayer last = layers.get(layers.size() - 1);
            if (last.type() != IntLayer.Type.LINEAR) {
                throw refuse(last, "ends the integer model, which must end with its FC logits");
            }
            for (int i = 0; i < layers.size(); i++) {
                IntLayer l = layers.get(i);
                if (l.type() == IntLayer.Type.LINEAR && i != layers.size() - 1) {
                    throw refuse(l, "(the FC) is not the last layer");
                }
            }
            Codes[] codes = new Codes[values.size()];
            String[] pooled = new String[values.size()];
            IntValue v0 = values.get(0);
            String input = g.fresh(INPUT);
            int inputType;
            float s0 = scaleOf(v0, "the input value");
            if (v0.lo() >= 0 && v0.hi() <= 255) {
                inputType = OnnxGraph.UINT8;
                codes[0] = new Codes(input, 0, s0);
            } else if (v0.lo() >= -128 && v0.hi() <= 127) {
                inputType = OnnxGraph.INT8;
                // int8 codes to the uint8 form (zero point 128): exact, q * s / s rounds back to q
                String real = g.node("DequantizeLinear", v0.name() + ".dequant", List.of(input,
                        g.floats(v0.name() + ".scale", new float[] {s0}),
                        g.bytes(v0.name() + ".zero_point", OnnxGraph.INT8, new int[] {0})));
                codes[0] = new Codes(quantize(v0.name() + ".u8", real, s0, 128), 128, s0);
            } else {
                throw new IllegalArgumentException("onnx export: the input value " + v0.name() + " has codes ["
                        + v0.lo() + ", " + v0.hi() + "], wider than a byte");
            }
            String logits = null;
            for (int i = 0; i < layers.size(); i++) {
                IntLayer l = layers.get(i);
                if (i == stopAt) {
                    Codes c = input(l, codes, stopAt);
                    g.node("Identity", VALUE_OUTPUT, List.of(c.tensor()));
                    return g.model(input, inputType, model.inputSpec().shape(), VALUE_OUTPUT, OnnxGraph.UINT8,
                            values.get(stopAt).shape(), "dev");
                }
                switch (l.type()) {
                    case REQUANT -> codes[i + 1] = pooled[l.input()] != null
                            ? requantPooled(l, pooled[l.input()], values.get(l.input()), values.get(i + 1))
                            : requant(l, codes, values.get(l.input()), values.get(i + 1));
                    case SUM_POOL -> {
                        for (IntLayer reader : layers) {
                            boolean reads = reader.input() == i + 1 || reader.residual() == i + 1;
                            boolean rescale = reader.type() == IntLayer.Type.REQUANT && !reader.hasConv()
                                    && !reader.hasResidual(); // e.g. ToyNet's quantizer between pool and FC
                            if (reads && reader.type() != IntLayer.Type.LINEAR && !rescale) {
                                throw refuse(l, "is a sum pool read by " + reader.name()
                                        + "; the int8 export keeps pooled sums only for the FC or a rescale before it");
                            }
                        }
                        pooled[i + 1] = pool(l, input(l, codes, l.input()), values.get(l.input()));
                    }
                    case LINEAR -> logits = linear(l, pooled[l.input()] != null ? pooled[l.input()]
                            : dequantize(l.name() + ".input", input(l, codes, l.input())), values.get(l.input()),
                            values.get(i + 1));
                }
            }
            if (!OUTPUT.equals(logits)) {
                throw new IllegalStateException("onnx export: the logits are named " + logits);
            }
            String version = OnnxExport.class.getPackage().getImplementationVersion();
            return g.model(input, inputType, model.inputSpec().shape(), OUTPUT, new int[] {model.numClasses()},
                    version == null ? "dev" : version);
        }

        private Codes input(IntLayer l, Codes[] codes, int value) {
            Codes c = codes[value];
            if (c == null) {
                IntValue v = model.values().get(value);
                throw refuse(l, "reads " + v.name() + " (codes [" + v.lo() + ", " + v.hi() + "]), which is no byte-wide "
                        + "quantizer output");
            }
            return c;
        }

        private static float scaleOf(IntValue v, String what) {
            float s = (float) v.scale();
            if (!(s > 0f) || !Float.isFinite(s)) {
                throw new IllegalArgumentException("onnx export: " + what + " " + v.name() + " has code scale "
                        + v.scale());
            }
            return s;
        }

        private Codes requant(IntLayer l, Codes[] codes, IntValue in, IntValue out) {
            Codes x = input(l, codes, l.input());
            int zOut = outputZero(l, out);
            float sOut = scaleOf(out, "the output");
            int channels = out.shape()[0];
            int[] weights;
            int[] ws;
            int stride, pad, groups;
            if (l.hasConv()) {
                if (l.weightBits() > 8) {
                    throw refuse(l, "has " + l.weightBits() + "-bit weights; QLinearConv takes 8 at most");
                }
                weights = l.weights().clone();
                ws = l.weightShape();
                stride = l.stride();
                pad = l.pad();
                groups = l.groups();
            } else { // a BN or rescale between quantizers: a depthwise 1x1 convolution of weight 1
                if (in.shape().length != 3) {
                    throw refuse(l, "rescales a value of shape " + java.util.Arrays.toString(in.shape())
                            + "; the int8 export writes it as a 1x1 convolution of [C, H, W]");
                }
                weights = new int[channels];
                java.util.Arrays.fill(weights, 1);
                ws = new int[] {channels, 1, 1, 1};
                stride = 1;
                pad = 0;
                groups = channels;
            }
            int perOut = weights.length / channels;
            float[] wScale = new float[channels];
            float[] bScale = new float[channels];
            int[] bias = new int[channels];
            for (int c = 0; c < channels; c++) {
                long m = l.multiplier()[c];
                long b = l.bias()[c];
                int shift = l.shift()[c];
                long biasUnits;
                if (m == 0) { // the channel is its bias alone: accumulator unit 2^-shift codes, weights 0
                    wScale[c] = (float) (Math.scalb((double) sOut, -shift) / x.scale());
                    java.util.Arrays.fill(weights, c * perOut, (c + 1) * perOut, 0);
                    biasUnits = b;
                } else {
                    wScale[c] = (float) (Math.scalb((double) sOut * Math.abs(m), -shift) / x.scale());
                    if (m < 0) {
                        for (int k = c * perOut; k < (c + 1) * perOut; k++) {
                            if (weights[k] == -128) {
                                throw refuse(l, "channel " + c + " has a negative multiplier and weight code -128, "
                                        + "which has no int8 negation");
                            }
                            weights[k] = -weights[k];
                        }
                    }
                    biasUnits = roundHalfEven(b, Math.abs(m));
                }
                if (biasUnits < Integer.MIN_VALUE || biasUnits > Integer.MAX_VALUE) {
                    throw refuse(l, "channel " + c + " has bias " + biasUnits + " accumulator units, beyond int32");
                }
                if (!(wScale[c] > 0f) || !Float.isFinite(wScale[c])) {
                    throw refuse(l, "channel " + c + " has weight scale " + wScale[c] + " (float32 cannot hold it)");
                }
                bias[c] = (int) biasUnits;
                bScale[c] = x.scale() * wScale[c];
            }
            String xs = dequantize(l.name() + ".input", x);
            String wc = g.bytes(l.name() + ".weight_codes", OnnxGraph.INT8, weights, dims(ws));
            String w = g.node("DequantizeLinear", l.name() + ".weight", List.of(wc,
                    g.floats(l.name() + ".weight_scale", wScale, channels),
                    g.bytes(l.name() + ".weight_zero_point", OnnxGraph.INT8, new int[channels], channels)),
                    Attr.of("axis", 0));
            String bc = g.int32s(l.name() + ".bias_codes", bias, channels);
            String bq = g.node("DequantizeLinear", l.name() + ".bias", List.of(bc,
                    g.floats(l.name() + ".bias_scale", bScale, channels),
                    g.int32s(l.name() + ".bias_zero_point", new int[channels], channels)), Attr.of("axis", 0));
            String y = g.node("Conv", l.name() + ".conv", List.of(xs, w, bq),
                    Attr.ints("kernel_shape", ws[2], ws[3]),
                    Attr.ints("strides", stride, stride),
                    Attr.ints("pads", pad, pad, pad, pad),
                    Attr.of("group", groups));
            String u;
            if (l.hasResidual()) {
                IntValue resValue = model.values().get(l.residual());
                Codes res = input(l, codes, l.residual());
                double resFactor = residualFactor(l); // output codes per residual code
                float sMid = intermediateScale(intermediate, l, out, resValue, resFactor);
                String mid = quantize(l.name() + ".main", y, sMid, 128);
                String a = dequantize(l.name() + ".main_value", new Codes(mid, 128, sMid));
                float sRes = (float) (resFactor * sOut);
                String r = dequantize(l.name() + ".residual", new Codes(res.tensor(), res.zero(), sRes));
                u = quantize(l.name() + ".codes", g.node("Add", l.name() + ".add", List.of(a, r)), sOut, zOut);
            } else {
                u = quantize(l.name() + ".codes", y, sOut, zOut);
            }
            return clamped(l, u, out, zOut, sOut);
        }

        /**
         * {@code M_id / 2^shift}, one factor for every channel: the residual's weight in output codes (QLinearAdd
         * takes one scale per input). The converter derives it from one real factor; the per-channel encodings
         * differ only in their rounding.
         */
        private static double residualFactor(IntLayer l) {
            double f0 = Math.scalb((double) l.residualMultiplier()[0], -l.shift()[0]);
            for (int c = 1; c < l.shift().length; c++) {
                double f = Math.scalb((double) l.residualMultiplier()[c], -l.shift()[c]);
                if (Math.abs(f - f0) > 1e-6 * Math.abs(f0)) {
                    throw refuse(l, "scales its residual by " + f0 + " in channel 0 and " + f + " in channel " + c
                            + "; QLinearAdd takes one scale");
                }
            }
            if (!(f0 > 0)) {
                throw refuse(l, "scales its residual by " + f0 + "; a DequantizeLinear scale must be positive");
            }
            return f0;
        }

        /**
         * The uint8 zero point of a REQUANT's output codes (0 unsigned, 128 signed), after refusing what the int8 form
         * cannot hold: codes wider than a byte, or a rounding other than to nearest.
         */
        private static int outputZero(IntLayer l, IntValue out) {
            if (l.rounding() == Rounding.FLOOR || l.rounding() == Rounding.TOWARD_ZERO) {
                throw refuse(l, "rounds " + l.rounding().name().toLowerCase(java.util.Locale.ROOT)
                        + "; QuantizeLinear and QLinearConv round to nearest");
            }
            int zOut = out.lo() >= 0 ? 0 : 128;
            if (out.lo() + zOut < 0 || out.hi() + zOut > 255) {
                throw refuse(l, "writes codes [" + out.lo() + ", " + out.hi() + "], wider than a byte");
            }
            return zOut;
        }

        /** The layer's clamp as an integer Clip on the uint8 codes where it is narrower than the byte's saturation. */
        private Codes clamped(IntLayer l, String u, IntValue out, int zOut, float sOut) {
            if (out.lo() + zOut > 0 || out.hi() + zOut < 255) {
                u = g.node("Clip", l.name() + ".clamp", List.of(u,
                        g.bytes(l.name() + ".lo", OnnxGraph.UINT8, new int[] {(int) out.lo() + zOut}),
                        g.bytes(l.name() + ".hi", OnnxGraph.UINT8, new int[] {(int) out.hi() + zOut})));
            }
            return new Codes(u, zOut, sOut);
        }

        /**
         * A rescale (REQUANT without conv) of a pooled value, in float: the pool gives the mean's real value
         * {@code x = sum * s_pool}, so {@code code = round(x * M_c / 2^shift_c / s_pool + B_c / 2^shift_c)}: a Mul and an
         * Add per channel in output codes, QuantizeLinear at scale 1 (half to even), the clamp as a Clip. Not a
         * convolution; float rounding can move a code that sits on a tie.
         */
        private Codes requantPooled(IntLayer l, String pooled, IntValue in, IntValue out) {
            int zOut = outputZero(l, out);
            float sOut = scaleOf(out, "the output");
            int channels = out.shape()[0];
            float[] factor = new float[channels], bias = new float[channels];
            for (int c = 0; c < channels; c++) {
                factor[c] = (float) (Math.scalb((double) l.multiplier()[c], -l.shift()[c]) / in.scale());
                bias[c] = (float) Math.scalb((double) l.bias()[c], -l.shift()[c]);
            }
            long[] perChannel = new long[out.shape().length + 1]; // [1, C, 1, 1]
            java.util.Arrays.fill(perChannel, 1);
            perChannel[1] = channels;
            String t = g.node("Mul", l.name() + ".scale", List.of(pooled, g.floats(l.name() + ".factor", factor,
                    perChannel)));
            t = g.node("Add", l.name() + ".shift", List.of(t, g.floats(l.name() + ".bias", bias, perChannel)));
            String u = quantize(l.name() + ".codes", t, 1f, zOut);
            return clamped(l, u, out, zOut, sOut);
        }

        private String pool(IntLayer l, Codes in, IntValue inValue) {
            String x = dequantize(l.name() + ".input", in);
            int kernel = l.poolKernel();
            if (kernel != 0 && inValue.shape().length == 3 && kernel == inValue.shape()[1]
                    && kernel == inValue.shape()[2]) {
                kernel = 0; // one window over the whole map
            }
            return kernel == 0 ? g.node("GlobalAveragePool", l.name(), List.of(x))
                    : g.node("AveragePool", l.name(), List.of(x), Attr.ints("kernel_shape", kernel, kernel),
                            Attr.ints("strides", kernel, kernel));
        }

        private String linear(IntLayer l, String x, IntValue in, IntValue out) {
            int[] ws = l.weightShape();
            // logit unit = s_in * step / 2^fracBits, so one weight code is worth step = unit * 2^fracBits / s_in
            double step = Math.scalb(out.scale(), l.fracBits()) / in.scale();
            String w;
            if (l.weightBits() <= 8) {
                String wc = g.bytes(l.name() + ".weight_codes", OnnxGraph.INT8, l.weights(), dims(ws));
                w = g.node("DequantizeLinear", l.name() + ".weight", List.of(wc,
                        g.floats(l.name() + ".weight_scale", new float[] {(float) step}),
                        g.bytes(l.name() + ".weight_zero_point", OnnxGraph.INT8, new int[] {0})));
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

        /** QuantizeLinear to uint8 with zero point {@code zero} (rank-0 scale and zero point). */
        private String quantize(String name, String x, float scale, int zero) {
            return g.node("QuantizeLinear", name, List.of(x, g.floats(name + ".scale", new float[] {scale}),
                    g.bytes(name + ".zero_point", OnnxGraph.UINT8, new int[] {zero})));
        }

        /** A DequantizeLinear of its own for each reader (ONNX Runtime groups one DQ with one consumer). */
        private String dequantize(String name, Codes c) {
            return g.node("DequantizeLinear", name, List.of(c.tensor(),
                    g.floats(name + ".scale", new float[] {c.scale()}),
                    g.bytes(name + ".zero_point", OnnxGraph.UINT8, new int[] {c.zero()})));
        }

        private static long[] dims(int[] shape) {
            long[] d = new long[shape.length];
            for (int i = 0; i < d.length; i++) {
                d[i] = shape[i];
            }
            return d;
        }
    }

    /** {@code num / den} rounded to nearest, ties to even ({@code den > 0}). */
    static long roundHalfEven(long num, long den) {
        long q = Math.floorDiv(num, den);
        long r = Math.floorMod(num, den); // in [0, den)
        long twice = 2 * r;
        if (twice > den || (twice == den && (q & 1) != 0)) {
            q++;
        }
        return q;
    }
}
