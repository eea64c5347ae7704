package example;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.checkpoint.CheckpointIO;
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
import dev.qat4j.predict.Predictions;
import dev.qat4j.predict.Predictor;
import dev.qat4j.train.TrainConfig;
import dev.qat4j.train.Trainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * qat4j used as a library by an application of its own: it generates 1-channel 16 x 16 images of three shapes
 * (a horizontal bar, a vertical bar, a square), trains a quantized ToyNet on them, saves the training checkpoint and
 * its integer model, and predicts with both through the Predictor. The block between the README markers is the
 * README's "Using qat4j as a library" example, word for word (a test in the main build compares them). Exits with
 * status 1 when the predictions are not what training should give, so CI notices.
 */
public final class TrainAndPredict {
    static final int SIZE = 16;
    static final int CLASSES = 3;

    public static void main(String[] args) throws Exception {
        Path dir = Files.createTempDirectory("qat4j-example");
        Random random = new Random(1);
        int trainCount = 1500, testCount = 300;
        int[] trainLabels = new int[trainCount], testLabels = new int[testCount];
        byte[] trainPixels = images(random, trainLabels), testPixels = images(random, testLabels);

        // README: using qat4j as a library (begin)
        // train on your own images: uint8 pixels, N x C x H x W, labels 0..classes-1
        Dataset train = Dataset.ofBytes("shapes", 1, 16, 16, 3, trainPixels, trainLabels);
        InputSpec spec = InputSpec.forData(train, Normalization.of(train), List.of("horizontal", "vertical", "square"));
        Backend backend = Backends.get();
        TrainConfig config = TrainConfig.builder().epochs(4).batchSize(32).lr(0.02f).augment(false).build();
        try (QuantModel model = Models.build("toynet", BitWidths.preset("toynet", "cfg1-star"), spec, backend, 42);
             Trainer trainer = new Trainer(model, backend, config)) {
            for (int epoch = 0; epoch < config.epochs(); epoch++) {
                trainer.trainEpoch(train, epoch, null);
            }
            CheckpointIO.write(dir.resolve("shapes.qck"), ModelState.save(model, Map.of()));
            try (IntegerModel integer = IntegerConverter.convert(model, IntegerConverter.Options.exact())) {
                IntegerModelIO.write(dir.resolve("shapes.qim"), integer);
            }
        }
        // predict with either file: the input spec recorded in it normalises the pixels
        try (Predictor p = Predictor.load(dir.resolve("shapes.qim"))) {
            Predictions r = p.predictPixels(testPixels);
            System.out.println(r.label(0) + " " + r.topK(0, 2));
        }
        // README: using qat4j as a library (end)

        int[] floatLabels, integerLabels;
        try (Predictor p = Predictor.options().requireNative().load(dir.resolve("shapes.qck"))) {
            floatLabels = argmaxes(p.predictPixels(testPixels));
            System.out.println("float model (" + p.kind() + ", backend " + p.backend().name() + "): accuracy "
                    + accuracy(floatLabels, testLabels));
        }
        try (Predictor p = Predictor.options().requireNative().load(Files.readAllBytes(dir.resolve("shapes.qim")))) {
            integerLabels = argmaxes(p.predictPixels(testPixels));
            System.out.println("integer model (" + p.kind() + "): accuracy " + accuracy(integerLabels, testLabels));
        }
        int agree = 0;
        for (int i = 0; i < testCount; i++) {
            agree += floatLabels[i] == integerLabels[i] ? 1 : 0;
        }
        System.out.println("top-1 agreement float vs integer: " + agree + " / " + testCount);
        if (accuracy(floatLabels, testLabels) < 0.9 || accuracy(integerLabels, testLabels) < 0.9 || agree < testCount * 0.98) {
            System.err.println("example: the trained model does not predict as it should");
            System.exit(1);
        }
    }

    /** One image per label: a bright horizontal bar, vertical bar or small block at a random place on noise. */
    static byte[] images(Random random, int[] labels) {
        byte[] pixels = new byte[labels.length * SIZE * SIZE];
        for (int i = 0; i < labels.length; i++) {
            int label = random.nextInt(CLASSES), at = i * SIZE * SIZE;
            labels[i] = label;
            for (int p = 0; p < SIZE * SIZE; p++) {
                pixels[at + p] = (byte) random.nextInt(60);
            }
            int r = 2 + random.nextInt(SIZE - 6), c = 2 + random.nextInt(SIZE - 6);
            for (int k = 0; k < 12; k++) {
                int y = label == 0 ? r : label == 1 ? k + 2 : r + k % 4;
                int x = label == 0 ? k + 2 : label == 1 ? c : c + k / 4;
                pixels[at + Math.min(SIZE - 1, y) * SIZE + Math.min(SIZE - 1, x)] = (byte) (200 + random.nextInt(56));
            }
            if (label == 2) { // the square's last row
                for (int x = 0; x < 4; x++) {
                    pixels[at + (r + 3) * SIZE + c + x] = (byte) (200 + random.nextInt(56));
                }
            }
        }
        return pixels;
    }

    static int[] argmaxes(Predictions r) {
        int[] out = new int[r.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = r.argmax(i);
        }
        return out;
    }

    static double accuracy(int[] predicted, int[] labels) {
        int hits = 0;
        for (int i = 0; i < labels.length; i++) {
            hits += predicted[i] == labels[i] ? 1 : 0;
        }
        return (double) hits / labels.length;
    }
}
