package pipeline

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"cardbatch/billing"
	"cardbatch/checkpoint"
)

// ShardSetting names the run setting that holds a sharded run's "K/N": it
// is part of the settings, so a resume with another --shard is refused, and
// merge reads it back from each checkpoint.
const ShardSetting = "shard"

// Shard is shard K of N of an input (`run --shard K/N`). The zero value
// (N == 0) is an unsharded run.
type Shard struct{ K, N int }

// ParseShard reads "K/N" with 0 <= K < N.
func ParseShard(s string) (Shard, error) {
	k, n, ok := strings.Cut(strings.TrimSpace(s), "/")
	ki, kerr := strconv.Atoi(k)
	ni, nerr := strconv.Atoi(n)
	if !ok || kerr != nil || nerr != nil || ni < 1 || ki < 0 || ki >= ni {
		return Shard{}, fmt.Errorf("--shard must be K/N with 0 <= K < N (for example 0/4 ... 3/4), not %q", s)
	}
	return Shard{K: ki, N: ni}, nil
}

// On reports whether the run is sharded.
func (s Shard) On() bool { return s.N > 0 }

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.K, s.N) }

// Of returns the shard (0..N-1) of a card from its keyed digest
// (cardkey.Hasher.Sum under the run's key): every row of one card lands in
// the same shard, and the split does not depend on anything but the key.
func (s Shard) Of(mac []byte) int {
	return int(binary.BigEndian.Uint64(mac[:8]) % uint64(s.N))
}

// owner returns the shard a row belongs to: its card's shard, or shard 0
// for a row without a valid card (so that a merge counts it once).
func (s Shard) owner(mac []byte) int {
	if mac == nil {
		return 0
	}
	return s.Of(mac)
}

// elsewhere settles a row of another shard (as OtherShard, final for this
// shard, never sent and counted only as other_shard) and reports whether
// it did. digits is the row's normalised card, "" when it has no valid one.
func (p *preparer) elsewhere(it *item, digits string, before bool) bool {
	sh := p.r.cfg.Shard
	if !sh.On() {
		return false
	}
	var mac []byte
	if digits != "" {
		mac = p.hasher.Sum(digits)
	}
	owner := sh.owner(mac)
	if owner == sh.K {
		return false
	}
	it.rec = checkpoint.RowRecord{Idx: it.row.Index, State: checkpoint.OtherShard, Billing: billing.None,
		Description: fmt.Sprintf("in shard %d/%d: cardbatch merge joins the shards", owner, sh.N)}
	it.how = settledHere
	if before {
		it.how = settledNoRecord
	}
	p.r.stats.finished.Add(1)
	return true
}

// validDigits is digits when the card is valid, else "".
func validDigits(digits string, err error) string {
	if err != nil {
		return ""
	}
	return digits
}
