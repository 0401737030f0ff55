// Command handclient is the baseline of `make bench`: the "script a user
// writes" to enrich a CSV of card numbers. It is deliberately minimal: one
// keep-alive HTTP client, a fixed pool of goroutines, no rate limit, no
// retries, no dedupe, no checkpoint, output rows in completion order.
//
//	ACEDATA_TOKEN=... handclient --input cards.csv --output out.csv \
//	    --endpoint http://127.0.0.1:8080 --workers 64 [--column card_no]
package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

type answer struct {
	Result      json.RawMessage `json:"result"`
	Description string          `json:"description"`
	AccountBank string          `json:"account_bank"`
	AccountType json.RawMessage `json:"account_type"`
}

func main() {
	input := flag.String("input", "", "input CSV `FILE` with a header row")
	output := flag.String("output", "", "output CSV `FILE`")
	endpoint := flag.String("endpoint", "http://127.0.0.1:8080", "API base `URL`")
	workers := flag.Int("workers", 64, "concurrent requests")
	column := flag.String("column", "card_no", "header `NAME` of the card column")
	flag.Parse()
	if *input == "" || *output == "" {
		fmt.Fprintln(os.Stderr, "handclient: --input and --output are required")
		os.Exit(2)
	}
	token := os.Getenv("ACEDATA_TOKEN")

	in, err := os.Open(*input)
	check(err)
	defer in.Close()
	r := csv.NewReader(in)
	header, err := r.Read()
	check(err)
	col := -1
	for i, h := range header {
		if h == *column {
			col = i
		}
	}
	if col < 0 {
		check(fmt.Errorf("no column %q in the header", *column))
	}

	out, err := os.Create(*output)
	check(err)
	w := csv.NewWriter(out)
	check(w.Write(append(header, "result", "bank", "type")))

	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        64,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	url := *endpoint + "/identity/bankcard/check-1e"

	rows := make(chan []string, *workers)
	results := make(chan []string, *workers)
	var wg sync.WaitGroup
	for i := 0; i < *workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for row := range rows {
				results <- append(row, lookup(client, url, token, row[col])...)
			}
		}()
	}
	done := make(chan struct{})
	failed := 0
	go func() {
		for rec := range results {
			if rec[len(rec)-3] == "" {
				failed++
			}
			if err := w.Write(rec); err != nil {
				check(err)
			}
		}
		close(done)
	}()
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		check(err)
		rows <- row
	}
	close(rows)
	wg.Wait()
	close(results)
	<-done
	w.Flush()
	check(w.Error())
	check(out.Close())
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "handclient: %d rows without an answer\n", failed)
	}
}

// lookup returns result, bank and type for one card; empty strings when the
// call failed (the naive script does not retry).
func lookup(client *http.Client, url, token, card string) []string {
	body, _ := json.Marshal(map[string]string{"bank_card": card})
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return []string{"", "", ""}
	}
	req.Header.Set("content-type", "application/json")
	req.Header.Set("accept", "application/json")
	req.Header.Set("authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return []string{"", "", ""}
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return []string{"", "", ""}
	}
	io.Copy(io.Discard, resp.Body) // drain so the connection is reused
	return []string{unquote(a.Result), a.AccountBank, unquote(a.AccountType)}
}

func unquote(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if s, err := strconv.Unquote(string(raw)); err == nil {
		return s
	}
	return string(raw)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "handclient:", err)
		os.Exit(1)
	}
}
