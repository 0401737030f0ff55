//go:build ignore

// gen writes the sample inputs: go run samples/gen.go
// The cards come from the simulator's generator (real issuer prefixes, valid
// Luhn digits), written the way people type them, with a few invalid ones
// and repeats, so the README's first command shows every row status.
package main

import (
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/xuri/excelize/v2"

	"cardbatch/cardapi/sim"
)

const rows = 300

var surnames = []string{"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "Smith", "Garcia", "Tanaka", "Nguyen"}
var given = []string{"伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "Anna", "Li", "Ken", "Mai"}
var cities = []string{"北京", "上海", "广州", "深圳", "杭州", "成都", "Hong Kong", "Singapore"}

func main() {
	rng := rand.New(rand.NewPCG(2026, 11))
	cards := sim.GenerateCards(2026, rows)
	header := []string{"customer", "city", "amount_cny", "card_no", "note"}
	var recs [][]string
	var used []string
	for i := 0; i < rows; i++ {
		card := cards[i]
		note := ""
		switch r := rng.IntN(100); {
		case r < 3:
			card = card[:len(card)-1] + fmt.Sprint((int(card[len(card)-1]-'0')+3)%10)
			note = "typo"
		case r < 5:
			card = card[:10]
			note = "truncated"
		case r < 20 && i > 10:
			card = used[rng.IntN(len(used))]
			note = "repeat customer"
		}
		used = append(used, card)
		written := card
		switch rng.IntN(6) {
		case 0:
			written = group(card, " ")
		case 1:
			written = group(card, "-")
		case 2:
			if i%40 == 7 {
				written = fullWidth(card)
				note = "full-width digits"
			}
		}
		name := surnames[rng.IntN(len(surnames))] + given[rng.IntN(len(given))]
		if strings.ContainsAny(name, "abcdefghijklmnopqrstuvwxyz") {
			name = given[rng.IntN(4)+10] + " " + surnames[rng.IntN(4)+10]
		}
		recs = append(recs, []string{name, cities[rng.IntN(len(cities))],
			fmt.Sprintf("%d.%02d", rng.IntN(50000), rng.IntN(100)), written, note})
	}
	f, err := os.Create("samples/cards.csv")
	check(err)
	w := csv.NewWriter(f)
	check(w.Write(header))
	check(w.WriteAll(recs))
	check(f.Close())

	x := excelize.NewFile()
	defer x.Close()
	sheet := "Customers"
	check(x.SetSheetName("Sheet1", sheet))
	text, err := x.NewStyle(&excelize.Style{NumFmt: 49})
	check(err)
	check(x.SetColStyle(sheet, "D", text))
	for j, h := range header {
		cell, _ := excelize.CoordinatesToCellName(j+1, 1)
		check(x.SetCellStr(sheet, cell, h))
	}
	for i, rec := range recs {
		for j, v := range rec {
			cell, _ := excelize.CoordinatesToCellName(j+1, i+2)
			if j == 2 {
				var amount float64
				fmt.Sscan(v, &amount)
				check(x.SetCellFloat(sheet, cell, amount, 2, 64))
				continue
			}
			check(x.SetCellStr(sheet, cell, v))
		}
	}
	// One card typed into a General cell, as Excel stores it: a number with
	// its 16th digit lost. cardbatch must refuse to send it.
	check(x.SetCellValue(sheet, fmt.Sprintf("D%d", rows+2), 6228480402564890000))
	check(x.SetCellStr(sheet, fmt.Sprintf("A%d", rows+2), "Excel damaged"))
	check(x.SetCellStr(sheet, fmt.Sprintf("E%d", rows+2), "numeric cell"))
	check(x.SaveAs("samples/cards.xlsx"))
}

func group(card, sep string) string {
	var parts []string
	for i := 0; i < len(card); i += 4 {
		parts = append(parts, card[i:min(i+4, len(card))])
	}
	return strings.Join(parts, sep)
}

func fullWidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r - '0' + '０')
	}
	return b.String()
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}
