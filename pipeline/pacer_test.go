package pipeline

import (
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
