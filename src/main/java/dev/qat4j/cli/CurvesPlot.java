package dev.qat4j.cli;

import dev.qat4j.train.TrainingRun;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.CombinedDomainXYPlot;
import org.jfree.chart.plot.XYPlot;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/** The loss and accuracy curves of a run as one PNG (two stacked plots sharing the epoch axis). */
final class CurvesPlot {
    private CurvesPlot() {
    }

    /** Every epoch of a run folder's metrics.jsonl (a resumed run's earlier epochs included). */
    static List<TrainingRun.EpochRecord> readMetrics(Path metrics) throws IOException {
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        List<TrainingRun.EpochRecord> out = new java.util.ArrayList<>();
        for (String line : java.nio.file.Files.readAllLines(metrics)) {
            if (line.isBlank()) {
                continue;
            }
            com.fasterxml.jackson.databind.JsonNode n = json.readTree(line);
            out.add(new TrainingRun.EpochRecord(n.get("epoch").asInt(), (float) n.get("lr").asDouble(),
                    n.get("train_loss").asDouble(), n.get("train_accuracy").asDouble(), n.get("test_accuracy").asDouble(),
                    n.get("images_per_second").asDouble(), n.get("seconds").asDouble()));
        }
        return out;
    }

    static void write(Path png, String title, List<TrainingRun.EpochRecord> epochs) throws IOException {
        XYSeries loss = new XYSeries("train loss"), trainAcc = new XYSeries("train accuracy %"),
                testAcc = new XYSeries("test accuracy %");
        for (TrainingRun.EpochRecord r : epochs) {
            loss.add(r.epoch(), r.trainLoss());
            trainAcc.add(r.epoch(), 100 * r.trainAccuracy());
            testAcc.add(r.epoch(), 100 * r.testAccuracy());
        }
        XYPlot lossPlot = ChartFactory.createXYLineChart(null, "epoch", "loss", new XYSeriesCollection(loss))
                .getXYPlot();
        XYSeriesCollection acc = new XYSeriesCollection();
        acc.addSeries(trainAcc);
        acc.addSeries(testAcc);
        XYPlot accPlot = ChartFactory.createXYLineChart(null, "epoch", "accuracy %", acc).getXYPlot();
        for (XYPlot p : new XYPlot[] {lossPlot, accPlot}) {
            // Points as well as lines: a one-epoch run is a single point, which a bare line chart would not draw.
            ((org.jfree.chart.renderer.xy.XYLineAndShapeRenderer) p.getRenderer()).setDefaultShapesVisible(true);
            p.setBackgroundPaint(java.awt.Color.WHITE);
            p.setDomainGridlinePaint(java.awt.Color.LIGHT_GRAY);
            p.setRangeGridlinePaint(java.awt.Color.LIGHT_GRAY);
        }
        NumberAxis epochAxis = new NumberAxis("epoch");
        epochAxis.setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        CombinedDomainXYPlot plot = new CombinedDomainXYPlot(epochAxis);
        plot.add(lossPlot, 1);
        plot.add(accPlot, 1);
        JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        ChartUtils.saveChartAsPNG(png.toFile(), chart, 900, 700);
    }
}
