//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/internal/load"
)

// The outage tests: Password Safe unreachable while Vault revokes leases.
// The engine queues each check-in Password Safe does not take (the revoke
// succeeds for Vault, so no lease is ever marked irrevocable) and its
// periodic function, on Vault's rollback tick, checks them in once Password
// Safe answers again.

// checkinAttemptsPerTry is how many check-in calls one failed try makes:
// the first attempt and the client's retries (the engine's default config).
const checkinAttemptsPerTry = 1 + client.DefaultMaxRetries

// outageRecorder is a fault function that makes every Password Safe call
// fail (the connection is dropped, as by a dead server or proxy) and records
// each call: endpoint, time and, for check-ins, the request ID.
type outageRecorder struct {
	mu       sync.Mutex
	calls    map[string][]time.Time // endpoint -> when
	checkins map[int][]time.Time    // request ID -> check-in attempts
}

var checkinPath = regexp.MustCompile(`(?i)/requests/(?:release/)?(\d+)(?:/checkin)?/?$`)

func newOutageRecorder() *outageRecorder {
	return &outageRecorder{calls: map[string][]time.Time{}, checkins: map[int][]time.Time{}}
}

func (o *outageRecorder) fault(endpoint string, r *http.Request) *pstest.Fault {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls[endpoint] = append(o.calls[endpoint], now)
	if endpoint == pstest.EndpointCheckin {
		if m := checkinPath.FindStringSubmatch(r.URL.Path); m != nil {
			id, _ := strconv.Atoi(m[1])
			o.checkins[id] = append(o.checkins[id], now)
		}
	}
	return &pstest.Fault{Drop: true}
}

// callsAfter is how many calls came after t.
func (o *outageRecorder) callsAfter(t time.Time) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, ts := range o.calls {
		for _, c := range ts {
			if c.After(t) {
				n++
			}
		}
	}
	return n
}

// crashPlugin SIGKILLs the plugin processes of v and waits until Vault
// runs a new one (it starts one on the next request).
func crashPlugin(t *testing.T, v *vault) {
	t.Helper()
	old := map[int]bool{}
	for _, pid := range v.pluginPIDs() {
		old[pid] = true
	}
	killPlugin(t, v)
	eventually(t, time.Minute, "a new plugin process", func() (bool, string) {
		_, err := v.cli("read", mount+"/config")
		now := v.pluginPIDs()
		for _, pid := range now {
			if old[pid] {
				return false, fmt.Sprintf("plugin PIDs %v, some of them killed", now)
			}
		}
		return err == nil && len(now) > 0, fmt.Sprintf("plugin PIDs %v, read config: %v", now, err)
	})
}

// outageCalls sorts the calls made during the outage: the check-in
// attempts of each revoke (the first try and the client's retries, all
// within a few seconds) and the rest, which the periodic function made.
type outageCalls struct {
	byEndpoint  map[string]int
	revokeTries int         // check-in attempts made by revokes
	queueTries  []time.Time // check-in attempts made by the queue, sorted
	other       int         // every other call (sign-ins, ...)
	periodic    []time.Time // the queue's check-ins and every other call, sorted
	requests    int         // requests with at least one attempt
}

// revokeBurst: a revoke's attempts all fall within this of its first one
// (the client's backoff is 100ms doubling, capped at 2s); the queue's first
// retry comes 15s after the revoke at the earliest.
const revokeBurst = 10 * time.Second

func (o *outageRecorder) summary() outageCalls {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := outageCalls{byEndpoint: map[string]int{}}
	for ep, ts := range o.calls {
		s.byEndpoint[ep] = len(ts)
		if ep != pstest.EndpointCheckin {
			s.other += len(ts)
			s.periodic = append(s.periodic, ts...)
		}
	}
	for _, ts := range o.checkins {
		s.requests++
		first := ts[0]
		for _, t := range ts {
			if t.Sub(first) <= revokeBurst {
				s.revokeTries++
			} else {
				s.queueTries = append(s.queueTries, t)
			}
		}
	}
	sort.Slice(s.queueTries, func(i, j int) bool { return s.queueTries[i].Before(s.queueTries[j]) })
	s.periodic = append(s.periodic, s.queueTries...)
	sort.Slice(s.periodic, func(i, j int) bool { return s.periodic[i].Before(s.periodic[j]) })
	return s
}

