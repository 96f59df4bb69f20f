package client_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// TestRetryOnFaults drives each call kind through injected faults and checks
// what was repeated, what was not, and how many requests exist afterwards.
func TestRetryOnFaults(t *testing.T) {
	type kind int
	const (
		getCred kind = iota
		putCheckin
		postCreate
		postReuse
		postAlias
		postAliasReuse
		signIn
	)
	names := map[kind]string{getCred: epCredentials, putCheckin: epCheckin, postCreate: epPostRequests,
		postReuse: epPostRequests, postAlias: epAliasRequest, postAliasReuse: epAliasRequest, signIn: epSignAppin}
	for _, tc := range []struct {
		name       string
		kind       kind
		fault      pstest.Fault
		maxRetries int
		wantStatus int // 0 = success; -1 = a transport error
		wantCalls  int // calls of the faulted endpoint
		wantNew    int // requests created by the call (POST kinds)
	}{
		{name: "GET 503 twice then success", kind: getCred, fault: pstest.Fault{Status: 503, Count: 2}, wantCalls: 3},
		{name: "GET 500 then success", kind: getCred, fault: pstest.Fault{Status: 500, Count: 1}, wantCalls: 2},
		{name: "GET 502 then success", kind: getCred, fault: pstest.Fault{Status: 502, Count: 1}, wantCalls: 2},
		{name: "GET 408 then success", kind: getCred, fault: pstest.Fault{Status: 408, Count: 1}, wantCalls: 2},
		{name: "GET 429 then success", kind: getCred, fault: pstest.Fault{Status: 429, Count: 1}, wantCalls: 2},
		{name: "GET 503 forever gives up after MaxRetries", kind: getCred, fault: pstest.Fault{Status: 503}, wantStatus: 503, wantCalls: 4},
		{name: "GET MaxRetries 1", kind: getCred, fault: pstest.Fault{Status: 503}, maxRetries: 1, wantStatus: 503, wantCalls: 2},
		{name: "GET MaxRetries<0 means none", kind: getCred, fault: pstest.Fault{Status: 503, Count: 1}, maxRetries: -1, wantStatus: 503, wantCalls: 1},
		{name: "GET 400 not retried", kind: getCred, fault: pstest.Fault{Status: 400, Count: 1}, wantStatus: 400, wantCalls: 1},
		{name: "GET 403 not retried", kind: getCred, fault: pstest.Fault{Status: 403, Count: 1}, wantStatus: 403, wantCalls: 1},
		{name: "GET 404 not retried", kind: getCred, fault: pstest.Fault{Status: 404, Count: 1}, wantStatus: 404, wantCalls: 1},
		{name: "GET 409 not retried", kind: getCred, fault: pstest.Fault{Status: 409, Count: 1}, wantStatus: 409, wantCalls: 1},
		{name: "GET 410 not retried", kind: getCred, fault: pstest.Fault{Status: 410, Count: 1}, wantStatus: 410, wantCalls: 1},
		{name: "GET 415 not retried", kind: getCred, fault: pstest.Fault{Status: 415, Count: 1}, wantStatus: 415, wantCalls: 1},
		{name: "GET dropped connection retried", kind: getCred, fault: pstest.Fault{Drop: true, Count: 1}, wantCalls: 2},
		{name: "GET dropped three times", kind: getCred, fault: pstest.Fault{Drop: true, Count: 3}, wantCalls: 4},

		{name: "PUT 503 twice then success", kind: putCheckin, fault: pstest.Fault{Status: 503, Count: 2}, wantCalls: 3},
		{name: "PUT 503 after the check-in happened", kind: putCheckin, fault: pstest.Fault{Status: 503, Count: 1, AfterHandler: true},
			wantStatus: 404, wantCalls: 2}, // the repeat finds it checked in: 404, which callers treat as done
		{name: "PUT dropped", kind: putCheckin, fault: pstest.Fault{Drop: true, Count: 1}, wantCalls: 2},
		{name: "PUT 400 not retried", kind: putCheckin, fault: pstest.Fault{Status: 400, Count: 1}, wantStatus: 400, wantCalls: 1},

		{name: "POST Requests 503 not retried", kind: postCreate, fault: pstest.Fault{Status: 503, Count: 1}, wantStatus: 503, wantCalls: 1, wantNew: 0},
		{name: "POST Requests 503 after create not retried", kind: postCreate, fault: pstest.Fault{Status: 503, Count: 1, AfterHandler: true},
			wantStatus: 503, wantCalls: 1, wantNew: 1},
		{name: "POST Requests 500 not retried", kind: postCreate, fault: pstest.Fault{Status: 500, Count: 1}, wantStatus: 500, wantCalls: 1},
		{name: "POST Requests 429 not retried", kind: postCreate, fault: pstest.Fault{Status: 429, Count: 1}, wantStatus: 429, wantCalls: 1},
		{name: "POST Requests 408 not retried", kind: postCreate, fault: pstest.Fault{Status: 408, Count: 1}, wantStatus: 408, wantCalls: 1},
		{name: "POST Requests drop after create not retried", kind: postCreate, fault: pstest.Fault{Drop: true, Count: 1, AfterHandler: true},
			wantStatus: -1, wantCalls: 1, wantNew: 1},
		{name: "POST Requests drop not retried", kind: postCreate, fault: pstest.Fault{Drop: true, Count: 1}, wantStatus: -1, wantCalls: 1},
		{name: "POST Requests 401 re-signs in and repeats", kind: postCreate, fault: pstest.Fault{Status: 401, Count: 1}, wantCalls: 2, wantNew: 1},
		{name: "POST Requests reuse 503 retried", kind: postReuse, fault: pstest.Fault{Status: 503, Count: 2}, wantCalls: 3, wantNew: 1},
		{name: "POST Requests reuse 503 after create retried", kind: postReuse, fault: pstest.Fault{Status: 503, Count: 1, AfterHandler: true},
			wantCalls: 2, wantNew: 1},
		{name: "POST Requests reuse drop after create retried", kind: postReuse, fault: pstest.Fault{Drop: true, Count: 1, AfterHandler: true},
			wantCalls: 2, wantNew: 1},
		{name: "POST Requests reuse 400 not retried", kind: postReuse, fault: pstest.Fault{Status: 400, Count: 1}, wantStatus: 400, wantCalls: 1},
		{name: "POST alias 503 not retried", kind: postAlias, fault: pstest.Fault{Status: 503, Count: 1, AfterHandler: true},
			wantStatus: 503, wantCalls: 1, wantNew: 1},
		{name: "POST alias reuse 503 retried", kind: postAliasReuse, fault: pstest.Fault{Status: 503, Count: 1, AfterHandler: true},
			wantCalls: 2, wantNew: 1},

		{name: "SignAppin 503 retried", kind: signIn, fault: pstest.Fault{Status: 503, Count: 2}, wantCalls: 3},
		{name: "SignAppin drop retried", kind: signIn, fault: pstest.Fault{Drop: true, Count: 1}, wantCalls: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			cfg := keyConfig(s, "")
			cfg.MaxRetries = tc.maxRetries
			c := newClient(t, cfg)
			ctx := ctxT(t)
			var reqID int
			switch tc.kind {
			case getCred, putCheckin:
				reqID = mustRequest(t, c, sysDB, acctPostgres)
			case postReuse, postCreate, postAlias, postAliasReuse:
				if _, err := c.SignIn(ctx); err != nil {
					t.Fatal(err)
				}
			}
			s.Inspect().ResetCalls()
			before := len(s.Inspect().Requests())
			f := tc.fault
			f.Endpoint = names[tc.kind]
			s.Faults().Inject(f)

			var err error
			switch tc.kind {
			case getCred:
				var pw string
				pw, err = c.Credential(ctx, reqID, "")
				if err == nil && pw != s.Inspect().Password(acctPostgres) {
					t.Errorf("wrong credential")
				}
			case putCheckin:
				err = c.Checkin(ctx, reqID, "r")
			case postCreate, postReuse:
				in := client.RequestInput{SystemID: sysDB, AccountID: acctPostgres, DurationMinutes: 5}
				if tc.kind == postReuse {
					in.ConflictOption = client.ConflictReuse
				}
				_, _, err = c.CreateRequest(ctx, in)
			case postAlias, postAliasReuse:
				in := client.RequestInput{DurationMinutes: 5}
				if tc.kind == postAliasReuse {
					in.ConflictOption = client.ConflictReuse
				}
				_, _, err = c.CreateAliasRequest(ctx, 1, in)
			case signIn:
				_, err = c.SignIn(ctx)
			}

			switch {
			case tc.wantStatus == 0 && err != nil:
				t.Fatalf("err = %v, want success", err)
			case tc.wantStatus > 0:
				wantAPIError(t, err, names[tc.kind], tc.wantStatus, 0)
			case tc.wantStatus < 0:
				if err == nil {
					t.Fatal("succeeded, want a transport error")
				}
				if _, ok := client.AsError(err); ok {
					t.Fatalf("err = %v, want a transport error, not an *Error", err)
				}
				if !strings.Contains(err.Error(), names[tc.kind]) {
					t.Errorf("error %q does not name the operation", err)
				}
			}
			if n := s.Inspect().Calls(names[tc.kind]); n != tc.wantCalls {
				t.Errorf("%s calls = %d, want %d", names[tc.kind], n, tc.wantCalls)
			}
			if tc.kind >= postCreate && tc.kind <= postAliasReuse {
				if n := len(s.Inspect().Requests()) - before; n != tc.wantNew {
					t.Errorf("requests created = %d, want %d", n, tc.wantNew)
				}
			}
			assertNoSecret(t, err)
		})
	}
}

