package sim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"time"
)

// Validate reports the first problem of a configuration, in words a
// command-line user can act on: probabilities outside [0, 1], fault
// probabilities adding up to more than 1, negative durations, counts or
// rates, an unknown error form, or a DecryptionKeyFile that LoadKeys has
// not loaded. New never fails; call LoadKeys, then Validate, on
// user-supplied settings first.
func (c Config) Validate() error {
	probs := []struct {
		name string
		p    float64
	}{
		{"--slow-prob", c.SlowProb},
		{"--drop-prob", c.DropProb},
		{"--429-prob", c.RateLimitedProb},
		{"--500-prob", c.ServerErrorProb},
		{"--502-prob", c.BadGatewayProb},
		{"--busy-prob", c.BusyProb},
		{"--unknown-prob", c.UnknownResultProb},
		{"--charge-drop-prob", c.ChargeDropProb},
	}
	sum := 0.0
	for i, p := range probs {
		if math.IsNaN(p.p) || p.p < 0 || p.p > 1 {
			return fmt.Errorf("simulator: %s must be between 0 and 1, got %v", p.name, p.p)
		}
		if i > 0 {
			sum += p.p
		}
	}
	if p := c.NotExistProb; math.IsNaN(p) || p < 0 || p > 1 {
		return fmt.Errorf("simulator: --notexist-prob must be between 0 and 1, got %v", p)
	}
	if sum > 1+1e-9 {
		return fmt.Errorf("simulator: the fault probabilities (drop, 429, 500, 502, busy, unknown, charge-drop) add up to %.4g; they must add up to at most 1", sum)
	}
	durs := []struct {
		name string
		d    time.Duration
	}{{"--latency", c.Latency}, {"--latency-jitter", c.LatencyJitter}, {"--slow-latency", c.SlowLatency}}
	for _, d := range durs {
		if d.d < 0 {
			return fmt.Errorf("simulator: %s must not be negative, got %v", d.name, d.d)
		}
	}
	if math.IsNaN(c.RateLimit) || c.RateLimit < 0 {
		return fmt.Errorf("simulator: --rate-limit must be 0 (no limit) or a positive rate, got %v", c.RateLimit)
	}
	if c.RateBurst < 0 || c.FailAuthAfter < 0 || c.UsedUpAfterCharged < 0 {
		return errors.New("simulator: --rate-burst, --fail-auth-after and --used-up-after must not be negative")
	}
	switch c.ErrorForm {
	case "", ErrorFormPlain, ErrorFormSuccess:
	default:
		return fmt.Errorf("simulator: --error-form must be %q, %q or empty (both), got %q", ErrorFormPlain, ErrorFormSuccess, c.ErrorForm)
	}
	if c.DecryptionKeyFile != "" && c.DecryptionKey == nil {
		return fmt.Errorf("simulator: --decryption-key %s was not loaded (call Config.LoadKeys after parsing the flags)", c.DecryptionKeyFile)
	}
	return nil
}

