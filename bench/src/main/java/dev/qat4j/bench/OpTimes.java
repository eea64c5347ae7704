package dev.qat4j.bench;

import dev.qat4j.backend.Backend;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Host time of each backend op over {@code n} repetitions of some work (Backend.setOpTimer; cpu and ref ops are
 * synchronous, so host time is op time), printed sorted, per repetition, with what no op accounts for.
 * Output lines: {@code OPS <tag> <op> <ms> ms <share>% <calls> calls}.
 */
final class OpTimes {
    private OpTimes() {
    }

    /**
     * Runs {@code work} n times with the op timer on, then {@code sync}; prints {@code OPS <tag>: } + the header
     * (a format given n and the ms per repetition), one line per op, and the rest under {@code outside}.
     */
    static void measure(Backend b, int n, String tag, String header, String outside, Runnable work, Runnable sync) {
        Map<String, long[]> per = new ConcurrentHashMap<>();
        b.setOpTimer((op, nanos) -> {
            long[] a = per.computeIfAbsent(op.methodName(), k -> new long[2]);
            synchronized (a) {
                a[0] += nanos;
                a[1]++;
            }
        });
        double eachMs;
        try {
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) {
                work.run();
            }
            sync.run();
            eachMs = (System.nanoTime() - t0) / 1e6 / n;
        } finally {
            b.setOpTimer(null);
        }
        System.out.printf(Locale.ROOT, "OPS %s: " + header + "%n", tag, n, eachMs);
        double timed = 0;
        for (var e : per.entrySet().stream()
                .sorted((a1, a2) -> Long.compare(a2.getValue()[0], a1.getValue()[0])).toList()) {
            double ms = e.getValue()[0] / 1e6 / n;
            timed += ms;
            System.out.printf(Locale.ROOT, "OPS %s %-26s %8.1f ms %5.1f%% %5d calls%n", tag, e.getKey(), ms,
                    100 * ms / eachMs, e.getValue()[1] / n);
        }
        System.out.printf(Locale.ROOT, "OPS %s %-26s %8.1f ms %5.1f%%%n", tag, outside, eachMs - timed,
                100 * (eachMs - timed) / eachMs);
    }
}
