package dev.qat4j.backend;

import dev.qat4j.tensor.Tensor;

/** The multi-tensor results of backend ops. Each owns its tensors: close it (or them) when done. */
public final class Results {
    private Results() {
    }

    /** Training-mode batch norm: the output and the batch statistics the backward needs. */
    public record BatchNormForward(Tensor y, Tensor mean, Tensor invStd) implements AutoCloseable {
        @Override
        public void close() {
            y.close();
            mean.close();
            invStd.close();
        }
    }

    public record BatchNormGrads(Tensor dx, Tensor dgamma, Tensor dbeta) implements AutoCloseable {
        @Override
        public void close() {
            dx.close();
            dgamma.close();
            dbeta.close();
        }
    }

    /** Mean loss over the batch (a [1] tensor) and its gradient with respect to the logits. */
    public record Loss(Tensor loss, Tensor dlogits) implements AutoCloseable {
        @Override
        public void close() {
            loss.close();
            dlogits.close();
        }
    }

    /** Gradients of an activation quantizer; {@code dalpha} is null for kinds without α. */
    public record ActQuantGrads(Tensor dx, Tensor dalpha) implements AutoCloseable {
        @Override
        public void close() {
            dx.close();
            if (dalpha != null) {
                dalpha.close();
            }
        }
    }

    /**
     * A batch {@link Backend#augmentBatch} assembled on a backend: FLOAT32 images [n,c,h,w] and their INT32 labels [n].
     */
    public record ImageBatch(Tensor images, Tensor labels) implements AutoCloseable {
        @Override
        public void close() {
            images.close();
            labels.close();
        }
    }
}
