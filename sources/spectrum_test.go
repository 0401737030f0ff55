package sources

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// spectrumErrata are known mistakes in csv-spectrum's expected JSON: file ->
// key -> the value the CSV really holds.
var spectrumErrata = map[string]map[string]string{
	"location_coordinates": {"Contact Phone Number": "2095257564"},
}

// jsonObject is a JSON object with its keys in order.
type jsonObject struct {
	keys []string
	vals map[string]string
}

// decodeSpectrumJSON reads an array of flat string objects (or one object)
// keeping the key order, which is the header order.
func decodeSpectrumJSON(t *testing.T, data []byte) []jsonObject {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []jsonObject
	readObject := func() jsonObject {
		o := jsonObject{vals: map[string]string{}}
		for dec.More() {
			k, err := dec.Token()
			must(t, err)
			v, err := dec.Token()
			must(t, err)
			o.keys = append(o.keys, k.(string))
			o.vals[k.(string)] = v.(string)
		}
		_, err := dec.Token() // }
		must(t, err)
		return o
	}
	tok, err := dec.Token()
	must(t, err)
	switch tok {
	case json.Delim('['):
		for dec.More() {
			tok, err := dec.Token()
			must(t, err)
			if tok != json.Delim('{') {
				t.Fatalf("unexpected %v", tok)
			}
			out = append(out, readObject())
		}
	case json.Delim('{'):
		out = append(out, readObject())
	default:
		t.Fatalf("unexpected %v", tok)
	}
	return out
}

// TestCSVSpectrum reads the csv-spectrum acid tests through Open and
// compares the rows with their expected JSON.
func TestCSVSpectrum(t *testing.T) {
	files, err := filepath.Glob("testdata/csv-spectrum/*.csv")
	must(t, err)
	if len(files) < 12 {
		t.Fatalf("found %d csv-spectrum files", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".csv")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(strings.TrimSuffix(file, ".csv") + ".json")
			must(t, err)
			want := decodeSpectrumJSON(t, data)
			for k, v := range spectrumErrata[name] {
				for _, o := range want {
					o.vals[k] = v
				}
			}
			// These files hold no card numbers: name the first column.
			in := openT(t, Options{Path: file, Column: "1"})
			if !in.HasHeader() {
				t.Fatalf("no header detected")
			}
			header := in.Header()
			if !reflect.DeepEqual(header, want[0].keys) {
				t.Fatalf("Header = %q, want %q", header, want[0].keys)
			}
			rows := readAll(t, in)
			if len(rows) != len(want) {
				t.Fatalf("read %d rows, want %d", len(rows), len(want))
			}
			for i, r := range rows {
				if len(r.Fields) != len(header) {
					t.Errorf("row %d has %d fields, want %d", i, len(r.Fields), len(header))
					continue
				}
				for j, h := range header {
					if r.Fields[j] != want[i].vals[h] {
						t.Errorf("row %d %q = %q, want %q", i, h, r.Fields[j], want[i].vals[h])
					}
				}
			}
		})
	}
}
