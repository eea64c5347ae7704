package dev.qat4j.integer;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.ConvParams;
import dev.qat4j.backend.IntegerProgram;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.InputSpec;
import dev.qat4j.nn.ActQuant;
import dev.qat4j.nn.Module;
import dev.qat4j.nn.QConv2d;
import dev.qat4j.nn.ResidualBlock;
import dev.qat4j.nn.Sequential;
import dev.qat4j.nn.Step;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Tensor;
import java.util.List;

/**
 * A trained QAT model turned into the integer model a chip runs ({@link IntegerConverter}): a float prefix (the
 * layers before the first activation quantizer that every path crosses, e.g. the FP32 stem, run exactly as the
 * fake-quant model runs them), the codes of that quantizer, then only integer ops ({@link IntLayer}) on integer
 * values ({@link IntValue}; value 0 is the boundary codes, value i+1 the output of layer i) up to int64 logits.
 *
 * <p>The integer part depends on nothing but these arrays: {@link #runIntegers} is deterministic, bit-identical on
 * every backend (the int8 convolutions go through {@link Backend#conv2dInt}, whose backends are tested equal; wider
 * operands use {@link IntKernels}), and thread-safe.
 */
public final class IntegerModel implements AutoCloseable {
    private final String model;
    private final BitWidths bits;
    private final List<Module> prefix;
    private final ActQuantizer boundary;
    private final float boundaryAlpha;
    private final List<IntValue> values;
    private final List<IntLayer> layers;
    private final String format;
    private final InputSpec spec;
    private final AutoCloseable owner;
    private final int[] lastUse;
    /** Per layer: conv and requant both run in the backend (the int8 case), values staying in backend memory. */
    private final boolean[] epilogueInBackend;
    private final byte[][] weightBytes;
    /** Per backend, the compiled whole forward (null: that backend runs it layer by layer). */
    private final java.util.Map<Backend, IntegerProgram.Compiled> compiled = new java.util.IdentityHashMap<>();

    IntegerModel(String model, BitWidths bits, List<Module> prefix, ActQuantizer boundary, float boundaryAlpha,
                 List<IntValue> values, List<IntLayer> layers, String format, InputSpec spec, AutoCloseable owner) {
        this.model = model;
        this.bits = bits;
        this.prefix = List.copyOf(prefix);
        this.boundary = boundary;
        this.boundaryAlpha = boundaryAlpha;
        this.values = List.copyOf(values);
        this.layers = List.copyOf(layers);
        this.format = format;
        this.spec = java.util.Objects.requireNonNull(spec, "input spec");
        this.owner = owner;
        check();
        this.lastUse = new int[values.size()];
        this.epilogueInBackend = new boolean[this.layers.size()];
        this.weightBytes = new byte[this.layers.size()][];
        for (int i = 0; i < this.layers.size(); i++) {
            IntLayer l = this.layers.get(i);
            if (runsInBackend(l)) {
                weightBytes[i] = new byte[l.weights().length];
                for (int k = 0; k < l.weights().length; k++) {
                    weightBytes[i][k] = (byte) l.weights()[k];
                }
                epilogueInBackend[i] = fitsBackendEpilogue(l);
            }
        }
        for (int i = 0; i < layers.size(); i++) {
            lastUse[layers.get(i).input()] = i;
            if (layers.get(i).hasResidual()) {
                lastUse[layers.get(i).residual()] = i;
            }
        }
    }

    /**
     * Checks the model as it is now ({@link IntegerModelCheck}): the graph's indices, 64-bit shapes and int64
     * headroom, and the boundary quantizer and α against the float prefix. The constructor runs it, and exporters run
     * it again: a converted model shares its prefix with the QuantModel, whose α further training may have moved.
     */
    public void check() {
        String where = "integer model" + (model == null ? "" : " of " + model);
        IntegerModelCheck.check(values, layers, where);
        IntegerModelCheck.boundary(prefix, boundary, boundaryAlpha, values.get(0), hasSeedStem(), where);
    }

