package pipeline

import (
	"fmt"

	"cardbatch/billing"
	"cardbatch/checkpoint"
	"cardbatch/sinks"
)

// render turns a settled row into the cells the output adds: the one
// function every output row goes through, in a fresh run and a resume alike.
func render(a *checkpoint.Answered) sinks.Answer {
	out := sinks.Answer{Result: a.Result, Description: a.Description, AccountBank: a.AccountBank,
		AccountType: a.AccountType, Billing: billingCell(a), Status: string(a.State.OutputStatus()),
		Error: a.Error, AnsweredAt: a.At}
	if a.State == checkpoint.Duplicate {
		if out.Description == "" {
			out.Description = fmt.Sprintf("same card as row %d", a.DupOf+1)
		}
		out.Error = ""
		if !a.OrigState.Final() {
			out.Error = fmt.Sprintf("same card as row %d, which has no final answer yet", a.DupOf+1)
		}
	}
	if out.Result != "" && a.OrigState.Final() {
		out.Error = "" // a row with an answer has no error (an undocumented code is flagged by its billing)
	}
	return out
}

// billingCell says what the row's calls cost, as the summary counts them:
// charged, free, in_doubt (a call may have been charged but its answer was
// lost), or none (no call was made for this row).
func billingCell(a *checkpoint.Answered) string {
	switch a.Billing {
	case billing.Charged, billing.Free:
		return string(a.Billing)
	case billing.Unknown:
		if a.Result == "" {
			return "in_doubt"
		}
		return string(billing.Charged)
	}
	return string(billing.None)
}
