// Package billing holds the vocabulary of what a call costs: the billing
// class of each result code and the summary of a run that is reconciled
// against the provider's own count. It is a leaf package: the API client,
// the checkpoint and the sinks all speak it, none of them through another.
package billing

// Class says whether the provider bills a call.
type Class string

const (
	// Charged: the provider bills this answer (result "0" and "-1").
	Charged Class = "charged"
	// Free: the provider does not bill it (result "-2", "-3", and every
	// HTTP 4xx/5xx answer).
	Free Class = "free"
	// Unknown: an undocumented result code. Counted as charged in every
	// estimate and budget, and flagged in the summary.
	Unknown Class = "unknown"
	// None: no call was made (invalid, duplicate or cached row).
	None Class = "none"
)

// The documented result codes of check-1e.
const (
	ResultOK       = "0"  // query successful, charged
	ResultNotFound = "-1" // no information found, charged
	ResultBusy     = "-2" // verification center busy, free, retry later
	ResultNotExist = "-3" // bank card does not exist, free
)

// ClassOf returns the billing class of a result code. Codes the provider does
// not document are Unknown.
func ClassOf(result string) Class {
	switch result {
	case ResultOK, ResultNotFound:
		return Charged
	case ResultBusy, ResultNotExist:
		return Free
	default:
		return Unknown
	}
}

// CountsAsCharged reports whether a class must be counted against a budget.
func (c Class) CountsAsCharged() bool { return c == Charged || c == Unknown }

// AccountTypeName maps the API's account_type to the output's
// account_type_name; it returns "" for 0 (absent) and unknown values.
func AccountTypeName(t int) string {
	switch t {
	case 1:
		return "debit"
	case 2:
		return "credit"
	case 3:
		return "prepaid"
	case 4:
		return "quasi-credit"
	}
	return ""
}
