package dev.qat4j.train;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.SgdParams;
import dev.qat4j.nn.Parameter;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Tensor;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * SGD with momentum (optionally Nesterov) and weight decay, as torch.optim.SGD, over a model's parameters, plus the
 * seed's mPACT penalty {@code λ Σ α²} (its gradient 2λα is added to each α's gradient before the update).
 * Weight decay hits every parameter as in the seed, or only conv/linear weights and biases when
 * {@code decayNormAndAlpha} is false. Momentum buffers live on the parameters' backend and are created at the first
 * step (zeros: torch's first step, buf = g, is the same thing with dampening 0).
 */
public final class Optimizer implements AutoCloseable {
    private final List<Parameter> params;
    private final float momentum;
    private final float weightDecay;
    private final boolean nesterov;
    private final boolean decayNormAndAlpha;
    private final float alphaPenalty;
    private final Map<Parameter, Tensor> buffers = new IdentityHashMap<>();

    public Optimizer(List<Parameter> params, float momentum, float weightDecay, boolean nesterov,
                     boolean decayNormAndAlpha, float alphaPenalty) {
        if (!(alphaPenalty >= 0f) || !Float.isFinite(alphaPenalty)) {
            throw new IllegalArgumentException("optimizer: α penalty must be finite and >= 0, got " + alphaPenalty);
        }
        new SgdParams(0f, momentum, weightDecay, nesterov); // validates the rest with clear messages
        this.params = List.copyOf(params);
        this.momentum = momentum;
        this.weightDecay = weightDecay;
        this.nesterov = nesterov;
        this.decayNormAndAlpha = decayNormAndAlpha;
        this.alphaPenalty = alphaPenalty;
    }

    /** The seed's settings: momentum 0.9, weight decay 5e-4 on everything, α penalty 2e-4. */
    public static Optimizer seedDefaults(List<Parameter> params) {
        return new Optimizer(params, 0.9f, 5e-4f, false, true, 2e-4f);
    }

    /** λ Σ α² for the loss that is reported (the gradient is added in {@link #step}); reads every α in one call. */
    public float alphaPenaltyLoss() {
        List<Tensor> alphas = alphaValues();
        if (alphas.isEmpty()) {
            return 0f;
        }
        return alphaPenaltyLoss(alphas.get(0).backend().readAllFloats(alphas));
    }

    /** The clips α of the model ([1] tensors), in parameter order: what {@link #alphaPenaltyLoss(float[][])} reads. */
    public List<Tensor> alphaValues() {
        List<Tensor> alphas = new java.util.ArrayList<>();
        for (Parameter p : params) {
            if (p.kind() == Parameter.Kind.ALPHA) {
                alphas.add(p.value());
            }
        }
        return alphas;
    }

    /** λ Σ α² from the values of {@link #alphaValues()}, read by the caller (with other values, in one round trip). */
    public float alphaPenaltyLoss(float[][] alphaValues) {
        double s = 0;
        for (float[] a : alphaValues) {
            s += (double) a[0] * a[0];
        }
        return (float) (alphaPenalty * s);
    }

    /** One update with learning rate {@code lr}; parameters without a gradient (unused this step) are skipped. */
    public void step(float lr) {
        if (params.isEmpty()) {
            return;
        }
        try (Tensor flag = params.get(0).value().backend().zeros(DType.FLOAT32, 1)) {
            step(lr, flag);
        }
    }

    /**
     * As {@link #step(float)}, all parameters in one {@code Backend.sgdSteps} call, which sets {@code nonFinite[0]}
     * (FLOAT32 [1] on the parameters' backend) to 1 when an updated value is NaN or infinite: a flag the caller reads
     * with its other values instead of reading the weights.
     */
    public void step(float lr, Tensor nonFinite) {
        List<Tensor> values = new java.util.ArrayList<>(), grads = new java.util.ArrayList<>();
        List<Tensor> bufs = new java.util.ArrayList<>();
        List<SgdParams> hyper = new java.util.ArrayList<>();
        Backend backend = null;
        for (Parameter p : params) {
            Tensor grad = p.grad();
            if (grad == null) {
                continue;
            }
            Backend b = p.value().backend();
            backend = b;
            boolean decays = decayNormAndAlpha || p.kind() == Parameter.Kind.WEIGHT || p.kind() == Parameter.Kind.BIAS;
            float decay = decays ? weightDecay : 0f;
            if (p.kind() == Parameter.Kind.ALPHA) {
                // The penalty's gradient 2λα is a decay term: g + 2λα + wd α = g + (wd + 2λ) α, applied by the
                // update itself, so no α is read back to the host.
                decay += 2f * alphaPenalty;
            }
            values.add(p.value());
            grads.add(grad);
            bufs.add(buffers.computeIfAbsent(p, k -> b.zeros(DType.FLOAT32, k.value().shape())));
            hyper.add(new SgdParams(lr, momentum, decay, nesterov));
        }
        if (backend != null) {
            backend.sgdSteps(values, grads, bufs, hyper, nonFinite);
        }
    }

    /** Momentum buffers by parameter name, for checkpoints. */
    public Map<String, Tensor> momentumBuffers() {
        Map<String, Tensor> out = new java.util.LinkedHashMap<>();
        for (Parameter p : params) {
            Tensor t = buffers.get(p);
            if (t != null) {
                out.put(p.name(), t);
            }
        }
        return out;
    }

    /** Restores the momentum buffer of the parameter named {@code name} (from a checkpoint). */
    public void setMomentum(String name, float[] values) {
        Parameter p = params.stream().filter(q -> q.name().equals(name)).findFirst().orElseThrow(
                () -> new IllegalArgumentException("optimizer: no parameter named '" + name + "'"));
        if (values.length != p.numel()) {
            throw new IllegalArgumentException("optimizer: momentum of '" + name + "' has " + values.length
                    + " values, the parameter " + p.numel());
        }
        Tensor old = buffers.put(p, p.value().backend().fromFloats(values, p.value().shape()));
        if (old != null) {
            old.close();
        }
    }

    @Override
    public void close() {
        buffers.values().forEach(Tensor::close);
        buffers.clear();
    }
}
