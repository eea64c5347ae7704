package dev.qat4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.qat4j.experiments.ExperimentReport;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code qat4j report}: qat4j's accuracy next to the seed's, one row per finished experiment run. */
@Command(name = "report", mixinStandardHelpOptions = true,
        description = {"Compare finished `train --experiment` runs with the seed's tables: experiment, the seed's "
            + "accuracy, qat4j's best and final test accuracy, the difference (best - seed), epochs run of the "
            + "recipe's, test images.", "Refused (exit 2, nothing written): a folder that is not an experiment run, "
            + "an unfinished run, a run of an experiment defined differently from today's table."},
        exitCodeListHeading = "Exit codes:%n", exitCodeList = {"0:done", "1:internal error (a bug; --verbose prints "
            + "the stack trace)", "2:bad run folder or option, or a --png that exists"})
final class Report implements Callable<Integer> {
    @Parameters(arity = "1..*", paramLabel = "RUN_DIR", description = "run folders written by `qat4j train "
            + "--experiment` (at least one)")
    List<Path> runs;
    @Option(names = "--json", description = "the rows as a JSON array on stdout (default off)")
    boolean json;
    @Option(names = "--png", paramLabel = "FILE", description = "also draw the seed's and qat4j's accuracy per "
            + "experiment (default: no chart)")
    Path png;
    @Option(names = "--overwrite", description = "replace an existing --png file (default off: refused)")
    boolean overwrite;

    @Override
    public Integer call() throws Exception {
        if (png != null) {
            if (!png.toString().toLowerCase(java.util.Locale.ROOT).endsWith(".png")) {
                throw new UserError("--png " + png + ": the chart file must end in .png");
            }
            Checks.outputFile("--png", png, overwrite, "--overwrite");
        }
        ExperimentReport report = ExperimentReport.of(runs);
        if (json) {
            System.out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(report.toJson()));
        } else {
            System.out.print(report.toText());
        }
        if (png != null) {
            try {
                ReportChart.write(report, png);
                System.err.println("chart " + png);
            } catch (LinkageError e) { // a runtime without java.desktop (AWT), e.g. bench/gpu-kit.sh's
                System.err.println("chart not written (" + e + "): this Java runtime has no java.desktop");
            }
        }
        return 0;
    }
}
