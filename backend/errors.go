package backend

import (
	"errors"
	"fmt"
	"net/http"

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

// InputError is a request the engine cannot act on as given (400). Err,
// when set, says which kind (ErrPasswordWithIdentity, say).
type InputError struct {
	Msg string
	Err error
}

func (e *InputError) Error() string { return e.Msg }
func (e *InputError) Unwrap() error { return e.Err }

// Code makes it a logical.HTTPCodedError: 400.
func (e *InputError) Code() int { return http.StatusBadRequest }

func inputError(format string, args ...interface{}) error {
	return &InputError{Msg: fmt.Sprintf(format, args...)}
}

// ConflictError is Password Safe's 409 to a checkout: the run-as user has
// an open request for the account already, and the role's conflict_option
// does not share or replace it.
type ConflictError struct {
	Role, SystemName, AccountName, RunAs, ConflictOption string
	// The open request, when it could be found (0 otherwise), and the role
	// of this mount's lease that holds it ("" when none does).
	OpenRequestID int
	OpenStatus    string
	HeldByRole    string
	// QueuedByRole: no lease holds it, but this mount made or held it for
	// that role and its check-in is queued (Password Safe did not take it
	// when the last lease was revoked).
	QueuedByRole string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("Password Safe already has an open request for %s/%s (HTTP 409, run-as %q), and role %q has conflict_option=%s",
		e.SystemName, e.AccountName, e.RunAs, e.Role, e.ConflictOption)
}

// Code makes it a logical.HTTPCodedError: 409.
func (e *ConflictError) Code() int { return http.StatusConflict }

// IdentityError is a caller whose Vault identity gives no run-as user (403).
// MetadataKey names the entity metadata key that lacks a value, if that is why.
type IdentityError struct {
	Msg         string
	EntityID    string
	MetadataKey string
}

func (e *IdentityError) Error() string { return e.Msg }

// Code makes it a logical.HTTPCodedError: 403.
func (e *IdentityError) Code() int { return http.StatusForbidden }

// ErrPasswordWithIdentity refuses identity run-as under a config with a
// password (the password belongs to the config's run_as user alone).
var ErrPasswordWithIdentity = errors.New("an identity-derived run-as user needs an API registration that does not require the user's password, and the config has a password")

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