// BindFlags registers the `cardbatch simulate` flags on fs, writing into
// cfg; the current values of cfg are the defaults. Flags: --token, --seed,
// --latency, --latency-jitter, --slow-prob, --slow-latency, --busy-prob,
// --429-prob, --500-prob, --502-prob, --drop-prob, --unknown-prob,
// --charge-drop-prob, --notexist-prob, --rate-limit, --rate-burst, --fail-auth-after, --used-up-after,
// --error-form, --decryption-key (into cfg.DecryptionKeyFile). (--token
// takes the simulator's own, fake credential; the real token never comes
// from a flag.) After fs.Parse, call cfg.LoadKeys (it reads the
// --decryption-key file into cfg.DecryptionKey), then cfg.Validate.
func BindFlags(fs *flag.FlagSet, cfg *Config) {
	fs.StringVar(&cfg.Token, "token", cfg.Token, "require `authorization: Bearer TOKEN` (a made-up token for the simulator; default: any token or none is accepted)")
	fs.Int64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the answers and of every fault draw (a fixed seed gives the same run)")
	fs.DurationVar(&cfg.Latency, "latency", cfg.Latency, "mean latency of an answer")
	fs.DurationVar(&cfg.LatencyJitter, "latency-jitter", cfg.LatencyJitter, "latency spread, uniform ± this")
	fs.Float64Var(&cfg.SlowProb, "slow-prob", cfg.SlowProb, "probability that a call takes --slow-latency instead")
	fs.DurationVar(&cfg.SlowLatency, "slow-latency", cfg.SlowLatency, "latency of the slow tail")
	fs.Float64Var(&cfg.BusyProb, "busy-prob", cfg.BusyProb, `probability of result "-2" (verification center busy, free)`)
	fs.Float64Var(&cfg.RateLimitedProb, "429-prob", cfg.RateLimitedProb, "probability of a sporadic HTTP 429 with Retry-After: 1")
	fs.Float64Var(&cfg.ServerErrorProb, "500-prob", cfg.ServerErrorProb, "probability of HTTP 500 api_error")
	fs.Float64Var(&cfg.BadGatewayProb, "502-prob", cfg.BadGatewayProb, "probability of HTTP 502/503 (half nginx HTML, half JSON timeout)")
	fs.Float64Var(&cfg.DropProb, "drop-prob", cfg.DropProb, "probability of closing the connection without an answer (not charged)")
	fs.Float64Var(&cfg.UnknownResultProb, "unknown-prob", cfg.UnknownResultProb, `probability of the undocumented result "-5" (charged)`)
	fs.Float64Var(&cfg.ChargeDropProb, "charge-drop-prob", cfg.ChargeDropProb, "probability of charging a call, then closing the connection before the answer (the client cannot know it was charged)")
	fs.Float64Var(&cfg.NotExistProb, "notexist-prob", cfg.NotExistProb, `share of valid cards answered "-3" (bank card does not exist, free), the same cards on every call for a seed`)
	fs.Float64Var(&cfg.RateLimit, "rate-limit", cfg.RateLimit, "per-token rate limit in requests per second (0: none); excess calls get HTTP 429")
	fs.IntVar(&cfg.RateBurst, "rate-burst", cfg.RateBurst, "token-bucket size of the rate limit (0: one second's worth)")
	fs.IntVar(&cfg.FailAuthAfter, "fail-auth-after", cfg.FailAuthAfter, "answer 401 invalid_token to every call after the first N (0: never)")
	fs.IntVar(&cfg.UsedUpAfterCharged, "used-up-after", cfg.UsedUpAfterCharged, "answer 403 used_up once N calls were charged (0: never)")
	fs.StringVar(&cfg.ErrorForm, "error-form", cfg.ErrorForm, `error body form: "plain", "success" (adds "success": false), or empty for both`)
	fs.StringVar(&cfg.DecryptionKeyFile, "decryption-key", cfg.DecryptionKeyFile, "accept field encryption: RSA private key `FILE` (PEM, PKCS#1 or PKCS#8) matching the client's --encryption-key (default: requests with \"encryption\" get 400)")
}

// ListenAndServe serves s on addr until ctx is cancelled, then shuts down
// gracefully (calls in flight get up to 5 s to finish, then their
// connections are closed) and returns nil. It returns an error when addr
// cannot be listened on or the server fails. It logs one line through logf
// (when not nil) with the address it listens on; it never logs a card
// number or the token.
func ListenAndServe(ctx context.Context, addr string, s *Server, logf func(format string, args ...any)) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("simulator: listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	if logf != nil {
		auth := "any token accepted"
		if s.cfg.Token != "" {
			auth = "token required"
		}
		if s.cfg.DecryptionKey != nil {
			auth += ", field encryption accepted"
		}
		logf("simulator listening on http://%s (seed %d, %s; ledger at %s)", ln.Addr(), s.cfg.Seed, auth, LedgerPath)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("simulator: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("simulator: %w", err)
	}
	return nil
}
