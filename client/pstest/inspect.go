package pstest

import (
	"sort"
	"strings"
)

// Inspector looks inside a Server without changing what the API answers:
// request states, current passwords, call counts, live sessions and the
// world's credentials. Get one with Server.Inspect. Each method takes the
// server's lock, so it sees a consistent state and is safe for concurrent
// use; before reading requests or passwords it sweeps the expiries that are
// due on the simulator's clock, as any API call would. The control API
// (GET /_pstest/requests, /calls, ...) serves the same data to scripts.
type Inspector struct{ s *Server }

// Inspect returns the Inspector of s.
func (s *Server) Inspect() Inspector { return Inspector{s} }

// Requests returns every request the server remembers (see
// Editor.SetHistory), by ID.
func (in Inspector) Requests() []RequestState {
	s := in.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.sweep(s.st.now())
	out := make([]RequestState, 0, len(s.st.reqOrder))
	for _, r := range s.st.reqOrder {
		out = append(out, r.snapshot())
	}
	return out
}

// Request returns one request.
func (in Inspector) Request(id int) (RequestState, bool) {
	s := in.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.sweep(s.st.now())
	r := s.st.reqs[id]
	if r == nil {
		return RequestState{}, false
	}
	return r.snapshot(), true
}

// ActiveRequests returns the requests whose Status is "active", by ID.
func (in Inspector) ActiveRequests() []RequestState {
	s := in.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.sweep(s.st.now())
	var out []RequestState
	for _, a := range s.st.accounts {
		for _, r := range a.open {
			if r.st.Status == StatusActive {
				out = append(out, r.snapshot())
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Password returns the current password of a managed account ("" if unknown).
func (in Inspector) Password(accountID int) string {
	s := in.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.sweep(s.st.now())
	if a := s.st.accounts[accountID]; a != nil {
		return a.password
	}
	return ""
}

// Calls returns how many calls reached one canonical endpoint (including
// failed and faulted ones).
func (in Inspector) Calls(endpoint string) int {
	s := in.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.st.calls {
		if strings.EqualFold(k, endpoint) {
			return v
		}
	}
	return 0
}

// CallCounts returns a copy of all call counts by canonical endpoint.
func (in Inspector) CallCounts() map[string]int {
	s := in.s
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.st.calls))
	for k, v := range s.st.calls {
		out[k] = v
	}
	return out
}

// ResetCalls zeroes the call counts (they only feed Calls and CallCounts).
func (in Inspector) ResetCalls() {
	s := in.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.calls = map[string]int{}
}

// Sessions returns how many sessions are live now.
func (in Inspector) Sessions() int {
	s := in.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.st.now()
	n := 0
	for _, se := range s.st.sessions {
		if now.Sub(se.lastSeen) < s.st.idle {
			n++
		}
	}
	return n
}

// ClientCertSignIns returns how many sign-ins succeeded with a valid
// client certificate from the server's ClientCA, by the certificate's
// subject common name (with any registration: one that does not require a
// certificate still counts a valid one presented).
func (in Inspector) ClientCertSignIns() map[string]int {
	s := in.s
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.st.certSignIns))
	for k, v := range s.st.certSignIns {
		out[k] = v
	}
	return out
}

// Credentials returns the world's API keys, OAuth clients and users, with
// APIURL filled for a started server.
func (in Inspector) Credentials() Credentials {
	s := in.s
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.st.world.Credentials()
	c.APIURL = s.APIURL
	return c
}
