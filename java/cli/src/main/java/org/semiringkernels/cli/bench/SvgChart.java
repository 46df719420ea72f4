package org.semiringkernels.cli.bench;

import java.util.List;
import java.util.Locale;

/**
 * A horizontal bar chart, as SVG text, of each configuration's time (ours) beside its anchor's,
 * on a logarithmic axis in milliseconds (the anchors are often 10-1000x slower).
 */
final class SvgChart {

    private SvgChart() {
    }

    record Bar(String label, double ms, Double anchorMs, String anchorLabel) {
    }

    static String render(String title, List<Bar> bars) {
        int rowHeight = 34, left = 330, width = 900, plot = width - left - 90, top = 50;
        int height = top + rowHeight * Math.max(bars.size(), 1) + 40;
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
        for (Bar b : bars) {
            lo = Math.min(lo, b.ms());
            hi = Math.max(hi, b.ms());
            if (b.anchorMs() != null) {
                lo = Math.min(lo, b.anchorMs());
                hi = Math.max(hi, b.anchorMs());
            }
        }
        if (!(lo > 0) || !Double.isFinite(hi)) {
            lo = 1e-3;
            hi = 1;
        }
        double logLo = Math.floor(Math.log10(lo)), logHi = Math.ceil(Math.log10(hi));
        if (logHi <= logLo) {
            logHi = logLo + 1;
        }
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                + "font-family=\"sans-serif\" font-size=\"12\">%n", width, height));
        s.append(String.format(Locale.ROOT, "<text x=\"10\" y=\"22\" font-size=\"15\">%s</text>%n", escape(title)));
        s.append(String.format(Locale.ROOT, "<text x=\"10\" y=\"40\" fill=\"#555\">ms per call, log scale; "
                + "<tspan fill=\"#1f77b4\">Semiring Kernels</tspan>, <tspan fill=\"#bbbbbb\">anchor</tspan></text>%n"));
        for (double e = logLo; e <= logHi; e++) {
            double x = left + plot * (e - logLo) / (logHi - logLo);
            s.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#eee\"/>"
                    + "<text x=\"%.1f\" y=\"%d\" fill=\"#777\" text-anchor=\"middle\">%s</text>%n",
                    x, top - 5, x, height - 30, x, height - 15, axisLabel(e)));
        }
        int y = top;
        for (Bar b : bars) {
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>%n",
                    left - 8, y + 15, escape(b.label())));
            bar(s, left, plot, logLo, logHi, y + 2, 13, b.ms(), "#1f77b4", formatMs(b.ms()));
            if (b.anchorMs() != null) {
                bar(s, left, plot, logLo, logHi, y + 16, 13, b.anchorMs(), "#bbbbbb",
                        formatMs(b.anchorMs()) + " " + b.anchorLabel());
            }
            y += rowHeight;
        }
        return s.append("</svg>\n").toString();
    }

    private static void bar(StringBuilder s, int left, int plot, double logLo, double logHi, int y, int h, double ms,
                            String color, String text) {
        double w = Math.max(1, plot * (Math.log10(ms) - logLo) / (logHi - logLo));
        s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>"
                + "<text x=\"%.1f\" y=\"%d\" font-size=\"10\">%s</text>%n", left, y, w, h, color, left + w + 4, y + 10,
                escape(text)));
    }

    /** 10^e ms as "0.01 ms", "1 ms", "1000 ms". */
    static String axisLabel(double e) {
        return new java.math.BigDecimal(Math.pow(10, e)).round(new java.math.MathContext(1)).stripTrailingZeros()
                .toPlainString() + " ms";
    }

    static String formatMs(double ms) {
        return ms >= 100 ? String.format(Locale.ROOT, "%.0f ms", ms)
                : ms >= 1 ? String.format(Locale.ROOT, "%.2f ms", ms)
                : String.format(Locale.ROOT, "%.3g ms", ms);
    }

    private static String escape(String text) {
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
