package org.semiringkernels.cli.demo;

import java.util.List;
import java.util.Locale;

/**
 * The demo's pictures as SVG text: a held-out sequence's true and predicted segmentations as two
 * coloured tracks (intergenic grey, exon blue, intron orange), and the training curves (loss per
 * epoch, the held-out segment F1 and per-position accuracy).
 */
public final class DemoSvg {

    private static final String[] COLOURS = {"#c8c8c8", "#1f77b4", "#ff9f40"};

    private DemoSvg() {
    }

    public static String segmentation(String title, int length, List<GeneData.Segment> truth,
                                      List<GeneData.Segment> prediction) {
        int width = 1000, left = 90, plot = width - left - 20, trackHeight = 28;
        StringBuilder s = header(width, 170);
        text(s, 10, 22, 14, title);
        String[] names = {"true", "predicted"};
        List<List<GeneData.Segment>> tracks = List.of(truth, prediction);
        for (int row = 0; row < 2; row++) {
            int y = 40 + row * (trackHeight + 14);
            text(s, 10, y + 19, 12, names[row]);
            for (GeneData.Segment seg : tracks.get(row)) {
                double x0 = left + plot * (double) seg.start() / length, x1 = left + plot * (double) seg.end() / length;
                s.append(String.format(Locale.ROOT,
                        "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"%s\"/>%n", x0, y,
                        Math.max(x1 - x0, 0.5), trackHeight, COLOURS[seg.label()]));
            }
        }
        int legend = 40 + 2 * (trackHeight + 14) + 8;
        for (int c = 0; c < GeneData.LABELS; c++) {
            int x = left + 170 * c;
            s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" fill=\"%s\"/>%n", x,
                    legend, COLOURS[c]));
            text(s, x + 20, legend + 12, 12, GeneData.LABEL_NAMES[c]);
        }
        text(s, left, legend + 40, 11, "positions 0.." + length);
        return s.append("</svg>\n").toString();
    }

    /** Loss (left axis), held-out segment F1 and per-position accuracy (right axis, 0..1) per epoch. */
    public static String curves(String title, double[] loss, double[] f1, double[] accuracy) {
        int width = 700, height = 360, left = 70, right = 60, top = 40, bottom = 50;
        int plotW = width - left - right, plotH = height - top - bottom;
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
        for (double v : loss) {
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
        }
        if (!(hi > lo)) {
            hi = lo + 1;
        }
        StringBuilder s = header(width, height);
        text(s, 10, 22, 14, title);
        s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                + "stroke=\"#888\"/>%n", left, top, plotW, plotH));
        int n = Math.max(loss.length, 1);
        polyline(s, loss, lo, hi, left, top, plotW, plotH, n, "#d62728");
        polyline(s, f1, 0, 1, left, top, plotW, plotH, n, "#2ca02c");
        polyline(s, accuracy, 0, 1, left, top, plotW, plotH, n, "#1f77b4");
        text(s, 8, top + 10, 11, String.format(Locale.ROOT, "%.3g", hi));
        text(s, 8, top + plotH, 11, String.format(Locale.ROOT, "%.3g", lo));
        text(s, left + plotW + 6, top + 10, 11, "1");
        text(s, left + plotW + 6, top + plotH, 11, "0");
        text(s, left, height - 18, 12, "epoch 1.." + loss.length + "   red: training NLL per bp (left)   "
                + "green: held-out segment F1   blue: per-bp accuracy (right, 0..1)");
        return s.append("</svg>\n").toString();
    }

    private static void polyline(StringBuilder s, double[] v, double lo, double hi, int left, int top, int w, int h,
                                 int n, String colour) {
        if (v.length == 0) {
            return;
        }
        StringBuilder pts = new StringBuilder();
        for (int i = 0; i < v.length; i++) {
            double x = left + (n == 1 ? w / 2.0 : w * (double) i / (n - 1));
            double y = top + h * (1 - (v[i] - lo) / (hi - lo));
            pts.append(String.format(Locale.ROOT, "%.1f,%.1f ", x, y));
        }
        s.append(String.format(Locale.ROOT, "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>%n",
                pts.toString().trim(), colour));
    }

    private static StringBuilder header(int width, int height) {
        return new StringBuilder(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                + "height=\"%d\" font-family=\"sans-serif\">%n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>%n",
                width, height));
    }

    private static void text(StringBuilder s, int x, int y, int size, String content) {
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"%d\">%s</text>%n", x, y, size,
                content.replace("&", "&amp;").replace("<", "&lt;")));
    }
}
