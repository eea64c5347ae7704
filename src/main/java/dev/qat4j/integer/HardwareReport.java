package dev.qat4j.integer;

import java.util.ArrayList;
import java.util.List;

/**
 * What a hardware designer sizes from, per integer layer: operand widths, the accumulator's worst-case bound (and
 * whether int32 can overflow), the range actually seen on data, weight memory, MACs, and the widths of the
 * requantization parameters.
 */
public final class HardwareReport {
    private HardwareReport() {
    }

    /**
     * @param inputBits       bits of the input values (two's complement, or unsigned when never negative)
     * @param outputBits      bits of the output values
     * @param accBoundBits    signed bits the worst-case accumulator needs
     * @param int32CanOverflow whether the bound exceeds int32 (the layer accumulates in int64)
     * @param observedMin     smallest accumulator seen (0 when not observed)
     * @param weightMemoryBits weight codes x weight bits
     * @param multiplierBits  signed bits of the widest multiplier (0 without requant)
     * @param biasBits        signed bits of the widest bias
     */
    public record Row(String layer, String type, int weightBits, int inputBits, int outputBits, long accBound,
                      int accBoundBits, boolean int32CanOverflow, long observedMin, long observedMax,
                      long weightMemoryBits, long macs, int multiplierBits, int minShift, int maxShift, int biasBits,
                      String format) {
    }

    /** Rows for {@code m}; {@code observed} (may be null) supplies the accumulator ranges seen by IntegerEval. */
    public static List<Row> rows(IntegerModel m, IntegerEval.Result observed) {
        if (observed != null && observed.layers().size() != m.layers().size()) {
            throw new IllegalArgumentException("hardware report: the observed figures have " + observed.layers().size()
                    + " layers, the model " + m.layers().size() + " (another model's evaluation?)");
        }
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < m.layers().size(); i++) {
            IntLayer l = m.layers().get(i);
            IntValue in = m.values().get(l.input()), out = m.values().get(i + 1);
            int mb = Math.max(IntLayer.signedBits(l.multiplier()), IntLayer.signedBits(l.residualMultiplier()));
            int minShift = 0, maxShift = 0;
            if (l.shift() != null && l.shift().length > 0) {
                minShift = Integer.MAX_VALUE;
                for (int s : l.shift()) {
                    minShift = Math.min(minShift, s);
                    maxShift = Math.max(maxShift, s);
                }
            }
            long bound = l.type() == IntLayer.Type.SUM_POOL ? Math.max(Math.abs(out.lo()), Math.abs(out.hi()))
                    : l.accBound();
            String type = switch (l.type()) {
                case REQUANT -> l.hasConv() ? "conv" + l.weightShape()[2] + "x" + l.weightShape()[3]
                        + (l.groups() > 1 ? " dw" : "") + (l.stride() > 1 ? "/" + l.stride() : "")
                        + (l.hasResidual() ? " +res" : "") + " requant" : (l.hasResidual() ? "add requant" : "requant");
                case SUM_POOL -> "sum pool";
                case LINEAR -> "linear";
            };
            IntegerEval.LayerStats s = observed == null ? null : observed.layers().get(i);
            rows.add(new Row(l.name(), type, l.weights() == null ? 0 : l.weightBits(), in.bits(),
                    l.type() == IntLayer.Type.LINEAR ? 64 : out.bits(), bound, IntLayer.bitsFor(-bound, bound),
                    bound > Integer.MAX_VALUE, s == null ? 0 : s.accMin(), s == null ? 0 : s.accMax(),
                    l.weights() == null ? 0 : (long) l.weights().length * l.weightBits(), l.macs(out.shape()), mb,
                    minShift, maxShift, IntLayer.signedBits(l.bias()), l.format()));
        }
        return rows;
    }
}
