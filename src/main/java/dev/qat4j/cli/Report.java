package dev.qat4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.qat4j.experiments.ExperimentReport;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.CategoryLabelPositions;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.category.DefaultCategoryDataset;
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
            chart(report, png);
            System.err.println("chart " + png);
        }
        return 0;
    }

    private static void chart(ExperimentReport report, Path png) throws java.io.IOException {
        DefaultCategoryDataset d = new DefaultCategoryDataset();
        for (ExperimentReport.Row r : report.rows()) {
            String label = r.experiment().id() + " (" + r.epochsRun() + "/" + r.experiment().recipe().epochs() + ")";
            if (r.experiment().seedAccuracy() != null) {
                d.addValue(r.experiment().seedAccuracy(), "seed (its recipe, full budget)", label);
            }
            d.addValue(r.bestAccuracy(), "qat4j (best test accuracy)", label);
        }
        JFreeChart chart = ChartFactory.createBarChart("qat4j vs the seed's tables (CIFAR-10 top-1)", "experiment (epochs run / recipe)",
                "top-1 %", d, PlotOrientation.VERTICAL, true, false, false);
        chart.getCategoryPlot().getDomainAxis().setCategoryLabelPositions(CategoryLabelPositions.UP_45);
        chart.getCategoryPlot().setBackgroundPaint(java.awt.Color.WHITE);
        chart.getCategoryPlot().setRangeGridlinePaint(java.awt.Color.LIGHT_GRAY);
        int width = Math.max(800, 90 * report.rows().size() + 300);
        // drawn next to its place and moved in, so an existing chart is replaced whole or not at all
        Path dir = png.toAbsolutePath().getParent();
        Path tmp = java.nio.file.Files.createTempFile(dir, ".report-", ".png.tmp");
        try {
            ChartUtils.saveChartAsPNG(tmp.toFile(), chart, width, 600);
            dev.qat4j.experiments.RunRecord.readableLikeOtherOutputs(tmp);
            java.nio.file.Files.move(tmp, png, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } finally {
            java.nio.file.Files.deleteIfExists(tmp);
        }
    }
}
