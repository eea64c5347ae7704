package dev.qat4j.predict;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.checkpoint.CheckpointFormatException;
import dev.qat4j.checkpoint.CheckpointIO;
import dev.qat4j.data.Cifar10;
import dev.qat4j.data.Dataset;
import dev.qat4j.data.Normalization;
import dev.qat4j.integer.IntegerConverter;
import dev.qat4j.integer.IntegerModel;
import dev.qat4j.integer.IntegerModelIO;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.InputSpec;
import dev.qat4j.models.ModelState;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.Step;
import dev.qat4j.tensor.Tensor;
import dev.qat4j.train.ConfusionMatrix;
import dev.qat4j.train.Trainer;
import java.io.ByteArrayInputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Predictor} on a small untrained ToyNet saved as a training checkpoint and as an integer model: every load
 * source, the same answers as the existing evaluation paths, every bad input refused clearly, the closed state, and
 * several threads giving the single-thread results bit for bit.
 */
class PredictorTest {
    static final Backend REF = Backends.reference();
    static final InputSpec SPEC = InputSpec.CIFAR10;
    static final int PER_IMAGE = 3 * 32 * 32;

    @TempDir
    static Path dir;
    static Path qck;
    static Path qim;

    @BeforeAll
    static void writeModels() throws Exception {
        qck = dir.resolve("toy.qck");
        qim = dir.resolve("toy.qim");
        try (QuantModel m = Models.build("toynet", BitWidths.preset("toynet", "cfg1-star"), REF, 7)) {
            CheckpointIO.write(qck, ModelState.save(m, Map.of("epoch", "3")));
            IntegerModelIO.write(qim, IntegerConverter.convert(m, IntegerConverter.Options.exact()));
        }
    }

    static float[] randomImages(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n * PER_IMAGE];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    static byte[] randomPixels(int n, long seed) {
        byte[] p = new byte[n * PER_IMAGE];
        new SplittableRandom(seed).nextBytes(p);
        return p;
    }

    /** The native cpu backend where it loads (fast), else the reference backend. */
    static Backend fastest() {
        try {
            return Backends.byName("cpu");
        } catch (IllegalStateException e) {
            return REF;
        }
    }

    static Predictor.Options onRef() {
        return Predictor.options().backend(REF);
    }

    /** All logits of a batch, image after image. */
    static float[] allLogits(Predictions p) {
        float[] out = new float[p.size() * p.classes()];
        for (int i = 0; i < p.size(); i++) {
            System.arraycopy(p.logits(i), 0, out, i * p.classes(), p.classes());
        }
        return out;
    }

    static long[] allExact(Predictions p) {
        long[] out = new long[p.size() * p.classes()];
        for (int i = 0; i < p.size(); i++) {
            System.arraycopy(p.exactLogits(i), 0, out, i * p.classes(), p.classes());
        }
        return out;
    }

    // ---- loading ------------------------------------------------------------------------------------------------