// A POST that could not even connect is repeated: nothing reached the server.
func TestRetryPostWhenNeverSent(t *testing.T) {
	sim, err := pstest.New(pstest.DemoWorld())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()

	cfg := client.Config{BaseURL: "http://" + addr + pstest.APIBasePath, APIKey: pstest.DemoAPIKey, RunAs: pstest.DemoUserSvcVault, MaxRetries: 50}
	c := newClient(t, cfg)
	client.SetBackoffForTest(c, 20*time.Millisecond, 20*time.Millisecond)
	ctx := ctxT(t)
	if _, err := c.SignIn(ctx); err != nil {
		t.Fatal(err)
	}
	// Take the simulator off the network (its state, and our session, stay),
	// and bring it back on the same port only after the client has been
	// refused a few times.
	_ = srv.Close()
	client.HTTPClientForTest(c).CloseIdleConnections()
	srv2 := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
	t.Cleanup(func() { _ = srv2.Close() })
	go func() {
		time.Sleep(150 * time.Millisecond)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("listen again on %s: %v", addr, err)
			return
		}
		_ = srv2.Serve(l)
	}()
	start := time.Now()
	id, created, err := c.CreateRequest(ctx, client.RequestInput{SystemID: sysDB, AccountID: acctPostgres, DurationMinutes: 5})
	if err != nil {
		t.Fatalf("CreateRequest: %v", err)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Errorf("the server was down, yet the call succeeded at once")
	}
	if !created || id == 0 || len(sim.Inspect().Requests()) != 1 || sim.Inspect().Calls(epPostRequests) != 1 || sim.Inspect().Calls(epSignAppin) != 1 {
		t.Errorf("id %d created %t; %d requests; calls %v", id, created, len(sim.Inspect().Requests()), sim.Inspect().CallCounts())
	}
}

