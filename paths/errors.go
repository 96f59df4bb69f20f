package paths

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// apiError is what a handler returns for an engine error: bad input is a
// 400 error response, a failed Password Safe call gets its status and
// advice (UpstreamError), the engine's refusals get the CLI advice the
// engine leaves to this package, and the rest passes as it is.
func apiError(req *logical.Request, err error) (*logical.Response, error) {
	if errors.Is(err, backend.ErrPasswordWithIdentity) {
		return nil, hinted(req, err) // a coded 400, as every path gives it
	}
	var in *backend.InputError
	if errors.As(err, &in) {
		return logical.ErrorResponse(in.Msg), nil
	}
	var op *backend.OpError
	if errors.As(err, &op) {
		return nil, UpstreamError(op.Op, hinted(req, op.Err))
	}
	return nil, hinted(req, err)
}

// hinted words the engine's typed refusals for a Vault user, with the
// command that helps; other errors are returned as they are.
func hinted(req *logical.Request, err error) error {
	mount := "<mount>/"
	if req != nil && req.MountPoint != "" {
		mount = req.MountPoint
	}
	var conflict *backend.ConflictError
	var ident *backend.IdentityError
	switch {
	case errors.As(err, &conflict):
		return logical.CodedError(http.StatusConflict, conflictMessage(conflict, mount))
	case errors.As(err, &ident) && ident.MetadataKey != "":
		return logical.CodedError(http.StatusForbidden, fmt.Sprintf(
			"%s; an operator sets it with vault write identity/entity/id/%s metadata=%s=<Password Safe user>",
			ident.Msg, ident.EntityID, ident.MetadataKey))
	case errors.Is(err, backend.ErrPasswordWithIdentity):
		return logical.CodedError(http.StatusBadRequest, err.Error()+` (vault write `+mount+`config password="" ...)`)
	}
	return err
}

// conflictMessage explains a checkout's 409 and what to do.
func conflictMessage(e *backend.ConflictError, mount string) string {
	msg := e.Error() + ". "
	if e.OpenRequestID != 0 {
		msg += fmt.Sprintf("The open request is %d (%s). ", e.OpenRequestID, e.OpenStatus)
	}
	switch {
	case e.HeldByRole != "":
		msg += fmt.Sprintf("A lease of role %q holds it: revoke it (vault lease revoke -prefix %screds/%s) or wait until it expires. ",
			e.HeldByRole, mount, e.HeldByRole)
	case e.QueuedByRole != "":
		msg += fmt.Sprintf("This mount made it (role %q); its lease was revoked but Password Safe did not take the check-in, "+
			"which is queued: the engine retries it on its periodic run (%sstatus shows the queue), and the account is free once it is checked in. ",
			e.QueuedByRole, mount)
	default:
		msg += "It was not made through this mount's creds path (another Vault, a person, or another user of an exclusive account): wait until it ends. "
	}
	return msg + "To share an open request set conflict_option=reuse on the role; to replace it, conflict_option=renew"
}

// UpstreamError turns an error of a Password Safe call made to do what
// (e.g. "create the Password Safe request") into an error with the HTTP
// status the Vault client should see and a message that says what happened
// and, where it can, what to do. Messages carry no secret: client errors
// hold only the server's error text, status and sub-code.
func UpstreamError(what string, err error) error {
	if err == nil {
		return nil
	}
	var coded logical.HTTPCodedError
	if errors.As(err, &coded) {
		return err
	}
	if errors.Is(err, client.ErrInvalidInput) {
		return logical.CodedError(http.StatusBadRequest, fmt.Sprintf("cannot %s: %v", what, err))
	}
	if errors.Is(err, client.ErrTooManyPages) {
		return logical.CodedError(http.StatusBadGateway, fmt.Sprintf("cannot %s: %v", what, err))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return logical.CodedError(http.StatusGatewayTimeout,
			fmt.Sprintf("cannot %s: Password Safe did not answer in time (raise request_timeout on config if it is slow): %v", what, err))
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("cannot %s: %w", what, err)
	}
	e, ok := client.AsError(err)
	if !ok {
		var te *client.TransportError
		if !errors.As(err, &te) {
			// Not Password Safe's doing (storage, say): no upstream wording.
			return fmt.Errorf("cannot %s: %w", what, err)
		}
		return logical.CodedError(http.StatusBadGateway,
			fmt.Sprintf("cannot %s: Password Safe is unreachable: %v", what, err))
	}
	switch {
	case e.StatusCode == http.StatusUnauthorized:
		return logical.CodedError(http.StatusBadGateway, fmt.Sprintf(
			"cannot %s: Password Safe refused the engine's sign-in (HTTP 401); check api_key, run_as and password (or client_id and client_secret) on config, and, when run_as_source takes the user from Vault identity, that the caller's derived user exists in Password Safe and may use this API registration: %v",
			what, err))
	case e.StatusCode == http.StatusForbidden:
		return logical.CodedError(http.StatusForbidden, fmt.Sprintf("cannot %s: Password Safe denied it: %v", what, err))
	case e.StatusCode == http.StatusNotFound:
		return logical.CodedError(http.StatusNotFound, fmt.Sprintf("cannot %s: not found in Password Safe: %v", what, err))
	case e.StatusCode == http.StatusConflict:
		return logical.CodedError(http.StatusConflict, fmt.Sprintf("cannot %s: %v", what, err))
	case e.StatusCode == http.StatusGone:
		return logical.CodedError(http.StatusBadGateway, fmt.Sprintf(
			"cannot %s: this Password Safe API version is disabled (HTTP 410); enable API v3 on the server: %v", what, err))
	case e.StatusCode >= 400 && e.StatusCode < 500:
		return logical.CodedError(http.StatusBadRequest, fmt.Sprintf("cannot %s: Password Safe rejected it: %v", what, err))
	default:
		return logical.CodedError(http.StatusBadGateway, fmt.Sprintf("cannot %s: Password Safe failed: %v", what, err))
	}
}
