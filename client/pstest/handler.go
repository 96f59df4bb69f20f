package pstest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// Fault makes matching API calls misbehave. See Faults.Inject.
type Fault struct {
	Endpoint string        // canonical name, "" = every API endpoint (never /_pstest/)
	Status   int           // answer this status (body: a JSON string message) …
	Count    int           // … for the next Count matching calls (0 = unlimited while Rate applies)
	Rate     float64       // or with this probability per call (0..1); 0 = every call
	Latency  time.Duration // sleep before answering (real time, honours the request context)
	Drop     bool          // hijack and close the connection without an answer
	// AfterHandler applies Status/Drop after the real handler ran: the side
	// effect happened (a request was created, checked in…) but the answer
	// is lost or replaced.
	AfterHandler bool
}

type faultState struct {
	Fault
	fired int
}

// Faults makes API calls misbehave on purpose: error statuses, latency,
// dropped connections and answers lost after the side effect, for testing
// how a client copes with an unreliable server. Get one with Server.Faults.
// Faults never touch the control API (/_pstest/), and every faulted call
// still counts in Inspector.Calls. Each method takes the server's lock.
type Faults struct{ s *Server }

// Faults returns the fault injector of s.
func (s *Server) Faults() Faults { return Faults{s} }

// Inject adds a fault. Faults are tried in the order they were added; the
// first that fires for a call applies. A fault with Count > 0 is removed
// once it has fired Count times; others stay until Clear.
func (fs Faults) Inject(f Fault) {
	fs.s.mu.Lock()
	defer fs.s.mu.Unlock()
	fs.s.st.faults = append(fs.s.st.faults, &faultState{Fault: f})
}

// Clear removes every fault (and the FaultFunc).
func (fs Faults) Clear() {
	fs.s.mu.Lock()
	defer fs.s.mu.Unlock()
	fs.s.st.faults = nil
	fs.s.st.faultFunc = nil
}

// FaultFunc decides, call by call, whether an API call misbehaves: it gets
// the call's canonical endpoint and its HTTP request (headers, method; the
// body is not read yet) and returns the fault to apply, or nil. Only
// Status, Drop, AfterHandler and Latency are used. It runs under the
// server's lock, in the order calls arrive, so a seeded decision function
// makes a sequential test replayable: use it for deterministic simulation.
type FaultFunc func(endpoint string, r *http.Request) *Fault

// SetFunc installs f (nil removes it). It is consulted before the faults
// added by Inject.
func (fs Faults) SetFunc(f FaultFunc) {
	fs.s.mu.Lock()
	defer fs.s.mu.Unlock()
	fs.s.st.faultFunc = f
}

// pickFault returns the fault that fires for this call, if any.
func (st *state) pickFault(endpoint string) *Fault {
	for i, f := range st.faults {
		if f.Endpoint != "" && !strings.EqualFold(f.Endpoint, endpoint) {
			continue
		}
		if f.Rate > 0 && rand.Float64() >= f.Rate {
			continue
		}
		f.fired++
		if f.Count > 0 && f.fired >= f.Count {
			st.faults = append(st.faults[:i:i], st.faults[i+1:]...)
		}
		out := f.Fault
		return &out
	}
	return nil
}

// route is one API endpoint.
type route struct {
	name string // canonical
	auth bool   // needs a session cookie
	h    func(st *state, c *call) reply
}

// call is what a handler gets: the parsed path, the body, the clock and the
// signed-in user (for auth routes).
type call struct {
	r    *http.Request
	ids  []int
	name string // the {name} of the deprecated GET Aliases/{name}
	body []byte
	now  time.Time
	user *userRec
}

// reply is a handler's answer, written after the lock is released.
type reply struct {
	status  int
	body    []byte // JSON (or empty)
	headers map[string]string
	cookie  *http.Cookie
}

func jsonReply(status int, v any) reply {
	b, err := json.Marshal(v) // no trailing newline: some clients use the body verbatim
	if err != nil {
		return reply{status: http.StatusInternalServerError, body: mustJSON("pstest: encode: " + err.Error())}
	}
	return reply{status: status, body: b}
}

// errReply answers a JSON string message, as Password Safe does for errors.
func errReply(status int, msg string) reply { return reply{status: status, body: mustJSON(msg)} }

