package cache

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"
)

// Claim is what Acquire found for a card: an answer already stored, a live
// claim of another run, or (neither) this run's own claim.
type Claim struct {
	Answered bool   // an answer younger than maxAge is stored: use Answer; no claim is held
	Answer   Entry  // when Answered
	Holder   string // another run's live claim ("process 12 on host a (started ...)"); "" when not
}

// Mine reports whether this run holds the claim: it may call for the card,
// then Put the answer (which releases the claim) or Release it.
func (c Claim) Mine() bool { return !c.Answered && c.Holder == "" }

const (
	// claimCard takes the card's claim for this run (a new claim, a renewal
	// of its own, or the takeover of an expired one) and returns the owner
	// when it did; no row when another run's claim is live. $3 is the lease
	// in milliseconds; {now} the database's clock in milliseconds.
	claimCard = `INSERT INTO claims (mac, owner, expires) VALUES ($1, $2, {now} + $3)
		ON CONFLICT (mac) DO UPDATE SET owner = excluded.owner, expires = excluded.expires
		WHERE claims.owner = excluded.owner OR claims.expires < {now}
		RETURNING owner`
	claimHolder  = `SELECT owner FROM claims WHERE mac = $1`
	deleteClaim  = `DELETE FROM claims WHERE mac = $1 AND owner = $2`
	oneAnswer    = `SELECT mac, result, description, account_bank, account_type, answered_at FROM answers WHERE mac = $1`
	upsertAnswer = `INSERT INTO answers (mac, result, description, account_bank, account_type, answered_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (mac) DO UPDATE SET result = excluded.result,
		description = excluded.description, account_bank = excluded.account_bank,
		account_type = excluded.account_type, answered_at = excluded.answered_at
		WHERE excluded.answered_at >= answers.answered_at`
)

// Acquire claims the card mac for this run for lease, unless an answer
// younger than maxAge is stored (then it returns that answer and holds no
// claim) or another run holds a live claim (then it returns the holder).
// Calling it again while holding the claim renews the lease. The claim is
// taken before the answer is looked up, in one transaction: since Put
// stores an answer and drops its claim together, a run that wins a claim
// either finds the answer or knows that nobody stored one.
func (c *Cache) Acquire(ctx context.Context, mac []byte, lease, maxAge time.Duration) (Claim, error) {
	r := &claimReq{mac: mac, lease: lease, maxAge: maxAge}
	// Concurrent Acquires share a transaction, as Puts do.
	b := c.claims.join(r)
	err := c.claims.commit(&c.wmu, b, func(rs []*claimReq) error {
		return c.claimTx(context.WithoutCancel(ctx), rs)
	})
	return r.out, err
}

// claimReq is one Acquire waiting for its transaction, and its outcome.
type claimReq struct {
	mac           []byte
	lease, maxAge time.Duration
	out           Claim
}

// claimTx takes every claim of reqs in one transaction.
func (c *Cache) claimTx(ctx context.Context, reqs []*claimReq) error {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return c.wrap(err)
	}
	defer tx.Rollback()
	for _, r := range reqs {
		if r.out, err = c.claimOne(ctx, tx, r); err != nil {
			return err
		}
	}
	return c.wrap(tx.Commit())
}

// claimOne is Acquire's work for one card inside tx.
func (c *Cache) claimOne(ctx context.Context, tx *sql.Tx, r *claimReq) (Claim, error) {
	var owner string
	claim, err := c.stmt(ctx, tx, claimCard)
	if err != nil {
		return Claim{}, c.wrap(err)
	}
	err = claim.QueryRowContext(ctx, r.mac, c.owner, r.lease.Milliseconds()).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		// Another run's live claim (PostgreSQL: or one released since; ask again later).
		cl := Claim{Holder: "another run"}
		if err := tx.QueryRowContext(ctx, c.d.q(claimHolder), r.mac).Scan(&cl.Holder); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return Claim{}, c.wrap(err)
		}
		return cl, nil
	}
	if err != nil {
		return Claim{}, c.wrap(err)
	}
	one, err := c.stmt(ctx, tx, oneAnswer)
	if err != nil {
		return Claim{}, c.wrap(err)
	}
	e, err := scanEntry(one.QueryRowContext(ctx, r.mac))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Claim{}, nil
	case err != nil:
		return Claim{}, c.wrap(err)
	case !fresh(e, r.maxAge):
		return Claim{}, nil // expired: this run pays again
	}
	if _, err := tx.ExecContext(ctx, c.d.q(deleteClaim), r.mac, c.owner); err != nil {
		return Claim{}, c.wrap(err)
	}
	return Claim{Answered: true, Answer: e}, nil
}

// Release drops this run's claim on mac (its call failed, or gave an answer
// that is not cached): another run may then claim the card at once. It
// does nothing when the claim is not this run's any more.
func (c *Cache) Release(ctx context.Context, mac []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.db.ExecContext(ctx, c.d.q(deleteClaim), mac, c.owner)
	return c.wrap(err)
}

// sortByMAC sorts answers by key, so that one batch writes the keyed
// table's pages in order (and two batches never lock rows in opposite
// orders).
func sortByMAC(es []Entry) []Entry {
	slices.SortFunc(es, func(a, b Entry) int { return bytes.Compare(a.MAC, b.MAC) })
	return es
}
