package dev.qat4j.integer.export;

import dev.qat4j.TestData;
import dev.qat4j.backend.Backend;
import dev.qat4j.checkpoint.Checkpoint;
import dev.qat4j.checkpoint.CheckpointIO;
import dev.qat4j.data.Batch;
import dev.qat4j.data.BatchLoader;
import dev.qat4j.data.Cifar10;
import dev.qat4j.data.Dataset;
import dev.qat4j.data.Split;
import dev.qat4j.integer.IntegerConverter;
import dev.qat4j.integer.IntegerModel;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.ModelState;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.Step;
import dev.qat4j.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;

/** The integer models the export tests use and the boundary codes they run on. */
final class ExportFixtures {
    static final Path RESNET20_INT8 = Path.of("bench/results/gpu-h200/train/checkpoints/resnet20-int8-mpact.qck");

    private ExportFixtures() {
    }

    /** The trained ResNet20 with int8 mPACT activations; the caller closes it (the integer model shares its stem). */
    static QuantModel resnet20(Backend b) throws IOException {
        Checkpoint c = CheckpointIO.read(RESNET20_INT8);
        QuantModel m = Models.build(c.model(), BitWidths.fromYaml(c.metaString(ModelState.BITS_KEY), c.model(), "ckpt"),
                b, 0);
        ModelState.load(m, c);
        return m;
    }

    /** ToyNet cfg1-star with random weights: 16-bit codes, wide int32 values and int64 accumulators. */
    static QuantModel toyNet(Backend b, long seed) {
        return Models.build("toynet", BitWidths.preset("toynet", "cfg1-star"), b, seed);
    }

    static IntegerModel integer(QuantModel m) {
        return IntegerConverter.convert(m, IntegerConverter.Options.exact());
    }

    /** Boundary codes of the first {@code n} CIFAR-10 test images; skips the test when the data set is absent. */
    static int[] cifar10Codes(Backend b, IntegerModel im, int n) {
        Path data = TestData.cifar10();
        Assumptions.assumeTrue(data != null, "no CIFAR-10 archive: set QAT4J_DATA");
        Dataset test = Cifar10.load(data, Split.TEST).take(n);
        try (BatchLoader it = new BatchLoader(test, BatchLoader.Options.eval(n), 0);
             Step step = new Step(b, false)) {
            Batch batch = it.next();
            Tensor x = step.keep(b.fromFloats(batch.images(), batch.size(), 3, 32, 32));
            return im.boundaryCodes(b, x);
        }
    }

    /** Boundary codes of {@code n} synthetic normalized images (enough for random weights). */
    static int[] syntheticCodes(Backend b, IntegerModel im, int n, long seed) {
        Random r = new Random(seed);
        float[] images = new float[n * 3 * 32 * 32];
        for (int i = 0; i < images.length; i++) {
            images[i] = (float) (r.nextGaussian() * 1.5);
        }
        try (Step step = new Step(b, false)) {
            Tensor x = step.keep(b.fromFloats(images, n, 3, 32, 32));
            return im.boundaryCodes(b, x);
        }
    }
}
