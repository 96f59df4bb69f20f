package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Canonical operation names, as the simulator counts them and as they appear
// in errors.
const (
	opToken           = "POST Auth/connect/token"
	opSignAppin       = "POST Auth/SignAppin"
	opSignout         = "POST Auth/Signout"
	opListRequests    = "GET Requests"
	opCreateRequest   = "POST Requests"
	opAliasRequest    = "POST Aliases/{id}/Requests"
	opCheckin         = "PUT Requests/{id}/Checkin"
	opApprove         = "PUT Requests/{id}/Approve"
	opDeny            = "PUT Requests/{id}/Deny"
	opRotateOnCheckin = "PUT Requests/{id}/RotateOnCheckin"
	opCredential      = "GET Credentials/{id}"
	opAliasCredential = "GET Aliases/{id}/Credentials/{id}"
	opManagedAccounts = "GET ManagedAccounts"
	opManagedSystems  = "GET ManagedSystems"
	opAliases         = "GET Aliases"
	opAlias           = "GET Aliases/{id}"
	opISARequest      = "POST ISARequests"
	opChangeCreds     = "POST ManagedAccounts/{id}/Credentials/Change"
	opFolders         = "GET Secrets-Safe/Folders"
	opSecrets         = "GET Secrets-Safe/Secrets"
	opSecret          = "GET Secrets-Safe/Secrets/{id}"
	opSecretFile      = "GET Secrets-Safe/Secrets/{id}/file/download"
)

// sessionJar is the cookie jar of one Client. The session cookie's name is
// not documented, so the client never looks at it: whatever SignAppin sets
// is sent back. reset (on SignOut) swaps in an empty jar atomically, so calls
// in flight never see a half-cleared one.
type sessionJar struct{ p atomic.Pointer[cookiejar.Jar] }

func newSessionJar() *sessionJar {
	j := &sessionJar{}
	j.reset()
	return j
}

func (j *sessionJar) reset() {
	cj, _ := cookiejar.New(nil) // never fails with nil options
	j.p.Store(cj)
}

func (j *sessionJar) SetCookies(u *url.URL, cs []*http.Cookie) { j.p.Load().SetCookies(u, cs) }
func (j *sessionJar) Cookies(u *url.URL) []*http.Cookie        { return j.p.Load().Cookies(u) }

// psAuthHeader builds the API-key Authorization value. pwd=[...] is only
// sent when a password is configured: registrations that do not require one
// may reject it.
func psAuthHeader(key, runAs, pwd string) string {
	h := "PS-Auth key=" + key + "; runas=" + runAs + ";"
	if pwd != "" {
		h += " pwd=[" + pwd + "];"
	}
	return h
}

// signInFlight is one sign-in shared by every caller that needs it: N
// callers that all saw a 401 on the same session generation wait for one
// POST Auth/SignAppin instead of sending N.
type signInFlight struct {
	done chan struct{}
	gen  uint64
	user *User
	err  error
}

// SignIn signs in now (normally done lazily by the first call) and returns the user.
// It always starts a new session unless a sign-in is already under way, in
// which case it shares that one.
//
// On a retired client (see Retire) the session SignIn makes is signed out
// again before SignIn returns, unless other calls are still in flight.
func (c *Client) SignIn(ctx context.Context) (*User, error) {
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("password safe: %s: %w", opSignAppin, err)
	}
	defer c.leave(ctx)
	_, u, err := c.signIn(ctx, c.gen.Load(), true)
	if err != nil {
		return nil, err
	}
	cp := *u
	return &cp, nil
}

// SignOut ends the session, if any. Safe to call more than once.
// A session the server already dropped (401) counts as signed out. The local
// session is forgotten even when the call fails, so the next call signs in
// anew. A sign-in still under way when SignOut runs is not cancelled: call
// SignOut after the calls that use the client have returned, or use Retire
// when other goroutines may still be using it.
func (c *Client) SignOut(ctx context.Context) error {
	c.mu.Lock()
	if c.gen.Load() == 0 {
		c.mu.Unlock()
		return nil
	}
	c.gen.Store(0)
	c.user = nil
	c.mu.Unlock()

	res, err := c.do(ctx, &call{op: opSignout, method: http.MethodPost, path: "Auth/Signout", retry: retryAll})
	c.jar.reset()
	res.free()
	if err != nil && !IsUnauthorized(err) {
		return err
	}
	return nil
}