    /** Observes each layer's output during {@link #runIntegers} (reports use it: ranges, per-layer differences). */
    @FunctionalInterface
    public interface Trace {
        /**
         * {@code out} is the layer's output for the whole batch (null for the final linear layer, whose int64 logits
         * {@link #runIntegers} returns); its accumulators ranged over [accMin, accMax].
         */
        void layer(int index, IntLayer layer, int[] out, long accMin, long accMax);
    }

    /** The library model it came from (e.g. resnet20), or null for a user's own network. */
    public String model() {
        return model;
    }

    public BitWidths bits() {
        return bits;
    }

    public List<Module> prefix() {
        return prefix;
    }

    /** The quantizer whose codes start the integer part, and its clip α. */
    public ActQuantizer boundary() {
        return boundary;
    }

    public float boundaryAlpha() {
        return boundaryAlpha;
    }

    public List<IntValue> values() {
        return values;
    }

    public List<IntLayer> layers() {
        return layers;
    }

    /** The requantization format asked for, e.g. {@code dyadic32/half_even}. */
    public String format() {
        return format;
    }

    /** Real value of one unit of the logits. */
    public double logitScale() {
        return values.get(values.size() - 1).scale();
    }

    /** The input and output of the model it came from: image shape, normalisation, class names. */
    public InputSpec inputSpec() {
        return spec;
    }

    public int numClasses() {
        IntValue out = values.get(values.size() - 1);
        return out.numel();
    }

    /** Images [N, C, H, W] of {@link #inputSpec()}'s shape (float, normalized) to logits [N * classes] in int64. */
    public long[] logits(Backend backend, Tensor images) {
        if (backend == null || images == null) {
            throw new IllegalArgumentException("integer model: backend and images must not be null");
        }
        return runIntegers(backend, boundaryCodes(backend, images), images.dim(0), null);
    }

    /**
     * The float prefix, then the boundary quantizer's codes, [N, C, H, W] flattened. Images with a NaN or infinite
     * pixel are refused before the prefix runs: their codes would be made up ((int) NaN is 0), where the fake-quant
     * model returns NaN logits.
     */
    public int[] boundaryCodes(Backend backend, Tensor images) {
        if (backend == null || images == null || images.rank() != 4) {
            throw new IllegalArgumentException("integer model: needs a backend and images [N, C, H, W], got "
                    + (images == null ? "null" : java.util.Arrays.toString(images.shape())));
        }
        int[] s = images.shape();
        if (s[1] != spec.channels() || s[2] != spec.height() || s[3] != spec.width()) {
            throw new IllegalArgumentException("integer model" + (model == null ? "" : " of " + model)
                    + ": expects images [N, " + spec.channels() + ", " + spec.height() + ", " + spec.width()
                    + "], got " + java.util.Arrays.toString(s));
        }
        float[] pixels = images.toFloatArray();
        requireFinite(pixels, images.shape(), "pixel");
        if (prefix.size() == 1 && isEndToEnd()) {
            // only the input quantizer: its codes straight from the normalised pixels, by the very arithmetic of
            // ActQuantizer.code, which every backend's actQuant reproduces bit for bit (NativeConformanceTest)
            int[] codes = new int[pixels.length];
            // image by image in parallel: each code depends on its own pixel only
            int perImage = pixels.length / s[0];
            java.util.stream.IntStream.range(0, s[0]).parallel().forEach(b -> {
                for (int i = b * perImage, end = i + perImage; i < end; i++) {
                    codes[i] = (int) boundary.code(pixels[i], boundaryAlpha);
                }
            });
            return codes;
        }
        try (Step step = new Step(backend, false)) {
            Tensor x = images;
            for (Module m : prefix) {
                x = m.forward(step, x);
            }
            float[] v = x.toFloatArray();
            // finite pixels can still overflow in the float prefix (e.g. 1e38 through a conv)
            requireFinite(v, x.shape(), "float prefix output (" + values.get(0).name() + ")");
            int[] codes = new int[v.length];
            // the prefix ends with the boundary quantizer, so v = value(code); inverting value() recovers the code
            // exactly (|code| < 2^16 and v carries 24 significant bits). Quantizing v again would not: DoReFa would
            // apply its 0.1 a second time.
            for (int i = 0; i < v.length; i++) {
                codes[i] = codeOfValue(v[i]);
            }
            return codes;
        }
    }

