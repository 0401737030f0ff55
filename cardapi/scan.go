package cardapi

// scanAnswer is the fast path of decoding a 200 answer: it walks a flat JSON
// object once, without reflection, and hands the raw values of the four
// fields it knows to the same UnmarshalJSON methods encoding/json would call.
// It returns false — and the caller decodes with encoding/json instead —
// for anything it does not take apart itself: nested objects or arrays,
// escapes in keys, non-ASCII keys (encoding/json folds some of them onto
// ASCII), malformed JSON, a value a field refuses. When it returns true, w
// holds exactly what json.Unmarshal(data, w) would give (FuzzScanAnswer
// checks this).
func scanAnswer(data []byte, w *wireAnswer) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return skipSpace(data, i+1) == len(data)
	}
	for {
		// Key: a string without escapes, ASCII only.
		if i >= len(data) || data[i] != '"' {
			return false
		}
		ks := i + 1
		j := ks
		for j < len(data) && data[j] != '"' {
			if c := data[j]; c == '\\' || c < 0x20 || c >= 0x80 {
				return false
			}
			j++
		}
		if j >= len(data) {
			return false
		}
		key := data[ks:j]
		i = skipSpace(data, j+1)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		i = skipSpace(data, i+1)
		end, ok := valueEnd(data, i)
		if !ok {
			return false
		}
		raw := data[i:end]
		// Each field decodes itself in place, as encoding/json has it do
		// (null included; a repeated key decodes again into the same field).
		var err error
		switch {
		case equalFoldASCII(key, "result"):
			err = w.Result.UnmarshalJSON(raw)
		case equalFoldASCII(key, "description"):
			err = w.Description.UnmarshalJSON(raw)
		case equalFoldASCII(key, "account_bank"):
			err = w.AccountBank.UnmarshalJSON(raw)
		case equalFoldASCII(key, "account_type"):
			err = w.AccountType.UnmarshalJSON(raw)
		}
		if err != nil {
			return false
		}
		i = skipSpace(data, end)
		if i >= len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return skipSpace(data, i+1) == len(data)
		default:
			return false
		}
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// valueEnd returns the end of the JSON scalar starting at data[i]: a string
// (escapes checked by the field's decoder, control characters refused), a
// number in JSON's grammar, or true, false, null.
func valueEnd(data []byte, i int) (int, bool) {
	if i >= len(data) {
		return 0, false
	}
	switch c := data[i]; {
	case c == '"':
		for j := i + 1; j < len(data); j++ {
			switch b := data[j]; {
			case b == '\\':
				j++
				if j >= len(data) {
					return 0, false
				}
				switch data[j] {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				case 'u':
					if j+4 >= len(data) || !isHex(data[j+1]) || !isHex(data[j+2]) || !isHex(data[j+3]) || !isHex(data[j+4]) {
						return 0, false
					}
					j += 4
				default:
					return 0, false
				}
			case b == '"':
				return j + 1, true
			case b < 0x20:
				return 0, false
			}
		}
		return 0, false
	case c == '-' || c >= '0' && c <= '9':
		return numberEnd(data, i)
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(data)-i >= len(lit) && string(data[i:i+len(lit)]) == lit {
				return i + len(lit), true
			}
		}
		return 0, false
	}
}

// numberEnd checks JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func numberEnd(data []byte, i int) (int, bool) {
	digits := func(j int) int {
		for j < len(data) && data[j] >= '0' && data[j] <= '9' {
			j++
		}
		return j
	}
	if data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		i = digits(i)
	default:
		return 0, false
	}
	if i < len(data) && data[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

// equalFoldASCII reports whether key (ASCII) equals name ignoring case, as
// encoding/json matches keys to fields.
func equalFoldASCII(key []byte, name string) bool {
	if len(key) != len(name) {
		return false
	}
	for i := range key {
		a, b := key[i], name[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
