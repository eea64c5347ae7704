package dev.qat4j.integer.export;

import dev.qat4j.integer.IntKernels;
import dev.qat4j.integer.IntLayer;
import dev.qat4j.integer.IntValue;
import dev.qat4j.integer.IntegerModel;
import java.util.List;

/**
 * What the int8 ONNX export computes, in integers: the integer model with each REQUANT's bias rounded to its
 * accumulator units ({@code |M_c| * round(B_c / |M_c|)}, the int32 bias of the QLinearConv) and, in a residual layer,
 * the main branch first quantized to the intermediate value (saturated to int8) and then added to the residual as
 * QLinearAdd does, in float32. Only ONNX Runtime's float32 requantization factor is left out, so ONNX Runtime should
 * match this reference nearly code for code; the difference to the integer model itself is the export's.
 */
final class QdqReference {
    /** Every value's codes ([0] = the input codes, the last = null) and the int64 logits. */
    record Run(int[][] values, long[] logits) {
    }

    private QdqReference() {
    }

    static Run run(IntegerModel im, int[] codes, int n, int intermediate) {
        List<IntValue> values = im.values();
        List<IntLayer> layers = im.layers();
        int[][] v = new int[values.size()][];
        v[0] = codes;
        long[] logits = null;
        for (int li = 0; li < layers.size(); li++) {
            IntLayer l = layers.get(li);
            IntValue in = values.get(l.input()), out = values.get(li + 1);
            switch (l.type()) {
                case REQUANT -> {
                    int channels = out.shape()[0];
                    int spatial = out.numel() / channels;
                    long[] bias = new long[channels];
                    for (int c = 0; c < channels; c++) {
                        long m = Math.abs((long) l.multiplier()[c]);
                        bias[c] = m == 0 ? l.bias()[c] : m * OnnxExport.roundHalfEven(l.bias()[c], m);
                    }
                    Object acc = l.hasConv()
                            ? IntKernels.conv2d(v[l.input()], n, in.shape()[0], in.shape()[1], in.shape()[2],
                                    l.weights(), l.weightShape()[0], l.weightShape()[2], l.weightShape()[3], l.stride(),
                                    l.pad(), l.groups())
                            : v[l.input()];
                    if (!l.hasResidual()) {
                        v[li + 1] = IntKernels.requantize(acc, n, channels, spatial, l.multiplier(), l.shift(), bias,
                                null, null, l.rounding(), l.qmin(), l.qmax());
                        continue;
                    }
                    double kappa = Math.scalb((double) l.residualMultiplier()[0], -l.shift()[0]);
                    float sOut = (float) out.scale();
                    float sMid = OnnxExport.intermediateScale(intermediate, l, out, values.get(l.residual()), kappa);
                    float sRes = (float) (kappa * sOut);
                    // the main branch in intermediate codes: (acc M + B') / 2^shift * s_out / s_mid, saturated to int8
                    int[] mid = new int[((long[]) acc).length];
                    long[] a = (long[]) acc;
                    for (int i = 0; i < a.length; i++) {
                        int c = i / spatial % channels;
                        double u = Math.scalb((double) a[i] * l.multiplier()[c] + bias[c], -l.shift()[c]);
                        mid[i] = (int) Math.max(-128, Math.min(127, Math.rint(u * sOut / sMid)));
                    }
                    float ratioMid = sMid / sOut, ratioRes = sRes / sOut;
                    int[] res = v[l.residual()];
                    int[] o = new int[mid.length];
                    for (int i = 0; i < o.length; i++) {
                        float sum = mid[i] * ratioMid + res[i] * ratioRes;
                        o[i] = (int) Math.max(l.qmin(), Math.min(l.qmax(), Math.rint(sum)));
                    }
                    v[li + 1] = o;
                }
                case SUM_POOL -> v[li + 1] = IntKernels.sumPool(v[l.input()], n, in.shape()[0], in.shape()[1],
                        in.shape()[2], l.poolKernel());
                case LINEAR -> logits = IntKernels.linear(v[l.input()], n, in.numel(), l.weights(), l.weightShape()[0],
                        l.bias(), l.fracBits());
            }
        }
        return new Run(v, logits);
    }
}
