package dev.qat4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real CIFAR-10 archive ({@code QAT4J_DATA}, or {@code shared/datasets/cifar10/cifar-10-binary.tar.gz});
 * skipped when it is not there. The archive is read once for the test split (test_batch.bin is its last entry, so
 * the whole archive is decompressed) and once more by the test itself to extract test_batch.bin.
 */
class Cifar10RealDataTest {
    @TempDir
    static Path extracted;

    static Path archive;
    static Dataset fromArchive;
    static Dataset fromFolder;

    static Path findArchive() {
        List<Path> candidates = new ArrayList<>();
        String env = System.getenv(DataLocator.ENV);
        if (env != null && !env.isBlank()) {
            Path p = Path.of(env.trim());
            candidates.add(Files.isDirectory(p) ? p.resolve(Cifar10.ARCHIVE) : p);
        }
        candidates.add(Path.of("/work/shared/datasets/cifar10", Cifar10.ARCHIVE));
        candidates.add(Path.of("..", "shared", "datasets", "cifar10", Cifar10.ARCHIVE)); // CI: shared/ beside the clone
        for (Path p : candidates) {
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        return null;
    }

    @BeforeAll
    static void load() throws IOException {
        archive = findArchive();
        Assumptions.assumeTrue(archive != null, "no CIFAR-10 archive: set QAT4J_DATA or provide "
                + "shared/datasets/cifar10/" + Cifar10.ARCHIVE);
        // Extract just test_batch.bin, independently of the reader under test.
        Path folder = Files.createDirectories(extracted.resolve(Cifar10.FOLDER));
        try (InputStream in = new BufferedInputStream(Files.newInputStream(archive), 1 << 16);
                TarArchiveInputStream tar = new TarArchiveInputStream(new GzipCompressorInputStream(in))) {
            TarArchiveEntry e;
            while ((e = tar.getNextEntry()) != null) {
                if (e.getName().endsWith("/test_batch.bin")) {
                    Files.copy(tar, folder.resolve("test_batch.bin"));
                    break;
                }
            }
        }
        fromArchive = Cifar10.load(archive, Split.TEST);
        fromFolder = Cifar10.load(extracted, Split.TEST);
    }

    @Test
    void archiveAndExtractedFileGiveTheSameData() {
        assertEquals(10_000, fromArchive.size());
        assertEquals(10_000, fromFolder.size());
        assertArrayEquals(fromFolder.labels(), fromArchive.labels());
        assertArrayEquals(fromFolder.images(), fromArchive.images());
    }

    @Test
    void testSetHasOneThousandImagesPerClass() {
        int[] expected = new int[10];
        Arrays.fill(expected, 1000);
        assertArrayEquals(expected, fromArchive.classCounts());
    }

    @Test
    void knownFirstAndLastRecords() {
        // Read once with `od` from this archive's test_batch.bin (its record order is not the official one; see
        // shared/datasets/cifar10/README.md): record 0 is a deer (order_test.txt: deer/mule_deer_s_000451.png).
        assertEquals(4, fromArchive.label(0));
        assertEquals("deer", Cifar10.CLASS_NAMES.get(fromArchive.label(0)));
        assertEquals(164, fromArchive.pixel(0, 0, 0, 0));
        assertEquals(163, fromArchive.pixel(0, 0, 0, 1));
        assertEquals(160, fromArchive.pixel(0, 0, 0, 2));
        assertEquals(161, fromArchive.pixel(0, 0, 0, 3));
        long sum = 0;
        for (byte b : fromArchive.image(0)) {
            sum += b & 0xFF;
        }
        assertEquals(492_612, sum);
        assertEquals(8, fromArchive.label(9999));
    }

    @Test
    void evalBatchesAreTheNormalisedImagesInOrder() {
        try (BatchLoader it = new BatchLoader(fromArchive, BatchLoader.Options.eval(256), 0)) {
            assertEquals(40, it.batchCount());
            Batch b = it.next();
            assertEquals(256, b.size());
            assertEquals(4, b.labels()[0]);
            float[] expected = new float[3072];
            Normalization.CIFAR10.apply(fromArchive.image(0), 0, 1024, expected, 0);
            assertArrayEquals(expected, Arrays.copyOf(b.images(), 3072));
            assertEquals((164 / 255f - 0.4914f) / 0.2023f, b.images()[0]);
        }
    }

    @Test
    void trainSplitStraightFromTheArchive() {
        Dataset train = Cifar10.load(archive, Split.TRAIN);
        assertEquals("cifar10-train", train.name());
        assertEquals(50_000, train.size());
        int[] expected = new int[10];
        Arrays.fill(expected, 5000);
        assertArrayEquals(expected, train.classCounts());
        // per-channel means of the train pixels, as shared/datasets/cifar10/README.md states them
        long[] sums = new long[3];
        byte[] all = train.images();
        for (int i = 0; i < all.length; i++) {
            sums[(i / 1024) % 3] += all[i] & 0xFF;
        }
        double[] means = {0.491400, 0.482158, 0.446531};
        for (int c = 0; c < 3; c++) {
            assertEquals(means[c], sums[c] / (50_000.0 * 1024 * 255), 1e-6, "channel " + c);
        }
    }

    @Test
    void folderGivenDirectlyWorksToo() {
        Dataset d = Cifar10.load(extracted.resolve(Cifar10.FOLDER), Split.TEST);
        assertArrayEquals(fromFolder.labels(), d.labels());
        assertTrue(d.toString().contains("10000 images"));
    }
}
