/**
 * The {@code qat4j} command line ({@link dev.qat4j.cli.Main}: {@code train}, {@code eval}, {@code convert},
 * {@code int-eval}, {@code export}, {@code summary}, {@code experiments}, {@code report}, {@code info}), run from the
 * shaded jar {@code target/qat4j.jar}. Not a library API: it alone uses the optional dependencies picocli and
 * JFreeChart, which an application depending on {@code dev.qat4j:qat4j} does not get.
 */
package dev.qat4j.cli;
