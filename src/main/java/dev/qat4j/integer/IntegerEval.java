package dev.qat4j.integer;

import dev.qat4j.backend.Backend;
import dev.qat4j.data.Batch;
import dev.qat4j.data.BatchLoader;
import dev.qat4j.data.Dataset;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.ActQuant;
import dev.qat4j.nn.Step;
import dev.qat4j.tensor.Tensor;
import dev.qat4j.train.ConfusionMatrix;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;

/**
 * Runs a fake-quant model and its integer model on the same images and compares them: accuracy of each, top-1
 * agreement, and per quantizer the largest difference between the integer codes and the codes the fake-quant
 * model computes there (in LSBs), plus each layer's observed accumulator range against its worst-case bound.
 * {@link #sweep} re-runs only the integer part for other requantization formats on the cached boundary codes.
 * {@link #evaluate} runs an integer model alone (a converted model or a loaded .qim) and counts its predictions.
 */
public final class IntegerEval {

    /** Per integer layer: code differences against fake-quant (REQUANT layers named after a quantizer), ranges. */
    public record LayerStats(String name, long maxLsbDiff, long differing, long compared, long accMin, long accMax,
                             long accBound) {
    }

    public record Result(String format, int images, double fakeAccuracy, double intAccuracy, double agreement,
                         List<LayerStats> layers) {
        /** Integer minus fake-quant accuracy, in percentage points. */
        public double dropPoints() {
            return 100 * (fakeAccuracy - intAccuracy);
        }
    }

    /** One row of a format sweep: figures, or why the format cannot represent the model. */
    public record SweepRow(String format, double intAccuracy, double agreement, double dropPoints, String error) {
    }

    private final QuantModel model;
    private final Backend backend;
    private final int batchSize;
    // what the fake-quant pass leaves for the sweep
    private final List<int[]> boundaryCodes = new ArrayList<>();
    private String boundaryName;
    // the images, for integer models whose value 0 is not the fake-quant boundary (the seed's integer stem)
    private final List<float[]> imageBatches = new ArrayList<>();
    private final List<int[]> fakeTop1 = new ArrayList<>();
    private final List<int[]> labels = new ArrayList<>();
    private int images;
    private long fakeCorrect;

    public IntegerEval(QuantModel model, Backend backend, int batchSize) {
        if (model == null || backend == null || batchSize < 1) {
            throw new IllegalArgumentException("IntegerEval: model and backend must be set and batch size >= 1");
        }
        this.model = model;
        this.backend = backend;
        this.batchSize = batchSize;
    }

    /** The full comparison of {@code im} (converted from this evaluator's model) on {@code data}. */
    public Result compare(IntegerModel im, Dataset data) {
        return compare(im, data, null);
    }

