package backend_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	. "github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/internal/load"
)

// Performance evidence at the backend level (scripts/bench.sh runs these
// and writes BENCHMARKS.md):
//
//   - BenchmarkThroughput: checkout+revoke per op at concurrency 1, 8, 64,
//     each goroutine on its own account, through the backend, through the
//     client alone, and as raw HTTP to the simulator (the ceiling).
//   - TestUpstreamEconomy: calls per lease life and sign-ins per 1,000
//     checkouts (also a regression test: a password lease is 3 calls).
//   - TestStorageBytesPerLease: storage the engine keeps per live lease.
//
// PERF_N scales the economy and storage runs (bench.sh sets 1000 / 10000;
// plain `go test` uses small numbers).

// quietBackend is newTestBackend with the log discarded (benchmarks must
// not measure a growing log buffer) and no per-test leak scan of a huge log.
func quietBackend(tb testing.TB, w *pstest.World, cfg map[string]interface{}) *testEnv {
	tb.Helper()
	te := newTestBackend(tb, withWorld(w), withConfig(cfg))
	if err := te.b.Backend.Setup(context.Background(), &logical.BackendConfig{
		Logger:       hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Info}),
		System:       te.sys,
		StorageView:  te.s,
		EventsSender: te.events,
	}); err != nil {
		tb.Fatal(err)
	}
	return te
}

// rawSim is the simulator's own cost: the same three calls as a lease life,
// as bare net/http requests with a session cookie, no client library.
type rawSim struct {
	base string
	hc   *http.Client
}

func newRawSim(tb testing.TB, s *pstest.Server, conns int) *rawSim {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conns
	tr.MaxIdleConns = conns
	tb.Cleanup(tr.CloseIdleConnections)
	jar, _ := cookiejar.New(nil)
	r := &rawSim{base: s.APIURL, hc: &http.Client{Transport: tr, Jar: jar}}
	req, _ := http.NewRequest(http.MethodPost, r.base+"/Auth/SignAppin", nil)
	req.Header.Set("Authorization", "PS-Auth key="+pstest.DemoAPIKey+"; runas="+pstest.DemoUserSvcVault+";")
	if err := r.do(req, http.StatusOK, nil); err != nil {
		tb.Fatal(err)
	}
	return r
}

func (r *rawSim) do(req *http.Request, want int, out *[]byte) error {
	resp, err := r.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want && !(want == http.StatusCreated && resp.StatusCode == http.StatusOK) {
		return fmt.Errorf("%s %s: HTTP %d", req.Method, req.URL.Path, resp.StatusCode)
	}
	if out != nil {
		*out = body
	}
	return nil
}

