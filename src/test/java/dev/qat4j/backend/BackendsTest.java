package dev.qat4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.backend.ref.RefBackend;
import org.junit.jupiter.api.Test;

class BackendsTest {
    @Test
    void forcedBackendsAreHonoured() {
        assertSame(RefBackend.INSTANCE, Backends.choose("ref").backend());
        assertSame(CpuBackend.get(), Backends.choose("cpu").backend());
        assertTrue(Backends.choose("cpu").reason().contains("QAT4J_BACKEND=cpu"));
    }

    @Test
    void unknownOrMissingBackendsAreErrorsNotSilentFallbacks() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.choose("tpu"));
        assertTrue(e.getMessage().contains("'tpu'") && e.getMessage().contains("ref, cpu or cuda"), e.getMessage());
        IllegalStateException c = assertThrows(IllegalStateException.class, () -> Backends.choose("cuda"));
        assertTrue(c.getMessage().contains("cuda"), c.getMessage());
    }

    @Test
    void automaticChoiceSaysWhy() {
        Backends.Selection s = Backends.choose(null);
        // The native library loads on every machine the build runs on: the automatic choice is cpu.
        assertEquals("cpu", s.backend().name());
        assertTrue(s.reason().contains("best available"), s.reason());
    }
}
