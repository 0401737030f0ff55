package main

import (
	"context"
	"flag"
	"fmt"

	"cardbatch/cardapi/sim"
)

// cmdSimulate serves the built-in API simulator until interrupted.
func (a *app) cmdSimulate(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen `HOST:PORT`")
	var cfg sim.Config
	sim.BindFlags(fs, &cfg)
	if code, ok := a.parseFlags(fs, simulateCommand(), args); !ok {
		return code
	}
	if err := cfg.LoadKeys(); err != nil {
		fmt.Fprintf(a.stderr, "cardbatch simulate: %v\n", err)
		return exitUsage
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(a.stderr, "cardbatch simulate: %v\n", err)
		return exitUsage
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if a.signals != nil {
		go func() {
			select {
			case <-a.signals:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	logf := func(format string, args ...any) { fmt.Fprintln(a.stderr, redact(fmt.Sprintf(format, args...))) }
	if err := sim.ListenAndServe(ctx, *addr, sim.New(cfg), logf); err != nil {
		fmt.Fprintf(a.stderr, "cardbatch simulate: %v\n", err)
		return exitFatal
	}
	return exitOK
}
