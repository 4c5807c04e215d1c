// Package estimate is the cost model behind cmd/cost: it reads what the synthesized templates
// deploy (inventory), prices it with the fleet's traffic and the telemetry processor's
// measured store operations (figures), and renders the monthly cost table and plot.
package estimate
