package dev.qat4j.data;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Where the training data comes from, in this order: the {@code --data} path if given, else the environment
 * variable {@value #ENV}, else {@code ~/.cache/qat4j/cifar10}. The first of these that is <em>set</em> is used; if
 * that path does not exist the answer is a {@link DataNotFoundException} (an explicit choice never falls through
 * to the next one silently), whose message names all three ways and the {@code --download} option.
 *
 * <p>The path returned is what {@link Cifar10#load} accepts: the archive, the extracted folder or its parent.
 */
public final class DataLocator {
    /** Environment variable naming the data path. */
    public static final String ENV = "QAT4J_DATA";
    /** The default data folder below the user's home. */
    public static final Path DEFAULT_RELATIVE = Path.of(".cache", "qat4j", "cifar10");

    private DataLocator() {
    }

    /** Resolves with this process's environment and {@code user.home}. */
    public static Path resolve(String cliPath) {
        return resolve(cliPath, System.getenv(), Path.of(System.getProperty("user.home")));
    }

    /** Resolves with an explicit environment and home folder (for tests and embedding). */
    public static Path resolve(String cliPath, Map<String, String> env, Path home) {
        Path defaultPath = home.resolve(DEFAULT_RELATIVE);
        String envValue = env.get(ENV);
        Path chosen;
        String how;
        if (cliPath != null && !cliPath.isBlank()) {
            chosen = Path.of(cliPath.trim());
            how = "--data " + cliPath.trim();
        } else if (envValue != null && !envValue.isBlank()) {
            chosen = Path.of(envValue.trim());
            how = ENV + "=" + envValue.trim();
        } else {
            chosen = defaultPath;
            how = "the default location (neither --data nor " + ENV + " is set)";
        }
        if (Files.exists(chosen)) {
            return chosen;
        }
        throw new DataNotFoundException("data not found: " + chosen + " does not exist (from " + how + ").\n"
                + "Point qat4j at CIFAR-10 (the official cifar-10-binary.tar.gz, or the extracted folder "
                + Cifar10.FOLDER + "/ or its parent) in one of three ways, first match wins:\n"
                + "  1. --data PATH on the command line\n"
                + "  2. the environment variable " + ENV + "=PATH" + (envValue == null || envValue.isBlank()
                        ? " (not set)" : " (now " + envValue.trim() + ")") + "\n"
                + "  3. put it in the default location " + defaultPath + "\n"
                + "or add --download to fetch the official archive (MD5 checked) into the --data folder or the default location.");
    }
}