func (r *rawSim) leaseLife(sys, acct int) error {
	body := fmt.Sprintf(`{"AccessType":"View","SystemID":%d,"AccountID":%d,"DurationMinutes":1440,"Reason":"bench","RotateOnCheckin":true}`, sys, acct)
	req, _ := http.NewRequest(http.MethodPost, r.base+"/Requests", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	var idb []byte
	if err := r.do(req, http.StatusCreated, &idb); err != nil {
		return err
	}
	id := strings.TrimSpace(string(idb))
	req, _ = http.NewRequest(http.MethodGet, r.base+"/Credentials/"+id, nil)
	if err := r.do(req, http.StatusOK, nil); err != nil {
		return err
	}
	req, _ = http.NewRequest(http.MethodPut, r.base+"/Requests/"+id+"/Checkin", bytes.NewReader([]byte(`{"Reason":"bench"}`)))
	req.Header.Set("Content-Type", "application/json")
	return r.do(req, http.StatusNoContent, nil)
}

// loadAccount is goroutine g's account: the load-NN accounts, then
// loadWorld's extra ones.
func loadAccount(g int) (sys, acct int) {
	sys = 100 + g
	if g >= 40 {
		sys = 1000 + g - 40
	}
	return sys, sys*10 + 1
}

// BenchmarkThroughput: go test -run '^$' -bench Throughput -benchtime 400x ./backend/
func BenchmarkThroughput(b *testing.B) {
	const maxC = 64
	te := quietBackend(b, loadWorld(maxC-40), map[string]interface{}{"max_concurrent_requests": maxC})
	roles := te.loadRoles(maxC, map[string]interface{}{"ttl": "1h", "max_ttl": "24h"})
	ctx := context.Background()

	for _, c := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("sim/c=%d", c), func(b *testing.B) {
			raw := newRawSim(b, te.srv, c)
			load.Bench(b, c, func(g, _ int) error { return raw.leaseLife(loadAccount(g)) }).Report(b, "checkouts/s", 0.50, 0.99)
		})
		b.Run(fmt.Sprintf("client/c=%d", c), func(b *testing.B) {
			cl, err := client.New(client.Config{BaseURL: te.srv.APIURL, APIKey: pstest.DemoAPIKey, RunAs: pstest.DemoUserSvcVault,
				Limiter: client.NewLimiter(maxC)})
			if err != nil {
				b.Fatal(err)
			}
			defer cl.SignOut(ctx) //nolint:errcheck
			rotate := true
			load.Bench(b, c, func(g, _ int) error {
				sys, acct := loadAccount(g)
				id, _, err := cl.CreateRequest(ctx, client.RequestInput{AccessType: client.AccessView, SystemID: sys, AccountID: acct,
					DurationMinutes: 1440, Reason: "bench", RotateOnCheckin: &rotate})
				if err != nil {
					return err
				}
				if _, err := cl.Credential(ctx, id, client.CredentialPassword); err != nil {
					return err
				}
				return cl.Checkin(ctx, id, "bench")
			}).Report(b, "checkouts/s", 0.50, 0.99)
		})
		b.Run(fmt.Sprintf("backend/c=%d", c), func(b *testing.B) {
			load.Bench(b, c, func(g, _ int) error {
				resp, err := te.b.HandleRequest(ctx, &logical.Request{Operation: logical.ReadOperation, Path: "creds/" + roles[g], Storage: te.s, MountPoint: testMount, ClientTokenAccessor: "perf-accessor"})
				if err != nil || resp == nil || resp.Secret == nil {
					return fmt.Errorf("creds: %v %v", resp, err)
				}
				resp.Secret.LeaseID = testMount + "creds/" + roles[g] + "/bench"
				_, err = te.b.HandleRequest(ctx, &logical.Request{Operation: logical.RevokeOperation, Path: "creds/" + roles[g], Storage: te.s,
					MountPoint: testMount, Secret: resp.Secret})
				return err
			}).Report(b, "checkouts/s", 0.50, 0.99)
		})
	}
}

// TestUpstreamEconomy: a password lease life costs exactly three upstream
// calls (POST Requests, GET Credentials, PUT Checkin), and a run of
// checkouts signs in once per run-as user, however many checkouts.
func TestUpstreamEconomy(t *testing.T) {
	n := load.Size("PERF_N", 100)
	te := quietBackend(t, pstest.DemoWorld(), nil)
	users := []string{pstest.DemoUserSvcVault, pstest.DemoUserAlice}
	var roles []string
	for i := 0; i < 40; i++ {
		name := fmt.Sprintf("eco-%02d", i)
		sys, acct := loadAccount(i)
		te.writeRole(name, map[string]interface{}{"system_id": sys, "account_id": acct, "run_as": users[i%len(users)]})
		roles = append(roles, name)
	}
	// Role writes signed in already (they look accounts up as the run-as
	// user); sign-ins are counted over the whole run, the rest from here.
	signInsSetup := te.srv.Inspect().Calls(pstest.EndpointSignAppin)
	te.srv.Inspect().ResetCalls()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		role := roles[i%len(roles)]
		resp, err := te.b.HandleRequest(ctx, &logical.Request{Operation: logical.ReadOperation, Path: "creds/" + role, Storage: te.s, MountPoint: testMount, ClientTokenAccessor: "perf-accessor"})
		if err != nil || resp == nil || resp.Secret == nil {
			t.Fatalf("creds/%s: %v %v", role, resp, err)
		}
		te.remember(resp)
		if err := te.revoke(resp); err != nil {
			t.Fatal(err)
		}
	}
	calls := te.srv.Inspect().CallCounts()
	signIns := signInsSetup + calls[pstest.EndpointSignAppin]
	lease := calls[pstest.EndpointCreateRequest] + calls[pstest.EndpointCredentials] + calls[pstest.EndpointCheckin]
	total := 0
	for _, v := range calls {
		total += v
	}
	perLease := float64(total-calls[pstest.EndpointSignAppin]) / float64(n)
	t.Logf("ECONOMY engine n=%d run_as_users=%d calls=%v calls_per_lease=%.3f signins=%d signins_per_1000=%.2f",
		n, len(users), calls, perLease, signIns, float64(signIns)*1000/float64(n))
	if lease != 3*n || perLease != 3 {
		t.Errorf("calls per lease life = %.3f (%v), want exactly 3", perLease, calls)
	}
	if signIns != len(users) {
		t.Errorf("sign-ins = %d for %d checkouts by %d run-as users, want one per user", signIns, n, len(users))
	}
}

