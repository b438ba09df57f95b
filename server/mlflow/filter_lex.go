package mlflow

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Token kinds of the filter lexer.
const (
	tEOF      = iota
	tWord     // identifier or keyword: letters, digits, '_', '.'
	tString   // 'single quoted'
	tDouble   // "double quoted" (a value, or a key after "entity.")
	tBacktick // `backticked` key
	tNumber   // 12, -0.5, 1e-3
	tOp       // = != <> < <= > >=
	tLParen
	tRParen
	tComma
)

// token is one lexeme; text is the unquoted content of strings and keys.
type token struct {
	kind int
	text string
	pos  int
}

// isWord reports whether t is the keyword w (case-insensitive).
func (t token) isWord(w string) bool { return t.kind == tWord && strings.EqualFold(t.text, w) }

// String describes the token for error messages.
func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "the end"
	case tString:
		return fmt.Sprintf("the string '%s'", t.text)
	case tDouble:
		return fmt.Sprintf("the string %q", t.text)
	case tBacktick:
		return "the key `" + t.text + "`"
	case tNumber:
		return "the number " + t.text
	case tWord:
		return fmt.Sprintf("%q", t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

// lexer splits a filter into tokens.
type lexer struct {
	src string
	off int
}

func isWordStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isWordByte(c byte) bool { return isWordStart(c) || c >= '0' && c <= '9' || c == '.' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// next returns the next token, or a *ParseError for a character that starts
// none or an unterminated string.
func (l *lexer) next() (token, *ParseError) {
	for l.off < len(l.src) && (l.src[l.off] == ' ' || l.src[l.off] == '\t' || l.src[l.off] == '\n' || l.src[l.off] == '\r') {
		l.off++
	}
	start := l.off
	if l.off >= len(l.src) {
		return token{kind: tEOF, pos: start}, nil
	}
	c := l.src[l.off]
	switch {
	case isWordStart(c):
		for l.off < len(l.src) && isWordByte(l.src[l.off]) {
			l.off++
		}
		return token{kind: tWord, text: l.src[start:l.off], pos: start}, nil
	case isDigit(c) || (c == '-' || c == '+' || c == '.') && l.numberAhead():
		return l.number()
	case c == '\'':
		return l.quoted('\'', tString)
	case c == '"':
		return l.quoted('"', tDouble)
	case c == '`':
		end := strings.IndexByte(l.src[start+1:], '`')
		if end < 0 {
			return token{}, parseErr(start, "unterminated `key`")
		}
		l.off = start + 1 + end + 1
		return token{kind: tBacktick, text: l.src[start+1 : start+1+end], pos: start}, nil
	case c == '(':
		l.off++
		return token{kind: tLParen, text: "(", pos: start}, nil
	case c == ')':
		l.off++
		return token{kind: tRParen, text: ")", pos: start}, nil
	case c == ',':
		l.off++
		return token{kind: tComma, text: ",", pos: start}, nil
	case c == '=':
		l.off++
		return token{kind: tOp, text: "=", pos: start}, nil
	case c == '!' || c == '<' || c == '>':
		l.off++
		op := string(c)
		if l.off < len(l.src) && (l.src[l.off] == '=' || c == '<' && l.src[l.off] == '>') {
			op += string(l.src[l.off])
			l.off++
		}
		if op == "!" {
			return token{}, parseErr(start, "expected != , found a lone !")
		}
		return token{kind: tOp, text: op, pos: start}, nil
	}
	r, _ := utf8.DecodeRuneInString(l.src[start:])
	return token{}, parseErr(start, "unexpected character %q (quote keys with special characters in backticks: params.`my-key`)", r)
}

// numberAhead reports whether a sign or a dot at the offset starts a number.
func (l *lexer) numberAhead() bool {
	i := l.off
	if l.src[i] == '-' || l.src[i] == '+' {
		i++
	}
	if i < len(l.src) && l.src[i] == '.' {
		i++
	}
	return i < len(l.src) && isDigit(l.src[i])
}

// number reads [sign] digits [. digits] [e [sign] digits].
func (l *lexer) number() (token, *ParseError) {
	start := l.off
	if l.src[l.off] == '-' || l.src[l.off] == '+' {
		l.off++
	}
	digits := func() {
		for l.off < len(l.src) && isDigit(l.src[l.off]) {
			l.off++
		}
	}
	digits()
	if l.off < len(l.src) && l.src[l.off] == '.' {
		l.off++
		digits()
	}
	if l.off < len(l.src) && (l.src[l.off] == 'e' || l.src[l.off] == 'E') {
		l.off++
		if l.off < len(l.src) && (l.src[l.off] == '-' || l.src[l.off] == '+') {
			l.off++
		}
		if l.off >= len(l.src) || !isDigit(l.src[l.off]) {
			return token{}, parseErr(l.off, "expected digits of the exponent in %q", l.src[start:l.off])
		}
		digits()
	}
	if l.off < len(l.src) && isWordStart(l.src[l.off]) {
		return token{}, parseErr(l.off, "unexpected %q after the number %s", l.src[l.off], l.src[start:l.off])
	}
	return token{kind: tNumber, text: l.src[start:l.off], pos: start}, nil
}

// quoted reads a string in quote q: a doubled quote or a backslash before the
// quote or a backslash stands for that character.
func (l *lexer) quoted(q byte, kind int) (token, *ParseError) {
	start := l.off
	var b strings.Builder
	i := start + 1
	for i < len(l.src) {
		c := l.src[i]
		switch {
		case c == '\\' && i+1 < len(l.src) && (l.src[i+1] == q || l.src[i+1] == '\\'):
			b.WriteByte(l.src[i+1])
			i += 2
		case c == q && i+1 < len(l.src) && l.src[i+1] == q:
			b.WriteByte(q)
			i += 2
		case c == q:
			l.off = i + 1
			return token{kind: kind, text: b.String(), pos: start}, nil
		default:
			b.WriteByte(c)
			i++
		}
	}
	return token{}, parseErr(start, "unterminated string starting with %c", q)
}
