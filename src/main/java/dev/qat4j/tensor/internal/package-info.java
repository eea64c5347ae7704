/**
 * Not API: the parts of {@link dev.qat4j.tensor.Tensor} that only backends use (its constructor, its storage, the
 * quantization-grid mark). {@code ArchitectureTest} allows only the backend packages to use this package; it may change
 * in any release.
 */
package dev.qat4j.tensor.internal;
