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
import dev.qat4j.nn.ActQuant;
import dev.qat4j.nn.Init;
import dev.qat4j.nn.Module;
import dev.qat4j.nn.QConv2d;
import dev.qat4j.nn.ResidualBlock;
import dev.qat4j.nn.Sequential;
import dev.qat4j.nn.Step;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;

/** The integer models the export tests use and the boundary codes they run on. */
final class ExportFixtures {
    static final Path RESNET20_INT8 = Path.of("bench/results/gpu-h200/train/checkpoints/resnet20-int8-mpact.qck");

    /**
     * Where the end-to-end ResNet20 checkpoint (every conv integer, only the input quantizer before the integer part)
     * will be; {@link #resnet20EndToEnd} uses it when it exists.
     */
    static final Path RESNET20_E2E = Path.of("bench/results/integer/e2e/resnet20-int8-mpact-e2e.qck");

    /**
     * The end-to-end ResNet20 fine-tuned with its residual streams' clips tied (preset {@code int8-mpact-e2e-tied}):
     * every residual add weighs exactly one output code.
     */
    static final Path RESNET20_E2E_TIED = Path.of("bench/results/integer/e2e/resnet20-int8-mpact-e2e-tied.qck");

    /** {@link #RESNET20_E2E_TIED} with its BN β moved so that every conv bias is whole accumulator units ({@link BiasSnap}). */
    static final Path RESNET20_E2E_TIED_SNAPPED =
            Path.of("bench/results/integer/e2e/resnet20-int8-mpact-e2e-tied-snapped.qck");

    /** The model of checkpoint {@code file}, built with the bit widths it records and loaded; the caller closes it. */
    static QuantModel load(Path file, Backend b) throws IOException {
        Checkpoint c = CheckpointIO.read(file);
        QuantModel m = Models.build(c.model(), BitWidths.fromYaml(c.metaString(ModelState.BITS_KEY), c.model(),
                file.toString()), b, 0);
        ModelState.load(m, c);
        return m;
    }

    /** Clip α of the mPACT quantizer put on the normalized image (CIFAR-10's normalized pixels lie within ±2.8). */
    static final float INPUT_ALPHA = 3f;

    private ExportFixtures() {
    }

    /**
     * A trained ResNet20 that is integer end to end: the checkpoint at {@link #RESNET20_E2E} when it exists, else the
     * trained int8-mPACT ResNet20 ({@link #RESNET20_INT8}, FP32 stem) made end to end without retraining by
     * {@link #endToEnd}: an 8-bit mPACT quantizer on the image, the stem conv's trained weights at 8 bits, an mPACT
     * quantizer after the stem's ReLU; or the checkpoint named by the system property {@code qat4j.onnx.e2e} (to
     * measure another one with these tests). The caller closes it.
     */
    static QuantModel resnet20EndToEnd(Backend b) throws IOException {
        String other = System.getProperty("qat4j.onnx.e2e"); // another end-to-end checkpoint, for measurements
        if (other != null && !other.isBlank()) {
            return load(Path.of(other), b);
        }
        if (Files.exists(RESNET20_E2E)) {
            Checkpoint c = CheckpointIO.read(RESNET20_E2E);
            QuantModel m = Models.build(c.model(), BitWidths.fromYaml(c.metaString(ModelState.BITS_KEY), c.model(),
                    "ckpt"), b, 0);
            ModelState.load(m, c);
            return m;
        }
        return endToEnd(resnet20(b), b);
    }

    /**
     * {@code m} (a ResNet20 of any preset, FP32 stem) with an 8-bit mPACT quantizer on the image (α
     * {@link #INPUT_ALPHA}), the stem conv's weights quantized to 8 bits and the stem's ReLU output quantized by the
     * first block's kind, with the α of the first block's output quantizer (its residual then adds at the output's
     * scale) or 10 where that kind has none. {@code m}'s modules move into the result, which the caller closes;
     * {@code m} itself must not be closed or used again.
     */
    static QuantModel endToEnd(QuantModel m, Backend b) {
        List<Module> old = ((Sequential) m.net()).children();
        QConv2d stem = (QConv2d) old.get(0);
        ResidualBlock first = (ResidualBlock) old.stream().filter(x -> x instanceof ResidualBlock).findFirst()
                .orElseThrow();
        ActQuant firstOut = (ActQuant) first.post();
        float stemAlpha = firstOut.alpha() == null ? 10f : firstOut.alpha().value().toFloatArray()[0];
        QConv2d stem8 = new QConv2d("stem.conv", b, new SplittableRandom(0), Init.KAIMING_UNIFORM, 3, 16, 3, 1, 1, 1,
                8);
        stem8.weight().setValue(b.copyFrom(stem.weight().value()));
        stem.close();
        List<Module> net = new ArrayList<>();
        net.add(new ActQuant("input.q", b, ActQuantizer.mpact(8), INPUT_ALPHA));
        net.add(stem8);
        net.add(old.get(1)); // stem.bn
        net.add(old.get(2)); // stem.relu
        net.add(new ActQuant("stem.q", b, firstOut.quantizer(), stemAlpha));
        for (Module x : old.subList(3, old.size())) {
            if (x instanceof ActQuant q && q.name().equals("stem.q")) {
                q.close(); // the preset's own stem quantizer, replaced above
                continue;
            }
            net.add(x);
        }
        return new QuantModel(m.name(), m.bits(), new Sequential(m.net().name(), net), m.inputSpec());
    }

    /** The trained ResNet20 with int8 mPACT activations; the caller closes it (the integer model shares its stem). */
    static QuantModel resnet20(Backend b) throws IOException {
        Checkpoint c = CheckpointIO.read(RESNET20_INT8);
        QuantModel m = Models.build(c.model(), BitWidths.fromYaml(c.metaString(ModelState.BITS_KEY), c.model(), "ckpt"),
                b, 0);
        ModelState.load(m, c);
        return m;
    }

    /** {@code model} in its end-to-end preset ({@link BitWidths#endToEndPreset}) with random weights; the caller closes it. */
    static QuantModel endToEndPreset(String model, Backend b, long seed) {
        return Models.build(model, BitWidths.preset(model, BitWidths.endToEndPreset(model)), b, seed);
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
