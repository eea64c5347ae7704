package dev.qat4j.data;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Where the training data comes from, in this order: the {@code --data} path if given, else the environment
 * variable {@value #ENV}, else {@code ~/.cache/qat4j/cifar10}. The first of these that is <em>set</em> is used; if
 * that path does not exist the answer is a {@link DataNotFoundException} (an explicit choice never falls through
 * to the next one silently), whose message names all three ways and the {@code --download} option. The default
 * folder counts only when it holds CIFAR-10 (an empty one, left by an interrupted download, does not).
 *
 * <p>The path returned is what {@link Cifar10#load} accepts: the archive, the extracted folder or its parent.
 */
public final class DataLocator {
    /** Environment variable naming the data path. */
    public static final String ENV = "QAT4J_DATA";
    /** The default data folder below the user's home. */
    public static final Path DEFAULT_RELATIVE = Path.of(".cache", "qat4j", "cifar10");

    /** The path chosen, how it was chosen (for messages: "--data X", "QAT4J_DATA=X") and whether it is the default. */
    public record Choice(Path path, String how, boolean isDefault) {
    }

    private DataLocator() {
    }

    /** Resolves with this process's environment and {@code user.home}. */
    public static Path resolve(String cliPath) {
        return resolve(cliPath, System.getenv(), Path.of(System.getProperty("user.home")));
    }

    /** Resolves with an explicit environment and home folder (for tests and embedding). */
    public static Path resolve(String cliPath, Map<String, String> env, Path home) {
        Choice c = choose(cliPath, env, home);
        if (c.isDefault() ? holdsCifar10(c.path()) : Files.exists(c.path())) {
            return c.path();
        }
        throw notFound(c, env, home);
    }

    /** Which of the three places applies (the first that is set), whether or not the data is there. */
    public static Choice choose(String cliPath, Map<String, String> env, Path home) {
        String envValue = env.get(ENV);
        if (cliPath != null && !cliPath.isBlank()) {
            return new Choice(Path.of(cliPath.trim()), "--data " + cliPath.trim(), false);
        }
        if (envValue != null && !envValue.isBlank()) {
            return new Choice(Path.of(envValue.trim()), ENV + "=" + envValue.trim(), false);
        }
        return new Choice(home.resolve(DEFAULT_RELATIVE), "the default location (neither --data nor " + ENV
                + " is set)", true);
    }

    /** Whether {@code dir} is or holds CIFAR-10 in a form {@link Cifar10#load} reads: the archive or the batch files. */
    public static boolean holdsCifar10(Path dir) {
        if (Files.isRegularFile(dir)) {
            return true;
        }
        return Files.isRegularFile(dir.resolve(Cifar10.ARCHIVE)) || Files.isDirectory(dir.resolve(Cifar10.FOLDER))
                || Files.isRegularFile(dir.resolve("test_batch.bin"));
    }

    /** The error for a choice whose data is missing: it names all three ways and --download. */
    public static DataNotFoundException notFound(Choice c, Map<String, String> env, Path home) {
        String envValue = env.get(ENV);
        Path defaultPath = home.resolve(DEFAULT_RELATIVE);
        return new DataNotFoundException("data not found: " + c.path() + (Files.exists(c.path())
                ? " holds no CIFAR-10" : " does not exist") + " (from " + c.how() + ").\n"
                + "Point qat4j at CIFAR-10 (the official cifar-10-binary.tar.gz, or the extracted folder "
                + Cifar10.FOLDER + "/ or its parent) in one of three ways, first match wins:\n"
                + "  1. --data PATH on the command line\n"
                + "  2. the environment variable " + ENV + "=PATH" + (envValue == null || envValue.isBlank()
                        ? " (not set)" : " (now " + envValue.trim() + ")") + "\n"
                + "  3. put it in the default location " + defaultPath + "\n"
                + "or add --download to fetch the official archive (MD5 checked) into the --data path or the default location.");
    }
}
