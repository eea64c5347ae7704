package dev.qat4j.checkpoint;

import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Shape;
import dev.qat4j.tensor.Tensor;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A checkpoint in memory: a model name, a metadata map and an ordered map of named tensors, each a
 * {@link DType}, a shape and a Java array. Immutable: arrays are copied in and copied out, the maps are
 * unmodifiable. Built with {@link #builder(String)}, written and read by {@link CheckpointIO}, filled from and
 * loaded into a model by {@link dev.qat4j.models.ModelState} (the models package, which builds on this one).
 *
 * <h2>Metadata</h2>
 * Keys are non-empty strings; values are {@link String}, {@link Long} or (finite) {@link Double}, exactly what the
 * JSON header can hold: a number written as {@code 3} reads back as {@code Long 3}, {@code 0.1} as
 * {@code Double 0.1} (shortest round-trip form, so every finite double comes back bit for bit). Anything else a
 * trainer wants to keep (RNG state, optimizer settings, the bit-width YAML under {@code "bits"}) goes in as a
 * string.
 *
 * <h2>File format</h2>
 * See {@link CheckpointIO} for the exact byte layout and the guarantees of the atomic write.
 */
public final class Checkpoint {
    /** Largest accepted rank of a tensor (the models use at most 4). */
    public static final int MAX_RANK = 32;

    private final String model;
    private final Map<String, Object> meta;
    private final Map<String, TensorData> tensors;

    private Checkpoint(String model, Map<String, Object> meta, Map<String, TensorData> tensors) {
        this.model = model;
        this.meta = Collections.unmodifiableMap(new LinkedHashMap<>(meta));
        this.tensors = Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
    }

    /**
     * A builder for a checkpoint of {@code model} (non-empty: the name {@link dev.qat4j.models.ModelState#load}
     * checks).
     */
    public static Builder builder(String model) {
        return new Builder(model);
    }

    public String model() {
        return model;
    }

    /** Metadata in insertion (file) order; values are String, Long or Double. Unmodifiable. */
    public Map<String, Object> meta() {
        return meta;
    }

    /** A metadata value as a string (numbers in their JSON form), or null when the key is absent. */
    public String metaString(String key) {
        Object v = meta.get(key);
        return v == null ? null : v.toString();
    }

    /** Tensors by name, in file order. Unmodifiable. */
    public Map<String, TensorData> tensors() {
        return tensors;
    }

    /** The tensor called {@code name}, or null. */
    public TensorData tensor(String name) {
        return tensors.get(name);
    }

    /** Equal model, metadata (same order not required) and tensors (same order, values bit for bit). */
    @Override
    public boolean equals(Object o) {
        return o instanceof Checkpoint c && model.equals(c.model) && meta.equals(c.meta)
            && tensors.equals(c.tensors) && tensors.keySet().stream().toList().equals(c.tensors.keySet().stream().toList());
    }

    @Override
    public int hashCode() {
        return Objects.hash(model, meta, tensors);
    }

    @Override
    public String toString() {
        return "Checkpoint[" + model + ", " + tensors.size() + " tensors, meta " + meta.keySet() + "]";
    }

    static Object checkMetaValue(String key, Object value) {
        if (key == null || key.isEmpty()) {
            throw new IllegalArgumentException("metadata key must be a non-empty string, got " + quote(key));
        }
        if (value instanceof String) {
            return value;
        }
        if (value instanceof Long || value instanceof Integer || value instanceof Short || value instanceof Byte) {
            return ((Number) value).longValue();
        }
        if (value instanceof Double || value instanceof Float) {
            double d = ((Number) value).doubleValue();
            if (!Double.isFinite(d)) {
                throw new IllegalArgumentException("metadata '" + key + "' = " + d
                    + ": JSON has no NaN or infinity (store it as a string)");
            }
            return d;
        }
        throw new IllegalArgumentException("metadata '" + key + "': value must be a String, an integer or a "
            + "floating-point number, got " + (value == null ? "null" : value.getClass().getName()));
    }

    static String quote(String s) {
        return s == null ? "null" : "'" + s + "'";
    }

    /** Collects a checkpoint's parts; refuses a duplicate tensor name or metadata key at once. Not thread-safe. */
    public static final class Builder {
        private final String model;
        private final Map<String, Object> meta = new LinkedHashMap<>();
        private final Map<String, TensorData> tensors = new LinkedHashMap<>();

        private Builder(String model) {
            if (model == null || model.isEmpty()) {
                throw new IllegalArgumentException("checkpoint model name must be a non-empty string, got "
                    + quote(model));
            }
            this.model = model;
        }

        /** Adds a metadata entry; the value is a String, an integer type or a finite float/double. */
        public Builder meta(String key, Object value) {
            Object v = checkMetaValue(key, value);
            if (meta.containsKey(key)) {
                throw new IllegalArgumentException("duplicate metadata key '" + key + "'");
            }
            meta.put(key, v);
            return this;
        }

        /** Adds every entry of {@code entries} (in its iteration order) as {@link #meta(String, Object)}. */
        public Builder meta(Map<String, ?> entries) {
            Objects.requireNonNull(entries, "metadata map");
            for (Map.Entry<String, ?> e : entries.entrySet()) {
                meta(e.getKey(), e.getValue());
            }
            return this;
        }

        /** Adds a copy of {@code t}'s values (read from its backend), with its dtype and shape. */
        public Builder add(String name, Tensor t) {
            Objects.requireNonNull(t, "tensor " + quote(name));
            t.checkOpen("checkpoint tensor " + quote(name));
            return add(name, switch (t.dtype()) {
                case FLOAT32 -> new TensorData(DType.FLOAT32, t.shape(), t.toFloatArray());
                case INT8, UINT8 -> new TensorData(t.dtype(), t.shape(), t.toByteArray());
                case INT32 -> new TensorData(DType.INT32, t.shape(), t.toIntArray());
            });
        }

        public Builder addFloats(String name, float[] data, int... shape) {
            return add(name, TensorData.ofFloats(data, shape));
        }

        /** INT8 or UINT8 data as raw bytes (UINT8 255 is {@code (byte) -1}). */
        public Builder addBytes(String name, DType dtype, byte[] data, int... shape) {
            return add(name, TensorData.ofBytes(dtype, data, shape));
        }

        public Builder addInts(String name, int[] data, int... shape) {
            return add(name, TensorData.ofInts(data, shape));
        }

        /** Adds a tensor (immutable, so shared rather than copied), e.g. one taken from another checkpoint. */
        public Builder add(String name, TensorData data) {
            if (name == null || name.isEmpty()) {
                throw new IllegalArgumentException("tensor name must be a non-empty string, got " + quote(name));
            }
            Objects.requireNonNull(data, "tensor data of " + quote(name));
            if (tensors.containsKey(name)) {
                throw new IllegalArgumentException("duplicate tensor name '" + name + "'");
            }
            tensors.put(name, data);
            return this;
        }

        public Checkpoint build() {
            return new Checkpoint(model, meta, tensors);
        }
    }

    /**
     * One tensor's dtype, shape and values. Immutable: the factories copy their arrays and the accessors return
     * copies. FLOAT32 values are kept bit for bit (NaN payloads and signed zeros included).
     */
    public static final class TensorData {
        private final DType dtype;
        private final int[] shape;
        private final int numel;
        private final Object data; // float[] | byte[] | int[], owned

        /** Takes ownership of {@code data} (callers pass a fresh or copied array). */
        TensorData(DType dtype, int[] shape, Object data) {
            this.dtype = Objects.requireNonNull(dtype, "dtype");
            if (shape == null) {
                throw new IllegalArgumentException("shape is null");
            }
            if (shape.length > MAX_RANK) {
                throw new IllegalArgumentException("rank " + shape.length + " is over the limit of " + MAX_RANK);
            }
            this.shape = shape.clone();
            this.numel = Shape.numel(shape);
            int length = switch (dtype) {
                case FLOAT32 -> data instanceof float[] f ? f.length : -1;
                case INT8, UINT8 -> data instanceof byte[] b ? b.length : -1;
                case INT32 -> data instanceof int[] i ? i.length : -1;
            };
            if (length < 0) {
                throw new IllegalArgumentException(dtype + " data must be a non-null "
                    + (dtype == DType.FLOAT32 ? "float[]" : dtype == DType.INT32 ? "int[]" : "byte[]"));
            }
            if (length != numel) {
                throw new IllegalArgumentException("data has " + length + " elements but shape "
                    + Shape.str(shape) + " needs " + numel);
            }
            this.data = data;
        }

        public static TensorData ofFloats(float[] data, int... shape) {
            return new TensorData(DType.FLOAT32, shape, data == null ? null : data.clone());
        }

        /** INT8 or UINT8 data as raw bytes. */
        public static TensorData ofBytes(DType dtype, byte[] data, int... shape) {
            if (dtype == null || !dtype.isByte()) {
                throw new IllegalArgumentException("byte data must be INT8 or UINT8, got " + dtype);
            }
            return new TensorData(dtype, shape, data == null ? null : data.clone());
        }

        public static TensorData ofInts(int[] data, int... shape) {
            return new TensorData(DType.INT32, shape, data == null ? null : data.clone());
        }

        public DType dtype() {
            return dtype;
        }

        /** A copy of the shape. */
        public int[] shape() {
            return shape.clone();
        }

        public int numel() {
            return numel;
        }

        /** Bytes the values take in a checkpoint file: numel x dtype size. */
        public long byteLength() {
            return (long) numel * dtype.byteSize();
        }

        /** A copy of the values of a FLOAT32 tensor. */
        public float[] floats() {
            return rawFloats().clone();
        }

        /** A copy of the raw bytes of an INT8 or UINT8 tensor. */
        public byte[] bytes() {
            return rawBytes().clone();
        }

        /** A copy of the values of an INT32 tensor. */
        public int[] ints() {
            return rawInts().clone();
        }

        float[] rawFloats() {
            require(dtype == DType.FLOAT32, "floats()");
            return (float[]) data;
        }

        byte[] rawBytes() {
            require(dtype.isByte(), "bytes()");
            return (byte[]) data;
        }

        int[] rawInts() {
            require(dtype == DType.INT32, "ints()");
            return (int[]) data;
        }

        private void require(boolean ok, String what) {
            if (!ok) {
                throw new IllegalStateException(what + " of a " + dtype + " tensor");
            }
        }

        /** Same dtype, shape and values bit for bit (so NaN equals the same NaN and -0 differs from +0). */
        @Override
        public boolean equals(Object o) {
            if (!(o instanceof TensorData t) || dtype != t.dtype || !Arrays.equals(shape, t.shape)) {
                return false;
            }
            return switch (dtype) {
                case FLOAT32 -> {
                    float[] a = (float[]) data;
                    float[] b = (float[]) t.data;
                    for (int i = 0; i < a.length; i++) {
                        if (Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(b[i])) {
                            yield false;
                        }
                    }
                    yield true;
                }
                case INT8, UINT8 -> Arrays.equals((byte[]) data, (byte[]) t.data);
                case INT32 -> Arrays.equals((int[]) data, (int[]) t.data);
            };
        }

        @Override
        public int hashCode() {
            int h = 31 * dtype.hashCode() + Arrays.hashCode(shape);
            return switch (dtype) {
                case FLOAT32 -> {
                    for (float f : (float[]) data) {
                        h = 31 * h + Float.floatToRawIntBits(f);
                    }
                    yield h;
                }
                case INT8, UINT8 -> 31 * h + Arrays.hashCode((byte[]) data);
                case INT32 -> 31 * h + Arrays.hashCode((int[]) data);
            };
        }

        @Override
        public String toString() {
            return dtype + Shape.str(shape);
        }
    }
}
