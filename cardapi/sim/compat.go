package sim

import "cardbatch/cardapi"

// Answer returns the deterministic clean answer for a card: what the
// simulator with this seed answers when no fault and no override hits. It is
// a pure function of (seed, card):
//   - not 12–19 digits, or Luhn-invalid: "-3" "Bank card does not exist";
//   - a prefix in the bank table (longest prefix wins): "0" with the bank's
//     English name and account type;
//   - any other valid card: "0" with a generic bank for a deterministic ~10%
//     of cards, "-1" "No information found" for the rest.
//
// The card is not normalised: send digits only. With Config.NotExistProb,
// a server also answers "-3" for a share of valid cards (see NotExistProb).
//
// It returns the client's type so that tests can compare it with what the
// client decoded; the simulator's own wire format does not depend on it.
func Answer(seed int64, card string) cardapi.Answer {
	a := answers.clean(card, cardHash(seed, card), 0).ans
	return cardapi.Answer{Result: a.Result, Description: a.Description, AccountBank: a.AccountBank, AccountType: a.AccountType}
}