func noContent() reply { return reply{status: http.StatusNoContent} }

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func (rep reply) write(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range rep.headers {
		h.Set(k, v)
	}
	if rep.cookie != nil {
		http.SetCookie(w, rep.cookie)
	}
	if len(rep.body) > 0 {
		if h.Get("Content-Type") == "" {
			h.Set("Content-Type", "application/json; charset=utf-8")
		}
		h.Set("Content-Length", strconv.Itoa(len(rep.body)))
	}
	w.WriteHeader(rep.status)
	if len(rep.body) > 0 {
		_, _ = w.Write(rep.body)
	}
}

var basePrefixes = []string{strings.ToLower(APIBasePath) + "/", strings.ToLower(LegacyAPIBasePath) + "/"}

// match finds the route of an API path (already stripped of the base path).
// It returns the route, or allow != "" when the path exists with other methods.
func match(method, rest string) (rt *route, c call, allow string) {
	rest = strings.TrimSuffix(rest, "/")
	segs := strings.Split(rest, "/")
	low := make([]string, len(segs))
	for i, s := range segs {
		low[i] = strings.ToLower(s)
	}
	id := func(i int) (int, bool) {
		n, err := strconv.Atoi(segs[i])
		if err != nil || strings.HasPrefix(segs[i], "+") {
			return 0, false
		}
		return n, true
	}
	want := func(m string, r *route, ids ...int) (*route, call, string) {
		if method != m {
			return nil, call{}, m
		}
		return r, call{ids: ids}, ""
	}
	if len(low) >= 2 && low[0] == "secrets-safe" {
		return matchSecretsSafe(method, segs, low, want)
	}
	switch len(low) {
	case 1:
		switch low[0] {
		case "requests":
			switch method {
			case http.MethodGet:
				return routeListRequests, call{}, ""
			case http.MethodPost:
				return routeCreateRequest, call{}, ""
			}
			return nil, call{}, "GET, POST"
		case "managedaccounts":
			return want(http.MethodGet, routeManagedAccounts)
		case "managedsystems":
			return want(http.MethodGet, routeManagedSystems)
		case "aliases":
			return want(http.MethodGet, routeAliases)
		case "isarequests":
			return want(http.MethodPost, routeISARequests)
		}
	case 2:
		switch low[0] {
		case "auth":
			switch low[1] {
			case "signappin":
				return want(http.MethodPost, routeSignAppin)
			case "signout":
				return want(http.MethodPost, routeSignout)
			}
		case "credentials":
			if n, ok := id(1); ok {
				return want(http.MethodGet, routeCredentials, n)
			}
		case "aliases":
			if segs[1] == "" {
				break
			}
			if method != http.MethodGet {
				return nil, call{}, http.MethodGet
			}
			if n, ok := id(1); ok {
				return routeAlias, call{ids: []int{n}}, ""
			}
			return routeAlias, call{name: segs[1]}, "" // deprecated GET Aliases/{name}
		}
	case 3:
		switch {
		case low[0] == "auth" && low[1] == "connect" && low[2] == "token":
			return want(http.MethodPost, routeToken)
		case low[0] == "requests" && low[1] == "release":
			if n, ok := id(2); ok {
				return want(http.MethodPut, routeCheckin, n)
			}
		case low[0] == "requests":
			n, ok := id(1)
			if !ok {
				break
			}
			switch low[2] {
			case "checkin":
				return want(http.MethodPut, routeCheckin, n)
			case "approve":
				return want(http.MethodPut, routeApprove, n)
			case "deny":
				return want(http.MethodPut, routeDeny, n)
			case "rotateoncheckin":
				return want(http.MethodPut, routeRotateOnCheckin, n)
			}
		case low[0] == "aliases" && low[2] == "requests":
			if n, ok := id(1); ok {
				return want(http.MethodPost, routeCreateAliasRequest, n)
			}
		}
	case 4:
		if low[0] == "managedaccounts" && low[2] == "credentials" && low[3] == "change" {
			if n, ok := id(1); ok {
				return want(http.MethodPost, routeChangeCredentials, n)
			}
		}
		if low[0] == "aliases" && low[2] == "credentials" {
			a, ok1 := id(1)
			r, ok2 := id(3)
			if ok1 && ok2 {
				return want(http.MethodGet, routeAliasCredentials, a, r)
			}
		}
	}
	return nil, call{}, ""
}

