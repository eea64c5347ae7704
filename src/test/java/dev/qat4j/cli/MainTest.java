package dev.qat4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class MainTest {
    private static String capture(int[] exit, String... args) {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            exit[0] = Main.run(args);
        } finally {
            System.setOut(old);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    @Test
    void infoPrintsVersionBackendFeaturesAndThreads() {
        int[] exit = new int[1];
        String out = capture(exit, "info");
        assertEquals(0, exit[0], out);
        assertTrue(out.startsWith("qat4j "), out);
        assertTrue(out.contains("backend:    ref") || out.contains("backend:    cpu"), out);
        assertTrue(out.contains("int8 ISA:   avx512vnni") || out.contains("int8 ISA:   avx2")
                || out.contains("int8 ISA:   scalar"), out);
        assertTrue(out.matches("(?s).*threads:\\s+\\d+ \\(native kernels\\).*"), out);
    }

    @Test
    void versionFlag() {
        int[] exit = new int[1];
        String out = capture(exit, "--version");
        assertEquals(0, exit[0]);
        assertTrue(out.trim().matches("qat4j \\d+\\.\\d+\\.\\d+.*"), out);
    }

    @Test
    void unknownCommandIsAUsageError() {
        assertEquals(2, Main.run("no-such-command"));
    }

    @Test
    void summaryPrintsTheSeedsExactTotals() {
        int[] exit = new int[1];
        String out = capture(exit, "summary", "--model", "toynet", "--bits", "cfg1");
        assertEquals(0, exit[0], out);
        assertTrue(out.contains("total: 203,626 parameters") && out.contains("25,601,536 MADDs"), out);
        assertTrue(out.contains("s1.b0.down.conv") && out.contains("conv2x2/2 16->32"), out);
        out = capture(exit, "summary", "--model", "resnet20", "--bits", "int8");
        assertTrue(out.contains("total: 272,474 parameters") && out.contains("41,214,656 MADDs"), out);
        out = capture(exit, "summary", "--model", "mobilenetv2");
        assertTrue(out.contains("total: 2,383,050 parameters") && out.contains("98,645,504 MADDs"), out);
    }

    @Test
    void summaryRefusesUnknownPresetsWithExitCode2() {
        assertEquals(2, Main.run("summary", "--model", "toynet", "--bits", "cfg9"));
        assertEquals(2, Main.run("summary", "--model", "vgg16"));
    }
}
