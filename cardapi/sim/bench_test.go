package sim

import (
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"cardbatch/cardapi"
)

// discardWriter is a minimal http.ResponseWriter for measuring the handler
// alone.
type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(s int)           { d.status = s }

// BenchmarkServeHTTP measures the handler in-process (no network), with the
// ledger, a realistic fault mix and distinct cards.
func BenchmarkServeHTTP(b *testing.B) {
	s := New(Config{Seed: 1, BusyProb: 0.05, ServerErrorProb: 0.01, BadGatewayProb: 0.01, RateLimitedProb: 0.01})
	cards := GenerateCards(1, 1<<16)
	bodies := make([]string, len(cards))
	for i, c := range cards {
		bodies[i] = cardBody(c)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		rd := strings.NewReader("")
		req, _ := http.NewRequest(http.MethodPost, "http://sim"+cardapi.Path, rd)
		req.Header.Set("Authorization", "Bearer T")
		for pb.Next() {
			rd.Reset(bodies[next.Add(1)&(1<<16-1)])
			req.Body = readCloser{rd}
			clear(w.h)
			s.ServeHTTP(w, req)
		}
	})
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// BenchmarkHTTP measures requests per second through a real loopback
// server with plain net/http clients.
func BenchmarkHTTP(b *testing.B) {
	ts := newTestServer(b, Config{Seed: 1})
	cards := GenerateCards(2, 1<<14)
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			o := ts.check("", cards[next.Add(1)&(1<<14-1)])
			if o.err != nil || o.status != 200 {
				b.Errorf("%d %v", o.status, o.err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkLedgerMemory reports the heap the ledger keeps per distinct card.
func BenchmarkLedgerMemory(b *testing.B) {
	cards := GenerateCards(1, 200000)
	bodies := make([]string, len(cards))
	for i, c := range cards {
		bodies[i] = cardBody(c)
	}
	w := &discardWriter{h: http.Header{}}
	rd := strings.NewReader("")
	req, _ := http.NewRequest(http.MethodPost, "http://sim"+cardapi.Path, rd)
	var perCard float64
	for b.Loop() {
		s := New(Config{Seed: 1})
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		for _, body := range bodies {
			rd.Reset(body)
			req.Body = readCloser{rd}
			clear(w.h)
			s.ServeHTTP(w, req)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		perCard = float64(m1.HeapAlloc-m0.HeapAlloc) / float64(len(cards))
		runtime.KeepAlive(s)
	}
	b.ReportMetric(perCard, "B/card")
}
