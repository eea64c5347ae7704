package dev.qat4j.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.fuzz.Fuzz;
import dev.qat4j.fuzz.Mutation;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.ModelState;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fuzzes the checkpoint reader: raw byte mutations (the checksum catches most), the same with the checksum
 * recomputed (so the structural checks must catch them), and mutations of the JSON header text (numbers, tokens,
 * deep nesting) re-framed with a correct header length and checksum. Every input must read as a checkpoint that
 * survives a write/read round trip, or fail with exactly a {@link CheckpointFormatException} naming the file;
 * memory stays proportional to the file. A second target takes the {@code qat4j eval} path on a real model
 * checkpoint: read, bit widths from the metadata, build, load.
 */
public class CheckpointFuzzTest {
    @TempDir
    Path dir;

    /** JSON fragments that break parsers: types, limits, nesting, duplicates, odd numbers. */
    private static final List<String> TOKENS = List.of("{", "}", "[", "]", ",", ":", "\"", "null", "true", "-0",
        "1e400", "-1", "2147483648", "9223372036854775808", "0.5", "\"FLOAT32\"", "\"INT64\"", "\"name\":\"w\",",
        ",\"shape\":[]", ",\"extra\":1", "\\u0000", "\\ud800", "\u00ff", "[".repeat(2000), "{\"a\":".repeat(600),
        "\"tensors\":[],", "\"format\":1,", "\"meta\":{},");

    /** Splits a valid file into header text and data, for re-framing. */
    record Parts(byte[] header, byte[] data) {
        static Parts of(byte[] file) {
            long h = ByteBuffer.wrap(file, 12, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            return new Parts(Arrays.copyOfRange(file, 20, 20 + (int) h),
                Arrays.copyOfRange(file, 20 + (int) h, file.length - 4));
        }
    }

    /** A file with the given header and data, a correct preamble and a correct checksum. */
    static byte[] frame(byte[] header, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(24 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(CheckpointIO.MAGIC).putInt(CheckpointIO.VERSION).putLong(header.length).put(header).put(data);
        return withCrc(b.array());
    }

    /** Rewrites the last 4 bytes as the CRC-32C of everything before them. */
    static byte[] withCrc(byte[] file) {
        if (file.length < 4) {
            return file;
        }
        CRC32C crc = new CRC32C();
        crc.update(file, 0, file.length - 4);
        ByteBuffer.wrap(file, file.length - 4, 4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) crc.getValue());
        return file;
    }

    /** {@link #mutate} for other packages' fuzz targets of files in the checkpoint container (the .qim reader). */
    public static byte[] mutateForFuzz(byte[] seed, Fuzz.Input in) {
        return mutate(seed, in);
    }

    /** Mode 0: raw mutations; 1: raw mutations, checksum repaired; 2: header text mutated, re-framed. */
    static byte[] mutate(byte[] seed, Fuzz.Input in) {
        int mode = in.random.nextInt(3);
        in.note("mode " + mode);
        if (mode < 2) {
            byte[] b = Mutation.applyAll(seed, in.mutations(4));
            return mode == 1 ? withCrc(b) : b;
        }
        Parts p = Parts.of(seed);
        byte[] h = p.header();
        if (in.chance(0.4)) {
            String tok = in.pick(TOKENS);
            int at = in.random.nextInt(h.length + 1);
            in.note("insert token " + (tok.length() > 20 ? tok.substring(0, 20) + "...x" + tok.length() : tok)
                + " at " + at);
            byte[] t = tok.getBytes(StandardCharsets.UTF_8);
            byte[] out = new byte[h.length + t.length];
            System.arraycopy(h, 0, out, 0, at);
            System.arraycopy(t, 0, out, at, t.length);
            System.arraycopy(h, at, out, at + t.length, h.length - at);
            h = out;
        }
        if (in.chance(0.8)) {
            h = Mutation.applyAll(h, in.mutations(3));
        }
        byte[] data = in.chance(0.2) ? Mutation.applyAll(p.data(), in.mutations(2)) : p.data();
        return frame(h, data);
    }

    @Test
    void format() throws IOException {
        Path seedFile = dir.resolve("seed.qck");
        CheckpointIO.write(seedFile, CheckpointIOTest.small());
        byte[] seed = Files.readAllBytes(seedFile);
        Path file = dir.resolve("fuzz.qck");
        Path again = dir.resolve("again.qck");
        Fuzz.Report r = Fuzz.run("checkpoint", 4000, in -> {
            byte[] bytes = mutate(seed, in);
            Files.write(file, bytes);
            long before = Fuzz.allocatedBytes();
            String outcome;
            try {
                Checkpoint c = CheckpointIO.read(file);
                outcome = "valid";
                // what was accepted is a real checkpoint: the header agrees and it survives a round trip
                CheckpointHeader h = CheckpointIO.readHeader(file);
                assertEquals(c.tensors().size(), h.tensors().size());
                CheckpointIO.write(again, c);
                assertEquals(c, CheckpointIO.read(again));
            } catch (Throwable t) {
                assertSame(CheckpointFormatException.class, t.getClass(), () -> "not a format error: " + t);
                assertTrue(t.getMessage().startsWith("checkpoint " + file + ": "), t.getMessage());
                outcome = "CheckpointFormatException";
            }
            Fuzz.assertAllocationBounded(before, 2L * bytes.length, "checkpoint");
            return outcome;
        });
        assertTrue(r.count("valid") > 0 && r.invalid() > 0, r.toString());
    }

    /**
     * The {@code qat4j eval} path on a mutated ToyNet checkpoint: read it, take the model name and bit widths from
     * it, build the model, load the state. Refusals are a {@link CheckpointFormatException} or an
     * {@link IllegalArgumentException} that names the checkpoint or the mismatch; the model is then untouched.
     */
    @Test
    void modelCheckpoint() throws IOException {
        QuantModel original = Models.build("toynet", BitWidths.preset("toynet", "cfg1-star"), RefBackend.INSTANCE, 7);
        Path seedFile = dir.resolve("toynet.qck");
        CheckpointIO.write(seedFile, ModelState.save(original, Map.of("epoch", "3")));
        byte[] seed = Files.readAllBytes(seedFile);
        Path file = dir.resolve("fuzz.qck");
        Fuzz.Report r = Fuzz.run("model-checkpoint", 300, in -> {
            byte[] bytes = mutate(seed, in);
            Files.write(file, bytes);
            Checkpoint c;
            try {
                c = CheckpointIO.read(file);
            } catch (Throwable t) {
                assertSame(CheckpointFormatException.class, t.getClass(), () -> "not a format error: " + t);
                return "CheckpointFormatException";
            }
            String where = "checkpoint " + file;
            try {
                BitWidths bits = BitWidths.fromYaml(c.metaString(ModelState.BITS_KEY), c.model(), where);
                QuantModel m = Models.build(c.model(), bits, RefBackend.INSTANCE, 0);
                ModelState.load(m, c);
                return "valid";
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage() != null && (e.getMessage().contains(where)
                    || e.getMessage().contains("model") || e.getMessage().contains("tensor")), e::toString);
                return "IllegalArgumentException";
            }
        });
        assertTrue(r.count("valid") > 0 && r.invalid() > 0, r.toString());
    }
}