// perMinute is how many of ts fall in each minute from start.
func perMinute(ts []time.Time, start, end time.Time) []int {
	n := int(end.Sub(start)/time.Minute) + 1
	out := make([]int, n)
	for _, t := range ts {
		if i := int(t.Sub(start) / time.Minute); i >= 0 && i < n {
			out[i]++
		}
	}
	return out
}

// irrevocableLeases is what Vault reports as irrevocable (leases whose
// revocation failed more often than Vault retries): sys/leases/count and
// sys/leases with type=irrevocable.
func (h *vaultHTTP) irrevocableLeases() (int, error) {
	var c vaultAnswer
	if err := h.call(http.MethodGet, "sys/leases/count?type=irrevocable", nil, &c); err != nil {
		return 0, err
	}
	n, ok := c.Data["lease_count"].(float64)
	if !ok {
		return 0, fmt.Errorf("sys/leases/count: no lease_count in %v", c.Data)
	}
	var l vaultAnswer
	if err := h.call(http.MethodGet, "sys/leases?type=irrevocable&limit=none", nil, &l); err != nil {
		return 0, err
	}
	if m, ok := l.Data["lease_count"].(float64); !ok || m != n {
		return 0, fmt.Errorf("sys/leases?type=irrevocable says %v leases, sys/leases/count %v", l.Data["lease_count"], n)
	}
	return int(n), nil
}

// list is a LIST of path: its keys, none for a 404.
func (h *vaultHTTP) list(path string) ([]string, error) {
	var a vaultAnswer
	if err := h.call("LIST", path, nil, &a); err != nil {
		if strings.Contains(err.Error(), "HTTP 404") {
			return nil, nil
		}
		return nil, err
	}
	raw, _ := a.Data["keys"].([]any)
	keys := make([]string, 0, len(raw))
	for _, k := range raw {
		s, _ := k.(string)
		keys = append(keys, s)
	}
	return keys, nil
}

// leasesUnder lists every lease Vault holds under prefix
// (sys/leases/lookup, recursively, over HTTP).
func (h *vaultHTTP) leasesUnder(prefix string) ([]string, error) {
	keys, err := h.list("sys/leases/lookup/" + prefix)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range keys {
		if strings.HasSuffix(s, "/") {
			sub, err := h.leasesUnder(prefix + s)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		}
		out = append(out, prefix+s)
	}
	return out, nil
}

// outageLease is one lease of the outage test and the request it holds.
type outageLease struct {
	leaseID string
	request int
	expires bool // left to expire (else revoked by the test)
}

