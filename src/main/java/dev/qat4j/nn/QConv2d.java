package dev.qat4j.nn;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.ConvParams;
import dev.qat4j.tensor.Tensor;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Conv2d without bias whose weights pass through the seed's DoReFa weight quantizer ({@code wbits}, 32 = float).
 * The input is used as given: activation quantizers are separate layers, exactly where the seed puts them.
 */
public final class QConv2d extends Module {
    private final int cin;
    private final int cout;
    private final int kernel;
    private final ConvParams p;
    private final int wbits;
    private final Parameter weight;
    private Tensor x;
    private Tensor wq;

    public QConv2d(String name, Backend backend, SplittableRandom rnd, Init init, int cin, int cout, int kernel,
                   int stride, int pad, int groups, int wbits) {
        super(name);
        if (cin < 1 || cout < 1 || kernel < 1 || cin % groups != 0 || cout % groups != 0) {
            throw new IllegalArgumentException("conv " + name + ": invalid channels " + cin + "->" + cout + ", kernel "
                    + kernel + ", groups " + groups);
        }
        dev.qat4j.quant.WeightQuantizer.checkBits("conv " + name, wbits);
        this.cin = cin;
        this.cout = cout;
        this.kernel = kernel;
        this.p = ConvParams.of(stride, pad, groups);
        this.wbits = wbits;
        int fanIn = cin / groups * kernel * kernel, fanOut = cout * kernel * kernel;
        float[] w = init.sample(rnd, cout * fanIn, fanIn, fanOut);
        this.weight = new Parameter(name + ".weight", Parameter.Kind.WEIGHT,
                backend.fromFloats(w, cout, cin / groups, kernel, kernel));
    }

    public int weightBits() {
        return wbits;
    }

    public Parameter weight() {
        return weight;
    }

    public ConvParams params() {
        return p;
    }

    @Override
    public Tensor forward(Step step, Tensor x) {
        Backend b = step.backend();
        Tensor q = wbits == 32 ? weight.value() : step.keep(b.weightQuant(weight.value(), wbits));
        if (step.training()) { // eval keeps no state in the module (concurrent evaluation, see Module#forward)
            this.x = x;
            this.wq = q;
        }
        return step.keep(b.conv2d(x, q, null, p));
    }

    @Override
    public Tensor backward(Step step, Tensor dy) {
        Backend b = step.backend();
        Tensor dx = step.keep(b.conv2dBackwardData(dy, cached(wq), cached(x).shape(), p));
        Tensor dwq = b.conv2dBackwardWeight(dy, x, weight.value().shape(), p);
        if (wbits == 32) {
            weight.setGrad(dwq);
        } else {
            try (dwq) {
                weight.setGrad(b.weightQuantBackward(dwq, weight.value(), wbits));
            }
        }
        return dx;
    }

    @Override
    public int[] outputShape(int[] in) {
        if (in.length != 3 || in[0] != cin) {
            throw new IllegalArgumentException("conv " + name + ": expects [" + cin + ", H, W] per image, got "
                    + java.util.Arrays.toString(in));
        }
        // a window wider than the padded input would give a size of 1 by integer division, not an error
        if (in[1] + 2 * p.padH() < kernel || in[2] + 2 * p.padW() < kernel) {
            throw new IllegalArgumentException("conv " + name + ": input " + in[1] + "x" + in[2] + " with padding "
                    + p.padH() + " is smaller than its " + kernel + "x" + kernel + " window (the image is too small "
                    + "for the network's downsampling)");
        }
        return new int[] {cout, p.outH(in[1], kernel), p.outW(in[2], kernel)};
    }

    @Override
    public void describe(int[] in, List<LayerInfo> rows) {
        int[] out = outputShape(in);
        long macs = (long) out[0] * out[1] * out[2] * (cin / p.groups()) * kernel * kernel;
        String type = "conv" + kernel + "x" + kernel + (p.strideH() > 1 ? "/" + p.strideH() : "")
                + (p.groups() == cin && p.groups() > 1 ? " dw" : "") + " " + cin + "->" + cout;
        rows.add(new LayerInfo(name, type, out, weight.numel(), macs, wbits, 0));
    }

    @Override
    protected List<Parameter> ownParameters() {
        return List.of(weight);
    }
}
