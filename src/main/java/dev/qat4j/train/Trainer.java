package dev.qat4j.train;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Op;
import dev.qat4j.backend.Results.ImageBatch;
import dev.qat4j.backend.Results.Loss;
import dev.qat4j.data.Batch;
import dev.qat4j.data.BatchLoader;
import dev.qat4j.data.Dataset;
import dev.qat4j.data.ResidentDataset;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.Parameter;
import dev.qat4j.nn.Step;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The training loop of one model on one backend: epochs of shuffled, augmented batches (prepared in the background)
 * of any {@link Dataset} whose images and classes match the model's {@link dev.qat4j.models.InputSpec} (uint8 or
 * float pixels, any channel count), normalised by that spec and augmented as {@link TrainConfig#augmentation()} says,
 * forward, softmax cross-entropy (+ the α² penalty), backward, SGD with the cosine schedule, and evaluation with
 * per-image accuracy. A NaN or infinite loss stops training with a {@link DivergenceException} before the update
 * is applied, and a weight that becomes non-finite stops it right after the step, before anything can be saved from
 * it: checkpoints written between epochs always hold finite weights.
 */
public final class Trainer implements AutoCloseable {
    /** What a caller may want to show after each batch (a progress bar, a log line). */
    public interface Listener {
        void batch(int epoch, int batch, int batches, float loss, double accuracy, double imagesPerSecond);
    }

    /** The result of one epoch of training. */
    public record EpochStats(int epoch, float lr, double loss, double trainAccuracy, long images, double seconds) {
        public double imagesPerSecond() {
            return seconds > 0 ? images / seconds : 0;
        }
    }

    private final QuantModel model;
    private final Backend backend;
    private final TrainConfig config;
    private final Optimizer optimizer;
    private final boolean dataOnBackend;
    private final Map<Dataset, ResidentDataset> resident = new IdentityHashMap<>();

    /**
     * A trainer that keeps uint8 data sets in the backend's memory ({@link ResidentDataset}) when that memory is a
     * device's ({@link Backend#hasDeviceMemory()}: cuda), so each step's images never cross from the host; elsewhere
     * (cpu, ref) a background thread makes the batches on the host, which measured as fast or faster there. The
     * batches are the same bit for bit either way.
     */
    public Trainer(QuantModel model, Backend backend, TrainConfig config) {
        this(model, backend, config, backend.hasDeviceMemory());
    }

    /**
     * As {@link #Trainer(QuantModel, Backend, TrainConfig)}, choosing where batches are made: {@code dataOnBackend}
     * true keeps the data sets on the backend and assembles batches there ({@link Backend#augmentBatch}); false makes
     * every batch on the host ({@link BatchLoader}, normalised there and copied to the backend per step).
     */
    public Trainer(QuantModel model, Backend backend, TrainConfig config, boolean dataOnBackend) {
        this.model = model;
        this.backend = backend;
        this.config = config;
        this.dataOnBackend = dataOnBackend;
        for (Parameter p : model.parameters()) {
            if (p.value().backend() != backend) {
                throw new IllegalArgumentException("trainer: parameter " + p.name() + " lives on backend '"
                        + p.value().backend().name() + "', not '" + backend.name() + "'; call model.moveTo(backend)");
            }
        }
        this.optimizer = new Optimizer(model.parameters(), config.momentum(), config.weightDecay(), config.nesterov(),
                config.decayNormAndAlpha(), config.alphaPenalty());
    }

    public Optimizer optimizer() {
        return optimizer;
    }

    public TrainConfig config() {
        return config;
    }

    /**
     * The copy of {@code data} on the backend that batches are assembled from, made on first use; null when batches
     * are made on the host (turned off, float pixels, or a backend without its own {@link Backend#augmentBatch}).
     */
    private ResidentDataset residentFor(Dataset data) {
        if (!keepsOnBackend(data)) {
            return null;
        }
        return resident.computeIfAbsent(data,
                d -> ResidentDataset.upload(backend, d, model.inputSpec().normalization()));
    }

    /** Whether {@code data}'s batches are assembled on the backend (see the constructors). */
    public boolean keepsOnBackend(Dataset data) {
        return dataOnBackend && ResidentDataset.supports(data) && backend.supportsNatively(Op.AUGMENT_BATCH);
    }

    /** One batch, as the step sees it: made on the host, or planned here and assembled on the backend. */
    private record StepInput(Batch hostBatch, BatchLoader.BatchPlan plan) {
        int size() {
            return plan != null ? plan.size() : hostBatch.size();
        }
    }

    /** Trains one epoch (0-based {@code epoch}, which selects the learning rate and the shuffle). */
    public EpochStats trainEpoch(Dataset train, int epoch, Listener listener) {
        checkData(model, train);
        float lr = config.schedule().at(epoch);
        BatchLoader.Options opts = BatchLoader.Options.train(config.batchSize(), config.seed(), config.augmentation(),
                model.inputSpec().normalization());
        ResidentDataset onBackend = residentFor(train);
        if (onBackend != null) {
            opts = opts.withPrefetch(0); // only plans are taken: no worker making host batches
        }
        long start = System.nanoTime();
        double lossSum = 0;
        long images = 0, correct = 0;
        int index = 0;
        int classes = model.inputSpec().classes();
        try (BatchLoader loader = new BatchLoader(train, opts, epoch);
             Tensor counts = backend.zeros(DType.FLOAT32, classes, classes); // this epoch's, counted on the backend
             Tensor nonFinite = backend.zeros(DType.FLOAT32, 1)) { // set by an update that made a weight NaN or inf
            int batches = loader.batchCount();
            for (int batch = 0; batch < batches; batch++) {
                StepInput in = onBackend != null ? new StepInput(null, loader.plan(batch))
                        : new StepInput(loader.next(), null);
                StepResult r = trainStep(in, onBackend, train.shape(), lr, epoch, index, counts, nonFinite);
                lossSum += (double) r.loss() * in.size();
                images += in.size();
                correct = r.correctSoFar();
                index++;
                if (listener != null) {
                    double secs = (System.nanoTime() - start) / 1e9;
                    listener.batch(epoch, index, batches, r.loss(), (double) correct / images,
                            images / Math.max(secs, 1e-9));
                }
            }
            if (index > 0 && nonFinite.toFloatArray()[0] != 0f) { // the last update's flag, read by no later step
                throw nonFiniteWeight(epoch, index - 1, lr);
            }
        }
        double secs = (System.nanoTime() - start) / 1e9;
        return new EpochStats(epoch, lr, images == 0 ? 0 : lossSum / images, images == 0 ? 0 : (double) correct / images,
                images, secs);
    }

    /** A step's loss (with the α penalty) and the epoch's correct predictions up to and including it. */
    private record StepResult(float loss, long correctSoFar) {
    }

    /** The images of a batch as a tensor [n, c, h, w] (the loader fills exactly n images). */
    private static Tensor images(Step step, Backend backend, Batch b, int[] chw) {
        return step.keep(backend.fromFloats(b.images(), b.size(), chw[0], chw[1], chw[2]));
    }

    private static int[] labelsOf(Dataset data, BatchLoader.BatchPlan plan) {
        int[] labels = new int[plan.size()];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = data.label(plan.index()[i]);
        }
        return labels;
    }

    private StepResult trainStep(StepInput in, ResidentDataset onBackend, int[] chw, float lr, int epoch, int index,
                                 Tensor counts, Tensor nonFinite) {
        int n = in.size();
        try (Step step = new Step(backend, true)) {
            Tensor x, y;
            if (in.plan() != null) {
                ImageBatch b = onBackend.batch(in.plan());
                x = step.keep(b.images());
                y = step.keep(b.labels());
            } else {
                x = images(step, backend, in.hostBatch(), chw);
                y = step.keep(backend.fromInts(in.hostBatch().labels(), n));
            }
            Tensor logits = model.forward(step, x);
            try (Loss loss = backend.softmaxCrossEntropy(logits, y, config.labelSmoothing())) {
                // The backward is queued before anything is read back, so an asynchronous backend (cuda) computes it
                // while the host waits; the update comes only after the loss was seen to be finite.
                backend.accumulateConfusion(logits, y, counts); // the accuracy is counted there: no logits read
                model.backward(step, loss.dlogits());
                List<Tensor> reads = new ArrayList<>(List.of(loss.loss(), counts, nonFinite));
                reads.addAll(optimizer.alphaValues());
                // One round trip: the loss, the counts, the previous update's finiteness flag and every α.
                float[][] values = backend.readAllFloats(reads);
                if (values[2][0] != 0f) { // the previous step's update made a weight NaN or infinite
                    throw nonFiniteWeight(epoch, index - 1, lr);
                }
                float value = values[0][0]
                        + optimizer.alphaPenaltyLoss(java.util.Arrays.copyOfRange(values, 3, values.length));
                if (!Float.isFinite(value)) {
                    throw new DivergenceException("training diverged at epoch " + (epoch + 1) + ", batch " + (index + 1)
                            + ": loss is " + value + " (learning rate " + lr + "); the update was not applied");
                }
                ConfusionMatrix cm = new ConfusionMatrix(logits.dim(1));
                cm.addCounts(values[1]);
                optimizer.step(lr, nonFinite); // sets the flag the next read (or the epoch's end) looks at
                return new StepResult(value, cm.correct());
            }
        }
    }

    /**
     * The error for a weight that an update made NaN or infinite (seen by the sgdSteps flag): names the step and the
     * first such parameter, reading the weights only now. Nothing after that step is saved: checkpoints are written
     * between epochs, and this stops the epoch.
     */
    private DivergenceException nonFiniteWeight(int epoch, int index, float lr) {
        for (Parameter p : model.parameters()) {
            for (float v : p.value().toFloatArray()) {
                if (!Float.isFinite(v)) {
                    return new DivergenceException("training diverged at epoch " + (epoch + 1) + ", batch " + (index + 1)
                            + ": parameter " + p.name() + " became " + v + " (learning rate " + lr
                            + "); stop and resume from the last checkpoint with a lower learning rate");
                }
            }
        }
        return new DivergenceException("training diverged at epoch " + (epoch + 1) + ", batch " + (index + 1)
                + ": an update made a weight NaN or infinite (learning rate " + lr + ")");
    }

    /**
     * Evaluates {@code data} without augmentation; accuracy is averaged per image. Batches are assembled on the
     * backend as in training (see the constructors).
     */
    public ConfusionMatrix evaluate(Dataset data) {
        return evaluate(model, backend, data, config.batchSize(), null, null, residentFor(data));
    }

    /** Evaluation usable without a trainer (a loaded model, say). */
    public static ConfusionMatrix evaluate(QuantModel model, Backend backend, Dataset data, int batchSize) {
        return evaluate(model, backend, data, batchSize, null);
    }

    /** As {@link #evaluate(QuantModel, Backend, Dataset, int)}; {@code imagesDone} (may be null) hears after each batch. */
    public static ConfusionMatrix evaluate(QuantModel model, Backend backend, Dataset data, int batchSize,
                                           java.util.function.IntConsumer imagesDone) {
        return evaluate(model, backend, data, batchSize, imagesDone, null);
    }

    /**
     * Hears one evaluated image: its index in the data set, its label, the class the confusion matrix counted as its
     * prediction, and its logits ({@code logits[offset..]}).
     */
    @FunctionalInterface
    public interface ImageLogits {
        void image(int index, int label, int prediction, float[] logits, int offset, int classes);
    }

    /**
     * As {@link #evaluate(QuantModel, Backend, Dataset, int, java.util.function.IntConsumer)}; {@code perImage} (may
     * be null) hears every image's logits, in data-set order.
     */
    public static ConfusionMatrix evaluate(QuantModel model, Backend backend, Dataset data, int batchSize,
                                           java.util.function.IntConsumer imagesDone, ImageLogits perImage) {
        return evaluate(model, backend, data, batchSize, imagesDone, perImage, null);
    }

    /** The evaluation loop; {@code onBackend} (may be null) is {@code data} kept on the backend. */
    private static ConfusionMatrix evaluate(QuantModel model, Backend backend, Dataset data, int batchSize,
                                            java.util.function.IntConsumer imagesDone, ImageLogits perImage,
                                            ResidentDataset onBackend) {
        checkData(model, data);
        ConfusionMatrix cm = new ConfusionMatrix(data.classes());
        int done = 0;
        BatchLoader.Options opts = BatchLoader.Options.eval(batchSize, model.inputSpec().normalization());
        if (onBackend != null) {
            opts = opts.withPrefetch(0);
        }
        // Without a per-image listener the predictions are counted on the backend and read once, at the end.
        boolean countThere = perImage == null;
        try (BatchLoader loader = new BatchLoader(data, opts, 0);
             Tensor counts = countThere ? backend.zeros(DType.FLOAT32, data.classes(), data.classes()) : null) {
            for (int batch = 0; batch < loader.batchCount(); batch++) {
                int[] labels = null; // on the host only where the per-image listener needs them
                int size;
                float[] logits = null;
                try (Step step = new Step(backend, false)) {
                    Tensor x, y;
                    if (onBackend != null) {
                        BatchLoader.BatchPlan plan = loader.plan(batch);
                        size = plan.size();
                        labels = countThere ? null : labelsOf(data, plan);
                        ImageBatch b = onBackend.batch(plan);
                        x = step.keep(b.images());
                        y = step.keep(b.labels());
                    } else {
                        Batch b = loader.next();
                        labels = b.labels();
                        size = b.size();
                        x = images(step, backend, b, data.shape());
                        y = countThere ? step.keep(backend.fromInts(labels, labels.length)) : null;
                    }
                    Tensor out = model.forward(step, x);
                    if (countThere) {
                        backend.accumulateConfusion(out, y, counts);
                    } else {
                        logits = out.toFloatArray();
                    }
                }
                if (logits != null) {
                    cm.add(logits, labels, size);
                    int k = logits.length / size;
                    for (int i = 0; i < size; i++) {
                        perImage.image(done + i, labels[i], ConfusionMatrix.argmax(logits, i * k, k), logits, i * k,
                                k);
                    }
                }
                done += size;
                if (imagesDone != null) {
                    imagesDone.accept(done);
                }
            }
            if (countThere) {
                cm.addCounts(counts.toFloatArray());
            }
        }
        return cm;
    }

    /**
     * Refuses data whose image shape or class count is not the model's, naming both: caught before any batch is
     * made, instead of as a layer's shape error deep in the forward pass.
     */
    static void checkData(QuantModel model, Dataset data) {
        dev.qat4j.models.InputSpec spec = model.inputSpec();
        if (data.channels() != spec.channels() || data.height() != spec.height() || data.width() != spec.width()) {
            throw new IllegalArgumentException("model " + model.name() + " expects images of " + spec.channels()
                    + " x " + spec.height() + " x " + spec.width() + " (channels x height x width), but " + data.name()
                    + " has " + data.channels() + " x " + data.height() + " x " + data.width());
        }
        if (data.classes() != spec.classes()) {
            throw new IllegalArgumentException("model " + model.name() + " has " + spec.classes() + " classes, but "
                    + data.name() + " has " + data.classes());
        }
    }

    @Override
    public void close() {
        optimizer.close();
        resident.values().forEach(ResidentDataset::close);
        resident.clear();
    }
}