    /** IllegalArgumentException naming the image, channel, row, column and value of the first non-finite entry. */
    private static void requireFinite(float[] v, int[] shape, String what) {
        for (int i = 0; i < v.length; i++) {
            if (!Float.isFinite(v[i])) {
                int perImage = v.length / shape[0];
                int w = shape[shape.length - 1], h = shape.length == 4 ? shape[2] : 1;
                int at = i % perImage;
                throw new IllegalArgumentException("integer model: image " + i / perImage + " has " + what + " "
                        + v[i] + " at channel " + at / (h * w) + ", row " + at / w % h + ", column " + at % w
                        + " (only finite values can be quantized)");
            }
        }
    }

    /**
     * Whether the model is integer from its input to its logits: the float prefix is only the quantizer of the
     * normalised image (an {@link ActQuant}), so value 0 holds the image's codes and every conv is integer. Such a
     * model also runs from uint8 pixels ({@link #inputCodeTable()}).
     */
    public boolean isEndToEnd() {
        for (Module m : prefix) {
            if (!(m instanceof ActQuant)) {
                return false;
            }
        }
        return !prefix.isEmpty() && !hasSeedStem();
    }

    /**
     * Why the model is not integer end to end, as "LAYER runs in float (REASON)", naming the first float layer of
     * the prefix; null when it is ({@link #isEndToEnd()}).
     */
    public String floatPrefixReason() {
        if (isEndToEnd()) {
            return null;
        }
        boolean inputQuantized = false;
        for (Module m : leaves(prefix)) {
            if (m instanceof ActQuant q) {
                inputQuantized |= !q.quantizer().isIdentity();
                continue;
            }
            if (m instanceof QConv2d c && c.weightBits() == 32) {
                return c.name() + " runs in float (32-bit weights)";
            }
            if (m instanceof SeedStemConv) {
                return m.name() + " runs in float (the seed's stem: a float conv of the image, truncated)";
            }
            return m.name() + " runs in float (" + (inputQuantized ? "its input is not quantized"
                    : "the image is not quantized: no input quantizer") + ")";
        }
        return "the prefix is empty";
    }

    private static List<Module> leaves(List<Module> modules) {
        List<Module> out = new java.util.ArrayList<>();
        for (Module m : modules) {
            if (m instanceof Sequential s) {
                out.addAll(leaves(s.children()));
            } else if (m instanceof ResidualBlock r) {
                out.add(r); // a block in the prefix: its input is already float
            } else {
                out.add(m);
            }
        }
        return out;
    }

    /**
     * For an end-to-end model, the input code of every pixel value: {@code table[c * 256 + v]} is the code the input
     * quantizer gives pixel value {@code v} (0..255) of channel {@code c} after {@link InputSpec#normalization()}
     * (float32, as the training data), i.e. {@link ActQuantizer#code} at the boundary α: the same float arithmetic
     * as the fake-quant model, so a chip (or {@link #logitsOfPixels}) maps uint8 pixels to the integer model's input
     * with a lookup, bit for bit. IllegalStateException for a model that is not end to end.
     */
    public int[] inputCodeTable() {
        if (!isEndToEnd()) {
            throw new IllegalStateException("integer model" + (model == null ? "" : " of " + model)
                    + " is not integer end to end (" + floatPrefixReason() + "): its input is no pixel code");
        }
        int[] table = new int[spec.channels() * 256];
        for (int c = 0; c < spec.channels(); c++) {
            for (int v = 0; v < 256; v++) {
                table[c * 256 + v] = (int) boundary.code(spec.normalization().apply(c, v), boundaryAlpha);
            }
        }
        return table;
    }