    @Test
    void everyLoadSourceGivesTheSameModel() throws Exception {
        float[] x = randomImages(3, 1);
        byte[] bytes = Files.readAllBytes(qck);
        float[] expected;
        try (Predictor p = onRef().load(qck)) {
            assertEquals(ModelKind.FLOAT, p.kind());
            assertEquals("toynet", p.modelName());
            assertEquals(SPEC, p.inputSpec()); // files without a recorded spec are CIFAR-10 models
            assertEquals(Cifar10.CLASS_NAMES, p.classNames());
            assertEquals(qck.toString(), p.source());
            expected = allLogits(p.predict(x));
        }
        try (InputStream in = Files.newInputStream(qck); Predictor p = onRef().load(in)) {
            assertArrayEquals(expected, allLogits(p.predict(x)), "stream");
        }
        try (Predictor p = onRef().load(bytes)) {
            assertArrayEquals(expected, allLogits(p.predict(x)), "bytes");
        }
        // a classpath resource: a folder on a class loader's path, as a jar's contents would be
        Path root = Files.createDirectories(dir.resolve("classpath/models"));
        Files.copy(qck, root.resolve("toy.qck"));
        try (URLClassLoader loader = new URLClassLoader(new URL[] {dir.resolve("classpath").toUri().toURL()}, null);
             Predictor p = onRef().loadResource(loader, "models/toy.qck")) {
            assertEquals("resource models/toy.qck", p.source());
            assertArrayEquals(expected, allLogits(p.predict(x)), "class loader resource");
        }
        // a resource next to this class (written into the test classes' folder at test time)
        Path classes = Path.of(PredictorTest.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        Path next = classes.resolve("dev/qat4j/predict/predictor-test-toy.qck");
        Files.copy(qck, next, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        try (Predictor p = Predictor.options().backend(REF).loadResource(PredictorTest.class,
                "predictor-test-toy.qck")) {
            assertArrayEquals(expected, allLogits(p.predict(x)), "class resource");
        } finally {
            Files.deleteIfExists(next);
        }
        FileNotFoundException missing = assertThrows(FileNotFoundException.class,
                () -> Predictor.loadResource(PredictorTest.class, "no-such-model.qck"));
        assertTrue(missing.getMessage().contains("no-such-model.qck"), missing.getMessage());
    }

    @Test
    void integerModelLoadsFromEverySourceToo() throws Exception {
        float[] x = randomImages(2, 2);
        long[] expected;
        try (Predictor p = onRef().load(qim)) {
            assertEquals(ModelKind.INTEGER, p.kind());
            expected = allExact(p.predict(x));
        }
        try (Predictor p = onRef().load(new ByteArrayInputStream(Files.readAllBytes(qim)))) {
            assertArrayEquals(expected, allExact(p.predict(x)));
        }
        try (Predictor p = onRef().load(Files.readAllBytes(qim))) {
            assertArrayEquals(expected, allExact(p.predict(x)));
        }
    }

    @Test
    void defaultAndNativeBackends() throws Exception {
        try (Predictor p = Predictor.load(qck)) {
            assertEquals(Backends.get(), p.backend());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Predictor.options().backend(REF).requireNative().load(qck));
        assertTrue(e.getMessage().contains("requireNative") && e.getMessage().contains("'ref'"), e.getMessage());
        Backend cpu;
        try {
            cpu = Backends.byName("cpu");
        } catch (IllegalStateException notHere) {
            // without the native library, requireNative must fail with the reason instead of falling back
            IllegalStateException s = assertThrows(IllegalStateException.class,
                    () -> Predictor.options().requireNative().load(qck));
            assertTrue(s.getMessage().startsWith("requireNative(): ") && s.getMessage().contains("did not load"),
                    s.getMessage());
            return;
        }
        try (Predictor p = Predictor.options().requireNative().load(qck)) {
            assertEquals(cpu, p.backend());
        }
    }

    @Test
    void theRecordedInputSpecIsApplied() throws Exception {
        List<String> names = List.of("c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9");
        Normalization norm = new Normalization(new float[] {0.5f, 0.25f, 0f}, new float[] {0.25f, 0.5f, 1f});
        InputSpec spec = new InputSpec(3, 32, 32, norm, names);
        Path own = dir.resolve("own-spec.qck");
        Path fiveClasses = dir.resolve("five-classes.qck");
        Path gray = dir.resolve("gray.qck");
        try (QuantModel m = Models.build("toynet", BitWidths.preset("toynet", "cfg1-star"), spec, REF, 7)) {
            CheckpointIO.write(own, ModelState.save(m, Map.of()));
        }
        // files whose recorded spec does not fit their tensors (a model cannot save one: save records its own)
        withSpec(CheckpointIO.read(own), new InputSpec(3, 32, 32, Normalization.CIFAR10, InputSpec.numberedClasses(5)),
                fiveClasses);
        withSpec(CheckpointIO.read(own), new InputSpec(1, 28, 28, Normalization.scaleOnly(1), names), gray);
        byte[] pixels = randomPixels(2, 8);
        float[] normalised = new float[pixels.length];
        for (int i = 0; i < 2; i++) {
            norm.apply(pixels, i * PER_IMAGE, 32 * 32, normalised, i * PER_IMAGE);
        }
        try (Predictor p = onRef().load(own)) {
            assertEquals(spec, p.inputSpec());
            assertEquals(names, p.classNames());
            Predictions r = p.predictPixels(pixels);
            assertArrayEquals(allLogits(p.predict(normalised)), allLogits(r), "the recorded normalisation");
            assertEquals("c" + r.argmax(1), r.label(1));
            assertEquals(names, r.classNames());
        }
        refused(CheckpointFormatException.class, () -> onRef().load(fiveClasses), "checkpoint " + fiveClasses, "fc");
        refused(CheckpointFormatException.class, () -> onRef().load(gray), "checkpoint " + gray, "stem");
        // the same for an integer model: its container with another spec recorded
        dev.qat4j.checkpoint.Checkpoint container = CheckpointIO.read(qim);
        for (InputSpec wrong : List.of(new InputSpec(3, 32, 32, Normalization.CIFAR10, InputSpec.numberedClasses(5)),
                new InputSpec(3, 16, 16, Normalization.CIFAR10, names))) {
            Path edited = dir.resolve("edited.qim");
            java.util.LinkedHashMap<String, Object> meta = new java.util.LinkedHashMap<>(container.meta());
            meta.put(InputSpec.META_KEY, wrong.toJson());
            dev.qat4j.checkpoint.Checkpoint.Builder b = dev.qat4j.checkpoint.Checkpoint.builder(container.model())
                    .meta(meta);
            container.tensors().forEach(b::add);
            CheckpointIO.write(edited, b.build());
            refused(CheckpointFormatException.class, () -> onRef().load(edited), "checkpoint " + edited,
                    wrong.classes() == 5 ? "has 10 outputs but its input spec names 5 classes"
                            : "the recorded input shape [3, 16, 16] gives");
        }
    }

    /** {@code c} with {@code spec} recorded instead of its own, written to {@code file}. */
    private static void withSpec(dev.qat4j.checkpoint.Checkpoint c, InputSpec spec, Path file) throws IOException {
        java.util.LinkedHashMap<String, Object> meta = new java.util.LinkedHashMap<>(c.meta());
        meta.put(InputSpec.META_KEY, spec.toJson());
        dev.qat4j.checkpoint.Checkpoint.Builder b = dev.qat4j.checkpoint.Checkpoint.builder(c.model()).meta(meta);
        c.tensors().forEach(b::add);
        CheckpointIO.write(file, b.build());
    }

    // ---- the same answers as the existing paths -----------------------------------------------------------------

    @Test
    void floatPredictionsAreTheModelsForwardAndTrainerEvaluateAgrees() throws Exception {
        int n = 20;
        byte[] pixels = randomPixels(n, 3);
        float[] normalised = new float[pixels.length];
        for (int i = 0; i < n; i++) {
            Normalization.CIFAR10.apply(pixels, i * PER_IMAGE, 32 * 32, normalised, i * PER_IMAGE);
        }
        Backend b = fastest();
        try (Predictor p = Predictor.options().backend(b).load(qck);
             QuantModel m = ModelFiles.loadFloat(CheckpointIO.read(qck), qck.toString(), b)) {
            Predictions fromPixels = p.predictPixels(pixels);
            float[] direct;
            try (Step step = new Step(b, false)) {
                direct = m.forward(step, step.keep(b.fromFloats(normalised, n, 3, 32, 32))).toFloatArray();
            }
            assertArrayEquals(direct, allLogits(fromPixels), "pixels through the recorded normalisation");
            assertArrayEquals(direct, allLogits(p.predict(normalised)), "float[]");
            assertArrayEquals(direct, allLogits(p.predict(normalised, n, 3, 32, 32)), "float[] with shape");
            assertArrayEquals(direct, allLogits(p.predictPixels(pixels, n, 3, 32, 32)), "pixels with shape");
            // a FloatBuffer's remaining values, its position left alone
            FloatBuffer buf = FloatBuffer.allocate(5 + normalised.length);
            buf.position(5);
            buf.put(normalised).position(5);
            assertArrayEquals(direct, allLogits(p.predict(buf)), "FloatBuffer");
            assertEquals(5, buf.position());
            assertFalse(fromPixels.isExact());
            assertThrows(IllegalStateException.class, () -> fromPixels.exactLogits(0));
            // Trainer.evaluate on the same pixels, labelled with the predictor's answers, agrees on every image
            int[] labels = new int[n];
            for (int i = 0; i < n; i++) {
                labels[i] = fromPixels.argmax(i);
            }
            ConfusionMatrix cm = Trainer.evaluate(m, b, new Dataset("random", 3, 32, 32, 10, pixels, labels), 8);
            assertEquals(n, cm.correct(), "Trainer.evaluate's argmax differs from the predictor's");
        }
    }

    @Test
    void aTrainedResNetOnRealCifar10ImagesAgreesWithTrainerEvaluateAndItsIntegerModel() throws Exception {
        Path data = dev.qat4j.TestData.cifar10();
        org.junit.jupiter.api.Assumptions.assumeTrue(data != null, "no CIFAR-10: set QAT4J_DATA");
        Path trained = Path.of("bench/results/gpu-h200/train/checkpoints/resnet20-int8-mpact.qck");
        Dataset test = Cifar10.load(data, dev.qat4j.data.Split.TEST).take(64);
        Backend b = fastest();
        Path converted = dir.resolve("resnet20.qim");
        try (Predictor p = Predictor.options().backend(b).expect(ModelKind.FLOAT).load(trained);
             QuantModel m = ModelFiles.loadFloat(CheckpointIO.read(trained), trained.toString(), b)) {
            Predictions r = p.predictPixels(test.images());
            int correct = 0;
            for (int i = 0; i < test.size(); i++) {
                correct += r.argmax(i) == test.label(i) ? 1 : 0;
            }
            ConfusionMatrix cm = Trainer.evaluate(m, b, test, 64);
            assertEquals(cm.correct(), correct, "the predictor and Trainer.evaluate count different hits");
            assertTrue(correct > 40, "a trained ResNet20 gets " + correct + " of 64 right");
            IntegerModelIO.write(converted, IntegerConverter.convert(m, IntegerConverter.Options.exact()));
        }
        try (Predictor p = Predictor.options().backend(b).expect(ModelKind.INTEGER).load(converted);
             IntegerModel im = IntegerModelIO.read(converted, b)) {
            float[] normalised = new float[test.images().length];
            for (int i = 0; i < test.size(); i++) {
                Normalization.CIFAR10.apply(test.images(), i * PER_IMAGE, 32 * 32, normalised, i * PER_IMAGE);
            }
            long[] expected;
            try (Tensor t = b.fromFloats(normalised, test.size(), 3, 32, 32)) {
                expected = im.logits(b, t);
            }
            assertArrayEquals(expected, allExact(p.predictPixels(test.images())));
        }
    }

    @Test
    void integerPredictionsAreTheExactIntegerLogits() throws Exception {
        int n = 5;
        float[] x = randomImages(n, 4);
        try (Predictor p = onRef().load(qim); IntegerModel im = IntegerModelIO.read(qim, REF);
             Tensor t = REF.fromFloats(x, n, 3, 32, 32)) {
            long[] expected = im.logits(REF, t);
            Predictions r = p.predict(x);
            assertTrue(r.isExact());
            assertArrayEquals(expected, allExact(r));
            assertEquals(im.logitScale(), r.logitScale());
            for (int i = 0; i < n; i++) {
                for (int k = 0; k < r.classes(); k++) {
                    assertEquals((float) (expected[i * 10 + k] * im.logitScale()), r.logits(i)[k]);
                }
            }
        }
    }

    /**
     * An end-to-end integer model predicts uint8 pixels through its input-code table (no float step), more than one
     * slice of them: exactly the logits of normalising the pixels and quantizing them, on the fast backend and on ref.
     */
    @Test
    void anEndToEndIntegerModelPredictsPixelsThroughItsCodeTableWithTheSameLogits() throws Exception {
        Path e2e = dir.resolve("toy-e2e.qim");
        try (QuantModel m = Models.build("toynet", BitWidths.preset("toynet", "cfg1-star-e2e"), REF, 9)) {
            IntegerModelIO.write(e2e, IntegerConverter.convert(m, IntegerConverter.Options.exact()));
        }
        for (Backend b : new Backend[] {fastest(), REF}) {
            int n = b == REF ? 2 : Predictor.SLICE + 2; // the Java backend's convs are slow: two images there
            byte[] pixels = randomPixels(n, 8);
            float[] normalised = new float[pixels.length];
            for (int off = 0; off < pixels.length; off += PER_IMAGE) {
                SPEC.normalization().apply(pixels, off, 32 * 32, normalised, off);
            }
            try (Predictor p = Predictor.options().backend(b).load(e2e)) {
                long[] fromPixels = allExact(p.predictPixels(pixels));
                assertArrayEquals(allExact(p.predict(normalised)), fromPixels, b.name());
                assertArrayEquals(fromPixels, allExact(p.predictPixels(pixels, n, 3, 32, 32)), b.name());
            }
        }
    }

    @Test
    void batchesLargerThanOneSliceGiveTheSameAnswers() throws Exception {
        int n = Predictor.SLICE + 3;
        byte[] pixels = randomPixels(n, 5);
        try (Predictor p = Predictor.options().backend(fastest()).load(qim)) {
            Predictions all = p.predictPixels(pixels);
            assertEquals(n, all.size());
            byte[] last = java.util.Arrays.copyOfRange(pixels, (n - 2) * PER_IMAGE, n * PER_IMAGE);
            Predictions tail = p.predictPixels(last);
            assertArrayEquals(tail.exactLogits(1), all.exactLogits(n - 1));
            assertArrayEquals(tail.exactLogits(0), all.exactLogits(n - 2));
        }
    }

    // ---- results ------------------------------------------------------------------------------------------------

    @Test
    void probabilitiesAndTopK() {
        List<String> names = List.of("a", "b", "c", "d");
        // huge logits would overflow a naive softmax; a tie between b and d goes to the lower index
        Predictions p = Predictions.ofFloat(names, 2, new float[] {1000f, 1002f, -5f, 1002f, 0f, 0f, 0f, 0f});
        float[] prob = p.probabilities(0);
        double sum = 0;
        for (float v : prob) {
            assertTrue(Float.isFinite(v), java.util.Arrays.toString(prob));
            sum += v;
        }
        assertEquals(1.0, sum, 1e-6);
        assertEquals(prob[1], prob[3]);
        assertEquals(Math.exp(-2) / (2 + Math.exp(-2) + Math.exp(-1007)), prob[0], 1e-7);
        assertEquals(1, p.argmax(0));
        assertEquals("b", p.label(0));
        List<ClassProbability> top = p.topK(0, 3);
        assertEquals(List.of(1, 3, 0), top.stream().map(ClassProbability::classIndex).toList());
        assertEquals("d", top.get(1).className());
        assertEquals(prob[0], top.get(2).probability());
        assertEquals(0.25f, p.probabilities(1)[2], 1e-7);
        assertEquals(0, p.argmax(1));
        assertThrows(IllegalArgumentException.class, () -> p.topK(0, 0));
        assertThrows(IllegalArgumentException.class, () -> p.topK(0, 5));
        assertThrows(IndexOutOfBoundsException.class, () -> p.logits(2));
        // integer: ranked and normalised from the exact logits, which float would merge (2^53 + 1 vs 2^53)
        long big = 1L << 53;
        Predictions q = Predictions.ofInteger(List.of("x", "y"), 1, new long[] {big, big + 1}, 1.0);
        assertEquals(1, q.argmax(0));
        assertEquals(1 / (1 + Math.exp(-1)), q.probabilities(0)[1], 1e-7);
        assertEquals(1.0, q.logitScale());
    }

    // ---- bad input ----------------------------------------------------------------------------------------------

    static void refused(Class<? extends Throwable> type, Executable call, String... parts) {
        Throwable e = assertThrows(type, call::run);
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "'" + e.getMessage() + "' lacks '" + part + "'");
        }
    }

