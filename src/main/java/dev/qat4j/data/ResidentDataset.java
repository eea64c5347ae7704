package dev.qat4j.data;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Results.ImageBatch;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Tensor;
import java.util.Objects;

/**
 * A uint8 {@link Dataset} copied once into a backend's memory (on cuda: the GPU's), with its labels and the
 * normalisation table, so that training and evaluation assemble every batch there ({@link Backend#augmentBatch})
 * instead of normalising images on the host and copying them in for every step. A batch made from a
 * {@link BatchLoader.BatchPlan} holds exactly the floats {@link BatchLoader#next()} makes for that plan
 * ({@code ResidentDatasetTest}).
 *
 * <p>CIFAR-10's 50,000 training images take 154 MB on the backend. Close it to give the memory back.
 */
public final class ResidentDataset implements AutoCloseable {
    private final Dataset data;
    private final Backend backend;
    private final Tensor images;
    private final Tensor labels;
    private final Tensor table;

    private ResidentDataset(Dataset data, Backend backend, Tensor images, Tensor labels, Tensor table) {
        this.data = data;
        this.backend = backend;
        this.images = images;
        this.labels = labels;
        this.table = table;
    }

    /** Whether {@code data} can be kept on a backend: uint8 pixels (float data sets use {@link BatchLoader}). */
    public static boolean supports(Dataset data) {
        return !data.isFloat();
    }

    /**
     * Copies {@code data} and {@code normalization}'s table to {@code backend}.
     *
     * @throws IllegalArgumentException for float pixels, an empty data set, or a normalisation of another channel count
     */
    public static ResidentDataset upload(Backend backend, Dataset data, Normalization normalization) {
        Objects.requireNonNull(backend, "backend");
        Objects.requireNonNull(data, "data");
        Objects.requireNonNull(normalization, "normalization");
        if (!supports(data)) {
            throw new IllegalArgumentException(data.name() + " has float pixels: only uint8 data sets can be kept on "
                    + "the backend (BatchLoader makes batches of float data)");
        }
        if (data.size() == 0) {
            throw new IllegalArgumentException(data.name() + " is empty: nothing to keep on the backend");
        }
        if (normalization.channels() != data.channels()) {
            throw new IllegalArgumentException("normalisation has " + normalization.channels() + " channels but "
                    + data.name() + " has " + data.channels());
        }
        int n = data.size(), is = data.imageSize();
        if ((long) n * is > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(data.name() + ": " + n + " images of " + is
                    + " bytes do not fit one array (2 GiB)");
        }
        byte[] pixels = new byte[n * is];
        int[] classes = new int[n];
        for (int i = 0; i < n; i++) {
            data.copyImage(i, pixels, i * is);
            classes[i] = data.label(i);
        }
        int c = data.channels();
        float[] lookup = new float[c * 256];
        for (int ch = 0; ch < c; ch++) {
            for (int v = 0; v < 256; v++) {
                lookup[ch * 256 + v] = normalization.apply(ch, v);
            }
        }
        Tensor images = null, labels = null;
        try {
            images = backend.fromBytes(pixels, DType.UINT8, n, c, data.height(), data.width());
            labels = backend.fromInts(classes, n);
            Tensor table = backend.fromFloats(lookup, c, 256);
            return new ResidentDataset(data, backend, images, labels, table);
        } catch (RuntimeException | Error e) {
            if (images != null) {
                images.close();
            }
            if (labels != null) {
                labels.close();
            }
            throw e;
        }
    }

    /** The host data set this copy was made from. */
    public Dataset data() {
        return data;
    }

    public Backend backend() {
        return backend;
    }

    /** The batch {@code plan} describes, assembled on the backend: FLOAT32 images [n,c,h,w] and INT32 labels [n]. */
    public ImageBatch batch(BatchLoader.BatchPlan plan) {
        return backend.augmentBatch(images, labels, plan.index(), plan.top(), plan.left(), plan.flip(), plan.padding(),
                table);
    }

    @Override
    public void close() {
        images.close();
        labels.close();
        table.close();
    }
}