    /** As {@link #compare(IntegerModel, Dataset)}; {@code imagesDone} (may be null) hears after each batch. */
    public Result compare(IntegerModel im, Dataset data, IntConsumer imagesDone) {
        boundaryCodes.clear();
        imageBatches.clear();
        fakeTop1.clear();
        labels.clear();
        images = 0;
        fakeCorrect = 0;
        int classes = im.numClasses();
        long intCorrect = 0, agree = 0;
        int nl = im.layers().size();
        long[] maxDiff = new long[nl], differing = new long[nl], compared = new long[nl];
        long[] accMin = new long[nl], accMax = new long[nl];
        boundaryName = im.values().get(0).name();
        int[] chw = im.inputSpec().shape();
        try (BatchLoader loader = new BatchLoader(data,
                BatchLoader.Options.eval(batchSize, im.inputSpec().normalization()), 0)) {
            while (loader.hasNext()) {
                Batch b = loader.next();
                int n = b.size();
                Map<String, float[]> fakeCodes = new HashMap<>();
                float[] logits;
                int[] codes;
                try (Step step = new Step(backend, false)) {
                    step.observeQuantizers((ActQuant q, Tensor x) -> {
                        float alpha = q.alpha() == null ? 0f : q.alpha().value().toFloatArray()[0];
                        float[] v = x.toFloatArray();
                        for (int i = 0; i < v.length; i++) {
                            v[i] = q.quantizer().code(v[i], alpha);
                        }
                        fakeCodes.put(q.name(), v);
                    });
                    Tensor x = step.keep(backend.fromFloats(b.images(), n, chw[0], chw[1], chw[2]));
                    logits = model.forward(step, x).toFloatArray();
                    codes = im.hasSeedStem() ? im.boundaryCodes(backend, x) : null;
                }
                if (codes == null) {
                    float[] bc = fakeCodes.get(boundaryName);
                    if (bc == null) {
                        throw new IllegalStateException("IntegerEval: the fake-quant pass never reached "
                                + boundaryName + ": is the integer model converted from this model?");
                    }
                    codes = new int[bc.length];
                    for (int i = 0; i < codes.length; i++) {
                        codes[i] = (int) bc[i];
                    }
                }
                long[] il = im.runIntegers(backend, codes, n, (idx, l, out, lo, hi) -> {
                    accMin[idx] = Math.min(accMin[idx], lo);
                    accMax[idx] = Math.max(accMax[idx], hi);
                    float[] f = l.type() == IntLayer.Type.REQUANT ? fakeCodes.get(l.name()) : null;
                    if (f != null && f.length == out.length) {
                        for (int i = 0; i < out.length; i++) {
                            long d = Math.abs(out[i] - (long) f[i]);
                            if (d != 0) {
                                differing[idx]++;
                                maxDiff[idx] = Math.max(maxDiff[idx], d);
                            }
                        }
                        compared[idx] += out.length;
                    }
                });
                int[] top = new int[n];
                int[] lab = b.labels().clone();
                for (int i = 0; i < n; i++) {
                    int tf = argmax(logits, i * classes, classes);
                    int ti = argmax(il, i * classes, classes);
                    top[i] = tf;
                    fakeCorrect += tf == lab[i] ? 1 : 0;
                    intCorrect += ti == lab[i] ? 1 : 0;
                    agree += tf == ti ? 1 : 0;
                }
                boundaryCodes.add(im.hasSeedStem() ? null : codes); // 64 KiB a ToyNet image: the sweep rebuilds them
                imageBatches.add(java.util.Arrays.copyOf(b.images(), b.images().length));
                fakeTop1.add(top);
                labels.add(java.util.Arrays.copyOf(lab, n));
                images += n;
                if (imagesDone != null) {
                    imagesDone.accept(images);
                }
            }
        }
        List<LayerStats> stats = new ArrayList<>();
        for (int i = 0; i < nl; i++) {
            IntLayer l = im.layers().get(i);
            stats.add(new LayerStats(l.name(), maxDiff[i], differing[i], compared[i], accMin[i], accMax[i],
                    l.accBound()));
        }
        return new Result(im.format(), images, (double) fakeCorrect / images, (double) intCorrect / images,
                (double) agree / images, stats);
    }

    /**
     * The integer model alone on {@code data}, in batches of {@code batchSize}: every image's int64 logits, their
     * argmax (ties to the lowest class) counted against the label, the integer counterpart of
     * {@code Trainer.evaluate}. The logits are compared as integers: converting int64 logits to float could merge two.
     */
    public static ConfusionMatrix evaluate(IntegerModel im, Backend backend, Dataset data, int batchSize) {
        return evaluate(im, backend, data, batchSize, null);
    }

    /** As {@link #evaluate(IntegerModel, Backend, Dataset, int)}; {@code imagesDone} (may be null) hears after each batch. */
    public static ConfusionMatrix evaluate(IntegerModel im, Backend backend, Dataset data, int batchSize,
                                           IntConsumer imagesDone) {
        return evaluate(im, backend, data, batchSize, imagesDone, null);
    }

    /**
     * Hears one evaluated image: its index in the data set, its label, its prediction (the int64 argmax) and its
     * int64 logits ({@code logits[offset..]}).
     */
    @FunctionalInterface
    public interface ImageLogits {
        void image(int index, int label, int prediction, long[] logits, int offset, int classes);
    }

    /**
     * As {@link #evaluate(IntegerModel, Backend, Dataset, int, IntConsumer)}; {@code perImage} (may be null) hears
     * every image's exact logits, in data-set order.
     */
    public static ConfusionMatrix evaluate(IntegerModel im, Backend backend, Dataset data, int batchSize,
                                           IntConsumer imagesDone, ImageLogits perImage) {
        ConfusionMatrix cm = new ConfusionMatrix(data.classes());
        int done = 0;
        int[] chw = im.inputSpec().shape();
        try (BatchLoader loader = new BatchLoader(data,
                BatchLoader.Options.eval(batchSize, im.inputSpec().normalization()), 0)) {
            while (loader.hasNext()) {
                Batch batch = loader.next();
                try (Step step = new Step(backend, false)) {
                    long[] logits = im.logits(backend,
                            step.keep(backend.fromFloats(batch.images(), batch.size(), chw[0], chw[1],
                                    chw[2])));
                    // one-hot of the int64 argmax: converting int64 logits to float could merge two of them
                    int k = im.numClasses();
                    float[] f = new float[logits.length];
                    for (int i = 0; i < batch.size(); i++) {
                        int prediction = argmax(logits, i * k, k);
                        f[i * k + prediction] = 1f;
                        if (perImage != null) {
                            perImage.image(done + i, batch.labels()[i], prediction, logits, i * k, k);
                        }
                    }
                    cm.add(f, batch.labels(), batch.size());
                }
                done += batch.size();
                if (imagesDone != null) {
                    imagesDone.accept(done);
                }
            }
        }
        return cm;
    }

