package dev.qat4j.data;

/**
 * One mini-batch as a trainer consumes it.
 *
 * @param images  {@code size * c * h * w} floats, NCHW, normalised ({@code (x/255 - mean[c]) / std[c]}),
 *                augmented when the loader augments
 * @param labels  {@code size} class indices
 * @param size    number of images in this batch (the last batch of an epoch may be smaller than the batch size)
 * @param indices {@code size} indices of the images in the source {@link Dataset} (for debugging, per-sample
 *                statistics and the loader's coverage test)
 */
public record Batch(float[] images, int[] labels, int size, int[] indices) {
    public Batch {
        if (labels.length != size || indices.length != size || size <= 0 || images.length % size != 0) {
            throw new IllegalArgumentException("inconsistent batch: " + images.length + " floats, " + labels.length
                    + " labels, " + indices.length + " indices, size " + size);
        }
    }
}