    interface Executable {
        void run() throws Throwable;
    }

    @Test
    void badBatchesAreRefusedNamingWhatWasExpected() throws Exception {
        for (Path file : List.of(qck, qim)) {
            try (Predictor p = onRef().load(file)) {
                refused(IllegalArgumentException.class, () -> p.predict(new float[PER_IMAGE + 1]),
                        "positive multiple of 3072 values", "got 3073");
                refused(IllegalArgumentException.class, () -> p.predict(new float[0]), "got 0");
                refused(IllegalArgumentException.class, () -> p.predictPixels(new byte[100]),
                        "3072 pixels", "got 100");
                refused(IllegalArgumentException.class, () -> p.predict(new float[PER_IMAGE], 1, 1, 32, 96),
                        "expected shape [N, 3, 32, 32]", "got [1, 1, 32, 96]");
                refused(IllegalArgumentException.class, () -> p.predict(new float[PER_IMAGE], 1, 3, 32),
                        "got [1, 3, 32]");
                refused(IllegalArgumentException.class, () -> p.predict(new float[PER_IMAGE], 2, 3, 32, 32),
                        "needs 6144 values, got 3072");
                float[] nan = new float[2 * PER_IMAGE];
                nan[PER_IMAGE + 1024 + 32 * 5 + 7] = Float.NaN;
                refused(IllegalArgumentException.class, () -> p.predict(nan),
                        "image 1 has the value NaN at channel 1, row 5, column 7");
                float[] inf = new float[PER_IMAGE];
                inf[0] = Float.NEGATIVE_INFINITY;
                refused(IllegalArgumentException.class, () -> p.predict(FloatBuffer.wrap(inf)), "-Infinity");
                // and the predictor still works afterwards
                assertEquals(1, p.predict(new float[PER_IMAGE]).size());
            }
        }
    }

