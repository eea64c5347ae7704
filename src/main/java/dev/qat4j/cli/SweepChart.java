package dev.qat4j.cli;

import dev.qat4j.integer.IntegerEval;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.CategoryLabelPositions;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.category.DefaultCategoryDataset;

/** The requantization format sweep as a bar chart: integer accuracy and top-1 agreement per format. */
final class SweepChart {
    private SweepChart() {
    }

    static void write(Path png, String title, List<IntegerEval.SweepRow> rows) throws IOException {
        DefaultCategoryDataset d = new DefaultCategoryDataset();
        for (IntegerEval.SweepRow r : rows) {
            if (r.error() == null) {
                d.addValue(100 * r.intAccuracy(), "integer accuracy %", r.format());
                d.addValue(100 * r.agreement(), "top-1 agreement %", r.format());
            }
        }
        JFreeChart chart = ChartFactory.createBarChart("integer model vs requantization format: " + title, "format",
                "%", d, PlotOrientation.VERTICAL, true, false, false);
        chart.getCategoryPlot().getDomainAxis().setCategoryLabelPositions(CategoryLabelPositions.UP_45);
        chart.getCategoryPlot().setBackgroundPaint(java.awt.Color.WHITE);
        chart.getCategoryPlot().setRangeGridlinePaint(java.awt.Color.LIGHT_GRAY);
        ChartUtils.saveChartAsPNG(png.toFile(), chart, 1000, 600);
    }
}
