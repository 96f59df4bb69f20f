package backend

import (
	"errors"
	"fmt"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// Errors. The engine returns three kinds the API surface tells apart:
//
//   - *OpError: a Password Safe call made to do Op failed (Err says how);
//     the API gives it the HTTP status and advice that fit Err.
//   - *InputError: the request cannot be acted on as given (400).
//   - logical.HTTPCodedError (logical.CodedError, *RunAsRefusedError): the
//     engine's own refusal with its status (403, 404, 409...).
//
// Anything else is internal (storage, say).

// OpError is a failed Password Safe call made to do Op, e.g. "create the
// Password Safe request". Its message holds no secret: client errors hold
// only the server's error text, status and sub-code.
type OpError struct {
	Op  string
	Err error
}

func (e *OpError) Error() string { return "cannot " + e.Op + ": " + e.Err.Error() }
func (e *OpError) Unwrap() error { return e.Err }

// upstream wraps err (when not nil) as the failure of a call made to do op.
func upstream(op string, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{Op: op, Err: err}
}

// InputError is a request the engine cannot act on as given.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

func inputError(format string, args ...interface{}) error {
	return &InputError{Msg: fmt.Sprintf(format, args...)}
}

// ErrNotConfigured is returned when no config is stored.
var ErrNotConfigured = errors.New("the Password Safe secrets engine is not configured: write config first")

// Definite reports whether err is a definite refusal by Password Safe (a
// 4xx answer to every attempt that reached it), input the client rejected
// before sending, or a call that never reached the server: the call changed
// nothing upstream. No answer, timeouts and 5xx are not definite, nor is any
// failure after an attempt whose outcome is unknown.
func Definite(err error) bool {
	return client.OutcomeOf(err) == client.OutcomeNone
}
