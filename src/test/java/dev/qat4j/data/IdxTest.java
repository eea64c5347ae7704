package dev.qat4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IdxTest {
    @TempDir
    Path dir;

    static byte[] idx(int magic, int[] dims, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(4 + 4 * dims.length + data.length); // big-endian by default
        b.putInt(magic);
        for (int d : dims) {
            b.putInt(d);
        }
        b.put(data);
        return b.array();
    }

    static byte[] gzip(byte[] data) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream z = new GZIPOutputStream(out)) {
            z.write(data);
        }
        return out.toByteArray();
    }

    private Path write(String name, byte[] content) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, content);
        return p;
    }

    private static byte[] pixels(int n) {
        byte[] px = new byte[n];
        for (int i = 0; i < n; i++) {
            px[i] = (byte) (i * 37 + 200);
        }
        return px;
    }

    private Path images(int n, int rows, int cols) throws IOException {
        return write("img", idx(Idx.IMAGES_MAGIC, new int[] {n, rows, cols}, pixels(n * rows * cols)));
    }

    private Path labels(byte... l) throws IOException {
        return write("lab", idx(Idx.LABELS_MAGIC, new int[] {l.length}, l));
    }

    private static void assertMessage(Throwable e, String... parts) {
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "message lacks '" + p + "': " + e.getMessage());
        }
    }

    @Test
    void readsPlainAndGzipIdentically() throws IOException {
        byte[] img = idx(Idx.IMAGES_MAGIC, new int[] {3, 2, 4}, pixels(24));
        byte[] lab = idx(Idx.LABELS_MAGIC, new int[] {3}, new byte[] {7, 0, 9});
        Dataset plain = Idx.load(write("a-images-idx3-ubyte", img), write("a-labels", lab));
        // gzip detected by magic, whatever the name
        Dataset gz = Idx.load(write("b-images.gz", gzip(img)), write("b-labels.bin", gzip(lab)));
        for (Dataset d : new Dataset[] {plain, gz}) {
            assertEquals(3, d.size());
            assertArrayEquals(new int[] {1, 2, 4}, d.shape());
            assertEquals(10, d.classes());
            assertArrayEquals(new int[] {7, 0, 9}, d.labels());
            assertArrayEquals(pixels(24), d.images());
            assertEquals((byte) (13 * 37 + 200) & 0xFF, d.pixel(1, 0, 1, 1));
        }
        assertEquals("a-images-idx3-ubyte", plain.name());
        assertEquals("b-images", gz.name());
    }

    @Test
    void badMagicIsRejected() throws IOException {
        Path lab = labels((byte) 1);
        // labels passed as images
        DataFormatException e = assertThrows(DataFormatException.class, () -> Idx.load(lab, lab));
        assertMessage(e, lab.toString(), "bad magic 0x00000801", "expected 0x00000803", "byte offset 0");
        Path ints = write("ints", idx(0x00000C03, new int[] {1, 1, 1}, new byte[4]));
        e = assertThrows(DataFormatException.class, () -> Idx.load(ints, lab));
        assertMessage(e, "bad magic 0x00000C03");
        Path tiny = write("tiny", new byte[] {0, 0});
        assertMessage(assertThrows(DataFormatException.class, () -> Idx.load(tiny, lab)), "truncated header");
    }

    @Test
    void dataShorterOrLongerThanTheHeaderSays() throws IOException {
        Path lab = labels((byte) 1, (byte) 2);
        byte[] img = idx(Idx.IMAGES_MAGIC, new int[] {2, 3, 3}, pixels(18));
        Path shortPlain = write("short", Arrays.copyOf(img, img.length - 5));
        DataFormatException e = assertThrows(DataFormatException.class, () -> Idx.load(shortPlain, lab));
        assertMessage(e, shortPlain.toString(), "need 18 data bytes", "truncated at byte offset 29");
        Path shortGz = write("short.gz", gzip(Arrays.copyOf(img, img.length - 5)));
        e = assertThrows(DataFormatException.class, () -> Idx.load(shortGz, lab));
        assertMessage(e, shortGz.toString(), "truncated", "byte offset 29");
        Path longPlain = write("long", Arrays.copyOf(img, img.length + 3));
        e = assertThrows(DataFormatException.class, () -> Idx.load(longPlain, lab));
        assertMessage(e, "3 extra bytes after byte offset 34");
        Path longGz = write("long.gz", gzip(Arrays.copyOf(img, img.length + 3)));
        e = assertThrows(DataFormatException.class, () -> Idx.load(longGz, lab));
        assertMessage(e, "extra data after byte offset 34");
    }

    @Test
    void countMismatchBetweenImagesAndLabels() throws IOException {
        Path img = images(3, 2, 2);
        Path lab = labels((byte) 1, (byte) 2);
        DataFormatException e = assertThrows(DataFormatException.class, () -> Idx.load(img, lab));
        assertMessage(e, "holds 3 images", "holds 2 labels");
    }

    @Test
    void labelOutOfRange() throws IOException {
        Path img = images(3, 2, 2);
        Path lab = labels((byte) 1, (byte) 10, (byte) 2);
        DataFormatException e = assertThrows(DataFormatException.class, () -> Idx.load(img, lab));
        assertMessage(e, lab.toString(), "label 10 of item 1", "byte offset 9", "0..9");
        assertEquals(11, Idx.load(img, lab, 11).classes());
    }

    @Test
    void hugeOrNonPositiveDimensionsAreRefusedBeforeAllocating() throws IOException {
        Path lab = labels((byte) 1);
        // the product overflows any array
        Path huge = write("huge", idx(Idx.IMAGES_MAGIC, new int[] {Integer.MAX_VALUE, 28, 28}, new byte[16]));
        DataFormatException e = assertThrows(DataFormatException.class, () -> Idx.load(huge, lab));
        assertMessage(e, huge.toString(), "more than");
        // fits an array but not this file
        Path big = write("big", idx(Idx.IMAGES_MAGIC, new int[] {60_000, 28, 28}, new byte[16]));
        e = assertThrows(DataFormatException.class, () -> Idx.load(big, lab));
        assertMessage(e, "need 47040000 data bytes", "holds only 16");
        // compressed: more than deflate could ever expand this file to
        Path bigGz = write("big.gz", gzip(idx(Idx.IMAGES_MAGIC, new int[] {60_000, 280, 28}, new byte[16])));
        e = assertThrows(DataFormatException.class, () -> Idx.load(bigGz, lab));
        assertMessage(e, "deflate's maximum ratio");
        // compressed, plausible for deflate but a lie: found when the data runs out, not by allocating 1 GB
        byte[] noise = new byte[1_000_000]; // incompressible, so the gzip file is about as large as its data
        new java.util.SplittableRandom(1).nextBytes(noise);
        Path lieGz = write("lie.gz", gzip(idx(Idx.IMAGES_MAGIC, new int[] {1_000_000, 32, 32}, noise)));
        assertTrue(Files.size(lieGz) * 1032 > 1_024_000_000L, "the ratio bound must not catch this one");
        e = assertThrows(DataFormatException.class, () -> Idx.load(lieGz, lab));
        assertMessage(e, "truncated", "byte offset 1000016");
        // zero and negative dimensions
        Path zero = write("zero", idx(Idx.IMAGES_MAGIC, new int[] {1, 0, 28}, new byte[0]));
        assertMessage(assertThrows(DataFormatException.class, () -> Idx.load(zero, lab)),
                "dimension 1 at byte offset 8 is 0");
        Path neg = write("neg", idx(Idx.IMAGES_MAGIC, new int[] {-1, 28, 28}, new byte[0]));
        assertMessage(assertThrows(DataFormatException.class, () -> Idx.load(neg, lab)),
                "dimension 0 at byte offset 4 is 4294967295 (-1 as a signed int32)");
    }

    @Test
    void corruptGzip() throws IOException {
        Path lab = labels((byte) 1);
        byte[] gz = gzip(idx(Idx.IMAGES_MAGIC, new int[] {1, 4, 4}, pixels(16)));
        for (int i = 12; i < gz.length - 8; i++) {
            gz[i] ^= 0x5A;
        }
        Path bad = write("bad.gz", gz);
        DataFormatException e = assertThrows(DataFormatException.class, () -> Idx.load(bad, lab));
        assertMessage(e, bad.toString());
    }

    @Test
    void missingFile() {
        assertThrows(DataNotFoundException.class, () -> Idx.load(dir.resolve("no"), dir.resolve("nope")));
    }

    static final Path FASHION = Path.of("/usr/share/datasets/fashion-mnist");

    @Test
    void fashionMnistFromTheDebianPackage() throws IOException {
        Path img = FASHION.resolve("t10k-images-idx3-ubyte.gz");
        Path lab = FASHION.resolve("t10k-labels-idx1-ubyte.gz");
        Assumptions.assumeTrue(Files.isRegularFile(img) && Files.isRegularFile(lab),
                "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)");
        Dataset test = Idx.load(img, lab);
        assertEquals("t10k-images-idx3-ubyte", test.name());
        assertEquals(10_000, test.size());
        assertArrayEquals(new int[] {1, 28, 28}, test.shape());
        int[] thousand = new int[10];
        Arrays.fill(thousand, 1000);
        assertArrayEquals(thousand, test.classCounts());
        // read once with Python from the package's files: labels 9 2 1 1 6..., image 0 sums to 33456
        assertArrayEquals(new int[] {9, 2, 1, 1, 6, 1, 4, 6, 5, 7}, Arrays.copyOf(test.labels(), 10));
        long sum = 0;
        for (byte b : test.image(0)) {
            sum += b & 0xFF;
        }
        assertEquals(33_456, sum);
        // the same files uncompressed read the same
        Path plainImg = dir.resolve("t10k-images-idx3-ubyte");
        Path plainLab = dir.resolve("t10k-labels-idx1-ubyte");
        try (InputStream in = new GZIPInputStream(Files.newInputStream(img))) {
            Files.copy(in, plainImg);
        }
        try (InputStream in = new GZIPInputStream(Files.newInputStream(lab))) {
            Files.copy(in, plainLab);
        }
        Dataset plain = Idx.load(plainImg, plainLab);
        assertArrayEquals(test.images(), plain.images());
        assertArrayEquals(test.labels(), plain.labels());

        Dataset train = Idx.load(FASHION.resolve("train-images-idx3-ubyte.gz"),
                FASHION.resolve("train-labels-idx1-ubyte.gz"));
        assertEquals(60_000, train.size());
        assertEquals(9, train.label(0));
        // a one-channel data set goes through the loader with its own normalisation
        BatchLoader.Options o = BatchLoader.Options.eval(1000).withNormalization(Normalization.scaleOnly(1));
        try (BatchLoader it = new BatchLoader(test, o, 0)) {
            Batch b = it.next();
            assertEquals(1000 * 784, b.images().length);
            assertEquals((test.pixel(0, 0, 14, 14)) / 255f, b.images()[14 * 28 + 14]);
        }
    }
}
