package dev.qat4j.backend;

import dev.qat4j.backend.cpu.CpuBackend;
import java.util.ArrayList;
import java.util.List;

/**
 * The conformance suite on the {@code cpu} backend. Its float GEMMs and quantizers have AVX-512 and scalar variants
 * and its int8 GEMM scalar, AVX2 and VNNI ones: the seed picks the ISA level, so every level the CPU has is covered,
 * and integer results are compared on every level.
 */
class CpuConformanceTest extends BackendConformanceSuite {
    @Override
    protected Backend underTest(long seed) {
        int[] levels = CpuBackend.availableIsaLevels();
        return CpuBackend.forIsa(levels[(int) (seed % levels.length)]);
    }

    @Override
    protected List<Backend> integerVariants() {
        List<Backend> all = new ArrayList<>();
        for (int level : CpuBackend.availableIsaLevels()) {
            all.add(CpuBackend.forIsa(level));
        }
        return all;
    }

    @Override
    protected String label(Backend b) {
        return "ISA " + ((CpuBackend) b).isaName();
    }
}
