package sim

import "math/rand/v2"

// knownShare is the percentage of generated cards drawn from the bank table.
const knownShare = 85

// GenerateCard returns one realistic, Luhn-valid card number drawn from rng:
// 85% from the bank table (with the issuer's usual length: 16 or 19 digits
// mostly, 18 for Industrial Bank, 15 for American Express cards), 15% from
// an issuer prefix the table does not know (UnionPay 62, Visa 4 or
// Mastercard 51–55 ranges; 16 digits mostly, then 19, 15 and 13). The same
// rng state gives the same card.
func GenerateCard(rng *rand.Rand) string {
	var buf [19]byte
	var n int
	if rng.IntN(100) < knownShare {
		b := &binTable[rng.IntN(len(binTable))]
		n = copy(buf[:], b.Prefix)
		return string(fillCard(rng, buf[:b.Length], n))
	}
	var length int
	switch r := rng.IntN(20); {
	case r < 13:
		length = 16
	case r < 18:
		length = 19
	case r == 18:
		length = 15
	default:
		length = 13
	}
	family := rng.IntN(10)
	if length == 13 {
		family = 5 // 13-digit numbers are old Visa numbers
	}
	for {
		n = unknownPrefix(rng, buf[:], family)
		if answers.lookupPrefix(string(buf[:n])) == nil {
			break
		}
	}
	return string(fillCard(rng, buf[:length], n))
}

// unknownPrefix writes a 6-digit issuer prefix of the given family (0-4
// UnionPay 62, 5-7 Visa 4, 8-9 Mastercard 51-55) into b and returns 6.
func unknownPrefix(rng *rand.Rand, b []byte, family int) int {
	i := 0
	switch {
	case family < 5:
		b[0], b[1] = '6', '2'
		i = 2
	case family < 8:
		b[0] = '4'
		i = 1
	default:
		b[0], b[1] = '5', byte('1'+rng.IntN(5))
		i = 2
	}
	for ; i < 6; i++ {
		b[i] = byte('0' + rng.IntN(10))
	}
	return 6
}

// fillCard fills b[from:len(b)-1] with random digits and sets the Luhn check
// digit in the last place.
func fillCard(rng *rand.Rand, b []byte, from int) []byte {
	last := len(b) - 1
	for i := from; i < last; i++ {
		b[i] = byte('0' + rng.IntN(10))
	}
	// The digit left of the check digit is doubled.
	b[last] = byte('0' + (10-luhnSum(string(b[:last]), true)%10)%10)
	return b
}

// GenerateCards returns n distinct realistic, Luhn-valid card numbers (see
// GenerateCard). The result is a pure function of (seed, n), and a longer
// list starts with the shorter one: GenerateCards(s, 10) is a prefix of
// GenerateCards(s, 20). It returns an empty slice for n <= 0.
func GenerateCards(seed int64, n int) []string {
	if n <= 0 {
		return []string{}
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6361726462617463)) // "cardbatc"
	out := make([]string, 0, n)
	seen := make(map[string]struct{}, n)
	for len(out) < n {
		c := GenerateCard(rng)
		if _, dup := seen[c]; dup {
			continue
		}
		seen[c] = struct{}{}
		out = append(out, c)
	}
	return out
}
