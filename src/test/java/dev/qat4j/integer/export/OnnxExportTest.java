package dev.qat4j.integer.export;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.WireFormat;
import dev.qat4j.TestData;
import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.data.Batch;
import dev.qat4j.data.BatchLoader;
import dev.qat4j.data.Cifar10;
import dev.qat4j.data.Dataset;
import dev.qat4j.data.Split;
import dev.qat4j.integer.IntLayer;
import dev.qat4j.integer.IntValue;
import dev.qat4j.integer.IntegerConverter;
import dev.qat4j.integer.IntegerModel;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.Step;
import dev.qat4j.tensor.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The int8 ONNX export of an end-to-end ResNet20 ({@link ExportFixtures#resnet20EndToEnd}) in ONNX Runtime: what its
 * optimizer makes of it (QLinearConv, QLinearAdd, no float Conv) and how its logits agree with qat4j's integer model
 * on real CIFAR-10 test images; refusals; determinism.
 */
class OnnxExportTest {
    /** CIFAR-10 test images compared (-Dqat4j.onnx.images=10000 for the whole test set). */
    private static final int IMAGES = Integer.getInteger("qat4j.onnx.images", 2000);
    private static final int CLASSES = 10;
    private static final int BATCH = 250;

    private static Backend backend;
    private static QuantModel model;
    private static IntegerModel integer;

    @BeforeAll
    static void load() throws Exception {
        Assumptions.assumeTrue(Files.exists(ExportFixtures.RESNET20_E2E) || Files.exists(ExportFixtures.RESNET20_INT8),
                "no trained checkpoint at " + ExportFixtures.RESNET20_INT8);
        backend = Backends.byName("cpu");
        model = ExportFixtures.resnet20EndToEnd(backend);
        // -Dqat4j.onnx.accbias=true measures the model converted with biases in accumulator units instead
        integer = IntegerConverter.convert(model, Boolean.getBoolean("qat4j.onnx.accbias")
                ? IntegerConverter.Options.exact().withAccumulatorBias() : IntegerConverter.Options.exact());
    }

    @AfterAll
    static void free() {
        if (model != null) {
            model.close();
        }
    }

    @Test
    void onnxRuntimeRunsEveryConvolutionAndResidualAddOnIntegers(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("resnet20-e2e.onnx");
        OnnxExport.write(integer, backend, file);
        Map<String, Integer> ops = optimizedOps(file, dir.resolve("optimized.onnx"));
        int convs = 0, adds = 0;
        for (IntLayer l : integer.layers()) {
            convs += l.type() == IntLayer.Type.REQUANT ? 1 : 0;
            adds += l.hasResidual() ? 1 : 0;
        }
        System.out.println("onnx export: ONNX Runtime's optimized graph: " + ops + " (integer model: " + convs
                + " convolutions, " + adds + " residual adds)");
        assertFalse(ops.containsKey("Conv"), "a convolution stayed float: " + ops);
        assertEquals(convs, ops.getOrDefault("QLinearConv", 0), "every convolution is a QLinearConv: " + ops);
        assertEquals(adds, ops.getOrDefault("QLinearAdd", 0), "every residual add is a QLinearAdd: " + ops);
        assertFalse(ops.containsKey("Add"), "a float add remains: " + ops);
        // the fine-tuned checkpoint's residual factors are 1 but in its first block (its residual comes from the
        // stem quantizer, whose clip differs): the one layer the CLI's note names
        assertEquals(Files.exists(ExportFixtures.RESNET20_E2E) ? List.of("s0.b0.out.q") : List.of(),
                OnnxExport.inexactResidualLayers(integer));
    }

    /**
     * The other end-to-end models: every convolution of ToyNet (depthwise, the downsample BN's quantizer, the
     * quantizer between pool and FC) and MobileNetV2 (depthwise, ReLU6 clamps, a conv shortcut on most blocks)
     * becomes a QLinearConv too. For the trained ToyNet, top-1 agreement with its integer model on the first
     * {@value #OTHER_IMAGES} test images is printed: low (48%), because its residual adds scale the residual by
     * 0.46..1.2 output codes and its main branches leave the int8 intermediate's range (docs/integer-export.md).
     */
    @ParameterizedTest
    @ValueSource(strings = {"toynet", "mobilenetv2"})
    void otherEndToEndModelsRunEveryConvolutionOnIntegers(String name, @TempDir Path dir) throws Exception {
        Path ckpt = Path.of("bench/results/integer/e2e/toynet-cfg1-star-e2e.qck");
        try (QuantModel m = ExportFixtures.endToEndPreset(name, backend, 0)) {
            boolean trained = name.equals("toynet");
            if (trained) {
                dev.qat4j.models.ModelState.load(m, dev.qat4j.checkpoint.CheckpointIO.read(ckpt));
            }
            IntegerModel im = IntegerConverter.convert(m, IntegerConverter.Options.exact());
            Path file = dir.resolve(name + ".onnx");
            OnnxExport.write(im, backend, file);
            Map<String, Integer> ops = optimizedOps(file, dir.resolve("optimized.onnx"));
            int convs = 0; // every REQUANT but the rescale of a pooled value is a (1x1 depthwise, if need be) convolution
            for (IntLayer l : im.layers()) {
                boolean readsPool = l.input() > 0 && im.layers().get(l.input() - 1).type() == IntLayer.Type.SUM_POOL;
                convs += l.type() == IntLayer.Type.REQUANT && !readsPool ? 1 : 0;
            }
            System.out.println("onnx export of " + name + ": ONNX Runtime's optimized graph: " + ops + " (" + convs
                    + " integer layers written as convolutions)");
            assertFalse(ops.containsKey("Conv"), "a convolution stayed float: " + ops);
            assertEquals(convs, ops.getOrDefault("QLinearConv", 0), "every convolution is a QLinearConv: " + ops);
            if (!trained) {
                return;
            }
            Path data = TestData.cifar10();
            Assumptions.assumeTrue(data != null, "no CIFAR-10 archive (set QAT4J_DATA)");
            Dataset test = Cifar10.load(data, Split.TEST).take(OTHER_IMAGES);
            List<int[]> batches = new ArrayList<>();
            long[] ints = new long[test.size() * CLASSES];
            int[] labels = new int[test.size()];
            try (BatchLoader loader = new BatchLoader(test, BatchLoader.Options.eval(BATCH), 0)) {
                int at = 0;
                while (loader.hasNext()) {
                    Batch b = loader.next();
                    try (Tensor x = backend.fromFloats(b.images(), b.size(), 3, 32, 32)) {
                        int[] codes = im.boundaryCodes(backend, x);
                        batches.add(codes);
                        System.arraycopy(im.runIntegers(backend, codes, b.size(), null), 0, ints, at * CLASSES,
                                b.size() * CLASSES);
                    }
                    System.arraycopy(b.labels(), 0, labels, at, b.size());
                    at += b.size();
                }
            }
            float[] ort = runOrt(file, batches, test.size());
            Agreement a = compare(ort, ints, labels, im.logitScale());
            // the gap is the int8 form's, not the export's: ONNX Runtime computes the QDQ reference (plain Java, so
            // on the first 100 images only)
            int r = 100;
            long[] ref = QdqReference.run(im, java.util.Arrays.copyOf(batches.get(0), r * im.values().get(0).numel()),
                    r, OnnxExport.DEFAULT_INTERMEDIATE).logits();
            Agreement vsRef = compare(java.util.Arrays.copyOf(ort, r * CLASSES), ref, java.util.Arrays.copyOf(labels, r),
                    im.logitScale());
            System.out.printf("onnx export of %s: ONNX Runtime's top-1 agrees with the QDQ reference on %d of %d%n", name,
                    vsRef.sameTop1, r);
            assertTrue(vsRef.sameTop1 >= 99, name + ": ONNX Runtime vs the QDQ reference " + vsRef.sameTop1 + " / " + r);
            System.out.printf("onnx export of %s: ONNX Runtime's top-1 agrees with qat4j's integer model on %d of %d "
                    + "test images (%.2f%%); accuracy %.2f%% vs %.2f%%%n", name, a.sameTop1, test.size(),
                    100.0 * a.sameTop1 / test.size(), 100.0 * a.ortCorrect / test.size(),
                    100.0 * a.intCorrect / test.size());
            assertTrue(a.sameTop1 >= 0.4 * test.size(), name + ": top-1 agreement " + a.sameTop1 + " (measured 240 of 500)");
        }
    }

    private static final int OTHER_IMAGES = 500;

    /**
     * Top-1 of ONNX Runtime's logits against qat4j's integer model on real CIFAR-10 test images (the target:
     * 99.5%), and against {@link QdqReference}, the integer model with the export's two roundings (the bias in
     * accumulator units, the residual's intermediate): ONNX Runtime must compute that one. Prints how many images'
     * logits differ beyond float rounding (some code upstream moved).
     */
    @Test
    void onnxRuntimeAgreesWithTheIntegerModelOnCifar10(@TempDir Path dir) throws Exception {
        Path data = TestData.cifar10();
        Assumptions.assumeTrue(data != null, "no CIFAR-10 archive (set QAT4J_DATA)");
        Dataset test = Cifar10.load(data, Split.TEST).take(IMAGES);
        int n = test.size();
        Outputs run = outputs(test, model, integer);
        long[] ints = run.ints();
        float[] fake = run.fake();
        int[] labels = run.labels();
        List<int[]> batches = run.batches();
        double scale = integer.logitScale();
        Agreement fakeVsInt = compare(fake, ints, labels, scale);
        System.out.printf("onnx export: for reference, qat4j's fake-quant model's top-1 agrees with its integer model "
                + "on %d of %d images (%.2f%%)%n", fakeVsInt.sameTop1, n, 100.0 * fakeVsInt.sameTop1 / n);
        Agreement vsInt = null, vsRef = null;
        String intermediates = System.getProperty("qat4j.onnx.intermediates", "" + OnnxExport.DEFAULT_INTERMEDIATE);
        for (String k : intermediates.split(",")) {
            int intermediate = Integer.parseInt(k.trim());
            Path file = dir.resolve("m" + intermediate + ".onnx");
            Files.write(file, OnnxExport.toBytes(integer, backend, intermediate));
            float[] ort = runOrt(file, batches, n);
            // the reference runs in plain Java (slow): on the first batch
            int m = Math.min(n, BATCH);
            long[] ref = QdqReference.run(integer, batches.get(0), m, intermediate).logits();
            Agreement a = compare(ort, ints, labels, scale);
            Agreement r = compare(java.util.Arrays.copyOf(ort, m * CLASSES), ref, java.util.Arrays.copyOf(labels, m),
                    scale);
            System.out.printf("onnx export (intermediate %d): on %d CIFAR-10 test images ONNX Runtime's top-1 agrees "
                    + "with qat4j's integer model on %d (%.2f%%; %d images' logits differ beyond float rounding); "
                    + "on the first %d, with the QDQ reference on %d (%d images' logits differ); accuracy ONNX Runtime "
                    + "%.2f%%, integer model %.2f%%%n", intermediate, n, a.sameTop1, 100.0 * a.sameTop1 / n, a.moved,
                    m, r.sameTop1, r.moved, 100.0 * a.ortCorrect / n, 100.0 * a.intCorrect / n);
            if (intermediate == OnnxExport.DEFAULT_INTERMEDIATE) {
                vsInt = a;
                vsRef = r;
            }
        }
        // the integer model with biases in accumulator units (convert --accumulator-bias): the export's bias rounding
        // vanishes, the residual intermediate and the float32 requantization factor remain
        try (IntegerModel acc = IntegerConverter.convert(model, IntegerConverter.Options.exact().withAccumulatorBias())) {
            long[] accInts = new long[n * CLASSES];
            int at = 0;
            for (int[] c : batches) {
                int size = c.length / acc.values().get(0).numel();
                System.arraycopy(acc.runIntegers(backend, c, size, null), 0, accInts, at * CLASSES, size * CLASSES);
                at += size;
            }
            Path file = dir.resolve("accbias.onnx");
            Files.write(file, OnnxExport.toBytes(acc, backend));
            float[] ort = runOrt(file, batches, n);
            Agreement a = compare(ort, accInts, labels, acc.logitScale());
            Agreement f = compare(fake, accInts, labels, acc.logitScale());
            System.out.printf("onnx export of the accumulator-bias integer model: ONNX Runtime's top-1 agrees with it "
                    + "on %d of %d images (%.2f%%); that model agrees with the fake-quant model on %d (%.2f%%)%n",
                    a.sameTop1, n, 100.0 * a.sameTop1 / n, f.sameTop1, 100.0 * f.sameTop1 / n);
            // measured 97.84% on the 10,000 test images (the export's bias is then exact): the bias rounding is not
            // what separates the two on the fine-tuned model, the residual intermediate is (its residual factors
            // M_id / 2^shift are not whole numbers there); asserted as measured
            assertTrue(a.sameTop1 >= 0.97 * n, "ONNX Runtime vs the accumulator-bias integer model top-1 agreement "
                    + a.sameTop1 + " / " + n);
        }
        if (vsInt != null) {
            assertTrue(vsInt.intCorrect >= 0.8 * n, "the test model is not degenerate: integer accuracy "
                    + vsInt.intCorrect + " / " + n);
            // the 99.5% holds against what the int8 form computes; against the integer model itself the
            // export's bias rounding (~1e-3 of a code, amplified through 19 layers) costs ~2% of top-1 on this
            // model (97.9% on the 10,000 test images): asserted as measured, so that it cannot get worse unseen
            int m = Math.min(n, BATCH);
            assertTrue(vsRef.sameTop1 >= 0.995 * m, "ONNX Runtime vs the QDQ reference top-1 agreement "
                    + vsRef.sameTop1 + " / " + m);
            assertTrue(vsInt.sameTop1 >= 0.97 * n, "ONNX Runtime vs qat4j integer model top-1 agreement "
                    + vsInt.sameTop1 + " / " + n);
        }
    }

    /** CIFAR-10 test images of the tied checkpoint's agreement test (-Dqat4j.onnx.tied.images=10000 for all). */
    private static final int TIED_IMAGES = Integer.getInteger("qat4j.onnx.tied.images", 2000);

    /** {@link BiasSnap}: the tied checkpoint's biases are off whole accumulator units, the snapped one's are not. */
    @Test
    void theSnappedCheckpointHasWholeAccumulatorUnitBiases() throws Exception {
        Assumptions.assumeTrue(Files.exists(ExportFixtures.RESNET20_E2E_TIED), "no " + ExportFixtures.RESNET20_E2E_TIED);
        try (QuantModel m = ExportFixtures.load(ExportFixtures.RESNET20_E2E_TIED, backend)) {
            double before = BiasSnap.largestBiasFraction(m);
            assertTrue(before > 1e-3, "the fine-tuned biases are not whole accumulator units: " + before);
            BiasSnap.snap(m, backend, 2);
            assertTrue(BiasSnap.largestBiasFraction(m) < 1e-5, "snapped: " + BiasSnap.largestBiasFraction(m));
        }
        Assumptions.assumeTrue(Files.exists(ExportFixtures.RESNET20_E2E_TIED_SNAPPED));
        try (QuantModel m = ExportFixtures.load(ExportFixtures.RESNET20_E2E_TIED_SNAPPED, backend)) {
            assertTrue(BiasSnap.largestBiasFraction(m) < 1e-5, "committed snapped checkpoint: "
                    + BiasSnap.largestBiasFraction(m));
        }
    }

    /**
     * The end-to-end ResNet20 fine-tuned with tied residual clips ({@link ExportFixtures#RESNET20_E2E_TIED}, preset
     * {@code int8-mpact-e2e-tied}): every residual factor is exactly 1, so the residual's 8-bit intermediate rounds
     * nothing. Converted with biases in accumulator units ({@code --accumulator-bias}), which removes the export's
     * bias rounding too, ONNX Runtime's top-1 agrees with qat4j's integer model on at least 99.5% of the CIFAR-10
     * test images (the target; 99.96% of all 10,000 measured, 99.95% of the first 2,000). Converted exactly
     * (the default), the bias rounding (at most ~5e-3 of an output code per conv) is what remains, and it is
     * amplified through the convolutions: 98.07% of the 10,000 measured, asserted with a margin. The same checkpoint
     * with its BN β moved by that rounding ({@link BiasSnap}, {@link ExportFixtures#RESNET20_E2E_TIED_SNAPPED}) has
     * whole accumulator-unit biases in the exact conversion too: there ONNX Runtime agrees with the exact integer
     * model on 99.97% of the 10,000 images, and the target is asserted for both conversions.
     */
    @ParameterizedTest
    @CsvSource({"bench/results/integer/e2e/resnet20-int8-mpact-e2e-tied.qck, 0.97",
        "bench/results/integer/e2e/resnet20-int8-mpact-e2e-tied-snapped.qck, 0.995"})
    void tiedResidualClipsReachTheTargetAgreementOnCifar10(String checkpoint, double exactTarget, @TempDir Path dir)
            throws Exception {
        Path ckpt = Path.of(checkpoint);
        Assumptions.assumeTrue(Files.exists(ckpt), "no checkpoint " + ckpt);
        Path data = TestData.cifar10();
        Assumptions.assumeTrue(data != null, "no CIFAR-10 archive (set QAT4J_DATA)");
        Dataset test = Cifar10.load(data, Split.TEST).take(TIED_IMAGES);
        int n = test.size();
        Agreement[] got = new Agreement[2];
        try (QuantModel tied = ExportFixtures.load(ckpt, backend)) {
            for (int k = 0; k < 2; k++) {
                boolean accBias = k == 1;
                IntegerConverter.Options opts = accBias ? IntegerConverter.Options.exact().withAccumulatorBias()
                        : IntegerConverter.Options.exact();
                try (IntegerModel im = IntegerConverter.convert(tied, opts)) {
                    assertEquals(List.of(), OnnxExport.inexactResidualLayers(im), "every residual factor is whole");
                    int residuals = 0;
                    for (IntLayer l : im.layers()) {
                        if (l.hasResidual()) {
                            residuals++;
                            assertEquals(1.0, Math.scalb((double) l.residualMultiplier()[0], -l.shift()[0]), 0.0,
                                    l.name() + ": the residual adds at the output's scale");
                        }
                    }
                    assertEquals(9, residuals);
                    Outputs run = outputs(test, tied, im);
                    long[] ints = run.ints();
                    float[] fake = run.fake();
                    int[] labels = run.labels();
                    List<int[]> batches = run.batches();
                    Path file = dir.resolve("tied" + k + ".onnx");
                    Files.write(file, OnnxExport.toBytes(im, backend));
                    Agreement a = compare(runOrt(file, batches, n), ints, labels, im.logitScale());
                    Agreement f = compare(fake, ints, labels, im.logitScale());
                    System.out.printf("onnx export of %s%s: on %d CIFAR-10 test images ONNX "
                            + "Runtime's top-1 agrees with qat4j's integer model on %d (%.2f%%; %d images' logits "
                            + "differ beyond float rounding); accuracy ONNX Runtime %.2f%%, integer model %.2f%%; the "
                            + "integer model agrees with the fake-quant model on %d (%.2f%%)%n",
                            ckpt.getFileName(), accBias ? " (accumulator bias)" : " (exact)", n, a.sameTop1,
                            100.0 * a.sameTop1 / n, a.moved, 100.0 * a.ortCorrect / n, 100.0 * a.intCorrect / n, f.sameTop1,
                            100.0 * f.sameTop1 / n);
                    assertTrue(a.intCorrect >= 0.8 * n, "the model is not degenerate: " + a.intCorrect + " / " + n);
                    got[k] = a;
                }
            }
        }
        assertTrue(got[1].sameTop1 >= 0.995 * n, checkpoint + ": ONNX Runtime vs the accumulator-bias integer model "
                + "top-1 agreement "
                + got[1].sameTop1 + " / " + n + " (the issue's target is 99.5%)");
        // unsnapped: measured 97.50% on the first 2,000 images, 98.07% on all 10,000 (asserted with the margin the
        // untied test has); snapped: 99.97% on all 10,000
        assertTrue(got[0].sameTop1 >= exactTarget * n, checkpoint + ": ONNX Runtime vs the exact integer model top-1 "
                + "agreement " + got[0].sameTop1 + " / " + n);
    }

    /**
     * Every integer value's codes in ONNX Runtime (a graph cut after that value) against the integer model's, on
     * {@value #LAYER_IMAGES} CIFAR-10 test images: how many codes differ, by how much.
     */
    @Test
    void codesLayerByLayer(@TempDir Path dir) throws Exception {
        Path data = TestData.cifar10();
        Assumptions.assumeTrue(data != null, "no CIFAR-10 archive (set QAT4J_DATA)");
        int n = LAYER_IMAGES;
        int[] codes = ExportFixtures.cifar10Codes(backend, integer, n);
        int[][] expected = new int[integer.values().size()][];
        integer.runIntegers(backend, codes, n, (index, layer, out, accMin, accMax) -> expected[index + 1] = out);
        int[][] reference = QdqReference.run(integer, codes, n,
                Integer.getInteger("qat4j.onnx.intermediate", OnnxExport.DEFAULT_INTERMEDIATE)).values();
        int intermediate = Integer.getInteger("qat4j.onnx.intermediate", OnnxExport.DEFAULT_INTERMEDIATE);
        StringBuilder report = new StringBuilder();
        long differ = 0, differRef = 0, total = 0;
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        for (int v = 1; v < integer.values().size(); v++) {
            IntLayer l = integer.layers().get(v - 1);
            if (l.type() != IntLayer.Type.REQUANT) {
                continue;
            }
            IntValue value = integer.values().get(v);
            Path file = dir.resolve("v" + v + ".onnx");
            Files.write(file, OnnxExport.toBytesUpTo(integer, intermediate, v));
            byte[] got;
            try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
                opts.setIntraOpNumThreads(2);
                try (OrtSession session = env.createSession(file.toString(), opts)) {
                    ByteBuffer buf = ByteBuffer.allocateDirect(codes.length);
                    for (int c : codes) {
                        buf.put((byte) c);
                    }
                    buf.rewind();
                    try (OnnxTensor t = OnnxTensor.createTensor(env, buf, new long[] {n, 3, 32, 32},
                            ((TensorInfo) session.getInputInfo().get(OnnxExport.INPUT).getInfo()).type);
                         OrtSession.Result r = session.run(Map.of(OnnxExport.INPUT, t))) {
                        ByteBuffer o = ((OnnxTensor) r.get(0)).getByteBuffer();
                        got = new byte[o.remaining()];
                        o.get(got);
                    }
                }
            }
            int zero = value.lo() < 0 ? 128 : 0;
            int d = 0, maxD = 0, dRef = 0;
            for (int i = 0; i < got.length; i++) {
                int code = (got[i] & 0xff) - zero;
                int diff = Math.abs(code - expected[v][i]);
                d += diff != 0 ? 1 : 0;
                maxD = Math.max(maxD, diff);
                dRef += code != reference[v][i] ? 1 : 0;
            }
            differ += d;
            differRef += dRef;
            total += got.length;
            report.append(String.format("  %-16s %s %9d codes: vs integer model %7d differ (%6.3f%%), max |diff| %d;"
                    + " vs QDQ reference %5d differ%n", value.name(), l.hasResidual() ? "+res" : "    ", got.length, d,
                    100.0 * d / got.length, maxD, dRef));
        }
        System.out.printf("onnx export (intermediate %d): codes of ONNX Runtime vs the integer model on %d CIFAR-10 "
                + "test images, layer by layer:%n%s  all: %d of %d codes differ from the integer model's (%.3f%%), %d "
                + "from the QDQ reference's%n", intermediate, n, report, differ, total, 100.0 * differ / total,
                differRef);
        assertTrue(differRef <= total / 2_000, "ONNX Runtime computes the QDQ reference but for float rounding: "
                + differRef + " of " + total + " codes differ");
    }

    private static final int LAYER_IMAGES = 100;

    /**
     * Random weights, other quantizers, made end to end ({@link ExportFixtures#endToEnd}): ResNet20 with DoReFa
     * activations (uint8 codes at 8 bits with zero point 0, clipped codes at 4 bits, a residual scaled by DoReFa's
     * 0.1) and with PACT (unsigned 8-bit codes: the intermediate at twice the output's scale): ONNX Runtime against
     * the QDQ reference on random images, logit by logit, and fused as the trained model.
     */
    @ParameterizedTest
    @CsvSource({"int8", "int4", "int8-pact"})
    void otherQuantizersExportToo(String preset, @TempDir Path dir) throws Exception {
        Backend cpu = Backends.byName("cpu");
        int n = 8;
        float[] images = new float[n * 3 * 32 * 32];
        SplittableRandom rnd = new SplittableRandom(7);
        for (int i = 0; i < images.length; i++) {
            images[i] = (float) (rnd.nextDouble() * 4 - 2);
        }
        try (QuantModel m = ExportFixtures.endToEnd(Models.build("resnet20", BitWidths.preset("resnet20", preset), cpu,
                1), cpu);
             IntegerModel im = IntegerConverter.convert(m, IntegerConverter.Options.exact());
             Tensor x = cpu.fromFloats(images, n, 3, 32, 32)) {
            Path file = dir.resolve(preset + ".onnx");
            OnnxExport.write(im, cpu, file);
            int[] codes = im.boundaryCodes(cpu, x);
            long[] ints = im.runIntegers(cpu, codes, n, null);
            long[] ref = QdqReference.run(im, codes, n, OnnxExport.DEFAULT_INTERMEDIATE).logits();
            float[] ort = runOrt(file, List.of(codes), n);
            double scale = im.logitScale(), range = 0, maxDiff = 0, maxRefDiff = 0;
            for (int i = 0; i < ints.length; i++) {
                range = Math.max(range, Math.abs(ints[i] * scale));
                maxDiff = Math.max(maxDiff, Math.abs(ort[i] - ints[i] * scale));
                maxRefDiff = Math.max(maxRefDiff, Math.abs(ort[i] - ref[i] * scale));
            }
            Map<String, Integer> ops = optimizedOps(file, dir.resolve("opt.onnx"));
            System.out.printf("onnx export resnet20 %s (random weights): |ONNX Runtime - QDQ reference logits| max "
                    + "%.3g, |ONNX Runtime - integer logits| max %.3g, of largest |logit| %.3g; optimized graph %s%n",
                    preset, maxRefDiff, maxDiff, range, ops);
            assertTrue(maxRefDiff <= 1e-3 * range + 1e-6, preset + ": ONNX Runtime's logits differ from the QDQ "
                    + "reference's by " + maxRefDiff + " of " + range);
            assertEquals(21, ops.getOrDefault("QLinearConv", 0), preset + ": " + ops);
            assertEquals(9, ops.getOrDefault("QLinearAdd", 0), preset + ": " + ops);
        }
    }

    @Test
    void aModelWithAFloatPrefixIsRefusedBeforeAnythingIsWritten(@TempDir Path dir) throws Exception {
        Assumptions.assumeTrue(Files.exists(ExportFixtures.RESNET20_INT8), "no checkpoint " + ExportFixtures.RESNET20_INT8);
        try (QuantModel m = ExportFixtures.resnet20(backend)) {
            IntegerModel im = ExportFixtures.integer(m);
            Path file = dir.resolve("out").resolve("m.onnx");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> OnnxExport.write(im, backend, file));
            System.out.println("refused: " + e.getMessage());
            assertTrue(e.getMessage().startsWith("onnx export: resnet20 is not integer end to end: its float prefix "
                    + "starts at stem.conv"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), "one line");
            assertFalse(Files.exists(dir.resolve("out")), "nothing written, not even the folder");
        }
    }

    /** ToyNet with a quantized input is end to end but holds an int32 BN intermediate: refused by layer. */
    @Test
    void valuesWiderThanAByteAreRefusedByLayer() {
        Backend cpu = Backends.byName("cpu");
        BitWidths bits = BitWidths.preset("toynet", "cfg1-star").withOverrides(Map.of(0, 8), Map.of());
        try (QuantModel m = Models.build("toynet", bits, cpu, 3)) {
            IntegerModel im = ExportFixtures.integer(m);
            IntValue wide = im.values().stream().filter(v -> !v.fitsByte()).findFirst().orElseThrow();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> OnnxExport.toBytes(im, cpu));
            System.out.println("refused: " + e.getMessage() + " (first wide value " + wide.name() + ")");
            assertTrue(e.getMessage().startsWith("onnx export: layer "), e.getMessage());
            assertTrue(e.getMessage().contains("wider than a byte") || e.getMessage().contains("no byte-wide"),
                    e.getMessage());
        }
    }

    @Test
    void theExportIsDeterministicAndWrittenWholeOrNotAtAll(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("m.onnx");
        Files.writeString(file, "an older file");
        OnnxExport.write(integer, backend, file);
        byte[] bytes = Files.readAllBytes(file);
        assertArrayEquals(bytes, OnnxExport.toBytes(integer, backend), "the export is deterministic");
        OnnxExport.write(integer, backend, file);
        assertArrayEquals(bytes, Files.readAllBytes(file), "writing again gives the same file");
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList(), "no temporary file is left beside it");
        }
    }

    @Test
    void roundHalfEvenDividesAsTheIntegerModelRounds() {
        assertEquals(2, OnnxExport.roundHalfEven(5, 2));
        assertEquals(4, OnnxExport.roundHalfEven(7, 2));
        assertEquals(-2, OnnxExport.roundHalfEven(-5, 2));
        assertEquals(-3, OnnxExport.roundHalfEven(-11, 4));
        assertEquals(3, OnnxExport.roundHalfEven(10, 3));
        assertEquals(-3, OnnxExport.roundHalfEven(-10, 3));
    }

    // ------------------------------------------------------------------ helpers

    private record Agreement(int sameTop1, int moved, double maxDiff, int ortCorrect, int intCorrect) {
    }

    /** Per test image: the integer model's logits, the fake-quant model's, the label; and each batch's input codes. */
    private record Outputs(long[] ints, float[] fake, int[] labels, List<int[]> batches) {
    }

    private Outputs outputs(Dataset test, QuantModel model, IntegerModel integer) {
        int n = test.size();
        long[] ints = new long[n * CLASSES];
        float[] fake = new float[n * CLASSES];
        int[] labels = new int[n];
        List<int[]> batches = new ArrayList<>();
        try (BatchLoader loader = new BatchLoader(test, BatchLoader.Options.eval(BATCH), 0)) {
            int at = 0;
            while (loader.hasNext()) {
                Batch b = loader.next();
                try (Tensor x = backend.fromFloats(b.images(), b.size(), 3, 32, 32);
                     Step step = new Step(backend, false)) {
                    int[] c = integer.boundaryCodes(backend, x);
                    batches.add(c);
                    System.arraycopy(integer.runIntegers(backend, c, b.size(), null), 0, ints, at * CLASSES,
                            b.size() * CLASSES);
                    System.arraycopy(model.forward(step, x).toFloatArray(), 0, fake, at * CLASSES,
                            b.size() * CLASSES);
                }
                System.arraycopy(b.labels(), 0, labels, at, b.size());
                at += b.size();
            }
        }
        return new Outputs(ints, fake, labels, batches);
    }

    /** {@code ort} [n * classes] against integer logits {@code ints}, n = labels.length. */
    private static Agreement compare(float[] ort, long[] ints, int[] labels, double scale) {
        int same = 0, moved = 0, ortCorrect = 0, intCorrect = 0;
        double maxDiff = 0;
        for (int i = 0; i < labels.length; i++) {
            int a = 0, b = 0;
            double largest = 0, diff = 0;
            for (int k = 0; k < CLASSES; k++) {
                int j = i * CLASSES + k;
                a = ort[j] > ort[i * CLASSES + a] ? k : a;
                b = ints[j] > ints[i * CLASSES + b] ? k : b;
                largest = Math.max(largest, Math.abs(ints[j] * scale));
                diff = Math.max(diff, Math.abs(ort[j] - ints[j] * scale));
            }
            same += a == b ? 1 : 0;
            ortCorrect += a == labels[i] ? 1 : 0;
            intCorrect += b == labels[i] ? 1 : 0;
            moved += diff > 1e-4 * largest + 1e-6 ? 1 : 0; // float32 Gemm rounding is ~1e-6 of the largest logit
            maxDiff = Math.max(maxDiff, diff / scale);
        }
        return new Agreement(same, moved, maxDiff, ortCorrect, intCorrect);
    }

    /** ONNX Runtime's logits [n * classes] for the boundary codes of each batch, fed as the model's input type. */
    private static float[] runOrt(Path file, List<int[]> batches, int n) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        float[] out = new float[n * CLASSES];
        try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
            opts.setIntraOpNumThreads(2);
            try (OrtSession session = env.createSession(file.toString(), opts)) {
                OnnxJavaType type = ((TensorInfo) session.getInputInfo().get(OnnxExport.INPUT).getInfo()).type;
                int at = 0;
                for (int[] codes : batches) {
                    int b = codes.length / (3 * 32 * 32);
                    ByteBuffer buf = ByteBuffer.allocateDirect(codes.length);
                    for (int c : codes) {
                        buf.put((byte) c);
                    }
                    buf.rewind();
                    try (OnnxTensor t = OnnxTensor.createTensor(env, buf, new long[] {b, 3, 32, 32},
                            type);
                         OrtSession.Result r = session.run(Map.of(OnnxExport.INPUT, t))) {
                        float[][] logits = (float[][]) r.get(0).getValue();
                        for (int i = 0; i < b; i++) {
                            System.arraycopy(logits[i], 0, out, (at + i) * CLASSES, CLASSES);
                        }
                    }
                    at += b;
                }
            }
        }
        return out;
    }

    /** The op types (and counts) of the graph ONNX Runtime runs after all its optimizations. */
    static Map<String, Integer> optimizedOps(Path model, Path optimized) throws OrtException, IOException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
            opts.setIntraOpNumThreads(1);
            opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            opts.setOptimizedModelFilePath(optimized.toString());
            try (OrtSession session = env.createSession(model.toString(), opts)) {
                assertTrue(session.getNumInputs() == 1);
            }
        }
        return opTypes(Files.readAllBytes(optimized));
    }

    /** Reads ModelProto.graph (7) -> GraphProto.node (1) -> NodeProto.op_type (4) from the wire format. */
    static Map<String, Integer> opTypes(byte[] modelProto) throws IOException {
        Map<String, Integer> ops = new TreeMap<>();
        for (byte[] graph : fields(modelProto, 7)) {
            for (byte[] node : fields(graph, 1)) {
                for (byte[] op : fields(node, 4)) {
                    ops.merge(new String(op, java.nio.charset.StandardCharsets.UTF_8), 1, Integer::sum);
                }
            }
        }
        return ops;
    }

    /** The length-delimited fields number {@code field} of one message. */
    private static List<byte[]> fields(byte[] message, int field) throws IOException {
        List<byte[]> out = new ArrayList<>();
        CodedInputStream in = CodedInputStream.newInstance(message);
        in.setSizeLimit(Integer.MAX_VALUE);
        for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
            if (WireFormat.getTagFieldNumber(tag) == field
                    && WireFormat.getTagWireType(tag) == WireFormat.WIRETYPE_LENGTH_DELIMITED) {
                out.add(in.readByteArray());
            } else {
                in.skipField(tag);
            }
        }
        return out;
    }
}
