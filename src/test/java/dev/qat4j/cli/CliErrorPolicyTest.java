package dev.qat4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.qat4j.TestData;
import dev.qat4j.data.DataLocator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The command line's error policy, driven through {@link Main#run} as a user types each command: the exit code, the
 * one-line message (naming the option and the file), no stack trace without --verbose, and the file system after.
 */
class CliErrorPolicyTest {
    static final String RESNET = IntegerCommandsTest.RESNET;

    @TempDir
    Path dir;

    record Run(int exit, String out, String err) {
        /** A refusal by the policy: exit 2, one line naming every fragment, no stack trace. */
        Run refused(String... fragments) {
            assertEquals(2, exit, err);
            assertOneLineWithoutTrace(err, fragments);
            return this;
        }
    }

    static Run run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int exit;
        try {
            exit = Main.run(args);
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
        return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static void assertOneLineWithoutTrace(String err, String... fragments) {
        assertFalse(err.contains("\tat ") || err.contains("Exception"), "no stack trace, no exception name: " + err);
        assertTrue(err.startsWith("qat4j "), err);
        assertEquals(1, err.strip().lines().count(), "one line: " + err);
        for (String f : fragments) {
            assertTrue(err.contains(f), "message lacks '" + f + "': " + err);
        }
    }

    private List<Path> listing() throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.sorted().toList();
        }
    }

    private static String data() {
        Path d = TestData.cifar10();
        Assumptions.assumeTrue(d != null, "no CIFAR-10: set QAT4J_DATA");
        return d.toString();
    }

    // --- mistakes that used to end in a stack trace ----------------------------------------------------------------

    @Test
    void badFilesAndNumbersAreOneLineExit2AndWriteNothing() throws Exception {
        Path random = dir.resolve("random.qck");
        Files.write(random, new java.util.SplittableRandom(1).ints(4096, 0, 256).collect(ByteArrayOutputStream::new,
                (b, i) -> b.write(i), (a, b) -> { }).toByteArray());
        Path file = Files.writeString(dir.resolve("existing-file"), "mine");
        Path out = dir.resolve("run");
        String nope = dir.resolve("nope.qck").toString();
        List<Path> before = listing();
        // train before reading any data: --data points nowhere, so reading it would be a different message
        String noData = dir.resolve("no-data").toString();
        run("train", "--init", nope, "--out", out.toString(), "--data", noData).refused("--init " + nope, "no such file");
        run("train", "--init", random.toString(), "--out", out.toString(), "--data", noData)
                .refused("--init: checkpoint " + random, "bad magic");
        run("train", "--out", file.toString(), "--data", noData).refused("--out " + file, "is a file, not a run folder");
        run("train", "--limit-train", "0", "--out", out.toString()).refused("--limit-train 0", "at least 1");
        run("train", "--limit-test", "0", "--out", out.toString()).refused("--limit-test 0", "at least 1");
        run("train", "--momentum", "5", "--out", out.toString()).refused("--momentum 5.0", "[0, 1)");
        run("train", "--lr", "-1", "--out", out.toString()).refused("--lr -1.0");
        run("train", "--time-limit", "0", "--out", out.toString()).refused("--time-limit 0.0", "minutes above 0");
        run("train", "--resume", "--out", out.toString()).refused("--resume", out.toString(), "no last.qck");
        run("eval", "--checkpoint", RESNET, "--batch-size", "0").refused("--batch-size 0", "at least 1");
        run("eval", "--checkpoint", RESNET, "--limit-test", "0").refused("--limit-test 0", "at least 1");
        run("int-eval", "--checkpoint", RESNET, "--batch-size", "-3").refused("--batch-size -3");
        // messages with the fact: the option, the file and what is wrong with it
        run("eval", "--checkpoint", nope).refused("--checkpoint " + nope + ": no such file");
        run("eval", "--checkpoint", dir.toString()).refused("--checkpoint " + dir, "is a folder");
        run("eval", "--checkpoint", random.toString(), "--data", noData)
                .refused("--checkpoint: checkpoint " + random, "bad magic");
        run("export", "--model", random.toString(), "--onnx", dir.resolve("m.onnx").toString())
                .refused("--model: checkpoint " + random, "bad magic");
        run("convert", "--checkpoint", RESNET, "--out", dir.resolve("no/such/folder/m.qim").toString())
                .refused("--out", dir.resolve("no/such/folder") + " does not exist");
        run("export", "--model", nope, "--onnx", dir.resolve("m.onnx").toString()).refused("--model " + nope);
        run("export", "--model", RESNET).refused("nothing to do");
        run("summary", "--model", "vgg16").refused("vgg16");
        run("eval").refused("--checkpoint", "eval --help");
        run("train", "--epoch", "1").refused("--epoch", "did you mean");
        assertEquals(before, listing(), "nothing written or created");
        assertEquals("mine", Files.readString(file));
    }

    @Test
    void verbosePrintsTheStackTraceAndABugIsExit1() {
        String nope = dir.resolve("nope.qck").toString();
        Run r = run("eval", "--checkpoint", nope, "--verbose");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("no such file") && r.err().contains("\tat "), r.err());
        // a bug: any exception the policy does not know as the user's
        PrintStream old = System.err;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setErr(new PrintStream(buf, true, StandardCharsets.UTF_8));
        int quiet, verbose;
        String quietErr;
        try {
            quiet = ErrorPolicy.report(new NullPointerException("x is null"), "qat4j eval", false);
            quietErr = buf.toString(StandardCharsets.UTF_8);
            verbose = ErrorPolicy.report(new NullPointerException("x is null"), "qat4j eval", true);
        } finally {
            System.setErr(old);
        }
        assertEquals(1, quiet);
        assertEquals(1, verbose);
        assertTrue(quietErr.contains("internal error") && quietErr.contains("rerun with --verbose")
                && quietErr.strip().lines().count() == 1 && !quietErr.contains("\tat "), quietErr);
        assertTrue(buf.toString(StandardCharsets.UTF_8).contains("\tat "), "--verbose shows the stack trace");
    }

    // --- nothing replaced without --overwrite / --resume -------------------------------------------------------------

    @Test
    void existingOutputsAreNotReplaced() throws Exception {
        Path ckpt = Files.copy(Path.of(RESNET), dir.resolve("best.qck"));
        byte[] original = Files.readAllBytes(ckpt);
        run("convert", "--checkpoint", RESNET, "--out", ckpt.toString()).refused("--out " + ckpt, "exists",
                "--overwrite");
        assertArrayEquals(original, Files.readAllBytes(ckpt), "the training checkpoint is untouched");
        run("convert", "--checkpoint", ckpt.toString(), "--out", ckpt.toString(), "--overwrite")
                .refused("is the --checkpoint itself");
        // a run folder that holds a run: refused without --resume, metrics kept
        Path runDir = Files.createDirectories(dir.resolve("run"));
        Path metrics = Files.writeString(runDir.resolve("metrics.jsonl"), "{\"epoch\":1}\n{\"epoch\":2}\n");
        run("train", "--out", runDir.toString(), "--data", dir.resolve("no-data").toString())
                .refused("--out " + runDir, "holds a run", "--resume", "--overwrite");
        run("train", "--out", runDir.toString(), "--resume", "--overwrite").refused("--resume", "--overwrite");
        assertEquals("{\"epoch\":1}\n{\"epoch\":2}\n", Files.readString(metrics));
        // --resume of a run past the --epochs asked for: refused before run.json is rewritten
        Path last = Files.copy(Path.of("bench/results/cpu/toynet-cfg1-star.qck"), runDir.resolve("last.qck"));
        Path record = Files.writeString(runDir.resolve("run.json"), "mine");
        run("train", "--out", runDir.toString(), "--resume", "--epochs", "5", "--data", dir.resolve("no-data").toString())
                .refused("--resume: " + last, "after epoch 10", "beyond --epochs 5");
        assertEquals("mine", Files.readString(record));
        // export: every output is checked before the first is written
        Path qim = dir.resolve("m.qim");
        assertEquals(0, run("convert", "--checkpoint", IntegerCommandsTest.RESNET_E2E, "--out", qim.toString()).exit());
        Path onnx = Files.writeString(dir.resolve("m.onnx"), "mine");
        Path blobs = dir.resolve("blobs");
        run("export", "--model", qim.toString(), "--blobs", blobs.toString(), "--onnx", onnx.toString())
                .refused("--onnx " + onnx, "exists", "--overwrite");
        assertFalse(Files.exists(blobs), "no blobs written when a later output is refused");
        run("export", "--model", qim.toString(), "--blobs", blobs.toString(), "--c", blobs.toString())
                .refused("--c " + blobs, "--blobs");
        assertEquals("mine", Files.readString(onnx));
        // with --overwrite it is replaced, and readable like every other output (not a private temp file's 0600)
        Run r = run("export", "--model", qim.toString(), "--onnx", onnx.toString(), "--overwrite");
        assertEquals(0, r.exit(), r.err());
        Path plain = Files.writeString(dir.resolve("plain.txt"), "x");
        assertEquals(PosixFilePermissions.toString(Files.getPosixFilePermissions(plain)),
                PosixFilePermissions.toString(Files.getPosixFilePermissions(onnx)));
        assertTrue(Files.size(onnx) > 100_000);
        try (Stream<Path> s = Files.list(dir)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().startsWith(".")), "no temporary file left");
        }
    }

    // --- contradictions -------------------------------------------------------------------------------------------

    @Test
    void contradictoryOptionsAreRefused() throws Exception {
        List<Path> before = listing();
        Path out = dir.resolve("run");
        run("train", "--resume", "--init", RESNET, "--out", out.toString()).refused("--resume", "--init " + RESNET);
        run("eval", "--checkpoint", RESNET, "--format", "dyadic16", "--data", data(), "--limit-test", "10")
                .refused("--format dyadic16", "--integer", RESNET);
        run("int-eval", "--checkpoint", RESNET, "--sweep", "none", "--png", dir.resolve("s.png").toString())
                .refused("--png", "--sweep none");
        assertEquals(before, listing());
    }

    // --- nothing left behind --------------------------------------------------------------------------------------

    @Test
    void aRunThatDivergesInItsFirstEpochLeavesNoFolder() {
        Path out = dir.resolve("runs/diverged");
        Run r = run("train", "--model", "toynet", "--bits", "fp32", "--epochs", "1", "--batch-size", "32", "--lr",
                "1e30", "--limit-train", "64", "--limit-test", "32", "--data", data(), "--out", out.toString());
        assertEquals(3, r.exit(), r.err());
        assertTrue(r.err().contains("diverged") && r.err().contains("nothing was kept"), r.err());
        assertFalse(Files.exists(dir.resolve("runs")), "no run folder, not even its parent, stays behind");
    }

    @Test
    void aFailedDownloadLeavesNothingAndIsTriedAgain() throws Exception {
        String home = System.getProperty("user.home");
        System.setProperty("user.home", dir.toString());
        DataOption.environment = java.util.Map.of(); // no QAT4J_DATA: the default folder applies
        System.setProperty(DataOption.URL_PROPERTY, "http://127.0.0.1:1/cifar-10-binary.tar.gz"); // nothing listens
        try {
            for (int attempt = 0; attempt < 2; attempt++) { // the second attempt downloads again: no empty cache folder
                Run r = run("eval", "--checkpoint", RESNET, "--limit-test", "10");
                assertEquals(2, r.exit(), r.err());
                assertTrue(r.err().contains("no local copy of CIFAR-10 found: downloading") && r.err().contains(
                        "nothing was kept") && !r.err().contains("\tat "), r.err());
                assertFalse(Files.exists(dir.resolve(".cache")), "no empty cache folder");
            }
            // --data NAME.tar.gz --download is the file to download to, never a folder of that name
            Path archive = dir.resolve("x/cifar.tar.gz");
            Run r = run("eval", "--checkpoint", RESNET, "--data", archive.toString(), "--download");
            assertEquals(2, r.exit(), r.err());
            assertTrue(r.err().contains("downloading") && r.err().contains(archive.toString()), r.err());
            assertFalse(Files.exists(dir.resolve("x")), "no folder named after the archive, no parent left");
            // QAT4J_DATA with --download: downloaded where QAT4J_DATA points, the place then read, not the cache
            Path env = dir.resolve("env-data");
            DataOption.environment = java.util.Map.of(DataLocator.ENV, env.toString());
            try {
                r = run("eval", "--checkpoint", RESNET, "--download");
                assertTrue(r.exit() == 2 && r.err().contains("downloading") && r.err().contains(
                        env.resolve("cifar-10-binary.tar.gz").toString()), r.err());
                run("eval", "--checkpoint", RESNET).refused(DataLocator.ENV + "=" + env, "does not exist", "--download");
            } finally {
                DataOption.environment = java.util.Map.of();
            }
            assertFalse(Files.exists(env) || Files.exists(dir.resolve(".cache")), "nothing created");
            // without --download a missing --data path is refused, naming it
            run("eval", "--checkpoint", RESNET, "--data", archive.toString())
                    .refused("--data " + archive + ": " + archive + " does not exist", "--download");
            assertFalse(Files.exists(dir.resolve("x")));
        } finally {
            System.setProperty("user.home", home);
            System.clearProperty(DataOption.URL_PROPERTY);
            DataOption.environment = System.getenv();
        }
    }

    /** The README's first command on a machine without a copy: the default folder is filled, checksummed. */
    @Test
    void withNoLocalCopyTheDefaultFolderIsDownloadedAndUsed() throws Exception {
        Path archive = Path.of(data());
        Assumptions.assumeTrue(Files.isRegularFile(archive), "the test serves the official archive file");
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/cifar-10-binary.tar.gz", ex -> {
            ex.sendResponseHeaders(200, Files.size(archive));
            try (OutputStream o = ex.getResponseBody()) {
                Files.copy(archive, o);
            }
        });
        server.start();
        String home = System.getProperty("user.home");
        System.setProperty("user.home", dir.toString());
        DataOption.environment = java.util.Map.of(); // no QAT4J_DATA: the default folder applies
        System.setProperty(DataOption.URL_PROPERTY, "http://127.0.0.1:" + server.getAddress().getPort()
                + "/cifar-10-binary.tar.gz");
        DataOption.expectedMd5 = dev.qat4j.data.Download.md5(archive); // the local copy may be repacked
        try {
            Path out = dir.resolve("run");
            Run r = run("train", "--epochs", "1", "--batch-size", "32", "--limit-train", "64", "--limit-test", "32",
                    "--out", out.toString());
            assertEquals(0, r.exit(), r.err());
            assertTrue(r.err().contains("no local copy of CIFAR-10 found: downloading"), r.err());
            Path cached = dir.resolve(DataLocator.DEFAULT_RELATIVE).resolve("cifar-10-binary.tar.gz");
            assertEquals(Files.size(archive), Files.size(cached));
            assertTrue(Files.exists(out.resolve("best.qck")));
            r = run("eval", "--checkpoint", out.resolve("best.qck").toString(), "--limit-test", "32");
            assertEquals(0, r.exit(), r.err());
            assertFalse(r.err().contains("downloading"), "the copy is found the second time: " + r.err());
            assertFalse(r.err().contains("eval ["), "no progress bar when stderr is not a terminal: " + r.err());
            // --data NAME.tar.gz --download downloads to that file and reads it
            Path mine = dir.resolve("mine.tar.gz");
            r = run("eval", "--checkpoint", out.resolve("best.qck").toString(), "--limit-test", "32", "--data",
                    mine.toString(), "--download");
            assertEquals(0, r.exit(), r.err());
            assertTrue(Files.isRegularFile(mine) && Files.size(mine) == Files.size(archive), "a file, not a folder");
        } finally {
            DataOption.expectedMd5 = dev.qat4j.data.Download.CIFAR10_MD5;
            server.stop(0);
            System.setProperty("user.home", home);
            System.clearProperty(DataOption.URL_PROPERTY);
            DataOption.environment = System.getenv();
        }
    }

    // --- help -----------------------------------------------------------------------------------------------------

    @Test
    void everyCommandHasHelpAndEveryOptionItsDescriptionAndDefault() {
        CommandLine root = new CommandLine(new Main());
        for (CommandLine sub : root.getSubcommands().values()) {
            String name = sub.getCommandName();
            if (name.equals("help")) {
                continue;
            }
            Run r = run(name, "--help");
            assertEquals(0, r.exit(), name + ": " + r.err());
            assertTrue(r.out().startsWith("Usage: qat4j " + name), r.out());
            assertFalse(r.out().contains("(?!"), name + "'s usage shows no regular expression: " + r.out());
            for (CommandLine.Model.OptionSpec o : sub.getCommandSpec().options()) {
                if (o.usageHelp() || o.versionHelp()) {
                    continue;
                }
                String d = String.join(" ", o.description());
                assertFalse(d.isBlank(), name + " " + o.longestName() + " has no description");
                assertTrue(d.contains("default") || d.contains("required"),
                        name + " " + o.longestName() + " names no default: " + d);
            }
        }
        assertTrue(run("eval", "--help").out().contains(".qim"), "eval takes integer models too");
    }

    // --- progress ---------------------------------------------------------------------------------------------------

    @Test
    void evalAndIntEvalShowProgressUnlessJson() {
        String data = data();
        System.setProperty(TaskProgress.PROPERTY, "always");
        try {
            Run r = run("eval", "--checkpoint", RESNET, "--limit-test", "200", "--batch-size", "100", "--data", data);
            assertEquals(0, r.exit(), r.err());
            assertTrue(r.err().contains("eval [") && r.err().contains("200/200 images"), r.err());
            r = run("eval", "--checkpoint", RESNET, "--limit-test", "200", "--data", data, "--json");
            assertEquals(0, r.exit(), r.err());
            assertFalse(r.err().contains("eval ["), "quiet with --json: " + r.err());
            r = run("int-eval", "--checkpoint", RESNET, "--limit-test", "100", "--sweep", "dyadic16", "--data", data);
            assertEquals(0, r.exit(), r.err());
            assertTrue(r.err().contains("int-eval [") && r.err().contains("100/100 images")
                    && r.err().contains("sweep [") && r.err().contains("1/1 formats"), r.err());
            Path qim = dir.resolve("m.qim");
            r = run("convert", "--checkpoint", IntegerCommandsTest.RESNET_E2E, "--out", qim.toString());
            assertEquals(0, r.exit(), r.err());
            assertTrue(r.err().contains("convert: converting " + IntegerCommandsTest.RESNET_E2E)
                    && r.err().contains("convert: writing " + qim), r.err());
            r = run("export", "--model", qim.toString(), "--onnx", dir.resolve("m.onnx").toString());
            assertEquals(0, r.exit(), r.err());
            assertTrue(r.err().contains("export: writing ONNX to " + dir.resolve("m.onnx")), r.err());
        } finally {
            System.clearProperty(TaskProgress.PROPERTY);
        }
    }
}
