package sim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"strings"
	"sync"
)

// The per-card ledger. It holds one small record per distinct card, keyed
// by a digest of the card under a random key drawn when the simulator starts
// (HMAC-SHA-256, 128 bits kept): the simulator's memory never holds a card
// number, only digests that cannot be matched to a card without the key.
// Answers after a card's first are kept in a side map.

// digest is the keyed digest of a card.
type digest [16]byte

// digester computes keyed digests; its HMAC states are pooled.
type digester struct {
	pool sync.Pool
}

func newDigester() *digester {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails
	d := &digester{}
	d.pool.New = func() any { return hmac.New(sha256.New, key) }
	return d
}

func (d *digester) of(card string) digest {
	m := d.pool.Get().(hash.Hash)
	m.Reset()
	_, _ = m.Write([]byte(card))
	var sum [sha256.Size]byte
	var out digest
	copy(out[:], m.Sum(sum[:0]))
	d.pool.Put(m)
	return out
}

// numShards is the number of card-map shards (a power of two).
const numShards = 64

// entry is a compact LedgerEntry: result and code are interned.
type entry struct {
	status uint16
	result uint8 // index into the interned strings
	code   uint8
	flags  uint8
}

const (
	flagCharged = 1 << iota
	flagDropped
	flagAbandoned
)

type cardState struct {
	next    uint32 // calls seen for this card; seeds the next call's draws
	count   uint32 // answers recorded
	charged uint32
	first   entry // the first answer; the others are in cardMap.more
}

type cardMap[K comparable] struct {
	states map[K]cardState
	more   map[K][]entry
}

func newCardMap[K comparable]() cardMap[K] {
	return cardMap[K]{states: make(map[K]cardState), more: make(map[K][]entry)}
}

func (m *cardMap[K]) touch(k K) (n uint32, isNew bool) {
	st, ok := m.states[k]
	n = st.next
	st.next++
	m.states[k] = st
	return n, !ok
}

// record appends e and returns the card's charged count after it.
func (m *cardMap[K]) record(k K, e entry) uint32 {
	st := m.states[k]
	if st.count == 0 {
		st.first = e
	} else {
		m.more[k] = append(m.more[k], e)
	}
	st.count++
	if e.flags&flagCharged != 0 {
		st.charged++
	}
	m.states[k] = st
	return st.charged
}

func (m *cardMap[K]) entries(k K) []entry {
	st, ok := m.states[k]
	if !ok || st.count == 0 {
		return nil
	}
	return append([]entry{st.first}, m.more[k]...)
}

type cardShard struct {
	mu    sync.Mutex
	cards cardMap[digest]
}

func (s *Server) shard(k digest) *cardShard {
	return &s.shards[binary.LittleEndian.Uint64(k[:8])&(numShards-1)]
}

// touch registers a call for the card of digest k and returns the call's
// index among the card's calls (from 0).
func (s *Server) touch(k digest) uint64 {
	sh := s.shard(k)
	sh.mu.Lock()
	n, isNew := sh.cards.touch(k)
	sh.mu.Unlock()
	if isNew {
		s.distinct.Add(1)
	}
	return uint64(n)
}

func (s *Server) recordCard(k digest, e entry) {
	sh := s.shard(k)
	sh.mu.Lock()
	charged := sh.cards.record(k, e)
	sh.mu.Unlock()
	if e.flags&flagCharged != 0 && charged == 2 {
		s.multi.Add(1)
	}
}

func (s *Server) cardEntries(card string) (cardState, []entry) {
	k := s.digests.of(card)
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.cards.states[k], sh.cards.entries(k)
}

// AnswersFor returns every answer the card got, in order (nil for a card
// never answered). In-process only: it is never served over HTTP, since it
// takes a card number.
func (s *Server) AnswersFor(card string) []LedgerEntry {
	_, es := s.cardEntries(card)
	if es == nil {
		return nil
	}
	out := make([]LedgerEntry, len(es))
	for i, e := range es {
		out[i] = LedgerEntry{
			Status:    int(e.status),
			Result:    s.unintern(e.result),
			Code:      s.unintern(e.code),
			Charged:   e.flags&flagCharged != 0,
			Dropped:   e.flags&flagDropped != 0,
			Abandoned: e.flags&flagAbandoned != 0,
		}
	}
	return out
}

// ChargedCount returns how many charged answers the card got. In-process
// only, like AnswersFor.
func (s *Server) ChargedCount(card string) int {
	st, _ := s.cardEntries(card)
	return int(st.charged)
}

// knownStrings are the result codes and error codes the simulator itself
// answers; index 0 is the empty string. Never modified.
var knownStrings = [...]string{"", "0", "-1", "-2", "-3", "-5",
	"invalid_token", "used_up", "too_many_requests", "bad_request", "no_api",
	"method_not_allowed", "api_error", "timeout"}

// internOverflow stands for a string that did not fit the intern table.
const internOverflow = 255

// intern returns the index of str; strings beyond the simulator's own come
// from overrides and are few.
func (s *Server) intern(str string) uint8 {
	for i, k := range knownStrings {
		if k == str {
			return uint8(i)
		}
	}
	s.internMu.Lock()
	defer s.internMu.Unlock()
	if i, ok := s.internIdx[str]; ok {
		return i
	}
	i := len(knownStrings) + len(s.interned)
	if i >= internOverflow {
		return internOverflow
	}
	if s.internIdx == nil {
		s.internIdx = make(map[string]uint8)
	}
	s.interned = append(s.interned, strings.Clone(str))
	s.internIdx[s.interned[len(s.interned)-1]] = uint8(i)
	return uint8(i)
}

func (s *Server) unintern(i uint8) string {
	if int(i) < len(knownStrings) {
		return knownStrings[i]
	}
	if i == internOverflow {
		return "?"
	}
	s.internMu.Lock()
	defer s.internMu.Unlock()
	return s.interned[int(i)-len(knownStrings)]
}
