package dev.qat4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.quant.Rounding;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link Backend#requantizeResidual} takes its per-channel parameters as plain arrays, so the tensor-based boundary
 * fuzzer does not reach it: here random valid calls are broken in one way each (lengths, nulls, shifts, shapes,
 * dtypes, clamps, multipliers past the int64 headroom) and every backend must refuse exactly what ref refuses, with
 * an IllegalArgumentException naming the op, before any native code runs.
 */
class RequantizeResidualBoundaryTest {
    @Test
    void everyBackendRefusesExactlyWhatRefRefuses() {
        List<Backend> backends = new ArrayList<>(List.of(RefBackend.INSTANCE));
        for (String name : new String[] {"cpu", "cuda"}) {
            try {
                backends.add(Backends.byName(name));
            } catch (RuntimeException e) {
                // not available on this machine (cuda without a GPU): ref and the rest still run
            }
        }
        SplittableRandom r = new SplittableRandom(20261126);
        int refused = 0;
        for (int trial = 0; trial < 400; trial++) {
            int n = 1 + r.nextInt(2), c = 1 + r.nextInt(4), sp = 1 + r.nextInt(5);
            int[] accShape = {n, c, sp};
            int[] mult = new int[c], shift = new int[c], resMult = new int[c];
            long[] bias = new long[c];
            for (int i = 0; i < c; i++) {
                mult[i] = r.nextInt(-(1 << 20), 1 << 20);
                shift[i] = r.nextInt(0, 40);
                resMult[i] = r.nextInt(-(1 << 20), 1 << 20);
                bias[i] = r.nextLong(-(1L << 40), 1L << 40);
            }
            DType resType = new DType[] {null, DType.INT8, DType.UINT8, DType.INT32}[r.nextInt(4)];
            int[] resShape = accShape.clone();
            DType accType = DType.INT32, out = DType.INT8;
            int qmin = -127, qmax = 127;
            Rounding rounding = Rounding.values()[r.nextInt(5)];
            int[] m = mult, sh = shift, rm = resType == null ? null : resMult;
            long[] b = bias;
            String broken = switch (r.nextInt(12)) {
                case 0 -> { m = new int[c + 1]; yield "multiplier length"; }
                case 1 -> { sh = shift.clone(); sh[r.nextInt(c)] = r.nextBoolean() ? -1 : 63; yield "shift range"; }
                case 2 -> { b = null; yield "null bias"; }
                case 3 -> { rm = resType == null ? new int[c] : null; yield "residual multipliers without residual or the reverse"; }
                case 4 -> { resShape[2] += 1; yield "residual shape"; }
                case 5 -> { accType = DType.INT8; yield "acc dtype"; }
                case 6 -> { out = DType.FLOAT32; yield "float output"; }
                case 7 -> { qmin = -300; yield "clamp outside INT8"; }
                case 8 -> { m = mult.clone(); m[0] = Integer.MIN_VALUE; b = bias.clone(); b[0] = 1L << 61; yield "headroom"; }
                case 9 -> { rounding = null; yield "null rounding"; }
                case 10 -> { sh = new int[0]; yield "empty shift"; }
                default -> "nothing";
            };
            Boolean refAccepts = null;
            for (Backend be : backends) {
                boolean accepted;
                try (Tensor acc = accType == DType.INT32 ? be.fromInts(new int[n * c * sp], accShape)
                        : be.fromBytes(new byte[n * c * sp], accType, accShape);
                     Tensor res = resType == null ? null : resType == DType.INT32
                             ? be.fromInts(new int[prod(resShape)], resShape)
                             : be.fromBytes(new byte[prod(resShape)], resType, resShape)) {
                    be.requantizeResidual(acc, res, m, sh, b, rm, rounding, qmin, qmax, out).close();
                    accepted = true;
                } catch (IllegalArgumentException e) {
                    assertTrue(e.getMessage().contains("requantizeResidual"), e.getMessage());
                    accepted = false;
                }
                if (refAccepts == null) {
                    refAccepts = accepted;
                } else {
                    assertEquals(refAccepts, accepted, be.name() + " vs ref on: " + broken);
                }
            }
            if (!refAccepts) {
                refused++;
            } else {
                // only an intact call is accepted (a residual shape is irrelevant when there is no residual)
                boolean intact = broken.equals("nothing") || (broken.equals("residual shape") && resType == null);
                assertTrue(intact, "accepted a broken call: " + broken);
            }
        }
        assertTrue(refused > 250, "most trials were broken and refused: " + refused);
    }

    private static int prod(int[] s) {
        int p = 1;
        for (int d : s) {
            p *= d;
        }
        return p;
    }
}
