package dev.qat4j.cli;

import dev.qat4j.data.Cifar10;
import dev.qat4j.data.DataLocator;
import dev.qat4j.data.Download;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import picocli.CommandLine.Option;

/**
 * {@code --data} and {@code --download}, the same in every command that reads CIFAR-10. The data is the first set of
 * --data, QAT4J_DATA and ~/.cache/qat4j/cifar10. The default folder, when it holds no copy, is filled by a download
 * (MD5 checked); a path given with --data or QAT4J_DATA is downloaded to only with --download, and always read from
 * where it was downloaded to. A failed download leaves nothing behind.
 */
final class DataOption {
    /** Another address for the archive (a mirror; tests point it at a local server). Its MD5 must still match. */
    static final String URL_PROPERTY = "qat4j.cifar10.url";
    /** The MD5 a download must have: the official archive's; only tests serving another archive change it. */
    static volatile String expectedMd5 = Download.CIFAR10_MD5;
    /** The environment QAT4J_DATA is read from: this process's, unless a test sets another. */
    static volatile java.util.Map<String, String> environment = System.getenv();

    @Option(names = "--data", paramLabel = "PATH", description = "CIFAR-10: cifar-10-binary.tar.gz or the folder "
            + "holding it or its extracted cifar-10-batches-bin/ (default: QAT4J_DATA, then ~/.cache/qat4j/cifar10, "
            + "downloaded there when missing)")
    String data;
    @Option(names = "--download", description = "when --data or QAT4J_DATA names a path that does not exist, fetch "
            + "the official archive (MD5 checked) to it (default off; the default folder is filled without asking)")
    boolean download;

    /** The data path to load, downloading first where the policy above says so. */
    Path locate(boolean json) {
        DataLocator.Choice choice = DataLocator.choose(data, environment, Path.of(System.getProperty("user.home")));
        if (choice.isDefault()) {
            return DataLocator.holdsCifar10(choice.path()) ? choice.path()
                    : fetch(choice, choice.path(), Cifar10.ARCHIVE, json);
        }
        Path p = choice.path();
        if (Files.exists(p)) {
            return p;
        }
        if (!download) {
            throw new UserError(choice.how() + ": " + p + " does not exist; point it at " + Cifar10.ARCHIVE
                    + " or its extracted " + Cifar10.FOLDER + "/ (or the folder holding either), or add --download "
                    + "to fetch the official archive there");
        }
        // a name like the archive's is the file to download to; anything else is the folder to download into
        String name = p.getFileName() == null ? "" : p.getFileName().toString();
        boolean isFile = name.endsWith(".tar.gz") || name.endsWith(".tgz");
        return isFile ? fetch(choice, p.toAbsolutePath().getParent(), name, json) : fetch(choice, p, Cifar10.ARCHIVE, json);
    }

    private static Path fetch(DataLocator.Choice choice, Path dir, String fileName, boolean json) {
        URI url = URI.create(System.getProperty(URL_PROPERTY, Download.CIFAR10_URL.toString()));
        Path target = dir.resolve(fileName);
        if (Files.isDirectory(target)) {
            throw new UserError(choice.how() + ": " + target + " is a folder; the archive cannot be downloaded there");
        }
        System.err.println((choice.isDefault() ? "no local copy of CIFAR-10 found: downloading " : "downloading ")
                + url + " to " + target + " (MD5 checked)");
        TaskProgress progress = TaskProgress.of("download", "MB", json);
        try {
            return Download.fetch(url, expectedMd5, dir, fileName,
                    (bytes, total) -> progress.update(bytes / 1_000_000, total < 0 ? -1 : Math.max(1, total / 1_000_000)));
        } catch (IOException e) {
            String m = e.getMessage();
            throw new UserError(String.format(Locale.ROOT, "%s%s%s", m,
                    m.contains("nothing was kept") ? "" : "; nothing was kept", m.contains("--data") ? ""
                            : "; or point --data or " + DataLocator.ENV + " at a copy of " + Cifar10.ARCHIVE), e);
        } finally {
            progress.finish();
        }
    }
}
