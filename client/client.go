// Package client is a Go client for the BeyondTrust Password Safe public API
// (v3): sign-in and sessions, the Requests and Credentials endpoints, and
// discovery. It has no Vault imports and can be used on its own.
package client

import (
	"context"
	"net/http"
	"time"
)

// Config says how to reach and sign in to Password Safe. Either APIKey (with
// RunAs and, when the API registration requires it, Password) or ClientID and
// ClientSecret (OAuth client credentials) must be set.
type Config struct {
	// BaseURL is the API root, e.g. https://pws.example.com/BeyondTrust/api/public/v3
	BaseURL string

	APIKey   string
	RunAs    string // may be DOMAIN\user
	Password string // sent as pwd=[...] only when non-empty

	ClientID     string
	ClientSecret string

	CACertPEM          []byte // extra roots; system roots still apply when empty
	TLSServerName      string
	InsecureSkipVerify bool

	Timeout    time.Duration // per attempt; default 30s
	MaxRetries int           // retries after the first attempt for retryable failures; default 3, <0 means none
	// Limiter bounds concurrent calls; share one among clients to bound a
	// whole process. Nil means a private limiter of DefaultMaxConcurrent.
	Limiter *Limiter

	// HTTPClient, when set, is used as is (its Jar is replaced per client);
	// otherwise a client with the TLS settings above is built.
	HTTPClient *http.Client
	// UserAgent is sent on every call.
	UserAgent string
}

const DefaultMaxConcurrent = 16

// Limiter bounds how many calls are in flight at once.
type Limiter struct{ ch chan struct{} }

// NewLimiter returns a limiter that lets n calls run at once (n < 1 means 1).
func NewLimiter(n int) *Limiter {
	if n < 1 {
		n = 1
	}
	return &Limiter{ch: make(chan struct{}, n)}
}

// Client is safe for concurrent use. One Client holds one signed-in session.
type Client struct {
	cfg Config
}

// New checks cfg and returns a client. It does not sign in; the first call does.
func New(cfg Config) (*Client, error) { panic("not implemented") }

// SignIn signs in now (normally done lazily by the first call) and returns the user.
func (c *Client) SignIn(ctx context.Context) (*User, error) { panic("not implemented") }

// SignOut ends the session, if any. Safe to call more than once.
func (c *Client) SignOut(ctx context.Context) error { panic("not implemented") }

// ListRequests is GET Requests?status=&queue= (empty strings are not sent).
func (c *Client) ListRequests(ctx context.Context, status, queue string) ([]Request, error) {
	panic("not implemented")
}

// CreateRequest is POST Requests. created is true for 201, false for 200 (reused).
func (c *Client) CreateRequest(ctx context.Context, in RequestInput) (id int, created bool, err error) {
	panic("not implemented")
}

// CreateAliasRequest is POST Aliases/{aliasID}/Requests.
func (c *Client) CreateAliasRequest(ctx context.Context, aliasID int, in RequestInput) (id int, created bool, err error) {
	panic("not implemented")
}

// Checkin is PUT Requests/{id}/Checkin with an optional reason.
func (c *Client) Checkin(ctx context.Context, requestID int, reason string) error {
	panic("not implemented")
}

// Approve is PUT Requests/{id}/Approve.
func (c *Client) Approve(ctx context.Context, requestID int, reason string) error {
	panic("not implemented")
}

// Deny is PUT Requests/{id}/Deny.
func (c *Client) Deny(ctx context.Context, requestID int, reason string) error {
	panic("not implemented")
}

// RotateOnCheckin is PUT Requests/{id}/RotateOnCheckin.
func (c *Client) RotateOnCheckin(ctx context.Context, requestID int) error {
	panic("not implemented")
}

// Credential is GET Credentials/{requestID}?type=.
func (c *Client) Credential(ctx context.Context, requestID int, typ CredentialType) (string, error) {
	panic("not implemented")
}

// AliasCredential is GET Aliases/{aliasID}/Credentials/{requestID}?type=.
func (c *Client) AliasCredential(ctx context.Context, aliasID, requestID int, typ CredentialType) (*AliasCredential, error) {
	panic("not implemented")
}

// ManagedAccounts is GET ManagedAccounts with filters; a single-object answer
// comes back as a one-element slice.
func (c *Client) ManagedAccounts(ctx context.Context, q ManagedAccountsQuery) ([]ManagedAccount, error) {
	panic("not implemented")
}

// ManagedAccount looks up one account by system and account name.
func (c *Client) ManagedAccount(ctx context.Context, systemName, accountName string) (*ManagedAccount, error) {
	panic("not implemented")
}

// Aliases is GET Aliases.
func (c *Client) Aliases(ctx context.Context) ([]Alias, error) { panic("not implemented") }

// Alias is GET Aliases/{id}.
func (c *Client) Alias(ctx context.Context, aliasID int) (*Alias, error) { panic("not implemented") }

// AliasByName is GET Aliases?name=.
func (c *Client) AliasByName(ctx context.Context, name string) (*Alias, error) {
	panic("not implemented")
}