var (
	routeToken              = &route{name: EndpointToken, h: (*state).token}
	routeSignAppin          = &route{name: EndpointSignAppin, h: (*state).signAppin}
	routeSignout            = &route{name: EndpointSignout, h: (*state).signout}
	routeListRequests       = &route{name: EndpointListRequests, auth: true, h: (*state).listRequests}
	routeCreateRequest      = &route{name: EndpointCreateRequest, auth: true, h: (*state).createRequest}
	routeCreateAliasRequest = &route{name: EndpointCreateAliasRequest, auth: true, h: (*state).createAliasRequest}
	routeCheckin            = &route{name: EndpointCheckin, auth: true, h: (*state).checkin}
	routeApprove            = &route{name: EndpointApprove, auth: true, h: (*state).approve}
	routeDeny               = &route{name: EndpointDeny, auth: true, h: (*state).deny}
	routeRotateOnCheckin    = &route{name: EndpointRotateOnCheckin, auth: true, h: (*state).rotateOnCheckin}
	routeCredentials        = &route{name: EndpointCredentials, auth: true, h: (*state).credentials}
	routeAliasCredentials   = &route{name: EndpointAliasCredentials, auth: true, h: (*state).aliasCredentials}
	routeManagedAccounts    = &route{name: EndpointManagedAccounts, auth: true, h: (*state).managedAccounts}
	routeManagedSystems     = &route{name: EndpointManagedSystems, auth: true, h: (*state).managedSystems}
	routeAliases            = &route{name: EndpointAliases, auth: true, h: (*state).listAliases}
	routeAlias              = &route{name: EndpointAlias, auth: true, h: (*state).getAlias}
	routeISARequests        = &route{name: EndpointISARequests, auth: true, h: (*state).isaRequest}
	routeChangeCredentials  = &route{name: EndpointChangeCredentials, auth: true, h: (*state).changeCredentials}
	routeSecretsSafeFolders = &route{name: EndpointSecretsSafeFolders, auth: true, h: (*state).listFolders}
	routeSecrets            = &route{name: EndpointSecrets, auth: true, h: (*state).listSecrets}
	routeSecret             = &route{name: EndpointSecret, auth: true, h: (*state).getSecret}
	routeSecretFileDownload = &route{name: EndpointSecretFileDownload, auth: true, h: (*state).downloadSecretFile}
)

// matchSecretsSafe routes Secrets-Safe/...: the folder list, the secret
// list, one secret by its GUID and its file download. A malformed GUID
// matches no route (404), as the server's {id:guid} constraint does.
func matchSecretsSafe(method string, segs, low []string, want func(string, *route, ...int) (*route, call, string)) (*route, call, string) {
	switch {
	case len(low) == 2 && low[1] == "folders":
		return want(http.MethodGet, routeSecretsSafeFolders)
	case len(low) == 2 && low[1] == "secrets":
		return want(http.MethodGet, routeSecrets)
	case len(low) == 3 && low[1] == "secrets" && validGUID(segs[2]):
		rt, c, allow := want(http.MethodGet, routeSecret)
		c.name = segs[2]
		return rt, c, allow
	case len(low) == 5 && low[1] == "secrets" && validGUID(segs[2]) && low[3] == "file" && low[4] == "download":
		rt, c, allow := want(http.MethodGet, routeSecretFileDownload)
		c.name = segs[2]
		return rt, c, allow
	}
	return nil, call{}, ""
}

// statusRecorder remembers the status for the log line.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

// Unwrap lets http.ResponseController reach the connection (dropConnection).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

const maxBody = 1 << 20

