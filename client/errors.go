package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Sub-codes Password Safe puts in the body of a 403 or 409.
const (
	CodeNoPermission      = 4031 // user may not request/release the account
	CodeRequestorOnly     = 4032 // requestor-only API or account
	CodeApproverOnly      = 4033 // approver-only; also "cannot approve own request"
	CodeNotApproved       = 4034 // request not yet approved
	CodeNotEnoughApprover = 4035 // not enough approvers configured
	CodeAlreadyApproved   = 4036 // request approved already
	CodeConflict          = 4091 // conflicting request
)

// Error is an answer from Password Safe outside 2xx. It never holds a secret:
// Message is the server's body (trimmed), which Password Safe never fills with
// credentials for error answers.
type Error struct {
	Op         string // e.g. "POST Requests"
	StatusCode int
	Code       int // 403/409 sub-code, 0 when none
	Message    string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("password safe: %s: HTTP %d", e.Op, e.StatusCode)
	if e.Code != 0 {
		msg += fmt.Sprintf(" (%d %s)", e.Code, CodeText(e.Code))
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// CodeText says in words what a 403/409 sub-code means.
func CodeText(code int) string {
	switch code {
	case CodeNoPermission:
		return "no permission for this account or request"
	case CodeRequestorOnly:
		return "requestor-only API or account"
	case CodeApproverOnly:
		return "approver-only API or account, or a user approving or denying their own request"
	case CodeNotApproved:
		return "request not yet approved"
	case CodeNotEnoughApprover:
		return "not enough approvers configured to approve a request"
	case CodeAlreadyApproved:
		return "request already approved"
	case CodeConflict:
		return "conflicting request exists"
	}
	return "unknown sub-code"
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// StatusCode is the HTTP status of err's *Error, 0 when none.
func StatusCode(err error) int {
	if e, ok := AsError(err); ok {
		return e.StatusCode
	}
	return 0
}

// SubCode is the 403/409 sub-code of err's *Error, 0 when none.
func SubCode(err error) int {
	if e, ok := AsError(err); ok {
		return e.Code
	}
	return 0
}

func IsConflict(err error) bool     { return StatusCode(err) == 409 }
func IsNotFound(err error) bool     { return StatusCode(err) == 404 }
func IsUnauthorized(err error) bool { return StatusCode(err) == 401 }
func IsForbidden(err error) bool    { return StatusCode(err) == 403 }
func IsNotApproved(err error) bool  { return StatusCode(err) == 403 && SubCode(err) == CodeNotApproved }

// ErrInvalidInput is wrapped by every error about a bad argument or Config,
// found before anything is sent. Such errors name the field, never its value.
var ErrInvalidInput = errors.New("password safe: invalid input")

// ErrOutcomeUnknown is wrapped by the error of a call that failed after an
// attempt whose outcome is unknown (no answer, or a 5xx/408, which a proxy
// may give after the server acted): whatever the last attempt said, the
// call may have taken effect. A POST Requests that fails this way may have
// created a request.
var ErrOutcomeUnknown = errors.New("password safe: the outcome of an earlier attempt is unknown")

// ErrNotSent is wrapped by the error of a call none of whose attempts
// reached the server (the connection could not be made, or signing in
// failed before the call): the call provably had no effect.
var ErrNotSent = errors.New("password safe: the call never reached the server")

// Outcome says what a failed call may have done upstream.
type Outcome int

const (
	// OutcomeNone: the server refused it (a 4xx answer to every attempt that
	// reached it) or it was never sent: it had no effect.
	OutcomeNone Outcome = iota
	// OutcomeUnknown: it may have taken effect.
	OutcomeUnknown
)

// OutcomeOf says whether a failed call may have taken effect. Input errors,
// calls that never reached the server and 4xx answers (with no earlier
// attempt of unknown outcome) had none; everything else is unknown.
func OutcomeOf(err error) Outcome {
	// The outermost call decides: a sign-in that failed of unknown outcome
	// still means the call it was for was never sent.
	var oe *outcomeError
	switch {
	case err == nil:
		return OutcomeNone
	case errors.As(err, &oe):
		if oe.mark == ErrNotSent {
			return OutcomeNone
		}
		return OutcomeUnknown
	case errors.Is(err, ErrInvalidInput):
		return OutcomeNone
	}
	if code := StatusCode(err); code >= 400 && code < 500 && code != 408 {
		return OutcomeNone
	}
	return OutcomeUnknown
}

// outcomeError wraps a call's final error with what its attempts tell.
type outcomeError struct {
	err  error
	mark error // ErrOutcomeUnknown or ErrNotSent
}

func (e *outcomeError) Error() string   { return e.err.Error() }
func (e *outcomeError) Unwrap() []error { return []error{e.err, e.mark} }

// ErrUnexpectedResponse is wrapped when a success answer's body is not the
// documented shape. Such errors never quote the body.
var ErrUnexpectedResponse = errors.New("password safe: unexpected response")

// maxMessageRunes caps Error.Message: a server error page must not turn
// into a kilobyte-long log line.
const maxMessageRunes = 300

// parseErrorBody extracts a 403/409 sub-code and a message from an error
// body, which Password Safe sends as a bare number (4034), a JSON string
// ("4034 - Request is not yet approved", or the words alone), an object
// with a message ({"Message": "..."}, matched case-insensitively), or
// plain text. redact (may be nil) removes secrets; it runs before the
// message is cleaned and capped (so a cap cannot leave a cut-off piece of a
// secret behind) and again after (cleaning collapses whitespace).
func parseErrorBody(status int, body []byte, redact func(string) string) (code int, msg string) {
	b := bytes.TrimSpace(body)
	objCode := ""
	if len(b) > 0 {
		switch b[0] {
		case '"':
			var s string
			if json.Unmarshal(b, &s) == nil {
				msg = s
			} else {
				msg = string(b)
			}
		case '{':
			var o struct {
				Message          string          `json:"message"`
				ErrorMessage     string          `json:"errorMessage"`
				ErrorDescription string          `json:"error_description"`
				Error            json.RawMessage `json:"error"`
				Code             json.RawMessage `json:"code"`
			}
			if json.Unmarshal(b, &o) == nil {
				var e string
				_ = json.Unmarshal(o.Error, &e) // OAuth: "invalid_client"; not a string otherwise
				msg = firstNonEmpty(o.Message, o.ErrorMessage, o.ErrorDescription, e)
				objCode = strings.Trim(string(o.Code), `"`)
			} else {
				msg = string(b)
			}
		default:
			msg = string(b)
		}
	}
	if redact != nil {
		msg = redact(msg)
	}
	msg = cleanMessage(msg)
	if redact != nil {
		msg = redact(msg)
	}
	code = subCode(status, objCode)
	if code == 0 {
		code = subCode(status, msg)
	}
	if code == 0 {
		code = subCodeFromText(status, msg)
	}
	// A body that is only the code says nothing Code does not.
	if code != 0 && msg == strconv.Itoa(code) {
		msg = ""
	}
	return code, capString(msg, maxMessageRunes)
}

// subCode finds the first 4-digit 403x (for a 403) or 409x (for a 409)
// number in s that is not part of a longer number.
func subCode(status int, s string) int {
	var prefix string
	switch status {
	case 403:
		prefix = "403"
	case 409:
		prefix = "409"
	default:
		return 0
	}
	for i := 0; i+4 <= len(s); i++ {
		if s[i:i+3] != prefix || !isDigit(s[i+3]) {
			continue
		}
		if (i > 0 && isDigit(s[i-1])) || (i+4 < len(s) && isDigit(s[i+4])) {
			continue
		}
		n, _ := strconv.Atoi(s[i : i+4])
		return n
	}
	return 0
}

// subCodeTexts are the reference's words for each sub-code. BeyondTrust's
// reference says a 403 body "contains a message or status code indicating
// the reason" (GET Requests, GET RequestSets), so a message without the
// number is read by its words. Most specific first.
var subCodeTexts = []struct {
	status int
	code   int
	words  string
}{
	{403, CodeNotApproved, "not yet approved"},
	{403, CodeNotEnoughApprover, "not enough approvers"},
	{403, CodeAlreadyApproved, "approved already"},
	{403, CodeAlreadyApproved, "already approved"},
	{403, CodeAlreadyApproved, "already been approved"},
	{403, CodeApproverOnly, "approver only"},
	{403, CodeRequestorOnly, "requestor only"},
	{403, CodeNoPermission, "does not have permission"},
}

// subCodeFromText finds a sub-code by the reference's words in msg.
func subCodeFromText(status int, msg string) int {
	m := strings.ToLower(msg)
	for _, t := range subCodeTexts {
		if t.status == status && strings.Contains(m, t.words) {
			return t.code
		}
	}
	return 0
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

// cleanMessage makes server text safe for one log line: control characters
// and invalid UTF-8 become spaces and runs of space collapse. (The cap is
// applied after redaction, in parseErrorBody.)
func cleanMessage(s string) string {
	if s == "" {
		return ""
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

func capString(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// minSecretLen: shorter "secrets" are not redacted, since replacing every
// occurrence of, say, "e" would wreck messages and such a value protects nothing.
const minSecretLen = 4

func secretList(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if len(s) >= minSecretLen {
			out = append(out, s)
		}
	}
	return out
}

// redact removes every secret this client holds from s. Password Safe does
// not put credentials in error bodies, but an error ends up in logs and
// Vault responses, so the client makes sure.
func (c *Client) redact(s, authorization string) string {
	if s == "" {
		return s
	}
	for _, sec := range c.secrets {
		s = redactOne(s, sec)
	}
	s = redactOne(s, strings.TrimPrefix(authorization, "Bearer "))
	return redactOne(s, c.currentToken())
}

// redactCall is redact plus the secrets of one call.
func (c *Client) redactCall(s string, cl *call) string {
	s = c.redact(s, cl.authorization)
	for _, sec := range cl.secrets {
		s = redactOne(s, sec)
	}
	return s
}

// secretPieceLen: any piece of a secret this long is redacted too, so a
// server or proxy echoing part of a key cannot leak most of it. It runs on
// error paths only.
const secretPieceLen = 12

func redactOne(s, secret string) string {
	if len(secret) < minSecretLen {
		return s
	}
	if strings.Contains(s, secret) {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	for i := 0; i+secretPieceLen <= len(secret); i++ {
		if piece := secret[i : i+secretPieceLen]; strings.Contains(s, piece) {
			s = strings.ReplaceAll(s, piece, "[redacted]")
		}
	}
	return s
}

// TransportError is a call that got no usable answer (connection refused or
// reset, TLS failure, a malformed response). Its text is fit for a log line:
// net/http may quote whatever the server sent (a malformed header line in
// full), so the text is redacted, cleaned and capped like a server message.
// Unwrap gives the original error for errors.Is and errors.As (net.Error,
// timeouts, x509 errors).
type TransportError struct {
	Op  string
	msg string
	err error
}

func (e *TransportError) Error() string { return "password safe: " + e.Op + ": " + e.msg }
func (e *TransportError) Unwrap() error { return e.err }

// Is makes errors.Is(err, ErrProxy) true when the proxy failed.
func (e *TransportError) Is(target error) bool { return target == ErrProxy && isProxyFailure(e.err) }

func (c *Client) newTransportError(cl *call, err error) error {
	msg := capString(cleanMessage(c.redactCall(err.Error(), cl)), maxMessageRunes)
	return &TransportError{Op: cl.op, msg: msg, err: err}
}
