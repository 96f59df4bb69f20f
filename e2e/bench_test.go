//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/internal/load"
)

// Benchmarks through a real Vault (scripts/bench.sh runs them; plain
// `go test -tags e2e` does not, being benchmarks). Every Vault here also
// mounts the floor plugin (e2e/floorplugin, at floor/): the cheapest
// external plugin, the baseline of each figure.
//
//   - BenchmarkVaultOverhead: `vault read passwordsafe/creds/<role>` over
//     HTTP keep-alive against a floor read plus the same two upstream calls
//     made directly with the client, paired op by op (a KV v2 read rides
//     along as an extra column).
//   - BenchmarkUpstreamLatency (bench_latency_test.go): checkout latency
//     with the simulator adding 20 ms and 100 ms to every call, against
//     calls × latency + the floor read.
//   - BenchmarkVaultThroughput: checkout+revoke through Vault at
//     concurrency 1, 8, 64 on distinct accounts, against the floor's
//     read+revoke at the same concurrency.
//   - BenchmarkRevocationStorm: 10,000 live leases revoked at once with
//     `vault lease revoke -prefix` under 20 ms and 100 ms of upstream
//     latency, against 10,000 × latency / max_concurrent_requests; the
//     floor's storm (Vault's own revocation cost); plugin RSS at 10,000
//     leases; upstream calls per checkout.
//
// Each prints lines starting with its name in capitals for bench.sh.
// BENCH_PPROF=dir takes CPU profiles of the plugin and of Vault over the
// timed phases (see profile).

// startBenchVault is startDevVault at log level info: trace logging of
// every plugin call would be part of what is measured.
func startBenchVault(tb testing.TB, name string) *vault {
	tb.Helper()
	dir, pluginDir := newVaultDir(tb, name)
	port := freePorts(tb, 2)
	cfg := filepath.Join(dir, "vault.hcl")
	writeFile(tb, cfg, fmt.Sprintf("plugin_directory = %q\n", pluginDir))
	v := &vault{
		t: tb, name: name, dir: dir, pluginDir: pluginDir,
		addr:    fmt.Sprintf("http://127.0.0.1:%d", port),
		logPath: filepath.Join(dir, "vault.log"),
		token:   "bench-root-" + name,
		args: []string{"server", "-dev",
			"-dev-root-token-id=bench-root-" + name,
			fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", port),
			"-dev-no-store-token",
			"-config=" + cfg,
			"-log-level=info",
		},
	}
	tb.Cleanup(func() { v.stop() })
	v.start()
	v.waitReady(true)
	return v
}

// benchSetup starts a simulator of w (real clock) and a Vault with the
// plugin mounted and configured against it (max_concurrent_requests
// benchMaxConc), and the floor plugin mounted at floorMount.
func benchSetup(tb testing.TB, name string, w *pstest.World) (*pstest.Server, *vault, *vaultHTTP) {
	tb.Helper()
	sim := pstest.NewServer(w)
	sim.UseRealClock()
	tb.Cleanup(sim.Close)
	v := startBenchVault(tb, name)
	sum, env := usePprofBuild(tb, v)
	args := []string{"plugin", "register", "-sha256=" + sum, "-version=" + pluginVersion}
	if env != "" {
		args = append(args, env)
	}
	v.must(append(args, "secret", pluginName)...)
	v.enable(mount)
	v.must("write", mount+"/config", "url="+sim.APIURL, "api_key="+pstest.DemoAPIKey, "run_as="+pstest.DemoUserSvcVault,
		fmt.Sprintf("max_concurrent_requests=%d", benchMaxConc), "allow_plain_http=true")
	enableFloor(tb, v)
	return sim, v, newVaultHTTP(v, 256)
}

// benchMaxConc is the engine's max_concurrent_requests in the benchmarks.
const benchMaxConc = 64

// vaultHTTP is Vault's HTTP API over keep-alive connections.
type vaultHTTP struct {
	addr, token string
	hc          *http.Client
}

