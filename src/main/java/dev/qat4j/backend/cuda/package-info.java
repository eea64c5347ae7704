/**
 * The {@code cuda} backend: tensors in GPU memory, every op a CUDA kernel of {@code src/main/cuda} queued on one
 * stream. Opt-in ({@link dev.qat4j.backend.cuda.CudaBackend#get()} or {@code QAT4J_BACKEND=cuda}); its libraries are
 * built only with the Maven profile {@code cuda} ({@code -Pcuda}) and ship in the classifier jar
 * {@code dev.qat4j:qat4j:linux-x86_64-cuda}. Without them, a driver or a GPU, {@code CudaBackend.get()} throws an
 * {@link IllegalStateException} that says which.
 */
package dev.qat4j.backend.cuda;