// idleSignOutTimeout bounds the sign-out a retired client's last call runs
// on its way out (the client's Timeout, when shorter, bounds it too).
const idleSignOutTimeout = 10 * time.Second

// Retire marks c as no longer wanted, for an owner that drops a client other
// goroutines may still be using (a cache evicting it, say). From then on c
// never keeps a session past its last call: when no call is in flight it
// signs out at once; otherwise the last call in flight signs out before it
// returns (bounded by the client's Timeout, at most idleSignOutTimeout).
// Calls made after Retire still work: they sign in anew, and the last of
// them signs that session out too. No call starts while a retired client
// signs out, so a sign-in cannot race the sign-out and be left open.
//
// Retire waits until c is idle and signed out, and returns the error of
// that sign-out (a session the server already dropped counts as signed
// out). If ctx ends while calls are still in flight, Retire returns
// ctx.Err() unwrapped and the last of those calls signs out as above; its
// error is then dropped (the server expires the session in time anyway).
// ctx also bounds a sign-out Retire runs itself. Retire may be called more
// than once; a retired client cannot be un-retired.
func (c *Client) Retire(ctx context.Context) error {
	c.mu.Lock()
	c.retired = true
	for c.inflight > 0 || c.closing != nil {
		if c.idle == nil {
			c.idle = make(chan struct{})
		}
		idle := c.idle
		c.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
	}
	return c.closeLocked(ctx)
}

