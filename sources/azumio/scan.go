package azumio

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/goccy/go-json/jsontext"
)

// The values of a page are decoded by goccy/go-json into typed structs, but a
// struct cannot say which members a record had, which were null, or keep the
// members it has no field for. So a page is also walked by this scanner, which
// finds every member's key and the extent of its value without decoding it:
// presence and nulls come from here, and unknown and '#fragment' members are
// kept as raw JSON. It is hand-written because neither go-json's struct decoding
// nor its token reader (3x slower than struct decoding on a page, measured)
// offers this at the speed a page of a thousand check-ins needs.

// errCut is returned for JSON that ends before its structure does: a body cut
// in transit.
var errCut = errors.New("JSON ends early (truncated body)")

// syntaxError reports malformed JSON at an offset.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("invalid JSON at byte %d: %s", e.off, e.msg) }

// scanner walks JSON text.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) fail(msg string) error {
	if s.i >= len(s.b) {
		return errCut
	}
	return &syntaxError{off: s.i, msg: msg}
}

// peek returns the next non-space byte without consuming it (0 at the end).
func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		return s.fail(fmt.Sprintf("want %q", c))
	}
	s.i++
	return nil
}

// str consumes a string and returns its content (between the quotes) and
// whether it holds escapes.
func (s *scanner) str() ([]byte, bool, error) {
	if s.peek() != '"' {
		return nil, false, s.fail("want a string")
	}
	start := s.i + 1
	j := start
	escaped := false
	for {
		k := bytes.IndexByte(s.b[j:], '"')
		if k < 0 {
			s.i = len(s.b)
			return nil, false, errCut
		}
		j += k
		// The quote ends the string unless an odd number of backslashes precede it.
		bs := 0
		for p := j - 1; p >= start && s.b[p] == '\\'; p-- {
			bs++
		}
		if bs > 0 {
			escaped = true
		}
		if bs%2 == 0 {
			break
		}
		j++
	}
	if !escaped && bytes.IndexByte(s.b[start:j], '\\') >= 0 {
		escaped = true
	}
	s.i = j + 1
	return s.b[start:j], escaped, nil
}

// value consumes any value and returns its raw text.
func (s *scanner) value() ([]byte, error) {
	c := s.peek()
	start := s.i
	switch c {
	case 0:
		return nil, errCut
	case '"':
		if _, _, err := s.str(); err != nil {
			return nil, err
		}
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, _, err := s.str(); err != nil {
					return nil, err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return s.b[start:s.i], nil
				}
			}
			s.i++
		}
		return nil, errCut
	default:
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if s.i == start {
					return nil, s.fail("want a value")
				}
				return s.b[start:s.i], nil
			}
			s.i++
		}
		return nil, errCut
	}
	return s.b[start:s.i], nil
}

// object walks the object at the scanner, calling member with each key's text
// (unescaped; valid only during the call); member must consume the value.
func (s *scanner) object(member func(key []byte) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.i++
		return nil
	}
	var scratch []byte
	for {
		s.ws()
		qstart := s.i
		key, esc, err := s.str()
		if err != nil {
			return err
		}
		if esc {
			scratch, err = jsontext.AppendUnquote(scratch[:0], s.b[qstart:s.i])
			if err != nil {
				return &syntaxError{off: qstart, msg: err.Error()}
			}
			key = scratch
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := member(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.fail("want , or }")
		}
	}
}

// array calls elem for each element of the array at the scanner; elem consumes it.
func (s *scanner) array(elem func() error) error {
	if err := s.expect('['); err != nil {
		return err
	}
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.fail("want , or ]")
		}
	}
}

// end checks that only white space follows.
func (s *scanner) end() error {
	if s.peek() != 0 {
		return &syntaxError{off: s.i, msg: "data after the top-level value"}
	}
	return nil
}

// isNull reports whether raw is the JSON literal null.
func isNull(raw []byte) bool { return len(raw) == 4 && string(raw) == "null" }
