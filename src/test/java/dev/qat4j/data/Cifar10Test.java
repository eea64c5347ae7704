package dev.qat4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CIFAR-10 reader on small synthetic files: layouts, archives, and every kind of corruption. */
class Cifar10Test {
    @TempDir
    Path dir;

    /** {@code n} records with labels {@code (first + i) % 10} and pixels derived from the record number. */
    static byte[] records(int n, int first) {
        byte[] b = new byte[n * Cifar10.RECORD_BYTES];
        for (int i = 0; i < n; i++) {
            int r = i * Cifar10.RECORD_BYTES;
            b[r] = (byte) ((first + i) % 10);
            for (int j = 0; j < Cifar10.IMAGE_BYTES; j++) {
                b[r + 1 + j] = (byte) ((first + i) * 31 + j * 7);
            }
        }
        return b;
    }

    static void writeTar(Path out, Map<String, byte[]> entries, boolean gzip) throws IOException {
        try (OutputStream f = Files.newOutputStream(out);
                OutputStream z = gzip ? new GzipCompressorOutputStream(f) : f;
                TarArchiveOutputStream tar = new TarArchiveOutputStream(z)) {
            for (Map.Entry<String, byte[]> e : entries.entrySet()) {
                TarArchiveEntry te = new TarArchiveEntry(e.getKey());
                te.setSize(e.getValue().length);
                tar.putArchiveEntry(te);
                tar.write(e.getValue());
                tar.closeArchiveEntry();
            }
        }
    }

    private Path folderWith(String file, byte[] content) throws IOException {
        Path f = Files.createDirectories(dir.resolve(Cifar10.FOLDER));
        Files.write(f.resolve(file), content);
        return f;
    }

