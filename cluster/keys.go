package cluster

import (
	"fmt"
	"strings"
)

// Store keys are paths like "azumio-nightly/unit/user:42/steps"; unit ids carry
// any characters. A JetStream KV key allows only [-/_=.a-zA-Z0-9], and its dots
// separate subject tokens. kvKey maps each "/"-separated segment of a store key to
// one subject token (so a prefix ending in "/" becomes the subject filter
// "a.b.>" and List reads only its own keys): bytes other than [-_a-zA-Z0-9] are
// written "=XX" (hex), and an empty segment is the lone "=". The mapping is
// reversible (storeKey).

const hexDigits = "0123456789ABCDEF"

func plainByte(c byte) bool {
	return c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// kvKey returns the KV key of a store key.
func kvKey(key string) string {
	var b strings.Builder
	b.Grow(len(key) + 8)
	for i, seg := range strings.Split(key, "/") {
		if i > 0 {
			b.WriteByte('.')
		}
		escapeToken(&b, seg)
	}
	return b.String()
}

// token escapes s into one subject token, as kvKey does a segment ("/" too).
func token(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	escapeToken(&b, s)
	return b.String()
}

func escapeToken(b *strings.Builder, seg string) {
	if seg == "" {
		b.WriteByte('=')
		return
	}
	for j := 0; j < len(seg); j++ {
		c := seg[j]
		if plainByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
}

// storeKey reverses kvKey.
func storeKey(k string) (string, error) {
	var b strings.Builder
	b.Grow(len(k))
	for i, tok := range strings.Split(k, ".") {
		if i > 0 {
			b.WriteByte('/')
		}
		if tok == "=" {
			continue
		}
		for j := 0; j < len(tok); j++ {
			c := tok[j]
			if c != '=' {
				b.WriteByte(c)
				continue
			}
			if j+2 >= len(tok) {
				return "", fmt.Errorf("cluster: KV key %q: cut escape at byte %d", k, j)
			}
			hi, lo := unhex(tok[j+1]), unhex(tok[j+2])
			if hi < 0 || lo < 0 {
				return "", fmt.Errorf("cluster: KV key %q: bad escape at byte %d", k, j)
			}
			b.WriteByte(byte(hi<<4 | lo))
			j += 2
		}
	}
	return b.String(), nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// prefixFilter returns the KV key filter that covers every key starting with
// prefix: the complete segments of prefix followed by ">" (">" alone for a
// prefix without a "/"). List checks the prefix itself on what the filter returns.
func prefixFilter(prefix string) string {
	i := strings.LastIndexByte(prefix, '/')
	if i < 0 {
		return ">"
	}
	return kvKey(prefix[:i]) + ".>"
}
