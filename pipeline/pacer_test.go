package pipeline

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// simulatePacing drives a Pacer in virtual time against a server with its
// own token bucket (serverRate, serverBurst) that also answers a sporadic
// 429 with probability noise. The client always has work. It returns the
// accepted calls per second and the share of calls answered 429.
func simulatePacing(t *testing.T, clientRate, serverRate float64, noise float64, seconds int) (accepted float64, share429 float64, pacer *Pacer) {
	t.Helper()
	start := time.Unix(1_000_000, 0)
	now := start
	p := NewPacer(clientRate, 1)
	p.now = func() time.Time { return now }
	p.lastClimb = now
	server := rate.NewLimiter(rate.Limit(serverRate), int(serverRate))
	server.AllowN(start, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	ok, limited := 0, 0
	end := start.Add(time.Duration(seconds) * time.Second)
	for ; now.Before(end); now = now.Add(time.Millisecond) {
		p.mu.Lock()
		paused := now.Before(p.pauseUntil)
		p.mu.Unlock()
		if paused {
			continue
		}
		for p.lim.AllowN(now, 1) {
			if rng.Float64() < noise || !server.AllowN(now, 1) {
				limited++
				p.TooMany(time.Second)
			} else {
				ok++
				p.Success()
			}
		}
	}
	return float64(ok) / float64(seconds), float64(limited) / float64(ok+limited), p
}

func TestPacerConvergesToTheServerLimit(t *testing.T) {
	acc, share, p := simulatePacing(t, 200, 120, 0, 120)
	t.Logf("accepted %.1f/s (%.1f%% of 120), 429 share %.2f%%, %d cuts, final rate %.1f", acc, 100*acc/120, 100*share, p.cuts, p.Rate())
	if acc < 0.9*120 {
		t.Errorf("accepted %.1f/s, want >= 90%% of the server's 120/s", acc)
	}
	if share > 0.03 {
		t.Errorf("%.2f%% of calls answered 429, want <= 3%%", 100*share)
	}
	if p.Rate() > 200 {
		t.Errorf("rate above the configured maximum: %.1f", p.Rate())
	}
}

func TestPacerIgnoresSporadic429(t *testing.T) {
	// The server has room to spare but answers 1 call in 200 with a 429.
	acc, _, p := simulatePacing(t, 100, 1000, 0.005, 60)
	t.Logf("accepted %.1f/s, %d cuts", acc, p.cuts)
	if acc < 0.97*100*(1-0.005) {
		t.Errorf("sporadic 429s cut the rate to %.1f/s of 100", acc)
	}
}

func TestPacerHoldsTheRateWithoutErrors(t *testing.T) {
	acc, share, p := simulatePacing(t, 200, 10000, 0, 30)
	if acc < 0.99*200 || acc > 200+1 || share != 0 || p.cuts != 0 {
		t.Errorf("accepted %.1f/s share %.3f cuts %d, want 200/s", acc, share, p.cuts)
	}
}

func TestPacerUnlimited(t *testing.T) {
	p := NewPacer(0, 1)
	if d := p.TooMany(2 * time.Second); d != 2*time.Second {
		t.Errorf("unlimited pacer must still honour Retry-After, got %s", d)
	}
	p.Success()
	if p.Rate() != 0 {
		t.Errorf("rate %v", p.Rate())
	}
}

// Between the attempts of one call, Call sleeps what the API asked: a 429's
// Retry-After (at least), a 5xx's Retry-After when longer than the backoff,
// else the backoff (RetryBase·2^(n-1) plus up to RetryBase of jitter).
func TestCallSleepsWhatTheAPIAsks(t *testing.T) {
	tests := []struct {
		name     string
		verdict  Verdict
		min, max time.Duration // of the one sleep
	}{
		{"429 with Retry-After 7s", Verdict{Retry: true, TooMany: true, RetryAfter: 7 * time.Second}, 7 * time.Second, 7 * time.Second},
		{"429 without Retry-After waits a second", Verdict{Retry: true, TooMany: true}, time.Second, time.Second},
		{"5xx with a Retry-After longer than the backoff", Verdict{Retry: true, RetryAfter: 5 * time.Second}, 5 * time.Second, 5 * time.Second},
		{"busy: the backoff", Verdict{Retry: true}, 100 * time.Millisecond, 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPacer(0, 1)
			p.RetryBase, p.RetryMax = 100*time.Millisecond, time.Second
			var slept []time.Duration
			p.sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
			n := 0
			err := p.Call(context.Background(), 5, func(bool) Verdict {
				if n++; n == 1 {
					return tt.verdict
				}
				return Verdict{}
			})
			if err != nil || n != 2 || len(slept) != 1 {
				t.Fatalf("err %v, %d attempts, sleeps %v", err, n, slept)
			}
			if slept[0] < tt.min || slept[0] > tt.max {
				t.Fatalf("slept %v between the attempts, want %v..%v", slept[0], tt.min, tt.max)
			}
		})
	}
}