    @Test
    void theOtherKindOfModelIsRefusedWhenOneIsExpected() throws Exception {
        refused(CheckpointFormatException.class, () -> onRef().expect(ModelKind.FLOAT).load(qim),
                "checkpoint " + qim, "expected a float model (training checkpoint, .qck)",
                "it is an integer model (.qim)");
        refused(CheckpointFormatException.class,
                () -> onRef().expect(ModelKind.INTEGER).load(Files.readAllBytes(qck), "upload.bin"),
                "checkpoint upload.bin: expected an integer model (.qim)", "a float model (training checkpoint");
        refused(CheckpointFormatException.class,
                () -> ModelFiles.loadFloat(CheckpointIO.read(qim), "x.qim", REF), "it is an integer model");
        try (Predictor p = onRef().expect(ModelKind.INTEGER).load(qim)) {
            assertEquals(ModelKind.INTEGER, p.kind());
        }
    }

    @Test
    void truncatedOrForeignBytesAreRefusedClearly() throws Exception {
        byte[] whole = Files.readAllBytes(qim);
        for (int cut : new int[] {0, 7, 19, 23, 200, whole.length / 2, whole.length - 4, whole.length - 1}) {
            byte[] part = java.util.Arrays.copyOf(whole, cut);
            CheckpointFormatException e = assertThrows(CheckpointFormatException.class,
                    () -> onRef().load(new ByteArrayInputStream(part)), "cut at " + cut);
            assertTrue(e.getMessage().startsWith("checkpoint input stream: "), e.getMessage());
            assertTrue(e.getMessage().contains("truncated"), "cut at " + cut + ": " + e.getMessage());
            assertEquals(null, e.file());
            assertEquals("input stream", e.source());
        }
        refused(CheckpointFormatException.class, () -> Predictor.load("not a model at all".getBytes()),
                "checkpoint byte array: bad magic");
        byte[] flipped = whole.clone();
        flipped[whole.length - 10] ^= 1;
        refused(CheckpointFormatException.class, () -> Predictor.load(flipped), "checksum mismatch");
    }

