package dev.qat4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.qat4j.fuzz.Fuzz;
import dev.qat4j.fuzz.Mutation;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fuzzes the CIFAR-10 reader: the extracted folder (a mutated {@code test_batch.bin}) and the archive (mutated tar
 * bytes, tar headers with hostile size fields and a repaired checksum, mutated gzip bytes). Every input must give
 * a valid data set or a {@link DataFormatException} / {@link DataNotFoundException} naming the file, never another
 * exception, and the reader may allocate only in proportion to what the input can really hold.
 */
class Cifar10FuzzTest {
    @TempDir
    Path dir;

    /** The seed file: 3 valid records. */
    private static final byte[] SEED = Cifar10Test.records(3, 0);

    @Test
    void folder() {
        Fuzz.Report r = Fuzz.run("cifar10-folder", 5000, in -> {
            byte[] data = Mutation.applyAll(SEED, in.mutations(6));
            Path folder = Files.createDirectories(dir.resolve(Cifar10.FOLDER));
            Path file = folder.resolve("test_batch.bin");
            Files.write(file, data);
            // the format is simple enough to predict exactly
            boolean valid = data.length > 0 && data.length % Cifar10.RECORD_BYTES == 0;
            for (int rec = 0; valid && rec < data.length; rec += Cifar10.RECORD_BYTES) {
                valid = (data[rec] & 0xFF) < 10;
            }
            long before = Fuzz.allocatedBytes();
            String outcome;
            try {
                Dataset d = Cifar10.load(dir, Split.TEST);
                outcome = "valid";
                assertTrue(valid, "accepted an invalid file of " + data.length + " bytes");
                assertEquals(data.length / Cifar10.RECORD_BYTES, d.size());
                for (int i = 0; i < d.size(); i++) {
                    assertEquals(data[i * Cifar10.RECORD_BYTES], d.label(i));
                    assertEquals(data[i * Cifar10.RECORD_BYTES + 1 + 17] & 0xFF, d.pixel(i, 0, 0, 17));
                }
            } catch (DataFormatException e) {
                outcome = e.getClass().getSimpleName();
                assertTrue(!valid, () -> "refused a valid file: " + e);
                assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("byte offset"),
                    () -> "the message must name the file and the offset: " + e.getMessage());
            }
            Fuzz.assertAllocationBounded(before, data.length, "folder");
            return outcome;
        });
        assertTrue(r.count("valid") > 0 && r.invalid() > 0, r.toString());
    }

    // ---- the archive ----------------------------------------------------------------------------------------

    byte[] seedTar() throws IOException {
        Map<String, byte[]> entries = new LinkedHashMap<>();
        entries.put(Cifar10.FOLDER + "/readme.txt", "not data".getBytes(StandardCharsets.US_ASCII));
        entries.put(Cifar10.FOLDER + "/test_batch.bin", Cifar10Test.records(2, 4));
        Path t = dir.resolve("seed.tar");
        Cifar10Test.writeTar(t, entries, false);
        byte[] b = Files.readAllBytes(t);
        Files.delete(t);
        // a fixed modification time in every header (the writer puts "now"), so inputs reproduce from the seed
        for (int h = 0; h + 512 <= b.length; h += 512) {
            if (b[h + 257] == 'u' && b[h + 258] == 's' && b[h + 259] == 't') {
                System.arraycopy("14000000000\0".getBytes(StandardCharsets.US_ASCII), 0, b, h + 136, 12);
            }
        }
        fixTarChecksums(b);
        return b;
    }

    /** Offset of the data entry's tar header: readme.txt's header (512) and its one data block (512). */
    static final int DATA_HEADER = 1024;

    /** Rewrites the size field of the tar header at {@code header}: octal, or GNU base-256 when it does not fit. */
    static void setTarSize(byte[] tar, int header, long size) {
        int at = header + 124;
        if (at + 12 > tar.length) {
            return;
        }
        if (size >= 0 && size < 077777777777L) {
            byte[] oct = String.format("%011o", size).getBytes(StandardCharsets.US_ASCII);
            System.arraycopy(oct, 0, tar, at, 11);
            tar[at + 11] = 0;
        } else { // 0x80 (or 0xFF for negative) then the big-endian value
            tar[at] = (byte) (size < 0 ? 0xFF : 0x80);
            long v = size;
            for (int i = 11; i >= 1; i--) {
                tar[at + i] = (byte) v;
                v >>= 8;
            }
        }
    }

    /** Recomputes the checksum of every 512-byte block that looks like a ustar header, so mutations get past it. */
    static void fixTarChecksums(byte[] tar) {
        for (int h = 0; h + 512 <= tar.length; h += 512) {
            if (tar[h + 257] != 'u' || tar[h + 258] != 's' || tar[h + 259] != 't') {
                continue;
            }
            long sum = 0;
            for (int i = 0; i < 512; i++) {
                sum += (i >= 148 && i < 156) ? ' ' : tar[h + i] & 0xFF;
            }
            byte[] oct = String.format("%06o", sum).getBytes(StandardCharsets.US_ASCII);
            System.arraycopy(oct, 0, tar, h + 148, 6);
            tar[h + 154] = 0;
            tar[h + 155] = ' ';
        }
    }

    static byte[] gzip(byte[] data) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GzipCompressorOutputStream z = new GzipCompressorOutputStream(out)) {
            z.write(data);
        }
        return out.toByteArray();
    }

    private static final List<Long> SIZES = java.util.Arrays.stream(Mutation.INTERESTING).boxed().toList();

    /**
     * Three ways in: mutate the tar (then gzip it or not), mutate the tar and repair its header checksums (so a
     * mutated size or type field reaches the reader), or mutate the compressed bytes; half of the inputs first
     * get a hostile size field in the data entry's header.
     */
    @Test
    void archive() {
        Fuzz.Report r = Fuzz.run("cifar10-archive", 3000, in -> {
            byte[] tar = seedTar();
            if (in.chance(0.5)) {
                long size = in.chance(0.5) ? in.pick(SIZES) : in.random.nextLong(0, 3073L * 698_000) / 3073 * 3073;
                in.note("size field " + size);
                setTarSize(tar, DATA_HEADER, size);
                fixTarChecksums(tar);
            }
            int mode = in.random.nextInt(3);
            boolean gz = in.chance(0.5);
            in.note("mode " + mode + (gz ? " gzip" : " plain"));
            byte[] file;
            if (mode == 2) {
                file = Mutation.applyAll(gzip(tar), in.mutations(4));
            } else {
                tar = Mutation.applyAll(tar, in.mutations(4));
                if (mode == 1) {
                    fixTarChecksums(tar);
                }
                file = gz ? gzip(tar) : tar;
            }
            return checkArchive(file, (mode == 2 || gz) ? 1032L * file.length : file.length).outcome;
        });
        assertTrue(r.count("valid") > 0 && r.invalid() > 0, r.toString());
    }

    /** Regression (found by {@link #archive}): a tar header claiming 2 GB in a 10 KB archive allocated 2 GB. */
    @Test
    void hugeEntrySizeInATinyArchiveIsRefusedWithoutAllocatingIt() throws IOException {
        for (boolean gz : new boolean[] {false, true}) {
            byte[] tar = seedTar();
            setTarSize(tar, DATA_HEADER, 3073L * 698_000); // just under the reader's one-array limit
            fixTarChecksums(tar);
            byte[] file = gz ? gzip(tar) : tar;
            Result res = checkArchive(file, gz ? 1032L * file.length : file.length);
            assertEquals("DataFormatException", res.outcome);
            assertTrue(res.message.contains("test_batch.bin") && res.message.contains("truncated"), res.message);
        }
    }

    record Result(String outcome, String message) {
    }

    /** Loads the archive and checks the outcome. */
    private Result checkArchive(byte[] file, long maxContent) throws IOException {
        Path archive = dir.resolve("a.tar.gz");
        Files.write(archive, file);
        long before = Fuzz.allocatedBytes();
        Result res;
        try {
            Dataset d = Cifar10.load(archive, Split.TEST);
            res = new Result("valid", null);
            assertTrue(d.size() > 0);
            for (int i = 0; i < d.size(); i++) {
                assertTrue(d.label(i) >= 0 && d.label(i) < 10);
            }
        } catch (DataFormatException | DataNotFoundException e) {
            res = new Result(e.getClass().getSimpleName(), e.getMessage());
            assertTrue(e.getMessage().contains(archive.toString()), () -> "the message must name the archive: " + e);
        } catch (RuntimeException e) {
            fail("not a clear data error: " + e, e);
            return null;
        }
        Fuzz.assertAllocationBounded(before, maxContent, "archive");
        return res;
    }
}