func newVaultHTTP(v *vault, conns int) *vaultHTTP {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost, tr.MaxIdleConns = conns, conns
	return &vaultHTTP{addr: v.addr, token: v.rootToken(), hc: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}
}

type vaultAnswer struct {
	LeaseID string         `json:"lease_id"`
	Data    map[string]any `json:"data"`
	Errors  []string       `json:"errors"`
}

func (h *vaultHTTP) call(method, path string, body any, out *vaultAnswer) error {
	if out == nil {
		return callVault(h.hc, h.addr, h.token, method, path, body, nil)
	}
	return callVault(h.hc, h.addr, h.token, method, path, body, out)
}

// callVault makes one Vault API call as token and decodes the answer into
// out (nil: ignored); a status of 300 or more is an error with the body.
func callVault(hc *http.Client, addr, token, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, addr+"/v1/"+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", token)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, truncate(string(raw), 300))
	}
	if out != nil && len(raw) > 0 {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func (h *vaultHTTP) creds(role string) (string, error) {
	var a vaultAnswer
	if err := h.call(http.MethodGet, mount+"/creds/"+role, nil, &a); err != nil {
		return "", err
	}
	if a.LeaseID == "" {
		return "", fmt.Errorf("creds/%s: no lease", role)
	}
	return a.LeaseID, nil
}

func (h *vaultHTTP) revoke(leaseID string) error {
	return h.call(http.MethodPut, "sys/leases/revoke", map[string]any{"lease_id": leaseID}, nil)
}

// go test -tags e2e -run '^$' -bench VaultOverhead -benchtime 300x -count 3 ./e2e/
func BenchmarkVaultOverhead(b *testing.B) {
	sim, v, h := benchSetup(b, "bench-overhead", pstest.DemoWorld())
	v.must("write", mount+"/roles/pg", "system_name=db-prod-01", "account_name=postgres", "ttl=1h", "max_ttl=24h")
	v.must("secrets", "enable", "-path=kv", "kv-v2")
	eventually(b, 60*time.Second, "kv v2 to accept writes", func() (bool, string) {
		err := h.call(http.MethodPost, "kv/data/bench", map[string]any{"data": map[string]any{"password": "not-a-secret-kv"}}, nil)
		return err == nil, fmt.Sprint(err)
	})
	ctx := context.Background()
	cl, err := client.New(client.Config{BaseURL: sim.APIURL, APIKey: pstest.DemoAPIKey, RunAs: pstest.DemoUserSvcVault})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.SignOut(ctx) //nolint:errcheck
	rotate := true
	// What the engine asks for this role, on account 12 so the two never conflict.
	in := client.RequestInput{AccessType: client.AccessView, SystemID: 1, AccountID: 12, DurationMinutes: 1440,
		Reason: "vault: " + mount + "/creds/pg", RotateOnCheckin: &rotate}

	var pendingLease, pendingFloor, pendingBook string
	var pendingReq int
	viaVault := func() error {
		id, err := h.creds("pg")
		pendingLease = id
		return err
	}
	viaFloor := func() error {
		id, err := h.floorCreds("pg")
		pendingFloor = id
		return err
	}
	viaBook := func() error {
		id, err := h.floorBook("pg")
		pendingBook = id
		return err
	}
	viaKV := func() error { return h.call(http.MethodGet, "kv/data/bench", nil, nil) }
	viaClient := func() error {
		id, _, err := cl.CreateRequest(ctx, in)
		if err != nil {
			return err
		}
		pendingReq = id
		_, err = cl.Credential(ctx, id, client.CredentialPassword)
		return err
	}
	// Outside the timings: revoke the leases (sync: Vault calls the plugin,
	// which checks in) and check the client's request in.
	cleanup := func() {
		for _, l := range []*string{&pendingLease, &pendingFloor, &pendingBook} {
			if *l != "" {
				if err := h.revoke(*l); err != nil {
					b.Fatal(err)
				}
				*l = ""
			}
		}
		if pendingReq != 0 {
			if err := cl.Checkin(ctx, pendingReq, "bench"); err != nil {
				b.Fatal(err)
			}
			pendingReq = 0
		}
	}
	vd, fd, bd, kd, cd := &load.Recorder{}, &load.Recorder{}, &load.Recorder{}, &load.Recorder{}, &load.Recorder{}
	ops := []struct {
		f func() error
		r **load.Recorder
	}{{viaVault, &vd}, {viaFloor, &fd}, {viaClient, &cd}, {viaBook, &bd}, {viaKV, &kd}}
	round := func(i int) {
		// Rotate the order so no path always runs first.
		for k := range ops {
			op := ops[(i+k)%len(ops)]
			if err := (*op.r).Time(op.f); err != nil {
				b.Fatal(err)
			}
		}
	}
	for i := 0; i < 20; i++ { // warm: plugin starts, sessions, connections
		round(i)
		cleanup()
	}
	// The measurement is a sub-benchmark, so the Vault above is started once
	// whatever b.N the benchmark settles on.
	b.Run("paired", func(b *testing.B) {
		vd, fd, bd, kd, cd = &load.Recorder{}, &load.Recorder{}, &load.Recorder{}, &load.Recorder{}, &load.Recorder{}
		wait := profile(b, v, "overhead", 10*time.Second)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			round(i)
			b.StopTimer()
			cleanup()
			b.StartTimer()
		}
		b.StopTimer()
		wait()
		vl, fl, bl, kl, cl := vd.Latencies(), fd.Latencies(), bd.Latencies(), kd.Latencies(), cd.Latencies()
		vl.Report(b, "vault-creds-", 0.5)
		fl.Report(b, "floor-", 0.5)
		bl.Report(b, "floor-book-", 0.5)
		kl.Report(b, "kv-", 0.5)
		cl.Report(b, "client-", 0.5)
		mv, mf, mb, mk, mc := vl.Pct(0.5), fl.Pct(0.5), bl.Pct(0.5), kl.Pct(0.5), cl.Pct(0.5)
		ratio := float64(mv) / float64(mf+mc)
		b.ReportMetric(ratio, "ratio")
		fmt.Printf("OVERHEAD n=%d vault_creds_p50_us=%.1f floor_p50_us=%.1f book_p50_us=%.1f kv_p50_us=%.1f client_p50_us=%.1f ratio=%.3f ratio_book=%.3f ratio_kv=%.3f\n", b.N,
			load.Micros(mv), load.Micros(mf), load.Micros(mb), load.Micros(mk), load.Micros(mc), ratio, float64(mv)/float64(mb+mc), float64(mv)/float64(mk+mc))
	})
	if n := len(sim.Inspect().ActiveRequests()); n != 0 {
		b.Fatalf("%d requests left active", n)
	}
}

