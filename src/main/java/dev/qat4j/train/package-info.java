/**
 * Training: the loop of one model on one backend ({@link dev.qat4j.train.Trainer}: shuffled, augmented batches, SGD
 * with the seed's cosine schedule and α² penalty, evaluation), its settings ({@link dev.qat4j.train.TrainConfig}),
 * and a run in an output folder with per-epoch metrics, atomic checkpoints and resume
 * ({@link dev.qat4j.train.TrainingRun}).
 */
package dev.qat4j.train;
