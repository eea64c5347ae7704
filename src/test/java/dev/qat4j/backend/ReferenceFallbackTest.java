package dev.qat4j.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Results.BatchNormForward;
import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.tensor.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The one fallback path: an op routed to the reference runs on copies of its operands and comes back in the calling
 * backend's memory with the reference's values (here the calling backend is cpu, so both sides are real).
 */
class ReferenceFallbackTest {
    private static final Backend CPU = CpuBackend.get();
    private static final Backend REF = RefBackend.INSTANCE;

    private static float[] random(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    @Test
    void aRoutedTensorResultIsTheReferenceResultOnTheCallingBackend() {
        float[] x = random(1, 2 * 3 * 5 * 5), w = random(2, 4 * 3 * 3 * 3);
        ConvParams p = ConvParams.of(1, 1);
        try (Tensor cx = CPU.fromFloats(x, 2, 3, 5, 5); Tensor cw = CPU.fromFloats(w, 4, 3, 3, 3);
             Tensor rx = REF.fromFloats(x, 2, 3, 5, 5); Tensor rw = REF.fromFloats(w, 4, 3, 3, 3);
             Tensor want = REF.conv2d(rx, rw, null, p);
             Tensor got = ReferenceFallback.run(CPU, Op.CONV2D, (impl, t) -> impl.doConv2d(t.of(cx), t.of(cw), null, p))) {
            assertSame(CPU, got.backend(), "the result lives on the calling backend");
            assertArrayEquals(want.toFloatArray(), got.toFloatArray(), "bit-identical to the reference");
            assertTrue(!cx.isClosed() && !cw.isClosed(), "the caller's operands stay open");
        }
    }

    @Test
    void aRoutedRecordResultIsCopiedComponentByComponent() {
        float[] x = random(3, 4 * 2 * 3 * 3);
        float[] one = {1f, 1f}, zero = {0f, 0f};
        try (Tensor cx = CPU.fromFloats(x, 4, 2, 3, 3); Tensor g = CPU.fromFloats(one, 2); Tensor b = CPU.fromFloats(zero, 2);
             Tensor rm = CPU.fromFloats(zero, 2); Tensor rv = CPU.fromFloats(one, 2);
             Tensor rx = REF.fromFloats(x, 4, 2, 3, 3); Tensor rg = REF.fromFloats(one, 2); Tensor rb = REF.fromFloats(zero, 2);
             Tensor rrm = REF.fromFloats(zero, 2); Tensor rrv = REF.fromFloats(one, 2);
             BatchNormForward want = REF.batchNorm2dTrain(rx, rg, rb, rrm, rrv, 0.1f, 1e-5f)) {
            // batchNorm2dTrain updates the running statistics in place: it may not be routed
            assertThrows(IllegalStateException.class, () -> ReferenceFallback.run(CPU, Op.BATCH_NORM2D_TRAIN,
                    (impl, t) -> impl.doBatchNorm2dTrain(t.of(cx), t.of(g), t.of(b), t.of(rm), t.of(rv), 0.1f, 1e-5f)));
            try (Tensor dy = CPU.fromFloats(random(4, x.length), 4, 2, 3, 3);
                 Tensor rdy = REF.fromFloats(dy.toFloatArray(), 4, 2, 3, 3);
                 Results.BatchNormGrads wantGrads = REF.batchNorm2dBackward(rdy, rx, rg, want.mean(), want.invStd());
                 Tensor mean = CPU.copyFrom(want.mean()); Tensor invStd = CPU.copyFrom(want.invStd());
                 Results.BatchNormGrads got = ReferenceFallback.run(CPU, Op.BATCH_NORM2D_BACKWARD,
                         (impl, t) -> impl.doBatchNorm2dBackward(t.of(dy), t.of(cx), t.of(g), t.of(mean), t.of(invStd)))) {
                assertSame(CPU, got.dx().backend());
                assertArrayEquals(wantGrads.dx().toFloatArray(), got.dx().toFloatArray());
                assertArrayEquals(wantGrads.dgamma().toFloatArray(), got.dgamma().toFloatArray());
                assertArrayEquals(wantGrads.dbeta().toFloatArray(), got.dbeta().toFloatArray());
            }
        }
    }

    @Test
    void everyBackendRunsTheOpsThatWriteInPlaceItself() {
        for (Op op : Op.values()) {
            if (op.updatesOperandsInPlace()) {
                assertTrue(CPU.supportsNatively(op) && REF.supportsNatively(op), op.toString());
            }
        }
    }
}
