package dev.qat4j.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link CheckpointIO#write}: a failure at any point leaves the previous checkpoint whole and no temporary file. */
class AtomicWriteTest {
    @TempDir
    Path dir;

    static Checkpoint checkpoint(long seed, int floats) {
        Random r = new Random(seed);
        float[] f = new float[floats];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) r.nextGaussian();
        }
        return Checkpoint.builder("m").meta("seed", seed).addFloats("w", f, f.length).build();
    }

    static List<String> listing(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            List<String> names = new ArrayList<>(s.map(p -> p.getFileName().toString()).toList());
            names.sort(null);
            return names;
        }
    }

    /** A writer that writes {@code limit} bytes in total, then fails. */
    static CheckpointIO.FileOps failAfter(long limit) {
        return new CheckpointIO.FileOps() {
            long written;

            @Override
            public void write(FileChannel ch, ByteBuffer buf) throws IOException {
                long room = limit - written;
                if (buf.remaining() > room) {
                    buf.limit(buf.position() + (int) room);
                    CheckpointIO.FileOps.super.write(ch, buf);
                    written += room;
                    throw new IOException("injected failure after " + written + " bytes");
                }
                written += buf.remaining();
                CheckpointIO.FileOps.super.write(ch, buf);
            }
        };
    }

    @Test
    void aWriteThatFailsAfterAnyNumberOfBytesLeavesThePreviousFile() throws IOException {
        Path p = dir.resolve("model.ckpt");
        Checkpoint first = checkpoint(1, 10);
        CheckpointIO.write(p, first);
        byte[] before = Files.readAllBytes(p);
        Checkpoint second = checkpoint(2, 40_000); // 160 kB: several 64 KiB chunks
        long total = 24 + HeaderJson.encode(second, 1).length + 160_000;
        for (long n : new long[] {0, 1, 19, 20, 100, 65_535, 65_536, 65_537, 140_000, total - 4, total - 1}) {
            IOException e = assertThrows(IOException.class, () -> CheckpointIO.write(p, second, failAfter(n)));
            assertTrue(e.getMessage().startsWith("injected failure after " + n + " bytes"), e.getMessage());
            assertArrayEquals(before, Files.readAllBytes(p), "previous file untouched after failing at byte " + n);
            assertEquals(first, CheckpointIO.read(p));
            assertEquals(List.of("model.ckpt"), listing(dir), "no temporary file left after failing at byte " + n);
        }
        CheckpointIO.write(p, second, failAfter(total)); // exactly enough: succeeds
        assertEquals(second, CheckpointIO.read(p));
        assertEquals(List.of("model.ckpt"), listing(dir));
    }

    @Test
    void aFailingForceOrRenameLeavesThePreviousFile() throws IOException {
        Path p = dir.resolve("model.ckpt");
        Checkpoint first = checkpoint(1, 10);
        CheckpointIO.write(p, first);
        List<String> tempsSeen = new ArrayList<>();
        CheckpointIO.FileOps badForce = new CheckpointIO.FileOps() {
            @Override
            public void force(FileChannel ch) throws IOException {
                tempsSeen.addAll(listingUnchecked());
                throw new IOException("injected fsync failure");
            }
        };
        CheckpointIO.FileOps badMove = new CheckpointIO.FileOps() {
            @Override
            public void move(Path from, Path to) throws IOException {
                throw new IOException("injected rename failure");
            }
        };
        CheckpointIO.FileOps runtimeFailure = new CheckpointIO.FileOps() {
            @Override
            public void write(FileChannel ch, ByteBuffer buf) {
                throw new IllegalStateException("injected bug");
            }
        };
        assertEquals("injected fsync failure",
            assertThrows(IOException.class, () -> CheckpointIO.write(p, checkpoint(2, 10), badForce)).getMessage());
        assertEquals(2, tempsSeen.size(), "the data went to a temporary file next to the target: " + tempsSeen);
        assertTrue(tempsSeen.stream().anyMatch(n -> n.matches("\\.model\\.ckpt\\.tmp-[0-9a-f]{16}")), tempsSeen.toString());
        assertEquals("injected rename failure",
            assertThrows(IOException.class, () -> CheckpointIO.write(p, checkpoint(2, 10), badMove)).getMessage());
        assertEquals("injected bug",
            assertThrows(IllegalStateException.class, () -> CheckpointIO.write(p, checkpoint(2, 10), runtimeFailure))
                .getMessage());
        assertEquals(first, CheckpointIO.read(p));
        assertEquals(List.of("model.ckpt"), listing(dir));
    }

    private List<String> listingUnchecked() {
        try {
            return listing(dir);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void aSuccessfulWriteReplacesTheFileAndLeavesNothingElse() throws IOException {
        Path p = dir.resolve("model.ckpt");
        CheckpointIO.write(p, checkpoint(1, 10));
        CheckpointIO.write(p, checkpoint(2, 20));
        assertEquals(checkpoint(2, 20), CheckpointIO.read(p));
        assertEquals(List.of("model.ckpt"), listing(dir));
    }

    @Test
    void aMissingDirectoryFailsWithoutCreatingAnything() throws IOException {
        Path p = dir.resolve("no/such/dir/model.ckpt");
        assertThrows(NoSuchFileException.class, () -> CheckpointIO.write(p, checkpoint(1, 10)));
        assertEquals(List.of(), listing(dir));
    }

    @Test
    void concurrentReadersSeeEitherTheOldOrTheNewFileNeverAPartOne() throws Exception {
        Path p = dir.resolve("model.ckpt");
        Checkpoint a = checkpoint(1, 30_000);
        Checkpoint b = checkpoint(2, 30_000);
        CheckpointIO.write(p, a);
        AtomicBoolean done = new AtomicBoolean();
        AtomicInteger reads = new AtomicInteger();
        ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
        List<Thread> readers = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            Thread t = new Thread(() -> {
                while (!done.get()) {
                    try {
                        Checkpoint c = CheckpointIO.read(p);
                        if (!c.equals(a) && !c.equals(b)) {
                            errors.add(new AssertionError("read a checkpoint that is neither a nor b"));
                        }
                        reads.incrementAndGet();
                    } catch (Throwable e) {
                        errors.add(e);
                    }
                }
            });
            t.start();
            readers.add(t);
        }
        try {
            for (int i = 0; i < 40; i++) {
                CheckpointIO.write(p, i % 2 == 0 ? b : a);
            }
        } finally {
            done.set(true);
            for (Thread t : readers) {
                t.join(10_000);
            }
        }
        assertTrue(errors.isEmpty(), () -> errors.size() + " bad reads, first: " + errors.peek());
        assertTrue(reads.get() > 0, "the readers ran");
        assertEquals(a, CheckpointIO.read(p));
        assertEquals(List.of("model.ckpt"), listing(dir));
    }
}