// benchWorld is the demo world plus n auto-approve accounts, 20 per system
// on systems 5000.. (account ID system*100 + 1..20).
func benchWorld(n int) *pstest.World {
	w := pstest.DemoWorld()
	for s := 0; s*20 < n; s++ {
		sys := pstest.System{ID: 5000 + s, Name: fmt.Sprintf("bench-%04d", s)}
		for j := 1; j <= 20 && s*20+j <= n; j++ {
			sys.Accounts = append(sys.Accounts, pstest.Account{
				ID: (5000+s)*100 + j, Name: fmt.Sprintf("svc%02d", j), Password: fmt.Sprintf("Bench-%04d-%02d-Initial!", s, j),
				MaxReleaseMinutes: 10080, Policy: pstest.Policy{Requestors: []string{pstest.DemoUserSvcVault}},
			})
		}
		w.Systems = append(w.Systems, sys)
	}
	return w
}

func benchAccount(i int) (sys, acct int) {
	s := i / 20
	return 5000 + s, (5000+s)*100 + i%20 + 1
}

// writeBenchRoles writes roles bench-00000.. for the first n bench accounts
// over the HTTP API, conc at a time.
func writeBenchRoles(tb testing.TB, h *vaultHTTP, n, conc int) {
	tb.Helper()
	if err := load.RunUntilError(n, conc, func(_, i int) error {
		sys, acct := benchAccount(i)
		return h.call(http.MethodPost, fmt.Sprintf("%s/roles/bench-%05d", mount, i),
			map[string]any{"system_id": sys, "account_id": acct, "ttl": "2h", "max_ttl": "4h"}, nil)
	}).Err(); err != nil {
		tb.Fatal(err)
	}
}

