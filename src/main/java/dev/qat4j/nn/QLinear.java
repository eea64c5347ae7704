package dev.qat4j.nn;

import dev.qat4j.backend.Backend;
import dev.qat4j.tensor.Tensor;
import java.util.List;
import java.util.SplittableRandom;

/** Fully connected layer with DoReFa-quantized weights ({@code wbits}, 32 = float) and a float bias, as the seed's FC. */
public final class QLinear extends Module {
    private final int in;
    private final int out;
    private final int wbits;
    private final Parameter weight;
    private final Parameter bias;
    private Tensor x;
    private Tensor wq;

    public QLinear(String name, Backend backend, SplittableRandom rnd, Init weightInit, boolean zeroBias, int in, int out,
                   int wbits) {
        super(name);
        dev.qat4j.quant.WeightQuantizer.checkBits("linear " + name, wbits);
        this.in = in;
        this.out = out;
        this.wbits = wbits;
        weight = new Parameter(name + ".weight", Parameter.Kind.WEIGHT,
                backend.fromFloats(weightInit.sample(rnd, in * out, in, out), out, in));
        float[] b = zeroBias ? new float[out] : Init.TORCH_DEFAULT.sample(rnd, out, in, out);
        bias = new Parameter(name + ".bias", Parameter.Kind.BIAS, backend.fromFloats(b, out));
    }

    public int weightBits() {
        return wbits;
    }

    public Parameter weight() {
        return weight;
    }

    public Parameter bias() {
        return bias;
    }

    @Override
    public Tensor forward(Step step, Tensor x) {
        Backend b = step.backend();
        Tensor q = wbits == 32 ? weight.value() : step.keep(b.weightQuant(weight.value(), wbits));
        if (step.training()) { // eval keeps no state in the module (concurrent evaluation, see Module#forward)
            this.x = x;
            this.wq = q;
        }
        return step.keep(b.linear(x, q, bias.value()));
    }

    @Override
    public Tensor backward(Step step, Tensor dy) {
        Backend b = step.backend();
        Tensor dx = step.keep(b.linearBackwardData(dy, cached(wq)));
        Tensor dwq = b.linearBackwardWeight(dy, x);
        if (wbits == 32) {
            weight.setGrad(dwq);
        } else {
            try (dwq) {
                weight.setGrad(b.weightQuantBackward(dwq, weight.value(), wbits));
            }
        }
        bias.setGrad(b.biasBackward(dy));
        return dx;
    }

    @Override
    public int[] outputShape(int[] shape) {
        if (shape.length != 1 || shape[0] != in) {
            throw new IllegalArgumentException("linear " + name + ": expects [" + in + "], got " + java.util.Arrays.toString(shape));
        }
        return new int[] {out};
    }

    @Override
    public void describe(int[] shape, List<LayerInfo> rows) {
        rows.add(new LayerInfo(name, "fc " + in + "->" + out, outputShape(shape), (long) in * out + out, (long) in * out,
                wbits, 0));
    }

    @Override
    protected List<Parameter> ownParameters() {
        return List.of(weight, bias);
    }
}
