package dev.qat4j.cli;

import dev.qat4j.train.Trainer;
import java.util.Locale;

/**
 * A one-line live progress display on stderr (epoch, batch, loss, accuracy, images/s, ETA of the epoch), redrawn in
 * place on a terminal and printed every 10% of an epoch otherwise, plus the per-epoch summary lines.
 */
final class ProgressLine implements Trainer.Listener {
    private final int epochs;
    private final boolean terminal = System.console() != null;
    private int lastDecile = -1;
    private long epochStart;

    ProgressLine(int epochs) {
        this.epochs = epochs;
    }

    @Override
    public void batch(int epoch, int batch, int batches, float loss, double accuracy, double imagesPerSecond) {
        long now = System.nanoTime();
        if (batch == 1) {
            epochStart = now;
        }
        double eta = batch > 1 ? (now - epochStart) / 1e9 / (batch - 1) * (batches - batch) : 0;
        int width = 24, done = (int) ((long) width * batch / batches);
        String bar = "#".repeat(done) + ".".repeat(width - done);
        String line = String.format(Locale.ROOT, "epoch %d/%d [%s] %d/%d  loss %.4f  acc %.2f%%  %.0f img/s  ETA %ds",
                epoch + 1, epochs, bar, batch, batches, loss, 100 * accuracy, imagesPerSecond, Math.round(eta));
        if (terminal) {
            System.err.print("\r" + line);
        } else {
            int decile = 10 * batch / batches;
            if (decile != lastDecile) {
                lastDecile = decile;
                System.err.println(line);
            }
        }
    }

    void line(String s) {
        System.err.println((terminal ? "\r" : "") + s);
        lastDecile = -1;
    }
}