    /**
     * Logits of uint8 images [n, C, H, W] (pixel values 0..255, channel-major as {@link InputSpec} orders them) of an
     * end-to-end model: the {@link #inputCodeTable} lookup, then {@link #runIntegers}; no float arithmetic at all.
     */
    public long[] logitsOfPixels(Backend backend, byte[] pixels, int n) {
        int perImage = spec.channels() * spec.height() * spec.width();
        if (pixels == null || n < 1 || pixels.length != (long) n * perImage) {
            throw new IllegalArgumentException("integer model: expected " + n + " x " + perImage + " pixels ["
                    + spec.channels() + ", " + spec.height() + ", " + spec.width() + "], got "
                    + (pixels == null ? "null" : pixels.length));
        }
        int[] table = inputCodeTable();
        int plane = spec.height() * spec.width();
        int[] codes = new int[pixels.length];
        for (int i = 0; i < pixels.length; i++) {
            codes[i] = table[(i / plane) % spec.channels() * 256 + (pixels[i] & 0xff)];
        }
        // the usual 8-bit input quantizer: byte codes straight to the program (the table's codes are in range)
        return values.get(0).fitsByte() ? logitsOfCodes(backend, bytesOf(codes), n)
                : runIntegers(backend, codes, n, null);
    }

    /** Whether the float prefix ends with the seed's integer stem accumulator (value 0 holds no quantizer codes). */
    public boolean hasSeedStem() {
        return !prefix.isEmpty() && prefix.get(prefix.size() - 1) instanceof SeedStemConv;
    }

    /** The boundary code whose fake-quant value is {@code v}. */
    int codeOfValue(float v) {
        if (hasSeedStem()) {
            return (int) v; // already a truncated integer accumulator
        }
        float code = switch (boundary.kind()) {
            case PACT, MPACT -> boundary.code(v, boundaryAlpha); // value = code / s, code() multiplies by s
            case DOREFA -> (float) Math.rint(v * (float) boundary.maxCode());
            case FIXED_CLIP -> (float) Math.rint(v / boundary.fixedClip() * (float) boundary.maxCode());
        };
        return (int) code;
    }

    /**
     * The integer part as a plain-array {@link IntegerProgram} (what a backend compiles into one call), or null when
     * a layer needs wider arithmetic than the program offers (a conv of operands wider than 8 bits, a value beyond
     * int32, an epilogue without int64 headroom for int32 accumulators): such models run layer by layer.
     */
    public IntegerProgram program() {
        if (!values.get(0).fitsByte()) {
            return null;
        }
        List<IntegerProgram.Value> vals = new java.util.ArrayList<>();
        for (IntValue v : values) {
            vals.add(new IntegerProgram.Value(Slot.dtypeFor(v), v.shape(), v.lo(), v.hi()));
        }
        List<IntegerProgram.Step> steps = new java.util.ArrayList<>();
        for (int li = 0; li < layers.size(); li++) {
            IntLayer l = layers.get(li);
            IntValue out = values.get(li + 1);
            boolean int32Out = out.lo() >= Integer.MIN_VALUE && out.hi() <= Integer.MAX_VALUE;
            switch (l.type()) {
                case REQUANT -> {
                    boolean accInt32 = !l.hasConv() ? values.get(l.input()).bits() <= 32 : runsInBackend(l);
                    if (!accInt32 || !int32Out || !fitsBackendEpilogue(l)) {
                        return null;
                    }
                    IntegerProgram.Epilogue e = new IntegerProgram.Epilogue(l.residual(), l.multiplier(), l.shift(),
                            l.bias(), l.hasResidual() ? l.residualMultiplier() : null, l.rounding(), (int) l.qmin(),
                            (int) l.qmax());
                    steps.add(l.hasConv()
                            ? new IntegerProgram.Conv(l.input(), weightBytes[li], l.weightShape(), l.stride(), l.pad(),
                                    l.groups(), e)
                            : new IntegerProgram.Requant(l.input(), e));
                }
                case SUM_POOL -> {
                    if (!int32Out) {
                        return null;
                    }
                    steps.add(new IntegerProgram.SumPool(l.input(), l.poolKernel()));
                }
                case LINEAR -> steps.add(new IntegerProgram.Linear(l.input(), l.weights(), l.weightShape()[0],
                        l.bias(), l.fracBits()));
            }
        }
        try {
            return new IntegerProgram(vals, steps);
        } catch (IllegalArgumentException e) {
            return null; // a bound the program checks more strictly than the layer-by-layer path: run layer by layer
        }
    }

