package dev.qat4j.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.qat4j.backend.Results.Loss;
import dev.qat4j.backend.cuda.CudaBackend;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.data.Batch;
import dev.qat4j.data.BatchLoader;
import dev.qat4j.data.Dataset;
import dev.qat4j.data.Normalization;
import dev.qat4j.data.ResidentDataset;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.Step;
import dev.qat4j.tensor.Tensor;
import dev.qat4j.train.Optimizer;
import dev.qat4j.train.TrainConfig;
import dev.qat4j.train.Trainer;
import java.util.ArrayList;
import java.util.List;
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

    /** The GPU's batch assembly against the host loader, bit for bit, on CIFAR-10-shaped random data (3 epochs). */
    @Test
    void batchesAssembledOnTheGpuAreTheHostLoadersBitForBit() {
        Backend cuda = CudaBackend.get();
        SplittableRandom r = new SplittableRandom(3);
        int n = 1000;
        byte[] pixels = new byte[n * 3 * 32 * 32];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (byte) r.nextInt(256);
        }
        Dataset data = Dataset.ofBytes("random", 3, 32, 32, 10, pixels, r.ints(n, 0, 10).toArray());
        BatchLoader.Options opts = BatchLoader.Options.train(128, 7).withPrefetch(0);
        try (ResidentDataset onGpu = ResidentDataset.upload(cuda, data, Normalization.CIFAR10)) {
            for (int epoch = 0; epoch < 3; epoch++) {
                try (BatchLoader host = new BatchLoader(data, opts, epoch);
                     BatchLoader plans = new BatchLoader(data, opts, epoch)) {
                    for (int b = 0; b < host.batchCount(); b++) {
                        Batch want = host.next();
                        try (Results.ImageBatch got = onGpu.batch(plans.plan(b))) {
                            assertArrayEquals(want.labels(), got.labels().toIntArray(), "epoch " + epoch + " batch " + b);
                            assertArrayEquals(want.images(), got.images().toFloatArray(), 0f,
                                    "epoch " + epoch + " batch " + b);
                        }
                    }
                }
            }
        }
    }

    /** One flag over many tensors (more than one kernel chunk of 200), finite and not; and one read of them all. */
    @Test
    void allFiniteOnTheGpu() {
        Backend cuda = CudaBackend.get();
        List<Tensor> many = new ArrayList<>();
        try {
            for (int i = 0; i < 450; i++) {
                many.add(cuda.fromFloats(new float[1 + i * 37], 1 + i * 37));
            }
            assertTrue(cuda.allFinite(many));
            float[] big = new float[100_000];
            big[99_999] = Float.NaN;
            many.add(cuda.fromFloats(big, big.length));
            assertFalse(cuda.allFinite(many));
            assertTrue(cuda.allFinite(many.subList(0, 450)));
            float[][] all = cuda.readAllFloats(many); // 451 tensors: three gather launches of at most 160
            assertEquals(451, all.length);
            for (int i = 0; i < 450; i++) {
                assertArrayEquals(new float[1 + i * 37], all[i], 0f, "tensor " + i);
            }
            assertTrue(Float.isNaN(all[450][99_999]));
        } finally {
            many.forEach(Tensor::close);
        }
    }

    /**
     * A ToyNet epoch on the GPU with the data set in GPU memory is the same epoch with host batches: the inputs are
     * the same floats bit for bit (above), so only the GPU's own run-to-run differences remain (float atomics in the
     * reductions), far below 1e-4 of the loss.
     */
    @Test
    void trainingWithTheDataOnTheGpuIsTrainingWithHostBatches() {
        Backend cuda = CudaBackend.get();
        SplittableRandom r = new SplittableRandom(4);
        int n = 512;
        byte[] pixels = new byte[n * 3 * 32 * 32];
        int[] labels = r.ints(n, 0, 10).toArray();
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (byte) Math.min(255, r.nextInt(128) + 12 * labels[i / 3072]);
        }
        Dataset data = Dataset.ofBytes("synthetic", 3, 32, 32, 10, pixels, labels);
        TrainConfig cfg = TrainConfig.builder().epochs(1).batchSize(128).lr(0.01f).seed(1).build();
        try (QuantModel m = Models.build("toynet", BitWidths.preset("toynet", "cfg1-star"), cuda, 1);
             Trainer t = new Trainer(m, cuda, cfg)) {
            assertTrue(t.keepsOnBackend(data), "cuda keeps the data set in GPU memory by default");
        }
        double[] loss = new double[2];
        for (int k = 0; k < 2; k++) {
            try (QuantModel m = Models.build("toynet", BitWidths.preset("toynet", "cfg1-star"), cuda, 1);
                 Trainer t = new Trainer(m, cuda, cfg, k == 1)) {
                assertEquals(k == 1, t.keepsOnBackend(data));
                loss[k] = t.trainEpoch(data, 0, null).loss();
            }
        }
        assertTrue(Double.isFinite(loss[0]), "loss " + loss[0]);
        assertEquals(loss[0], loss[1], 1e-4 * Math.abs(loss[0]), "epoch loss, host batches vs batches on the GPU");
    }
}
