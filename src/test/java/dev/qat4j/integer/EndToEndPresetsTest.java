package dev.qat4j.integer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.InputSpec;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.ActQuant;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.tensor.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The presets beyond the seed whose integer model has no float layer: each converts with only the image quantizer
 * before the integer part, runs from uint8 pixels through its code table exactly as from normalised floats, and the
 * seed's own preset of the same model is named as not end to end, with the float layer that keeps it so.
 */
class EndToEndPresetsTest {
    private static final Backend CPU = Backends.byName("cpu");

    @ParameterizedTest
    @CsvSource({"toynet, cfg1-star-e2e, cfg1-star, stem.conv", "mobilenetv2, int8-e2e, cfg1-star, stem.conv",
        "resnet20, int8-mpact-e2e, int8-mpact, stem.conv"})
    void theEndToEndPresetHasNoFloatLayerAndTheSeedPresetNamesItsFirst(String model, String e2e, String seedPreset,
                                                                      String firstFloat) {
        assertEquals(e2e, BitWidths.endToEndPreset(model));
        BitWidths bits = BitWidths.preset(model, e2e);
        assertEquals(ActQuantizer.Kind.MPACT, bits.activationKind(bits.networkInputIndex()), "a signed image quantizer");
        try (QuantModel m = Models.build(model, bits, CPU, 7)) {
            IntegerModel im = IntegerConverter.convert(m, IntegerConverter.Options.exact());
            assertTrue(im.isEndToEnd(), model + " " + e2e);
            assertNull(im.floatPrefixReason());
            assertEquals(1, im.prefix().size());
            assertTrue(im.prefix().get(0) instanceof ActQuant);
            assertEquals(-127, im.values().get(0).lo());
            assertEquals(127, im.values().get(0).hi());
            for (IntLayer l : im.layers()) {
                if (l.hasConv()) {
                    assertTrue(im.values().get(l.input()).fitsByte(), l.name() + " reads bytes");
                    assertTrue(l.weightBits() <= 8, l.name() + " has byte weights");
                }
            }
        }
        try (QuantModel m = Models.build(model, BitWidths.preset(model, seedPreset), CPU, 7)) {
            if (model.equals("mobilenetv2")) { // the seed leaves b17's shortcut and output unquantized: no integer model
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> IntegerConverter.convert(m, IntegerConverter.Options.exact()));
                assertEquals("integer conversion: layer b17.shortcut has an unquantized shortcut output (a 32-bit "
                        + "activation or no quantizer before it), where the integer path needs integer codes; the preset "
                        + "int8-e2e makes mobilenetv2 integer from input to logits (train or fine-tune into it: qat4j "
                        + "train --model mobilenetv2 --bits int8-e2e --init CHECKPOINT)", e.getMessage());
                return;
            }
            IntegerModel im = IntegerConverter.convert(m, IntegerConverter.Options.exact());
            assertFalse(im.isEndToEnd());
            String reason = im.floatPrefixReason();
            assertTrue(reason.startsWith(firstFloat + " runs in float ("), reason);
            assertThrows(IllegalStateException.class, () -> im.inputCodeTable());
        }
    }

    @ParameterizedTest
    @CsvSource({"toynet, cfg1-star-e2e", "resnet20, int8-mpact-e2e"})
    void pixelsThroughTheCodeTableGiveTheLogitsOfTheNormalisedImages(String model, String e2e) {
        InputSpec spec = InputSpec.CIFAR10;
        try (QuantModel m = Models.build(model, BitWidths.preset(model, e2e), CPU, 3)) {
            IntegerModel im = IntegerConverter.convert(m, IntegerConverter.Options.exact());
            int[] table = im.inputCodeTable();
            assertEquals(3 * 256, table.length);
            // the table is what the fake-quant quantizer module gives on the backend for every pixel value
            float[] all = new float[3 * 256];
            for (int c = 0; c < 3; c++) {
                for (int v = 0; v < 256; v++) {
                    all[c * 256 + v] = spec.normalization().apply(c, v);
                }
            }
            ActQuant q = (ActQuant) im.prefix().get(0);
            float[] quantized;
            try (Tensor t = CPU.fromFloats(all, 1, 3, 16, 16); dev.qat4j.nn.Step step = new dev.qat4j.nn.Step(CPU, false)) {
                quantized = q.forward(step, t).toFloatArray();
            }
            for (int c = 0; c < 3; c++) {
                for (int v = 0; v < 256; v++) {
                    assertEquals(im.codeOfValue(quantized[c * 256 + v]), table[c * 256 + v], "channel " + c + " pixel " + v);
                    if (v > 0) {
                        assertTrue(table[c * 256 + v] >= table[c * 256 + v - 1], "monotone in the pixel value");
                    }
                }
            }
            int n = 4, per = spec.valuesPerImage();
            byte[] pixels = new byte[n * per];
            new SplittableRandom(11).nextBytes(pixels);
            float[] normalised = new float[pixels.length];
            int plane = spec.height() * spec.width();
            for (int i = 0; i < pixels.length; i++) {
                normalised[i] = spec.normalization().apply(i / plane % 3, pixels[i] & 0xff);
            }
            long[] fromFloats;
            try (Tensor t = CPU.fromFloats(normalised, n, 3, spec.height(), spec.width())) {
                fromFloats = im.logits(CPU, t);
            }
            assertArrayEquals(fromFloats, im.logitsOfPixels(CPU, pixels, n));
            assertThrows(IllegalArgumentException.class, () -> im.logitsOfPixels(CPU, new byte[per - 1], 1));
        }
    }

    /**
     * Each end-to-end preset's integer part is one {@link dev.qat4j.backend.IntegerProgram} (no layer needs the 64-bit
     * Java kernels), and the compiled program gives exactly the layer-by-layer logits (a trace forces that path), on
     * one image and on a batch, with one thread and with three.
     */
    @ParameterizedTest
    @CsvSource({"toynet, cfg1-star-e2e", "resnet20, int8-mpact-e2e", "mobilenetv2, int8-e2e"})
    void theEndToEndPresetsRunAsOneCompiledProgramWithTheLayerByLayerBits(String model, String e2e) {
        org.junit.jupiter.api.Assumptions.assumeTrue(
                dev.qat4j.backend.cpu.CpuBackend.get().compileIntegerProgram(
                        new dev.qat4j.backend.IntegerProgram(java.util.List.of(
                                new dev.qat4j.backend.IntegerProgram.Value(dev.qat4j.tensor.DType.INT8,
                                        new int[] {1, 1, 1}, 0, 0),
                                new dev.qat4j.backend.IntegerProgram.Value(dev.qat4j.tensor.DType.INT32,
                                        new int[] {1, 1, 1}, 0, 0)),
                                java.util.List.of(new dev.qat4j.backend.IntegerProgram.SumPool(0, 1)))) != null,
                "the compiled program needs AVX-512 VNNI");
        int before = dev.qat4j.backend.cpu.CpuBackend.get().threads();
        try (QuantModel m = Models.build(model, BitWidths.preset(model, e2e), CPU, 5)) {
            IntegerModel im = IntegerConverter.convert(m, IntegerConverter.Options.exact());
            assertTrue(im.program() != null, model + " " + e2e + ": not one program");
            IntValue v0 = im.values().get(0);
            for (int n : new int[] {1, 3}) {
                int[] codes = new int[n * v0.numel()];
                SplittableRandom r = new SplittableRandom(n);
                for (int i = 0; i < codes.length; i++) {
                    codes[i] = (int) r.nextLong(v0.lo(), v0.hi() + 1);
                }
                long[] layerByLayer = im.runIntegers(CPU, codes, n, (i, l, out, lo, hi) -> { });
                for (int threads : new int[] {1, 3}) {
                    dev.qat4j.backend.cpu.CpuBackend.setThreads(threads);
                    assertArrayEquals(layerByLayer, im.runIntegers(CPU, codes, n, null),
                            model + " batch " + n + ", " + threads + " threads");
                    byte[] b = new byte[codes.length];
                    for (int i = 0; i < b.length; i++) {
                        b[i] = (byte) codes[i];
                    }
                    assertArrayEquals(layerByLayer, im.logitsOfCodes(CPU, b, n));
                }
            }
        } finally {
            dev.qat4j.backend.cpu.CpuBackend.setThreads(before);
        }
    }

    @org.junit.jupiter.api.Test
    void accumulatorBiasRoundsEachConvBiasToAWholeNumberOfAccumulatorUnits() throws Exception {
        dev.qat4j.checkpoint.Checkpoint trained = dev.qat4j.checkpoint.CheckpointIO.read(
                java.nio.file.Path.of("bench/results/integer/e2e/resnet20-int8-mpact-e2e.qck"));
        try (QuantModel m = Models.build("resnet20", BitWidths.preset("resnet20", "int8-mpact-e2e"), CPU, 6)) {
            dev.qat4j.models.ModelState.load(m, trained); // trained BN statistics: biases that are not multiples already
            IntegerModel exact = IntegerConverter.convert(m, IntegerConverter.Options.exact());
            IntegerModel acc = IntegerConverter.convert(m, IntegerConverter.Options.exact().withAccumulatorBias());
            assertEquals(exact.format() + "+accbias", acc.format());
            int moved = 0;
            for (int i = 0; i < exact.layers().size(); i++) {
                IntLayer e = exact.layers().get(i), a = acc.layers().get(i);
                assertArrayEquals(e.multiplier(), a.multiplier(), e.name());
                if (!e.hasConv()) {
                    assertArrayEquals(e.bias(), a.bias(), e.name() + ": only conv layers move their bias");
                    continue;
                }
                for (int c = 0; c < e.bias().length; c++) {
                    long mult = Math.abs((long) a.multiplier()[c]);
                    assertEquals(0, a.bias()[c] % mult, e.name() + " channel " + c + ": a multiple of the multiplier");
                    assertTrue(2 * Math.abs(a.bias()[c] - e.bias()[c]) <= mult, e.name() + " channel " + c
                            + ": the nearest multiple");
                    moved += a.bias()[c] != e.bias()[c] ? 1 : 0;
                }
            }
            assertTrue(moved > 0, "some bias moved");
        }
        assertThrows(IllegalArgumentException.class,
                () -> IntegerConverter.Options.seed().withAccumulatorBias(), "the seed path keeps its own biases");
    }

    @org.junit.jupiter.api.Test
    void anEndToEndIntegerModelFileLoadsEndToEndWithTheSameTableAndLogits(@org.junit.jupiter.api.io.TempDir
                                                                          java.nio.file.Path dir) throws Exception {
        try (QuantModel m = Models.build("resnet20", BitWidths.preset("resnet20", "int8-mpact-e2e"), CPU, 5);
             IntegerModel im = IntegerConverter.convert(m, IntegerConverter.Options.exact())) {
            java.nio.file.Path file = dir.resolve("e2e.qim");
            IntegerModelIO.write(file, im);
            try (IntegerModel back = IntegerModelIO.read(file, CPU)) {
                assertTrue(back.isEndToEnd());
                assertArrayEquals(im.inputCodeTable(), back.inputCodeTable());
                byte[] pixels = new byte[2 * InputSpec.CIFAR10.valuesPerImage()];
                new SplittableRandom(2).nextBytes(pixels);
                assertArrayEquals(im.logitsOfPixels(CPU, pixels, 2), back.logitsOfPixels(CPU, pixels, 2));
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"toynet, 13, 14", "mobilenetv2, 20, 21", "resnet20, 9, 11", "resnet20, 10, 11"})
    void arraysWrittenBeforeTheAppendedIndicesReadWithThemOff(String model, int earlier, int now) {
        int[] a = new int[earlier];
        java.util.Arrays.fill(a, 32);
        a[1] = 8;
        int[] w = new int[BitWidths.expectedLength(model, false)];
        java.util.Arrays.fill(w, 32);
        BitWidths b = BitWidths.of(model, a, model.equals("resnet20") ? java.util.Arrays.copyOf(w, 9) : w);
        assertEquals(now, b.abit().length);
        assertEquals(8, b.abit(1));
        for (int i = earlier; i < now; i++) {
            assertEquals(32, b.abit(i), model + " abit[" + i + "] appended off");
        }
        assertEquals(BitWidths.expectedLength(model, false), b.wbit().length);
    }
}
