package dev.qat4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.fuzz.Fuzz;
import dev.qat4j.fuzz.Mutation;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fuzzes the IDX reader: mutated image and label files, plain (where the outcome is predicted exactly by an
 * independent decoder) or gzip-compressed (mutated before or after compression). Every input must load correctly
 * or end in a {@link DataFormatException} naming one of the two files, within bounded memory.
 */
class IdxFuzzTest {
    @TempDir
    Path dir;

    private static byte[] images() {
        byte[] px = new byte[3 * 2 * 4];
        for (int i = 0; i < px.length; i++) {
            px[i] = (byte) (i * 37 + 200);
        }
        return IdxTest.idx(Idx.IMAGES_MAGIC, new int[] {3, 2, 4}, px);
    }

    private static byte[] labels() {
        return IdxTest.idx(Idx.LABELS_MAGIC, new int[] {3}, new byte[] {7, 0, 9});
    }

    /** The expected data set of two plain files, or null when they are invalid (the format's rules, restated). */
    static Dataset expected(byte[] img, byte[] lab) {
        if (img.length < 16 || lab.length < 8) {
            return null;
        }
        ByteBuffer i = ByteBuffer.wrap(img);
        ByteBuffer l = ByteBuffer.wrap(lab);
        if (i.getInt(0) != Idx.IMAGES_MAGIC || l.getInt(0) != Idx.LABELS_MAGIC) {
            return null;
        }
        long n = i.getInt(4);
        long rows = i.getInt(8);
        long cols = i.getInt(12);
        long nl = l.getInt(4);
        if (n <= 0 || rows <= 0 || cols <= 0 || nl != n || n * rows * cols != img.length - 16 || nl != lab.length - 8) {
            return null;
        }
        int[] labels = new int[(int) n];
        for (int k = 0; k < n; k++) {
            labels[k] = lab[8 + k] & 0xFF;
            if (labels[k] >= 10) {
                return null;
            }
        }
        return Dataset.wrap("x", 1, (int) rows, (int) cols, 10, Arrays.copyOfRange(img, 16, img.length), labels);
    }

    private static boolean looksGzip(byte[] b) {
        return b.length >= 2 && (b[0] & 0xFF) == 0x1f && (b[1] & 0xFF) == 0x8b;
    }

    @Test
    void imagesAndLabels() {
        Fuzz.Report r = Fuzz.run("idx", 4000, in -> {
            byte[] img = images();
            byte[] lab = labels();
            int which = in.random.nextInt(3); // 0 images, 1 labels, 2 both
            int mode = in.random.nextInt(3); // 0 plain, 1 mutate then gzip, 2 gzip then mutate
            in.note("file " + which + ", mode " + mode);
            if (mode == 2) {
                img = IdxTest.gzip(img);
                lab = IdxTest.gzip(lab);
            }
            if (which != 1) {
                img = Mutation.applyAll(img, in.mutations(4));
            }
            if (which != 0) {
                lab = Mutation.applyAll(lab, in.mutations(4));
            }
            Dataset want = mode == 0 && !looksGzip(img) && !looksGzip(lab) ? expected(img, lab) : null;
            boolean predicted = mode == 0 && !looksGzip(img) && !looksGzip(lab);
            if (mode == 1) {
                img = IdxTest.gzip(img);
                lab = IdxTest.gzip(lab);
            }
            Path ip = dir.resolve("images");
            Path lp = dir.resolve("labels");
            Files.write(ip, img);
            Files.write(lp, lab);
            long before = Fuzz.allocatedBytes();
            String outcome;
            try {
                Dataset d = Idx.load(ip, lp);
                outcome = "valid";
                assertTrue(!predicted || want != null, "accepted invalid files");
                if (want != null) {
                    assertArrayEquals(want.shape(), d.shape());
                    assertArrayEquals(want.labels(), d.labels());
                    assertArrayEquals(want.images(), d.images());
                }
            } catch (DataFormatException e) {
                outcome = e.getClass().getSimpleName();
                assertTrue(!predicted || want == null, () -> "refused valid files: " + e);
                assertTrue(e.getMessage().contains(ip.toString()) || e.getMessage().contains(lp.toString()),
                    () -> "the message must name the file: " + e.getMessage());
            }
            long content = mode == 0 ? img.length + lab.length : 1032L * (img.length + lab.length);
            Fuzz.assertAllocationBounded(before, content, "idx");
            return outcome;
        });
        assertTrue(r.count("valid") > 0 && r.invalid() > 0, r.toString());
    }
}
