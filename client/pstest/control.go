package pstest

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// FaultJSON is a Fault on the control API (POST /_pstest/faults).
type FaultJSON struct {
	Endpoint     string  `json:"endpoint,omitempty"`
	Status       int     `json:"status,omitempty"`
	Count        int     `json:"count,omitempty"`
	Rate         float64 `json:"rate,omitempty"`
	LatencyMS    int64   `json:"latency_ms,omitempty"`
	Drop         bool    `json:"drop,omitempty"`
	AfterHandler bool    `json:"after_handler,omitempty"`
}

// Fault converts to the Go form.
func (f FaultJSON) Fault() Fault {
	return Fault{Endpoint: f.Endpoint, Status: f.Status, Count: f.Count, Rate: f.Rate,
		Latency: time.Duration(f.LatencyMS) * time.Millisecond, Drop: f.Drop, AfterHandler: f.AfterHandler}
}

// control serves /_pstest/: introspection and control for scripts and e2e
// tests, with the same features as the Go methods (Server.Inspect,
// Server.Faults, Server.Edit and the clock). It needs no session and
// is never counted or faulted.
//
//	GET    /_pstest/requests               all requests ([]RequestState)
//	GET    /_pstest/requests/{id}          one request (404 if unknown)
//	GET    /_pstest/accounts/{id}/password {"account_id": 11, "password": "..."}
//	GET    /_pstest/calls                  {"POST Requests": 3, ...}
//	DELETE /_pstest/calls                  reset the counts
//	GET    /_pstest/clock                  {"now": "..."}
//	POST   /_pstest/clock/advance          {"seconds": N} -> {"now": "..."}
//	POST   /_pstest/faults                 FaultJSON
//	DELETE /_pstest/faults                 clear faults
//	POST   /_pstest/sessions/expire        expire every session
//	GET    /_pstest/world                  Credentials (API keys, OAuth clients, users)
func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(strings.TrimPrefix(r.URL.Path, "/_pstest"), "/")
	segs := strings.Split(strings.ToLower(path), "/")
	send := func(status int, v any) {
		var rep reply
		if v == nil {
			rep = reply{status: status}
		} else {
			rep = jsonReply(status, v)
		}
		rep.write(w)
	}
	method := r.Method
	notFound := func() { send(http.StatusNotFound, "pstest: no such control endpoint") }
	methodNotAllowed := func() { send(http.StatusMethodNotAllowed, "pstest: method not allowed") }

	switch {
	case len(segs) == 1 && segs[0] == "requests":
		if method != http.MethodGet {
			methodNotAllowed()
			return
		}
		send(http.StatusOK, s.Inspect().Requests())
	case len(segs) == 2 && segs[0] == "requests":
		if method != http.MethodGet {
			methodNotAllowed()
			return
		}
		id, err := strconv.Atoi(segs[1])
		if err != nil {
			notFound()
			return
		}
		rs, ok := s.Inspect().Request(id)
		if !ok {
			send(http.StatusNotFound, "pstest: no such request")
			return
		}
		send(http.StatusOK, rs)
	case len(segs) == 3 && segs[0] == "accounts" && segs[2] == "password":
		if method != http.MethodGet {
			methodNotAllowed()
			return
		}
		id, err := strconv.Atoi(segs[1])
		if err != nil {
			notFound()
			return
		}
		pw, ok := s.accountPassword(id)
		if !ok {
			send(http.StatusNotFound, "pstest: no such account")
			return
		}
		send(http.StatusOK, map[string]any{"account_id": id, "password": pw})
	case len(segs) == 1 && segs[0] == "calls":
		switch method {
		case http.MethodGet:
			send(http.StatusOK, s.Inspect().CallCounts())
		case http.MethodDelete:
			s.Inspect().ResetCalls()
			send(http.StatusNoContent, nil)
		default:
			methodNotAllowed()
		}
	case len(segs) == 1 && segs[0] == "clock":
		if method != http.MethodGet {
			methodNotAllowed()
			return
		}
		send(http.StatusOK, map[string]string{"now": s.Now().Format(time.RFC3339Nano)})
	case len(segs) == 2 && segs[0] == "clock" && segs[1] == "advance":
		if method != http.MethodPost {
			methodNotAllowed()
			return
		}
		var in struct {
			Seconds float64 `json:"seconds"`
		}
		if err := decodeControl(r, &in); err != nil || in.Seconds < 0 {
			send(http.StatusBadRequest, `pstest: want {"seconds": N} with N >= 0`)
			return
		}
		s.Advance(time.Duration(in.Seconds * float64(time.Second)))
		send(http.StatusOK, map[string]string{"now": s.Now().Format(time.RFC3339Nano)})
	case len(segs) == 1 && segs[0] == "faults":
		switch method {
		case http.MethodPost:
			var in FaultJSON
			if err := decodeControl(r, &in); err != nil {
				send(http.StatusBadRequest, "pstest: want a fault object: "+err.Error())
				return
			}
			if in.Rate < 0 || in.Rate > 1 || in.Count < 0 || in.LatencyMS < 0 {
				send(http.StatusBadRequest, "pstest: rate must be 0..1, count and latency_ms >= 0")
				return
			}
			s.Faults().Inject(in.Fault())
			send(http.StatusNoContent, nil)
		case http.MethodDelete:
			s.Faults().Clear()
			send(http.StatusNoContent, nil)
		default:
			methodNotAllowed()
		}
	case len(segs) == 2 && segs[0] == "sessions" && segs[1] == "expire":
		if method != http.MethodPost {
			methodNotAllowed()
			return
		}
		s.Edit().ExpireSessions()
		send(http.StatusNoContent, nil)
	case len(segs) == 1 && segs[0] == "world":
		if method != http.MethodGet {
			methodNotAllowed()
			return
		}
		c := s.Inspect().Credentials()
		if c.APIURL == "" {
			scheme := "http"
			if r.TLS != nil {
				scheme = "https"
			}
			c.APIURL = scheme + "://" + r.Host + APIBasePath
		}
		send(http.StatusOK, c)
	default:
		notFound()
	}
}

func decodeControl(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// accountPassword is the current password of account id.
func (s *Server) accountPassword(id int) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.st.accounts[id]
	if a == nil {
		return "", false
	}
	s.st.sweep(s.st.now())
	return a.password, true
}
