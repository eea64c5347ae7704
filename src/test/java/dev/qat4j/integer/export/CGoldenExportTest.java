package dev.qat4j.integer.export;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.integer.IntegerModel;
import dev.qat4j.models.QuantModel;
import dev.qat4j.quant.Rounding;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The C99 golden model, compiled with {@code gcc -std=c99 -Wall -Werror -O2}, gives the same int64 logits as
 * {@link IntegerModel#runIntegers} bit for bit. Skipped without gcc.
 */
class CGoldenExportTest {
    private static final List<String> STRICT = List.of("-std=c99", "-Wall", "-Werror", "-O2");
    /** UBSan flags when this gcc has the runtime: any undefined behaviour then aborts the run. */
    private static List<String> sanitizer = List.of();

    @TempDir
    Path dir;

    @BeforeAll
    static void needsGcc(@TempDir Path probe) throws Exception {
        Assumptions.assumeTrue(run(probe, 30, "gcc", "--version").exit == 0, "gcc is not installed");
        Path c = probe.resolve("probe.c");
        Files.writeString(c, "int main(void) { return 0; }\n");
        List<String> ubsan = List.of("-fsanitize=undefined", "-fno-sanitize-recover=undefined");
        List<String> cmd = new ArrayList<>(List.of("gcc", "-o", probe.resolve("probe").toString(), c.toString()));
        cmd.addAll(ubsan);
        if (run(probe, 30, cmd.toArray(new String[0])).exit == 0) {
            sanitizer = ubsan;
        }
    }

    @Test
    void resnet20MatchesRunIntegersOnRealImages() throws Exception {
        Backend b = Backends.byName("cpu");
        try (QuantModel m = ExportFixtures.resnet20(b); IntegerModel im = ExportFixtures.integer(m)) {
            int n = 64;
            int[] codes = ExportFixtures.cifar10Codes(b, im, n);
            long[] expected = im.runIntegers(b, codes, n, null);
            CGoldenExport.write(im, dir.resolve("c"), "resnet20_int8");
            Path exe = compile(dir.resolve("c"), "resnet20_int8", STRICT);
            assertArrayEquals(expected, runGolden(exe, codes, n, im.numClasses()));
        }
    }

    @Test
    void toyNetMatchesRunIntegersThroughItsWideAndInt64Paths() throws Exception {
        Backend b = Backends.byName("cpu");
        try (QuantModel m = ExportFixtures.toyNet(b, 11); IntegerModel im = ExportFixtures.integer(m)) {
            ExportPlan plan = ExportPlan.of(im);
            boolean int64Acc = false;
            for (boolean fits : plan.int32Accumulator) {
                int64Acc |= !fits;
            }
            assertTrue(int64Acc, "ToyNet cfg1-star must exercise the int64-accumulator path");
            assertTrue(im.values().stream().anyMatch(v -> v.hi() > Short.MAX_VALUE), "a value wider than 16 bits");

            int n = 4;
            int[] codes = ExportFixtures.syntheticCodes(b, im, n, 5);
            long[] expected = im.runIntegers(b, codes, n, null);
            CGoldenExport.write(im, dir.resolve("c"), "toynet");
            List<String> flags = new ArrayList<>(STRICT);
            flags.addAll(sanitizer);
            Path exe = compile(dir.resolve("c"), "toynet", flags);
            assertArrayEquals(expected, runGolden(exe, codes, n, im.numClasses()));

            // the driver refuses a code outside the boundary quantizer's range instead of computing garbage
            int[] bad = codes.clone();
            bad[7] = (int) im.values().get(0).hi() + 1;
            Files.write(dir.resolve("bad.bin"), int32LittleEndian(bad));
            Result r = run(dir, 60, exe.toString(), dir.resolve("bad.bin").toString(), dir.resolve("o.bin").toString());
            assertEquals(1, r.exit, r.output);
            assertTrue(r.output.contains("outside"), r.output);
        }
    }

    @Test
    void anEndToEndModelRunsFromUint8PixelsThroughItsCodeTable() throws Exception {
        Backend b = Backends.byName("cpu");
        try (QuantModel m = ExportFixtures.endToEndPreset("toynet", b, 5);
             IntegerModel im = ExportFixtures.integer(m)) {
            int n = 3;
            byte[] pixels = new byte[n * im.inputSpec().valuesPerImage()];
            new Random(9).nextBytes(pixels);
            long[] expected = im.logitsOfPixels(b, pixels, n);
            CGoldenExport.write(im, dir.resolve("c"), "toy");
            Files.writeString(dir.resolve("c").resolve("pixels_main.c"), """
                    #include <stdint.h>
                    #include <stdio.h>
                    #include <stdlib.h>
                    #include "toy.h"
                    int main(int argc, char **argv) {
                        enum { N = 3 };
                        static uint8_t pixels[N * TOY_INPUT_SIZE];
                        static int32_t codes[N * TOY_INPUT_SIZE];
                        static int64_t logits[N * TOY_OUTPUT_SIZE];
                        FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
                        if (argc != 3 || !in || !out || fread(pixels, 1, sizeof pixels, in) != sizeof pixels) return 2;
                        if (toy_codes_from_pixels(pixels, N, codes) != TOY_OK) return 3;
                        if (toy_forward(codes, N, logits) != TOY_OK) return 4;
                        fwrite(logits, sizeof logits[0], N * TOY_OUTPUT_SIZE, out);
                        return fclose(out) == 0 ? 0 : 5;
                    }
                    """);
            List<String> cmd = new ArrayList<>(List.of("gcc"));
            cmd.addAll(STRICT);
            cmd.addAll(sanitizer);
            Path exe = dir.resolve("toy_pixels");
            cmd.addAll(List.of("-o", exe.toString(), dir.resolve("c/toy.c").toString(),
                    dir.resolve("c/pixels_main.c").toString()));
            Result cc = run(dir, 120, cmd.toArray(new String[0]));
            assertEquals(0, cc.exit, "gcc failed:\n" + cc.output);
            Files.write(dir.resolve("pixels.bin"), pixels);
            Result r = run(dir, 60, exe.toString(), dir.resolve("pixels.bin").toString(), dir.resolve("l.bin").toString());
            assertEquals(0, r.exit, r.output);
            ByteBuffer buf = ByteBuffer.wrap(Files.readAllBytes(dir.resolve("l.bin"))).order(ByteOrder.LITTLE_ENDIAN);
            long[] got = new long[expected.length];
            buf.asLongBuffer().get(got);
            assertArrayEquals(expected, got, "C from pixels = IntegerModel.logitsOfPixels");
        }
    }

    @Test
    void modelSourceNeedsOnlyTheStandardIntegerAndAllocationHeaders() throws Exception {
        Backend b = Backends.byName("cpu");
        try (QuantModel m = ExportFixtures.toyNet(b, 3); IntegerModel im = ExportFixtures.integer(m)) {
            CGoldenExport.write(im, dir.resolve("c"), "toy");
            for (String file : List.of("toy.c", "toy.h", "toy_weights.h")) {
                Matcher inc = Pattern.compile("#include ([<\"][^>\"]+[>\"])").matcher(Files.readString(dir.resolve("c")
                        .resolve(file)));
                while (inc.find()) {
                    assertTrue(List.of("<stddef.h>", "<stdint.h>", "<stdlib.h>", "\"toy.h\"", "\"toy_weights.h\"")
                            .contains(inc.group(1)), file + " includes " + inc.group(1));
                }
            }
            assertThrows(IllegalArgumentException.class, () -> CGoldenExport.write(im, dir.resolve("x"), "1toy"));
            assertThrows(IllegalArgumentException.class, () -> CGoldenExport.write(im, dir.resolve("x"), "to-y"));
            assertThrows(IllegalArgumentException.class, () -> CGoldenExport.write(im, dir.resolve("x"), null));
            assertThrows(IllegalArgumentException.class, () -> CGoldenExport.write(im, null, "toy"));
            assertThrows(IllegalArgumentException.class, () -> CGoldenExport.write(null, dir.resolve("x"), "toy"));
            assertTrue(!Files.exists(dir.resolve("x")));
        }
    }

    /** The emitted div_pow2 against Rounding.divPow2 in all five modes: ties, both signs, every shift, extremes. */
    @Test
    void divPow2MatchesRoundingInEveryMode() throws Exception {
        List<long[]> cases = new ArrayList<>();
        Random r = new Random(42);
        long limit = (1L << 62) - 1; // Rounding.divPow2 takes |v| < 2^62
        for (int s = 0; s <= Rounding.MAX_SHIFT; s++) {
            long unit = 1L << s, half = s == 0 ? 0 : unit >> 1;
            long[] base = {0, 1, half - 1, half, half + 1, unit - 1, unit, unit + half, 2 * unit + half, 3 * unit + half,
                limit, limit - half, r.nextLong() >> 2, r.nextLong() >> (2 + r.nextInt(60))};
            for (long v : base) {
                if (Math.abs(v) <= limit) {
                    cases.add(new long[] {v, s});
                    cases.add(new long[] {-v, s});
                }
            }
        }
        StringBuilder in = new StringBuilder();
        for (long[] c : cases) {
            in.append(c[0]).append(' ').append(c[1]).append('\n');
        }
        Files.writeString(dir.resolve("cases.txt"), in);
        Files.writeString(dir.resolve("div.c"), "#include <inttypes.h>\n#include <stdint.h>\n#include <stdio.h>\n\n"
                + CGoldenExport.DIV_POW2 + """

                int main(void)
                {
                    int64_t v, s;
                    int mode;
                    while (scanf("%" SCNd64 " %" SCNd64, &v, &s) == 2) {
                        for (mode = 0; mode < 5; mode++) {
                            printf("%" PRId64 "%c", div_pow2(v, (int)s, mode), mode == 4 ? '\\n' : ' ');
                        }
                    }
                    return clamp_round(5, 1, ROUND_HALF_EVEN, 0, 1) == 1 ? 0 : 1;
                }
                """);
        List<String> cmd = new ArrayList<>(List.of("gcc"));
        cmd.addAll(STRICT);
        cmd.addAll(sanitizer);
        cmd.addAll(List.of("-o", dir.resolve("div").toString(), dir.resolve("div.c").toString()));
        Result cc = run(dir, 60, cmd.toArray(new String[0]));
        assertEquals(0, cc.exit, cc.output);
        ProcessBuilder pb = new ProcessBuilder(dir.resolve("div").toString()).redirectInput(dir.resolve("cases.txt")
                .toFile()).redirectOutput(dir.resolve("out.txt").toFile()).redirectErrorStream(false);
        Process p = pb.start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue());
        List<String> lines = Files.readAllLines(dir.resolve("out.txt"));
        assertEquals(cases.size(), lines.size());
        Rounding[] order = {Rounding.HALF_EVEN, Rounding.HALF_UP, Rounding.HALF_AWAY_FROM_ZERO, Rounding.TOWARD_ZERO,
            Rounding.FLOOR}; // the C enum's order
        for (int i = 0; i < cases.size(); i++) {
            String[] got = lines.get(i).split(" ");
            for (int k = 0; k < order.length; k++) {
                long want = order[k].divPow2(cases.get(i)[0], (int) cases.get(i)[1]);
                assertEquals(want, Long.parseLong(got[k]), order[k] + " of " + cases.get(i)[0] + " / 2^" + cases.get(i)[1]);
            }
        }
    }

    // ---------------------------------------------------------------- helpers

    private Path compile(Path src, String base, List<String> flags) throws Exception {
        Path exe = dir.resolve(base + "_golden");
        List<String> cmd = new ArrayList<>(List.of("gcc"));
        cmd.addAll(flags);
        cmd.addAll(List.of("-o", exe.toString(), src.resolve(base + ".c").toString(),
                src.resolve(base + "_main.c").toString()));
        Result r = run(dir, 120, cmd.toArray(new String[0]));
        assertEquals(0, r.exit, "gcc failed:\n" + r.output);
        return exe;
    }

    private long[] runGolden(Path exe, int[] codes, int n, int classes) throws Exception {
        Path in = dir.resolve("codes.bin"), out = dir.resolve("logits.bin");
        Files.write(in, int32LittleEndian(codes));
        Result r = run(dir, 120, exe.toString(), in.toString(), out.toString());
        assertEquals(0, r.exit, "golden model failed:\n" + r.output);
        ByteBuffer buf = ByteBuffer.wrap(Files.readAllBytes(out)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals((long) n * classes * 8, buf.remaining());
        long[] logits = new long[n * classes];
        buf.asLongBuffer().get(logits);
        return logits;
    }

    private static byte[] int32LittleEndian(int[] v) {
        ByteBuffer buf = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.asIntBuffer().put(v);
        return buf.array();
    }

    private record Result(int exit, String output) {
    }

    private static Result run(Path cwd, int timeoutSeconds, String... cmd) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder(cmd).directory(cwd.toFile()).redirectErrorStream(true).start();
        } catch (IOException e) {
            return new Result(-1, e.toString());
        }
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", cmd) + " ran over " + timeoutSeconds + " s");
        }
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }
}
