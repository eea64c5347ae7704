package dev.qat4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.checkpoint.Checkpoint;
import dev.qat4j.checkpoint.CheckpointIO;
import dev.qat4j.data.Augmentation;
import dev.qat4j.data.Dataset;
import dev.qat4j.data.Normalization;
import dev.qat4j.integer.IntegerConverter;
import dev.qat4j.integer.IntegerEval;
import dev.qat4j.integer.IntegerModel;
import dev.qat4j.integer.IntegerModelIO;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.InputSpec;
import dev.qat4j.models.ModelState;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.Step;
import dev.qat4j.tensor.Tensor;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The library's networks on a user's own 1-channel 16 x 16 images with four classes: they train, their checkpoints
 * and integer models record the input spec, and wrong shapes are refused with both shapes named.
 */
class AnyInputTrainTest {
    static final int SIDE = 16;
    static final int CLASSES = 4;
    static final Backend CPU = Backends.byName("cpu");

    /**
     * Separable synthetic images: class k is a bright 6 x 6 square in quadrant k on a dim noisy background, so
     * a small CNN tells them apart within a few steps.
     */
    static Dataset squares(String name, int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        byte[] pixels = new byte[n * SIDE * SIDE];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            int k = i % CLASSES;
            labels[i] = k;
            int top = (k / 2) * (SIDE / 2) + 1, left = (k % 2) * (SIDE / 2) + 1;
            for (int y = 0; y < SIDE; y++) {
                for (int x = 0; x < SIDE; x++) {
                    boolean inside = y >= top && y < top + 6 && x >= left && x < left + 6;
                    pixels[i * SIDE * SIDE + y * SIDE + x] = (byte) ((inside ? 180 : 20) + r.nextInt(60));
                }
            }
        }
        return Dataset.ofBytes(name, 1, SIDE, SIDE, CLASSES, pixels, labels);
    }

    static final Dataset TRAIN = squares("squares-train", 128, 1);
    static final Dataset TEST = squares("squares-test", 64, 2);
    static final InputSpec SPEC = InputSpec.forData(TRAIN, Normalization.of(TRAIN), List.of("nw", "ne", "sw", "se"));

    /** The seed's lr for the model (0.01 ToyNet, 0.1 ResNet20 at a larger batch), small batches: many steps. */
    static TrainConfig config(int epochs, float lr) {
        // flipping would swap the left and right classes: crop only
        return TrainConfig.builder().epochs(epochs).batchSize(16).lr(lr).augmentation(new Augmentation(2, false))
                .seed(3).build();
    }

    /** Per-epoch training loss of {@code m} over {@code epochs} epochs on the first {@code images} of TRAIN. */
    static double[] train(QuantModel m, int images, int epochs, float lr) {
        double[] losses = new double[epochs];
        try (Trainer t = new Trainer(m, CPU, config(epochs, lr))) {
            for (int e = 0; e < epochs; e++) {
                losses[e] = t.trainEpoch(TRAIN.take(images), e, null).loss();
            }
        }
        return losses;
    }

    @Test
    void toyNetLearnsOneChannelSixteenPixelImagesWellAboveChance() {
        try (QuantModel m = Models.build("toynet", BitWidths.preset("toynet", "cfg1-star"), SPEC, CPU, 1)) {
            assertEquals(SPEC, m.inputSpec());
            double before = Trainer.evaluate(m, CPU, TEST, 64).accuracy();
            double[] losses = train(m, 64, 4, 0.01f); // ToyNet is the slowest on the CPU: fewer images
            double after = Trainer.evaluate(m, CPU, TEST, 64).accuracy();
            assertTrue(losses[3] < losses[0], "loss falls: " + java.util.Arrays.toString(losses));
            assertTrue(after >= 0.6, "4 classes, chance 0.25: before " + before + ", after " + after);
        }
    }

    /** Where the {@code dataset-fashion-mnist} package installs Fashion-MNIST; the test below skips without it. */
    static final Path FASHION = Path.of("/usr/share/datasets/fashion-mnist");

    @Test
    void resNet20LearnsFashionMnistWithItsOwnStatistics() {
        Path images = FASHION.resolve("train-images-idx3-ubyte.gz");
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isReadable(images),
                "Fashion-MNIST not installed (dataset-fashion-mnist)");
        Dataset all = dev.qat4j.data.Idx.load(images, FASHION.resolve("train-labels-idx1-ubyte.gz"));
        Dataset train = all.take(320), test = all.subset(320, 576);
        InputSpec spec = InputSpec.forData(train);
        assertArrayEquals(new int[] {1, 28, 28}, spec.shape());
        try (QuantModel m = Models.build("resnet20", BitWidths.preset("resnet20", "int8-mpact"), spec, CPU, 2);
             Trainer t = new Trainer(m, CPU, TrainConfig.builder().epochs(2).batchSize(16).lr(0.05f).seed(1)
                     .build())) {
            double first = t.trainEpoch(train, 0, null).loss(), second = t.trainEpoch(train, 1, null).loss();
            double accuracy = t.evaluate(test).accuracy();
            assertTrue(second < first, "loss falls: " + first + " -> " + second);
            assertTrue(accuracy > 0.3, "10 classes, chance 0.1: " + accuracy);
        }
    }

    @Test
    void resNet20TrainsOnOneChannelImagesAndItsIntegerModelMatchesFakeQuant(@TempDir Path dir) throws Exception {
        try (QuantModel m = Models.build("resnet20", BitWidths.preset("resnet20", "int8-mpact"), SPEC, CPU, 4)) {
            double[] losses = train(m, 128, 2, 0.05f);
            assertTrue(losses[1] < losses[0], "loss falls: " + java.util.Arrays.toString(losses));
            double accuracy = Trainer.evaluate(m, CPU, TEST, 64).accuracy();
            assertTrue(accuracy > 0.4, "4 classes, chance 0.25: " + accuracy);

            IntegerModel im = IntegerConverter.convert(m, IntegerConverter.Options.exact());
            assertEquals(SPEC, im.inputSpec());
            assertEquals(CLASSES, im.numClasses());
            IntegerEval.Result r = new IntegerEval(m, CPU, 16).compare(im, TEST.take(16));
            assertEquals(1.0, r.agreement(), 1e-9, "top-1 of integer and fake-quant models: " + r);
            IntegerEval.LayerStats first = r.layers().get(0);
            assertTrue(first.compared() > 0 && first.maxLsbDiff() <= 1, first.toString());

            Path qim = dir.resolve("squares.qim");
            IntegerModelIO.write(qim, im);
            assertEquals(SPEC, InputSpec.of(CheckpointIO.read(qim), qim.toString()));
            try (IntegerModel back = IntegerModelIO.read(qim, CPU); Tensor x = images(TEST, 4)) {
                assertEquals(SPEC, back.inputSpec());
                assertArrayEquals(im.logits(CPU, x), back.logits(CPU, x));
            }
            try (Tensor cifar = CPU.fromFloats(new float[2 * 3 * SIDE * SIDE], 2, 3, SIDE, SIDE)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> im.logits(CPU, cifar));
                assertTrue(e.getMessage().contains("[N, 1, 16, 16]") && e.getMessage().contains("[2, 3, 16, 16]"),
                        e.getMessage());
            }
        }
    }

    /** The first {@code n} images of {@code d}, normalised by {@link #SPEC}, as [n, 1, 16, 16]. */
    static Tensor images(Dataset d, int n) {
        float[] raw = new float[n * SIDE * SIDE];
        float[] out = new float[raw.length];
        for (int i = 0; i < n; i++) {
            d.copyImage(i, raw, i * SIDE * SIDE);
        }
        SPEC.normalization().apply(raw, 0, n * SIDE * SIDE, out, 0); // one channel: all images are one plane
        return CPU.fromFloats(out, n, 1, SIDE, SIDE);
    }

    @Test
    void aCheckpointRecordsTheSpecAndLoadsOnlyIntoAModelOfThatSpec(@TempDir Path dir) throws Exception {
        BitWidths bits = BitWidths.preset("toynet", "cfg1-star");
        try (QuantModel a = Models.build("toynet", bits, SPEC, CPU, 5); Tensor x = images(TEST, 3)) {
            Path file = dir.resolve("squares.qck");
            CheckpointIO.write(file, ModelState.save(a, null));
            Checkpoint c = CheckpointIO.read(file);
            InputSpec recorded = InputSpec.of(c, file.toString());
            assertEquals(SPEC, recorded);
            assertEquals(List.of("nw", "ne", "sw", "se"), recorded.classNames());
            try (QuantModel b = Models.build("toynet", bits, recorded, CPU, 6)) {
                ModelState.load(b, c);
                assertArrayEquals(logits(a, x), logits(b, x));
            }
            try (QuantModel cifar = Models.build("toynet", bits, CPU, 6)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> ModelState.load(cifar, c));
                assertTrue(e.getMessage().contains("input spec"), e.getMessage());
            }
        }
    }

    static float[] logits(QuantModel m, Tensor x) {
        try (Step s = new Step(CPU, false)) {
            return m.forward(s, x).toFloatArray();
        }
    }

    @Test
    void wrongShapesAreRefusedNamingExpectedAndActual() {
        try (QuantModel m = Models.build("toynet", BitWidths.preset("toynet", "cfg1-star"), SPEC, CPU, 1)) {
            try (Tensor cifarBatch = CPU.fromFloats(new float[2 * 3 * 32 * 32], 2, 3, 32, 32);
                 Step s = new Step(CPU, false)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> m.forward(s, cifarBatch));
                assertTrue(e.getMessage().contains("[N, 1, 16, 16]") && e.getMessage().contains("[2, 3, 32, 32]"),
                        e.getMessage());
            }
            Dataset rgb = Dataset.ofBytes("rgb", 3, SIDE, SIDE, CLASSES, new byte[4 * 3 * SIDE * SIDE],
                    new int[4]);
            try (Trainer t = new Trainer(m, CPU, config(1, 0.01f))) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> t.trainEpoch(rgb, 0, null));
                assertTrue(e.getMessage().contains("1 x 16 x 16") && e.getMessage().contains("3 x 16 x 16"),
                        e.getMessage());
                Dataset tenClasses = Dataset.ofBytes("ten", 1, SIDE, SIDE, 10, new byte[SIDE * SIDE], new int[1]);
                e = assertThrows(IllegalArgumentException.class, () -> t.evaluate(tenClasses));
                assertTrue(e.getMessage().contains("4 classes") && e.getMessage().contains("has 10"), e.getMessage());
            }
        }
    }

    @Test
    void anImageTooSmallForTheDownsamplingIsRefusedNamingTheLayer() {
        InputSpec tiny = new InputSpec(1, 1, 1, Normalization.scaleOnly(1), InputSpec.numberedClasses(2));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Models.build("toynet", BitWidths.preset("toynet", "cfg1-star"), tiny, CPU, 1));
        assertTrue(e.getMessage().contains("s1.b0.down.conv") && e.getMessage().contains("1x1"), e.getMessage());
        // ResNet20 pads every strided conv, so even 1 x 1 leaves one pixel; MobileNetV2 likewise
        try (QuantModel r = Models.build("resnet20", BitWidths.preset("resnet20", "int8-mpact"), tiny, CPU, 1)) {
            assertEquals(2, r.inputSpec().classes());
        }
    }

    static List<String> rows(QuantModel m) {
        return m.summary().stream().map(r -> r.name() + " " + r.type() + " " + java.util.Arrays.toString(r.outShape())
                + " " + r.params() + " " + r.madds()).toList();
    }

    @Test
    void theCifarSpecBuildsTheSeedNetworksUnchanged() {
        for (String name : Models.NAMES) {
            BitWidths bits = BitWidths.preset(name, "fp32");
            try (QuantModel plain = Models.build(name, bits, CPU, 1);
                 QuantModel spec = Models.build(name, bits, InputSpec.CIFAR10, CPU, 1)) {
                assertEquals(plain.paramCount(), spec.paramCount(), name);
                assertEquals(plain.maddCount(), spec.maddCount(), name);
                assertEquals(rows(plain), rows(spec), name);
            }
        }
        // another size pools globally where the seed's fixed window no longer covers the last map
        InputSpec gray28 = new InputSpec(1, 28, 28, Normalization.scaleOnly(1), InputSpec.numberedClasses(10));
        for (String name : Models.NAMES) {
            try (QuantModel m = Models.build(name, BitWidths.preset(name, "fp32"), gray28, CPU, 1)) {
                assertEquals(10, m.summary().get(m.summary().size() - 1).outShape()[0], name);
            }
        }
    }
}