// go test -tags e2e -run '^$' -bench VaultThroughput -benchtime 200x ./e2e/
//
// Sub-benchmarks floor/c=N and vault/c=N alternate at each concurrency, so
// the two figures of a ratio come from the same minute of the same Vault.
func BenchmarkVaultThroughput(b *testing.B) {
	const maxC = 64
	sim, v, h := benchSetup(b, "bench-throughput", benchWorld(maxC))
	writeBenchRoles(b, h, maxC, 8)
	for _, c := range []int{1, 8, 64} {
		roles := make([]string, c)
		for g := range roles {
			roles[g] = fmt.Sprintf("bench-%05d", g)
		}
		b.Run(fmt.Sprintf("floor/c=%d", c), func(b *testing.B) {
			r := load.Bench(b, c, func(g, _ int) error {
				id, err := h.floorCreds(roles[g])
				if err != nil {
					return err
				}
				return h.revoke(id)
			})
			r.Report(b, "checkouts/s", 0.5, 0.99)
			fmt.Printf("VTHROUGHPUT kind=floor c=%d n=%d checkouts_per_s=%.1f p50_us=%d p99_us=%d\n", c, r.N, r.Rate(),
				r.Latency.Pct(0.5).Microseconds(), r.Latency.Pct(0.99).Microseconds())
		})
		b.Run(fmt.Sprintf("vault/c=%d", c), func(b *testing.B) {
			// Worker g checks out on role g (its own account).
			wait := func() {}
			if c == maxC {
				wait = profile(b, v, "throughput64", 2*time.Second)
			}
			r := load.Bench(b, c, func(g, _ int) error {
				id, err := h.creds(roles[g])
				if err != nil {
					return err
				}
				return h.revoke(id)
			})
			wait()
			r.Report(b, "checkouts/s", 0.5, 0.99)
			fmt.Printf("VTHROUGHPUT kind=vault c=%d n=%d checkouts_per_s=%.1f p50_us=%d p99_us=%d\n", c, r.N, r.Rate(),
				r.Latency.Pct(0.5).Microseconds(), r.Latency.Pct(0.99).Microseconds())
		})
	}
	if n := len(sim.Inspect().ActiveRequests()); n != 0 {
		b.Fatalf("%d requests left active", n)
	}
}

// rssKB is VmRSS of a process, in kB.
func rssKB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				n, _ := strconv.Atoi(f[1])
				return n
			}
		}
	}
	return 0
}

func pluginRSS(v *vault) (kb, procs int) {
	for _, pid := range v.pluginPIDs() {
		kb += rssKB(pid)
		procs++
	}
	return kb, procs
}

// stormLatencies are the upstream latencies of the storm rounds:
// STORM_LATENCIES_MS (comma-separated milliseconds), default 20,100.
func stormLatencies(tb testing.TB) []time.Duration {
	spec := envOr("STORM_LATENCIES_MS", "20,100")
	var out []time.Duration
	for _, f := range strings.Split(spec, ",") {
		ms, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || ms < 0 {
			tb.Fatalf("STORM_LATENCIES_MS=%q: %q is not a number of milliseconds", spec, f)
		}
		out = append(out, time.Duration(ms)*time.Millisecond)
	}
	return out
}

// vaultErrors counts the [ERROR] lines of v's log after offset, and
// returns the log's size (the next offset).
func vaultErrors(v *vault, offset int64) (int, int64) {
	b, err := os.ReadFile(v.logPath)
	if err != nil || int64(len(b)) < offset {
		return -1, 0
	}
	return strings.Count(string(b[offset:]), "[ERROR]"), int64(len(b))
}