    /** The program compiled for {@code backend}, compiled on first use; null when it has no such path. */
    private IntegerProgram.Compiled compiledFor(Backend backend) {
        synchronized (compiled) {
            if (!compiled.containsKey(backend)) {
                IntegerProgram p = program();
                compiled.put(backend, p == null ? null : backend.compileIntegerProgram(p));
            }
            return compiled.get(backend);
        }
    }

    /**
     * Logits of {@code n} images' input codes as bytes (value 0's codes, two's complement for signed codes): the same
     * as {@link #runIntegers} without a trace, with no int[] copy of the batch.
     */
    public long[] logitsOfCodes(Backend backend, byte[] codes, int n) {
        IntValue first = values.get(0);
        if (backend == null || codes == null || n < 1 || codes.length != (long) n * first.numel()
                || !first.fitsByte()) {
            throw new IllegalArgumentException("integer model: expected a backend and " + n + " x " + first.numel()
                    + " byte codes (" + first.name() + ")" + (first.fitsByte() ? "" : ", but its codes are wider")
                    + ", got " + (codes == null ? "null" : codes.length));
        }
        IntegerProgram.Compiled c = compiledFor(backend);
        if (c != null) {
            return c.run(codes, n); // it checks the codes' range
        }
        boolean signed = first.lo() < 0;
        int[] ints = new int[codes.length];
        for (int i = 0; i < ints.length; i++) {
            ints[i] = signed ? codes[i] : codes[i] & 0xff;
        }
        return runIntegers(backend, ints, n, null);
    }

