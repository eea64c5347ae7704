package dev.qat4j.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.backend.ref.RefBackend;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import java.util.stream.Stream;

/** The public Tensor constructor cannot be used to read past a storage or after it was freed. */
class TensorTest {
    static Stream<Backend> backends() {
        return Stream.of(RefBackend.INSTANCE, CpuBackend.get());
    }

    @ParameterizedTest
    @MethodSource("backends")
    void aTensorCannotAddressMoreThanItsStorage(Backend b) {
        try (Tensor t = b.fromFloats(new float[] {1, 2, 3, 4}, 4)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new Tensor(b, DType.FLOAT32, new int[] {1000, 1000}, t.storage()));
            assertTrue(e.getMessage().contains("4000000 bytes") && e.getMessage().contains("holds 16"), e.getMessage());
            Tensor same = new Tensor(b, DType.FLOAT32, new int[] {2, 2}, t.storage());
            assertArrayEquals(new float[] {1, 2, 3, 4}, same.toFloatArray());
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void aRewrapOfFreedStorageIsClosed(Backend b) {
        Tensor t = b.fromFloats(new float[] {1, 2}, 2);
        Tensor rewrap = new Tensor(b, DType.FLOAT32, new int[] {2}, t.storage());
        Tensor view = t.reshape(1, 2);
        t.close();
        assertTrue(view.isClosed(), "a view of a closed tensor is closed");
        // Every backend alike (heap arrays included): every tensor on freed storage refuses use.
        assertTrue(rewrap.isClosed());
        assertThrows(IllegalStateException.class, rewrap::toFloatArray);
    }
}
