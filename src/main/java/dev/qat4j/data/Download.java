package dev.qat4j.data;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;

/**
 * Fetches a dataset archive over HTTP(S) into a folder, checking its published MD5 while it streams. The file appears
 * under its final name only when complete and verified (temp file, fsync, atomic rename); a failed or corrupt
 * download leaves nothing behind, not even the folders it had to create.
 */
public final class Download {
    /** The official CIFAR-10 binary archive and the MD5 its authors publish on https://www.cs.toronto.edu/~kriz/cifar.html. */
    public static final URI CIFAR10_URL = URI.create("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz");
    public static final String CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530";

    /** Called as bytes arrive; {@code total} is -1 when the server does not say. */
    public interface Progress {
        void update(long bytes, long total);
    }

    private Download() {
    }

    /** Downloads {@code url} to {@code dir/fileName} unless a file with the right MD5 is already there; returns it. */
    public static Path fetch(URI url, String md5, Path dir, String fileName, Progress progress) throws IOException {
        Path target = dir.resolve(fileName);
        if (Files.exists(target) && md5(target).equalsIgnoreCase(md5)) {
            return target;
        }
        Path firstCreated = firstMissing(dir.toAbsolutePath().normalize());
        Files.createDirectories(dir);
        boolean done = false;
        try {
            Path p = download(url, md5, dir, fileName, target, progress);
            done = true;
            return p;
        } finally {
            if (!done && firstCreated != null) {
                removeEmptyFolders(dir.toAbsolutePath().normalize(), firstCreated);
            }
        }
    }

    /** The outermost folder of {@code dir}'s path that does not exist yet (null: all exist). */
    private static Path firstMissing(Path dir) {
        Path missing = null;
        for (Path p = dir; p != null && !Files.exists(p); p = p.getParent()) {
            missing = p;
        }
        return missing;
    }

    /** Deletes {@code dir} and its parents up to {@code top}, each only while empty (what this download created). */
    private static void removeEmptyFolders(Path dir, Path top) {
        for (Path p = dir; p != null && p.startsWith(top); p = p.getParent()) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) { // not empty (someone else wrote there) or not ours to delete: keep it
                return;
            }
        }
    }

    private static Path download(URI url, String md5, Path dir, String fileName, Path target, Progress progress)
            throws IOException {
        HttpClient client = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NORMAL)
                .connectTimeout(Duration.ofSeconds(20)).build();
        HttpResponse<InputStream> response;
        try {
            response = client.send(HttpRequest.newBuilder(url).GET().build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("download of " + url + " interrupted", e);
        } catch (IOException e) {
            throw new IOException("cannot download " + url + ": " + (e.getMessage() != null ? e.getMessage() : e.toString())
                    + " (offline? put the archive in " + dir + " yourself, or pass --data)", e);
        }
        if (response.statusCode() != 200) {
            response.body().close();
            throw new IOException("cannot download " + url + ": HTTP " + response.statusCode());
        }
        long total = response.headers().firstValueAsLong("Content-Length").orElse(-1);
        Path tmp = Files.createTempFile(dir, "." + fileName, ".part");
        try {
            MessageDigest digest = newMd5();
            try (InputStream in = response.body();
                 FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE);
                 OutputStream out = java.nio.channels.Channels.newOutputStream(ch)) {
                byte[] buf = new byte[1 << 16];
                long done = 0;
                for (int n; (n = in.read(buf)) > 0; ) {
                    out.write(buf, 0, n);
                    digest.update(buf, 0, n);
                    done += n;
                    if (progress != null) {
                        progress.update(done, total);
                    }
                }
                out.flush();
                ch.force(true);
            }
            String got = HexFormat.of().formatHex(digest.digest());
            if (!got.equalsIgnoreCase(md5)) {
                throw new IOException("download of " + url + " is corrupt: MD5 " + got + ", expected " + md5
                        + "; nothing was kept");
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return target;
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** The MD5 of a file, as lowercase hex. */
    public static String md5(Path file) throws IOException {
        MessageDigest digest = newMd5();
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) {
                digest.update(buf, 0, n);
            }
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    private static MessageDigest newMd5() {
        try {
            return MessageDigest.getInstance("MD5");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no MD5", e);
        }
    }
}
