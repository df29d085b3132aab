package bench

import (
	"fmt"
	"html"
	"math"
	"strings"
	"time"
)

// Bar is one bar of a horizontal bar chart. Missing bars (not measured) are
// drawn as a labelled gap.
type Bar struct {
	Label   string
	Value   float64
	Missing string // when not empty, the bar is absent and this is said instead
	Accent  bool   // the bar the chart is about
}

// fmtNum formats a rate compactly: 1.23M, 456k, 789.
func fmtNum(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case a >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// BarChartSVG draws a horizontal bar chart with an optional target line.
// The output is a standalone SVG document with no scripts or external
// references, deterministic for the same input.
func BarChartSVG(title, unit, footnote string, bars []Bar, target float64, targetLabel string) string {
	const (
		width  = 820
		left   = 300
		right  = 110
		top    = 48
		barH   = 26
		gap    = 12
		bottom = 56
	)
	plotW := float64(width - left - right)
	height := top + len(bars)*(barH+gap) + bottom
	maxV := target
	for _, b := range bars {
		if b.Missing == "" && b.Value > maxV {
			maxV = b.Value
		}
	}
	if maxV <= 0 {
		maxV = 1
	}
	maxV *= 1.05
	x := func(v float64) float64 { return float64(left) + plotW*v/maxV }
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">`+"\n", width, height, width, height)
	fmt.Fprintf(&s, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	fmt.Fprintf(&s, `<text x="%d" y="26" font-size="16" font-weight="bold">%s</text>`+"\n", 12, esc(title))
	for i, b := range bars {
		y := top + i*(barH+gap)
		fmt.Fprintf(&s, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+barH/2+5, esc(b.Label))
		if b.Missing != "" {
			fmt.Fprintf(&s, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="none" stroke="#999999" stroke-dasharray="4 3"/>`+"\n", left, y, plotW*0.25, barH)
			fmt.Fprintf(&s, `<text x="%d" y="%d" fill="#666666" font-style="italic">%s</text>`+"\n", left+6, y+barH/2+5, esc(b.Missing))
			continue
		}
		fill := "#7aa6c2"
		if b.Accent {
			fill = "#d9822b"
		}
		fmt.Fprintf(&s, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", left, y, x(b.Value)-float64(left), barH, fill)
		fmt.Fprintf(&s, `<text x="%.1f" y="%d">%s</text>`+"\n", x(b.Value)+6, y+barH/2+5, esc(fmtNum(b.Value)))
	}
	axisY := top + len(bars)*(barH+gap)
	fmt.Fprintf(&s, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333333"/>`+"\n", left, top-6, left, axisY)
	fmt.Fprintf(&s, `<text x="%d" y="%d" fill="#333333">0</text>`+"\n", left-4, axisY+16)
	fmt.Fprintf(&s, `<text x="%d" y="%d" text-anchor="end" fill="#333333">%s</text>`+"\n", width-right, axisY+16, esc(unit))
	if target > 0 {
		tx := x(target)
		fmt.Fprintf(&s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c0392b" stroke-width="2" stroke-dasharray="6 4"/>`+"\n", tx, top-10, tx, axisY)
		fmt.Fprintf(&s, `<text x="%.1f" y="%d" fill="#c0392b" text-anchor="middle">%s</text>`+"\n", tx, top-14, esc(targetLabel))
	}
	if footnote != "" {
		fmt.Fprintf(&s, `<text x="12" y="%d" font-size="11" fill="#555555">%s</text>`+"\n", height-12, esc(footnote))
	}
	s.WriteString("</svg>\n")
	return s.String()
}

// TimelineSVG draws a principal's metric per window with the baseline mean,
// the mean ± sigma·effective-sigma band, the incident's span and the alert.
func TimelineSVG(tl *Timeline, footnote string) string {
	const (
		width  = 900
		height = 420
		left   = 80
		right  = 24
		top    = 48
		bottom = 72
	)
	n := len(tl.Values)
	plotW := float64(width - left - right)
	plotH := float64(height - top - bottom)
	maxV := 1.0
	for i := range n {
		maxV = max(maxV, tl.Values[i], tl.Mean[i]+tl.Sigma*tl.EffSigma[i])
		if i < len(tl.Threshold) {
			maxV = max(maxV, tl.Threshold[i])
		}
	}
	maxV = max(maxV, tl.AlertThresh) * 1.08
	winDur := time.Duration(tl.WindowSec * float64(time.Second))
	xAt := func(t time.Time) float64 {
		if n <= 1 {
			return float64(left)
		}
		return float64(left) + plotW*t.Sub(tl.Start).Seconds()/(float64(n-1)*tl.WindowSec)
	}
	xi := func(i int) float64 { return xAt(tl.Start.Add(time.Duration(i) * winDur)) }
	y := func(v float64) float64 { return float64(top) + plotH*(1-v/maxV) }
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&s, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	fmt.Fprintf(&s, `<text x="12" y="24" font-size="15" font-weight="bold">%s</text>`+"\n",
		esc(fmt.Sprintf("%s: %s per %s window, %s", tl.Incident, tl.Metric, winDur, tl.Principal)))
	// incident span
	x0, x1 := xAt(tl.IncStart), xAt(tl.IncEnd)
	fmt.Fprintf(&s, `<rect x="%.1f" y="%d" width="%.1f" height="%.1f" fill="#f6d5d5"/>`+"\n", x0, top, max(x1-x0, 1), plotH)
	fmt.Fprintf(&s, `<text x="%.1f" y="%d" fill="#a94442">incident</text>`+"\n", x0+3, top+14)
	// band
	var band strings.Builder
	for i := range n {
		fmt.Fprintf(&band, "%.1f,%.1f ", xi(i), y(tl.Mean[i]+tl.Sigma*tl.EffSigma[i]))
	}
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&band, "%.1f,%.1f ", xi(i), y(max(0, tl.Mean[i]-tl.Sigma*tl.EffSigma[i])))
	}
	fmt.Fprintf(&s, `<polygon points="%s" fill="#cfe3f1" stroke="none"/>`+"\n", strings.TrimSpace(band.String()))
	poly := func(vals func(int) float64, stroke string, w float64, dash string) {
		var p strings.Builder
		for i := range n {
			fmt.Fprintf(&p, "%.1f,%.1f ", xi(i), y(vals(i)))
		}
		d := ""
		if dash != "" {
			d = ` stroke-dasharray="` + dash + `"`
		}
		fmt.Fprintf(&s, `<polyline points="%s" fill="none" stroke="%s" stroke-width="%.1f"%s/>`+"\n", strings.TrimSpace(p.String()), stroke, w, d)
	}
	poly(func(i int) float64 { return tl.Mean[i] }, "#1f5f8b", 1.5, "5 3")
	if len(tl.Threshold) == n {
		poly(func(i int) float64 { return tl.Threshold[i] }, "#c0392b", 1, "2 3")
	}
	// Observed values as steps: a window's value holds from its start to its end.
	var steps strings.Builder
	for i := range n {
		x1 := xi(i + 1)
		if i == n-1 {
			x1 = xi(i)
		}
		fmt.Fprintf(&steps, "%.1f,%.1f %.1f,%.1f ", xi(i), y(tl.Values[i]), x1, y(tl.Values[i]))
	}
	fmt.Fprintf(&s, `<polyline points="%s" fill="none" stroke="#222222" stroke-width="1.2"/>`+"\n", strings.TrimSpace(steps.String()))
	// alert
	if !tl.AlertAt.IsZero() {
		ax := xAt(tl.AlertAt)
		fmt.Fprintf(&s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#c0392b" stroke-width="1.5"/>`+"\n", ax, top, ax, float64(top)+plotH)
		fmt.Fprintf(&s, `<circle cx="%.1f" cy="%.1f" r="5" fill="#c0392b"/>`+"\n", ax, y(tl.AlertValue))
		tx, anchor := ax+6, "start"
		if ax > float64(width)*0.55 {
			tx, anchor = ax-6, "end"
		}
		fmt.Fprintf(&s, `<text x="%.1f" y="%d" fill="#c0392b" text-anchor="%s">alert %s (observed %s, threshold %s)</text>`+"\n",
			tx, top+30, anchor, esc(tl.AlertAt.UTC().Format("15:04:05")), esc(fmtNum(tl.AlertValue)), esc(fmtNum(tl.AlertThresh)))
	}
	// axes
	fmt.Fprintf(&s, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#333333"/>`+"\n", left, float64(top)+plotH, width-right, float64(top)+plotH)
	fmt.Fprintf(&s, `<line x1="%d" y1="%d" x2="%d" y2="%.1f" stroke="#333333"/>`+"\n", left, top, left, float64(top)+plotH)
	for k := 0; k <= 4; k++ {
		v := maxV * float64(k) / 4
		fmt.Fprintf(&s, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y(v)+4, esc(fmtNum(v)))
	}
	span := time.Duration(n) * winDur
	step := time.Hour
	if span > 12*time.Hour {
		step = 3 * time.Hour
	}
	for t := tl.Start.Truncate(step).Add(step); !t.After(tl.Start.Add(span)); t = t.Add(step) {
		fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", xAt(t), float64(top)+plotH+16, esc(t.UTC().Format("15:04")))
	}
	ly := height - 34
	fmt.Fprintf(&s, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#222222"/><text x="%d" y="%d">observed</text>`+"\n", left, ly, left+24, ly, left+30, ly+4)
	fmt.Fprintf(&s, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#1f5f8b" stroke-dasharray="5 3"/><text x="%d" y="%d">baseline mean</text>`+"\n", left+110, ly, left+134, ly, left+140, ly+4)
	fmt.Fprintf(&s, `<rect x="%d" y="%d" width="24" height="10" fill="#cfe3f1"/><text x="%d" y="%d">mean ± %gσ (effective σ)</text>`+"\n", left+260, ly-5, left+290, ly+4, tl.Sigma)
	fmt.Fprintf(&s, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#c0392b" stroke-dasharray="2 3"/><text x="%d" y="%d">alert threshold (with min_excess)</text>`+"\n", left+470, ly, left+494, ly, left+500, ly+4)
	if footnote != "" {
		fmt.Fprintf(&s, `<text x="12" y="%d" font-size="11" fill="#555555">%s</text>`+"\n", height-10, esc(footnote))
	}
	s.WriteString("</svg>\n")
	return s.String()
}

func esc(s string) string { return html.EscapeString(s) }
