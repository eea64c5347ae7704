package dev.qat4j.backend;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.qat4j.backend.cuda.CudaBackend;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The ops of this session's training loop on the GPU (augmentBatch, accumulateConfusion, sgdSteps) on their OpSamples
 * against the reference within OpConformanceTest's tolerances (0 for the first two), as it does for the cpu backend (the other ops have their per-op cases in
 * BackendConformanceSuite). Skips without a GPU; {@code bench/gpu-check.sh} runs it.
 */
class CudaDataOpsTest {
    @BeforeAll
    static void needsGpu() {
        assumeTrue(CudaBackend.isAvailable(), () -> "cuda backend unavailable: " + CudaBackend.unavailableReason());
    }

    @ParameterizedTest(name = "{0}, seed {1}")
    @CsvSource({"AUGMENT_BATCH, 1", "AUGMENT_BATCH, 2", "AUGMENT_BATCH, 3", "ACCUMULATE_CONFUSION, 1",
        "ACCUMULATE_CONFUSION, 2", "ACCUMULATE_CONFUSION, 3", "SGD_STEPS, 1", "SGD_STEPS, 2", "SGD_STEPS, 3"})
    void matchesTheReferenceBitForBit(Op op, long seed) {
        OpConformanceTest.matchesTheReference(op, CudaBackend.get(), op + " on cuda, seed " + seed, seed);
    }
}