// ServeHTTP serves the API (under both base paths) and /_pstest/.
//
// A panic while serving (a simulator bug, or a test's FaultFunc) answers
// 500 with {"Message": ...} naming it, and the server goes on serving:
// every section under the server's lock releases it as the panic unwinds,
// so later calls do not wait forever on a lock nobody holds any more. What
// the panicking call changed in the simulated state before it panicked
// stays changed.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if p == http.ErrAbortHandler { // dropConnection's, on purpose
			panic(p)
		}
		msg := fmt.Sprintf("pstest: panic serving %s %s: %v", r.Method, r.URL.Path, p)
		if l := s.logger(); l != nil {
			l.Error("panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
		if rec.status == 0 { // else the answer has begun: nothing to add
			jsonReply(http.StatusInternalServerError, map[string]string{"Message": msg}).write(rec)
		}
	}()
	s.serve(rec, r)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	lowPath := strings.ToLower(r.URL.Path)
	if strings.HasPrefix(lowPath, "/_pstest/") || lowPath == "/_pstest" {
		rec := &statusRecorder{ResponseWriter: w}
		s.control(rec, r)
		s.logCall(r.Method, "control "+r.URL.Path, rec.status, start)
		return
	}
	var rest string
	for _, p := range basePrefixes {
		// Compare on the original bytes: lower-casing can change lengths.
		if len(r.URL.Path) >= len(p) && strings.EqualFold(r.URL.Path[:len(p)], p) {
			rest = r.URL.Path[len(p):]
			break
		}
	}
	var rt *route
	var c call
	var allow string
	if rest != "" {
		rt, c, allow = match(r.Method, rest)
	}
	if rt == nil {
		rec := &statusRecorder{ResponseWriter: w}
		if allow != "" {
			rec.Header().Set("Allow", allow)
			errReply(http.StatusMethodNotAllowed, "The requested resource does not support http method '"+r.Method+"'.").write(rec)
		} else {
			errReply(http.StatusNotFound, "No HTTP resource was found that matches the request URI.").write(rec)
		}
		s.logCall(r.Method, "unknown", rec.status, start)
		return
	}

	f := s.countAndPickFault(rt.name, r)

	rec := &statusRecorder{ResponseWriter: w}
	defer func() { s.logCall(r.Method, rt.name, rec.status, start) }()

	// Read the body first: net/http notices a client that hangs up (and
	// cancels r.Context()) only once the body has been consumed, and the
	// latency fault below must see that.
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	switch {
	case err != nil:
		errReply(http.StatusBadRequest, "could not read the request body").write(rec)
		return
	case len(body) > maxBody:
		errReply(http.StatusRequestEntityTooLarge, "request body too large").write(rec)
		return
	}
	c.r = r
	c.body = body

	if f != nil && f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return // the client gave up; nobody to answer
		}
	}
	if f != nil && (f.Drop || f.Status != 0) {
		if f.AfterHandler {
			s.serveAPI(discardWriter{h: http.Header{}}, r, rt, c)
		}
		if f.Drop {
			dropConnection(w)
			return
		}
		errReply(f.Status, "pstest: injected fault").write(rec)
		return
	}
	s.serveAPI(rec, r, rt, c)
}

// countAndPickFault counts the call and returns the fault that fires for
// it, if any.
func (s *Server) countAndPickFault(endpoint string, r *http.Request) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock() // also when the FaultFunc panics
	s.st.calls[endpoint]++
	if s.st.faultFunc != nil {
		if f := s.st.faultFunc(endpoint, r); f != nil {
			return f
		}
	}
	return s.st.pickFault(endpoint)
}

// serveAPI runs one API call: the handler under the lock, then the answer
// written without it.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, rt *route, c call) {
	s.handle(r, rt, &c).write(w)
}

// handle runs the handler under the lock, released also when it panics.
func (s *Server) handle(r *http.Request, rt *route, c *call) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	c.now = st.now()
	st.sweep(c.now)
	var rep reply
	switch {
	case st.apiDisabled:
		rep = errReply(http.StatusGone, "API version 3 is disabled")
	case rt.auth:
		if u := st.sessionUser(r, c.now); u == nil {
			rep = errReply(http.StatusUnauthorized, "Unauthorized: not signed in, or the session has expired")
		} else {
			c.user = u
			rep = rt.h(st, c)
		}
	default:
		rep = rt.h(st, c)
	}
	return st.styleError(rep)
}

// ErrorBodies selects how error answers are spelt. BeyondTrust's reference
// says a 403 body "contains a message or status code indicating the
// reason"; clients must accept every form.
type ErrorBodies int

const (
	// ErrorBodiesText (the default): a JSON string, sub-code first:
	// "4034 - Request is not yet approved".
	ErrorBodiesText ErrorBodies = iota
	// ErrorBodiesCode: a 403/409 with a sub-code answers the bare number
	// (4034); other errors answer as ErrorBodiesText.
	ErrorBodiesCode
	// ErrorBodiesWords: the message without the sub-code:
	// "Request is not yet approved".
	ErrorBodiesWords
	// ErrorBodiesObject: an ASP.NET error object, {"Message": "4034 - …"}.
	ErrorBodiesObject
)