    /** Accuracy and agreement of the integer model under each option, on the images of the last {@link #compare}. */
    public List<SweepRow> sweep(List<IntegerConverter.Options> options) {
        return sweep(options, null);
    }

    /** As {@link #sweep(List)}; {@code formatsDone} (may be null) hears after each format. */
    public List<SweepRow> sweep(List<IntegerConverter.Options> options, IntConsumer formatsDone) {
        if (images == 0) {
            throw new IllegalStateException("IntegerEval.sweep: run compare first (it caches the boundary codes)");
        }
        List<SweepRow> rows = new ArrayList<>();
        double fakeAcc = (double) fakeCorrect / images;
        for (IntegerConverter.Options o : options) {
            IntegerModel im;
            try {
                im = IntegerConverter.convert(model, o);
            } catch (IllegalArgumentException e) {
                rows.add(new SweepRow(o.describe(), Double.NaN, Double.NaN, Double.NaN, e.getMessage()));
                if (formatsDone != null) {
                    formatsDone.accept(rows.size());
                }
                continue;
            }
            int classes = im.numClasses();
            long correct = 0, agree = 0;
            boolean sameBoundary = im.values().get(0).name().equals(boundaryName) && !im.hasSeedStem();
            for (int bi = 0; bi < boundaryCodes.size(); bi++) {
                int[] top = fakeTop1.get(bi), lab = labels.get(bi);
                int[] codes = sameBoundary ? boundaryCodes.get(bi) : codesFromImages(im, bi, top.length);
                long[] il = im.runIntegers(backend, codes, top.length, null);
                for (int i = 0; i < top.length; i++) {
                    int ti = argmax(il, i * classes, classes);
                    correct += ti == lab[i] ? 1 : 0;
                    agree += ti == top[i] ? 1 : 0;
                }
            }
            double acc = (double) correct / images;
            rows.add(new SweepRow(o.describe(), acc, (double) agree / images, 100 * (fakeAcc - acc), null));
            if (formatsDone != null) {
                formatsDone.accept(rows.size());
            }
        }
        return rows;
    }

    private int[] codesFromImages(IntegerModel im, int batch, int n) {
        int[] chw = im.inputSpec().shape();
        try (Tensor x = backend.fromFloats(imageBatches.get(batch), n, chw[0], chw[1], chw[2])) {
            return im.boundaryCodes(backend, x);
        }
    }

    /**
     * The sweep: one format for every layer (dyadic 32/24/16, the seed's ap_fixed widths), then the seed's
     * own path with its middle layers at the three widths the seed reported (91.05 / 71.97 / 68.93).
     */
    public static Map<String, IntegerConverter.Options> standardSweep() {
        Map<String, IntegerConverter.Options> m = new LinkedHashMap<>();
        for (String f : new String[] {"dyadic32", "dyadic24", "dyadic16", "ap_fixed<32,16>", "ap_fixed<32,10>",
            "ap_fixed<24,10>", "ap_fixed<16,8>", "ap_fixed<16,6>"}) {
            m.put(f, IntegerConverter.Options.of(dev.qat4j.quant.RequantFormat.parse(f)));
        }
        for (String f : new String[] {"seed<32,10>", "seed<16,8>", "seed<16,6>"}) {
            m.put(f, IntegerConverter.Options.seed(SeedPath.parse(f)));
        }
        return m;
    }

    static int argmax(float[] v, int off, int n) {
        int best = 0;
        for (int k = 1; k < n; k++) {
            if (v[off + k] > v[off + best]) {
                best = k;
            }
        }
        return best;
    }

    static int argmax(long[] v, int off, int n) {
        int best = 0;
        for (int k = 1; k < n; k++) {
            if (v[off + k] > v[off + best]) {
                best = k;
            }
        }
        return best;
    }
}