    /**
     * The integer part on {@code n} images' boundary codes: int64 logits [n * classes] (or the last value when the
     * model ends without a linear layer). {@code trace} may be null. Without a trace, a backend that compiles the
     * whole forward ({@link Backend#compileIntegerProgram}) runs it in one call: the same bits as layer by layer.
     */
    public long[] runIntegers(Backend backend, int[] codes, int n, Trace trace) {
        if (backend == null) {
            throw new IllegalArgumentException("integer model: backend is null");
        }
        IntValue first = values.get(0);
        if (codes == null || n < 1 || codes.length != (long) n * first.numel()) {
            throw new IllegalArgumentException("integer model: expected " + n + " x " + first.numel()
                    + " boundary codes (" + first.name() + "), got " + (codes == null ? "null" : codes.length));
        }
        for (int i = 0; i < codes.length; i++) {
            if (codes[i] < first.lo() || codes[i] > first.hi()) {
                throw new IllegalArgumentException("integer model: boundary code " + codes[i] + " at offset " + i
                        + " is outside [" + first.lo() + ", " + first.hi() + "] of " + first.name());
            }
        }
        if (trace == null) {
            IntegerProgram.Compiled c = compiledFor(backend);
            if (c != null) {
                return c.run(bytesOf(codes), n);
            }
        }
        Slot[] vals = new Slot[values.size()];
        vals[0] = new Slot(codes, null);
        long[] result = null;
        try {
            for (int li = 0; li < layers.size(); li++) {
                IntLayer l = layers.get(li);
                IntValue in = values.get(l.input());
                IntValue out = values.get(li + 1);
                long accMin = 0, accMax = 0;
                switch (l.type()) {
                    case REQUANT -> {
                        if (epilogueInBackend[li]) {
                            // the whole layer in the backend: int8 conv, then the requant epilogue; values stay there
                            try (Tensor acc = convInBackend(backend, li, vals[l.input()], n)) {
                                if (trace != null) {
                                    long[] r = range(acc.toIntArray());
                                    accMin = r[0];
                                    accMax = r[1];
                                }
                                Tensor res = l.hasResidual()
                                        ? vals[l.residual()].tensor(backend, values.get(l.residual()), n) : null;
                                vals[li + 1] = new Slot(null, backend.requantizeResidual(acc, res, l.multiplier(),
                                        l.shift(), l.bias(), l.residualMultiplier(), l.rounding(), (int) l.qmin(),
                                        (int) l.qmax(), Slot.dtypeFor(out)));
                            }
                        } else {
                            Object acc = !l.hasConv() ? vals[l.input()].ints() : runsInBackend(l)
                                    ? intsOf(convInBackend(backend, li, vals[l.input()], n))
                                    : IntKernels.conv2d(vals[l.input()].ints(), n, in.shape()[0], in.shape()[1],
                                            in.shape()[2], l.weights(), l.weightShape()[0], l.weightShape()[2],
                                            l.weightShape()[3], l.stride(), l.pad(), l.groups());
                            if (trace != null) {
                                long[] r = range(acc);
                                accMin = r[0];
                                accMax = r[1];
                            }
                            int spatial = out.numel() / out.shape()[0];
                            vals[li + 1] = new Slot(IntKernels.requantize(acc, n, out.shape()[0], spatial,
                                    l.multiplier(), l.shift(), l.bias(),
                                    l.hasResidual() ? vals[l.residual()].ints() : null, l.residualMultiplier(),
                                    l.rounding(), l.qmin(), l.qmax()), null);
                        }
                    }
                    case SUM_POOL -> {
                        int[] sums = IntKernels.sumPool(vals[l.input()].ints(), n, in.shape()[0], in.shape()[1],
                                in.shape()[2], l.poolKernel());
                        if (trace != null) { // a sum pool's accumulators are its sums
                            long[] r = range(sums);
                            accMin = r[0];
                            accMax = r[1];
                        }
                        vals[li + 1] = new Slot(sums, null);
                    }
                    case LINEAR -> {
                        result = IntKernels.linear(vals[l.input()].ints(), n, in.numel(), l.weights(),
                                l.weightShape()[0], l.bias(), l.fracBits());
                        int outs = l.weightShape()[0];
                        for (int k = 0; k < result.length; k++) { // the dot products, before the bias
                            long acc = (result[k] - l.bias()[k % outs]) >> l.fracBits();
                            accMin = Math.min(accMin, acc);
                            accMax = Math.max(accMax, acc);
                        }
                    }
                }
                if (trace != null) {
                    trace.layer(li, l, vals[li + 1] == null ? null : vals[li + 1].ints(), accMin, accMax);
                }
                // free what no later layer reads (a batch of activations is megabytes)
                if (lastUse[l.input()] == li && l.input() != 0) {
                    vals[l.input()].close();
                    vals[l.input()] = null;
                }
                if (l.hasResidual() && lastUse[l.residual()] == li && l.residual() != 0) {
                    vals[l.residual()].close();
                    vals[l.residual()] = null;
                }
            }
            if (result == null) {
                result = widen(vals[vals.length - 1].ints());
            }
            return result;
        } finally {
            for (Slot v : vals) {
                if (v != null) {
                    v.close();
                }
            }
        }
    }

    /**
     * One value during a run: a Java array, a backend tensor, or both (each made from the other when first needed).
     * Byte-sized values travel between the int8 layers as INT8/UINT8 tensors and never come back to Java.
     */
    private static final class Slot implements AutoCloseable {
        private int[] array;
        private Tensor tensor;

