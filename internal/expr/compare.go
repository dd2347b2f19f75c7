package expr

import (
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// foldRune maps r to its upper case, except the dotless ı, which GitHub's
// OrdinalIgnoreCase comparison leaves alone.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' {
			return r - ('a' - 'A')
		}
		return r
	}
	if r == 'ı' {
		return r
	}
	return unicode.ToUpper(r)
}

// foldString returns the canonical case-insensitive form of s.
func foldString(s string) string {
	ascii := true
	lower := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if 'a' <= c && c <= 'z' {
			lower = true
		}
	}
	if ascii && !lower {
		return s
	}
	if ascii {
		return strings.ToUpper(s)
	}
	return strings.Map(foldRune, s)
}

// equalFold compares strings GitHub's case-insensitive way.
func equalFold(a, b string) bool { return compareFold(a, b) == 0 }

// compareFold compares the upper-cased forms of a and b by UTF-16 code
// units (ordinal), as GitHub does.
func compareFold(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		a, b = a[na:], b[nb:]
		if ra == rb {
			continue
		}
		ra, rb = foldRune(ra), foldRune(rb)
		if ra == rb {
			continue
		}
		return compareUTF16(ra, rb)
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	}
	return 1
}

// compareUTF16 orders two different runes by their UTF-16 encodings.
func compareUTF16(a, b rune) int {
	ua, la := utf16Units(a)
	ub, lb := utf16Units(b)
	if ua != ub {
		if ua < ub {
			return -1
		}
		return 1
	}
	if la < lb {
		return -1
	}
	return 1
}

func utf16Units(r rune) (hi, lo rune) {
	if r < 0x10000 {
		return r, -1
	}
	r -= 0x10000
	return 0xd800 + (r >> 10), 0xdc00 + (r & 0x3ff)
}

// coerce applies GitHub's loose-equality conversions: number vs string →
// both numbers; a boolean or null on either side becomes a number first.
func coerce(l, r Value) (Value, Value) {
	for l.kind != r.kind {
		switch {
		case l.kind == KindNumber && r.kind == KindString:
			return l, NumberValue(toNumber(r))
		case l.kind == KindString && r.kind == KindNumber:
			return NumberValue(toNumber(l)), r
		case l.kind == KindBool || l.kind == KindNull:
			l = NumberValue(toNumber(l))
		case r.kind == KindBool || r.kind == KindNull:
			r = NumberValue(toNumber(r))
		default:
			return l, r
		}
	}
	return l, r
}

// Equal reports GitHub's `==`: loose coercion, NaN never equal, strings
// compared case-insensitively, arrays and objects by reference.
func Equal(a, b Value) bool {
	l, r := coerce(a, b)
	if l.kind != r.kind {
		return false
	}
	switch l.kind {
	case KindNull:
		return true
	case KindNumber:
		return l.num == r.num // false for NaN
	case KindString:
		return equalFold(l.str, r.str)
	case KindBool:
		return l.b == r.b
	case KindArray:
		return l.arr == r.arr
	case KindObject:
		return l.obj == r.obj
	}
	return false
}

// order returns -1, 0 or 1 comparing a and b after coercion, and false when
// they are not ordered (different kinds, NaN, arrays, objects).
func order(a, b Value) (int, bool) {
	l, r := coerce(a, b)
	if l.kind != r.kind {
		return 0, false
	}
	switch l.kind {
	case KindNumber:
		if math.IsNaN(l.num) || math.IsNaN(r.num) {
			return 0, false
		}
		switch {
		case l.num < r.num:
			return -1, true
		case l.num > r.num:
			return 1, true
		}
		return 0, true
	case KindString:
		return compareFold(l.str, r.str), true
	case KindBool:
		switch {
		case l.b == r.b:
			return 0, true
		case r.b:
			return -1, true
		}
		return 1, true
	}
	return 0, false
}

func lessThan(a, b Value) bool {
	c, ok := order(a, b)
	return ok && c < 0
}

func greaterThan(a, b Value) bool {
	c, ok := order(a, b)
	return ok && c > 0
}