// leasesUnder counts the keys Vault lists under prefix in
// sys/leases/lookup: leases, or role names that still have leases.
func leasesUnder(h *vaultHTTP, prefix string) (int, error) {
	var a vaultAnswer
	err := h.call("LIST", "sys/leases/lookup/"+prefix, nil, &a)
	if err != nil && strings.Contains(err.Error(), "HTTP 404") {
		return 0, nil
	}
	if err != nil {
		return -1, err
	}
	keys, _ := a.Data["keys"].([]any)
	return len(keys), nil
}

// engineStatus is what the storm checks in the engine's status: failed
// upstream calls since start, queued check-ins, requests still held.
func engineStatus(h *vaultHTTP) (failed, queued, held int, err error) {
	var a vaultAnswer
	if err := h.call(http.MethodGet, mount+"/status", nil, &a); err != nil {
		return 0, 0, 0, err
	}
	num := func(m any, keys ...string) int {
		for _, k := range keys {
			mm, _ := m.(map[string]any)
			m = mm[k]
		}
		f, _ := m.(float64)
		return int(f)
	}
	return num(a.Data, "upstream", "total", "failed"), num(a.Data, "checkin_queue", "count"), num(a.Data, "requests", "held"), nil
}

// STORM_LEASES=10000 go test -tags e2e -run '^$' -bench RevocationStorm -benchtime 1x -timeout 40m ./e2e/
//
// First the floor's storm: n floor leases revoked with `vault lease revoke
// -prefix`, timed until Vault lists none: what Vault itself needs to revoke
// n leases of an external plugin that does nothing. Then, for each latency
// of STORM_LATENCIES_MS, n engine leases built under that latency (enough
// concurrency that the engine's max_concurrent_requests is the limit), the
// same revoke, timed until the simulator shows no active request, against
// its minimum n × latency / max_concurrent_requests.
func BenchmarkRevocationStorm(b *testing.B) {
	n := load.Size("STORM_LEASES", 10000)
	lats := stormLatencies(b)
	const rolesConc, buildConc = 16, 2 * benchMaxConc
	sim, v, h := benchSetup(b, "bench-storm", benchWorld(n))
	// One lease life first, so the plugin process is up and signed in.
	writeBenchRoles(b, h, 1, 1)
	id, err := h.creds("bench-00000")
	if err == nil {
		err = h.revoke(id)
	}
	if err != nil {
		b.Fatal(err)
	}
	rss0, _ := pluginRSS(v)

	t0 := time.Now()
	writeBenchRoles(b, h, n, rolesConc)
	rolesTime := time.Since(t0)
	rssRoles, _ := pluginRSS(v)

	// The floor's storm.
	fl := load.RunUntilError(n, rolesConc, func(_, i int) error {
		_, err := h.floorCreds("f")
		return err
	})
	if err := fl.Err(); err != nil {
		b.Fatal(err)
	}
	t0 = time.Now()
	if _, err := v.cli("lease", "revoke", "-prefix", floorMount+"/creds/"); err != nil {
		b.Fatal(err)
	}
	for {
		left, err := leasesUnder(h, floorMount+"/creds/f/")
		if err != nil {
			b.Fatal(err)
		}
		if left == 0 {
			break
		}
		if time.Since(t0) > 10*time.Minute {
			b.Fatalf("%d floor leases left 10 minutes after the revoke", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
	floorStorm := time.Since(t0)
	fmt.Printf("FLOORSTORM leases=%d checkouts_per_s=%.1f storm_s=%.2f revokes_per_s=%.1f\n", n, fl.Rate(), floorStorm.Seconds(), float64(n)/floorStorm.Seconds())

	var rssLeases, procs, signIns int
	var perCheckout float64
	var calls map[string]int
	logOff := int64(0)
	_, logOff = vaultErrors(v, 0)
	b.ResetTimer()
	for round, lat := range lats {
		sim.Faults().Inject(pstest.Fault{Latency: lat})
		sim.Inspect().ResetCalls()
		checkouts := load.RunUntilError(n, buildConc, func(_, i int) error {
			_, err := h.creds(fmt.Sprintf("bench-%05d", i))
			return err
		})
		if err := checkouts.Err(); err != nil {
			b.Fatal(err)
		}
		roundCalls := sim.Inspect().CallCounts()
		if got := len(sim.Inspect().ActiveRequests()); got != n {
			b.Fatalf("%d requests active after %d checkouts", got, n)
		}
		if round == 0 {
			rssLeases, procs = pluginRSS(v)
			calls = roundCalls
			signIns = calls[pstest.EndpointSignAppin]
			perCheckout = float64(calls[pstest.EndpointCreateRequest]+calls[pstest.EndpointCredentials]) / float64(n)
		}
		sim.Inspect().ResetCalls()
		minimum := time.Duration(float64(n) * float64(lat) / benchMaxConc)
		wait := profile(b, v, fmt.Sprintf("storm-%dms", lat.Milliseconds()), max(minimum, time.Second))
		t0 = time.Now()
		if _, err := v.cli("lease", "revoke", "-prefix", mount+"/creds/"); err != nil {
			b.Fatal(err)
		}
		cliTime := time.Since(t0)
		deadline := time.Now().Add(20 * time.Minute)
		for len(sim.Inspect().ActiveRequests()) != 0 {
			if time.Now().After(deadline) {
				b.Fatalf("%d requests still active 20 minutes after the revoke", len(sim.Inspect().ActiveRequests()))
			}
			time.Sleep(20 * time.Millisecond)
		}
		storm := time.Since(t0)
		wait()
		checkins := sim.Inspect().Calls(pstest.EndpointCheckin)
		sim.Faults().Clear()
		left := -1
		eventually(b, 2*time.Minute, "Vault to forget the revoked leases", func() (bool, string) {
			var err error
			left, err = leasesUnder(h, mount+"/creds/")
			return left == 0, fmt.Sprintf("%d leases left (%v)", left, err)
		})
		failed, queued, held, err := engineStatus(h)
		if err != nil {
			b.Fatal(err)
		}
		var verrs int
		verrs, logOff = vaultErrors(v, logOff)
		ratio := storm.Seconds() / minimum.Seconds()
		b.ReportMetric(storm.Seconds(), fmt.Sprintf("storm-%dms-s", lat.Milliseconds()))
		b.ReportMetric(ratio, fmt.Sprintf("storm-%dms-ratio", lat.Milliseconds()))
		fmt.Printf("STORM latency_ms=%d leases=%d build_s=%.1f checkouts_per_s=%.1f revoke_cli_s=%.2f storm_s=%.2f min_s=%.2f ratio=%.3f "+
			"checkins_per_s=%.1f checkin_calls=%d active_after=%d leases_after=%d upstream_failed=%d queued=%d held=%d vault_errors=%d\n",
			lat.Milliseconds(), n, checkouts.Elapsed.Seconds(), checkouts.Rate(), cliTime.Seconds(), storm.Seconds(), minimum.Seconds(), ratio,
			float64(n)/storm.Seconds(), checkins, len(sim.Inspect().ActiveRequests()), left, failed, queued, held, verrs)
	}
	b.StopTimer()
	rssAfter, _ := pluginRSS(v)
	b.ReportMetric(float64(rssLeases), "plugin-rss-kB")
	fmt.Printf("STORMMEM leases=%d roles_s=%.1f plugin_procs=%d rss_kb_idle=%d rss_kb_roles=%d rss_kb_leases=%d rss_kb_after=%d rss_bytes_per_lease=%.0f "+
		"signins_during_checkouts=%d calls_per_checkout=%.3f calls=%v\n",
		n, rolesTime.Seconds(), procs, rss0, rssRoles, rssLeases, rssAfter,
		float64(rssLeases-rssRoles)*1024/float64(n), signIns, perCheckout, calls)
}
