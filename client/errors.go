package client

import (
	"errors"
	"fmt"
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
