package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/xuri/excelize/v2"

	"cardbatch/cardapi/sim"
	"cardbatch/internal/testcards"
)

// inputVersion names the generator: change it when the files it writes
// change, so that cached inputs of an older generator are not reused.
const inputVersion = "v1"

// input returns the path of an n-row input of the given kind ("csv" or
// "xlsx") in the cache folder, writing it first when it is not there yet.
// Every input holds distinct cards with valid check digits (the simulator's
// generator), so every row is one call.
func (b *bench) input(kind string, n int) (string, error) {
	path := filepath.Join(b.cache, fmt.Sprintf("cards-%d-%s.%s", n, inputVersion, kind))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(b.cache, 0o755); err != nil {
		return "", err
	}
	logf("writing the %d-row %s input into %s (once)", n, kind, b.cache)
	t0 := time.Now()
	tmp := filepath.Join(b.cache, fmt.Sprintf(".tmp-%d-%s", os.Getpid(), filepath.Base(path)))
	var err error
	if kind == "xlsx" {
		err = writeXLSX(tmp, n)
	} else {
		_, err = testcards.WriteCSV(tmp, n, cardSeed, testcards.Mix{})
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	logf("wrote %s in %s", path, time.Since(t0).Round(time.Second))
	return path, nil
}

// writeXLSX writes n rows "name, amount, card_no" to one sheet, streamed,
// with the card column as text cells (a text-formatted column, as the
// README asks users to keep it; a third of them typed in groups of four)
// and the amount as numbers.
func writeXLSX(path string, n int) error {
	f := excelize.NewFile()
	defer f.Close()
	sheet := f.GetSheetName(0)
	text, err := f.NewStyle(&excelize.Style{NumFmt: 49}) // "@": text
	if err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	if err := sw.SetColStyle(3, 3, text); err != nil {
		return err
	}
	if err := sw.SetRow("A1", []any{"name", "amount", "card_no"}); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(cardSeed, 7))
	for i, c := range sim.GenerateCards(cardSeed, n) {
		if i%3 == 0 {
			c = testcards.Group(c, " ")
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		row := []any{fmt.Sprintf("Customer %d", i), float64(rng.IntN(900_000)) / 100, excelize.Cell{StyleID: text, Value: c}}
		if err := sw.SetRow(cell, row); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	return f.SaveAs(path)
}
