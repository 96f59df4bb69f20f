//go:build e2e

package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/internal/load"
)

// BenchmarkAgentFleet: a fleet of clients behaving like Vault Agents that
// render one template from a conflict_option=reuse role, through a real
// Vault over HTTP. Each client has a token of its own (as each Agent has its
// own auth), reads the role, renews at two thirds of the lease's TTL, and
// when renewals stop extending the lease (it reached its max TTL, or the
// shared request's end) reads again before the lease ends, as Agent does
// for a secret it can no longer renew. At the end the clients stop and
// their tokens are revoked, as when the Agents go away.
//
// It prints one FLEET line (scripts/bench.sh reads it) with what the fleet
// cost Password Safe: upstream calls per client read and per renew,
// sign-ins, the requests the fleet made; how the hand-over went: how many
// clients moved to a new request with a new password, how long after the
// old request ended upstream (its password rotated) each had the new one
// (cred_gap), how long after its last lease's promised end (gap: Vault TTLs
// are whole seconds, so a lease ends up to a second before its request),
// whether any was handed a password that was not the account's current one
// (stale); the CPU Vault and the plugin spent per read or renew; and the
// requests still active once the fleet has gone.
//
// The shared request lives max_ttl rounded up to whole minutes (Password
// Safe's unit), so with ttl=20s max_ttl=40s a hand-over comes about a
// minute into the run:
//
//	FLEET_CLIENTS=1000 FLEET_SECONDS=100 go test -tags e2e -run '^$' -bench AgentFleet -benchtime 1x -timeout 20m ./e2e/
//
// It is a benchmark so that `make e2e` does not spend two minutes on it;
// it counts and reports, and fails only on errors that make the figures
// meaningless (setup, or requests left active at the end).
func BenchmarkAgentFleet(b *testing.B) {
	n := load.Size("FLEET_CLIENTS", 1000)
	runFor := time.Duration(load.Size("FLEET_SECONDS", 100)) * time.Second
	ttl := time.Duration(load.Size("FLEET_TTL", 20)) * time.Second
	maxTTL := time.Duration(load.Size("FLEET_MAX_TTL", 40)) * time.Second
	// Agents do not all start in the same second; the ramp spreads the
	// first reads (the hand-over then lines them all up anyway: every lease
	// on the shared request ends with it).
	ramp := time.Duration(load.Size("FLEET_RAMP_SECONDS", 10)) * time.Second
	const conns = 32 // keep-alive connections shared by the fleet, as behind a proxy
	// FLEET_LATENCY_MS gives every Password Safe call a delay, as a real
	// server has (tens of milliseconds); 0, the default, is the in-memory
	// simulator's own speed.
	latency := time.Duration(load.Size("FLEET_LATENCY_MS", 0)) * time.Millisecond

	w := pstest.DemoWorld()
	const accountID = 11 // db-prod-01/postgres in the demo world
	sim := pstest.NewServer(w)
	sim.UseRealClock()
	b.Cleanup(sim.Close)
	v := startBenchVault(b, "bench-fleet")
	v.registerPlugin()
	v.enable(mount)
	v.must("write", mount+"/config", "url="+sim.APIURL, "api_key="+pstest.DemoAPIKey, "run_as="+pstest.DemoUserSvcVault,
		"max_concurrent_requests=64", "allow_plain_http=true")
	v.must("write", mount+"/roles/fleet", "system_name=db-prod-01", "account_name=postgres", "conflict_option=reuse",
		fmt.Sprintf("ttl=%ds", int(ttl.Seconds())), fmt.Sprintf("max_ttl=%ds", int(maxTTL.Seconds())))

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost, tr.MaxIdleConns = conns, conns, conns
	b.Cleanup(tr.CloseIdleConnections)
	fc := &fleetHTTP{addr: v.addr, hc: &http.Client{Transport: tr, Timeout: time.Minute}}
	root := v.rootToken()
	if err := fc.call(root, http.MethodPut, "sys/policies/acl/fleet", map[string]any{"policy": `
path "` + mount + `/creds/fleet" { capabilities = ["read"] }
path "sys/leases/renew" { capabilities = ["update"] }
`}, nil); err != nil {
		b.Fatal(err)
	}
	tokens := make([]string, n)
	if err := load.RunUntilError(n, conns, func(_, i int) error {
		var a fleetAnswer
		if err := fc.call(root, http.MethodPost, "auth/token/create", map[string]any{
			"policies": []string{"fleet"}, "ttl": "2h", "display_name": fmt.Sprintf("agent-%04d", i),
		}, &a); err != nil {
			return err
		}
		tokens[i] = a.Auth.ClientToken
		return nil
	}).Err(); err != nil {
		b.Fatal(err)
	}
	// Setup signed in already (the role write resolved names as the run-as
	// user): sign-ins count over the whole run, other calls from here.
	signInsSetup := sim.Inspect().Calls(pstest.EndpointSignAppin)
	sim.Inspect().ResetCalls()
	if latency > 0 {
		sim.Faults().Inject(pstest.Fault{Latency: latency})
	}

	// CPU of Vault and of the plugin over the run: on a shared machine the
	// hand-over's herd of reads is bound by it, not by Password Safe.
	vaultCPU0, pluginCPU0 := cpuSeconds(v.proc.pid()), pluginCPU(v)
	b.ResetTimer()
	start := time.Now()
	deadline := start.Add(runFor)
	agents := make([]*fleetAgent, n)
	var wg sync.WaitGroup
	for i := range agents {
		a := &fleetAgent{fc: fc, sim: sim, token: tokens[i], ttl: ttl, accountID: accountID, deadline: deadline}
		agents[i] = a
		wg.Add(1)
		go func(delay time.Duration) {
			defer wg.Done()
			time.Sleep(delay)
			a.run()
		}(time.Duration(int64(ramp) * int64(i) / int64(n)))
	}
	wg.Wait()
	elapsed := time.Since(start)
	sim.Faults().Clear()
	vaultCPU, pluginCPUs := cpuSeconds(v.proc.pid())-vaultCPU0, pluginCPU(v)-pluginCPU0
	calls := sim.Inspect().CallCounts()
	b.StopTimer()

	// The Agents go away: their tokens are revoked, which revokes their
	// leases; the last lease of the shared request checks it in.
	if err := load.Run(n, conns, func(_, i int) error {
		return fc.call(root, http.MethodPost, "auth/token/revoke", map[string]any{"token": tokens[i]}, nil)
	}).Err(); err != nil {
		b.Errorf("revoking the fleet's tokens: %v", err)
	}
	active := -1
	settle := time.Now().Add(2 * time.Minute)
	for {
		active = len(sim.Inspect().ActiveRequests())
		if active == 0 || time.Now().After(settle) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Figures.
	var reads, renews, readErrs, renewErrs, stale, handovers, fresh, gapClients, movedClients int
	var gaps, credGaps []time.Duration
	requests := map[int]bool{}
	// When Password Safe ended each request (its password rotated then).
	ended := map[int]time.Time{}
	endOf := func(id int) (time.Time, bool) {
		if t, ok := ended[id]; ok {
			return t, true
		}
		r, ok := sim.Inspect().Request(id)
		if !ok || r.EndedAt == nil {
			return time.Time{}, false
		}
		ended[id] = *r.EndedAt
		return *r.EndedAt, true
	}
	var firstErrs []string
	for _, a := range agents {
		reads += a.reads
		renews += a.renews
		readErrs += a.readErrs
		renewErrs += a.renewErrs
		stale += a.stale
		if a.firstErr != "" && len(firstErrs) < 3 {
			firstErrs = append(firstErrs, a.firstErr)
		}
		moved := false
		hadGap := false
		for k, s := range a.segs {
			requests[s.request] = true
			if k == 0 {
				continue
			}
			prev := a.segs[k-1]
			if gap := s.from.Sub(prev.until); gap > 0 {
				gaps = append(gaps, gap)
				hadGap = true
			}
			if s.request != prev.request {
				if end, ok := endOf(prev.request); ok {
					credGaps = append(credGaps, max(s.from.Sub(end), 0))
				}
				handovers++
				moved = true
				if s.password != prev.password {
					fresh++
				}
			}
		}
		if moved {
			movedClients++
		}
		if hadGap {
			gapClients++
		}
	}
	upstream, signIns := 0, signInsSetup
	for ep, c := range calls {
		if ep == pstest.EndpointSignAppin {
			signIns += c
			continue
		}
		upstream += c
	}
	slices.Sort(gaps)
	slices.Sort(credGaps)
	p50, top := func(ds []time.Duration) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		return ds[len(ds)/2]
	}, func(ds []time.Duration) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		return ds[len(ds)-1]
	}
	perRead := float64(upstream) / float64(max(reads, 1))
	perOp := float64(upstream) / float64(max(reads+renews, 1))
	b.ReportMetric(perRead, "upstream/read")
	b.ReportMetric(float64(signIns), "signins")
	b.ReportMetric(float64(active), "active-after")
	fmt.Printf("FLEET clients=%d seconds=%.0f ttl_s=%.0f max_ttl_s=%.0f upstream_latency_ms=%d conns=%d reads=%d renews=%d read_errors=%d renew_errors=%d "+
		"upstream_calls=%d upstream_per_read=%.3f upstream_per_client_op=%.3f post_requests=%d get_credentials=%d get_requests=%d checkins=%d "+
		"signins=%d run_as_users=1 requests=%d clients_handed_over=%d handovers=%d fresh_passwords=%d stale_reads=%d "+
		"gap_clients=%d gaps=%d gap_p50_ms=%.0f gap_max_ms=%.0f cred_gap_p50_ms=%.0f cred_gap_max_ms=%.0f "+
		"vault_cpu_ms_per_op=%.2f plugin_cpu_ms_per_op=%.2f active_after=%d calls=%s\n",
		n, elapsed.Seconds(), ttl.Seconds(), maxTTL.Seconds(), latency.Milliseconds(), conns, reads, renews, readErrs, renewErrs,
		upstream, perRead, perOp, calls[pstest.EndpointCreateRequest], calls[pstest.EndpointCredentials],
		calls[pstest.EndpointListRequests], calls[pstest.EndpointCheckin],
		signIns, len(requests), movedClients, handovers, fresh, stale,
		gapClients, len(gaps), ms(p50(gaps)), ms(top(gaps)), ms(p50(credGaps)), ms(top(credGaps)),
		vaultCPU*1000/float64(max(reads+renews, 1)), pluginCPUs*1000/float64(max(reads+renews, 1)), active, callsString(calls))
	if len(firstErrs) > 0 {
		fmt.Printf("FLEET first errors: %s\n", strings.Join(firstErrs, " | "))
	}
	if active != 0 {
		b.Fatalf("%d Password Safe requests still active after the fleet's tokens were revoked", active)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

// cpuSeconds is the CPU time (user+system) a process has used, from
// /proc/<pid>/stat (in clock ticks of 1/100 s, Linux's USER_HZ); 0 where
// that cannot be read.
func cpuSeconds(pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: fields count from after its ')'.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

func pluginCPU(v *vault) float64 {
	var sum float64
	for _, pid := range v.pluginPIDs() {
		sum += cpuSeconds(pid)
	}
	return sum
}

// callsString is the call counts as one field: endpoint:count,...
func callsString(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for i, k := range keys {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "%s:%d", strings.ReplaceAll(k, " ", "_"), m[k])
	}
	return sb.String()
}

// fleetHTTP is Vault's HTTP API for many tokens over one pool of
// keep-alive connections.
type fleetHTTP struct {
	addr string
	hc   *http.Client
}

type fleetAnswer struct {
	LeaseID       string         `json:"lease_id"`
	LeaseDuration int            `json:"lease_duration"`
	Data          map[string]any `json:"data"`
	Auth          struct {
		ClientToken string `json:"client_token"`
	} `json:"auth"`
}

func (f *fleetHTTP) call(token, method, path string, body any, out *fleetAnswer) error {
	if out == nil {
		return callVault(f.hc, f.addr, token, method, path, body, nil)
	}
	return callVault(f.hc, f.addr, token, method, path, body, out)
}

// fleetAgent is one client of the fleet.
type fleetAgent struct {
	fc        *fleetHTTP
	sim       *pstest.Server
	token     string
	ttl       time.Duration
	accountID int
	deadline  time.Time

	lease string
	segs  []fleetSeg // one per lease held, in order

	reads, renews, readErrs, renewErrs, stale int
	firstErr                                  string
}

// fleetSeg is one lease of an agent: from when it was handed out until
// the end the last read or renew promised.
type fleetSeg struct {
	request     int
	password    string
	from, until time.Time
}

// sleepUntil sleeps until t or the deadline; false once past the deadline.
func (a *fleetAgent) sleepUntil(t time.Time) bool {
	if t.After(a.deadline) {
		time.Sleep(time.Until(a.deadline))
		return false
	}
	time.Sleep(time.Until(t))
	return true
}

func (a *fleetAgent) fail(err error) {
	if a.firstErr == "" {
		a.firstErr = err.Error()
	}
}

// read checks out; on failure it retries after a second, as Agent does
// (with backoff) for a template it cannot render.
func (a *fleetAgent) read() (time.Duration, bool) {
	for time.Now().Before(a.deadline) {
		var ans fleetAnswer
		err := a.fc.call(a.token, http.MethodGet, mount+"/creds/fleet", nil, &ans)
		now := time.Now()
		if err == nil && ans.LeaseID == "" {
			err = fmt.Errorf("creds/fleet: no lease")
		}
		if err != nil {
			a.readErrs++
			a.fail(err)
			if !a.sleepUntil(now.Add(time.Second)) {
				return 0, false
			}
			continue
		}
		a.reads++
		pw, _ := ans.Data["password"].(string)
		id, _ := ans.Data["request_id"].(float64)
		// Handed the account's current password? (A check-in rotates it:
		// a password of a request that has just ended is stale.)
		if pw != a.sim.Inspect().Password(a.accountID) {
			a.stale++
		}
		d := time.Duration(ans.LeaseDuration) * time.Second
		a.lease = ans.LeaseID
		a.segs = append(a.segs, fleetSeg{request: int(id), password: pw, from: now, until: now.Add(d)})
		return d, true
	}
	return 0, false
}

// renew renews the lease by the role's TTL; ok=false when the lease
// cannot be renewed (its request ended).
func (a *fleetAgent) renew() (time.Duration, bool) {
	var ans fleetAnswer
	err := a.fc.call(a.token, http.MethodPut, "sys/leases/renew", map[string]any{
		"lease_id": a.lease, "increment": int(a.ttl.Seconds())}, &ans)
	if err != nil {
		a.renewErrs++
		if !strings.Contains(err.Error(), "read a new credential") {
			a.fail(err)
		}
		return 0, false
	}
	a.renews++
	d := time.Duration(ans.LeaseDuration) * time.Second
	a.segs[len(a.segs)-1].until = time.Now().Add(d)
	return d, true
}

// run is the Agent's loop until the deadline: renew at two thirds of the
// TTL while renewals extend the lease by a full TTL; once one falls short
// (the lease reached its max TTL or the request's end), read anew at about
// 85-95 % of what is left, as Agent does for a lease it cannot extend.
func (a *fleetAgent) run() {
	d, ok := a.read()
	if !ok {
		return
	}
	full := d >= a.ttl
	for {
		from := time.Now()
		if full {
			if !a.sleepUntil(from.Add(d * 2 / 3)) {
				return
			}
			if d, ok = a.renew(); ok {
				full = d >= a.ttl
				continue
			}
		} else {
			wait := max(time.Duration(float64(d)*(0.85+0.1*rand.Float64())), 200*time.Millisecond)
			if !a.sleepUntil(from.Add(wait)) {
				return
			}
		}
		if d, ok = a.read(); !ok {
			return
		}
		full = d >= a.ttl
	}
}
