package dev.qat4j.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.ModelState;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.Parameter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Crash safety of {@link CheckpointIO#write}: a child JVM saves ToyNet checkpoints ({@link ModelState#save}, about
 * 0.8 MB each) to one path in a loop, and is killed with SIGKILL ({@link Process#destroyForcibly()}) at a random
 * moment, {@value #TRIALS} times ({@code -Dqat4j.crash.trials=N} for more). After every kill the file at the path
 * must be a complete, valid checkpoint (structure and CRC-32C verified, loadable into the model), and it must be
 * the last write the child reported finished or the one after it (never an older one, never a mix).
 */
class KillDuringWriteTest {
    static final int TRIALS = 30;
    static final String BIAS = "fc.bias";

    @TempDir
    Path dir;

    /** The child: writes checkpoint number {@code seq, seq+1, ...} to {@code args[0]}, printing each one done. */
    public static final class Writer {
        public static void main(String[] args) throws Exception {
            Path file = Path.of(args[0]);
            long seq = Long.parseLong(args[1]);
            QuantModel m = model();
            Parameter bias = bias(m);
            System.out.println("ready");
            System.out.flush();
            for (;; seq++) {
                float[] v = new float[bias.value().numel()];
                Arrays.fill(v, seq);
                bias.setValue(RefBackend.INSTANCE.fromFloats(v, v.length));
                CheckpointIO.write(file, ModelState.save(m, Map.of("seq", Long.toString(seq))));
                System.out.println("wrote " + seq);
                System.out.flush();
            }
        }
    }

    static QuantModel model() {
        return Models.build("toynet", BitWidths.preset("toynet", "cfg1-star"), RefBackend.INSTANCE, 3);
    }

    static Parameter bias(QuantModel m) {
        return m.parameters().stream().filter(p -> p.name().equals(BIAS)).findFirst().orElseThrow();
    }

    @Test
    void aCheckpointKilledMidWriteIsNeverHalfWritten() throws Exception {
        int trials = Integer.getInteger("qat4j.crash.trials", TRIALS);
        Path ckpts = Files.createDirectories(dir.resolve("checkpoints"));
        Path logs = Files.createDirectories(dir.resolve("logs"));
        Path file = ckpts.resolve("last.qck");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        SplittableRandom rnd = new SplittableRandom(Long.getLong("qat4j.crash.seed", 11));
        long next = 0; // the next sequence number to write
        long expectedOnDisk = -1;
        int killedMidWrite = 0;
        long totalWrites = 0;
        QuantModel reader = model();
        for (int t = 0; t < trials; t++) {
            long tmpBefore = tmpFiles();
            // The child's progress goes to a file, not a pipe: what a killed process wrote to a file stays there,
            // while lines still in a pipe can be lost when the JDK closes it after the exit.
            Path log = logs.resolve("child-" + t + ".log");
            Process p = new ProcessBuilder(java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp",
                System.getProperty("java.class.path"), Writer.class.getName(), file.toString(), Long.toString(next))
                .redirectError(ProcessBuilder.Redirect.DISCARD).redirectOutput(log.toFile()).start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!Files.readString(log).contains("ready")) {
                assertTrue(p.isAlive() && System.nanoTime() < deadline, "the child JVM did not start (trial " + t
                    + "): " + Files.readString(log));
                Thread.sleep(5);
            }
            Thread.sleep(rnd.nextInt(400)); // kill at a random moment of the write loop
            p.destroyForcibly();
            assertTrue(p.waitFor(60, TimeUnit.SECONDS));
            String printed = Files.readString(log);
            // only whole lines count: a kill during the print may leave a partial last line
            List<String> lines = printed.substring(0, printed.lastIndexOf('\n') + 1).lines().toList();
            long lastDone = -1;
            for (String line : lines) {
                if (line.matches("wrote [0-9]+")) {
                    lastDone = Long.parseLong(line.substring(6));
                }
            }
            long done = lastDone;
            String what = "trial " + t + " (last write reported done: " + done + "; the child printed "
                + (lines.size() > 6 ? lines.subList(0, 3) + " ... " + lines.subList(lines.size() - 3, lines.size())
                : lines) + ")";
            // The file must be complete and valid: CheckpointIO.read checks the structure and the CRC.
            Checkpoint c;
            try {
                c = CheckpointIO.read(file);
            } catch (IOException e) {
                if (done < 0 && expectedOnDisk < 0 && !Files.exists(file)) {
                    continue; // killed before the very first write finished: nothing to read yet
                }
                throw new AssertionError(what + ": the checkpoint is unreadable after SIGKILL: " + e, e);
            }
            long seq = Long.parseLong(c.metaString("seq"));
            long floor = Math.max(done, expectedOnDisk);
            assertTrue(seq >= floor && seq <= (done >= 0 ? done : next - 1) + 1,
                what + ": the file holds write " + seq + ", expected " + floor + " or the one in flight");
            ModelState.load(reader, c); // the state loads into the model (names, shapes, dtypes)
            for (float v : bias(reader).value().toFloatArray()) {
                assertEquals((float) seq, v, what + ": the data does not belong to write " + seq);
            }
            if (tmpFiles() > tmpBefore) {
                killedMidWrite++; // the kill left a temporary file: it landed inside a write
            }
            totalWrites += Math.max(0, done - next + 1);
            expectedOnDisk = seq;
            next = seq + 1;
        }
        // A stale temporary file is the documented, harmless trace of a kill mid-write; nothing else may appear.
        try (Stream<Path> s = Files.list(ckpts)) {
            for (Path x : s.toList()) {
                String n = x.getFileName().toString();
                assertTrue(n.equals("last.qck") || n.startsWith(".last.qck.tmp-"), "unexpected file " + n);
            }
        }
        System.out.println("kill-during-write: " + trials + " SIGKILLs, " + totalWrites + " checkpoints completed, "
            + killedMidWrite + " kills left a temporary file (mid-write), 0 unreadable checkpoints");
        assertTrue(totalWrites > 0, "the child never completed a write: the test proved nothing");
    }

    private long tmpFiles() throws IOException {
        try (Stream<Path> s = Files.list(dir.resolve("checkpoints"))) {
            return s.filter(x -> x.getFileName().toString().startsWith(".last.qck.tmp-")).count();
        }
    }
}
