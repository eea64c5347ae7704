/**
 * Image data: an immutable labelled uint8 image set ({@link dev.qat4j.data.Dataset}), CIFAR-10 read straight from the
 * official archive or its folder ({@link dev.qat4j.data.Cifar10}), the IDX format of MNIST and Fashion-MNIST, where the
 * data is found ({@link dev.qat4j.data.DataLocator}) and its verified download, the seed's normalisation and
 * augmentation, and background batch preparation ({@link dev.qat4j.data.BatchLoader}).
 */
package dev.qat4j.data;
