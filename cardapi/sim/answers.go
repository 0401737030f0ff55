package sim

import (
	"encoding/json"
	"sort"
)

// Descriptions the simulator answers with (the upstream centre answers in
// Chinese; the simulator speaks English).
const (
	DescOK       = "Query successful"
	DescNotFound = "No information found"
	DescBusy     = "Verification center service busy"
	DescNotExist = "Bank card does not exist"
	DescInvalid  = "Invalid card number" // result "-5", undocumented by the provider
)

// ResultInvalidCard is the undocumented result code the simulator answers
// when UnknownResultProb hits ("-5", charged by the upstream centre).
const ResultInvalidCard = "-5"

// BIN is one issuer prefix of the simulator's bank table: a card whose
// number starts with Prefix (longest prefix wins) is answered "0" with Bank
// and Type.
type BIN struct {
	Prefix string // issuer identification number (6 digits in this table)
	Bank   string // issuing bank, in English, as account_bank
	Type   int    // account_type: 1 debit, 2 credit, 3 prepaid, 4 quasi-credit
	Length int    // the usual length of this issuer's card numbers
}

// Bank names as the simulator answers them.
const (
	bankICBC  = "Industrial and Commercial Bank of China"
	bankABC   = "Agricultural Bank of China"
	bankBOC   = "Bank of China"
	bankCCB   = "China Construction Bank"
	bankCMB   = "China Merchants Bank"
	bankBoCom = "Bank of Communications"
	bankPSBC  = "Postal Savings Bank of China"
	bankCITIC = "China CITIC Bank"
	bankCEB   = "China Everbright Bank"
	bankCMBC  = "China Minsheng Bank"
	bankPAB   = "Ping An Bank"
	bankSPDB  = "Shanghai Pudong Development Bank"
	bankCIB   = "Industrial Bank"
	bankCGB   = "China Guangfa Bank"
	bankHXB   = "Hua Xia Bank"
	bankBOB   = "Bank of Beijing"
)

const (
	debit       = 1
	credit      = 2
	prepaid     = 3
	quasiCredit = 4
)

// binTable holds real issuer prefixes, Chinese banks first. Types and usual
// lengths follow the UnionPay card-BIN tables published by Chinese payment
// processors (where the brief's guess differed, the table wins: BOC 456351
// is the Great Wall electronic debit card, BOC 625907 a quasi-credit IC
// card, CCB 622280 a UnionPay debit card, CITIC 433670 a debit card).
// It is never modified.
var binTable = [...]BIN{
	// Industrial and Commercial Bank of China
	{"622202", bankICBC, debit, 19},
	{"622208", bankICBC, debit, 19},
	{"621226", bankICBC, debit, 19},
	{"625330", bankICBC, credit, 16},
	{"427020", bankICBC, credit, 16},
	// Agricultural Bank of China
	{"622848", bankABC, debit, 19},
	{"622845", bankABC, debit, 19},
	{"622836", bankABC, credit, 16},
	// Bank of China
	{"621661", bankBOC, debit, 19},
	{"621785", bankBOC, debit, 19},
	{"456351", bankBOC, debit, 19},
	{"625908", bankBOC, credit, 16},
	{"409666", bankBOC, credit, 16},
	{"625907", bankBOC, quasiCredit, 16},
	// China Construction Bank
	{"621700", bankCCB, debit, 19},
	{"622700", bankCCB, debit, 19},
	{"436742", bankCCB, debit, 19},
	{"622280", bankCCB, debit, 19},
	{"625964", bankCCB, credit, 16},
	{"622166", bankCCB, credit, 16},
	{"622725", bankCCB, quasiCredit, 16},
	// China Merchants Bank
	{"622588", bankCMB, debit, 16},
	{"621485", bankCMB, debit, 16},
	{"622575", bankCMB, credit, 16},
	{"439225", bankCMB, credit, 16},
	{"620520", bankCMB, prepaid, 19},
	// Bank of Communications
	{"622262", bankBoCom, debit, 19},
	{"622260", bankBoCom, debit, 19},
	{"622252", bankBoCom, credit, 16},
	{"521899", bankBoCom, credit, 16},
	{"620021", bankBoCom, prepaid, 19},
	{"622254", bankBoCom, quasiCredit, 16},
	// Postal Savings Bank of China
	{"621799", bankPSBC, debit, 19},
	{"622188", bankPSBC, debit, 19},
	{"621098", bankPSBC, debit, 19},
	{"625919", bankPSBC, credit, 16},
	{"620529", bankPSBC, prepaid, 19},
	// China CITIC Bank
	{"622690", bankCITIC, debit, 16},
	{"433670", bankCITIC, debit, 16},
	{"376968", bankCITIC, credit, 15},
	// China Everbright Bank
	{"622666", bankCEB, debit, 16},
	{"356837", bankCEB, credit, 16},
	// China Minsheng Bank
	{"622622", bankCMBC, debit, 16},
	{"622600", bankCMBC, credit, 16},
	// Ping An Bank
	{"622538", bankPAB, debit, 16},
	{"622155", bankPAB, credit, 16},
	// Shanghai Pudong Development Bank
	{"622521", bankSPDB, debit, 16},
	{"622276", bankSPDB, credit, 16},
	// Industrial Bank
	{"622909", bankCIB, debit, 18},
	{"622908", bankCIB, debit, 18},
	{"451290", bankCIB, credit, 16},
	// China Guangfa Bank
	{"622568", bankCGB, debit, 19},
	{"622555", bankCGB, credit, 16},
	// Hua Xia Bank
	{"622630", bankHXB, debit, 16},
	{"539867", bankHXB, credit, 16},
	// Bank of Beijing
	{"602969", bankBOB, debit, 16},
	{"522001", bankBOB, credit, 16},
	// International issuers
	{"414720", "JPMorgan Chase Bank", credit, 16},
	{"542418", "Citibank", credit, 16},
	{"356600", "JCB", credit, 16},
	{"378282", "American Express", credit, 15},
	{"601100", "Discover Bank", credit, 16},
}

