package dev.qat4j.cli;

import java.util.Locale;

/**
 * Progress of a long step other than training (evaluation, the format sweep, a download) on stderr, drawn like
 * {@link ProgressLine}'s bar and redrawn in place. Quiet with {@code --json} and when the console is not a terminal
 * (a log file would fill with redraws); the system property {@value #PROPERTY}{@code =always} forces it on (tests).
 */
final class TaskProgress {
    static final String PROPERTY = "qat4j.progress";
    private final boolean on;
    private final String task;
    private final String unit;
    private final long start = System.nanoTime();
    private long lastDraw;
    private int lastLength;
    private boolean drawn;
    private boolean ended; // the bar reached its total: later updates (the rest of a download's last MB) draw nothing

    private TaskProgress(boolean on, String task, String unit) {
        this.on = on;
        this.task = task;
        this.unit = unit;
    }

    /** A display for {@code task} counting {@code unit}s; silent when {@code json} or stderr is not a terminal. */
    static TaskProgress of(String task, String unit, boolean json) {
        boolean forced = "always".equals(System.getProperty(PROPERTY));
        return new TaskProgress(!json && (forced || System.console() != null), task, unit);
    }

    boolean on() {
        return on;
    }

    /** {@code done} of {@code total} units (total -1: unknown); redraws at most 10 times a second and at the end. */
    void update(long done, long total) {
        if (!on || ended) {
            return;
        }
        long now = System.nanoTime();
        boolean last = total > 0 && done >= total;
        if (drawn && !last && now - lastDraw < 100_000_000L) {
            return;
        }
        lastDraw = now;
        drawn = true;
        String line;
        if (total > 0) {
            double elapsed = (now - start) / 1e9;
            double eta = done > 0 ? elapsed / done * (total - done) : 0;
            int width = 24, filled = (int) (width * Math.min(done, total) / total);
            line = String.format(Locale.ROOT, "%s [%s] %d/%d %s  %ds  ETA %ds", task,
                    "#".repeat(filled) + ".".repeat(width - filled), done, total, unit, Math.round(elapsed),
                    Math.round(eta));
        } else {
            line = String.format(Locale.ROOT, "%s %d %s", task, done, unit);
        }
        // spaces over the rest of a longer previous line (an ETA that lost a digit)
        System.err.print("\r" + line + " ".repeat(Math.max(0, lastLength - line.length())));
        lastLength = line.length();
        if (last) {
            System.err.println();
            drawn = false;
            ended = true;
        }
    }

    /** Ends the line if a bar is still open (an error or an unknown total). */
    void finish() {
        if (on && drawn) {
            System.err.println();
            drawn = false;
        }
    }

    /** A step without a count ("converting", "writing ONNX"): one line when on. */
    void phase(String what) {
        if (on) {
            System.err.println(task + ": " + what);
        }
    }
}
