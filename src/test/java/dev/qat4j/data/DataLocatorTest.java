package dev.qat4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataLocatorTest {
    @TempDir
    Path home;

    @Test
    void orderIsCliThenEnvThenDefault() throws IOException {
        Path cli = Files.createDirectories(home.resolve("cli"));
        Path env = Files.createDirectories(home.resolve("env"));
        Path def = Files.createDirectories(home.resolve(".cache/qat4j/cifar10"));
        Files.writeString(def.resolve(Cifar10.ARCHIVE), "stands in for the archive");
        Map<String, String> withEnv = Map.of(DataLocator.ENV, env.toString());
        assertEquals(cli, DataLocator.resolve(cli.toString(), withEnv, home));
        assertEquals(env, DataLocator.resolve(null, withEnv, home));
        assertEquals(env, DataLocator.resolve("  ", withEnv, home));
        assertEquals(def, DataLocator.resolve(null, Map.of(), home));
        assertEquals(def, DataLocator.resolve(null, Map.of(DataLocator.ENV, ""), home));
    }

    @Test
    void missingDataNamesAllThreeWaysAndDownload() {
        DataNotFoundException e = assertThrows(DataNotFoundException.class,
                () -> DataLocator.resolve(null, Map.of(), home));
        String m = e.getMessage();
        for (String s : new String[] {"--data", "QAT4J_DATA", home.resolve(".cache/qat4j/cifar10").toString(),
                "--download", "cifar-10-binary.tar.gz"}) {
            assertTrue(m.contains(s), "message lacks " + s + ": " + m);
        }
    }

    @Test
    void anExplicitChoiceThatIsMissingDoesNotFallThrough() throws IOException {
        Files.createDirectories(home.resolve(".cache/qat4j/cifar10"));
        Path nope = home.resolve("nope");
        DataNotFoundException e = assertThrows(DataNotFoundException.class,
                () -> DataLocator.resolve(null, Map.of(DataLocator.ENV, nope.toString()), home));
        assertTrue(e.getMessage().contains(nope + " does not exist (from QAT4J_DATA="), e.getMessage());
        e = assertThrows(DataNotFoundException.class, () -> DataLocator.resolve(nope.toString(), Map.of(), home));
        assertTrue(e.getMessage().contains("(from --data " + nope), e.getMessage());
    }

    @Test
    void anEmptyDefaultFolderIsNoLocalCopy() throws IOException {
        Path def = Files.createDirectories(home.resolve(".cache/qat4j/cifar10"));
        DataNotFoundException e = assertThrows(DataNotFoundException.class,
                () -> DataLocator.resolve(null, Map.of(), home));
        assertTrue(e.getMessage().contains(def + " holds no CIFAR-10"), e.getMessage());
        Files.createDirectories(def.resolve(Cifar10.FOLDER));
        assertEquals(def, DataLocator.resolve(null, Map.of(), home));
    }
}
