package local

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/secure-smart-city/platform/cmd/devicesim/sim"
	"github.com/secure-smart-city/platform/fleetspec"
)

// This file runs the simulated devices: package sim's Device, in process, one goroutine each,
// each with its own certificate from the local PKI.

type fleetRunner struct {
	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// startDevices connects every thing and runs it until ctx ends; a device whose connection
// drops reconnects after a pause, as firmware would.
func startDevices(ctx context.Context, things []Thing, f *fleetspec.Fleet, prefix, host string, port int, rate float64,
	tlsFor func(thing string) (*tls.Config, error), log *slog.Logger) (*fleetRunner, error) {
	ctx, cancel := context.WithCancel(ctx)
	r := &fleetRunner{cancel: cancel}
	var devices []*sim.Device
	for _, t := range things {
		class, ok := f.Class(t.Class)
		if !ok {
			cancel()
			return nil, fmt.Errorf("thing %s: unknown class %q", t.Name, t.Class)
		}
		cfg, err := tlsFor(t.Name)
		if err != nil {
			cancel()
			return nil, err
		}
		d, err := sim.New(sim.Config{
			Endpoint: host, Port: port, TLS: cfg, Thing: t.Name, Class: class, District: t.District,
			RulePrefix: prefix, Rate: rate, Logger: log,
		})
		if err != nil {
			cancel()
			return nil, fmt.Errorf("device %s: %w", t.Name, err)
		}
		if err := d.Connect(ctx); err != nil {
			cancel()
			for _, d := range devices {
				d.Close()
			}
			return nil, fmt.Errorf("device %s: %w", t.Name, err)
		}
		devices = append(devices, d)
	}
	for _, d := range devices {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for {
				err := d.Run(ctx)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					log.Warn("device stopped, reconnecting", "error", err)
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(2 * time.Second):
				}
				if err := d.Connect(ctx); err != nil && ctx.Err() == nil {
					log.Warn("device reconnect failed", "error", err)
				}
			}
		}()
	}
	return r, nil
}

func (r *fleetRunner) stop() {
	if r == nil {
		return
	}
	r.cancel()
	r.wg.Wait()
}
