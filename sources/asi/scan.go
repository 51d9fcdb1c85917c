package asi

import (
	"errors"
	"strconv"
	"unsafe"

	json "github.com/goccy/go-json"
)

// parseNumbers appends the numbers of a JSON array of numbers and nulls to
// vals, and reports which are present in valid (left nil while every value so
// far is present). It returns ok false for anything else (a string, a bool,
// an object), and the caller falls back to the generic decoder.
//
// Hand-written for speed and for nulls: preprocessed history is millions of
// samples, goccy/go-json decoding into []float64 would turn a null sample
// into 0, and decoding into []*float64 allocates per sample; this scanner
// allocates nothing per value (BenchmarkParseNumbers).
func parseNumbers(raw []byte, vals []float64, valid []bool) ([]float64, []bool, bool) {
	start := len(vals)
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return vals, valid, false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return vals, valid, skipSpace(raw, i+1) == len(raw)
	}
	for {
		if i >= len(raw) {
			return vals[:start], truncValid(valid, start), false
		}
		switch c := raw[i]; {
		case c == 'n':
			if len(raw)-i < 4 || string(raw[i:i+4]) != "null" {
				return vals[:start], truncValid(valid, start), false
			}
			if valid == nil {
				valid = make([]bool, len(vals), cap(vals)+1)
				for k := range valid {
					valid[k] = true
				}
			}
			vals = append(vals, 0)
			valid = append(valid, false)
			i += 4
		case c == '-' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(raw) && isNumberByte(raw[j]) {
				j++
			}
			// ParseFloat does not keep its argument, so no copy is needed.
			f, err := strconv.ParseFloat(unsafe.String(&raw[i], j-i), 64)
			if err != nil {
				return vals[:start], truncValid(valid, start), false
			}
			vals = append(vals, f)
			if valid != nil {
				valid = append(valid, true)
			}
			i = j
		default:
			return vals[:start], truncValid(valid, start), false
		}
		i = skipSpace(raw, i)
		if i >= len(raw) {
			return vals[:start], truncValid(valid, start), false
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case ']':
			return vals, valid, skipSpace(raw, i+1) == len(raw)
		default:
			return vals[:start], truncValid(valid, start), false
		}
	}
}

func truncValid(valid []bool, n int) []bool {
	if valid == nil || len(valid) < n {
		return valid
	}
	return valid[:n]
}

func isNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// members calls fn with the key and the raw value of every member of the JSON
// object raw, in order, and fails if raw is not an object. Values are
// delimited, not validated: callers decode them.
//
// Hand-written for the same reason as parseNumbers: decoding every message
// and every group into a map[string]json.RawMessage with goccy/go-json took a
// fifth of the CPU of a history export (BenchmarkHistoryToParquet's
// profile); this walks the bytes without allocating.
func members(raw []byte, fn func(key, value []byte) error) error {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return errNotObject
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return trailing(raw, i+1)
	}
	for {
		if i >= len(raw) || raw[i] != '"' {
			return errNotObject
		}
		end, escaped, ok := stringEnd(raw, i)
		if !ok {
			return errNotObject
		}
		key := raw[i+1 : end-1]
		if escaped {
			var s string
			if json.Unmarshal(raw[i:end], &s) != nil {
				return errNotObject
			}
			key = []byte(s)
		}
		i = skipSpace(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return errNotObject
		}
		i = skipSpace(raw, i+1)
		j, ok := valueEnd(raw, i)
		if !ok {
			return errNotObject
		}
		if err := fn(key, raw[i:j]); err != nil {
			return err
		}
		i = skipSpace(raw, j)
		if i >= len(raw) {
			return errNotObject
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case '}':
			return trailing(raw, i+1)
		default:
			return errNotObject
		}
	}
}

var errNotObject = errors.New("not a JSON object")

func trailing(raw []byte, i int) error {
	if skipSpace(raw, i) != len(raw) {
		return errNotObject
	}
	return nil
}

// stringEnd returns the index after the string starting at raw[i] (a quote)
// and whether it holds escapes.
func stringEnd(raw []byte, i int) (end int, escaped, ok bool) {
	for j := i + 1; j < len(raw); j++ {
		switch raw[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped, true
		}
	}
	return 0, false, false
}

// valueEnd returns the index after the JSON value starting at raw[i].
func valueEnd(raw []byte, i int) (int, bool) {
	if i >= len(raw) {
		return 0, false
	}
	switch raw[i] {
	case '"':
		end, _, ok := stringEnd(raw, i)
		return end, ok
	case '{', '[':
		depth := 0
		for j := i; j < len(raw); j++ {
			switch raw[j] {
			case '"':
				end, _, ok := stringEnd(raw, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i
	for j < len(raw) && raw[j] != ',' && raw[j] != '}' && raw[j] != ']' && raw[j] != ' ' && raw[j] != '\n' && raw[j] != '\t' && raw[j] != '\r' {
		j++
	}
	return j, j > i
}

// splitArray returns the elements of the JSON array raw as sub-slices of it
// (no copy), or ok false if raw is not an array.
func splitArray(raw []byte) (elems []json.RawMessage, ok bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return nil, false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return []json.RawMessage{}, trailing(raw, i+1) == nil
	}
	for {
		j, ok := valueEnd(raw, i)
		if !ok {
			return nil, false
		}
		elems = append(elems, raw[i:j:j])
		i = skipSpace(raw, j)
		if i >= len(raw) {
			return nil, false
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case ']':
			return elems, trailing(raw, i+1) == nil
		default:
			return nil, false
		}
	}
}