func TestContextCancel(t *testing.T) {
	s := newSim(t)
	c := newClient(t, keyConfig(s, ""))
	id := mustRequest(t, c, sysDB, acctPostgres)
	s.Inspect().ResetCalls()

	t.Run("during a slow answer", func(t *testing.T) {
		s.Faults().Inject(pstest.Fault{Endpoint: epCredentials, Latency: 3 * time.Second, Count: 1})
		defer s.Faults().Clear()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Credential(ctx, id, "")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("returned after %v", d)
		}
		if n := s.Inspect().Calls(epCredentials); n != 1 {
			t.Errorf("calls = %d, want 1 (no retry once the context is done)", n)
		}
	})
	t.Run("during backoff", func(t *testing.T) {
		s.Faults().Inject(pstest.Fault{Endpoint: epCredentials, Status: 503})
		defer s.Faults().Clear()
		client.SetBackoffForTest(c, 10*time.Second, 10*time.Second)
		defer client.SetBackoffForTest(c, time.Millisecond, 5*time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Credential(ctx, id, "")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("returned after %v", d)
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		s.Inspect().ResetCalls()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Credential(ctx, id, "")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want Canceled", err)
		}
		if n := s.Inspect().Calls(epCredentials); n != 0 {
			t.Errorf("calls = %d, want 0", n)
		}
	})
}

