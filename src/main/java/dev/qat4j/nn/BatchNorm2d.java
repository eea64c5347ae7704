package dev.qat4j.nn;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Results.BatchNormForward;
import dev.qat4j.backend.Results.BatchNormGrads;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Tensor;
import java.util.List;

/** BatchNorm2d, kept unfolded as in the seed (folding "hurts, may not converge"); torch's momentum 0.1, eps 1e-5. */
public final class BatchNorm2d extends Module {
    public static final float MOMENTUM = 0.1f;
    public static final float EPS = 1e-5f;

    private final int channels;
    private final Parameter gamma;
    private final Parameter beta;
    private final Parameter runningMean;
    private final Parameter runningVar;
    private Tensor x;
    private Tensor mean;
    private Tensor invStd;

    public BatchNorm2d(String name, Backend backend, int channels) {
        super(name);
        this.channels = channels;
        float[] ones = new float[channels];
        java.util.Arrays.fill(ones, 1f);
        gamma = new Parameter(name + ".weight", Parameter.Kind.NORM, backend.fromFloats(ones, channels));
        beta = new Parameter(name + ".bias", Parameter.Kind.NORM, backend.zeros(DType.FLOAT32, channels));
        runningMean = new Parameter(name + ".running_mean", Parameter.Kind.NORM, backend.zeros(DType.FLOAT32, channels));
        runningVar = new Parameter(name + ".running_var", Parameter.Kind.NORM, backend.fromFloats(ones, channels));
    }

    public int channels() {
        return channels;
    }

    public Parameter gamma() {
        return gamma;
    }

    public Parameter beta() {
        return beta;
    }

    public Parameter runningMean() {
        return runningMean;
    }

    public Parameter runningVar() {
        return runningVar;
    }

    @Override
    public Tensor forward(Step step, Tensor x) {
        Backend b = step.backend();
        if (!step.training()) {
            return step.keep(b.batchNorm2dEval(x, gamma.value(), beta.value(), runningMean.value(), runningVar.value(), EPS));
        }
        this.x = x;
        BatchNormForward f = b.batchNorm2dTrain(x, gamma.value(), beta.value(), runningMean.value(), runningVar.value(),
                MOMENTUM, EPS);
        mean = step.keep(f.mean());
        invStd = step.keep(f.invStd());
        return step.keep(f.y());
    }

    @Override
    public Tensor backward(Step step, Tensor dy) {
        if (!step.training()) {
            throw new IllegalStateException("batch norm " + name + ": backward needs a training-mode forward");
        }
        BatchNormGrads g = step.backend().batchNorm2dBackward(dy, cached(x), gamma.value(), cached(mean), cached(invStd));
        gamma.setGrad(g.dgamma());
        beta.setGrad(g.dbeta());
        return step.keep(g.dx());
    }

    @Override
    public int[] outputShape(int[] in) {
        if (in.length != 3 || in[0] != channels) {
            throw new IllegalArgumentException("batch norm " + name + ": expects [" + channels + ", H, W], got "
                    + java.util.Arrays.toString(in));
        }
        return in.clone();
    }

    @Override
    public void describe(int[] in, List<LayerInfo> rows) {
        int[] out = outputShape(in);
        rows.add(new LayerInfo(name, "bn " + channels, out, 2L * channels, 2L * out[0] * out[1] * out[2], 32, 0));
    }

    @Override
    protected List<Parameter> ownParameters() {
        return List.of(gamma, beta);
    }

    @Override
    protected List<Parameter> ownBuffers() {
        return List.of(runningMean, runningVar);
    }
}