    private static void assertMessage(Throwable e, String... parts) {
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "message lacks '" + p + "': " + e.getMessage());
        }
    }

    @Test
    void readsRecordsUnchangedFromFolderParentAndArchive() throws IOException {
        byte[] content = records(3, 0);
        Path folder = folderWith("test_batch.bin", content);
        Dataset a = Cifar10.load(folder, Split.TEST);
        Dataset b = Cifar10.load(dir, Split.TEST);
        Path tgz = dir.resolve("x.tar.gz");
        writeTar(tgz, Map.of(Cifar10.FOLDER + "/test_batch.bin", content), true);
        Dataset c = Cifar10.load(tgz, Split.TEST);
        Path tar = dir.resolve("x.tar");
        writeTar(tar, Map.of("test_batch.bin", content), false);
        Dataset d = Cifar10.load(tar, Split.TEST);
        for (Dataset x : List.of(a, b, c, d)) {
            assertEquals("cifar10-test", x.name());
            assertEquals(3, x.size());
            assertArrayEquals(new int[] {3, 32, 32}, x.shape());
            assertArrayEquals(new int[] {0, 1, 2}, x.labels());
            // pixels: record 1's bytes 1..3072 are image 1, R plane first
            assertArrayEquals(Arrays.copyOfRange(content, Cifar10.RECORD_BYTES + 1, 2 * Cifar10.RECORD_BYTES),
                    x.image(1));
            assertEquals(content[2 * Cifar10.RECORD_BYTES + 1 + 2048 + 33] & 0xFF, x.pixel(2, 2, 1, 1));
        }
    }

    @Test
    void archiveInTheFolderIsFoundToo() throws IOException {
        writeTar(dir.resolve(Cifar10.ARCHIVE), Map.of(Cifar10.FOLDER + "/test_batch.bin", records(2, 5)), true);
        assertArrayEquals(new int[] {5, 6}, Cifar10.load(dir, Split.TEST).labels());
    }

    @Test
    void trainConcatenatesBatchesOneToFiveWhateverTheArchiveOrder() throws IOException {
        Map<String, byte[]> entries = new LinkedHashMap<>();
        int[] sizes = {2, 1, 3, 1, 2};
        int[] firsts = {0, 2, 3, 6, 7};
        int[] archiveOrder = {3, 1, 5, 2, 4};
        entries.put(Cifar10.FOLDER + "/batches.meta.txt", "airplane\n".getBytes());
        for (int k : archiveOrder) {
            entries.put(Cifar10.FOLDER + "/data_batch_" + k + ".bin", records(sizes[k - 1], firsts[k - 1]));
        }
        entries.put(Cifar10.FOLDER + "/test_batch.bin", records(1, 0));
        Path tgz = dir.resolve("train.tar.gz");
        writeTar(tgz, entries, true);
        for (int k = 1; k <= 5; k++) {
            folderWith("data_batch_" + k + ".bin", records(sizes[k - 1], firsts[k - 1]));
        }
        Dataset fromArchive = Cifar10.load(tgz, Split.TRAIN);
        Dataset fromFolder = Cifar10.load(dir, Split.TRAIN);
        assertEquals("cifar10-train", fromArchive.name());
        assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8}, fromArchive.labels());
        assertArrayEquals(fromFolder.labels(), fromArchive.labels());
        assertArrayEquals(fromFolder.images(), fromArchive.images());
        assertArrayEquals(Arrays.copyOfRange(records(1, 4), 1, Cifar10.RECORD_BYTES), fromArchive.image(4));
    }

    @Test
    void truncatedRecordNamesFileAndOffset() throws IOException {
        byte[] content = Arrays.copyOf(records(3, 0), 2 * Cifar10.RECORD_BYTES + 100);
        Path f = folderWith("test_batch.bin", content).resolve("test_batch.bin");
        DataFormatException e = assertThrows(DataFormatException.class, () -> Cifar10.load(dir, Split.TEST));
        assertMessage(e, f.toString(), "byte offset 6146", "not a multiple of the 3073-byte record", "100 bytes");
    }

    @Test
    void wrongRecordSizeIsRejected() throws IOException {
        // 4 records of 3072 bytes (no label byte): 12288 = 3 * 3073 + 3069
        folderWith("test_batch.bin", new byte[4 * 3072]);
        DataFormatException e = assertThrows(DataFormatException.class, () -> Cifar10.load(dir, Split.TEST));
        assertMessage(e, "test_batch.bin", "byte offset 9219", "3073-byte record");
    }

    @Test
    void emptyFileIsRejected() throws IOException {
        folderWith("test_batch.bin", new byte[0]);
        assertMessage(assertThrows(DataFormatException.class, () -> Cifar10.load(dir, Split.TEST)), "empty");
    }

    @Test
    void labelOutOfRangeNamesFileRecordAndOffset() throws IOException {
        byte[] content = records(3, 0);
        content[2 * Cifar10.RECORD_BYTES] = 10;
        Path f = folderWith("test_batch.bin", content).resolve("test_batch.bin");
        DataFormatException e = assertThrows(DataFormatException.class, () -> Cifar10.load(dir, Split.TEST));
        assertMessage(e, f.toString(), "label 10 of record 2", "byte offset 6146", "0..9");
        assertTrue(e instanceof IllegalArgumentException);
    }

    @Test
    void labelOutOfRangeInsideArchiveNamesEntry() throws IOException {
        byte[] content = records(2, 0);
        content[Cifar10.RECORD_BYTES] = (byte) 200;
        Path tgz = dir.resolve("bad.tar.gz");
        writeTar(tgz, Map.of(Cifar10.FOLDER + "/test_batch.bin", content), true);
        DataFormatException e = assertThrows(DataFormatException.class, () -> Cifar10.load(tgz, Split.TEST));
        assertMessage(e, tgz.toString(), "entry '" + Cifar10.FOLDER + "/test_batch.bin'", "label 200",
                "byte offset 3073");
    }

    @Test
    void wrongSizedEntryInsideArchiveNamesEntry() throws IOException {
        Path tgz = dir.resolve("bad.tar.gz");
        writeTar(tgz, Map.of(Cifar10.FOLDER + "/test_batch.bin", new byte[3073 + 5]), true);
        DataFormatException e = assertThrows(DataFormatException.class, () -> Cifar10.load(tgz, Split.TEST));
        assertMessage(e, "entry '" + Cifar10.FOLDER + "/test_batch.bin'", "byte offset 3073");
    }

    @Test
    void corruptGzipIsAFormatError() throws IOException {
        Path tgz = dir.resolve(Cifar10.ARCHIVE);
        byte[] junk = new byte[4000];
        junk[0] = 0x1f;
        junk[1] = (byte) 0x8b;
        junk[2] = 8;
        for (int i = 10; i < junk.length; i++) {
            junk[i] = (byte) (i * 131 + 7);
        }
        Files.write(tgz, junk);
        DataFormatException e = assertThrows(DataFormatException.class, () -> Cifar10.load(tgz, Split.TEST));
        assertMessage(e, tgz.toString(), "not a valid tar.gz archive");
    }

    @Test
    void truncatedArchiveIsAFormatErrorNeverPartialData() throws IOException {
        Path full = dir.resolve("full.tar.gz");
        writeTar(full, Map.of(Cifar10.FOLDER + "/test_batch.bin", records(40, 0)), true);
        byte[] bytes = Files.readAllBytes(full);
        Path cut = dir.resolve("cut.tar.gz");
        Files.write(cut, Arrays.copyOf(bytes, bytes.length / 2));
        DataFormatException e = assertThrows(DataFormatException.class, () -> Cifar10.load(cut, Split.TEST));
        assertMessage(e, cut.toString(), "test_batch.bin", "byte offset");

        // a plain tar cut inside the entry's data: the error names the entry and where the data ended
        Path tar = dir.resolve("full.tar");
        writeTar(tar, Map.of(Cifar10.FOLDER + "/test_batch.bin", records(4, 0)), false);
        byte[] t = Files.readAllBytes(tar);
        Path tcut = dir.resolve("cut.tar");
        Files.write(tcut, Arrays.copyOf(t, 512 + 2 * Cifar10.RECORD_BYTES + 10));
        e = assertThrows(DataFormatException.class, () -> Cifar10.load(tcut, Split.TEST));
        assertMessage(e, tcut.toString(), "entry '" + Cifar10.FOLDER + "/test_batch.bin'", "byte offset 6156");
    }

    @Test
    void archiveWithoutTheFilesListsWhatWasLookedFor() throws IOException {
        Path tgz = dir.resolve("other.tar.gz");
        writeTar(tgz, Map.of("readme.txt", "hello".getBytes(), Cifar10.FOLDER + "/data_batch_1.bin",
                records(1, 0)), true);
        DataNotFoundException e = assertThrows(DataNotFoundException.class, () -> Cifar10.load(tgz, Split.TEST));
        assertMessage(e, tgz.toString(), "test_batch.bin");
        e = assertThrows(DataNotFoundException.class, () -> Cifar10.load(tgz, Split.TRAIN));
        assertMessage(e, "data_batch_2.bin", "data_batch_5.bin");
        assertTrue(!e.getMessage().contains("data_batch_1.bin"), e.getMessage());
    }

    @Test
    void missingFilesListEveryPathLookedFor() throws IOException {
        folderWith("data_batch_1.bin", records(1, 0));
        DataNotFoundException e = assertThrows(DataNotFoundException.class, () -> Cifar10.load(dir, Split.TRAIN));
        assertMessage(e, dir.resolve(Cifar10.FOLDER).resolve("data_batch_2.bin").toString(),
                dir.resolve("data_batch_1.bin").toString(), dir.resolve(Cifar10.ARCHIVE).toString());
        assertThrows(DataNotFoundException.class, () -> Cifar10.load(dir.resolve("nope"), Split.TEST));
    }

    @Test
    void singleFileOfAnyRecordCount() throws IOException {
        Path f = dir.resolve("mine.bin");
        Files.write(f, records(7, 3));
        Dataset d = Cifar10.loadFile(f);
        assertEquals(7, d.size());
        assertEquals("mine.bin", d.name());
        assertEquals(3, d.label(0));
    }

    @Test
    void gzipDetectionUsesMagicNotName() throws IOException {
        Path tar = dir.resolve("looks.tar.gz"); // plain tar with a misleading name
        writeTar(tar, Map.of("test_batch.bin", records(1, 0)), false);
        assertEquals(1, Cifar10.load(tar, Split.TEST).size());
    }
}