// genericBanks answer the deterministic ~10% of valid cards with an unknown
// prefix that the simulator nevertheless "finds".
var genericBanks = [...]string{
	"Rural Commercial Bank",
	"City Commercial Bank",
	"Rural Credit Cooperative",
	"Village and Township Bank",
}

// BINs returns a copy of the simulator's bank table, Chinese banks first.
// Every prefix has 6 digits and a bank name; Type is 1 to 4.
func BINs() []BIN {
	out := make([]BIN, len(binTable))
	copy(out[:], binTable[:])
	return out
}

// answerEntry is an answer with its encoded body, computed once.
type answerEntry struct {
	ans     wireAnswer
	body    []byte
	charged bool
}

func newAnswerEntry(a wireAnswer) *answerEntry {
	b, err := json.Marshal(a)
	if err != nil {
		panic(err) // cannot happen for this struct
	}
	return &answerEntry{ans: a, body: b, charged: chargedResult(a.Result)}
}

// answerSet holds the precomputed answers and the prefix index. It is built
// once (package initialisation) and only read afterwards.
type answerSet struct {
	notExist, notFound, busy, invalid *answerEntry
	byPrefix                          map[string]*answerEntry
	prefixLens                        []int // distinct prefix lengths, longest first
	generic                           []*answerEntry
}

var answers = buildAnswers()

func buildAnswers() *answerSet {
	s := &answerSet{
		notExist: newAnswerEntry(wireAnswer{Result: resultNotExist, Description: DescNotExist}),
		notFound: newAnswerEntry(wireAnswer{Result: resultNotFound, Description: DescNotFound}),
		busy:     newAnswerEntry(wireAnswer{Result: resultBusy, Description: DescBusy}),
		invalid:  newAnswerEntry(wireAnswer{Result: ResultInvalidCard, Description: DescInvalid}),
		byPrefix: make(map[string]*answerEntry, len(binTable)),
	}
	lens := map[int]bool{}
	for _, b := range binTable {
		s.byPrefix[b.Prefix] = newAnswerEntry(wireAnswer{
			Result: resultOK, Description: DescOK, AccountBank: b.Bank, AccountType: b.Type,
		})
		lens[len(b.Prefix)] = true
	}
	for l := range lens {
		s.prefixLens = append(s.prefixLens, l)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(s.prefixLens)))
	for _, name := range genericBanks {
		s.generic = append(s.generic, newAnswerEntry(wireAnswer{
			Result: resultOK, Description: DescOK, AccountBank: name, AccountType: debit,
		}))
	}
	return s
}

// lookupPrefix returns the answer of the longest table prefix of card, or nil.
func (s *answerSet) lookupPrefix(card string) *answerEntry {
	for _, l := range s.prefixLens {
		if len(card) >= l {
			if e := s.byPrefix[card[:l]]; e != nil {
				return e
			}
		}
	}
	return nil
}

// clean returns the answer for card when no fault hits; h is cardHash(seed,
// card) and notExist the share of valid cards answered "-3" anyway
// (Config.NotExistProb).
func (s *answerSet) clean(card string, h uint64, notExist float64) *answerEntry {
	if !validCard(card) || notExistDraw(h) < notExist {
		return s.notExist
	}
	if e := s.lookupPrefix(card); e != nil {
		return e
	}
	if h%10 == 0 {
		return s.generic[(h/10)%uint64(len(s.generic))]
	}
	return s.notFound
}

// cardHash mixes the seed and the card into 64 well-distributed bits
// (FNV-1a followed by the splitmix64 finaliser). It does not allocate.
func cardHash(seed int64, card string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(card); i++ {
		h ^= uint64(card[i])
		h *= 1099511628211
	}
	return mix64(h ^ mix64(uint64(seed)^0x9e3779b97f4a7c15))
}

// notExistDraw is the card's uniform draw in [0, 1) for NotExistProb: a pure
// function of (seed, card), independent of the bits that pick the answer.
func notExistDraw(h uint64) float64 { return unit(mix64(h ^ 0x6e6f746578697374)) }

func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
