package dev.qat4j.backend;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.qat4j.backend.cuda.CudaBackend;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;

/**
 * The conformance suite on the {@code cuda} backend (GPU 0). Skips, with the reason, where there is no GPU or the
 * library was not built (no nvcc); {@code bench/gpu-check.sh} runs it on a GPU machine.
 */
class CudaConformanceTest extends BackendConformanceSuite {
    @BeforeAll
    static void needsGpu() {
        assumeTrue(CudaBackend.isAvailable(), () -> "cuda backend unavailable: " + CudaBackend.unavailableReason());
    }

    @Override
    protected Backend underTest(long seed) {
        return CudaBackend.get();
    }

    @Override
    protected List<Backend> integerVariants() {
        return List.of(CudaBackend.get());
    }
}