// TestOutageCheckinQueue: 1,000 leases on 1,000 accounts; Password Safe
// becomes unreachable (every call's connection dropped); half the leases
// are revoked through the API and the other half expire. Every revoke
// succeeds and Vault keeps no lease, irrevocable or not, while every
// request stays active upstream; the engine's periodic retries do not
// hammer the dead server, before or after its plugin process is killed
// (the queue is in storage; the new process has no session). Once
// Password Safe is back, the queue checks every request in (not expired:
// they last 30 minutes) within 5 minutes.
func TestOutageCheckinQueue(t *testing.T) {
	t.Parallel()
	const (
		n    = 1000
		conc = 16
		// The leases left to expire do so at the same moment, this long
		// after the first checkout: time for every checkout first, on a
		// loaded machine too.
		expireAfter = 90 * time.Second
		// Every request lasts this long: a request seen "checkedin" was
		// checked in, by Vault's revoke or the queue, never expired.
		requestLife = 30 * time.Minute
		drainBound  = 5 * time.Minute
	)
	testStart := time.Now()
	e := newEnvWorld(t, benchWorld(n))
	v := e.devVault()
	h := newVaultHTTP(v, 2*conc)

	// One role per account: ttl = max_ttl = 30m, so each request's
	// DurationMinutes is 30.
	if errs := load.Run(n, 8, func(_, i int) error {
		sys, acct := benchAccount(i)
		return h.call(http.MethodPost, fmt.Sprintf("%s/roles/out-%04d", mount, i), map[string]any{
			"system_id": sys, "account_id": acct, "ttl": requestLife.String(), "max_ttl": requestLife.String(),
		}, nil)
	}).Errors; len(errs) > 0 {
		t.Fatalf("writing roles: %s", load.FirstErrors(errs, 3))
	}
	t.Logf("%d roles written (%s since the start)", n, time.Since(testStart).Round(time.Second))

	// Checkouts: even leases will be revoked, odd ones expire at expireAt
	// (a per-call ttl, so the request still lasts the role's max_ttl).
	leases := make([]outageLease, n)
	checkoutStart := time.Now()
	expireAt := checkoutStart.Add(expireAfter)
	if errs := load.Run(n, conc, func(_, i int) error {
		role := fmt.Sprintf("%s/creds/out-%04d", mount, i)
		var a vaultAnswer
		var err error
		if i%2 == 1 {
			ttl := int(time.Until(expireAt)/time.Second) + 1
			err = h.call(http.MethodPost, role, map[string]any{"ttl": fmt.Sprintf("%ds", ttl)}, &a)
		} else {
			err = h.call(http.MethodGet, role, nil, &a)
		}
		if err != nil {
			return err
		}
		e.noteSecrets(a.Data, "credential of "+role)
		id := requestIDOf(a.Data)
		if a.LeaseID == "" || id == 0 {
			return fmt.Errorf("%s: lease %q, request %d", role, a.LeaseID, id)
		}
		e.mu.Lock()
		e.leaseReq[a.LeaseID] = id
		e.mu.Unlock()
		leases[i] = outageLease{leaseID: a.LeaseID, request: id, expires: i%2 == 1}
		return nil
	}).Errors; len(errs) > 0 {
		t.Fatalf("%d of %d checkouts failed: %s", len(errs), n, load.FirstErrors(errs, 3))
	}
	checkoutTime := time.Since(checkoutStart)
	seen := map[int]bool{}
	for _, l := range leases {
		r, ok := e.sim.Inspect().Request(l.request)
		if !ok || r.Status != pstest.StatusActive || r.DurationMinutes != int(requestLife/time.Minute) {
			t.Fatalf("request %d of lease %s: %+v, want active for %d minutes", l.request, l.leaseID, r, int(requestLife/time.Minute))
		}
		if seen[l.request] {
			t.Fatalf("request %d backs two leases", l.request)
		}
		seen[l.request] = true
	}
	t.Logf("%d checkouts in %s", n, checkoutTime.Round(time.Millisecond))

	// Password Safe goes down: every call's connection is dropped.
	rec := newOutageRecorder()
	e.sim.Faults().SetFunc(rec.fault)
	downAt := time.Now()
	if left := expireAt.Sub(downAt); left < 15*time.Second {
		t.Fatalf("the checkouts took %s: the leases meant to expire during the outage expire %s after it began (want at least 15s); the machine is too slow for this test", checkoutTime, left)
	}

	// Half the leases are revoked: every revoke succeeds (sys/leases/revoke
	// is synchronous: Vault answers once the engine did).
	revokeStart := time.Now()
	var revoked []outageLease
	for _, l := range leases {
		if !l.expires {
			revoked = append(revoked, l)
		}
	}
	if errs := load.Run(len(revoked), conc, func(_, i int) error {
		return h.revoke(revoked[i].leaseID)
	}).Errors; len(errs) > 0 {
		t.Fatalf("%d of %d revokes failed while Password Safe was down: %s", len(errs), len(revoked), load.FirstErrors(errs, 3))
	}
	revokeTime := time.Since(revokeStart)
	t.Logf("%d revokes with Password Safe down, all successful, in %s", len(revoked), revokeTime.Round(time.Millisecond))

	// The other half expire; Vault revokes them. Until every lease is gone,
	// none may ever be irrevocable.
	eventually(t, time.Until(expireAt)+3*time.Minute, "Vault to revoke every expired lease", func() (bool, string) {
		irr, err := h.irrevocableLeases()
		if err != nil {
			t.Fatalf("irrevocable leases: %v", err)
		}
		if irr != 0 {
			t.Fatalf("%d irrevocable leases while Password Safe is down", irr)
		}
		// One lease per role: the roles listed are the leases left.
		roles, err := h.list("sys/leases/lookup/" + mount + "/creds/")
		if err != nil {
			t.Fatalf("listing leases: %v", err)
		}
		return len(roles) == 0, fmt.Sprintf("leases left in Vault under %d roles", len(roles))
	})
	goneAt := time.Now()
	if left, err := h.leasesUnder(mount + "/"); err != nil || len(left) != 0 {
		t.Fatalf("leases left under %s/: %d %v (%v)", mount, len(left), truncate(fmt.Sprint(left), 300), err)
	}
	if goneAt.Before(expireAt) {
		t.Fatalf("every lease gone at %s, before the leases meant to expire did", goneAt)
	}
	t.Logf("every lease revoked by Vault %s after the expiry", goneAt.Sub(expireAt).Round(time.Millisecond))
	if irr, err := h.irrevocableLeases(); err != nil || irr != 0 {
		t.Fatalf("irrevocable leases: %d (%v)", irr, err)
	}
	if b, err := os.ReadFile(v.logPath); err != nil {
		t.Fatal(err)
	} else if i := strings.Index(string(b), "failed to revoke lease"); i >= 0 {
		t.Fatalf("Vault logged a failed revocation: %s", truncate(string(b[i:]), 400))
	}
	// Password Safe has heard of none of it: every request is still active.
	for _, l := range leases {
		if r, _ := e.sim.Inspect().Request(l.request); r.Status != pstest.StatusActive {
			t.Fatalf("request %d is %s while Password Safe is down", l.request, r.Status)
		}
	}
	// Every lease's revoke tried Password Safe once (with the client's
	// retries).
	s := rec.summary()
	if s.requests != n {
		t.Errorf("check-in tried for %d requests during the outage, want %d", s.requests, n)
	}

	// The periodic queue has tried already: a rollback tick came while the
	// leases meant to expire were live, with the revoked half queued (the
	// bound on its calls below shows the pass stopped at the first failure).
	eventually(t, 2*time.Minute, "a periodic retry", func() (bool, string) {
		n := len(rec.summary().queueTries)
		return n > 0, fmt.Sprintf("%d queue retries so far", n)
	})
	time.Sleep(3 * time.Second) // that pass's client retries

	// The plugin process dies (a crash, an upgrade) with all n check-ins
	// queued: they are in the mount's storage. The new process has no
	// Password Safe session: its first tick's pass must stop at the first
	// failure too, here a sign-in that fails.
	crashPlugin(t, v)
	restartedAt := time.Now()
	eventually(t, 2*time.Minute, "the new plugin process's first periodic retry", func() (bool, string) {
		n := rec.callsAfter(restartedAt)
		return n > 0, fmt.Sprintf("%d calls since the restart", n)
	})
	time.Sleep(10 * time.Second) // that pass's retries, and any further try it makes
	restartCalls := rec.callsAfter(restartedAt)
	e.sim.Faults().Clear()
	upAt := time.Now()
	s = rec.summary()
	outage := upAt.Sub(downAt)

	// While down: the revokes' tries, then about one try per rollback tick.
	minutes := int(outage/time.Minute) + 1
	if s.revokeTries > n*checkinAttemptsPerTry {
		t.Errorf("%d check-in attempts by %d revokes, want at most %d each", s.revokeTries, n, checkinAttemptsPerTry)
	}
	// Every other call is the periodic queue's: check-ins, or sign-ins when
	// the engine has no session (the new plugin process).
	if bound := checkinAttemptsPerTry * (minutes + 1); len(s.periodic) > bound {
		t.Errorf("the queue made %d calls (%v) in a %s outage with %d check-ins queued, want at most %d (one try per rollback tick): it hammers a dead Password Safe",
			len(s.periodic), s.byEndpoint, outage.Round(time.Second), n, bound)
	}
	if restartCalls > checkinAttemptsPerTry {
		t.Errorf("the new plugin process's first pass made %d calls in 10s with %d check-ins queued, want at most %d (one try): it tries every queued check-in although Password Safe is down",
			restartCalls, n, checkinAttemptsPerTry)
	}
	t.Logf("outage %s: %d check-in attempts by the %d revokes; %d calls by the periodic queue (per minute: %v; %d by the first pass of the restarted plugin); calls by endpoint %v",
		outage.Round(time.Second), s.revokeTries, n, len(s.periodic), perMinute(s.periodic, downAt, upAt), restartCalls, s.byEndpoint)

	// Password Safe is back: the queue checks every request in.
	eventually(t, drainBound, "the queue to check every request in", func() (bool, string) {
		active := 0
		for _, l := range leases {
			if r, _ := e.sim.Inspect().Request(l.request); r.Status == pstest.StatusActive {
				active++
			}
		}
		return active == 0, fmt.Sprintf("%d of %d requests still active", active, n)
	})
	var ended []time.Time
	for _, l := range leases {
		r, _ := e.sim.Inspect().Request(l.request)
		if r.Status != pstest.StatusCheckedIn || r.EndedAt == nil {
			t.Fatalf("request %d is %s, want checkedin", l.request, r.Status)
		}
		if r.EndedAt.Before(upAt) {
			t.Fatalf("request %d was checked in at %s, while Password Safe was down", l.request, r.EndedAt)
		}
		// The queue keeps the revoke's reason: it names the lease's role path.
		if rolePath := l.leaseID[:strings.LastIndexByte(l.leaseID, '/')]; !strings.Contains(r.CheckinReason, rolePath) {
			t.Errorf("request %d checked in with reason %q, want the revoke's, naming %s", l.request, r.CheckinReason, rolePath)
		}
		ended = append(ended, *r.EndedAt)
	}
	sort.Slice(ended, func(i, j int) bool { return ended[i].Before(ended[j]) })
	drain := ended[len(ended)-1].Sub(upAt)
	if drain > drainBound {
		t.Errorf("the last queued check-in took %s after Password Safe came back, want at most %s", drain, drainBound)
	}
	// The check-ins by rollback pass: a gap of more than 20s starts the next.
	passes := []int{1}
	passStart, passTook := ended[0], time.Duration(0)
	for i := 1; i < len(ended); i++ {
		if ended[i].Sub(ended[i-1]) > 20*time.Second {
			passes = append(passes, 0)
		}
		passes[len(passes)-1]++
		if len(passes) == 1 {
			passTook = ended[i].Sub(passStart)
		}
	}
	t.Logf("Password Safe back: every request checked in %s later; by rollback pass %v, the first %s after it came back and %s long",
		drain.Round(time.Millisecond), passes, passStart.Sub(upAt).Round(time.Millisecond), passTook.Round(time.Millisecond))
	t.Logf("OUTAGE leases=%d revoked=%d expired=%d outage=%s revoke_s=%.1f drain_s=%.1f first_pass_s=%.1f passes=%v checkins_by_revokes=%d calls_by_queue=%d after_restart=%d test_s=%.0f",
		n, len(revoked), n-len(revoked), outage.Round(time.Second), revokeTime.Seconds(), drain.Seconds(), passTook.Seconds(), passes,
		s.revokeTries, len(s.periodic), restartCalls, time.Since(testStart).Seconds())
}
