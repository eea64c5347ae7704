package dev.qat4j.data;

import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntConsumer;

/**
 * One epoch of mini-batches over a {@link Dataset}, prepared in the background by one worker thread while the
 * caller computes.
 *
 * <p><b>Determinism.</b> What a batch contains depends only on (dataset, options, epoch, batch index), never on
 * timing or threads: the epoch's order is a Fisher-Yates shuffle driven by a {@link SplittableRandom} seeded from
 * {@code (seed, epoch)}, and the image at position {@code p} of the epoch is augmented with its own
 * {@code SplittableRandom} seeded from {@code (seed, epoch, p)}. The same seed and epoch give the same batches
 * whether they are made in the background, in the caller ({@code prefetch = 0}) or in any other order.
 *
 * <p><b>Threads.</b> With {@code prefetch > 0} one daemon worker fills a queue of at most {@code prefetch}
 * batches; it stops by itself after the last batch, and {@link #close()} stops it early and waits for it to end.
 * Always close the loader (try-with-resources): a loader abandoned mid-epoch otherwise keeps its worker parked
 * until the JVM exits. An exception thrown in the worker is rethrown to the caller by the {@link #next()} that
 * would have returned the failed batch (the same exception object, with a suppressed note saying so); after that
 * the loader is closed.
 *
 * <pre>{@code
 * for (int epoch = 0; epoch < epochs; epoch++) {
 *     try (BatchLoader it = new BatchLoader(train, BatchLoader.Options.train(128, seed), epoch)) {
 *         while (it.hasNext()) { Batch b = it.next(); ... }
 *     }
 * }
 * }</pre>
 */
public final class BatchLoader implements AutoCloseable, Iterator<Batch> {
    /** Prefix of the worker threads' names. */
    public static final String THREAD_PREFIX = "qat4j-batch-loader-";
    private static final AtomicLong THREAD_IDS = new AtomicLong();
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    /**
     * How batches are made.
     *
     * @param batchSize     images per batch (the last batch of an epoch is smaller unless {@code dropLast})
     * @param shuffle       a new seeded order every epoch (off: dataset order)
     * @param dropLast      drop the last, smaller batch
     * @param augmentation  {@link Augmentation#NONE} for evaluation
     * @param normalization one mean/std per dataset channel
     * @param seed          seeds the order and the augmentations (with the epoch)
     * @param prefetch      batches the worker may prepare ahead (0: no worker, batches made in {@code next()})
     */
    public record Options(int batchSize, boolean shuffle, boolean dropLast, Augmentation augmentation,
            Normalization normalization, long seed, int prefetch) {
        /** Most batches a worker may hold ready. */
        public static final int MAX_PREFETCH = 16;

        public Options {
            if (batchSize <= 0) {
                throw new IllegalArgumentException("batch size must be positive, got " + batchSize);
            }
            Objects.requireNonNull(augmentation, "augmentation");
            Objects.requireNonNull(normalization, "normalization");
            if (prefetch < 0 || prefetch > MAX_PREFETCH) {
                throw new IllegalArgumentException("prefetch must be in 0.." + MAX_PREFETCH + ", got " + prefetch);
            }
        }

        /** The seed's CIFAR-10 training: shuffled, crop 32 pad 4 + flip, CIFAR-10 normalisation, 2 batches ahead. */
        public static Options train(int batchSize, long seed) {
            return new Options(batchSize, true, false, Augmentation.CIFAR10, Normalization.CIFAR10, seed, 2);
        }

        /** Evaluation: dataset order, no augmentation, CIFAR-10 normalisation, every image once. */
        public static Options eval(int batchSize) {
            return eval(batchSize, Normalization.CIFAR10);
        }

        /**
         * Training of any data: shuffled, {@code augmentation}, {@code normalization}, 2 batches ahead.
         *
         * @param batchSize     images per batch
         * @param seed          seeds the order and the augmentations
         * @param augmentation  crop and flip, or {@link Augmentation#NONE}
         * @param normalization one mean/std per channel of the data
         * @return the options
         */
        public static Options train(int batchSize, long seed, Augmentation augmentation, Normalization normalization) {
            return new Options(batchSize, true, false, augmentation, normalization, seed, 2);
        }

        /**
         * Evaluation of any data: dataset order, no augmentation, {@code normalization}, every image once.
         *
         * @param batchSize     images per batch
         * @param normalization one mean/std per channel of the data
         * @return the options
         */
        public static Options eval(int batchSize, Normalization normalization) {
            return new Options(batchSize, false, false, Augmentation.NONE, normalization, 0, 2);
        }

        public Options withShuffle(boolean v) {
            return new Options(batchSize, v, dropLast, augmentation, normalization, seed, prefetch);
        }

        public Options withDropLast(boolean v) {
            return new Options(batchSize, shuffle, v, augmentation, normalization, seed, prefetch);
        }

        public Options withAugmentation(Augmentation v) {
            return new Options(batchSize, shuffle, dropLast, v, normalization, seed, prefetch);
        }

        public Options withNormalization(Normalization v) {
            return new Options(batchSize, shuffle, dropLast, augmentation, v, seed, prefetch);
        }

        public Options withSeed(long v) {
            return new Options(batchSize, shuffle, dropLast, augmentation, normalization, v, prefetch);
        }

        public Options withPrefetch(int v) {
            return new Options(batchSize, shuffle, dropLast, augmentation, normalization, seed, v);
        }
    }

