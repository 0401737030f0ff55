// Package testcards writes realistic card files for tests: customer names,
// amounts and card numbers (from the simulator's generator, so real issuer
// prefixes with valid check digits) typed plain, with spaces or with
// dashes, with a share of Luhn failures and of repeats of an earlier row's
// card. The same seed and mix always give the same file.
package testcards

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"cardbatch/cardapi/sim"
)

// Fixture is a written file and what each of its rows holds.
type Fixture struct {
	Path  string
	Cards []string // the normalised card of each row
	Raw   []string // the card cell as written
}

// Mix says, out of a hundred rows, how many get a Luhn failure
// (InvalidPct) and how many repeat an earlier row's card (RepeatPct); Stream
// is the second word of the row generator's seed.
type Mix struct {
	InvalidPct, RepeatPct int
	Stream                uint64
}

// WriteCSV writes n rows "name,amount,card_no" to path (mode 0600).
func WriteCSV(path string, n int, seed uint64, mix Mix) (Fixture, error) {
	rng := rand.New(rand.NewPCG(seed, mix.Stream))
	pool := sim.GenerateCards(int64(seed), n)
	fx := Fixture{Path: path}
	var b strings.Builder
	b.WriteString("name,amount,card_no\n")
	for i := 0; i < n; i++ {
		card := pool[i]
		switch r := rng.IntN(100); {
		case r < mix.InvalidPct:
			last := int(card[len(card)-1] - '0')
			card = card[:len(card)-1] + strconv.Itoa((last+1)%10) // Luhn failure
		case r < mix.InvalidPct+mix.RepeatPct && i > 0:
			card = fx.Cards[rng.IntN(i)]
		}
		raw := card
		switch rng.IntN(3) {
		case 0:
			raw = Group(card, " ")
		case 1:
			raw = Group(card, "-")
		}
		fx.Cards = append(fx.Cards, card)
		fx.Raw = append(fx.Raw, raw)
		fmt.Fprintf(&b, "Customer %d,%d.%02d,%s\n", i, rng.IntN(9000), rng.IntN(100), raw)
	}
	return fx, os.WriteFile(path, []byte(b.String()), 0o600)
}

// Group writes a card in groups of four separated by sep.
func Group(card, sep string) string {
	var parts []string
	for i := 0; i < len(card); i += 4 {
		parts = append(parts, card[i:min(i+4, len(card))])
	}
	return strings.Join(parts, sep)
}