        Slot(int[] array, Tensor tensor) {
            this.array = array;
            this.tensor = tensor;
        }

        static DType dtypeFor(IntValue v) {
            return v.lo() >= -128 && v.hi() <= 127 ? DType.INT8 : v.lo() >= 0 && v.hi() <= 255 ? DType.UINT8
                    : DType.INT32;
        }

        int[] ints() {
            if (array == null) {
                array = tensor.toIntCodes();
            }
            return array;
        }

        /** As a tensor of the value's dtype on {@code b}. */
        Tensor tensor(Backend b, IntValue v, int n) {
            if (tensor == null) {
                int[] shape = new int[v.shape().length + 1];
                shape[0] = n;
                System.arraycopy(v.shape(), 0, shape, 1, v.shape().length);
                DType dt = dtypeFor(v);
                if (dt == DType.INT32) {
                    tensor = b.fromInts(array, shape);
                } else {
                    tensor = b.fromBytes(bytesOf(array), dt, shape);
                }
            }
            return tensor;
        }

        @Override
        public void close() {
            if (tensor != null) {
                tensor.close();
                tensor = null;
            }
        }
    }

    /** Whether Backend.requantizeResidual accepts the layer's parameters (else the 64-bit Java kernel runs it). */
    private boolean fitsBackendEpilogue(IntLayer l) {
        DType res = l.hasResidual() ? Slot.dtypeFor(values.get(l.residual())) : null;
        return Backend.requantizeResidualOverflowChannel(l.multiplier(), l.bias(), l.residualMultiplier(), res) < 0
                && l.qmin() >= Integer.MIN_VALUE && l.qmax() <= Integer.MAX_VALUE;
    }

    /** Whether layer {@code l}'s convolution runs in the backend's int8 kernel (else in 64-bit Java). */
    public boolean runsInBackend(IntLayer l) {
        if (!l.hasConv()) {
            return false;
        }
        IntValue in = values.get(l.input());
        long k = (long) l.weightShape()[1] * l.weightShape()[2] * l.weightShape()[3];
        return in.fitsByte() && l.weightBits() <= 8 && k * 255L * 128L <= Integer.MAX_VALUE;
    }

    private static long[] range(Object acc) {
        long lo = 0, hi = 0;
        if (acc instanceof int[] a) {
            for (int v : a) {
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
            }
        } else {
            for (long v : (long[]) acc) {
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
            }
        }
        return new long[] {lo, hi};
    }

    /** Layer {@code li}'s int8 conv in the backend: int32 accumulators [n, C, H, W], to be closed by the caller. */
    private Tensor convInBackend(Backend backend, int li, Slot x, int n) {
        IntLayer l = layers.get(li);
        try (Tensor wt = backend.fromBytes(weightBytes[li], DType.INT8, l.weightShape())) {
            return backend.conv2dInt(x.tensor(backend, values.get(l.input()), n), wt,
                    ConvParams.of(l.stride(), l.pad(), l.groups()));
        }
    }

    /** Codes that fit a byte (INT8, or UINT8 as its low 8 bits) as bytes. */
    private static byte[] bytesOf(int[] codes) {
        byte[] b = new byte[codes.length];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) codes[i];
        }
        return b;
    }

    private static int[] intsOf(Tensor t) {
        try (t) {
            return t.toIntArray();
        }
    }

    private static long[] widen(int[] v) {
        long[] out = new long[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = v[i];
        }
        return out;
    }

    /** Frees the compiled programs, and the float prefix's parameters when this model owns them (a loaded model). */
    @Override
    public void close() {
        synchronized (compiled) {
            for (IntegerProgram.Compiled c : compiled.values()) {
                if (c != null) {
                    c.close();
                }
            }
            compiled.clear();
        }
        if (owner != null) {
            try {
                owner.close();
            } catch (Exception e) {
                throw new IllegalStateException("integer model: closing its float prefix failed", e);
            }
        }
    }
}
