package dev.qat4j.integer;

import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.checkpoint.CheckpointFormatException;
import dev.qat4j.checkpoint.CheckpointFuzzTest;
import dev.qat4j.fuzz.Fuzz;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fuzzes the integer-model reader ({@code .qim}): raw and header-text mutations of a saved ToyNet cfg1-star integer
 * model (wide int32 intermediates, int64 accumulators, 16-bit codes), re-framed with a valid checksum so the
 * structural checks must catch them. Every input either fails with exactly a {@link CheckpointFormatException}, or
 * loads as a model whose integer part then runs on in-range codes without any exception: a damaged graph can never
 * index out of bounds or overflow inside {@link IntegerModel#runIntegers}.
 */
class IntegerModelFuzzTest {
    @TempDir
    Path dir;

    @Test
    void integerModelFile() throws Exception {
        Path seedFile = dir.resolve("seed.qim");
        try (QuantModel m = Models.build("toynet", BitWidths.preset("toynet", "cfg1-star"), RefBackend.INSTANCE, 3)) {
            IntegerModelIO.write(seedFile, IntegerConverter.convert(m, IntegerConverter.Options.exact()));
        }
        byte[] seed = Files.readAllBytes(seedFile);
        Path file = dir.resolve("fuzz.qim");
        Fuzz.Report r = Fuzz.run("integer-model", 150, in -> {
            Files.write(file, CheckpointFuzzTest.mutateForFuzz(seed, in));
            IntegerModel im;
            try {
                im = IntegerModelIO.read(file, RefBackend.INSTANCE);
            } catch (Throwable t) {
                assertSame(CheckpointFormatException.class, t.getClass(), () -> "not a format error: " + t);
                return "CheckpointFormatException";
            }
            try (im) {
                IntValue v0 = im.values().get(0);
                int[] codes = new int[v0.numel()];
                SplittableRandom rnd = new SplittableRandom(in.random.nextLong());
                for (int i = 0; i < codes.length; i++) {
                    codes[i] = (int) rnd.nextLong(v0.lo(), v0.hi() + 1);
                }
                im.runIntegers(RefBackend.INSTANCE, codes, 1, null);
            }
            return "valid";
        });
        assertTrue(r.count("valid") > 0 && r.invalid() > 0, r.toString());
    }
}