    // ---- lifecycle and threads ----------------------------------------------------------------------------------

    @Test
    void aClosedPredictorRefusesEveryCall() throws Exception {
        Predictor p = onRef().load(qck);
        p.close();
        p.close(); // twice is fine
        List<Executable> calls = List.of(p::kind, p::inputSpec, p::classNames, p::backend, p::modelName, p::source,
                () -> p.predict(new float[PER_IMAGE]), () -> p.predict(new float[PER_IMAGE], 1, 3, 32, 32),
                () -> p.predict(FloatBuffer.allocate(PER_IMAGE)), () -> p.predictPixels(new byte[PER_IMAGE]),
                () -> p.predictPixels(new byte[PER_IMAGE], 1, 3, 32, 32));
        for (Executable call : calls) {
            refused(IllegalStateException.class, call, "predictor is closed");
        }
        assertTrue(p.toString().contains("closed"));
    }

    @Test
    void closeDuringPredictionsNeitherCrashesNorCorruptsThem() throws Exception {
        for (Path file : List.of(qck, qim)) {
            float[] x = randomImages(2, 6);
            Predictor p = onRef().load(file);
            float[] expected = allLogits(p.predict(x));
            ExecutorService pool = Executors.newFixedThreadPool(3);
            AtomicInteger completed = new AtomicInteger();
            try {
                List<Future<String>> runs = new ArrayList<>();
                for (int t = 0; t < 3; t++) {
                    runs.add(pool.submit(() -> {
                        while (true) {
                            try {
                                assertArrayEquals(expected, allLogits(p.predict(x)));
                                completed.incrementAndGet();
                            } catch (IllegalStateException e) {
                                return e.getMessage();
                            }
                        }
                    }));
                }
                while (completed.get() < 3) {
                    Thread.sleep(1);
                }
                p.close();
                for (Future<String> f : runs) {
                    assertEquals("predictor is closed", f.get(60, TimeUnit.SECONDS));
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void severalThreadsGiveTheSingleThreadResultsBitForBit() throws Exception {
        Backend b = fastest();
        int threads = 4;
        int batches = 6;
        for (Path file : List.of(qck, qim)) {
            try (Predictor p = Predictor.options().backend(b).load(file)) {
                List<byte[]> inputs = new ArrayList<>();
                List<float[]> expected = new ArrayList<>();
                for (int i = 0; i < batches; i++) {
                    inputs.add(randomPixels(1 + i % 3, 10 + i));
                    expected.add(allLogits(p.predictPixels(inputs.get(i))));
                }
                ExecutorService pool = Executors.newFixedThreadPool(threads);
                try {
                    CyclicBarrier start = new CyclicBarrier(threads);
                    List<Future<Integer>> done = new ArrayList<>();
                    for (int t = 0; t < threads; t++) {
                        int offset = t;
                        done.add(pool.submit(() -> {
                            start.await();
                            int checked = 0;
                            for (int round = 0; round < 2; round++) {
                                for (int j = 0; j < batches; j++) {
                                    int i = (j + offset) % batches;
                                    assertArrayEquals(expected.get(i), allLogits(p.predictPixels(inputs.get(i))),
                                            file + " batch " + i);
                                    checked++;
                                }
                            }
                            return checked;
                        }));
                    }
                    int total = 0;
                    for (Future<Integer> f : done) {
                        total += f.get(120, TimeUnit.SECONDS);
                    }
                    assertEquals(threads * 2 * batches, total);
                } finally {
                    pool.shutdownNow();
                }
            }
        }
    }
}
