package billing

import "testing"

func TestClassOf(t *testing.T) {
	for _, tc := range []struct {
		result string
		want   Class
		budget bool
	}{
		{"0", Charged, true}, {"-1", Charged, true}, {"-2", Free, false}, {"-3", Free, false},
		{"-4", Unknown, true}, {"-5", Unknown, true}, {"", Unknown, true}, {"7", Unknown, true},
	} {
		if got := ClassOf(tc.result); got != tc.want || got.CountsAsCharged() != tc.budget {
			t.Errorf("ClassOf(%q) = %s (counts as charged %v), want %s (%v)", tc.result, got, got.CountsAsCharged(), tc.want, tc.budget)
		}
	}
	if None.CountsAsCharged() || Free.CountsAsCharged() {
		t.Error("none and free must not count against a budget")
	}
}

func TestAccountTypeName(t *testing.T) {
	want := map[int]string{0: "", 1: "debit", 2: "credit", 3: "prepaid", 4: "quasi-credit", 5: "", -1: ""}
	for in, name := range want {
		if got := AccountTypeName(in); got != name {
			t.Errorf("AccountTypeName(%d) = %q, want %q", in, got, name)
		}
	}
}
