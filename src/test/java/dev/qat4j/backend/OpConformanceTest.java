package dev.qat4j.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Table-driven conformance: every {@link Op} of the op list, on every ISA level of the cpu backend, against the
 * reference, from the same seeded {@link OpSample}. Integer results and the ops that are the same float operations in
 * the same order must match bit for bit; the rest get the tolerance named (with its reason) in {@link #tolerance}.
 * {@link BackendConformanceSuite} has the deeper per-op cases (shapes that break tiles, saturation, empty sizes).
 */
class OpConformanceTest {
    private static final Backend REF = RefBackend.INSTANCE;
    private static final long[] SEEDS = {1, 2};

    static Stream<Arguments> opsTimesIsaLevels() {
        List<Arguments> cases = new ArrayList<>();
        for (Op op : Op.values()) {
            for (int level : CpuBackend.availableIsaLevels()) {
                for (long seed : SEEDS) {
                    cases.add(Arguments.of(op, level, seed));
                }
            }
        }
        return cases.stream();
    }

    /**
     * Relative tolerance per op, against {@code rel * (|ref| + max|ref|)} elementwise (0: bit-identical). The switch has
     * no default, so a new op does not compile here until it has a tolerance and a reason.
     */
    static float tolerance(Op op) {
        return switch (op) {
            // Sums of <= 16 * 9 * 9 * 2 = 2592 products in another order (blocked GEMM vs the reference's loops): the
            // error is at most K * 2^-24 * sum|a b|, well under 1e-4 of the output's magnitude for gaussian operands.
            case CONV2D, CONV2D_BACKWARD_DATA, CONV2D_BACKWARD_WEIGHT, LINEAR, LINEAR_BACKWARD_DATA,
                    LINEAR_BACKWARD_WEIGHT -> 1e-4f;
            // Per-channel sums over batch and pixels (vector lanes vs one running sum): a few ulps of the sum.
            case BIAS_BACKWARD, BATCH_NORM2D_TRAIN, BATCH_NORM2D_BACKWARD -> 1e-4f;
            // One multiply-add per element, but the reference forms 1/sqrt(var + eps) in double.
            case BATCH_NORM2D_EVAL -> 1e-5f;
            // Window sums of up to 9 (or 81) values in another order, then one division.
            case AVG_POOL2D, AVG_POOL2D_BACKWARD, ADAPTIVE_AVG_POOL2D, ADAPTIVE_AVG_POOL2D_BACKWARD -> 1e-5f;
            // exp/log of float logits: the native exp differs from StrictMath in the last bits.
            case SOFTMAX_CROSS_ENTROPY -> 1e-5f;
            // dalpha is a sum over every element (dx itself is exact; the bound is far below any dx step).
            case ACT_QUANT_BACKWARD -> 1e-4f;
            // The update may contract a multiply and an add into one rounding: one ulp of the parameter.
            case SGD_STEP, SGD_STEPS -> 1e-6f;
            // The same float operations in the same order (the quantizers share quant_common.h's arithmetic), or
            // integer results.
            case RELU, RELU6, RELU_BACKWARD, RELU6_BACKWARD, ADD, ACT_QUANT, WEIGHT_QUANT, WEIGHT_QUANT_BACKWARD,
                    CONV2D_INT, GEMM_INT, REQUANTIZE, REQUANTIZE_RESIDUAL -> 0f;
            // Gathers and lookups in the normalisation table: no arithmetic at all.
            case AUGMENT_BATCH -> 0f;
            // Whole counts added to whole counts (float, exact below 2^24), and the same argmax rule.
            case ACCUMULATE_CONFUSION -> 0f;
        };
    }

    @ParameterizedTest(name = "{0} on ISA level {1}, seed {2}")
    @MethodSource("opsTimesIsaLevels")
    void everyOpOnEveryIsaLevelMatchesTheReference(Op op, int level, long seed) {
        matchesTheReference(op, CpuBackend.forIsa(level), op + " on " + CpuBackend.isaName(level) + ", seed " + seed,
                seed);
    }

    /** {@code op}'s sample on {@code backend} against the reference's, results and in-place updates, within its tolerance. */
    static void matchesTheReference(Op op, Backend backend, String where, long seed) {
        try (OpSample want = OpSample.of(op, REF, OpSample.Size.SMALL, seed);
             OpSample got = OpSample.of(op, backend, OpSample.Size.SMALL, seed)) {
            List<Tensor> w = want.run(), g = got.run();
            try {
                assertEquals(w.size(), g.size(), where + ": number of results");
                for (int i = 0; i < w.size(); i++) {
                    compare(op, w.get(i), g.get(i), where + ", result " + i);
                }
                // in-place updates (SGD, running statistics) agree as well; untouched operands trivially do
                List<Tensor> wantOperands = want.operands(), gotOperands = got.operands();
                for (int i = 0; i < wantOperands.size(); i++) {
                    Tensor a = wantOperands.get(i), b = gotOperands.get(i);
                    if (a != null && a.dtype() == DType.FLOAT32) {
                        compare(op, a, b, where + ", operand " + i + " after the op");
                    }
                }
            } finally {
                w.forEach(Tensor::close);
                g.forEach(Tensor::close);
            }
        }
    }

    private static void compare(Op op, Tensor want, Tensor got, String where) {
        assertEquals(want.dtype(), got.dtype(), where);
        assertArrayEquals(want.shape(), got.shape(), where);
        if (want.dtype() != DType.FLOAT32) {
            assertArrayEquals(want.toIntCodes(), got.toIntCodes(), where + ": integer results must be identical");
            return;
        }
        float[] e = want.toFloatArray(), a = got.toFloatArray();
        float rel = tolerance(op);
        float max = 0;
        for (float v : e) {
            max = Math.max(max, Math.abs(v));
        }
        for (int i = 0; i < e.length; i++) {
            boolean ok = rel == 0 ? Float.floatToIntBits(e[i]) == Float.floatToIntBits(a[i])
                    : Math.abs(e[i] - a[i]) <= rel * (Math.abs(e[i]) + max);
            if (!ok) {
                throw new AssertionError(where + ": index " + i + " ref " + e[i] + " got " + a[i]
                        + (rel == 0 ? " (must be bit-identical)" : " (tolerance " + rel + " relative)"));
            }
        }
    }
}
