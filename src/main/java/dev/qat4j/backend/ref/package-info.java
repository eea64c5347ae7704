/**
 * The reference backend: tensors are Java arrays and every op is a plain loop in
 * {@link dev.qat4j.backend.ref.RefKernels}, written to be read. It is the oracle every other backend is tested against
 * and the fallback when no native library loads; it needs no native code at all.
 */
package dev.qat4j.backend.ref;
