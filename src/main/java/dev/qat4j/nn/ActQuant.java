package dev.qat4j.nn;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Results.ActQuantGrads;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.tensor.Tensor;
import java.util.List;

/** An activation fake-quantizer layer (PACT, mPACT, fixed clip or DoReFa) with its learnable α where it has one. */
public final class ActQuant extends Module {
    private final ActQuantizer quantizer;
    private final Parameter alpha; // null for kinds without α
    private Tensor x;

    public ActQuant(String name, Backend backend, ActQuantizer quantizer, float alphaInit) {
        super(name);
        this.quantizer = quantizer;
        // A 32-bit quantizer is the identity: it has no clip to learn, so no α parameter.
        this.alpha = quantizer.hasAlpha() && !quantizer.isIdentity()
                ? new Parameter(name + ".alpha", Parameter.Kind.ALPHA, backend.fromFloats(new float[] {alphaInit}, 1))
                : null;
    }

    /**
     * A quantizer whose α is {@code sharedAlpha}, a parameter other quantizers use too (tied clips: one tensor, and
     * each backward adds this quantizer's gradient to the others'). The quantizer must have an α and not be the
     * identity, and {@code sharedAlpha} must be an {@link Parameter.Kind#ALPHA} of shape [1].
     */
    public ActQuant(String name, ActQuantizer quantizer, Parameter sharedAlpha) {
        super(name);
        if (!quantizer.hasAlpha() || quantizer.isIdentity()) {
            throw new IllegalArgumentException("quantizer " + name + ": only a PACT or mPACT quantizer below 32 bits "
                + "has an α to share (this one is " + quantizer.kind() + " at " + quantizer.bits() + " bits)");
        }
        if (sharedAlpha == null || sharedAlpha.kind() != Parameter.Kind.ALPHA || sharedAlpha.numel() != 1) {
            throw new IllegalArgumentException("quantizer " + name + ": the shared α must be one ALPHA parameter of "
                + "one value, got " + sharedAlpha);
        }
        this.quantizer = quantizer;
        this.alpha = sharedAlpha;
    }

    /** Whether this quantizer's α is not its own ({@code <name>.alpha}) but shared with other quantizers. */
    public boolean sharesAlpha() {
        return alpha != null && !alpha.name().equals(name + ".alpha");
    }

    public ActQuantizer quantizer() {
        return quantizer;
    }

    public Parameter alpha() {
        return alpha;
    }

    @Override
    public Tensor forward(Step step, Tensor x) {
        if (quantizer.isIdentity()) {
            return x; // 32 bits: the layer is not there (no α gradient either)
        }
        step.quantizerInput(this, x);
        if (step.training()) { // eval keeps no state in the module (concurrent evaluation, see Module#forward)
            this.x = x;
        }
        return step.keep(step.backend().actQuant(x, quantizer, alpha == null ? null : alpha.value()));
    }

    @Override
    public Tensor backward(Step step, Tensor dy) {
        if (quantizer.isIdentity()) {
            return dy;
        }
        ActQuantGrads g = step.backend().actQuantBackward(dy, cached(x), quantizer, alpha == null ? null : alpha.value());
        if (alpha != null) {
            if (step.firstGradient(alpha)) {
                alpha.setGrad(g.dalpha());
            } else { // a tied α: the gradient is the sum over every quantizer that uses it
                Tensor d = step.keep(g.dalpha());
                alpha.setGrad(step.backend().add(alpha.grad(), d));
            }
        }
        return step.keep(g.dx());
    }

    @Override
    public int[] outputShape(int[] in) {
        return in.clone();
    }

    @Override
    public void describe(int[] in, List<LayerInfo> rows) {
        String type = quantizer.kind().name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
        rows.add(new LayerInfo(name, type, in.clone(), 0, 0, 0, quantizer.bits()));
    }

    @Override
    protected List<Parameter> ownParameters() {
        return alpha == null ? List.of() : List.of(alpha);
    }
}