func TestPerAttemptTimeout(t *testing.T) {
	s := newSim(t)
	cfg := keyConfig(s, "")
	cfg.Timeout = 150 * time.Millisecond
	c := newClient(t, cfg)
	id := mustRequest(t, c, sysDB, acctPostgres)
	ctx := ctxT(t)

	// GET: the slow attempt is abandoned and repeated.
	s.Inspect().ResetCalls()
	s.Faults().Inject(pstest.Fault{Endpoint: epCredentials, Latency: 2 * time.Second, Count: 1})
	if _, err := c.Credential(ctx, id, ""); err != nil {
		t.Fatalf("Credential: %v", err)
	}
	if n := s.Inspect().Calls(epCredentials); n != 2 {
		t.Errorf("calls = %d, want 2", n)
	}

	// Always slow: a timeout error after MaxRetries.
	s.Faults().Inject(pstest.Fault{Endpoint: epAliases, Latency: 2 * time.Second})
	start := time.Now()
	_, err := c.Aliases(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("took %v for 4 attempts of 150ms", d)
	}
	s.Faults().Clear()

	// POST Requests: a timed-out attempt may have been processed; no repeat.
	s.Inspect().ResetCalls()
	s.Faults().Inject(pstest.Fault{Endpoint: epPostRequests, Latency: 2 * time.Second, Count: 1})
	_, _, err = c.CreateRequest(ctx, client.RequestInput{SystemID: sysWeb, AccountID: acctRoot, DurationMinutes: 5})
	if err == nil {
		t.Fatal("CreateRequest succeeded through a timeout")
	}
	if n := s.Inspect().Calls(epPostRequests); n != 1 {
		t.Errorf("POST Requests calls = %d, want 1", n)
	}
}

func TestLimiter(t *testing.T) {
	s := newSim(t)
	lim := client.NewLimiter(2)
	cfg := keyConfig(s, "")
	cfg.Limiter = lim
	a := newClient(t, cfg)
	b := newClient(t, cfg) // shares the limiter
	ctx := ctxT(t)
	for _, c := range []*client.Client{a, b} {
		if _, err := c.SignIn(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if tr := client.TransportForTest(a); tr == nil || tr.MaxIdleConnsPerHost != 2 {
		t.Errorf("MaxIdleConnsPerHost not tuned to the limiter")
	}

	t.Run("bounds concurrency", func(t *testing.T) {
		s.Faults().Inject(pstest.Fault{Endpoint: epAliases, Latency: 150 * time.Millisecond})
		defer s.Faults().Clear()
		start := time.Now()
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := a
				if i%2 == 1 {
					c = b
				}
				if _, err := c.Aliases(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		// 6 calls, 2 at a time, 150ms each: at least 3 rounds.
		if d := time.Since(start); d < 450*time.Millisecond {
			t.Errorf("6 calls took %v with a limit of 2; the limiter did not hold", d)
		}
	})
	t.Run("acquire honours the context", func(t *testing.T) {
		s.Faults().Inject(pstest.Fault{Endpoint: epAliases, Latency: time.Second})
		defer s.Faults().Clear()
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = a.Aliases(ctx) }()
		}
		time.Sleep(100 * time.Millisecond) // both slots taken
		s.Inspect().ResetCalls()
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := b.ManagedAccounts(short, client.ManagedAccountsQuery{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("waited %v for a slot past the context", d)
		}
		if n := s.Inspect().Calls(epManaged); n != 0 {
			t.Errorf("the call reached the server (%d) without a slot", n)
		}
		wg.Wait()
	})
}

// rawServer is a tiny HTTP/1.1 listener for transport failures the simulator
// cannot produce: it signs anyone in, and answers every other call with a
// body cut off mid-stream.
type rawServer struct {
	ln    net.Listener
	calls sync.Map // "METHOD /path" -> *atomic.Int32
	// Calls after sign-in must carry the session cookie and nothing else.
	badAuth atomic.Int32
}

func newRawServer(t *testing.T) *rawServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs := &rawServer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go rs.serve(conn)
		}
	}()
	return rs
}

func (rs *rawServer) serve(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		key := req.Method + " " + req.URL.Path
		n, _ := rs.calls.LoadOrStore(key, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		signIn := strings.HasSuffix(req.URL.Path, "/Auth/SignAppin")
		if !signIn {
			if ck, err := req.Cookie("s"); err != nil || ck.Value != "1" || req.Header.Get("Authorization") != "" {
				rs.badAuth.Add(1)
			}
		}
		if signIn {
			body := `{"UserId":1,"UserName":"svc-vault"}`
			fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nSet-Cookie: s=1; Path=/\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			continue
		}
		// Promise 100 bytes, send 10, hang up.
		fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n\"truncated")
		return
	}
}