// enter counts a session call in flight. While a retired client signs out
// it waits for that first: a sign-in during the sign-out would have its
// cookie cleared by it and be left open on the server.
func (c *Client) enter(ctx context.Context) error {
	c.mu.Lock()
	for c.closing != nil {
		closing := c.closing
		c.mu.Unlock()
		select {
		case <-closing:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
	}
	c.inflight++
	c.mu.Unlock()
	return nil
}

// leave ends a call counted by enter. On a retired client the last call out
// signs out before it returns.
func (c *Client) leave(ctx context.Context) {
	c.mu.Lock()
	c.inflight--
	if c.inflight > 0 || !c.retired {
		c.mu.Unlock()
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(c.timeout, idleSignOutTimeout))
	defer cancel()
	_ = c.closeLocked(sctx) // reported to a waiting Retire through closeErr
}

// closeLocked runs with mu held on a retired client with no call in flight
// and no sign-out under way. It signs out if there is a session, wakes a
// waiting Retire, unlocks mu and returns the last sign-out's error.
func (c *Client) closeLocked(ctx context.Context) error {
	if c.gen.Load() != 0 {
		closing := make(chan struct{})
		c.closing = closing
		c.mu.Unlock()
		err := c.SignOut(ctx)
		c.mu.Lock()
		c.closing, c.closeErr = nil, err
		close(closing)
	}
	if c.idle != nil {
		close(c.idle)
		c.idle = nil
	}
	err := c.closeErr
	c.mu.Unlock()
	return err
}

// session returns the live session's generation, signing in first when there
// is none.
func (c *Client) session(ctx context.Context) (uint64, error) {
	if g := c.gen.Load(); g != 0 {
		return g, nil
	}
	g, _, err := c.signIn(ctx, 0, false)
	return g, err
}

// signIn makes sure there is a session newer than stale (the generation a
// caller saw rejected) and returns it. With force, a new session is made
// even when the current one is not stale (SignIn), unless a sign-in is
// already running.
func (c *Client) signIn(ctx context.Context, stale uint64, force bool) (uint64, *User, error) {
	for {
		c.mu.Lock()
		if g := c.gen.Load(); !force && g != 0 && g != stale {
			u := c.user
			c.mu.Unlock()
			return g, u, nil
		}
		if f := c.flight; f != nil {
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return 0, nil, fmt.Errorf("password safe: %s: %w", opSignAppin, ctx.Err())
			}
			if f.err == nil {
				return f.gen, f.user, nil
			}
			// The leader's own context ended; ours has not, so try again
			// (and maybe lead) rather than fail for someone else's deadline.
			if ctx.Err() == nil && isContextErr(f.err) {
				force = false
				continue
			}
			return 0, nil, f.err
		}
		f := &signInFlight{done: make(chan struct{})}
		c.flight = f
		c.mu.Unlock()

		u, err := c.doSignIn(ctx)

		c.mu.Lock()
		if err == nil {
			c.seq++
			f.gen = c.seq
			c.user = u
			c.gen.Store(f.gen)
		} else {
			// No usable session: the next call signs in again.
			c.gen.Store(0)
			c.user = nil
		}
		f.user, f.err = u, err
		c.flight = nil
		c.mu.Unlock()
		close(f.done)
		return f.gen, u, err
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// doSignIn runs POST Auth/SignAppin with the configured credentials.
func (c *Client) doSignIn(ctx context.Context) (*User, error) {
	if c.cfg.ClientID == "" {
		return c.signAppin(ctx, c.psAuth)
	}
	tok, fresh, err := c.accessToken(ctx, false)
	if err != nil {
		return nil, err
	}
	u, err := c.signAppin(ctx, "Bearer "+tok)
	if err != nil && !fresh && IsUnauthorized(err) {
		// A cached token the server no longer takes (revoked, or its clock
		// is ahead of ours): fetch a new one once.
		if tok, _, err = c.accessToken(ctx, true); err != nil {
			return nil, err
		}
		u, err = c.signAppin(ctx, "Bearer "+tok)
	}
	return u, err
}

func (c *Client) signAppin(ctx context.Context, authorization string) (*User, error) {
	res, err := c.do(ctx, &call{
		op: opSignAppin, method: http.MethodPost, path: "Auth/SignAppin",
		authorization: authorization, retry: retryAll,
	})
	defer res.free()
	if err != nil {
		return nil, err
	}
	u := &User{}
	if b := res.bytes(); len(b) > 0 {
		if err := json.Unmarshal(b, u); err != nil {
			return nil, badResponse(opSignAppin, res.status, len(b))
		}
	}
	return u, nil
}

// tokenMargin is how long before expires_in a cached token stops being
// used: a tenth of its life, at most a minute, so a token is never sent in
// its last moments (clock skew, a slow SignAppin).
func tokenMargin(life time.Duration) time.Duration {
	return min(life/10, time.Minute)
}

// accessToken returns a cached OAuth access token, or fetches one.
// fresh says whether it was fetched just now. Callers are serialised by the
// sign-in flight, so two fetches never race for the same need.
func (c *Client) accessToken(ctx context.Context, forceNew bool) (tok string, fresh bool, err error) {
	c.tokMu.Lock()
	if !forceNew && c.token != "" && time.Now().Before(c.tokenExp) {
		tok = c.token
		c.tokMu.Unlock()
		return tok, false, nil
	}
	c.token = ""
	c.tokMu.Unlock()

	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.cfg.ClientID},
		"client_secret": {c.cfg.ClientSecret},
	}
	res, err := c.do(ctx, &call{
		op: opToken, method: http.MethodPost, path: "Auth/connect/token",
		body: []byte(form.Encode()), contentType: formContentType,
		retry: retryAll,
	})
	defer res.free()
	if err != nil {
		return "", false, err
	}
	var tr struct {
		AccessToken string          `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
		TokenType   string          `json:"token_type"`
	}
	b := res.bytes()
	if err := json.Unmarshal(b, &tr); err != nil || tr.AccessToken == "" || hasCtl(tr.AccessToken) {
		return "", false, badResponse(opToken, res.status, len(b))
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		return "", false, fmt.Errorf("password safe: %s: unsupported token_type %q: %w", opToken, capString(tr.TokenType, 32), ErrUnexpectedResponse)
	}
	secs, _ := strconv.ParseFloat(strings.Trim(string(tr.ExpiresIn), `"`), 64)
	c.tokMu.Lock()
	if secs > 0 {
		life := time.Duration(secs * float64(time.Second))
		c.token = tr.AccessToken
		c.tokenExp = time.Now().Add(life - tokenMargin(life))
	}
	// Without expires_in the token is used for this sign-in only.
	c.tokMu.Unlock()
	return tr.AccessToken, true, nil
}

// currentToken is for redaction: the token is a secret too.
func (c *Client) currentToken() string {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	return c.token
}

// SignedIn reports whether the client holds a live session (as far as it
// knows: the server may have ended it meanwhile).
func (c *Client) SignedIn() bool { return c.gen.Load() != 0 }
