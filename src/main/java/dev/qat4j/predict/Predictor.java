package dev.qat4j.predict;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.checkpoint.Checkpoint;
import dev.qat4j.checkpoint.CheckpointFormatException;
import dev.qat4j.checkpoint.CheckpointIO;
import dev.qat4j.data.Normalization;
import dev.qat4j.integer.IntegerModel;
import dev.qat4j.models.InputSpec;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.Step;
import dev.qat4j.tensor.Tensor;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A loaded model ready to classify images: a float model (training checkpoint, {@code .qck}) or an integer model
 * ({@code .qim}), with the input shape, normalisation and class names its file records ({@link #inputSpec()}).
 *
 * <pre>{@code
 * try (Predictor p = Predictor.load(Path.of("best.qck"))) {
 *     Predictions r = p.predictPixels(rgbPlanes);          // uint8, N x C x H x W
 *     System.out.println(r.label(0) + " " + r.topK(0, 3));
 * }
 * try (Predictor p = Predictor.options().requireNative().expect(ModelKind.INTEGER)
 *         .loadResource(App.class, "/model.qim")) { ... }
 * }</pre>
 *
 * <h2>Inputs</h2>
 * A batch is N images, each C x H x W values in channel-major order (all of channel 0's rows, then channel 1's,
 * ...), images back to back: the shape {@link #inputSpec()} gives. {@code float[]} and {@link FloatBuffer} inputs
 * are already normalised (what the model computes on); {@code byte[]} inputs are uint8 pixels (0 to 255), normalised
 * here with the recorded {@link Normalization}, for both kinds of model. A length that is not a whole number of
 * images, a shape other than the model's, an empty batch or a NaN or infinite value is an
 * {@link IllegalArgumentException} naming what was expected and what came. Large batches run in slices of
 * {@value #SLICE} images, so memory stays bounded.
 *
 * <h2>Threads</h2>
 * A predictor is safe to use from several threads at once: each call runs its own evaluation pass (eval-mode
 * passes keep nothing in the model) and calls do not wait for each other. Results are the same, bit for bit, as
 * from one thread (tested on the cpu and ref backends; the cuda backend is not covered by that test). {@link #close()} waits for calls in flight to finish, then frees the model; any call after it
 * (including the accessors) throws {@link IllegalStateException} {@code "predictor is closed"}. Closing twice is
 * allowed.
 *
 * <h2>Backend</h2>
 * By default the model runs on {@link Backends#get()} (the native cpu backend when its library loads, else the
 * Java reference backend, with the fallback logged). {@link Options#backend} picks one explicitly;
 * {@link Options#requireNative} refuses to fall back: loading fails with the reason the native library did not load.
 */
public final class Predictor implements AutoCloseable {
    /** The most images one forward pass takes; larger batches run in slices of this size. */
    public static final int SLICE = 256;

    private final String source;
    private final ModelKind kind;
    private final InputSpec spec;
    private final Backend backend;
    private final QuantModel floatModel;     // FLOAT only
    private final IntegerModel integerModel; // INTEGER only
    private final String modelName;
    // calls hold the read lock, close() the write lock: closing never frees the model under a running call
    private final ReadWriteLock lifecycle = new ReentrantReadWriteLock();
    private boolean closed; // guarded by lifecycle

    private Predictor(String source, InputSpec spec, Backend backend, QuantModel floatModel,
                      IntegerModel integerModel) {
        this.source = source;
        this.spec = spec;
        this.backend = backend;
        this.floatModel = floatModel;
        this.integerModel = integerModel;
        this.kind = floatModel != null ? ModelKind.FLOAT : ModelKind.INTEGER;
        this.modelName = floatModel != null ? floatModel.name() : integerModel.model();
    }

    // ---- loading ------------------------------------------------------------------------------------------------

    /** Options for loading: backend, native requirement, expected kind. Start with {@link Predictor#options()}. */
    public static Options options() {
        return new Options();
    }

    /**
     * Loads a float or integer model from a file with the default options.
     *
     * @throws CheckpointFormatException when the file is not a valid model file (the message says what is wrong)
     * @throws IOException when it cannot be read
     */
    public static Predictor load(Path file) throws IOException {
        return options().load(file);
    }

    /**
     * Loads a model from a stream read to its end (left open: its owner closes it), with the default options.
     *
     * @throws CheckpointFormatException when the stream does not hold a valid model file, e.g. it ends early
     * @throws IOException when reading fails
     */
    public static Predictor load(InputStream in) throws IOException {
        return options().load(in);
    }

    /**
     * Loads a model from the bytes of a model file, with the default options.
     *
     * @throws CheckpointFormatException when the bytes are not a valid model file
     */
    public static Predictor load(byte[] bytes) throws CheckpointFormatException {
        return options().load(bytes);
    }

    /**
     * Loads a model from a classpath resource, resolved as {@link Class#getResourceAsStream} resolves it (a name
     * starting with {@code /} is absolute), with the default options.
     *
     * @throws FileNotFoundException when there is no such resource
     * @throws CheckpointFormatException when it is not a valid model file
     */
    public static Predictor loadResource(Class<?> anchor, String name) throws IOException {
        return options().loadResource(anchor, name);
    }

    /**
     * How to load: fluent setters, then one of the {@code load} methods. Not thread-safe; each load uses the
     * settings as they are when it is called.
     */
    public static final class Options {
        private Backend backend;
        private boolean requireNative;
        private ModelKind expected;

        private Options() {
        }

        /** Run the model on {@code backend} instead of the default choice. */
        public Options backend(Backend backend) {
            this.backend = Objects.requireNonNull(backend, "backend");
            return this;
        }

        /**
         * Refuse to run on the Java reference backend: with no explicit backend the native cpu backend is loaded,
         * and when it cannot be, loading fails with the reason (an {@link IllegalStateException}) instead of falling
         * back; an explicit reference backend is refused.
         */
        public Options requireNative() {
            this.requireNative = true;
            return this;
        }

        /** Refuse files of the other kind (a {@code .qim} where a float model is expected, and the reverse). */
        public Options expect(ModelKind kind) {
            this.expected = Objects.requireNonNull(kind, "kind");
            return this;
        }

        /** {@link Predictor#load(Path)} with these options. */
        public Predictor load(Path file) throws IOException {
            Objects.requireNonNull(file, "model file");
            return build(CheckpointIO.read(file), file.toString());
        }

        /** {@link Predictor#load(InputStream)} with these options; errors name the stream "input stream". */
        public Predictor load(InputStream in) throws IOException {
            return load(in, "input stream");
        }

        /** {@link Predictor#load(InputStream)} with these options; {@code source} names the stream in errors. */
        public Predictor load(InputStream in, String source) throws IOException {
            Objects.requireNonNull(in, "model stream");
            return build(CheckpointIO.read(in, source), source);
        }

        /** {@link Predictor#load(byte[])} with these options; errors name the bytes "byte array". */
        public Predictor load(byte[] bytes) throws CheckpointFormatException {
            return load(bytes, "byte array");
        }

        /** {@link Predictor#load(byte[])} with these options; {@code source} names the bytes in errors. */
        public Predictor load(byte[] bytes, String source) throws CheckpointFormatException {
            Objects.requireNonNull(bytes, "model bytes");
            return build(CheckpointIO.read(bytes, source), source);
        }

        /** {@link Predictor#loadResource(Class, String)} with these options. */
        public Predictor loadResource(Class<?> anchor, String name) throws IOException {
            Objects.requireNonNull(anchor, "anchor class");
            Objects.requireNonNull(name, "resource name");
            try (InputStream in = anchor.getResourceAsStream(name)) {
                if (in == null) {
                    throw new FileNotFoundException("model resource " + name + " not found on the classpath of "
                            + anchor.getName());
                }
                return load(in, "resource " + name);
            }
        }

        /** Loads from a resource of {@code loader} ({@link ClassLoader#getResourceAsStream}: no leading slash). */
        public Predictor loadResource(ClassLoader loader, String name) throws IOException {
            Objects.requireNonNull(loader, "class loader");
            Objects.requireNonNull(name, "resource name");
            try (InputStream in = loader.getResourceAsStream(name)) {
                if (in == null) {
                    throw new FileNotFoundException("model resource " + name + " not found by " + loader);
                }
                return load(in, "resource " + name);
            }
        }

        private Backend chooseBackend() {
            if (backend != null) {
                if (requireNative && backend.name().equals("ref")) {
                    throw new IllegalArgumentException("requireNative(): the explicit backend is the Java reference "
                            + "backend 'ref', not a native one");
                }
                return backend;
            }
            if (requireNative) {
                try {
                    return Backends.byName("cpu");
                } catch (IllegalStateException e) {
                    throw new IllegalStateException("requireNative(): " + e.getMessage(), e);
                }
            }
            return Backends.get();
        }

        private Predictor build(Checkpoint c, String source) throws CheckpointFormatException {
            if (expected != null) {
                ModelFiles.requireKind(c, expected, source);
            }
            InputSpec spec = ModelFiles.inputSpec(c, source);
            Backend b = chooseBackend();
            if (ModelFiles.kindOf(c) == ModelKind.FLOAT) {
                QuantModel m = ModelFiles.loadFloat(c, source, b);
                try {
                    requireFits(m, spec, source);
                } catch (CheckpointFormatException | RuntimeException e) {
                    m.close();
                    throw e;
                }
                return new Predictor(source, spec, b, m, null);
            }
            IntegerModel im = ModelFiles.loadInteger(c, source, b);
            try {
                requireFits(im, spec, source);
            } catch (CheckpointFormatException | RuntimeException e) {
                im.close();
                throw e;
            }
            return new Predictor(source, spec, b, null, im);
        }

        /** The recorded input shape must give the integer part's first value, and one output per recorded class. */
        private static void requireFits(IntegerModel im, InputSpec spec, String source)
                throws CheckpointFormatException {
            int[] shape = spec.shape();
            try {
                for (dev.qat4j.nn.Module m : im.prefix()) {
                    shape = m.outputShape(shape);
                }
            } catch (IllegalArgumentException e) {
                throw new CheckpointFormatException(source, "the integer model of " + im.model() + " does not take "
                        + "the recorded input shape " + Arrays.toString(spec.shape()) + ": " + e.getMessage(), e);
            }
            int[] first = im.values().get(0).shape();
            if (!Arrays.equals(shape, first)) {
                throw new CheckpointFormatException(source, "the recorded input shape " + Arrays.toString(spec.shape())
                        + " gives " + Arrays.toString(shape) + " after the float prefix, but the integer part starts "
                        + "with " + Arrays.toString(first));
            }
            if (im.numClasses() != spec.classes()) {
                throw new CheckpointFormatException(source, "the model has " + im.numClasses() + " outputs but "
                        + "its input spec names " + spec.classes() + " classes " + spec.classNames());
            }
        }

        /** The recorded input shape must go through the network and come out as one logit per recorded class. */
        private static void requireFits(QuantModel m, InputSpec spec, String source) throws CheckpointFormatException {
            int[] out;
            try {
                out = m.net().outputShape(spec.shape());
            } catch (IllegalArgumentException e) {
                throw new CheckpointFormatException(source, "the model " + m.name() + " does not take the recorded "
                        + "input shape " + Arrays.toString(spec.shape()) + ": " + e.getMessage(), e);
            }
            if (out.length != 1 || out[0] != spec.classes()) {
                throw new CheckpointFormatException(source, "the model " + m.name() + " gives outputs "
                        + Arrays.toString(out) + " but its input spec names " + spec.classes() + " classes "
                        + spec.classNames());
            }
        }
    }

    // ---- what was loaded ----------------------------------------------------------------------------------------

    /** Whether this is a float or an integer model. */
    public ModelKind kind() {
        return whileOpen(() -> kind);
    }

    /** The model's architecture name, e.g. {@code toynet}. */
    public String modelName() {
        return whileOpen(() -> modelName);
    }

    /** The input shape, normalisation and class names the model file records. */
    public InputSpec inputSpec() {
        return whileOpen(() -> spec);
    }

    /** The class names, in output order. */
    public List<String> classNames() {
        return whileOpen(spec::classNames);
    }

    /** The backend the model runs on. */
    public Backend backend() {
        return whileOpen(() -> backend);
    }

    /** Where the model was loaded from (a path, or the name of a stream, array or resource). */
    public String source() {
        return whileOpen(() -> source);
    }

    // ---- predicting ---------------------------------------------------------------------------------------------

    /**
     * Predicts a batch of normalised images given as N x C x H x W values (N inferred from the length).
     *
     * @throws IllegalArgumentException for a length that is not a positive whole number of images, or a NaN or
     *     infinite value
     */
    public Predictions predict(float[] images) {
        Objects.requireNonNull(images, "images");
        return whileOpen(() -> run(images.clone(), imagesIn(images.length, "values")));
    }

    /**
     * Predicts a batch of normalised images of the given shape {@code [N, C, H, W]}, which must be the model's.
     *
     * @throws IllegalArgumentException for a shape other than the model's or a length that does not match it
     */
    public Predictions predict(float[] images, int... shape) {
        Objects.requireNonNull(images, "images");
        return whileOpen(() -> run(images.clone(), imagesOfShape(images.length, shape, "values")));
    }

    /**
     * Predicts the batch of normalised images in {@code images}' remaining values (from its position to its limit,
     * N x C x H x W); the buffer's position is not changed.
     *
     * @throws IllegalArgumentException as {@link #predict(float[])}
     */
    public Predictions predict(FloatBuffer images) {
        Objects.requireNonNull(images, "images");
        float[] values = new float[images.remaining()];
        images.duplicate().get(values);
        return whileOpen(() -> run(values, imagesIn(values.length, "values")));
    }

    /**
     * Predicts a batch of uint8 pixels (0 to 255), N x C x H x W, normalised with the recorded normalisation.
     *
     * @throws IllegalArgumentException for a length that is not a positive whole number of images
     */
    public Predictions predictPixels(byte[] pixels) {
        Objects.requireNonNull(pixels, "pixels");
        return whileOpen(() -> runPixels(pixels, imagesIn(pixels.length, "pixels")));
    }

    /**
     * Predicts a batch of uint8 pixels of the given shape {@code [N, C, H, W]}, which must be the model's.
     *
     * @throws IllegalArgumentException for a shape other than the model's or a length that does not match it
     */
    public Predictions predictPixels(byte[] pixels, int... shape) {
        Objects.requireNonNull(pixels, "pixels");
        return whileOpen(() -> runPixels(pixels, imagesOfShape(pixels.length, shape, "pixels")));
    }

    /**
     * Pixels of {@code n} whole images: an integer model that is integer end to end maps them to its input codes with
     * its code table (no float arithmetic; the same logits as normalising them first, EndToEndPresetsTest), any other
     * model normalises them.
     */
    private Predictions runPixels(byte[] pixels, int n) {
        if (kind == ModelKind.FLOAT || !integerModel.isEndToEnd()) {
            return run(normalise(pixels), n);
        }
        int per = spec.valuesPerImage();
        long[] logits = new long[n * spec.classes()];
        for (int first = 0; first < n; first += SLICE) {
            int count = Math.min(SLICE, n - first);
            long[] out = integerModel.logitsOfPixels(backend, Arrays.copyOfRange(pixels, first * per,
                    (first + count) * per), count);
            System.arraycopy(out, 0, logits, first * spec.classes(), count * spec.classes());
        }
        return Predictions.ofInteger(spec.classNames(), n, logits, integerModel.logitScale());
    }

    /** Frees the model after the calls in flight have finished; later calls throw. Closing twice does nothing. */
    @Override
    public void close() {
        lifecycle.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            if (floatModel != null) {
                floatModel.close();
            } else {
                integerModel.close();
            }
        } finally {
            lifecycle.writeLock().unlock();
        }
    }

    @Override
    public String toString() {
        return "Predictor[" + modelName + ", " + kind + ", " + source + (closed ? ", closed" : "") + "]";
    }

    // ---- internals ----------------------------------------------------------------------------------------------

    private <T> T whileOpen(java.util.function.Supplier<T> call) {
        lifecycle.readLock().lock();
        try {
            if (closed) {
                throw new IllegalStateException("predictor is closed");
            }
            return call.get();
        } finally {
            lifecycle.readLock().unlock();
        }
    }

    /** The image count of {@code length} values without a shape; refuses a length that is not whole images. */
    private int imagesIn(int length, String what) {
        int per = spec.valuesPerImage();
        if (length == 0 || length % per != 0) {
            throw new IllegalArgumentException("expected N x " + describeImage() + " = a positive multiple of " + per
                    + " " + what + " for " + modelName + ", got " + length);
        }
        return length / per;
    }

    /** The image count of a batch with an explicit shape; it must be [N, C, H, W] of this model and fit the length. */
    private int imagesOfShape(int length, int[] shape, String what) {
        Objects.requireNonNull(shape, "shape");
        if (shape.length != 4 || shape[0] < 1 || shape[1] != spec.channels() || shape[2] != spec.height()
                || shape[3] != spec.width()) {
            throw new IllegalArgumentException("expected shape [N, " + spec.channels() + ", " + spec.height() + ", "
                    + spec.width() + "] with N >= 1 for " + modelName + ", got " + Arrays.toString(shape));
        }
        if ((long) shape[0] * spec.valuesPerImage() != length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " needs "
                    + (long) shape[0] * spec.valuesPerImage() + " " + what + ", got " + length);
        }
        return shape[0];
    }

    private String describeImage() {
        return spec.channels() + " x " + spec.height() + " x " + spec.width();
    }

    private float[] normalise(byte[] pixels) {
        imagesIn(pixels.length, "pixels"); // a clear error before any work
        int plane = spec.height() * spec.width();
        int per = spec.valuesPerImage();
        float[] out = new float[pixels.length];
        for (int off = 0; off < pixels.length; off += per) {
            spec.normalization().apply(pixels, off, plane, out, off);
        }
        return out;
    }

    /** Runs {@code n} images (already checked to be n whole images) slice by slice. */
    private Predictions run(float[] values, int n) {
        requireFinite(values);
        int per = spec.valuesPerImage();
        int classes = spec.classes();
        if (kind == ModelKind.FLOAT) {
            float[] logits = new float[n * classes];
            for (int first = 0; first < n; first += SLICE) {
                int count = Math.min(SLICE, n - first);
                float[] slice = Arrays.copyOfRange(values, first * per, (first + count) * per);
                try (Step step = new Step(backend, false)) {
                    Tensor x = step.keep(backend.fromFloats(slice, count, spec.channels(), spec.height(),
                            spec.width()));
                    float[] out = floatModel.forward(step, x).toFloatArray();
                    System.arraycopy(out, 0, logits, first * classes, count * classes);
                }
            }
            return Predictions.ofFloat(spec.classNames(), n, logits);
        }
        long[] logits = new long[n * classes];
        for (int first = 0; first < n; first += SLICE) {
            int count = Math.min(SLICE, n - first);
            float[] slice = Arrays.copyOfRange(values, first * per, (first + count) * per);
            try (Tensor x = backend.fromFloats(slice, count, spec.channels(), spec.height(), spec.width())) {
                long[] out = integerModel.logits(backend, x);
                System.arraycopy(out, 0, logits, first * classes, count * classes);
            }
        }
        return Predictions.ofInteger(spec.classNames(), n, logits, integerModel.logitScale());
    }

    /** Refuses a NaN or infinite input, naming the image, channel, row and column. */
    private void requireFinite(float[] values) {
        int per = spec.valuesPerImage();
        int plane = spec.height() * spec.width();
        for (int i = 0; i < values.length; i++) {
            if (!Float.isFinite(values[i])) {
                int at = i % per;
                throw new IllegalArgumentException("image " + i / per + " has the value " + values[i]
                        + " at channel " + at / plane + ", row " + at % plane / spec.width() + ", column "
                        + at % spec.width() + ": expected finite normalised values");
            }
        }
    }
}
