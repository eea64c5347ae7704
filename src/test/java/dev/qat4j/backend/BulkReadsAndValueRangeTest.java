package dev.qat4j.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Results.ImageBatch;
import dev.qat4j.backend.Results.Loss;
import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Tensor;
import dev.qat4j.tensor.ValueRange;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The reads a training step makes in one round trip ({@code readAllFloats}), and the value ranges that let
 * {@code softmaxCrossEntropy} check labels without reading them back: recorded by {@code fromInts}, carried by
 * {@code augmentBatch}, dropped by an in-place write, and never a reason to accept a label out of range.
 */
class BulkReadsAndValueRangeTest {

    static Stream<Backend> backends() {
        return Stream.of(RefBackend.INSTANCE, CpuBackend.get());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void readAllFloatsIsEachTensorsValuesInOrder(Backend b) {
        try (Tensor x = b.fromFloats(new float[] {1, 2, 3}, 3); Tensor y = b.fromFloats(new float[] {-4}, 1);
             Tensor z = b.zeros(DType.FLOAT32, 2, 2)) {
            float[][] all = b.readAllFloats(List.of(x, y, z, x));
            assertEquals(4, all.length);
            assertArrayEquals(new float[] {1, 2, 3}, all[0]);
            assertArrayEquals(new float[] {-4}, all[1]);
            assertArrayEquals(new float[4], all[2]);
            assertArrayEquals(new float[] {1, 2, 3}, all[3]);
            assertEquals(0, b.readAllFloats(List.of()).length);
            try (Tensor ints = b.fromInts(new int[] {1}, 1)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> b.readAllFloats(List.of(x, ints)));
                assertTrue(e.getMessage().startsWith("readAllFloats: tensor 1 must be FLOAT32"), e.getMessage());
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void rangesAreRecordedCarriedAndDroppedOnWrite(Backend b) {
        try (Tensor labels = b.fromInts(new int[] {3, 7, 5}, 3);
             Tensor images = b.fromBytes(new byte[3 * 4], DType.UINT8, 3, 1, 2, 2);
             Tensor table = b.fromFloats(new float[256], 1, 256);
             ImageBatch batch = b.augmentBatch(images, labels, new int[] {2, 0}, new int[2], new int[2],
                     new boolean[2], 0, table)) {
            assertEquals(new ValueRange(3, 7), labels.valueRange());
            assertEquals(new ValueRange(3, 7), batch.labels().valueRange(), "a gather keeps its source's bounds");
            assertArrayEquals(new int[] {5, 3}, batch.labels().toIntArray());
        }
        try (Tensor floats = b.fromFloats(new float[1], 1); Tensor zeros = b.zeros(DType.INT32, 2)) {
            assertNull(floats.valueRange());
            assertNull(zeros.valueRange(), "zeros: not recorded (no host data was seen)");
        }
        try (Tensor p = b.fromFloats(new float[] {1}, 1); Tensor g = b.fromFloats(new float[] {1}, 1);
             Tensor m = b.fromFloats(new float[] {0}, 1); Tensor ints = b.fromInts(new int[] {0, 1}, 2)) {
            assertEquals(new ValueRange(0, 1), ints.valueRange());
            b.sgdStep(p, g, m, new SgdParams(0.1f, 0f, 0f, false)); // writes p and m in place; ints untouched
            assertEquals(new ValueRange(0, 1), ints.valueRange());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void labelsOutsideTheClassesAreRefusedWhetherOrNotTheirRangeIsKnown(Backend b) {
        try (Tensor logits = b.fromFloats(new float[6], 2, 3)) {
            try (Tensor known = b.fromInts(new int[] {0, 2}, 2); Loss l = b.softmaxCrossEntropy(logits, known, 0f)) {
                assertEquals(new ValueRange(0, 2), known.valueRange());
                assertEquals((float) Math.log(3), l.loss().toFloatArray()[0], 1e-6f);
            }
            Tensor outside = b.fromInts(new int[] {0, 3}, 2);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> b.softmaxCrossEntropy(logits, outside, 0f));
            assertTrue(e.getMessage().contains("label 3 at index 1 is outside 0..2"), e.getMessage());
            outside.close();
        }
    }
}