// styleError respells an error reply's JSON-string body per
// st.errorBodies. Injected faults and OAuth's {"error": …} bodies are left
// alone.
func (st *state) styleError(rep reply) reply {
	if st.errorBodies == ErrorBodiesText || rep.status < 400 || len(rep.body) == 0 || rep.body[0] != '"' {
		return rep
	}
	var msg string
	if json.Unmarshal(rep.body, &msg) != nil {
		return rep
	}
	code, words := "", msg
	if (rep.status == http.StatusForbidden || rep.status == http.StatusConflict) && len(msg) > 4 {
		if n, err := strconv.Atoi(msg[:4]); err == nil && n/10 == rep.status {
			code, words = msg[:4], strings.TrimSpace(strings.TrimPrefix(msg[4:], " -"))
		}
	}
	switch st.errorBodies {
	case ErrorBodiesCode:
		if code != "" {
			rep.body = []byte(code)
		}
	case ErrorBodiesWords:
		rep.body = mustJSON(words)
	case ErrorBodiesObject:
		rep.body = mustJSON(map[string]string{"Message": msg})
	}
	return rep
}

func (s *Server) logger() *slog.Logger {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.logger
}

func (s *Server) logCall(method, endpoint string, status int, start time.Time) {
	l := s.logger()
	if l == nil {
		return
	}
	l.Info("request", "method", method, "endpoint", endpoint, "status", status, "duration", time.Since(start).Round(time.Microsecond).String())
}

// dropConnection closes the connection without an answer.
func dropConnection(w http.ResponseWriter) {
	// The controller finds the connection below the statusRecorders.
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // reset, like a crashed proxy
		}
		_ = conn.Close()
		return
	}
	// HTTP/2 or a wrapped writer: abort the stream instead.
	panic(http.ErrAbortHandler)
}

// discardWriter swallows the real answer of an AfterHandler fault.
type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}

// queryValue reads a query parameter by case-insensitive name (ASP.NET binds
// query strings that way).
func queryValue(r *http.Request, name string) (string, bool) {
	for k, v := range r.URL.Query() {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0], true
		}
	}
	return "", false
}

// mediaType is the request's Content-Type without parameters, lowercased.
func mediaType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

// isJSON reports whether the request's Content-Type is a JSON type the
// server reads: application/json, text/json or application/*+json.
func isJSON(r *http.Request) bool {
	ct := mediaType(r)
	return ct == "application/json" || ct == "text/json" ||
		(strings.HasPrefix(ct, "application/") && strings.HasSuffix(ct, "+json"))
}

// isForm reports whether the request body is form-encoded.
func isForm(r *http.Request) bool { return mediaType(r) == "application/x-www-form-urlencoded" }

// bodyJSON gives the body of a POST/PUT as JSON the handlers decode with
// encoding/json, tolerating what an ASP.NET server with Json.NET and the
// form formatter does: a form-encoded body (each field once; numbers and
// booleans as text), and numbers and booleans sent as JSON strings
// ("SystemID": "11"). ints and bools name the fields converted. ok is false
// for a content type the server does not read (415).
func bodyJSON(c *call, ints, bools []string) (out []byte, ok bool, err error) {
	var fields map[string]any
	switch {
	case isForm(c.r):
		vals, perr := url.ParseQuery(string(c.body))
		if perr != nil {
			return nil, true, errors.New("malformed form body")
		}
		fields = map[string]any{}
		for k, v := range vals {
			if len(v) > 0 {
				fields[k] = v[0]
			}
		}
	case isJSON(c.r):
		dec := json.NewDecoder(bytes.NewReader(c.body))
		dec.UseNumber()
		if derr := dec.Decode(&fields); derr != nil || fields == nil {
			// Not an object: let the caller's decoder report it.
			return c.body, true, nil
		}
	default:
		return nil, false, nil
	}
	for k, v := range fields {
		s, isStr := v.(string)
		if !isStr {
			continue
		}
		switch {
		case hasFold(ints, k):
			s = strings.TrimSpace(s)
			if s == "" {
				fields[k] = nil
			} else if _, nerr := strconv.ParseInt(s, 10, 64); nerr == nil {
				fields[k] = json.Number(s)
			}
		case hasFold(bools, k):
			if b, berr := strconv.ParseBool(strings.TrimSpace(s)); berr == nil {
				fields[k] = b
			}
		}
	}
	out, err = json.Marshal(fields)
	return out, true, err
}

func hasFold(list []string, s string) bool {
	for _, l := range list {
		if strings.EqualFold(l, s) {
			return true
		}
	}
	return false
}