    private record Failure(Throwable error) {
    }

    private final Dataset data;
    private final Options options;
    private final int epoch;
    private final int[] order;
    private final int batchCount;
    private final long epochSeed;
    private final IntConsumer beforeBatch; // test hook, runs in the worker before each batch
    private final BlockingQueue<Object> queue;
    private final Thread worker;
    private volatile boolean closed;
    private int consumed;

    /** Starts preparing epoch {@code epoch} (0-based) of {@code data}. */
    public BatchLoader(Dataset data, Options options, int epoch) {
        this(data, options, epoch, null);
    }

    BatchLoader(Dataset data, Options options, int epoch, IntConsumer beforeBatch) {
        this.data = Objects.requireNonNull(data, "data");
        this.options = Objects.requireNonNull(options, "options");
        if (epoch < 0) {
            throw new IllegalArgumentException("epoch must not be negative, got " + epoch);
        }
        if (data.size() == 0) {
            throw new IllegalArgumentException(data.name() + " is empty: no batches to make");
        }
        if (options.normalization().channels() != data.channels()) {
            throw new IllegalArgumentException("normalisation has " + options.normalization().channels()
                    + " channels but " + data.name() + " has " + data.channels());
        }
        if (options.dropLast() && data.size() < options.batchSize()) {
            throw new IllegalArgumentException("drop-last with " + data.size() + " images and batch size "
                    + options.batchSize() + " would give no batch at all");
        }
        this.epoch = epoch;
        this.beforeBatch = beforeBatch;
        this.epochSeed = epochSeed(options.seed(), epoch);
        this.order = order(data.size(), options.seed(), epoch, options.shuffle());
        int full = data.size() / options.batchSize();
        this.batchCount = options.dropLast() || data.size() % options.batchSize() == 0 ? full : full + 1;
        if (options.prefetch() > 0) {
            queue = new ArrayBlockingQueue<>(options.prefetch());
            worker = new Thread(this::work, THREAD_PREFIX + THREAD_IDS.incrementAndGet());
            worker.setDaemon(true);
            worker.start();
        } else {
            queue = null;
            worker = null;
        }
    }

    /** Batches in this epoch. */
    public int batchCount() {
        return batchCount;
    }

    public int epoch() {
        return epoch;
    }

    public Options options() {
        return options;
    }

    /** Whether another batch remains (never blocks). False once closed. */
    @Override
    public boolean hasNext() {
        return !closed && consumed < batchCount;
    }

