package backend

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits the engine itself relies on. Every limit counts characters
// (runes), never bytes.
const (
	// MaxReasonLen is Password Safe's limit on a request's Reason and on the
	// reason of a check-in, approval or denial.
	MaxReasonLen = 1000
	// ReasonTagReserve is the room kept at the end of the Reason of every
	// request the engine creates, for the tag it appends to find the request
	// again after a crash.
	ReasonTagReserve = 40
	// MaxRequestReasonLen bounds reasons that end up in POST Requests: a
	// role's reason and the reason of creds and requests writes.
	MaxRequestReasonLen = MaxReasonLen - ReasonTagReserve
	// MaxUserNameLen bounds a run-as user name.
	MaxUserNameLen = 256
)

// CutReason returns s cut to at most max characters, never splitting a
// UTF-8 character, for reasons the engine builds (which may hold a long
// lease ID).
func CutReason(s string, max int) string {
	if max <= 0 {
		return ""
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i]
		}
		n++
	}
	return s
}

// ValidateUserName checks a Password Safe user name used as run-as. It goes
// into the PS-Auth header (runas=...;), so separators and control
// characters are refused: at most MaxUserNameLen characters, no control
// characters, ';', '[' or ']', no leading or trailing spaces.
func ValidateUserName(field, v string) error {
	if v == "" {
		return fmt.Errorf("%s must not be empty", field)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(v); n > MaxUserNameLen {
		return fmt.Errorf("%s is longer than %d characters", field, MaxUserNameLen)
	}
	for _, r := range v {
		if unicode.IsControl(r) || r == ';' || r == '[' || r == ']' {
			return fmt.Errorf("%s must not contain control characters, ';', '[' or ']'", field)
		}
	}
	if strings.TrimSpace(v) != v {
		return fmt.Errorf("%s must not start or end with spaces", field)
	}
	return nil
}

// MatchUserPattern reports whether a Password Safe user name matches a
// run_as_allowed or run_as_denied pattern: '*' matches any run of
// characters (backslashes included: corp\* matches every CORP\user), '?'
// any one character, every other character itself, ignoring case (Password
// Safe user names are case-insensitive). There is no escaping.
func MatchUserPattern(pattern, name string) bool {
	p, n := []rune(pattern), []rune(name)
	pi, ni, star, mark := 0, 0, -1, 0
	for ni < len(n) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ni
			pi++
		case pi < len(p) && (p[pi] == '?' || foldEqual(p[pi], n[ni])):
			pi++
			ni++
		case star >= 0:
			pi, mark = star+1, mark+1
			ni = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// MatchAnyUserPattern reports whether name matches one of patterns.
func MatchAnyUserPattern(patterns []string, name string) bool {
	for _, p := range patterns {
		if MatchUserPattern(p, name) {
			return true
		}
	}
	return false
}

// SameUser reports whether a and b may name the same Password Safe user:
// equal ignoring case, or with equal account parts (the name without a
// DOMAIN\ prefix and an @domain suffix), so svc-vault, CORP\SVC-VAULT and
// svc-vault@corp.example are all the same user here. It errs on the side
// of "same": it guards the engine's service account.
func SameUser(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	if strings.EqualFold(a, b) {
		return true
	}
	pa, pb := AccountPart(a), AccountPart(b)
	return pa != "" && strings.EqualFold(pa, pb)
}

// AccountPart is a user name without a DOMAIN\ prefix and an @domain
// suffix.
func AccountPart(name string) string {
	if i := strings.LastIndex(name, "\\"); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.LastIndex(name, "@"); i >= 0 {
		name = name[:i]
	}
	return name
}

// foldEqual reports whether a and b are equal under Unicode simple case
// folding (as strings.EqualFold compares).
func foldEqual(a, b rune) bool {
	if a == b {
		return true
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}

// RunAsRefusedError is the 403 for a caller whose Vault identity names a
// Password Safe user the config does not allow (the engine's service
// account, or a name refused by run_as_allowed or run_as_denied). Unlike a
// missing identity, it never falls back to the config's run_as.
type RunAsRefusedError struct{ Msg string }

func (e *RunAsRefusedError) Error() string { return e.Msg }

// Code makes it a logical.HTTPCodedError: 403.
func (e *RunAsRefusedError) Code() int { return http.StatusForbidden }

// IsRunAsRefused reports whether err is a RunAsRefusedError.
func IsRunAsRefused(err error) bool {
	var r *RunAsRefusedError
	return errors.As(err, &r)
}
