package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Body size caps. Success bodies are read whole (a ManagedAccounts page of
// 1000 accounts is well under a megabyte); error bodies only far enough for a
// message. What is left over is drained a little so the connection can be
// reused, then closed.
const (
	maxBody      = 16 << 20
	maxErrorBody = 64 << 10
	maxDrain     = 256 << 10
)

// call is one logical API call: it may take several HTTP attempts.
type call struct {
	op            string // canonical name, e.g. "POST Requests"
	method        string
	path          string // below BaseURL, no leading slash; never built from user strings
	query         string // already encoded (url.Values.Encode)
	body          []byte
	contentType   string // application/json unless formContentType
	authorization string // only for the token and sign-in calls
	session       bool   // needs the signed-in session; a 401 signs in again once
	retry         retryPolicy
	// secrets of this call alone (a new password in the body), redacted
	// from anything the server says back, like the client's own.
	secrets []string
	// maxBody, when > 0, caps a success body below the default: a larger
	// one fails with ErrFileTooLarge, unread when its length is declared.
	maxBody int64
	// respHeader is the header of the answer that succeeded (set by attempt).
	respHeader http.Header
}

// result is a 2xx answer. Its body lives in a pooled buffer: call free when done.
type result struct {
	status int
	buf    *bytes.Buffer
}

func (r result) bytes() []byte {
	if r.buf == nil {
		return nil
	}
	return r.buf.Bytes()
}

func (r result) free() {
	if r.buf != nil {
		putBuf(r.buf)
	}
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuf() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuf(b *bytes.Buffer) {
	if b.Cap() > 1<<20 { // let big one-off bodies go to the GC
		return
	}
	b.Reset()
	bufPool.Put(b)
}

// do runs a call: lazy sign-in, limiter, per-attempt timeout, one re-sign-in
// on 401, and retries per the call's policy. A session call counts as in
// flight for Retire from start to end. A non-2xx answer comes back as
// an *Error; the result is then empty.
func (c *Client) do(ctx context.Context, cl *call) (res result, err error) {
	retries := 0
	if m := c.metrics; m != nil {
		start := time.Now()
		defer func() { m.record(cl.op, time.Since(start), retries, err, StatusCode(err)) }()
	}
	if cl.session {
		if err := c.enter(ctx); err != nil {
			return result{}, fmt.Errorf("password safe: %s: %w", cl.op, err)
		}
		defer c.leave(ctx)
	}
	reauthed := false
	// unknown: an attempt may have reached the server and acted without
	// our knowing; sent: some attempt reached the server at all.
	unknown, sent := false, false
	fail := func(err error) (result, error) {
		switch {
		case unknown:
			return result{}, &outcomeError{err: err, mark: ErrOutcomeUnknown}
		case !sent && !errors.Is(err, ErrInvalidInput):
			return result{}, &outcomeError{err: err, mark: ErrNotSent}
		}
		return result{}, err
	}
	for {
		var gen uint64
		if cl.session {
			g, err := c.session(ctx)
			if err != nil {
				return fail(err)
			}
			gen = g
		}
		buf := getBuf()
		status, retryAfter, err := c.attempt(ctx, cl, buf)
		if err == nil && status >= 200 && status < 300 {
			return result{status: status, buf: buf}, nil
		}
		switch {
		case err != nil && neverSent(err):
		case err != nil, status >= 500, status == http.StatusRequestTimeout:
			sent, unknown = true, true
		default:
			sent = true
		}
		if ctx.Err() != nil {
			putBuf(buf)
			if err != nil {
				unknown = unknown || !neverSent(err)
			}
			return fail(fmt.Errorf("password safe: %s: %w", cl.op, ctx.Err()))
		}
		if err == nil && status == http.StatusUnauthorized && cl.session && !reauthed {
			// The session expired (or was never valid): the server did not
			// process the call, so sign in again once and repeat it, even a
			// POST Requests. Callers that saw the same generation rejected
			// share one sign-in.
			putBuf(buf)
			reauthed = true
			if _, _, err := c.signIn(ctx, gen, false); err != nil {
				return fail(err)
			}
			continue
		}
		if retries < c.maxRetries && shouldRetry(cl.retry, status, err) {
			putBuf(buf)
			retries++
			if err := sleepCtx(ctx, c.backoff(retries, retryAfter)); err != nil {
				return fail(fmt.Errorf("password safe: %s: %w", cl.op, err))
			}
			continue
		}
		if err != nil {
			putBuf(buf)
			return fail(c.newTransportError(cl, err))
		}
		e := c.newError(cl, status, buf.Bytes())
		putBuf(buf)
		return fail(e)
	}
}

// attempt sends one HTTP request and reads the answer's body into buf. A
// non-nil error is a transport failure (possibly after the status line
// arrived, when the body broke off); status is then informational only.
func (c *Client) attempt(ctx context.Context, cl *call, buf *bytes.Buffer) (status int, retryAfter time.Duration, err error) {
	if err := c.limiter.acquire(ctx); err != nil {
		return 0, 0, err
	}
	defer c.limiter.release()

	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	req, err := c.newRequest(actx, cl)
	if err != nil {
		return 0, 0, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// The error quotes the URL; keep scheme, host and path (which server,
		// which call) but not the query, which can hold long user input.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = stripQuery(ue.URL)
		}
		return 0, 0, err
	}
	limit := int64(maxBody)
	if cl.maxBody > 0 {
		limit = cl.maxBody
	}
	if resp.StatusCode >= 300 {
		limit = maxErrorBody
	} else if cl.maxBody > 0 && resp.ContentLength > limit {
		_ = resp.Body.Close() // not read: the connection goes, the bytes stay upstream
		return resp.StatusCode, 0, fileTooLarge(resp.ContentLength, limit)
	}
	var n int64
	if cl := resp.ContentLength; cl >= 0 && cl <= limit {
		// A declared length within the cap: net/http already stops there
		// (and reports a short body), so read it straight, to EOF.
		buf.Grow(int(cl))
		n, err = buf.ReadFrom(resp.Body)
		_ = resp.Body.Close()
	} else {
		n, err = buf.ReadFrom(io.LimitReader(resp.Body, limit+1))
		drainClose(resp.Body) // over the cap: leave the rest, reuse if cheap
	}
	if err != nil {
		return resp.StatusCode, 0, fmt.Errorf("reading response body: %w", err)
	}
	if n > limit {
		if resp.StatusCode < 300 && cl.maxBody > 0 {
			return resp.StatusCode, 0, fileTooLarge(-1, limit)
		}
		if resp.StatusCode < 300 {
			return resp.StatusCode, 0, fmt.Errorf("response body larger than %d bytes: %w", limit, ErrUnexpectedResponse)
		}
		buf.Truncate(int(limit)) // an error message: the start is enough
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	cl.respHeader = resp.Header
	return resp.StatusCode, retryAfter, nil
}

func (c *Client) newRequest(ctx context.Context, cl *call) (*http.Request, error) {
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body) // also sets ContentLength and GetBody
	}
	// An empty URL parses to nothing; the real one is built from the base
	// parsed in New, so no call re-parses it.
	req, err := http.NewRequestWithContext(ctx, cl.method, "", body)
	if err != nil {
		return nil, err
	}
	u := *c.base
	u.Path = c.base.Path + "/" + cl.path
	if c.base.RawPath != "" {
		u.RawPath = c.base.RawPath + "/" + cl.path
	}
	u.RawQuery = cl.query
	req.URL = &u
	req.Host = ""
	// Header values are shared, read-only slices: no allocation per call.
	h := req.Header
	h["Accept"] = jsonCT
	h["User-Agent"] = c.uaHeader
	if cl.body != nil {
		if cl.contentType == formContentType {
			h["Content-Type"] = formCT
		} else {
			h["Content-Type"] = jsonCT
		}
	}
	if cl.authorization != "" {
		h["Authorization"] = []string{cl.authorization}
	}
	return req, nil
}

const formContentType = "application/x-www-form-urlencoded"

var (
	jsonCT = []string{"application/json"}
	formCT = []string{formContentType}
)

func stripQuery(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

func drainClose(rc io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, rc, maxDrain)
	_ = rc.Close()
}

// newError builds the *Error for a non-2xx answer. Message is what the
// server said, decoded, trimmed and capped, with every secret this client
// knows replaced: the request (headers, body) is never part of it.
func (c *Client) newError(cl *call, status int, body []byte) *Error {
	if status >= 300 && status < 400 {
		return &Error{Op: cl.op, StatusCode: status, Message: "unexpected redirect"}
	}
	code, msg := parseErrorBody(status, body, func(s string) string { return c.redactCall(s, cl) })
	return &Error{Op: cl.op, StatusCode: status, Code: code, Message: msg}
}

// badResponse is a 2xx answer whose body is not what the API documents. The
// body is never quoted: for credential calls it is the secret.
func badResponse(op string, status, n int) error {
	return fmt.Errorf("password safe: %s: HTTP %d with a %d-byte body that is not the documented shape: %w",
		op, status, n, ErrUnexpectedResponse)
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
