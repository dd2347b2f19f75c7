package expr

import (
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Truthy reports GitHub's truthiness: null, false, 0, -0, NaN and "" are
// falsy; everything else (including every array and object) is truthy.
func Truthy(v Value) bool {
	switch v.kind {
	case KindNull:
		return false
	case KindBool:
		return v.b
	case KindNumber:
		return v.num != 0 && !math.IsNaN(v.num)
	case KindString:
		return v.str != ""
	}
	return true
}

// String coerces v to a string as GitHub's functions do: null → "",
// booleans → "true"/"false", numbers → up to 15 significant digits ("1",
// "0.5", "1E+15", "Infinity", "NaN"), arrays → "Array", objects → "Object".
// (Interpolate renders arrays and objects as JSON instead.)
func String(v Value) string {
	switch v.kind {
	case KindNull:
		return ""
	case KindBool:
		if v.b {
			return "true"
		}
		return "false"
	case KindNumber:
		return FormatNumber(v.num)
	case KindString:
		return v.str
	case KindArray:
		return "Array"
	}
	return "Object"
}

// toNumber coerces v to a number: null → 0, booleans → 0/1, strings parsed
// like JavaScript's Number(), arrays and objects → NaN.
func toNumber(v Value) float64 {
	switch v.kind {
	case KindNull:
		return 0
	case KindBool:
		if v.b {
			return 1
		}
		return 0
	case KindNumber:
		return v.num
	case KindString:
		return ParseNumber(v.str)
	}
	return math.NaN()
}

// FormatNumber formats f the way GitHub converts numbers to strings
// (.NET "G15"): 15 significant digits, fixed notation for exponents in
// (-5, 15), otherwise "1.5E+20" / "1E-07"; 0 and -0 → "0".
func FormatNumber(f float64) string {
	switch {
	case f == 0:
		return "0"
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return formatG(f, 14)
}

// formatG renders f with prec digits after the first significant one
// (-1 = shortest round-trip), in .NET's general format.
func formatG(f float64, prec int) string {
	s := strconv.FormatFloat(f, 'e', prec, 64)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	epos := strings.IndexByte(s, 'e')
	exp, _ := strconv.Atoi(s[epos+1:])
	digits := strings.Replace(s[:epos], ".", "", 1)
	digits = strings.TrimRight(digits, "0")
	if digits == "" {
		digits = "0"
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	switch {
	case exp > -5 && exp < 15 && exp >= 0:
		if len(digits) <= exp+1 {
			b.WriteString(digits)
			b.WriteString(strings.Repeat("0", exp+1-len(digits)))
		} else {
			b.WriteString(digits[:exp+1])
			b.WriteByte('.')
			b.WriteString(digits[exp+1:])
		}
	case exp > -5 && exp < 0:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -exp-1))
		b.WriteString(digits)
	default:
		b.WriteByte(digits[0])
		if len(digits) > 1 {
			b.WriteByte('.')
			b.WriteString(digits[1:])
		}
		b.WriteByte('E')
		if exp < 0 {
			b.WriteByte('-')
			exp = -exp
		} else {
			b.WriteByte('+')
		}
		if exp < 10 {
			b.WriteByte('0')
		}
		b.WriteString(strconv.Itoa(exp))
	}
	return b.String()
}

// ParseNumber converts a string to a number the way GitHub coerces strings
// (JavaScript's Number()): surrounding whitespace is ignored, "" is 0,
// decimal with optional sign, fraction and exponent, unsigned 0x/0o/0b
// prefixes, and [+-]Infinity; anything else is NaN.
func ParseNumber(s string) float64 {
	s = strings.TrimFunc(s, isJSSpace)
	if s == "" {
		return 0
	}
	if len(s) > 2 && s[0] == '0' {
		switch s[1] {
		case 'x', 'X':
			return parseRadix(s[2:], 16)
		case 'o', 'O':
			return parseRadix(s[2:], 8)
		case 'b', 'B':
			return parseRadix(s[2:], 2)
		}
	}
	body := s
	if body[0] == '+' || body[0] == '-' {
		body = body[1:]
	}
	if body == "Infinity" {
		if s[0] == '-' {
			return math.Inf(-1)
		}
		return math.Inf(1)
	}
	if !isDecimalLiteral(body) {
		return math.NaN()
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !isRangeErr(err) {
		return math.NaN()
	}
	return f
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// isDecimalLiteral checks digits [. digits] [e|E [+-] digits] with at least
// one mantissa digit (".5" and "5." are valid).
func isDecimalLiteral(s string) bool {
	i, mant := 0, 0
	for i < len(s) && isDigit(s[i]) {
		i++
		mant++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
			mant++
		}
	}
	if mant == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && isDigit(s[i]) {
			i++
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

func parseRadix(digits string, base int) float64 {
	if digits == "" {
		return math.NaN()
	}
	for i := 0; i < len(digits); i++ {
		if digitVal(digits[i]) >= base {
			return math.NaN()
		}
	}
	if len(digits) <= 15 {
		u, err := strconv.ParseUint(digits, base, 64)
		if err == nil {
			return float64(u)
		}
	}
	n, ok := new(big.Int).SetString(digits, base)
	if !ok {
		return math.NaN()
	}
	f, _ := new(big.Float).SetInt(n).Float64()
	return f
}

func digitVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isJSSpace reports JavaScript's whitespace and line terminators.
func isJSSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}
