// Command handclient is the baseline of `make bench`: the short script a
// user would write instead of cardbatch. Plain net/http (one keep-alive
// client) and encoding/json, calls paced by a time.Ticker at --rate, a pool
// of --workers goroutines, no retries, no checkpoint; it writes the input's
// rows in input order with cardbatch's added columns.
//
//	ACEDATA_TOKEN=... handclient --input cards.csv --output out.csv \
//	    --endpoint http://127.0.0.1:8080 --rate 60 --workers 32 [--column card_no]
package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

var header = []string{"result", "description", "account_bank", "account_type", "account_type_name", "billing", "status", "error", "answered_at"}

type answer struct {
	Result      json.RawMessage `json:"result"` // a string, or a number
	Description string          `json:"description"`
	AccountBank string          `json:"account_bank"`
	AccountType int             `json:"account_type"`
}

func main() {
	input := flag.String("input", "", "input CSV `FILE` with a header row")
	output := flag.String("output", "", "output CSV `FILE`")
	endpoint := flag.String("endpoint", "http://127.0.0.1:8080", "API base `URL`")
	column := flag.String("column", "card_no", "header `NAME` of the card column")
	rate := flag.Float64("rate", 60, "calls per second (0 = unlimited)")
	workers := flag.Int("workers", 32, "calls in flight, at most")
	flag.Parse()

	in, err := os.Open(*input)
	check(err)
	rows, err := csv.NewReader(in).ReadAll()
	check(err)
	in.Close()
	col := slices.Index(rows[0], *column)
	if col < 0 {
		check(fmt.Errorf("no column %q in the header", *column))
	}

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *workers}}
	url := *endpoint + "/identity/bankcard/check-1e"
	token := os.Getenv("ACEDATA_TOKEN")
	clean := strings.NewReplacer(" ", "", "-", "")

	jobs := make(chan int)
	go func() {
		var tick <-chan time.Time
		if *rate > 0 {
			t := time.NewTicker(time.Duration(float64(time.Second) / *rate))
			defer t.Stop()
			tick = t.C
		}
		for i := 1; i < len(rows); i++ {
			if tick != nil {
				<-tick
			}
			jobs <- i
		}
		close(jobs)
	}()
	var wg sync.WaitGroup
	for range *workers {
		wg.Go(func() {
			for i := range jobs {
				rows[i] = append(rows[i], lookup(client, url, token, clean.Replace(rows[i][col]))...)
			}
		})
	}
	wg.Wait()

	out, err := os.Create(*output)
	check(err)
	w := csv.NewWriter(out)
	rows[0] = append(rows[0], header...)
	check(w.WriteAll(rows))
	check(out.Close())
}

// lookup returns the added columns for one card.
func lookup(client *http.Client, url, token, card string) []string {
	body, _ := json.Marshal(map[string]string{"bank_card": card})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("content-type", "application/json")
	req.Header.Set("accept", "application/json")
	req.Header.Set("authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return failed(err.Error())
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode != http.StatusOK {
		return failed("HTTP " + resp.Status)
	}
	result := strings.Trim(string(a.Result), `"`)
	billing, status := "charged", "ok"
	switch result {
	case "-1":
		status = "not_found"
	case "-2":
		billing, status = "free", "busy"
	case "-3":
		billing, status = "free", "card_not_exist"
	}
	typeName := map[int]string{1: "debit", 2: "credit", 3: "prepaid", 4: "quasi-credit"}[a.AccountType]
	accountType := ""
	if a.AccountType != 0 {
		accountType = strconv.Itoa(a.AccountType)
	}
	return []string{result, a.Description, a.AccountBank, accountType, typeName, billing, status, "", time.Now().UTC().Format(time.RFC3339)}
}

func failed(why string) []string {
	return []string{"", "", "", "", "", "none", "failed", why, ""}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "handclient:", err)
		os.Exit(1)
	}
}
