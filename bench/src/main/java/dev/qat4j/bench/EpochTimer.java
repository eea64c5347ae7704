package dev.qat4j.bench;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.data.Cifar10;
import dev.qat4j.data.Dataset;
import dev.qat4j.data.Split;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.train.ConfusionMatrix;
import dev.qat4j.train.TrainConfig;
import dev.qat4j.train.Trainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Wall-clock timer of whole training epochs and evaluations through the public API ({@link Trainer#trainEpoch},
 * {@link Trainer#evaluate}) on any backend: what a user of {@code qat4j train} waits for, data loading, augmentation
 * (random crop with padding 4, horizontal flip), loss read-back and the after-step checks included. The Trainer keeps
 * the uint8 data sets on the backend where it can ({@code ResidentDataset}).
 *
 * <pre>java -cp ... dev.qat4j.bench.EpochTimer --backend cuda --model resnet20 --bits int8 [--epochs 2]
 *      [--batch-size 128] [--data CIFAR_DIR] [--limit-train N] [--limit-test N] [--json FILE]</pre>
 *
 * Without {@code --data} the images are random uint8 pixels of CIFAR-10's shape and size (50,000 train, 10,000 test,
 * labels i % 10): the time of an epoch does not depend on pixel values. Output lines:
 * {@code EPOCH <model>:<bits> <backend> epoch <i> train_s <s> eval_s <s> train_img_per_s <r> eval_img_per_s <r>
 * test_acc <a>}, then {@code EPOCHS ... median_train_s ... median_eval_s ...} over the epochs after the first (the
 * first, which includes one-time costs such as the upload of the data sets, is reported as well).
 */
public final class EpochTimer {
    private EpochTimer() {
    }

    public static void main(String[] args) throws IOException {
        String backendName = "cuda", model = "resnet20", bits = "int8", json = null, data = null;
        int batch = 128, epochs = 2, limitTrain = 0, limitTest = 0;
        boolean hostBatches = false;
        for (int i = 0; i < args.length; i++) {
            String v = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--backend" -> backendName = v;
                case "--model" -> model = v;
                case "--bits" -> bits = v;
                case "--batch-size", "--batch" -> batch = Integer.parseInt(v);
                case "--epochs" -> epochs = Integer.parseInt(v);
                case "--data" -> data = v;
                case "--limit-train" -> limitTrain = Integer.parseInt(v);
                case "--limit-test" -> limitTest = Integer.parseInt(v);
                case "--json" -> json = v;
                case "--host-batches" -> hostBatches = Boolean.parseBoolean(v); // true: BatchLoader, copied per step
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
            i++;
        }
        if (epochs < 1) {
            throw new IllegalArgumentException("--epochs must be >= 1, got " + epochs);
        }
        Backend b = Backends.byName(backendName);
        System.out.println("backend " + b.name() + ": " + b.description());
        Dataset train, test;
        String source;
        if (data != null) {
            train = Cifar10.load(Path.of(data), Split.TRAIN);
            test = Cifar10.load(Path.of(data), Split.TEST);
            source = "cifar10 " + data;
        } else {
            train = randomImages("random-train", 50_000, 1);
            test = randomImages("random-test", 10_000, 2);
            source = "random uint8 images of CIFAR-10's shape (timing does not depend on pixel values)";
        }
        if (limitTrain > 0 && limitTrain < train.size()) {
            train = train.take(limitTrain);
        }
        if (limitTest > 0 && limitTest < test.size()) {
            test = test.take(limitTest);
        }
        System.out.printf(Locale.ROOT, "data: %s; %d train / %d test images, batch %d, augmentation crop pad 4 + flip%n",
                source, train.size(), test.size(), batch);
        String tag = model + ":" + bits;
        TrainConfig config = TrainConfig.builder().epochs(epochs).batchSize(batch).lr(0.01f).seed(1).build();
        double[] trainS = new double[epochs], evalS = new double[epochs];
        double acc = 0;
        boolean resident;
        try (QuantModel m = Models.build(model, BitWidths.preset(model, bits), b, 1);
             Trainer t = new Trainer(m, b, config, !hostBatches)) {
            resident = t.keepsOnBackend(train);
            System.out.println("data sets kept on the backend: " + resident);
            for (int e = 0; e < epochs; e++) {
                long t0 = System.nanoTime();
                Trainer.EpochStats st = t.trainEpoch(train, e, null);
                long t1 = System.nanoTime();
                ConfusionMatrix cm = t.evaluate(test);
                long t2 = System.nanoTime();
                trainS[e] = (t1 - t0) / 1e9;
                evalS[e] = (t2 - t1) / 1e9;
                acc = cm.accuracy();
                System.out.printf(Locale.ROOT, "EPOCH %s %s epoch %d train_s %.3f eval_s %.3f train_img_per_s %.0f "
                        + "eval_img_per_s %.0f loss %.4f test_acc %.4f%n", tag, b.name(), e, trainS[e], evalS[e],
                        train.size() / trainS[e], test.size() / evalS[e], st.loss(), acc);
            }
        }
        // the first epoch pays one-time costs (data upload, kernel selection): the median is over the later ones
        double[] laterTrain = epochs > 1 ? Arrays.copyOfRange(trainS, 1, epochs) : trainS.clone();
        double[] laterEval = epochs > 1 ? Arrays.copyOfRange(evalS, 1, epochs) : evalS.clone();
        double medTrain = median(laterTrain), medEval = median(laterEval);
        System.out.printf(Locale.ROOT, "EPOCHS %s %s median_train_s %.3f median_eval_s %.3f median_total_s %.3f "
                + "first_train_s %.3f first_eval_s %.3f epochs %d (median over %s)%n", tag, b.name(), medTrain, medEval,
                medTrain + medEval, trainS[0], evalS[0], epochs, epochs > 1 ? "epochs after the first" : "one epoch");
        if (json != null) {
            String out = String.format(Locale.ROOT, "{\"backend\":\"%s\",\"device\":\"%s\",\"model\":\"%s\",\"bits\":\"%s\","
                    + "\"batch\":%d,\"data\":\"%s\",\"train_images\":%d,\"test_images\":%d,\"resident\":%b,"
                    + "\"epochs\":%d,\"train_s\":%s,\"eval_s\":%s,\"first\":{\"train_s\":%.4f,\"eval_s\":%.4f},"
                    + "\"median\":{\"train_s\":%.4f,\"eval_s\":%.4f,\"total_s\":%.4f,\"total_ms\":%.1f},"
                    + "\"test_accuracy\":%.4f}",
                    b.name(), jsonEscape(b.description()), model, bits, batch, data == null ? "random" : "cifar10",
                    train.size(), test.size(), resident, epochs, jsonArray(trainS), jsonArray(evalS), trainS[0],
                    evalS[0], medTrain, medEval, medTrain + medEval, (medTrain + medEval) * 1e3, acc);
            Files.writeString(Path.of(json), out + "\n");
        }
    }

    /** {@code n} random uint8 images of CIFAR-10's shape, labels {@code i % 10}. */
    private static Dataset randomImages(String name, int n, long seed) {
        byte[] px = new byte[n * Cifar10.IMAGE_BYTES];
        new SplittableRandom(seed).nextBytes(px);
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            labels[i] = i % Cifar10.CLASSES;
        }
        return Dataset.ofBytes(name, Cifar10.CHANNELS, Cifar10.HEIGHT, Cifar10.WIDTH, Cifar10.CLASSES, px, labels);
    }

    /** The median (upper middle for an even count), as StepTimer and the PyTorch scripts take it. */
    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    private static String jsonArray(double[] v) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < v.length; i++) {
            sb.append(i == 0 ? "" : ",").append(String.format(Locale.ROOT, "%.4f", v[i]));
        }
        return sb.append(']').toString();
    }

    private static String jsonEscape(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"");
    }
}