// TestStorageBytesPerLease measures what the engine stores per live lease
// (keys and values under leases/, pending/ and wal/) with N leases live.
func TestStorageBytesPerLease(t *testing.T) {
	n := load.Size("PERF_N", 200)
	te := quietBackend(t, loadWorld(n), map[string]interface{}{"max_concurrent_requests": 64})
	ctx := context.Background()
	// Roles straight into storage (the same shape a role write stores), so
	// the run measures leases, not N role lookups.
	for i := 0; i < n; i++ {
		sys := 1000 + i
		role := map[string]interface{}{
			"name": fmt.Sprintf("st-%05d", i), "target": "account", "system_id": sys, "account_id": sys*10 + 1,
			"system_name": fmt.Sprintf("xload-%04d", i), "account_name": "svc", "account_max_minutes": 10080,
			"access_type": "View", "credential_types": []string{"password"}, "conflict_option": "none", "rotate_on_checkin": true,
		}
		raw, _ := json.Marshal(role)
		if err := te.s.Put(ctx, &logical.StorageEntry{Key: "roles/" + fmt.Sprintf("st-%05d", i), Value: raw}); err != nil {
			t.Fatal(err)
		}
	}
	// Read one role back through the path to prove the stored shape is valid.
	if r, err := te.read("roles/st-00000"); err != nil || r == nil || r.Data["account_id"] != 10001 {
		t.Fatalf("stored role does not read back: %v %v", r, err)
	}
	leases := make([]*logical.Response, n)
	if err := load.Run(n, 16, func(_, i int) error {
		resp, err := te.b.HandleRequest(ctx, &logical.Request{Operation: logical.ReadOperation,
			Path: fmt.Sprintf("creds/st-%05d", i), Storage: te.s, MountPoint: testMount, ClientTokenAccessor: "perf-accessor"})
		if err != nil || resp == nil || resp.Secret == nil {
			return fmt.Errorf("creds %d: %v %v", i, resp, err)
		}
		te.remember(resp)
		leases[i] = resp
		return nil
	}).Err(); err != nil {
		t.Fatal(err)
	}
	bytesUnder := func(prefix string) (keys, size int) {
		ks, err := logical.CollectKeysWithPrefix(ctx, te.s, prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ks {
			e, err := te.s.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			if e != nil {
				size += len(k) + len(e.Value)
			}
		}
		return len(ks), size
	}
	lk, lb := bytesUnder(RecordPrefix)
	pk, pb := bytesUnder(PendingPrefix)
	wk, wb := bytesUnder("wal/")
	t.Logf("STORAGE leases=%d record_keys=%d record_bytes=%d pending_keys=%d wal_keys=%d bytes_per_lease=%.1f active_upstream=%d",
		n, lk, lb, pk, wk, float64(lb+pb+wb)/float64(n), len(te.srv.Inspect().ActiveRequests()))
	if lk != n || pk != 0 || wk != 0 {
		t.Errorf("records %d (want %d), pending %d, wal %d", lk, n, pk, wk)
	}
	// Revoke everything (the leak check runs at cleanup).
	if err := load.Run(len(leases), 16, func(_, i int) error { return te.revoke(leases[i]) }).Err(); err != nil {
		t.Errorf("revoke: %v", err)
	}
	if n := len(te.srv.Inspect().ActiveRequests()); n != 0 {
		t.Errorf("%d requests still active", n)
	}
}

// BenchmarkLeaseLifePaired is the engine-overhead figure: each iteration
// runs one lease life through the backend (creds read + revoke through
// HandleRequest) and one with the client alone (the same three calls), in
// alternating order, and reports the median of each and their ratio.
// Pairing op by op keeps the shared machine's drift out of the ratio;
// medians keep GC pauses and scheduling spikes out of it.
//
//	go test -run '^$' -bench LeaseLifePaired -benchtime 300x -count 5 ./backend/
func BenchmarkLeaseLifePaired(b *testing.B) {
	te := quietBackend(b, pstest.DemoWorld(), nil)
	te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "ttl": "1h", "max_ttl": "24h"})
	ctx := context.Background()
	cl, err := client.New(client.Config{BaseURL: te.srv.APIURL, APIKey: pstest.DemoAPIKey, RunAs: pstest.DemoUserSvcVault})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.SignOut(ctx) //nolint:errcheck
	rotate := true
	// The client does what the engine does for this role: same account
	// (12 for the client, so the two never conflict), same duration, reason
	// and rotation flag.
	in := client.RequestInput{AccessType: client.AccessView, SystemID: 1, AccountID: 12, DurationMinutes: 1440,
		Reason: "vault: " + testMount + "creds/pg", RotateOnCheckin: &rotate}
	viaClient := func() error {
		id, _, err := cl.CreateRequest(ctx, in)
		if err != nil {
			return err
		}
		if _, err := cl.Credential(ctx, id, client.CredentialPassword); err != nil {
			return err
		}
		return cl.Checkin(ctx, id, "vault lease revoked: "+testMount+"creds/pg/bench")
	}
	read := &logical.Request{Operation: logical.ReadOperation, Path: "creds/pg", Storage: te.s, MountPoint: testMount, ClientTokenAccessor: "bench-accessor"}
	viaBackend := func() error {
		resp, err := te.b.HandleRequest(ctx, read)
		if err != nil || resp == nil || resp.Secret == nil {
			return fmt.Errorf("creds: %v %v", resp, err)
		}
		resp.Secret.LeaseID = testMount + "creds/pg/bench"
		_, err = te.b.HandleRequest(ctx, &logical.Request{
			Operation: logical.RevokeOperation, Path: "creds/pg", Storage: te.s, MountPoint: testMount, Secret: resp.Secret,
		})
		return err
	}
	// Warm both paths (sessions, connections).
	for i := 0; i < 20; i++ {
		if err := viaBackend(); err != nil {
			b.Fatal(err)
		}
		if err := viaClient(); err != nil {
			b.Fatal(err)
		}
	}
	be, cli := &load.Recorder{}, &load.Recorder{}
	timeIt := func(f func() error, r *load.Recorder) {
		if err := r.Time(f); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			timeIt(viaBackend, be)
			timeIt(viaClient, cli)
		} else {
			timeIt(viaClient, cli)
			timeIt(viaBackend, be)
		}
	}
	b.StopTimer()
	bl, cll := be.Latencies(), cli.Latencies()
	bl.Report(b, "backend-", 0.5)
	cll.Report(b, "client-", 0.5)
	mb, mc := bl.Pct(0.5), cll.Pct(0.5)
	b.ReportMetric(float64(mb)/float64(mc), "ratio")
}
