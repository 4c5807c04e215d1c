package estimate

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// FleetSizes are the fleets the plot prices: 1k to 1M devices, four points a decade.
func FleetSizes() []float64 {
	var out []float64
	for e := 3.0; e <= 6.0001; e += 0.25 {
		out = append(out, math.Round(math.Pow(10, e)))
	}
	return out
}

// Curve is monthly cost against fleet size for both paths.
type Curve struct {
	Devices, Platform, PerMessage []float64
	// Warnings are the estimates' warnings, each prefixed with its fleet size.
	Warnings []string
}

// Sweep prices every fleet size with the same inventory, figures and prices.
func Sweep(inv *Inventory, fig Figures, prices PriceTable, p Params) (Curve, error) {
	var c Curve
	for _, d := range FleetSizes() {
		q := p
		q.Devices = d
		r, err := Estimate(inv, fig, prices, q)
		if err != nil {
			return Curve{}, err
		}
		c.Devices = append(c.Devices, d)
		c.Platform = append(c.Platform, r.PlatformUSD)
		c.PerMessage = append(c.PerMessage, r.PerMessageUSD)
		for _, w := range r.Warnings {
			c.Warnings = append(c.Warnings, fmt.Sprintf("at %s devices: %s", thousands(d), w))
		}
	}
	return c, nil
}

// Plot writes the curve as a log-log chart; the format follows the file's extension
// (.svg or .png).
func (c Curve) Plot(path, title string) error {
	ext := strings.TrimPrefix(filepath.Ext(path), ".")
	if ext != "svg" && ext != "png" {
		return fmt.Errorf("plot %s: want a .svg or .png file", path)
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "devices (1 message a minute each)"
	p.Y.Label.Text = "USD per month"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	for i, s := range []struct {
		name string
		ys   []float64
		dash []vg.Length
		rgb  color.RGBA
	}{
		{"this platform (stream path, as synthesized)", c.Platform, nil, color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}},
		{"per-message pattern (rule -> Lambda per message)", c.PerMessage, []vg.Length{vg.Points(6), vg.Points(3)}, color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}},
	} {
		xys := make(plotter.XYs, len(c.Devices))
		for j := range c.Devices {
			xys[j].X, xys[j].Y = c.Devices[j], math.Max(s.ys[j], 0.01)
		}
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		l.Color, l.Dashes, l.Width = s.rgb, s.dash, vg.Points(1.5)
		pts.Color = s.rgb
		pts.Shape = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}}[i]
		p.Add(l, pts)
		p.Legend.Add(s.name, l, pts)
	}
	p.Legend.Top, p.Legend.Left = true, true
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}
