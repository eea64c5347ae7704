/**
 * The only door to numerical work: {@link dev.qat4j.backend.Backend} validates every op's arguments and routes it
 * once to a backend's own kernel or, where a backend lacks one, to the reference backend
 * ({@link dev.qat4j.backend.ReferenceFallback}). {@link dev.qat4j.backend.Backends} picks the backend
 * ({@code QAT4J_BACKEND=ref|cpu|cuda}, else the best that loads, logging why); {@link dev.qat4j.backend.Op} is the one
 * list of ops that timing, the conformance tests and the benchmarks share. The implementations live in the
 * sub-packages {@code ref}, {@code cpu} and {@code cuda}.
 */
package dev.qat4j.backend;