    /**
     * The next batch, waiting for the worker if it is not ready yet.
     *
     * @throws NoSuchElementException after the last batch
     * @throws IllegalStateException  once closed, or if the calling thread is interrupted while waiting
     */
    @Override
    public Batch next() {
        if (closed) {
            throw new IllegalStateException("BatchLoader is closed");
        }
        if (consumed >= batchCount) {
            throw new NoSuchElementException("epoch " + epoch + " has " + batchCount + " batches; all were taken");
        }
        if (worker == null) {
            if (beforeBatch != null) {
                beforeBatch.accept(consumed);
            }
            return makeBatch(consumed++);
        }
        Object item;
        try {
            item = queue.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for batch " + consumed, e);
        }
        if (item instanceof Failure f) {
            close();
            Throwable t = f.error();
            t.addSuppressed(new RuntimeException("thrown in " + worker.getName() + " while preparing batch "
                    + consumed + " of epoch " + epoch + "; rethrown to the caller of next()"));
            if (t instanceof RuntimeException r) {
                throw r;
            }
            if (t instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException("batch worker failed: " + t, t);
        }
        consumed++;
        return (Batch) item;
    }

    /** Stops the worker (if any) and waits for it to end. Idempotent. */
    @Override
    public void close() {
        closed = true;
        if (worker == null) {
            return;
        }
        worker.interrupt();
        boolean interrupted = false;
        while (worker.isAlive()) {
            try {
                worker.join();
            } catch (InterruptedException e) {
                interrupted = true; // keep waiting: the worker ends promptly once interrupted
            }
        }
        queue.clear();
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** The worker thread, or null when {@code prefetch == 0} (for tests). */
    Thread workerThread() {
        return worker;
    }

    private void work() {
        int b = 0;
        try {
            for (; b < batchCount && !closed; b++) {
                if (beforeBatch != null) {
                    beforeBatch.accept(b);
                }
                queue.put(makeBatch(b));
            }
        } catch (InterruptedException e) {
            // close(): stop quietly
        } catch (Throwable t) {
            if (!closed) {
                try {
                    queue.put(new Failure(t));
                } catch (InterruptedException e) {
                    // closed meanwhile
                }
            }
        }
    }

    /**
     * What batch {@code b} of this epoch is made of: the data-set index of each image and its crop corner and flip
     * ({@link Augmentation#draw}; 0, 0, false without augmentation). {@link #next()} builds exactly these images on the
     * host; {@code Backend.augmentBatch} builds them from a data set kept on a backend ({@link ResidentDataset}).
     * A pure function of data size, options, epoch and b.
     *
     * @param index   data-set index of each image of the batch
     * @param top     crop corner row in the padded image
     * @param left    crop corner column in the padded image
     * @param flip    whether the image is mirrored left-right
     * @param padding the zero padding the corners refer to ({@link Augmentation#padding()}, 0 without cropping)
     */
    public record BatchPlan(int[] index, int[] top, int[] left, boolean[] flip, int padding) {
        /** Images in the batch. */
        public int size() {
            return index.length;
        }
    }

    /** The plan of batch {@code b} (0-based) of this epoch; see {@link BatchPlan}. */
    public BatchPlan plan(int b) {
        if (b < 0 || b >= batchCount) {
            throw new IndexOutOfBoundsException("batch " + b + " of an epoch of " + batchCount + " batches");
        }
        int bs = options.batchSize();
        int from = b * bs;
        int size = Math.min(bs, data.size() - from);
        int[] index = new int[size], top = new int[size], left = new int[size];
        boolean[] flip = new boolean[size];
        Augmentation a = options.augmentation();
        for (int k = 0; k < size; k++) {
            int pos = from + k;
            index[k] = order[pos];
            if (a.enabled()) {
                Augmentation.Params p = a.draw(new SplittableRandom(combine(epochSeed, pos)));
                top[k] = p.top();
                left[k] = p.left();
                flip[k] = p.flip();
            } else {
                top[k] = a.padding(); // no draw: the uncropped window (padding 0 when augmentation is off)
                left[k] = a.padding();
            }
        }
        return new BatchPlan(index, top, left, flip, a.padding());
    }

    /** Batch {@code b} of this epoch, made in the calling thread: a pure function of data, options, epoch, b. */
    Batch makeBatch(int b) {
        BatchPlan plan = plan(b);
        int size = plan.size();
        int c = data.channels();
        int h = data.height();
        int w = data.width();
        int is = data.imageSize();
        float[] images = new float[size * is];
        int[] labels = new int[size];
        int[] indices = new int[size];
        boolean floats = data.isFloat();
        byte[] raw = floats ? null : new byte[is];
        byte[] aug = floats ? null : new byte[is];
        float[] rawF = floats ? new float[is] : null;
        float[] augF = floats ? new float[is] : null;
        boolean augment = options.augmentation().enabled();
        int padding = plan.padding();
        Normalization norm = options.normalization();
        for (int k = 0; k < size; k++) {
            int idx = plan.index()[k];
            indices[k] = idx;
            labels[k] = data.label(idx);
            int top = plan.top()[k], left = plan.left()[k];
            boolean flip = plan.flip()[k];
            if (floats) {
                data.copyImage(idx, rawF, 0);
                float[] src = rawF;
                if (augment) {
                    Augmentation.apply(rawF, 0, c, h, w, padding, top, left, flip, augF, 0);
                    src = augF;
                }
                norm.apply(src, 0, h * w, images, k * is);
            } else {
                data.copyImage(idx, raw, 0);
                byte[] src = raw;
                if (augment) {
                    Augmentation.apply(raw, 0, c, h, w, padding, top, left, flip, aug, 0);
                    src = aug;
                }
                norm.apply(src, 0, h * w, images, k * is);
            }
        }
        return new Batch(images, labels, size, indices);
    }

    /**
     * The order in which epoch {@code epoch} visits the images {@code 0..n-1}: the identity without shuffling,
     * else a Fisher-Yates shuffle by a {@link SplittableRandom} seeded from {@code (seed, epoch)}.
     */
    public static int[] order(int n, long seed, int epoch, boolean shuffle) {
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        if (shuffle) {
            SplittableRandom rng = new SplittableRandom(combine(epochSeed(seed, epoch), -1));
            for (int i = n - 1; i > 0; i--) {
                int j = rng.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
        return order;
    }

    private static long epochSeed(long seed, int epoch) {
        return combine(mix64(seed), epoch);
    }

    /** A well-mixed seed for stream {@code k} of {@code base} (distinct k give unrelated seeds). */
    private static long combine(long base, long k) {
        return mix64(base + GOLDEN * (k + 2));
    }

    /** SplitMix64's finaliser. */
    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
