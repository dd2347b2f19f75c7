package expr

import (
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokenKind uint8

const (
	tEOF tokenKind = iota
	tLParen
	tRParen
	tLBracket
	tRBracket
	tComma
	tDot
	tBang
	tNe
	tEq
	tGt
	tGe
	tLt
	tLe
	tAnd
	tOr
	tStar
	tNumber
	tString
	tIdent
	tTrue
	tFalse
	tNull
)

type token struct {
	kind tokenKind
	text string  // lexeme as written
	str  string  // value of a string literal
	num  float64 // value of a number literal
	off  int     // byte offset in the source
}

// lexer turns an expression into tokens, following GitHub's rules: a token
// that starts like a number or identifier runs to the next boundary
// character, and is rejected whole ("Unexpected symbol: '=2'").
type lexer struct {
	src  string
	off  int
	toks []token
}

func lex(src string) ([]token, error) {
	if len(src) > MaxExpressionLength && utf16Len(src) > MaxExpressionLength {
		return nil, &Error{Kind: ErrParsing, Message: "Exceeded max expression length 21000", Expr: src}
	}
	lx := &lexer{src: src, toks: make([]token, 0, len(src)/3+1)}
	for lx.off < len(src) {
		if err := lx.next(); err != nil {
			return nil, err
		}
	}
	lx.toks = append(lx.toks, token{kind: tEOF, off: len(src)})
	return lx.toks, nil
}

func (lx *lexer) prev() tokenKind {
	if len(lx.toks) == 0 {
		return tEOF
	}
	return lx.toks[len(lx.toks)-1].kind
}

func (lx *lexer) add(k tokenKind, start int) {
	lx.toks = append(lx.toks, token{kind: k, text: lx.src[start:lx.off], off: start})
}

// match consumes c when it is the next byte.
func (lx *lexer) match(c byte) bool {
	if lx.off < len(lx.src) && lx.src[lx.off] == c {
		lx.off++
		return true
	}
	return false
}

var singleTokens = [128]tokenKind{'(': tLParen, ')': tRParen, '[': tLBracket, ']': tRBracket, ',': tComma, '*': tStar}

func (lx *lexer) next() error {
	start := lx.off
	c := lx.src[lx.off]
	if c < utf8.RuneSelf && singleTokens[c] != 0 {
		lx.off++
		lx.add(singleTokens[c], start)
		return nil
	}
	switch c {
	case ' ', '\t', '\r', '\n', '\v', '\f':
		lx.off++
		return nil
	case '.':
		switch lx.prev() {
		case tIdent, tRBracket, tRParen, tStar:
			lx.off++
			lx.add(tDot, start)
			return nil
		}
		return lx.number(start)
	case '-', '+':
		return lx.number(start)
	case '!', '<', '>':
		lx.off++
		lx.add(compareToken(c, lx.match('=')), start)
		return nil
	case '=', '&', '|':
		if lx.off+1 >= len(lx.src) || lx.src[lx.off+1] != c {
			return lx.word(start) // illegal: read to the boundary and reject
		}
		lx.off += 2
		lx.add(doubleToken(c), start)
		return nil
	case '\'':
		return lx.string(start)
	}
	if isDigit(c) {
		return lx.number(start)
	}
	if c >= utf8.RuneSelf {
		r, n := utf8.DecodeRuneInString(lx.src[lx.off:])
		if isSpace(r) {
			lx.off += n
			return nil
		}
	}
	return lx.word(start)
}

func doubleToken(c byte) tokenKind {
	switch c {
	case '=':
		return tEq
	case '&':
		return tAnd
	}
	return tOr
}

func compareToken(c byte, eq bool) tokenKind {
	switch {
	case c == '!' && eq:
		return tNe
	case c == '!':
		return tBang
	case c == '<' && eq:
		return tLe
	case c == '<':
		return tLt
	case c == '>' && eq:
		return tGe
	}
	return tGt
}

// skipToBoundary advances past the current character, then to the next
// boundary character (dots included when dots is true).
func (lx *lexer) skipToBoundary(dots bool) {
	_, n := utf8.DecodeRuneInString(lx.src[lx.off:])
	lx.off += n
	for lx.off < len(lx.src) {
		r, n := utf8.DecodeRuneInString(lx.src[lx.off:])
		if isBoundary(r) && !(dots && r == '.') {
			return
		}
		lx.off += n
	}
}

func (lx *lexer) unexpected(start int, lexeme string) error {
	return &Error{Kind: ErrLexing, Message: "Unexpected symbol: '" + lexeme + "'", Pos: position(lx.src, start), Expr: lx.src}
}

func (lx *lexer) number(start int) error {
	lx.skipToBoundary(true)
	lexeme := lx.src[start:lx.off]
	f := ParseNumber(lexeme)
	if math.IsNaN(f) {
		return lx.unexpected(start, lexeme)
	}
	lx.toks = append(lx.toks, token{kind: tNumber, text: lexeme, num: f, off: start})
	return nil
}

func (lx *lexer) string(start int) error {
	lx.off++ // opening quote
	escaped := false
	for {
		i := strings.IndexByte(lx.src[lx.off:], '\'')
		if i < 0 {
			lx.off = len(lx.src)
			return lx.unexpected(start, lx.src[start:])
		}
		lx.off += i + 1
		if lx.off < len(lx.src) && lx.src[lx.off] == '\'' {
			lx.off++
			escaped = true
			continue
		}
		break
	}
	text := lx.src[start:lx.off]
	val := text[1 : len(text)-1]
	if escaped {
		val = strings.ReplaceAll(val, "''", "'")
	}
	lx.toks = append(lx.toks, token{kind: tString, text: text, str: val, off: start})
	return nil
}

// word reads an identifier or keyword (or an illegal run of characters).
func (lx *lexer) word(start int) error {
	lx.skipToBoundary(false)
	lexeme := lx.src[start:lx.off]
	tok := token{kind: tIdent, text: lexeme, off: start}
	if lx.prev() != tDot {
		switch lexeme {
		case "true":
			tok.kind = tTrue
		case "false":
			tok.kind = tFalse
		case "null":
			tok.kind = tNull
		case "NaN":
			tok.kind, tok.num = tNumber, math.NaN()
		case "Infinity":
			tok.kind, tok.num = tNumber, math.Inf(1)
		}
	}
	if !isLegalIdentifier(lexeme) {
		return lx.unexpected(start, lexeme)
	}
	lx.toks = append(lx.toks, tok)
	return nil
}

func isBoundary(r rune) bool {
	switch r {
	case '(', '[', ')', ']', ',', '.', '!', '>', '<', '=', '&', '|':
		return true
	}
	return isSpace(r)
}

func isSpace(r rune) bool { return unicode.IsSpace(r) || r == 0xfeff }

func isLegalIdentifier(s string) bool {
	if s == "" {
		return false
	}
	c := s[0]
	if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
