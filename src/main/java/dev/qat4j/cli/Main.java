package dev.qat4j.cli;

import dev.qat4j.Version;
import dev.qat4j.backend.Backends;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code qat4j} command line. Every command validates its options before any work and throws on a problem;
 * {@link ErrorPolicy} turns what it throws into the exit code and one line on stderr.
 */
@Command(name = "qat4j", mixinStandardHelpOptions = true, versionProvider = Main.VersionProvider.class,
        description = "Quantization-aware training and bit-exact integer inference of small CNNs.",
        subcommands = {Main.Info.class, Summary.class, Experiments.class, Train.class, Eval.class, Convert.class, IntEval.class, Export.class,
            Report.class, CommandLine.HelpCommand.class})
public final class Main implements Callable<Integer> {

    /** JavaCPP's cap on native memory (a system property read once, when its Pointer class loads). */
    static final String NATIVE_MEMORY_CAP = "org.bytedeco.javacpp.maxBytes";

    public static void main(String[] args) {
        allowNativeMemoryUpToPhysicalMemory();
        System.exit(run(args));
    }

    /**
     * JavaCPP caps native memory at the Java heap's maximum, a quarter of the RAM by default, while the cpu backend keeps
     * tensors in native memory: a MobileNetV2 step at the seed's batch 128 needs more than that. The command line
     * raises the cap to the physical memory unless the user set it ({@code -Dorg.bytedeco.javacpp.maxBytes=...}).
     * Library users keep JavaCPP's default.
     */
    static void allowNativeMemoryUpToPhysicalMemory() {
        if (System.getProperty(NATIVE_MEMORY_CAP) != null) {
            return;
        }
        try {
            long physical = ((com.sun.management.OperatingSystemMXBean)
                    java.lang.management.ManagementFactory.getOperatingSystemMXBean()).getTotalMemorySize();
            if (physical > 0) {
                System.setProperty(NATIVE_MEMORY_CAP, Long.toString(physical));
            }
        } catch (LinkageError | RuntimeException e) { // a runtime without jdk.management: keep JavaCPP's default
        }
    }

    @CommandLine.Option(names = ErrorPolicy.VERBOSE, scope = CommandLine.ScopeType.INHERIT,
            description = "on an error, also print the stack trace (default off)")
    boolean verbose;

    /** Runs the CLI and returns its exit code (tests call this instead of main). Errors go by {@link ErrorPolicy}. */
    public static int run(String... args) {
        ErrorPolicy policy = new ErrorPolicy();
        CommandLine cl = new CommandLine(new Main());
        cl.setParameterExceptionHandler(policy);
        cl.setExecutionExceptionHandler(policy);
        for (CommandLine sub : cl.getSubcommands().values()) { // -V on a command prints the version too
            sub.getCommandSpec().versionProvider(new VersionProvider());
        }
        try {
            return cl.execute(args);
        } catch (Throwable t) { // an Error (out of memory, say) that picocli lets through
            return ErrorPolicy.report(t, "qat4j", java.util.Arrays.asList(args).contains(ErrorPolicy.VERBOSE));
        }
    }

    @Override
    public Integer call() {
        new CommandLine(this).usage(System.out);
        return 0;
    }

    static final class VersionProvider implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"qat4j " + Version.get()};
        }
    }

    @Command(name = "info", mixinStandardHelpOptions = true,
            description = "Print the version, the chosen backend, the CPU features, threads and whether CUDA is usable.")
    static final class Info implements Callable<Integer> {
        @Override
        public Integer call() {
            Backends.Selection sel;
            try {
                sel = Backends.selection();
            } catch (RuntimeException e) { // e.g. QAT4J_BACKEND names a backend that does not exist or load
                throw new UserError(e.getMessage(), e);
            }
            System.out.println("qat4j " + Version.get());
            System.out.println("java:       " + System.getProperty("java.vm.name") + " " + System.getProperty("java.version"));
            for (Backends.Diagnostic d : Backends.diagnostics(sel)) {
                System.out.println(String.format("%-12s", d.label().isEmpty() ? "" : d.label() + ":") + d.value());
            }
            return 0;
        }
    }
}
