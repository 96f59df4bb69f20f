package pstest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestFaultStatusCount(t *testing.T) {
	s := newDemo(t)
	u := signIn(t, s, "alice")
	s.Faults().Inject(Fault{Endpoint: EndpointCreateRequest, Status: 503, Count: 2})
	for i := 0; i < 2; i++ {
		st, body := u.do(http.MethodPost, "Requests", map[string]any{"SystemID": 1, "AccountID": 11, "DurationMinutes": 5})
		wantStatus(t, "faulted", st, body, 503, "injected fault")
	}
	if n := len(s.Inspect().Requests()); n != 0 {
		t.Fatalf("a faulted call created %d requests", n)
	}
	u.mustCreate(1, 11, 5) // the fault is used up
	if n := s.Inspect().Calls(EndpointCreateRequest); n != 3 {
		t.Errorf("Calls = %d, want 3 (faulted calls count)", n)
	}
	// Other endpoints were never affected.
	if st, _ := u.do(http.MethodGet, "Requests", nil); st != 200 {
		t.Errorf("GET Requests: %d", st)
	}
}

func TestFaultRateAndAllEndpoints(t *testing.T) {
	s := newDemo(t)
	u := signIn(t, s, "alice")
	s.Faults().Inject(Fault{Status: 500, Rate: 1})
	for _, p := range []string{"Requests", "ManagedAccounts", "Aliases"} {
		st, body := u.do(http.MethodGet, p, nil)
		wantStatus(t, p, st, body, 500, "")
	}
	st, body := newUser(t, s, "alice").signAppin("PS-Auth key=" + DemoAPIKey + "; runas=alice;")
	wantStatus(t, "SignAppin under Rate 1", st, body, 500, "")
	s.Faults().Clear()
	if st, _ := u.do(http.MethodGet, "Requests", nil); st != 200 {
		t.Fatalf("after Faults().Clear: %d", st)
	}

	// Rate 0.5 with Count 3: fires three times, somewhere in the calls.
	s.Faults().Inject(Fault{Endpoint: EndpointListRequests, Status: 502, Rate: 0.5, Count: 3})
	fired := 0
	for i := 0; i < 400 && fired < 4; i++ {
		if st, _ := u.do(http.MethodGet, "Requests", nil); st == 502 {
			fired++
		}
	}
	if fired != 3 {
		t.Errorf("Rate 0.5, Count 3 fired %d times", fired)
	}
	// The /_pstest/ API is never faulted.
	s.Faults().Inject(Fault{Status: 500})
	resp, err := s.Client().Get(s.URL + "/_pstest/calls")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/_pstest/calls under a fault: %d", resp.StatusCode)
	}
}

func TestFaultLatency(t *testing.T) {
	s := newDemo(t)
	u := signIn(t, s, "alice")
	s.Faults().Inject(Fault{Endpoint: EndpointListRequests, Latency: 150 * time.Millisecond, Count: 1})
	start := time.Now()
	st, body := u.do(http.MethodGet, "Requests", nil)
	wantStatus(t, "slow call", st, body, 200, "")
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("latency fault took %v", d)
	}

	// The sleep honours the request's context: a client that gives up is not
	// kept waiting, and the handler does not run.
	s.Faults().Inject(Fault{Endpoint: EndpointCreateRequest, Latency: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.APIURL+"/Requests", strings.NewReader(`{"SystemID":1,"AccountID":11,"DurationMinutes":5}`))
	req.Header.Set("Content-Type", "application/json")
	start = time.Now()
	_, err := u.hc.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancelled call took %v", d)
	}
	s.Faults().Clear()
	time.Sleep(50 * time.Millisecond) // let the server notice the cancel
	if n := len(s.Inspect().Requests()); n != 0 {
		t.Fatalf("a cancelled slow call created %d requests", n)
	}
}

func TestFaultDrop(t *testing.T) {
	for _, tls := range []bool{false, true} {
		name := map[bool]string{false: "http", true: "https"}[tls]
		t.Run(name, func(t *testing.T) {
			var s *Server
			if tls {
				s = NewTLSServer(DemoWorld())
			} else {
				s = NewServer(DemoWorld())
			}
			defer s.Close()
			u := signIn(t, s, "alice")
			s.Faults().Inject(Fault{Endpoint: EndpointCreateRequest, Drop: true, Count: 1})
			req, _ := http.NewRequest(http.MethodPost, s.APIURL+"/Requests", strings.NewReader(`{"SystemID":1,"AccountID":11,"DurationMinutes":5}`))
			req.Header.Set("Content-Type", "application/json")
			// POST is not retried by net/http on a dropped connection.
			if resp, err := u.hc.Do(req); err == nil {
				resp.Body.Close()
				t.Fatalf("dropped call answered %d", resp.StatusCode)
			}
			if n := len(s.Inspect().Requests()); n != 0 {
				t.Fatalf("a dropped call (before the handler) created %d requests", n)
			}
			u.mustCreate(1, 11, 5)
		})
	}
}

