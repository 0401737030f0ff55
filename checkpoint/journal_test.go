package checkpoint

import (
	"context"
	"encoding/binary"
	"os"
	"testing"
)

// TestJournalOfWhichAttempt: BeginAttempt counts the rows of a journal only
// when it is the last attempt's (or has no header: an earlier version's).
// A journal left by an attempt whose successor committed its rows as in
// doubt and died before emptying it is not counted twice.
func TestJournalOfWhichAttempt(t *testing.T) {
	header := func(attempt uint64) []byte {
		b := make([]byte, 16)
		copy(b, "cbinfl02")
		binary.LittleEndian.PutUint64(b[8:], attempt)
		return b
	}
	slots := func(vals ...uint64) []byte {
		b := make([]byte, 8*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint64(b[8*i:], v)
		}
		return b
	}
	cases := []struct {
		name    string
		journal []byte
		want    int64
	}{
		{"the last attempt's", append(header(2), slots(0, 8, 10)...), 2},                  // rows 7 and 9
		{"an older attempt's", append(header(1), slots(0, 8, 10)...), 0},                  // counted when attempt 2 began
		{"no header (earlier version)", slots(8, 0, 10, 2), 2},                            // rows 7 and 9; row 1 is final
		{"the last attempt's, a row in doubt re-sent", append(header(2), slots(6)...), 1}, // row 5
		{"empty", nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s, path := openTemp(t)
			startRun(t, s)
			for range 2 { // attempts 1 and 2; 2 dies
				if _, _, err := s.BeginAttempt(ctx, 3); err != nil {
					t.Fatal(err)
				}
				s.journal.close()
				s.journal = nil
			}
			if _, err := s.db.ExecContext(ctx, `INSERT INTO rows (idx, state, attempt_n) VALUES (1, 'ok', 1), (5, 'in_doubt', 1)`); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(s.JournalPath(), c.journal, 0o600); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s2, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			n, inDoubt, err := s2.BeginAttempt(ctx, 3)
			if err != nil || n != 3 || inDoubt != c.want {
				t.Fatalf("BeginAttempt = %d, %d, %v; want 3, %d", n, inDoubt, err, c.want)
			}
			sum, err := s2.Summary(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Attempts[1].InDoubt != c.want || sum.Attempts[1].Outcome != "killed" {
				t.Fatalf("attempt 2: in doubt %d, outcome %q; want %d, killed", sum.Attempts[1].InDoubt, sum.Attempts[1].Outcome, c.want)
			}
		})
	}
}
