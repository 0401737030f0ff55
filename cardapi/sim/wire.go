package sim

// The simulator's own view of the API, written from the provider's
// documentation (shared/api/check-1e.md) and not from the client's code: its
// path, its wire format and its billing table. A change in the client's
// decoder or billing classification therefore cannot move the simulator's
// ledger along with it; the reconciliation tests compare two independent
// accounts.

// Path is the API path the simulator serves (POST).
const Path = "/identity/bankcard/check-1e"

// Result codes of an HTTP 200 answer (check-1e.md, "Success response").
const (
	resultOK       = "0"  // query successful: charged
	resultNotFound = "-1" // no information found: charged
	resultBusy     = "-2" // verification center busy: free
	resultNotExist = "-3" // bank card does not exist: free
)

// chargedResult is the provider's billing table for an HTTP 200 answer:
// "0" and "-1" are charged, "-2" and "-3" are free, and every code the
// provider does not document is charged (the upstream centre charges "-5",
// and the document says to count unknown codes as charged). HTTP errors
// (4xx, 429, 5xx) are never charged; they have no result code.
func chargedResult(result string) bool {
	switch result {
	case resultBusy, resultNotExist:
		return false
	default:
		return true
	}
}

// wireAnswer is the body of an HTTP 200 answer, as the document shows it:
// result as a string, account_bank and account_type absent when empty.
type wireAnswer struct {
	Result      string `json:"result"`
	Description string `json:"description"`
	AccountBank string `json:"account_bank,omitempty"`
	AccountType int    `json:"account_type,omitempty"`
}

// Field encryption constants (check-1e.md, "encryption").
const (
	algorithmAES256CBC = "AES-256-CBC"
	fieldBankCard      = "bank_card"
)

// Card lengths the simulator treats as card numbers (check-1e.md and the
// CLI contract: 12 to 19 digits).
const (
	minDigits = 12
	maxDigits = 19
)

// validCard reports whether card is 12 to 19 ASCII digits passing the Luhn
// check: the cards the simulator can find. Any other bank_card is answered
// "-3" (bank card does not exist), as the upstream centre does.
func validCard(card string) bool {
	n := len(card)
	if n < minDigits || n > maxDigits {
		return false
	}
	for i := 0; i < n; i++ {
		if card[i] < '0' || card[i] > '9' {
			return false
		}
	}
	return luhnSum(card, false)%10 == 0
}

// luhnSum is the Luhn sum of the ASCII digits of s, from the right, the
// rightmost one doubled when double is set (as when s lacks its check digit).
func luhnSum(s string, double bool) int {
	sum := 0
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum
}
