package dev.qat4j.checkpoint;

import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Shape;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What {@link CheckpointIO#readHeader} reads: the format version, model name, metadata and tensor table of a
 * checkpoint file, already validated against the file's size (every tensor fits, the table is contiguous), without
 * reading the tensor data. The checksum covers the data too, so it is <em>not</em> verified here; use
 * {@link CheckpointIO#read} for that. Immutable.
 */
public final class CheckpointHeader {
    private final int version;
    private final String model;
    private final Map<String, Object> meta;
    private final List<TensorInfo> tensors;
    private final long headerLength;
    private final long fileSize;

    CheckpointHeader(int version, String model, Map<String, Object> meta, List<TensorInfo> tensors,
                     long headerLength, long fileSize) {
        this.version = version;
        this.model = model;
        this.meta = Collections.unmodifiableMap(new LinkedHashMap<>(meta));
        this.tensors = List.copyOf(tensors);
        this.headerLength = headerLength;
        this.fileSize = fileSize;
    }

    /** The format version (the u32 after the magic, equal to the header's {@code format}). */
    public int version() {
        return version;
    }

    public String model() {
        return model;
    }

    /** Metadata in file order; values are String, Long or Double. */
    public Map<String, Object> meta() {
        return meta;
    }

    /** The tensor table in file order. */
    public List<TensorInfo> tensors() {
        return tensors;
    }

    /** H: the length in bytes of the JSON header (padding included). */
    public long headerLength() {
        return headerLength;
    }

    /** Absolute file offset of the data section: {@code 20 + H}. */
    public long dataOffset() {
        return CheckpointIO.PREAMBLE_BYTES + headerLength;
    }

    /** Total bytes of tensor data. */
    public long dataLength() {
        return fileSize - dataOffset() - CheckpointIO.CRC_BYTES;
    }

    public long fileSize() {
        return fileSize;
    }

    /** One entry of the tensor table. Offsets are relative to the data section. */
    public static final class TensorInfo {
        private final String name;
        private final DType dtype;
        private final int[] shape;
        private final int numel;
        private final long offset;
        private final long length;

        TensorInfo(String name, DType dtype, int[] shape, int numel, long offset, long length) {
            this.name = name;
            this.dtype = dtype;
            this.shape = shape.clone();
            this.numel = numel;
            this.offset = offset;
            this.length = length;
        }

        public String name() {
            return name;
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

        /** Offset of the first byte, relative to the start of the data section. */
        public long offset() {
            return offset;
        }

        /** Bytes: numel x dtype size. */
        public long length() {
            return length;
        }

        @Override
        public String toString() {
            return name + " " + dtype + Shape.str(shape) + " @" + offset + "+" + length;
        }
    }
}