func (rs *rawServer) count(key string) int {
	n, ok := rs.calls.Load(key)
	if !ok {
		return 0
	}
	return int(n.(*atomic.Int32).Load())
}

func TestTruncatedBody(t *testing.T) {
	rs := newRawServer(t)
	base := "http://" + rs.ln.Addr().String() + pstest.APIBasePath
	c := newClient(t, client.Config{BaseURL: base, APIKey: pstest.DemoAPIKey, RunAs: "svc-vault"})
	ctx := ctxT(t)

	_, err := c.Credential(ctx, 5, "")
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Credential: err = %v, want an unexpected EOF", err)
	}
	if strings.Contains(fmt.Sprint(err), "truncated") {
		t.Errorf("error quotes the body: %v", err)
	}
	if n := rs.count("GET " + pstest.APIBasePath + "/Credentials/5"); n != 4 {
		t.Errorf("GET attempts = %d, want 4 (retried)", n)
	}
	_, _, err = c.CreateRequest(ctx, client.RequestInput{SystemID: 1, AccountID: 11, DurationMinutes: 5})
	if err == nil {
		t.Error("CreateRequest succeeded on a truncated answer")
	}
	if n := rs.count("POST " + pstest.APIBasePath + "/Requests"); n != 1 {
		t.Errorf("POST attempts = %d, want 1 (the server may have created it)", n)
	}
	if n := rs.badAuth.Load(); n != 0 {
		t.Errorf("%d calls after sign-in lacked the session cookie or sent an Authorization header", n)
	}
	if n := rs.count("POST " + pstest.APIBasePath + "/Auth/SignAppin"); n != 1 {
		t.Errorf("SignAppin calls = %d, want 1", n)
	}
}

func TestShouldRetry(t *testing.T) {
	_, dialErr := net.DialTimeout("tcp", "127.0.0.1:1", time.Second) // refused
	if dialErr == nil {
		t.Skip("something listens on port 1")
	}
	readErr := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	for _, tc := range []struct {
		name          string
		status        int
		err           error
		idem, creates bool
	}{
		{"dial error", 0, dialErr, true, true},
		{"dns error", 0, &net.DNSError{Err: "no such host", Name: "x"}, true, true},
		{"read error", 0, readErr, true, false},
		{"EOF", 0, io.ErrUnexpectedEOF, true, false},
		{"500", 500, nil, true, false},
		{"503", 503, nil, true, false},
		{"408", 408, nil, true, false},
		{"429", 429, nil, true, false},
		{"400", 400, nil, false, false},
		{"401", 401, nil, false, false}, // handled by the re-sign-in path, not retries
		{"403", 403, nil, false, false},
		{"404", 404, nil, false, false},
		{"409", 409, nil, false, false},
		{"bad response", 0, client.ErrUnexpectedResponse, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := client.ShouldRetry(false, tc.status, tc.err); got != tc.idem {
				t.Errorf("GET/PUT: %t, want %t", got, tc.idem)
			}
			if got := client.ShouldRetry(true, tc.status, tc.err); got != tc.creates {
				t.Errorf("POST Requests: %t, want %t", got, tc.creates)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	c, err := client.New(client.Config{BaseURL: "http://127.0.0.1:1", APIKey: "k", RunAs: "u"})
	if err != nil {
		t.Fatal(err)
	}
	client.SetBackoffForTest(c, 100*time.Millisecond, 2*time.Second)
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		5: 1600 * time.Millisecond, 6: 2 * time.Second, 40: 2 * time.Second} {
		for range 50 {
			d := client.Backoff(c, n, 0)
			if d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, want/2, want)
			}
		}
	}
	if d := client.Backoff(c, 1, 3*time.Second); d != 3*time.Second {
		t.Errorf("Retry-After 3s: backoff %v", d)
	}
	if d := client.Backoff(c, 1, time.Hour); d > 10*time.Second {
		t.Errorf("Retry-After is not capped: %v", d)
	}
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "3": 3 * time.Second, "-1": 0, "junk": 0, "99999": 10 * time.Second,
		"Wed, 01 May 2024 10:00:05 GMT": 5 * time.Second, "Wed, 01 May 2024 09:00:00 GMT": 0,
	} {
		if got := client.ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}
