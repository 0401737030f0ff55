package pipeline

import "context"

// RenderFinalPass writes cfg's output as the final pass (writeOutput) does,
// from the checkpoint as it is now.
func RenderFinalPass(ctx context.Context, cfg Config) error {
	cfg.defaults()
	_, err := writeOutput(ctx, &cfg)
	return err
}

// SetLiveOutput turns the live output on or off and sets its window; it
// returns a function restoring both.
func SetLiveOutput(on bool, window int) (restore func()) {
	oldOn, oldWindow := liveOutputOn, liveOutputWindow
	liveOutputOn, liveOutputWindow = on, window
	return func() { liveOutputOn, liveOutputWindow = oldOn, oldWindow }
}
