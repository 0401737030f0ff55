package main

import "strings"

// textInput is what the output needs to know of a text input's encoding.
type textInput interface {
	Encoding() string
	HadBOM() bool
}

// csvBOM decides whether a CSV output starts with a UTF-8 BOM: --bom
// forces it, --no-bom refuses it; otherwise it does when the input had a
// BOM or was GB18030, GBK or UTF-16 text, which Excel shows garbled when a
// UTF-8 file has no BOM.
func csvBOM(force, refuse bool, in textInput) bool {
	switch {
	case force:
		return true
	case refuse:
		return false
	case in.HadBOM():
		return true
	}
	enc := in.Encoding()
	return enc == "gb18030" || enc == "gbk" || strings.HasPrefix(enc, "utf-16")
}
