package dev.qat4j.cli;

import dev.qat4j.experiments.ExperimentReport;
import java.nio.file.Path;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.CategoryLabelPositions;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.category.DefaultCategoryDataset;

/**
 * {@code qat4j report --png}: the seed's and qat4j's accuracy per experiment as a bar chart. Its own class, as
 * {@link CurvesPlot} and {@link SweepChart}: a command class that calls java.awt inline cannot even be loaded (its
 * bytecode is verified against java.awt types) on a runtime without java.desktop, such as the jlink'ed one of
 * bench/gpu-kit.sh, and picocli loads every command to parse any of them.
 */
final class ReportChart {
    private ReportChart() {
    }

    static void write(ExperimentReport report, Path png) throws java.io.IOException {
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
