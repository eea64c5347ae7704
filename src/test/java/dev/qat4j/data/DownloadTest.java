package dev.qat4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Downloads from a local HTTP server: verified files appear atomically, corrupt ones leave nothing. */
class DownloadTest {
    private HttpServer server;
    private final byte[] payload = new byte[300_000];
    private String md5;

    @BeforeEach
    void start() throws Exception {
        new SplittableRandom(3).nextBytes(payload);
        md5 = HexFormat.of().formatHex(java.security.MessageDigest.getInstance("MD5").digest(payload));
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/data.tar.gz", ex -> {
            ex.sendResponseHeaders(200, payload.length);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(payload);
            }
        });
        server.createContext("/missing", ex -> {
            ex.sendResponseHeaders(404, -1);
            ex.close();
        });
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private URI url(String path) {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + path);
    }

    private static List<Path> files(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return new ArrayList<>(s.toList());
        }
    }

    @Test
    void aVerifiedDownloadAppearsUnderItsName(@TempDir Path dir) throws Exception {
        List<long[]> updates = new ArrayList<>();
        Path p = Download.fetch(url("/data.tar.gz"), md5, dir, "data.tar.gz", (b, t) -> updates.add(new long[] {b, t}));
        assertArrayEquals(payload, Files.readAllBytes(p));
        assertEquals(List.of(p), files(dir), "no temp file left");
        long[] last = updates.get(updates.size() - 1);
        assertEquals(payload.length, last[0]);
        assertEquals(payload.length, last[1], "progress knows the total");
        // A second call finds the verified file and does not download again.
        updates.clear();
        Download.fetch(url("/data.tar.gz"), md5, dir, "data.tar.gz", (b, t) -> updates.add(new long[] {b, t}));
        assertTrue(updates.isEmpty());
    }

    @Test
    void aWrongChecksumKeepsNothing(@TempDir Path dir) throws Exception {
        IOException e = assertThrows(IOException.class,
                () -> Download.fetch(url("/data.tar.gz"), "0".repeat(32), dir, "data.tar.gz", null));
        assertTrue(e.getMessage().contains("corrupt") && e.getMessage().contains(md5), e.getMessage());
        assertTrue(files(dir).isEmpty(), "nothing kept: " + files(dir));
    }

    @Test
    void aFailedDownloadRemovesTheFoldersItCreated(@TempDir Path dir) throws Exception {
        Path deep = dir.resolve("a/b/c");
        assertThrows(IOException.class, () -> Download.fetch(url("/missing"), md5, deep, "data.tar.gz", null));
        assertThrows(IOException.class,
                () -> Download.fetch(url("/data.tar.gz"), "0".repeat(32), deep, "data.tar.gz", null));
        assertTrue(files(dir).isEmpty() && !Files.exists(dir.resolve("a")), "no folder left: " + files(dir));
        Files.createDirectories(dir.resolve("a"));
        assertThrows(IOException.class, () -> Download.fetch(url("/missing"), md5, deep, "data.tar.gz", null));
        assertTrue(Files.isDirectory(dir.resolve("a")) && !Files.exists(dir.resolve("a/b")), "a folder that was there stays");
    }

    @Test
    void httpErrorsAndUnreachableHostsAreClear(@TempDir Path dir) {
        IOException e = assertThrows(IOException.class, () -> Download.fetch(url("/missing"), md5, dir, "x", null));
        assertTrue(e.getMessage().contains("HTTP 404"), e.getMessage());
        server.stop(0);
        e = assertThrows(IOException.class, () -> Download.fetch(url("/data.tar.gz"), md5, dir, "x", null));
        assertTrue(e.getMessage().contains("cannot download") && e.getMessage().contains("--data"), e.getMessage());
    }
}
