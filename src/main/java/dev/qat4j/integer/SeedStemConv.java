package dev.qat4j.integer;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.ConvParams;
import dev.qat4j.nn.LayerInfo;
import dev.qat4j.nn.Module;
import dev.qat4j.nn.Step;
import dev.qat4j.tensor.Tensor;
import java.util.List;

/**
 * The seed's integer stem accumulator: the float (float32) convolution of the unquantized image with the integer
 * weight codes, truncated toward zero ({@code .long()}). Its output holds integers; it ends the float prefix of a
 * seed-compatible {@link IntegerModel} (value 0 is these accumulators). Eval only; owns no parameters.
 */
final class SeedStemConv extends Module {
    private final float[] weightCodes;
    private final int[] weightShape;
    private final ConvParams params;
    private final int[] outShape;

    SeedStemConv(String name, int[] weightCodes, int[] weightShape, ConvParams params, int[] outShape) {
        super(name);
        this.weightCodes = new float[weightCodes.length];
        for (int i = 0; i < weightCodes.length; i++) {
            this.weightCodes[i] = weightCodes[i];
        }
        this.weightShape = weightShape.clone();
        this.params = params;
        this.outShape = outShape.clone();
    }

    @Override
    public Tensor forward(Step step, Tensor x) {
        Backend b = step.backend();
        float[] acc;
        try (Tensor w = b.fromFloats(weightCodes, weightShape); Tensor y = b.conv2d(x, w, null, params)) {
            acc = y.toFloatArray();
        }
        for (int i = 0; i < acc.length; i++) {
            acc[i] = (float) (acc[i] < 0 ? Math.ceil(acc[i]) : Math.floor(acc[i]));
        }
        return step.keep(b.fromFloats(acc, x.dim(0), outShape[0], outShape[1], outShape[2]));
    }

    @Override
    public Tensor backward(Step step, Tensor dy) {
        throw new UnsupportedOperationException("seed stem " + name + ": integer inference only, no backward");
    }

    @Override
    public int[] outputShape(int[] in) {
        return outShape.clone();
    }

    @Override
    public void describe(int[] in, List<LayerInfo> rows) {
        long macs = (long) outShape[0] * outShape[1] * outShape[2] * weightShape[1] * weightShape[2] * weightShape[3];
        rows.add(new LayerInfo(name, "seed stem conv (float32, truncated)", outShape, 0, macs, 0, 0));
    }
}
