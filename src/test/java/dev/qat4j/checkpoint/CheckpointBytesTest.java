package dev.qat4j.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reading a checkpoint from a byte array or a stream applies the file's checks with the file's messages: for every
 * cut of a small checkpoint and for single-byte corruptions, the array reader refuses exactly as the file reader does
 * (with the source's name in place of the path).
 */
class CheckpointBytesTest {
    static Checkpoint sample() {
        return Checkpoint.builder("toynet").meta("epoch", 3L).meta("note", "x")
                .addFloats("a", new float[] {1f, -2f, 3.5f}, 3)
                .addInts("b", new int[] {7, 8, 9, 10}, 2, 2)
                .build();
    }

    @Test
    void wholeBytesAndStreamsReadBackAsTheFileDoes(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("c.qck");
        CheckpointIO.write(file, sample());
        byte[] bytes = Files.readAllBytes(file);
        Checkpoint fromFile = CheckpointIO.read(file);
        Checkpoint fromBytes = CheckpointIO.read(bytes, "bytes");
        // a stream that hands out a few bytes at a time still reads whole
        InputStream trickle = new FilterInputStream(new ByteArrayInputStream(bytes)) {
            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                return super.read(b, off, Math.min(len, 3));
            }
        };
        Checkpoint fromStream = CheckpointIO.read(trickle, "stream");
        for (Checkpoint c : new Checkpoint[] {fromBytes, fromStream}) {
            assertEquals(fromFile.model(), c.model());
            assertEquals(fromFile.meta(), c.meta());
            assertArrayEquals(fromFile.tensor("a").floats(), c.tensor("a").floats());
            assertArrayEquals(fromFile.tensor("b").ints(), c.tensor("b").ints());
        }
    }

    @Test
    void everyCutAndCorruptionIsRefusedWithTheFilesMessage(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("c.qck");
        CheckpointIO.write(file, sample());
        byte[] whole = Files.readAllBytes(file);
        Path broken = dir.resolve("broken.qck");
        int checked = 0;
        for (int cut = 0; cut < whole.length; cut++) {
            checked += sameRefusal(Arrays.copyOf(whole, cut), broken, "cut at " + cut);
        }
        for (int at = 0; at < whole.length; at += 5) {
            byte[] changed = whole.clone();
            changed[at] ^= 0x41;
            checked += sameRefusal(changed, broken, "byte " + at + " changed");
        }
        assertEquals(whole.length + (whole.length + 4) / 5, checked);
    }

    /** Both readers refuse {@code bytes} with the same message; 1 when they do. */
    private static int sameRefusal(byte[] bytes, Path file, String what) throws IOException {
        Files.write(file, bytes);
        CheckpointFormatException byFile = assertThrows(CheckpointFormatException.class,
                () -> CheckpointIO.read(file), what);
        CheckpointFormatException byArray = assertThrows(CheckpointFormatException.class,
                () -> CheckpointIO.read(bytes, "upload"), what);
        CheckpointFormatException byStream = assertThrows(CheckpointFormatException.class,
                () -> CheckpointIO.read(new ByteArrayInputStream(bytes), "upload"), what);
        String expected = byFile.getMessage().replace("checkpoint " + file + ":", "checkpoint upload:");
        assertEquals(expected, byArray.getMessage(), what);
        assertEquals(expected, byStream.getMessage(), what);
        assertEquals(file, byFile.file());
        assertNull(byArray.file());
        assertEquals("upload", byArray.source());
        return 1;
    }
}
