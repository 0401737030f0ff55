package pipeline

import (
	"regexp"

	"cardbatch/cardnum"
)

// cardLike matches a run of 12 to 19 digits, ASCII or full-width, that may
// be split by single separators.
var cardLike = regexp.MustCompile(`[0-9０-９](?:[\s\p{Zs}._/\-]?[0-9０-９]){11,18}`)

// scrub masks every card-like number in s.
func scrub(s string) string {
	return cardLike.ReplaceAllStringFunc(s, func(m string) string { return cardnum.Mask(cardnum.Normalize(m)) })
}
