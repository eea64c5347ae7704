package dev.qat4j.predict;

/**
 * One entry of a top-k answer: a class by index and name, with its softmax probability.
 *
 * @param classIndex the class's position in the model's output (0-based)
 * @param className its name as the model file records it
 * @param probability its softmax probability, 0 to 1
 */
public record ClassProbability(int classIndex, String className, float probability) {
}
