package dev.qat4j.train;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Results.Loss;
import dev.qat4j.data.Batch;
import dev.qat4j.data.BatchLoader;
import dev.qat4j.data.Dataset;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.Parameter;
import dev.qat4j.nn.Step;
import dev.qat4j.tensor.Tensor;

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

    public Trainer(QuantModel model, Backend backend, TrainConfig config) {
        this.model = model;
        this.backend = backend;
        this.config = config;
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

    /** Trains one epoch (0-based {@code epoch}, which selects the learning rate and the shuffle). */
    public EpochStats trainEpoch(Dataset train, int epoch, Listener listener) {
        checkData(model, train);
        float lr = config.schedule().at(epoch);
        BatchLoader.Options opts = BatchLoader.Options.train(config.batchSize(), config.seed(), config.augmentation(),
                model.inputSpec().normalization());
        long start = System.nanoTime();
        double lossSum = 0;
        long images = 0, correct = 0;
        int index = 0;
        try (BatchLoader loader = new BatchLoader(train, opts, epoch)) {
            int batches = loader.batchCount();
            while (loader.hasNext()) {
                Batch b = loader.next();
                StepResult r = trainStep(b, train.shape(), lr, epoch, index);
                lossSum += (double) r.loss() * b.size();
                images += b.size();
                correct += r.correct();
                index++;
                if (listener != null) {
                    double secs = (System.nanoTime() - start) / 1e9;
                    listener.batch(epoch, index, batches, r.loss(), (double) correct / images,
                            images / Math.max(secs, 1e-9));
                }
            }
        }
        double secs = (System.nanoTime() - start) / 1e9;
        return new EpochStats(epoch, lr, images == 0 ? 0 : lossSum / images, images == 0 ? 0 : (double) correct / images,
                images, secs);
    }

    private record StepResult(float loss, long correct) {
    }

    /** The images of a batch as a tensor [n, c, h, w] (the loader fills exactly n images). */
    private static Tensor images(Step step, Backend backend, Batch b, int[] chw) {
        return step.keep(backend.fromFloats(b.images(), b.size(), chw[0], chw[1], chw[2]));
    }

    private StepResult trainStep(Batch b, int[] chw, float lr, int epoch, int index) {
        int n = b.size();
        try (Step step = new Step(backend, true)) {
            Tensor logits = model.forward(step, images(step, backend, b, chw));
            int[] labels = b.labels();
            try (Loss loss = backend.softmaxCrossEntropy(logits, step.keep(backend.fromInts(labels, n)),
                    config.labelSmoothing())) {
                float value = loss.loss().toFloatArray()[0] + optimizer.alphaPenaltyLoss();
                if (!Float.isFinite(value)) {
                    throw new DivergenceException("training diverged at epoch " + (epoch + 1) + ", batch " + (index + 1)
                            + ": loss is " + value + " (learning rate " + lr + "); the update was not applied");
                }
                ConfusionMatrix cm = new ConfusionMatrix(logits.dim(1));
                cm.add(logits.toFloatArray(), labels, n);
                model.backward(step, loss.dlogits());
                optimizer.step(lr);
                checkFinite(epoch, index, lr);
                return new StepResult(value, cm.correct());
            }
        }
    }

    /** A weight that became NaN or infinite stops training: nothing after this step may be saved from it. */
    private void checkFinite(int epoch, int index, float lr) {
        for (Parameter p : model.parameters()) {
            for (float v : p.value().toFloatArray()) {
                if (!Float.isFinite(v)) {
                    throw new DivergenceException("training diverged at epoch " + (epoch + 1) + ", batch " + (index + 1)
                            + ": parameter " + p.name() + " became " + v + " (learning rate " + lr
                            + "); stop and resume from the last checkpoint with a lower learning rate");
                }
            }
        }
    }

    /** Evaluates {@code data} without augmentation; accuracy is averaged per image. */
    public ConfusionMatrix evaluate(Dataset data) {
        return evaluate(model, backend, data, config.batchSize());
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
        checkData(model, data);
        ConfusionMatrix cm = new ConfusionMatrix(data.classes());
        int done = 0;
        BatchLoader.Options opts = BatchLoader.Options.eval(batchSize, model.inputSpec().normalization());
        try (BatchLoader loader = new BatchLoader(data, opts, 0)) {
            while (loader.hasNext()) {
                Batch b = loader.next();
                try (Step step = new Step(backend, false)) {
                    float[] logits = model.forward(step, images(step, backend, b, data.shape())).toFloatArray();
                    cm.add(logits, b.labels(), b.size());
                    if (perImage != null) {
                        int k = logits.length / b.size();
                        for (int i = 0; i < b.size(); i++) {
                            perImage.image(done + i, b.labels()[i], ConfusionMatrix.argmax(logits, i * k, k), logits,
                                    i * k, k);
                        }
                    }
                }
                done += b.size();
                if (imagesDone != null) {
                    imagesDone.accept(done);
                }
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
    }
}
