package dev.qat4j.backend;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.qat4j.backend.Results.Loss;
import dev.qat4j.backend.cuda.CudaBackend;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.Step;
import dev.qat4j.tensor.Tensor;
import dev.qat4j.train.Optimizer;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Whole models on the GPU: the same ResNet20 INT8 QAT model gives the reference's logits, and training on the GPU
 * learns (a fixed batch is fitted). Skips without a GPU; {@code bench/gpu-check.sh} runs it.
 */
class CudaTrainingTest {
    @BeforeAll
    static void needsGpu() {
        assumeTrue(CudaBackend.isAvailable(), () -> "cuda backend unavailable: " + CudaBackend.unavailableReason());
    }

    private static float[] images(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n * 3 * 32 * 32];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    @Test
    void resnet20Int8TrainingStepMatchesTheReference() {
        int n = 4;
        float[] x = images(n, 7);
        int[] y = {0, 3, 5, 9};
        float[][] logits = new float[2][];
        float[] losses = new float[2];
        float[][] fcGrad = new float[2][];
        Backend[] backends = {RefBackend.INSTANCE, CudaBackend.get()};
        for (int k = 0; k < 2; k++) {
            Backend b = backends[k];
            try (QuantModel m = Models.build("resnet20", BitWidths.preset("resnet20", "int8"), b, 1);
                 Tensor xt = b.fromFloats(x, n, 3, 32, 32); Tensor yt = b.fromInts(y, n);
                 Step s = new Step(b, true)) {
                Tensor out = m.forward(s, xt);
                logits[k] = out.toFloatArray();
                try (Loss loss = b.softmaxCrossEntropy(out, yt, 0f)) {
                    losses[k] = loss.loss().toFloatArray()[0];
                    m.backward(s, loss.dlogits());
                }
                fcGrad[k] = m.parameters().stream().filter(p -> p.name().equals("fc.weight")).findFirst()
                        .orElseThrow().grad().toFloatArray();
            }
        }
        // Float convolutions sum in another order than the reference, and an 8-bit activation quantizer then rounds a
        // few values to the neighbouring code (1/255 of its range); those flips pass through the next layers, so the
        // model-level agreement is a few percent, not float rounding (the per-op suite checks ops to rounding).
        double logitErr = relativeL2(logits[0], logits[1]), gradErr = relativeL2(fcGrad[0], fcGrad[1]);
        String diag = "logits rel. L2 " + logitErr + ", loss ref " + losses[0] + " cuda " + losses[1]
                + ", fc.weight grad rel. L2 " + gradErr;
        assertTrue(logitErr < 0.05, diag);
        assertTrue(Math.abs(losses[0] - losses[1]) <= 0.02 * Math.abs(losses[0]), diag);
        assertTrue(gradErr < 0.1, diag);
    }

    private static double relativeL2(float[] expected, float[] actual) {
        double num = 0, den = 0;
        for (int i = 0; i < expected.length; i++) {
            num += Math.pow(expected[i] - actual[i], 2);
            den += Math.pow(expected[i], 2);
        }
        return Math.sqrt(num / Math.max(den, 1e-30));
    }

    @Test
    void resnet20Int8FitsAFixedBatchOnTheGpu() {
        CudaBackend b = CudaBackend.get();
        int n = 32;
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            y[i] = i % 10;
        }
        try (QuantModel m = Models.build("resnet20", BitWidths.preset("resnet20", "int8"), b, 3);
             Optimizer opt = Optimizer.seedDefaults(m.parameters());
             Tensor xt = b.fromFloats(images(n, 11), n, 3, 32, 32); Tensor yt = b.fromInts(y, n)) {
            float first = Float.NaN, last = Float.NaN;
            for (int step = 0; step < 40; step++) {
                try (Step s = new Step(b, true)) {
                    Tensor out = m.forward(s, xt);
                    try (Loss loss = b.softmaxCrossEntropy(out, yt, 0f)) {
                        last = loss.loss().toFloatArray()[0];
                        if (step == 0) {
                            first = last;
                        }
                        m.backward(s, loss.dlogits());
                        opt.step(0.05f);
                    }
                }
            }
            assertTrue(Float.isFinite(last) && last < 0.5f * first, "loss went from " + first + " to " + last);
        }
    }
}
