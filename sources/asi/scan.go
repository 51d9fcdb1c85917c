package asi

import (
	"strconv"
	"unsafe"
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