func TestFaultAfterHandler(t *testing.T) {
	s := newDemo(t)
	u := signIn(t, s, "alice")

	// The request is created but the answer is lost.
	s.Faults().Inject(Fault{Endpoint: EndpointCreateRequest, Drop: true, AfterHandler: true, Count: 1})
	req, _ := http.NewRequest(http.MethodPost, s.APIURL+"/Requests", strings.NewReader(`{"SystemID":1,"AccountID":11,"DurationMinutes":5}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := u.hc.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("dropped call answered %d", resp.StatusCode)
	}
	act := s.Inspect().ActiveRequests()
	if len(act) != 1 || act[0].UserName != "alice" {
		t.Fatalf("after a lost answer: %+v", act)
	}
	// Retrying now conflicts, as with the real server.
	st, _, body := u.create(map[string]any{"SystemID": 1, "AccountID": 11, "DurationMinutes": 5})
	wantStatus(t, "retry after the lost answer", st, body, 409, "4091")

	// The check-in happens but the answer is replaced by a 502.
	s.Faults().Inject(Fault{Endpoint: EndpointCheckin, Status: 502, AfterHandler: true, Count: 1})
	st, body = u.put("Requests/"+itoa(act[0].ID)+"/Checkin", nil)
	wantStatus(t, "checkin with a replaced answer", st, body, 502, "")
	if rs := mustState(t, s, act[0].ID); rs.Status != StatusCheckedIn {
		t.Fatalf("after a 502 that happened after the handler: %+v", rs)
	}
	st, body = u.put("Requests/"+itoa(act[0].ID)+"/Checkin", nil)
	wantStatus(t, "retried checkin", st, body, 404, "")
}

// A panic while serving a call (in a FaultFunc, or in a handler) answers
// 500 with {"Message": ...} and leaves the server serving: the server's
// lock, held where the panic happened, is released. Without that the next
// call, and every Faults or Edit method, would wait for the lock forever.
func TestPanicAnswers500AndServerGoesOn(t *testing.T) {
	s := newDemo(t)
	u := signIn(t, s, "alice")
	u.hc.Timeout = 10 * time.Second // a server that hangs fails the test, not the run
	wantPanic500 := func(what string, status int, body string, sub string) {
		t.Helper()
		var msg struct{ Message string }
		if status != http.StatusInternalServerError || json.Unmarshal([]byte(body), &msg) != nil ||
			!strings.Contains(msg.Message, sub) {
			t.Fatalf("%s: %d %s, want 500 with a Message naming %q", what, status, body, sub)
		}
	}
	withTimeout := func(what string, f func()) {
		t.Helper()
		done := make(chan struct{})
		go func() { defer close(done); f() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: still waiting after 10s (the server's lock was not released)", what)
		}
	}

	// A test's FaultFunc that panics.
	s.Faults().SetFunc(func(endpoint string, _ *http.Request) *Fault {
		if endpoint == EndpointCreateRequest {
			panic("fault func boom")
		}
		return nil
	})
	st, body := u.do(http.MethodPost, "Requests", map[string]any{"SystemID": 1, "AccountID": 11, "DurationMinutes": 5})
	wantPanic500("POST Requests with a panicking FaultFunc", st, body, "fault func boom")
	st, body = u.do(http.MethodGet, "Requests", nil)
	wantStatus(t, "GET Requests after the panic", st, body, http.StatusOK, "")
	withTimeout("Faults().SetFunc(nil)", func() { s.Faults().SetFunc(nil) })

	// A handler that panics, the answer lost after it as well (AfterHandler):
	// both go through the handler's lock.
	saved := routeSecretsSafeFolders.h
	t.Cleanup(func() { routeSecretsSafeFolders.h = saved })
	routeSecretsSafeFolders.h = func(*state, *call) reply { panic("handler boom") }
	st, body = u.do(http.MethodGet, "Secrets-Safe/Folders", nil)
	wantPanic500("GET Secrets-Safe/Folders with a panicking handler", st, body, "handler boom")
	s.Faults().Inject(Fault{Endpoint: EndpointSecretsSafeFolders, Status: 503, AfterHandler: true, Count: 1})
	st, body = u.do(http.MethodGet, "Secrets-Safe/Folders", nil)
	wantPanic500("GET Secrets-Safe/Folders, AfterHandler fault", st, body, "handler boom")
	routeSecretsSafeFolders.h = saved

	st, body = u.do(http.MethodGet, "Secrets-Safe/Folders", nil)
	wantStatus(t, "GET Secrets-Safe/Folders after the panics", st, body, http.StatusOK, "")
	withTimeout("Edit and Inspect", func() {
		s.Edit().SetErrorBodies(ErrorBodiesText)
		_ = s.Inspect().Requests()
	})
	if n := s.Inspect().Calls(EndpointSecretsSafeFolders); n != 3 {
		t.Errorf("%d calls of GET Secrets-Safe/Folders counted, want 3", n)
	}
}
