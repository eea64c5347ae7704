package dev.qat4j.cli;

import dev.qat4j.data.Cifar10;
import dev.qat4j.data.DataLocator;
import dev.qat4j.data.DataNotFoundException;
import dev.qat4j.data.Download;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;

/** --data / QAT4J_DATA / the cache folder, and --download into the cache (or the --data folder) when missing. */
final class DataOption {
    private DataOption() {
    }

    static Path locate(String data, boolean download) {
        try {
            return DataLocator.resolve(data);
        } catch (DataNotFoundException e) {
            if (!download) {
                throw e;
            }
            Path dir = data != null ? Path.of(data) : Path.of(System.getProperty("user.home")).resolve(DataLocator.DEFAULT_RELATIVE);
            System.err.println("downloading " + Download.CIFAR10_URL + " into " + dir + " (MD5 checked)");
            int[] lastPercent = {-1};
            try {
                return Download.fetch(Download.CIFAR10_URL, Download.CIFAR10_MD5, dir, Cifar10.ARCHIVE, (b, t) -> {
                    int pct = t > 0 ? (int) (100 * b / t) : -1;
                    if (pct != lastPercent[0] && (pct % 5 == 0 || pct < 0)) {
                        lastPercent[0] = pct;
                        System.err.printf(Locale.ROOT, "\r  %5.1f MB%s", b / 1e6, t > 0 ? " of " + t / 1000000 + " MB (" + pct + "%)" : "");
                    }
                });
            } catch (IOException io) {
                throw new DataNotFoundException(e.getMessage() + "\n--download failed: " + io.getMessage());
            } finally {
                System.err.println();
            }
        }
    }
}
