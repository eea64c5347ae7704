/**
 * Quantized classification networks: {@link dev.qat4j.models.QuantModel} (built from {@code nn} parts),
 * {@link dev.qat4j.models.Models} (the seed's ToyNet, MobileNetV2 and ResNet20 with their exact parameter and MADD
 * counts), per-layer bit widths with the seed's presets and files ({@link dev.qat4j.models.BitWidths}), an input's
 * shape, normalisation and class names ({@link dev.qat4j.models.InputSpec}), and a model's state as a checkpoint
 * ({@link dev.qat4j.models.ModelState}).
 */
package dev.qat4j.models;
