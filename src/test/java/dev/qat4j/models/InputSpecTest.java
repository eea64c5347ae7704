package dev.qat4j.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.data.Normalization;
import java.util.List;
import org.junit.jupiter.api.Test;

class InputSpecTest {
    @Test
    void jsonRoundTripsEveryFieldExactly() {
        InputSpec gray = new InputSpec(1, 28, 20, new Normalization(new float[] {0.1307f}, new float[] {0.3081f}),
                List.of("zero", "one", "two"));
        for (InputSpec s : List.of(InputSpec.CIFAR10, gray)) {
            InputSpec back = InputSpec.fromJson(s.toJson(), "test");
            assertArrayEquals(s.shape(), back.shape());
            assertArrayEquals(s.normalization().mean(), back.normalization().mean());
            assertArrayEquals(s.normalization().std(), back.normalization().std());
            assertEquals(s.classNames(), back.classNames());
        }
        assertEquals(10, InputSpec.CIFAR10.classes());
        assertEquals(3 * 32 * 32, InputSpec.CIFAR10.valuesPerImage());
    }

    @Test
    void badSpecsAreRefusedNamingTheField() {
        assertThrows(IllegalArgumentException.class, () -> new InputSpec(2, 8, 8, Normalization.CIFAR10, List.of("a")));
        assertThrows(IllegalArgumentException.class,
                () -> new InputSpec(3, 8, 8, Normalization.CIFAR10, List.of("a", "a")));
        assertThrows(IllegalArgumentException.class, () -> new InputSpec(3, 0, 8, Normalization.CIFAR10, List.of("a")));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> InputSpec.fromJson("{\"shape\":[3,32],\"mean\":[0],\"std\":[1],\"classes\":[\"a\"]}", "f.qck"));
        assertTrue(e.getMessage().contains("f.qck") && e.getMessage().contains("shape"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> InputSpec.fromJson("{\"shape\":[1,2,2],\"mean\":[0],\"std\":[0],\"classes\":[\"a\"]}", "f.qck"));
        assertTrue(e.getMessage().contains("std"), e.getMessage());
        assertEquals(List.of("0", "1", "2"), InputSpec.numberedClasses(3));
    }
}
