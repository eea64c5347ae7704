/**
 * Inference for applications: {@link dev.qat4j.predict.Predictor} loads a trained float model (a training
 * checkpoint, {@code .qck}) or an integer model ({@code .qim}) from a file, a stream, a byte array or a classpath
 * resource, applies the input shape, normalisation and class names the file records, and returns
 * {@link dev.qat4j.predict.Predictions} (logits, probabilities, top-k). {@link dev.qat4j.predict.ModelFiles} is the
 * one loading path from a checkpoint container to a model; the command line uses it too.
 */
package dev.qat4j.predict;
