/**
 * Exports of an {@link dev.qat4j.integer.IntegerModel}: raw blobs with a {@code manifest.json}
 * ({@link dev.qat4j.integer.export.BlobExport}), a C99 golden model ({@link dev.qat4j.integer.export.CGoldenExport})
 * and ONNX in QDQ form ({@link dev.qat4j.integer.export.OnnxExport}). Every export is checked first
 * ({@link dev.qat4j.integer.export.ExportPlan}) and written all at once. The ONNX export needs
 * {@code com.google.protobuf:protobuf-java}, an optional dependency the application declares itself.
 */
package dev.qat4j.integer.export;
