package dev.qat4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class BatchLoaderTest {
    static final int N = 103;

    /** N random 3x8x8 images (seeded), label i % 10. */
    static Dataset data() {
        byte[] px = new byte[N * 192];
        new SplittableRandom(42).nextBytes(px);
        int[] labels = new int[N];
        for (int i = 0; i < N; i++) {
            labels[i] = i % 10;
        }
        return new Dataset("synthetic", 3, 8, 8, 10, px, labels);
    }

    static final Dataset DATA = data();

    static List<Batch> epoch(Dataset d, BatchLoader.Options o, int epoch) {
        List<Batch> out = new ArrayList<>();
        try (BatchLoader it = new BatchLoader(d, o, epoch)) {
            while (it.hasNext()) {
                out.add(it.next());
            }
            assertThrows(NoSuchElementException.class, it::next);
        }
        return out;
    }

    static void assertSameBatches(List<Batch> a, List<Batch> b) {
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            assertEquals(a.get(i).size(), b.get(i).size());
            assertArrayEquals(a.get(i).indices(), b.get(i).indices(), "batch " + i);
            assertArrayEquals(a.get(i).labels(), b.get(i).labels(), "batch " + i);
            assertArrayEquals(a.get(i).images(), b.get(i).images(), "batch " + i);
        }
    }

    static boolean sameImages(List<Batch> a, List<Batch> b) {
        for (int i = 0; i < a.size(); i++) {
            if (!Arrays.equals(a.get(i).images(), b.get(i).images())) {
                return false;
            }
        }
        return true;
    }

    static List<Thread> liveWorkers() {
        List<Thread> t = new ArrayList<>();
        for (Thread th : Thread.getAllStackTraces().keySet()) {
            if (th.getName().startsWith(BatchLoader.THREAD_PREFIX) && th.isAlive()) {
                t.add(th);
            }
        }
        return t;
    }

    @AfterEach
    void noWorkerOutlivesATest() throws InterruptedException {
        for (Thread t : liveWorkers()) {
            t.join(5000);
        }
        assertEquals(List.of(), liveWorkers(), "batch loader threads left running");
    }

    @Test
    void everyImageExactlyOncePerEpochWithTheRightLabelAndPixels() {
        BatchLoader.Options o = BatchLoader.Options.eval(10).withShuffle(true).withSeed(3)
                .withNormalization(Normalization.CIFAR10);
        List<Batch> batches = epoch(DATA, o, 0);
        assertEquals(11, batches.size());
        int[] seen = new int[N];
        for (int b = 0; b < batches.size(); b++) {
            Batch batch = batches.get(b);
            assertEquals(b < 10 ? 10 : 3, batch.size());
            assertEquals(batch.size() * 192, batch.images().length);
            for (int k = 0; k < batch.size(); k++) {
                int idx = batch.indices()[k];
                seen[idx]++;
                assertEquals(DATA.label(idx), batch.labels()[k]);
                float[] expected = new float[192];
                Normalization.CIFAR10.apply(DATA.image(idx), 0, 64, expected, 0);
                assertArrayEquals(expected, Arrays.copyOfRange(batch.images(), k * 192, (k + 1) * 192));
            }
        }
        int[] once = new int[N];
        Arrays.fill(once, 1);
        assertArrayEquals(once, seen);
        assertFalse(Arrays.equals(batches.get(0).indices(), new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}),
                "shuffled");
    }

    @Test
    void dropLastAndDatasetOrder() {
        BatchLoader.Options o = BatchLoader.Options.eval(10).withDropLast(true);
        List<Batch> batches = epoch(DATA, o, 0);
        assertEquals(10, batches.size());
        for (int b = 0; b < 10; b++) {
            for (int k = 0; k < 10; k++) {
                assertEquals(10 * b + k, batches.get(b).indices()[k], "no shuffle: dataset order");
            }
        }
        assertEquals(1, epoch(DATA, BatchLoader.Options.eval(N), 0).size());
        assertEquals(N, epoch(DATA, BatchLoader.Options.eval(1000), 0).get(0).size());
        assertThrows(IllegalArgumentException.class,
                () -> new BatchLoader(DATA, BatchLoader.Options.eval(1000).withDropLast(true), 0));
    }

    @Test
    void sameSeedAndEpochGiveTheSameBatchesWhateverTheThreadsOrTiming() {
        BatchLoader.Options o = BatchLoader.Options.train(16, 1234);
        List<Batch> background = epoch(DATA, o, 5);
        assertSameBatches(background, epoch(DATA, o, 5));
        assertSameBatches(background, epoch(DATA, o.withPrefetch(0), 5)); // made in the caller
        assertSameBatches(background, epoch(DATA, o.withPrefetch(1), 5));
        // made in reverse order, on another thread, one at a time
        try (BatchLoader it = new BatchLoader(DATA, o.withPrefetch(0), 5)) {
            for (int b = it.batchCount() - 1; b >= 0; b--) {
                Batch x = it.makeBatch(b);
                assertArrayEquals(background.get(b).images(), x.images());
            }
        }
        // a slow, jittery consumer
        SplittableRandom jitter = new SplittableRandom();
        List<Batch> slow = new ArrayList<>();
        try (BatchLoader it = new BatchLoader(DATA, o.withPrefetch(3), 5)) {
            while (it.hasNext()) {
                try {
                    Thread.sleep(jitter.nextInt(4));
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
                slow.add(it.next());
            }
        }
        assertSameBatches(background, slow);
    }

    @Test
    void differentSeedOrEpochGivesDifferentBatches() {
        BatchLoader.Options o = BatchLoader.Options.train(16, 1234);
        List<Batch> a = epoch(DATA, o, 0);
        List<Batch> otherSeed = epoch(DATA, o.withSeed(1235), 0);
        List<Batch> otherEpoch = epoch(DATA, o, 1);
        assertFalse(Arrays.equals(a.get(0).indices(), otherSeed.get(0).indices()));
        assertFalse(Arrays.equals(a.get(0).indices(), otherEpoch.get(0).indices()));
        // same order, different augmentation: without shuffling only the augmentation can differ
        List<Batch> noShuffle1 = epoch(DATA, o.withShuffle(false), 0);
        List<Batch> noShuffle2 = epoch(DATA, o.withShuffle(false).withSeed(99), 0);
        assertArrayEquals(noShuffle1.get(0).indices(), noShuffle2.get(0).indices());
        assertFalse(sameImages(noShuffle1, noShuffle2));
        assertArrayEquals(BatchLoader.order(N, 1234, 0, true), BatchLoader.order(N, 1234, 0, true));
        int[] sorted = BatchLoader.order(N, 1234, 0, true);
        Arrays.sort(sorted);
        assertArrayEquals(BatchLoader.order(N, 0, 0, false), sorted);
    }

    @Test
    void augmentedImagesAreCropFlipsOfTheOriginal() {
        BatchLoader.Options o = BatchLoader.Options.train(N, 8).withShuffle(false);
        Batch b = epoch(DATA, o, 0).get(0);
        int flipped = 0;
        int identity = 0;
        java.util.Set<Integer> corners = new java.util.HashSet<>();
        for (int k = 0; k < N; k++) {
            float[] got = Arrays.copyOfRange(b.images(), k * 192, (k + 1) * 192);
            Augmentation.Params match = null;
            byte[] crop = new byte[192];
            float[] norm = new float[192];
            search:
            for (int top = 0; top <= 8; top++) {
                for (int left = 0; left <= 8; left++) {
                    for (boolean flip : new boolean[] {false, true}) {
                        Augmentation.apply(DATA.image(k), 0, 3, 8, 8, 4, top, left, flip, crop, 0);
                        Normalization.CIFAR10.apply(crop, 0, 64, norm, 0);
                        if (Arrays.equals(norm, got)) {
                            match = new Augmentation.Params(top, left, flip);
                            break search;
                        }
                    }
                }
            }
            assertNotNull(match, "image " + k + " is no crop/flip of the original");
            flipped += match.flip() ? 1 : 0;
            identity += match.top() == 4 && match.left() == 4 && !match.flip() ? 1 : 0;
            corners.add(match.top() * 9 + match.left());
        }
        assertTrue(flipped > 20 && flipped < 83, "flipped " + flipped + " of " + N);
        assertTrue(identity < 10, "untouched " + identity);
        assertTrue(corners.size() > 30, "distinct crop corners " + corners.size());
        // evaluation options leave images untouched
        Batch e = epoch(DATA, BatchLoader.Options.eval(N), 0).get(0);
        float[] expected = new float[192];
        Normalization.CIFAR10.apply(DATA.image(7), 0, 64, expected, 0);
        assertArrayEquals(expected, Arrays.copyOfRange(e.images(), 7 * 192, 8 * 192));
    }

    @Test
    void workerThreadIsGoneAfterClose() throws InterruptedException {
        BatchLoader.Options o = BatchLoader.Options.train(4, 1);
        // closed right away, after one batch, while the worker is parked on a full queue
        for (int i = 0; i < 20; i++) {
            BatchLoader it = new BatchLoader(DATA, o, i);
            Thread w = it.workerThread();
            assertTrue(w.isDaemon());
            if (i % 2 == 1) {
                it.next();
            }
            if (i % 4 == 3) {
                Thread.sleep(20); // let the worker fill the queue and block
            }
            it.close();
            assertFalse(w.isAlive(), "worker still alive after close");
            assertFalse(it.hasNext());
            assertThrows(IllegalStateException.class, it::next);
            it.close(); // idempotent
        }
        assertEquals(List.of(), liveWorkers());
        // a fully consumed epoch's worker ends by itself
        BatchLoader it = new BatchLoader(DATA, o, 0);
        while (it.hasNext()) {
            it.next();
        }
        it.workerThread().join(5000);
        assertFalse(it.workerThread().isAlive());
        it.close();
        // no worker at all without prefetch
        try (BatchLoader sync = new BatchLoader(DATA, o.withPrefetch(0), 0)) {
            assertNull(sync.workerThread());
        }
    }

    @Test
    void workerExceptionsReachTheCaller() {
        IllegalStateException boom = new IllegalStateException("boom");
        BatchLoader it = new BatchLoader(DATA, BatchLoader.Options.train(10, 1), 0, b -> {
            if (b == 3) {
                throw boom;
            }
        });
        Thread w = it.workerThread();
        for (int b = 0; b < 3; b++) {
            assertEquals(10, it.next().size());
        }
        IllegalStateException e = assertThrows(IllegalStateException.class, it::next);
        assertSame(boom, e);
        assertTrue(e.getSuppressed()[0].getMessage().contains("while preparing batch 3"));
        assertFalse(it.hasNext());
        assertFalse(w.isAlive());
        it.close();

        // an Error too, and from the first batch
        BatchLoader it2 = new BatchLoader(DATA, BatchLoader.Options.train(10, 1), 0, b -> {
            throw new AssertionError("worker error");
        });
        assertEquals("worker error", assertThrows(AssertionError.class, it2::next).getMessage());
        it2.close();
    }

    @Test
    void nextDoesNotHangWhenTheConsumerIsFasterThanTheWorker() {
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
            try (BatchLoader it = new BatchLoader(DATA, BatchLoader.Options.train(8, 2).withPrefetch(1), 0, b -> {
                try {
                    Thread.sleep(2);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            })) {
                int n = 0;
                while (it.hasNext()) {
                    n += it.next().size();
                }
                assertEquals(N, n);
            }
        });
    }

    @Test
    void rejectsBadSetups() {
        assertThrows(IllegalArgumentException.class, () -> BatchLoader.Options.train(0, 1));
        assertThrows(IllegalArgumentException.class, () -> BatchLoader.Options.train(1, 1).withPrefetch(-1));
        Dataset gray = new Dataset("g", 1, 2, 2, 2, new byte[8], new int[] {0, 1});
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new BatchLoader(gray, BatchLoader.Options.eval(2), 0));
        assertTrue(e.getMessage().contains("3 channels"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> new BatchLoader(DATA.subset(0, 0), BatchLoader.Options.eval(2), 0));
        assertThrows(IllegalArgumentException.class, () -> new BatchLoader(DATA, BatchLoader.Options.eval(2), -1));
    }
}
