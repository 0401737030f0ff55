package pipeline

import (
	"strings"
	"testing"
	"time"
)

// TestOutageWarnsThenGivesUp drives the outage tracker in virtual time: it
// says nothing while the API answers or before 30 s without an answer, warns
// at 30 s with what the API did, warns again only 5 minutes later, gives up
// at --max-wait with a message that says the command resumes, and reports
// how long an outage lasted when answers come back. A busy answer or any
// answer resets the clock.
func TestOutageWarnsThenGivesUp(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	type step struct {
		at       time.Duration
		answered bool   // an answer arrives (else: label)
		label    string // an unanswered call ("" with !answered: only check)
		warn     string // want a warning containing this ("" none)
		giveUp   bool
		back     time.Duration // observe returns this
	}
	tests := []struct {
		name    string
		maxWait time.Duration
		steps   []step
	}{
		{"a 15-minute outage of 500s and 429s", 15 * time.Minute, []step{
			{at: 0, label: "HTTP 500"},
			{at: 10 * time.Second, label: "HTTP 429"},
			{at: 29 * time.Second},
			{at: 30 * time.Second, warn: "no answer from the API for 30s: 1× HTTP 429, 1× HTTP 500; last: what HTTP 429"},
			{at: 31 * time.Second},
			{at: 60 * time.Second, label: "HTTP 500"},
			{at: 5*time.Minute + 29*time.Second},
			{at: 5*time.Minute + 30*time.Second, warn: "for 5m30s: 2× HTTP 500, 1× HTTP 429"},
			{at: 10*time.Minute + 30*time.Second, warn: "for 10m30s"},
			{at: 15*time.Minute - time.Second},
			{at: 15 * time.Minute, giveUp: true},
		}},
		{"answers come back after the warning", 15 * time.Minute, []step{
			{at: 0, label: "no connection or no answer in time"},
			{at: 45 * time.Second, warn: "for 45s: 1× no connection"},
			{at: 50 * time.Second, answered: true, back: 50 * time.Second},
			{at: 16 * time.Minute},
		}},
		{"an answer before the warning: no line either way", 15 * time.Minute, []step{
			{at: 0, label: "HTTP 502"},
			{at: 20 * time.Second, answered: true},
			{at: 21 * time.Second, label: "HTTP 502"},
			{at: 50 * time.Second},
			{at: 51 * time.Second, warn: "for 30s"},
		}},
		{"a short --max-wait warns at its half", 4 * time.Second, []step{
			{at: 0, label: "HTTP 500"},
			{at: 2 * time.Second, warn: "for 2s"},
			{at: 4 * time.Second, giveUp: true},
		}},
		{"--max-wait 0 never gives up", 0, []step{
			{at: 0, label: "HTTP 503"},
			{at: 30 * time.Second, warn: "still retrying"},
			{at: 48 * time.Hour, warn: "for 48h0m0s"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutage(tc.maxWait)
			for _, s := range tc.steps {
				if s.answered || s.label != "" {
					if back := o.observe(at(s.at), s.answered, s.label, "what "+s.label); back != s.back {
						t.Fatalf("at %v: observe returned %v, want %v", s.at, back, s.back)
					}
					continue
				}
				warn, fatal := o.due(at(s.at))
				if (fatal != nil) != s.giveUp {
					t.Fatalf("at %v: give up %v, want %v", s.at, fatal, s.giveUp)
				}
				if fatal != nil {
					for _, want := range []string{"no answer from the API for", "--max-wait", "run the same command again to resume"} {
						if !strings.Contains(fatal.Error(), want) {
							t.Errorf("message %q does not say %q", fatal.Error(), want)
						}
					}
				}
				if (warn != "") != (s.warn != "") || !strings.Contains(warn, s.warn) {
					t.Fatalf("at %v: warning %q, want one containing %q", s.at, warn, s.warn)
				}
			}
		})
	}
}
