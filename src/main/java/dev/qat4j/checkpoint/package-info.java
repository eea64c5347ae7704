/**
 * Checkpoints: a versioned binary file format for named tensors plus metadata that loads without executing
 * anything ({@link dev.qat4j.checkpoint.CheckpointIO}, whose Javadoc gives the exact byte layout and what the
 * atomic write guarantees) and its in-memory form ({@link dev.qat4j.checkpoint.Checkpoint}). It depends only on
 * {@code tensor} (the dtypes): the glue to a model ({@link dev.qat4j.models.ModelState}) lives with the models.
 */
package dev.qat4j.checkpoint;
