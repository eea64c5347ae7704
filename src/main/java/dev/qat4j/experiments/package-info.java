/**
 * The seed's CIFAR-10 experiments as data ({@link dev.qat4j.experiments.SeedExperiments}: each row's network,
 * recipe and reported accuracy), what a run was asked to do ({@link dev.qat4j.experiments.RunRecord}) and qat4j's
 * results next to the seed's ({@link dev.qat4j.experiments.ExperimentReport}).
 */
package dev.qat4j.experiments;
